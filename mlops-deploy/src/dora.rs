//! Delivery metrics (DORA), computed from what the pipeline recorded, not hand-counted.
//!
//! * **Deployment frequency**: moves of the serving alias (`champion`) to a new
//!   version, per day over the period from the first to the last recorded event.
//! * **Lead time**: training run start → promotion. The start comes from the tracker
//!   (the version's run), else from the retrain loop's `retrain.candidate` record
//!   (`started_ms`), else the version's registration time; each deployment says which
//!   (`lead_time_from`).
//! * **Change failure rate**: changes rolled back / all changes. A change fails when
//!   the alias is later rolled back away from its version, or when a rollout of it
//!   is recorded as rolled back or aborted (`rollout.*` audit records whose action ends
//!   in `rolled_back`, `rollback` or `aborted`).
//! * **Time to restore**: an alert (`trigger.fired`) → the next move of the alias
//!   (a fixed model at full traffic).

use std::collections::BTreeMap;

use mlops_core::registry::{AliasMoveKind, ModelQuery, Registry};
use mlops_core::tracking::Tracker;
use serde::{Deserialize, Serialize};

use crate::Result;

/// One promotion of the serving alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    /// Registered model.
    pub model: String,
    /// Version promoted.
    pub version: u64,
    /// When (Unix ms).
    pub time_ms: u64,
    /// Training start → promotion, ms.
    pub lead_time_ms: Option<u64>,
    /// `run_start`, `retrain_candidate` or `registration`.
    pub lead_time_from: Option<String>,
    /// Rolled back later.
    pub failed: bool,
}

/// Mean, median and count of durations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Durations {
    /// How many.
    pub n: usize,
    /// Mean, ms.
    pub mean_ms: Option<f64>,
    /// Median, ms.
    pub median_ms: Option<f64>,
}

impl Durations {
    fn of(mut v: Vec<u64>) -> Durations {
        v.sort_unstable();
        let n = v.len();
        Durations {
            n,
            mean_ms: (n > 0).then(|| v.iter().sum::<u64>() as f64 / n as f64),
            median_ms: (n > 0).then(|| {
                if n % 2 == 1 {
                    v[n / 2] as f64
                } else {
                    (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
                }
            }),
        }
    }
}

/// The four numbers, with the deployments they come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoraReport {
    /// The alias taken as "in production".
    pub alias: String,
    /// Days from the first to the last event considered (at least one day).
    pub period_days: f64,
    /// Promotions.
    pub deployments: usize,
    /// Promotions per day.
    pub deployment_frequency_per_day: f64,
    /// Training start → promotion.
    pub lead_time: Durations,
    /// Changes (promotions and rollouts that were rolled back before promotion).
    pub changes: usize,
    /// Changes that failed.
    pub failed_changes: usize,
    /// `failed_changes / changes` (`None` without changes).
    pub change_failure_rate: Option<f64>,
    /// Alerts (`trigger.fired`).
    pub alerts: usize,
    /// Alert → next move of the alias.
    pub time_to_restore: Durations,
    /// Every promotion.
    pub deployment_list: Vec<Deployment>,
}

impl DoraReport {
    /// A small table for people.
    pub fn to_table(&self) -> String {
        let d = |x: &Durations| match x.median_ms {
            Some(m) => format!(
                "median {}, mean {} (n={})",
                human(m),
                human(x.mean_ms.unwrap_or(m)),
                x.n
            ),
            None => "-".into(),
        };
        let rows = [
            (
                "deployment frequency",
                format!(
                    "{:.3}/day ({} promotions of @{} in {:.1} days)",
                    self.deployment_frequency_per_day,
                    self.deployments,
                    self.alias,
                    self.period_days
                ),
            ),
            ("lead time", d(&self.lead_time)),
            (
                "change failure rate",
                match self.change_failure_rate {
                    Some(r) => format!(
                        "{:.1}% ({} of {})",
                        r * 100.0,
                        self.failed_changes,
                        self.changes
                    ),
                    None => "-".into(),
                },
            ),
            (
                "time to restore",
                format!("{} after {} alerts", d(&self.time_to_restore), self.alerts),
            ),
        ];
        let mut s = String::new();
        for (k, v) in rows {
            s.push_str(&format!("{k:<22} {v}\n"));
        }
        s
    }
}

fn human(ms: f64) -> String {
    let s = ms / 1000.0;
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else {
        format!("{:.1} d", s / 86400.0)
    }
}

/// Computes the report for every model of `registry` (or only `models`), reading
/// run start times from `tracker` when given.
pub fn dora(
    registry: &dyn Registry,
    tracker: Option<&dyn Tracker>,
    alias: &str,
    models: Option<&[String]>,
) -> Result<DoraReport> {
    let names: Vec<String> = match models {
        Some(m) => m.to_vec(),
        None => {
            let mut out = Vec::new();
            let mut q = ModelQuery::default();
            loop {
                let page = registry.search_models(&q)?;
                out.extend(page.items.into_iter().map(|m| m.name));
                match page.next_page_token {
                    Some(t) => q.page_token = Some(t),
                    None => break,
                }
            }
            out
        }
    };
    let records = registry.audit_log().records()?;
    let mut deployments = Vec::new();
    let mut failed_rollouts = 0usize;
    let mut alerts = 0usize;
    let mut restore = Vec::new();
    let mut times: Vec<u64> = Vec::new();
    for name in &names {
        let history = registry.alias_history(name, alias)?;
        times.extend(history.iter().map(|m| m.time_ms));
        // retrain candidates: package digest → started_ms
        let mut started_by_package: BTreeMap<String, u64> = BTreeMap::new();
        for r in &records {
            if r.action == "retrain.candidate"
                && r.payload.get("model").and_then(|v| v.as_str()) == Some(name)
                && let (Some(p), Some(s)) = (
                    r.payload.get("package").and_then(|v| v.as_str()),
                    r.payload
                        .get("started_ms")
                        .and_then(serde_json::Value::as_u64),
                )
            {
                started_by_package.insert(p.to_string(), s);
            }
        }
        for (i, m) in history.iter().enumerate() {
            let (AliasMoveKind::Set, Some(v)) = (m.kind, m.to_version) else {
                continue;
            };
            if m.from_version == Some(v) {
                continue;
            }
            let version = registry.get_version(name, v).ok();
            let mut lead = None;
            if let (Some(t), Some(run)) = (tracker, version.as_ref().and_then(|v| v.run_id.clone()))
                && let Ok(rec) = t.get_run(run.as_str())
                && let Some(s) = rec.info.start_time
            {
                lead = Some((m.time_ms.saturating_sub(s.max(0) as u64), "run_start"));
            }
            if lead.is_none()
                && let Some(pkg) = version
                    .as_ref()
                    .and_then(|v| v.package_digest().ok().flatten())
                && let Some(s) = started_by_package.get(&pkg.to_string())
            {
                lead = Some((m.time_ms.saturating_sub(*s), "retrain_candidate"));
            }
            if lead.is_none()
                && let Some(v) = &version
            {
                lead = Some((
                    m.time_ms.saturating_sub(v.creation_timestamp),
                    "registration",
                ));
            }
            let failed = history[i + 1..]
                .iter()
                .find(|later| later.from_version == Some(v))
                .is_some_and(|later| later.kind == AliasMoveKind::Rollback);
            deployments.push(Deployment {
                model: name.clone(),
                version: v,
                time_ms: m.time_ms,
                lead_time_ms: lead.map(|l| l.0),
                lead_time_from: lead.map(|l| l.1.to_string()),
                failed,
            });
        }
        for r in &records {
            let about = r.payload.get("model").and_then(|v| v.as_str()) == Some(name)
                || r.subject.starts_with(&format!("models:/{name}@"))
                || r.subject.starts_with(&format!("models:/{name}/"));
            if !about {
                continue;
            }
            if r.action.starts_with("rollout.")
                && (r.action.ends_with("rolled_back")
                    || r.action.ends_with("rollback")
                    || r.action.ends_with("aborted"))
            {
                failed_rollouts += 1;
                times.push(r.time_ms);
            }
            if r.action == "trigger.fired" {
                alerts += 1;
                times.push(r.time_ms);
                if let Some(next) = history
                    .iter()
                    .find(|m| m.time_ms >= r.time_ms && m.to_version.is_some())
                {
                    restore.push(next.time_ms - r.time_ms);
                }
            }
        }
    }
    let changes = deployments.len() + failed_rollouts;
    let failed_changes = deployments.iter().filter(|d| d.failed).count() + failed_rollouts;
    let (lo, hi) = (
        times.iter().min().copied().unwrap_or(0),
        times.iter().max().copied().unwrap_or(0),
    );
    let period_days = ((hi - lo) as f64 / 86_400_000.0).max(1.0);
    Ok(DoraReport {
        alias: alias.to_string(),
        period_days,
        deployments: deployments.len(),
        deployment_frequency_per_day: deployments.len() as f64 / period_days,
        lead_time: Durations::of(deployments.iter().filter_map(|d| d.lead_time_ms).collect()),
        changes,
        failed_changes,
        change_failure_rate: (changes > 0).then(|| failed_changes as f64 / changes as f64),
        alerts,
        time_to_restore: Durations::of(restore),
        deployment_list: deployments,
    })
}
