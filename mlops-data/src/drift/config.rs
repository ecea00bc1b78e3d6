//! Which method and threshold each column gets: Evidently's rules, so that a
//! `DataDriftPreset(...)` configuration carries over field for field.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A drift method. Names (serde and [`FromStr`]) follow Evidently's registry.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[non_exhaustive]
pub enum Method {
    /// Two-sample Kolmogorov–Smirnov p-value (`ks`).
    #[serde(rename = "ks")]
    Ks,
    /// Wasserstein-1 distance normed by the reference standard deviation (`wasserstein`).
    #[serde(rename = "wasserstein")]
    Wasserstein,
    /// Population stability index (`psi`).
    #[serde(rename = "psi")]
    Psi,
    /// Kullback–Leibler divergence (`kl_div`).
    #[serde(rename = "kl_div")]
    KlDiv,
    /// Jensen–Shannon distance (`jensenshannon`).
    #[serde(rename = "jensenshannon")]
    JensenShannon,
    /// Hellinger distance (`hellinger`).
    #[serde(rename = "hellinger")]
    Hellinger,
    /// Evidently's goodness-of-fit chi-square p-value (`chisquare`).
    #[serde(rename = "chisquare")]
    ChiSquare,
    /// Chi-square test of homogeneity on the 2xK table (`chi2_contingency`).
    #[serde(rename = "chi2_contingency")]
    Chi2Contingency,
    /// Two-proportion z-test p-value (`z`).
    #[serde(rename = "z")]
    Z,
    /// Student's t-test p-value (`t_test`).
    #[serde(rename = "t_test")]
    TTest,
    /// Two-sided Mann–Whitney U p-value (`mannw`).
    #[serde(rename = "mannw")]
    MannW,
    /// k-sample Anderson–Darling p-value (`anderson`).
    #[serde(rename = "anderson")]
    Anderson,
    /// Two-sample Cramér–von Mises p-value (`cramer_von_mises`).
    #[serde(rename = "cramer_von_mises")]
    CramerVonMises,
    /// Energy distance (`ed`, also accepted as `energy_distance`).
    #[serde(rename = "ed", alias = "energy_distance")]
    EnergyDistance,
    /// Total variation distance (`tvd`, also accepted as `TVD`).
    #[serde(rename = "tvd", alias = "TVD")]
    Tvd,
}

/// How a method's score turns into a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Drift when the p-value is below the threshold.
    PBelow,
    /// Drift when the p-value is at or below the threshold.
    PAtMost,
    /// Drift when the distance is at or above the threshold.
    DistanceAtLeast,
    /// Drift when the distance is strictly above the threshold.
    DistanceAbove,
}

impl Method {
    /// Every method, in documentation order.
    pub const ALL: [Method; 15] = [
        Method::Ks,
        Method::Wasserstein,
        Method::Psi,
        Method::KlDiv,
        Method::JensenShannon,
        Method::Hellinger,
        Method::ChiSquare,
        Method::Chi2Contingency,
        Method::Z,
        Method::TTest,
        Method::MannW,
        Method::Anderson,
        Method::CramerVonMises,
        Method::EnergyDistance,
        Method::Tvd,
    ];

    /// The method's name (Evidently's).
    pub fn name(self) -> &'static str {
        match self {
            Method::Ks => "ks",
            Method::Wasserstein => "wasserstein",
            Method::Psi => "psi",
            Method::KlDiv => "kl_div",
            Method::JensenShannon => "jensenshannon",
            Method::Hellinger => "hellinger",
            Method::ChiSquare => "chisquare",
            Method::Chi2Contingency => "chi2_contingency",
            Method::Z => "z",
            Method::TTest => "t_test",
            Method::MannW => "mannw",
            Method::Anderson => "anderson",
            Method::CramerVonMises => "cramer_von_mises",
            Method::EnergyDistance => "ed",
            Method::Tvd => "tvd",
        }
    }

    /// Evidently's default threshold for the method.
    pub fn default_threshold(self) -> f64 {
        match self {
            Method::Ks
            | Method::ChiSquare
            | Method::Chi2Contingency
            | Method::Z
            | Method::TTest
            | Method::MannW => 0.05,
            _ => 0.1,
        }
    }

    /// How the score is compared with the threshold (Evidently's rule per method).
    pub fn decision(self) -> Decision {
        match self {
            Method::Ks | Method::CramerVonMises => Decision::PAtMost,
            Method::ChiSquare
            | Method::Chi2Contingency
            | Method::Z
            | Method::TTest
            | Method::MannW
            | Method::Anderson => Decision::PBelow,
            Method::EnergyDistance => Decision::DistanceAbove,
            _ => Decision::DistanceAtLeast,
        }
    }

    /// Whether the method's score is a p-value.
    pub fn is_test(self) -> bool {
        matches!(self.decision(), Decision::PBelow | Decision::PAtMost)
    }

    /// Whether the method applies to categorical columns.
    pub fn allows_categorical(self) -> bool {
        matches!(
            self,
            Method::Psi
                | Method::KlDiv
                | Method::JensenShannon
                | Method::Hellinger
                | Method::ChiSquare
                | Method::Chi2Contingency
                | Method::Z
                | Method::Tvd
        )
    }

    /// Applies the method's rule: is `score` (a p-value or a distance) drift?
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self.decision() {
            Decision::PBelow => score < threshold,
            Decision::PAtMost => score <= threshold,
            Decision::DistanceAtLeast => score >= threshold,
            Decision::DistanceAbove => score > threshold,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let m = match s {
            "energy_distance" => Some(Method::EnergyDistance),
            "TVD" => Some(Method::Tvd),
            _ => Method::ALL.iter().copied().find(|m| m.name() == s),
        };
        m.ok_or_else(|| {
            let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
            Error::InvalidArgument(format!(
                "unknown drift method {s:?} (known: {})",
                names.join(", ")
            ))
        })
    }
}

/// A column's type for drift purposes (Evidently's `ColumnType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Numbers compared as a distribution.
    Numerical,
    /// Labels compared by their shares.
    Categorical,
    /// Free text: not tested (Evidently uses a domain classifier).
    Text,
    /// Dates and times: not tested.
    Datetime,
    /// Anything else: not tested.
    Unknown,
}

impl FromStr for ColumnType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "num" | "numerical" => Ok(ColumnType::Numerical),
            "cat" | "categorical" => Ok(ColumnType::Categorical),
            "text" => Ok(ColumnType::Text),
            "datetime" => Ok(ColumnType::Datetime),
            _ => Err(Error::InvalidArgument(format!("unknown column type {s:?}"))),
        }
    }
}

/// What to compare and how: Evidently's `DataDriftPreset` options.
///
/// Method resolution per column: `per_column_method`, then `num_method`/`cat_method`
/// by the column's type, then `method`, then Evidently's default rule
/// ([`default_method`]). Thresholds resolve the same way, ending at the method's
/// default threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DriftConfig {
    /// Method for every column not covered by a more specific setting.
    pub method: Option<Method>,
    /// Method for numerical columns.
    pub num_method: Option<Method>,
    /// Method for categorical columns.
    pub cat_method: Option<Method>,
    /// Method per column name.
    pub per_column_method: BTreeMap<String, Method>,
    /// Threshold for every column not covered by a more specific setting.
    pub threshold: Option<f64>,
    /// Threshold for numerical columns.
    pub num_threshold: Option<f64>,
    /// Threshold for categorical columns.
    pub cat_threshold: Option<f64>,
    /// Threshold per column name.
    pub per_column_threshold: BTreeMap<String, f64>,
    /// The dataset drifts when the share of drifted columns is at least this (0.5).
    pub drift_share: f64,
    /// Column types given by the user; other columns are inferred.
    pub column_types: BTreeMap<String, ColumnType>,
    /// Only these columns (in this order); `None` means every column of the reference.
    pub columns: Option<Vec<String>>,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            method: None,
            num_method: None,
            cat_method: None,
            per_column_method: BTreeMap::new(),
            threshold: None,
            num_threshold: None,
            cat_threshold: None,
            per_column_threshold: BTreeMap::new(),
            drift_share: 0.5,
            column_types: BTreeMap::new(),
            columns: None,
        }
    }
}

impl DriftConfig {
    /// The method the user chose for `column` of type `ty`, if any.
    pub fn chosen_method(&self, column: &str, ty: ColumnType) -> Option<Method> {
        if let Some(m) = self.per_column_method.get(column) {
            return Some(*m);
        }
        let by_type = match ty {
            ColumnType::Numerical => self.num_method,
            ColumnType::Categorical => self.cat_method,
            _ => None,
        };
        by_type.or(self.method)
    }

    /// The threshold for `column` of type `ty` tested with `method`.
    pub fn threshold_for(&self, column: &str, ty: ColumnType, method: Method) -> f64 {
        if let Some(t) = self.per_column_threshold.get(column) {
            return *t;
        }
        let by_type = match ty {
            ColumnType::Numerical => self.num_threshold,
            ColumnType::Categorical => self.cat_threshold,
            _ => None,
        };
        by_type
            .or(self.threshold)
            .unwrap_or_else(|| method.default_threshold())
    }
}

/// Evidently's default method: with at most 1000 reference values, `ks` for numeric
/// columns with more than 5 distinct pooled values, else `chisquare` (3+ distinct) or
/// `z`; with more, `wasserstein` for numeric columns with more than 5 distinct values
/// and `jensenshannon` otherwise.
pub fn default_method(ty: ColumnType, n_reference: usize, n_unique_pooled: usize) -> Method {
    let numeric = ty == ColumnType::Numerical;
    if n_reference <= 1000 {
        if numeric && n_unique_pooled > 5 {
            Method::Ks
        } else if n_unique_pooled > 2 {
            Method::ChiSquare
        } else {
            Method::Z
        }
    } else if numeric && n_unique_pooled > 5 {
        Method::Wasserstein
    } else {
        Method::JensenShannon
    }
}
