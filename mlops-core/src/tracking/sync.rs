//! `sync(from, to)`: copy experiments and runs between stores, idempotently.
//!
//! The workflow it serves: develop on the local store, publish to the team's server
//! (or pull a server's runs into a local store to work offline). Every copied run
//! carries the tag `mlops.sync.source` = `<source uri>#<source run id>`; a run already
//! carrying that tag in the target is not copied again, so running `sync` twice copies
//! nothing the second time. Copied: experiment (by name) and its tags; each run's name,
//! start/end time, status, params, tags, the full history of every metric, artifacts,
//! and nesting (`mlflow.parentRunId` is rewritten to the parent's new id).
//!
//! Registered models are not the tracker's: the registry backend syncs them with the
//! run-id map this returns ([`SyncReport::run_map`]) to rewrite each version's
//! `run_id`.

use std::collections::BTreeMap;

use super::{CreateRun, RunTag, SearchRuns, TAG_PARENT_RUN_ID, Tracker, ViewType};
use crate::Result;

/// The tag that marks a synced run with its origin.
pub const TAG_SYNC_SOURCE: &str = "mlops.sync.source";

/// What to sync.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Only these experiments (by name); all active ones when empty.
    pub experiments: Vec<String>,
    /// Skip artifacts.
    pub skip_artifacts: bool,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncReport {
    /// Experiments created in the target.
    pub experiments_created: usize,
    /// Runs copied.
    pub runs_copied: usize,
    /// Runs already in the target (from an earlier sync).
    pub runs_skipped: usize,
    /// Metric points copied.
    pub metric_points: usize,
    /// Artifact files copied.
    pub artifact_files: usize,
    /// Source run id → target run id, for every run seen (copied or found).
    pub run_map: BTreeMap<String, String>,
}

/// Copies experiments and runs from `from` to `to`. See the module docs.
pub fn sync(from: &dyn Tracker, to: &dyn Tracker, opts: &SyncOptions) -> Result<SyncReport> {
    let mut report = SyncReport::default();
    let source_uri = from.uri();
    let tmp = tempfile::tempdir().map_err(|e| crate::Error::io(std::env::temp_dir(), e))?;
    for exp in from.list_experiments(ViewType::ActiveOnly)? {
        if !opts.experiments.is_empty() && !opts.experiments.contains(&exp.name) {
            continue;
        }
        let target_id = match to.get_experiment_by_name(&exp.name)? {
            Some(e) => e.experiment_id,
            None => {
                let tags: Vec<RunTag> = exp
                    .tags
                    .iter()
                    .map(|(k, v)| RunTag::new(k.clone(), v.clone()))
                    .collect();
                report.experiments_created += 1;
                to.create_experiment(&exp.name, None, &tags)?
            }
        };
        // What the target already holds, by source id.
        let existing = to.search_all_runs(&SearchRuns {
            view: ViewType::All,
            ..SearchRuns::experiment(target_id.clone())
        })?;
        for r in existing {
            if let Some(src) = r.data.tags.get(TAG_SYNC_SOURCE)
                && let Some((uri, id)) = src.rsplit_once('#')
                && uri == source_uri
            {
                report.run_map.insert(id.to_string(), r.info.run_id.clone());
            }
        }
        let mut runs = from.search_all_runs(&SearchRuns::experiment(exp.experiment_id.clone()))?;
        // Parents before children: oldest first.
        runs.sort_by_key(|r| r.info.start_time);
        for run in runs {
            if report.run_map.contains_key(&run.info.run_id) {
                report.runs_skipped += 1;
                continue;
            }
            let mut tags: Vec<RunTag> = run
                .data
                .tags
                .iter()
                .filter(|(k, _)| k.as_str() != TAG_PARENT_RUN_ID)
                .map(|(k, v)| RunTag::new(k.clone(), v.clone()))
                .collect();
            tags.push(RunTag::new(
                TAG_SYNC_SOURCE,
                format!("{source_uri}#{}", run.info.run_id),
            ));
            let parent = run.parent_run_id().map(|p| {
                report
                    .run_map
                    .get(p)
                    .cloned()
                    .unwrap_or_else(|| p.to_string())
            });
            let info = to.create_run(&CreateRun {
                experiment_id: target_id.clone(),
                run_name: Some(run.info.run_name.clone()),
                start_time: run.info.start_time,
                tags,
                parent_run_id: parent,
                user_id: Some(run.info.user_id.clone()),
            })?;
            let params: Vec<_> = run
                .data
                .params
                .iter()
                .map(|(k, v)| super::Param::new(k.clone(), v.clone()))
                .collect();
            to.log_batch(&info.run_id, &[], &params, &[])?;
            for key in run.data.metrics.keys() {
                let hist = from.metric_history(&run.info.run_id, key)?;
                report.metric_points += hist.len();
                to.log_batch(&info.run_id, &hist, &[], &[])?;
            }
            if !opts.skip_artifacts {
                let dir = tmp.path().join(&run.info.run_id);
                let files = count_files_listing(from, &run.info.run_id)?;
                if files > 0 {
                    from.download_artifacts(&run.info.run_id, "", &dir)?;
                    to.log_artifact(&info.run_id, &dir, None)?;
                    report.artifact_files += files;
                }
            }
            to.update_run(&info.run_id, run.info.status, run.info.end_time, None)?;
            if run.info.lifecycle_stage == "deleted" {
                to.delete_run(&info.run_id)?;
            }
            report.run_map.insert(run.info.run_id.clone(), info.run_id);
            report.runs_copied += 1;
        }
    }
    Ok(report)
}

fn count_files_listing(t: &dyn Tracker, run_id: &str) -> Result<usize> {
    let mut n = 0;
    let mut stack = vec![String::new()];
    while let Some(p) = stack.pop() {
        let items = t.list_artifacts(run_id, if p.is_empty() { None } else { Some(&p) })?;
        for it in items {
            if it.is_dir {
                stack.push(it.path);
            } else {
                n += 1;
            }
        }
    }
    Ok(n)
}
