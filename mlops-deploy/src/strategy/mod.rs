//! Rollout strategies as data: serde types kept in git as TOML or JSON, executed by the
//! controller against any deployer and exported as Argo Rollouts steps.
//!
//! Why data and not code: a strategy is reviewed like configuration ("what did this
//! promotion wait for?") and one description drives both the local server and the
//! Kubernetes manifests. The shapes follow Argo Rollouts so that its users can read
//! them: canary steps (`set_weight`, `pause`, `analysis`, plus `judge`, which pauses
//! until the statistical judge decides), blue-green (preview, pre-promotion analysis,
//! auto-promotion after N seconds, post-promotion analysis, scale-down delay) and shadow
//! (mirrored traffic, responses discarded). Analysis follows Argo's semantics
//! ([`analysis`]), with an explicit policy for a window without data.
//!
//! The seed's staging step, "runs integration tests; if all checks pass, promotes", is a
//! blue-green strategy whose pre-promotion analysis has a [`analysis::Provider::Golden`]
//! (requests with expected answers, sent to the preview) or a
//! [`analysis::Provider::Command`] (the application's own test command) metric.

pub mod analysis;
pub mod argo;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::judge::JudgeConfig;
pub use analysis::Analysis;

/// A span of time, written as Argo writes it: `30s`, `10m`, `1h`, or a bare number of
/// seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub u64);

impl Duration {
    /// Seconds.
    pub fn seconds(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s > 0 && s.is_multiple_of(3600) {
            write!(f, "{}h", s / 3600)
        } else if s > 0 && s.is_multiple_of(60) {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl FromStr for Duration {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let t = text.trim();
        let bad = || Error::InvalidConfig {
            field: "duration".into(),
            reason: format!("{text:?}: expected a number of seconds or N followed by s, m or h"),
        };
        let (num, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((i, _)) => (&t[..i], &t[i..]),
            None => (t, "s"),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        let mult = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(Duration).ok_or_else(bad)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(s) => Ok(Duration(s)),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// A rollout strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// Shift traffic in steps, judged between them.
    Canary(Canary),
    /// Bring the new version up beside the old, check it, switch all traffic at once.
    BlueGreen(BlueGreen),
    /// Mirror traffic to the new version and discard its answers.
    Shadow(Shadow),
}

/// Canary steps.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Canary {
    /// The steps, in order. After the last one the canary is promoted.
    pub steps: Vec<Step>,
    /// The judge `judge` steps ask (defaults: see [`JudgeConfig`]).
    #[serde(default)]
    pub judge: JudgeConfig,
    /// Analysis running in the background across all steps (Argo's
    /// `strategy.canary.analysis`): a failure aborts at any step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_analysis: Option<Analysis>,
}

/// One canary step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Send this percentage of traffic to the canary.
    SetWeight(u8),
    /// Wait: for a duration, or (none) until someone promotes.
    Pause {
        /// How long; absent = until `mlops rollout promote`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<Duration>,
    },
    /// Wait until the judge decides: promote ends the steps (promotion), rollback
    /// aborts, no decision takes the judge's configured action. `max_duration` bounds
    /// the wait (then no decision).
    Judge {
        /// Upper bound of the wait.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_duration: Option<Duration>,
    },
    /// Run an analysis and wait for it: success goes on, failure or error aborts,
    /// inconclusive pauses.
    Analysis(Analysis),
}

/// Blue-green.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueGreen {
    /// Analysis against the preview before the switch: failure aborts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<Analysis>,
    /// Switch automatically once the preview is ready and its analysis passed; `false`
    /// pauses before the switch until `mlops rollout promote`.
    #[serde(default = "yes")]
    pub auto_promotion_enabled: bool,
    /// With auto-promotion off: switch anyway after this many seconds of pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<u64>,
    /// Analysis after the switch: failure switches back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<Analysis>,
    /// Seconds the old version keeps running after the switch (fast switch-back).
    #[serde(default = "thirty")]
    pub scale_down_delay_seconds: u64,
}

fn yes() -> bool {
    true
}
fn thirty() -> u64 {
    30
}

/// Shadow: the new version sees a copy of the traffic; its answers are discarded and
/// compared offline (or analysed) before any real traffic moves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shadow {
    /// Percentage of requests mirrored.
    #[serde(default = "hundred")]
    pub percent: u8,
    /// How long to mirror before the analysis decides.
    pub duration: Duration,
    /// Analysis of the shadow's behaviour (errors, latency); success promotes when
    /// `promote_on_success`, else the rollout ends with the shadow removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// Promote after a successful shadow phase (blue-green switch) instead of stopping.
    #[serde(default)]
    pub promote_on_success: bool,
}

fn hundred() -> u8 {
    100
}

impl Strategy {
    /// Reads a strategy from TOML (`.toml`) or JSON (anything else).
    pub fn from_text(text: &str, toml_format: bool) -> Result<Self> {
        let s: Strategy = if toml_format {
            toml::from_str(text).map_err(|e| Error::InvalidConfig {
                field: "strategy".into(),
                reason: e.to_string(),
            })?
        } else {
            serde_json::from_str(text).map_err(|e| Error::InvalidConfig {
                field: "strategy".into(),
                reason: e.to_string(),
            })?
        };
        s.validate()?;
        Ok(s)
    }

    /// Checks weights, analyses (conditions parse, limits make sense) and the judge.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: String, reason: String| Err(Error::InvalidConfig { field, reason });
        match self {
            Strategy::Canary(c) => {
                if c.steps.is_empty() {
                    return bad("canary.steps".into(), "at least one step is needed".into());
                }
                c.judge.validate()?;
                let mut last = 0u8;
                for (i, step) in c.steps.iter().enumerate() {
                    match step {
                        Step::SetWeight(w) if *w > 100 => {
                            return bad(
                                format!("canary.steps[{i}].set_weight"),
                                format!("{w} > 100"),
                            );
                        }
                        Step::SetWeight(w) => last = *w,
                        Step::Analysis(a) => a.validate(&format!("canary.steps[{i}].analysis"))?,
                        Step::Judge { .. } if last == 0 => {
                            return bad(
                                format!("canary.steps[{i}].judge"),
                                "the judge needs canary traffic: set a weight first".into(),
                            );
                        }
                        _ => {}
                    }
                }
                if let Some(a) = &c.background_analysis {
                    a.validate("canary.background_analysis")?;
                }
            }
            Strategy::BlueGreen(b) => {
                if let Some(a) = &b.pre_promotion_analysis {
                    a.validate("blue_green.pre_promotion_analysis")?;
                }
                if let Some(a) = &b.post_promotion_analysis {
                    a.validate("blue_green.post_promotion_analysis")?;
                }
            }
            Strategy::Shadow(s) => {
                if s.percent == 0 || s.percent > 100 {
                    return bad(
                        "shadow.percent".into(),
                        format!("{} not in 1..=100", s.percent),
                    );
                }
                if let Some(a) = &s.analysis {
                    a.validate("shadow.analysis")?;
                }
            }
        }
        Ok(())
    }
}
