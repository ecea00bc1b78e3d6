//! `sync(from, to)`: copy experiments and runs between stores, idempotently.
//!
//! The workflow it serves: develop on the local store, publish to the team's server
//! (or pull a server's runs into a local store to work offline). Every copied run
//! carries the tag `mlops.sync.source` = `<source identity>#<source run id>`; a run
//! already carrying that tag in the target is not copied again, so running `sync` twice
//! copies nothing the second time, in either direction.
//!
//! **Completeness.** A copy is created with `mlops.sync.state` = `copying` and marked
//! `complete` only after its params, metrics, artifacts and status arrived. A sync
//! killed halfway leaves a run still marked `copying`: the next sync deletes that
//! partial copy and copies the run again ([`SyncReport::runs_redone`]), so the target
//! ends equal to the source. Copies made before the state tag existed have none and
//! count as complete.
//!
//! **Identity.** The source is named by [`source_identity`]: credentials dropped,
//! scheme and host lower-cased, the loopback names (`localhost`, `127.0.0.1`, `::1`)
//! made one, default ports and trailing slashes dropped, and local paths made absolute
//! and canonical, so `http://localhost:5000/` and `http://127.0.0.1:5000` are one
//! source and a second sync copies nothing. Copied: experiment (by name) and its tags; each run's name,
//! start/end time, status, params, tags, the full history of every metric, artifacts,
//! and nesting (`mlflow.parentRunId` is rewritten to the parent's new id).
//!
//! Registered models are not the tracker's: [`crate::registry::sync_models`] copies
//! them, with the run-id map this returns ([`SyncReport::run_map`]) to rewrite each
//! version's `run_id`. `mlops sync` runs both.

use std::collections::BTreeMap;

use super::{CreateRun, RunTag, SearchRuns, TAG_PARENT_RUN_ID, Tracker, ViewType};
use crate::Result;

/// The tag that marks a synced run with its origin.
pub const TAG_SYNC_SOURCE: &str = "mlops.sync.source";

/// The tag that says whether a synced run arrived whole: `copying`, then `complete`.
pub const TAG_SYNC_STATE: &str = "mlops.sync.state";

/// The one form of a tracking URI that names a source (see the module docs). Never
/// holds credentials.
pub fn source_identity(uri: &str) -> String {
    let uri = uri.trim();
    let lower = uri.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        if let Ok(mut url) = reqwest::Url::parse(uri) {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            let loopback = matches!(
                url.host_str(),
                Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
            );
            if loopback {
                let _ = url.set_host(Some("127.0.0.1"));
            }
            url.set_query(None);
            url.set_fragment(None);
            let path = url.path().trim_end_matches('/').to_string();
            url.set_path(&path);
            let s = url.to_string();
            return s.trim_end_matches('/').to_string();
        }
        return crate::mlflow_http::redact_url(uri)
            .trim_end_matches('/')
            .to_string();
    }
    match super::local_path_of_uri(uri) {
        Ok(p) => {
            let p = std::path::absolute(&p).unwrap_or(p);
            let p = p.canonicalize().unwrap_or(p);
            let s = p.to_string_lossy();
            let s = if s.len() > 1 {
                s.trim_end_matches('/')
            } else {
                &s
            };
            format!("file://{s}")
        }
        Err(_) => uri.trim_end_matches('/').to_string(),
    }
}

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
    /// Partial copies (a sync killed halfway) deleted and copied again.
    pub runs_redone: usize,
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
    let source_uri = source_identity(&from.uri());
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
        let mut partial = Vec::new();
        for r in existing {
            if let Some(src) = r.data.tags.get(TAG_SYNC_SOURCE)
                && let Some((uri, id)) = src.rsplit_once('#')
                && source_identity(uri) == source_uri
            {
                if r.data.tags.get(TAG_SYNC_STATE).map(String::as_str) == Some("copying") {
                    // A sync died while copying this one: it is deleted and redone.
                    if r.info.lifecycle_stage != "deleted" {
                        partial.push(r.info.run_id.clone());
                    }
                    continue;
                }
                report.run_map.insert(id.to_string(), r.info.run_id.clone());
            }
        }
        for id in partial {
            tracing::warn!(run = %id, "partial copy of an interrupted sync deleted; copying again");
            to.delete_run(&id)?;
            report.runs_redone += 1;
        }
        let mut runs = from.search_all_runs(&SearchRuns::experiment(exp.experiment_id.clone()))?;
        // Parents before children: oldest first.
        runs.sort_by_key(|r| r.info.start_time);
        let target_identity = source_identity(&to.uri());
        for run in runs {
            if report.run_map.contains_key(&run.info.run_id) {
                report.runs_skipped += 1;
                continue;
            }
            // A copy whose original lives in the target (the way back): not copied again.
            if let Some(src) = run.data.tags.get(TAG_SYNC_SOURCE)
                && let Some((uri, id)) = src.rsplit_once('#')
                && source_identity(uri) == target_identity
                && to.get_run(id).is_ok()
            {
                report
                    .run_map
                    .insert(run.info.run_id.clone(), id.to_string());
                report.runs_skipped += 1;
                continue;
            }
            let mut tags: Vec<RunTag> = run
                .data
                .tags
                .iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        TAG_PARENT_RUN_ID | TAG_SYNC_SOURCE | TAG_SYNC_STATE
                    )
                })
                .map(|(k, v)| RunTag::new(k.clone(), v.clone()))
                .collect();
            tags.push(RunTag::new(
                TAG_SYNC_SOURCE,
                format!("{source_uri}#{}", run.info.run_id),
            ));
            tags.push(RunTag::new(TAG_SYNC_STATE, "copying"));
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
            // Only now is the copy whole.
            to.log_batch(
                &info.run_id,
                &[],
                &[],
                &[RunTag::new(TAG_SYNC_STATE, "complete")],
            )?;
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
