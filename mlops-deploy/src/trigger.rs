//! Trigger policies: when should the loop retrain?
//!
//! A [`TriggerPolicy`] is plain serde data (a policy file is a JSON list), so the rule
//! that fired is recorded with the numbers behind it. Rules:
//!
//! * `drift_share`: the window's feature drift share above `above` for `windows`
//!   consecutive windows;
//! * `feature_drifted`: a named feature drifted for `windows` consecutive windows;
//! * `quality_below`: the lower confidence bound of a quality metric below `below`
//!   (with at least `min_labelled` labelled rows);
//! * `schedule`: every `every_ms` of log time;
//! * `manual`: only when [`TriggerEngine::manual`] is called.
//!
//! One incident fires once. After a policy fires it is **active** and cannot fire
//! again until its condition has been false for `clear_windows` consecutive windows
//! (**hysteresis**; for `drift_share`, "false" means at or below `clear_below`, which
//! defaults to `above`, so a band between the two keeps an incident open); after that,
//! **cooldown** `cooldown_ms` of log time must also have passed since it last fired.
//! Each firing carries an incident id (`policy#window`) for **deduplication**
//! downstream: the retrain loop and the audit trail key on it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::monitor::WindowReport;
use crate::{Error, Result};

fn one() -> u32 {
    1
}

fn thirty() -> u64 {
    30
}

/// The condition of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// Feature drift share above `above` for `windows` consecutive windows.
    DriftShare {
        /// Share that counts as too much (strictly above).
        above: f64,
        /// Consecutive windows required (default 1).
        #[serde(default = "one")]
        windows: u32,
        /// Share at or below which the incident may clear (default `above`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clear_below: Option<f64>,
    },
    /// A named feature drifted for `windows` consecutive windows.
    FeatureDrifted {
        /// The feature.
        column: String,
        /// Consecutive windows required (default 1).
        #[serde(default = "one")]
        windows: u32,
    },
    /// A quality metric's lower confidence bound below `below`.
    QualityBelow {
        /// Metric name as the monitor reports it (`accuracy`, `precision`, ...).
        metric: String,
        /// The bound that is too low.
        below: f64,
        /// Labelled rows needed before the rule looks (default 30).
        #[serde(default = "thirty")]
        min_labelled: u64,
    },
    /// Every `every_ms` of log time (window end times).
    Schedule {
        /// Period in milliseconds.
        every_ms: u64,
    },
    /// Only by [`TriggerEngine::manual`].
    Manual,
}

/// A named rule with its hysteresis and cooldown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerPolicy {
    /// Name (unique within an engine).
    pub name: String,
    /// The condition.
    #[serde(flatten)]
    pub rule: Rule,
    /// Windows the condition must be false before the policy re-arms (default 1).
    #[serde(default = "one")]
    pub clear_windows: u32,
    /// Log time after a firing during which the policy does not fire again (default 0).
    #[serde(default)]
    pub cooldown_ms: u64,
}

impl TriggerPolicy {
    /// A policy with default hysteresis (1 window) and no cooldown.
    pub fn new(name: impl Into<String>, rule: Rule) -> TriggerPolicy {
        TriggerPolicy {
            name: name.into(),
            rule,
            clear_windows: 1,
            cooldown_ms: 0,
        }
    }

    /// The default policy of `mlops monitor`: dataset drift (share at or above
    /// `drift_share`) in one window.
    pub fn dataset_drift(drift_share: f64) -> TriggerPolicy {
        TriggerPolicy::new(
            "dataset-drift",
            Rule::DriftShare {
                above: drift_share - f64::EPSILON,
                windows: 1,
                clear_below: None,
            },
        )
    }

    /// Reads a JSON list of policies (or one policy).
    pub fn list_from_json(text: &str) -> Result<Vec<TriggerPolicy>> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::json("trigger policies", e))?;
        let list = match v {
            serde_json::Value::Array(_) => serde_json::from_value(v),
            other => serde_json::from_value(other).map(|p| vec![p]),
        }
        .map_err(|e| Error::json("trigger policies", e))?;
        Ok(list)
    }
}

/// A firing: one incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fired {
    /// The policy's name.
    pub policy: String,
    /// Incident id (`policy#window`), the deduplication key.
    pub incident: String,
    /// Window index that fired it.
    pub window: usize,
    /// Digest of that window's profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_profile: Option<mlops_core::Digest>,
    /// Log time (window end, Unix ms), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<i64>,
    /// The number that crossed the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Why, for a person.
    pub reason: String,
}

/// Per-policy state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyState {
    /// Consecutive windows the condition held.
    pub consecutive: u32,
    /// Consecutive windows the clear condition held (while active).
    pub clear_streak: u32,
    /// An incident is open.
    pub active: bool,
    /// Log time of the last firing.
    pub last_fired_ms: Option<i64>,
    /// Start of the schedule (first window's end).
    pub schedule_origin_ms: Option<i64>,
}

/// Evaluates policies window by window (state is serde data, so it survives restarts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerEngine {
    /// The policies.
    pub policies: Vec<TriggerPolicy>,
    /// State by policy name.
    pub state: BTreeMap<String, PolicyState>,
}

enum Verdict {
    Hit(f64, String),
    Clear,
    Neither,
}

impl PolicyState {
    /// Whether `p`'s cooldown has passed since the last firing, at `w`'s end.
    fn cooled(&self, p: &TriggerPolicy, w: &WindowReport) -> bool {
        match (self.last_fired_ms, w.end_ms) {
            (Some(last), Some(now)) => now - last >= p.cooldown_ms as i64,
            _ => true,
        }
    }

    /// Records a firing of `p` on `w` (incident `policy#window`) and returns it.
    fn fire(&mut self, p: &TriggerPolicy, w: &WindowReport, value: f64, reason: String) -> Fired {
        self.last_fired_ms = w.end_ms.or(self.last_fired_ms);
        Fired {
            policy: p.name.clone(),
            incident: format!("{}#{}", p.name, w.index),
            window: w.index,
            window_profile: Some(w.profile_digest),
            time_ms: w.end_ms,
            value: Some(value),
            reason,
        }
    }
}

impl TriggerEngine {
    /// An engine over `policies` (names must be unique, numbers sane).
    pub fn new(policies: Vec<TriggerPolicy>) -> Result<TriggerEngine> {
        let mut state = BTreeMap::new();
        for p in &policies {
            if state
                .insert(p.name.clone(), PolicyState::default())
                .is_some()
            {
                return Err(Error::arg(format!(
                    "two trigger policies are named {:?}",
                    p.name
                )));
            }
            match &p.rule {
                Rule::DriftShare {
                    above,
                    windows,
                    clear_below,
                } => {
                    if !(0.0..=1.0).contains(above) || *windows == 0 {
                        return Err(Error::arg(format!(
                            "policy {:?}: drift_share needs 0 <= above <= 1 and windows >= 1",
                            p.name
                        )));
                    }
                    if clear_below.is_some_and(|c| c > *above) {
                        return Err(Error::arg(format!(
                            "policy {:?}: clear_below must not exceed above",
                            p.name
                        )));
                    }
                }
                Rule::FeatureDrifted { windows, .. } if *windows == 0 => {
                    return Err(Error::arg(format!(
                        "policy {:?}: windows must be >= 1",
                        p.name
                    )));
                }
                Rule::Schedule { every_ms } if *every_ms == 0 => {
                    return Err(Error::arg(format!(
                        "policy {:?}: every_ms must be > 0",
                        p.name
                    )));
                }
                _ => {}
            }
        }
        Ok(TriggerEngine { policies, state })
    }

    fn verdict(rule: &Rule, w: &WindowReport, st: &mut PolicyState) -> Verdict {
        match rule {
            Rule::DriftShare {
                above, clear_below, ..
            } => {
                if w.drift.share > *above {
                    Verdict::Hit(
                        w.drift.share,
                        format!(
                            "drift share {:.3} > {above} ({} of {} features: {})",
                            w.drift.share,
                            w.drift.n_drifted,
                            w.drift.n_tested,
                            w.shifts.covariate.drifted_columns.join(", ")
                        ),
                    )
                } else if w.drift.share <= clear_below.unwrap_or(*above) {
                    Verdict::Clear
                } else {
                    Verdict::Neither
                }
            }
            Rule::FeatureDrifted { column, .. } => match w.drift.column(column) {
                Some(c) if c.drifted => Verdict::Hit(
                    c.score.unwrap_or(f64::NAN),
                    format!(
                        "feature {column} drifted ({} score {})",
                        c.method.map(|m| m.to_string()).unwrap_or_default(),
                        c.score.map(|s| format!("{s:.4}")).unwrap_or_default()
                    ),
                ),
                _ => Verdict::Clear,
            },
            Rule::QualityBelow {
                metric,
                below,
                min_labelled,
            } => {
                let q = w.quality.as_ref().filter(|q| q.labelled >= *min_labelled);
                match q
                    .and_then(|q| q.metric(metric))
                    .and_then(|m| m.estimate.lower)
                {
                    Some(l) if l < *below => {
                        Verdict::Hit(l, format!("{metric} lower bound {l:.4} < {below}"))
                    }
                    Some(_) => Verdict::Clear,
                    None => Verdict::Neither,
                }
            }
            Rule::Schedule { every_ms } => {
                let Some(t) = w.end_ms else {
                    return Verdict::Neither;
                };
                let origin = *st.schedule_origin_ms.get_or_insert(t);
                let last = st.last_fired_ms.unwrap_or(origin);
                if t - last >= *every_ms as i64 {
                    Verdict::Hit(
                        (t - last) as f64,
                        format!("schedule: {every_ms} ms elapsed"),
                    )
                } else {
                    Verdict::Clear
                }
            }
            Rule::Manual => Verdict::Neither,
        }
    }

    /// Feeds a window; returns the policies that fire on it. Incomplete windows only
    /// count for `schedule`.
    pub fn observe(&mut self, w: &WindowReport) -> Vec<Fired> {
        let mut out = Vec::new();
        for p in &self.policies {
            let st = self.state.entry(p.name.clone()).or_default();
            if !w.complete && !matches!(p.rule, Rule::Schedule { .. }) {
                continue;
            }
            let needed = match &p.rule {
                Rule::DriftShare { windows, .. } | Rule::FeatureDrifted { windows, .. } => *windows,
                _ => 1,
            };
            let schedule = matches!(p.rule, Rule::Schedule { .. });
            match Self::verdict(&p.rule, w, st) {
                Verdict::Hit(value, reason) => {
                    st.consecutive += 1;
                    st.clear_streak = 0;
                    if st.consecutive >= needed && (!st.active || schedule) && st.cooled(p, w) {
                        st.active = !schedule;
                        out.push(st.fire(p, w, value, reason));
                    }
                }
                Verdict::Clear => {
                    st.consecutive = 0;
                    if st.active {
                        st.clear_streak += 1;
                        if st.clear_streak >= p.clear_windows {
                            st.active = false;
                            st.clear_streak = 0;
                        }
                    }
                }
                Verdict::Neither => {
                    st.consecutive = 0;
                    st.clear_streak = 0;
                }
            }
        }
        out
    }

    /// Feeds a window updated by late labels ([`crate::Monitor::relabel`]): only the
    /// `quality_below` policies look at it, and one fires when its condition now holds,
    /// no incident of it is open and its cooldown has passed (incident
    /// `policy#window`, the same key a firing on the first report would have had, so
    /// downstream deduplication holds). Consecutive and clear counts, which follow the
    /// newest windows, are left alone.
    pub fn observe_relabelled(&mut self, w: &WindowReport) -> Vec<Fired> {
        let mut out = Vec::new();
        if !w.complete {
            return out;
        }
        for p in &self.policies {
            if !matches!(p.rule, Rule::QualityBelow { .. }) {
                continue;
            }
            let st = self.state.entry(p.name.clone()).or_default();
            if let Verdict::Hit(value, reason) = Self::verdict(&p.rule, w, st)
                && !st.active
                && st.cooled(p, w)
            {
                st.active = true;
                let reason = format!("{reason} (late labels, revision {})", w.revision);
                out.push(st.fire(p, w, value, reason));
            }
        }
        out
    }

    /// Fires a `manual` policy (or any policy by name) now, whatever its state.
    pub fn manual(&mut self, name: &str, reason: &str, time_ms: Option<i64>) -> Result<Fired> {
        let st = self
            .state
            .get_mut(name)
            .ok_or_else(|| Error::arg(format!("no trigger policy named {name:?}")))?;
        st.last_fired_ms = time_ms.or(st.last_fired_ms);
        let n = st.last_fired_ms.unwrap_or(0);
        Ok(Fired {
            policy: name.to_string(),
            incident: format!("{name}#manual-{n}"),
            window: 0,
            window_profile: None,
            time_ms,
            value: None,
            reason: format!("manual: {reason}"),
        })
    }
}
