//! `sync_models(from, to, run_map)`: copy registered models, their versions and aliases
//! from one registry to another, idempotently.
//!
//! The registry half of `mlops sync` (the tracker half, [`crate::tracking::sync`], copies
//! the runs first and returns the source-to-target run-id map used here to rewrite each
//! version's `run_id`). Per model: created on the target if absent (description, tags;
//! the MLflow backend's alias-history tags are not copied, they describe the source's
//! version numbers); then every version of the source, oldest first, whose package is
//! loaded and verified from the source ([`Registry::load`]), made available to the
//! target with [`Registry::import_package`] (the local backend copies the objects into
//! its store, the MLflow backend uploads the files to the server's artifact store) and
//! registered with the same description, tags and lineage. Every copied version carries
//! the tag [`TAG_SYNC_SOURCE`] = `<source location>#<model>/<version>`; a version
//! already carrying that tag on the target is not copied again. Aliases are then pointed
//! at the corresponding target versions (moved only when they point elsewhere).
//!
//! Version numbers on the target may differ from the source's (the target may already
//! hold versions): [`ModelSyncReport::version_map`] says which is which. What is not
//! copied: versions without a package digest (registered by other clients) and
//! versions whose status is not `READY` (both backends register `READY` versions only);
//! they are counted in [`ModelSyncReport::versions_unsupported`] and logged.

use std::collections::BTreeMap;

use super::{
    AliasChange, ModelQuery, NewVersion, Registry, TAG_DATASETS, TAG_PACKAGE_DIGEST, TAG_RUN_ID,
    VersionQuery, VersionStatus, history::HISTORY_TAG_PREFIX,
};
use crate::{Error, ModelUri, Result, RunId};

use crate::tracking::TAG_SYNC_SOURCE;

/// Version tag keeping the source's run id when that run has no copy on the target.
pub const TAG_SYNC_SOURCE_RUN: &str = "mlops.sync.source_run_id";

/// What a model sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSyncReport {
    /// Registered models created on the target.
    pub models_created: usize,
    /// Versions copied.
    pub versions_copied: usize,
    /// Versions already on the target (from an earlier sync).
    pub versions_skipped: usize,
    /// Versions not copyable (no package digest, package fails verification, or not
    /// `READY`).
    pub versions_unsupported: usize,
    /// Aliases set or moved on the target.
    pub aliases_set: usize,
    /// `(model, source version)` → target version, for every version copied or found.
    pub version_map: BTreeMap<(String, u64), u64>,
}

/// Copies the registered models named in `models` (every one when empty) of `from` to
/// `to`; `run_map` (source run id → target run id, from [`crate::tracking::sync`])
/// rewrites the versions' `run_id`. See the module docs.
pub fn sync_models(
    from: &dyn Registry,
    to: &dyn Registry,
    run_map: &BTreeMap<String, String>,
    models: &[String],
) -> Result<ModelSyncReport> {
    let mut report = ModelSyncReport::default();
    let source = from.location();
    let change = AliasChange::new(format!("mlops sync from {source}"));
    for model in all_models(from, models)? {
        let name = model.name.clone();
        let target = match to.get_model(&name) {
            Ok(m) => m,
            Err(Error::ModelNotFound { .. }) => {
                let tags: BTreeMap<String, String> = model
                    .tags
                    .iter()
                    .filter(|(k, _)| !k.starts_with(HISTORY_TAG_PREFIX))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                report.models_created += 1;
                to.create_model(&name, model.description.as_deref(), &tags)?
            }
            Err(e) => return Err(e),
        };
        // What the target already holds, by source version.
        let prefix = format!("{source}#{name}/");
        for v in all_versions(to, &name)? {
            if let Some(n) = v
                .tags
                .get(TAG_SYNC_SOURCE)
                .and_then(|s| s.strip_prefix(&prefix))
                .and_then(|n| n.parse::<u64>().ok())
            {
                report.version_map.insert((name.clone(), n), v.version);
            }
        }
        let mut versions = all_versions(from, &name)?;
        versions.sort_by_key(|v| v.version);
        for v in versions {
            let key = (name.clone(), v.version);
            if report.version_map.contains_key(&key) {
                report.versions_skipped += 1;
                continue;
            }
            if v.status != VersionStatus::Ready || v.package_digest()?.is_none() {
                tracing::warn!(model = %name, version = v.version, status = %v.status,
                    "not synced: no package digest or not READY");
                report.versions_unsupported += 1;
                continue;
            }
            // Loads and verifies the package (a server source downloads it first).
            let loaded = match from.load(&ModelUri::Version(v.reference())) {
                Ok(l) => l,
                Err(e @ Error::PackageTampered { .. }) => {
                    tracing::warn!(error = %e, "not synced: package fails verification");
                    report.versions_unsupported += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut new = NewVersion::new(loaded.package, String::new());
            new.datasets = v.dataset_digests()?;
            new.description = v.description.clone().filter(|d| !d.is_empty());
            new.tags = v
                .tags
                .iter()
                .filter(|(k, _)| {
                    ![
                        TAG_PACKAGE_DIGEST,
                        TAG_DATASETS,
                        TAG_RUN_ID,
                        TAG_SYNC_SOURCE,
                    ]
                    .contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            new.tags.insert(
                TAG_SYNC_SOURCE.into(),
                format!("{source}#{name}/{}", v.version),
            );
            let run = v
                .run_id
                .as_ref()
                .map(|r| r.as_str().to_string())
                .or_else(|| v.tags.get(TAG_RUN_ID).cloned());
            if let Some(run) = run {
                match run_map.get(&run) {
                    Some(t) => new.run_id = Some(RunId(t.clone())),
                    None => {
                        new.tags.insert(TAG_SYNC_SOURCE_RUN.into(), run);
                    }
                }
            }
            let imported = to.import_package(
                from.artifact_store(),
                &loaded.package,
                &v.source,
                new.run_id.as_ref(),
            )?;
            new.source = imported.source;
            new.run_id = imported.run_id;
            let created = to.create_version(&name, &new)?;
            report.version_map.insert(key, created.version);
            report.versions_copied += 1;
        }
        for (alias, v) in &model.aliases {
            let Some(&tv) = report.version_map.get(&(name.clone(), *v)) else {
                tracing::warn!(model = %name, %alias, "not synced: its version was not copied");
                continue;
            };
            if target.aliases.get(alias) != Some(&tv) {
                to.set_alias(&name, alias, tv, &change)?;
                report.aliases_set += 1;
            }
        }
    }
    Ok(report)
}

fn all_models(reg: &dyn Registry, only: &[String]) -> Result<Vec<super::RegisteredModel>> {
    if !only.is_empty() {
        return only.iter().map(|n| reg.get_model(n)).collect();
    }
    let mut out = Vec::new();
    let mut q = ModelQuery::default();
    loop {
        let page = reg.search_models(&q)?;
        out.extend(page.items);
        match page.next_page_token {
            Some(t) => q.page_token = Some(t),
            None => break,
        }
    }
    // Search results may omit details (aliases); read each model whole.
    out.iter().map(|m| reg.get_model(&m.name)).collect()
}

fn all_versions(reg: &dyn Registry, name: &str) -> Result<Vec<super::ModelVersion>> {
    let mut out = Vec::new();
    let mut q = VersionQuery::of_model(name);
    loop {
        let page = reg.search_versions(&q)?;
        out.extend(page.items);
        match page.next_page_token {
            Some(t) => q.page_token = Some(t),
            None => break,
        }
    }
    Ok(out)
}
