//! What determines a trained model besides the data: the target, the algorithm with its
//! hyper-parameters, the features and the seed. Plain serde data, logged as a run's
//! parameters and stored inside every `mlops-linfa` payload.

use mlops_core::tracking::Param;
use serde::{Deserialize, Serialize};

use crate::features::FeatureSpec;

/// What is predicted, from which column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    /// The target column.
    pub column: String,
    /// Classification or regression.
    pub task: TargetTask,
}

impl TargetSpec {
    /// Class labels from `column`.
    pub fn classification(column: &str) -> TargetSpec {
        TargetSpec {
            column: column.to_string(),
            task: TargetTask::Classification,
        }
    }

    /// A numeric target from `column`.
    pub fn regression(column: &str) -> TargetSpec {
        TargetSpec {
            column: column.to_string(),
            task: TargetTask::Regression,
        }
    }
}

/// The kind of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetTask {
    /// Class labels (any dtype; read as text, classes sorted, numerically when all
    /// labels are numbers). Two classes make a binary task, the second class positive.
    Classification,
    /// A numeric target.
    Regression,
}

/// Split criterion of trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Gini impurity.
    Gini,
    /// Entropy.
    Entropy,
}

/// A learning algorithm and its hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "snake_case")]
pub enum Algorithm {
    /// Logistic regression, binary or multinomial by the number of classes
    /// (L2 penalty `alpha`, L-BFGS).
    LogisticRegression {
        /// L2 regularisation strength.
        alpha: f64,
        /// Iteration limit.
        max_iterations: u64,
        /// Gradient tolerance.
        gradient_tolerance: f64,
    },
    /// A CART decision tree.
    DecisionTree {
        /// Maximum depth (`None`: unlimited).
        max_depth: Option<usize>,
        /// Minimum rows to split a node.
        min_weight_split: f32,
        /// Minimum rows in a leaf.
        min_weight_leaf: f32,
        /// Split criterion.
        criterion: Criterion,
    },
    /// A random forest: bagged trees on bootstrap samples and feature subsets.
    RandomForest {
        /// Number of trees.
        trees: usize,
        /// Maximum depth of each tree.
        max_depth: Option<usize>,
        /// Bootstrap sample size as a fraction of the rows.
        bootstrap_proportion: f64,
        /// Fraction of the features each tree sees.
        feature_proportion: f64,
    },
    /// Ordinary least squares.
    LinearRegression {
        /// Fit an intercept.
        fit_intercept: bool,
    },
    /// Elastic net (`l1_ratio` 0 is ridge, 1 is lasso).
    ElasticNet {
        /// Overall penalty.
        penalty: f64,
        /// Mix between L1 and L2.
        l1_ratio: f64,
        /// Iteration limit.
        max_iterations: u32,
        /// Convergence tolerance.
        tolerance: f64,
    },
    /// Gaussian naive Bayes.
    GaussianNb {
        /// Share of the largest variance added to every variance.
        var_smoothing: f64,
    },
}

impl Algorithm {
    /// Logistic regression with linfa's defaults (`alpha` 1, 100 iterations).
    pub fn logistic() -> Algorithm {
        Algorithm::LogisticRegression {
            alpha: 1.0,
            max_iterations: 100,
            gradient_tolerance: 1e-4,
        }
    }

    /// A decision tree of the given depth.
    pub fn tree(max_depth: Option<usize>) -> Algorithm {
        Algorithm::DecisionTree {
            max_depth,
            min_weight_split: 2.0,
            min_weight_leaf: 1.0,
            criterion: Criterion::Gini,
        }
    }

    /// A random forest.
    pub fn forest(trees: usize, max_depth: Option<usize>) -> Algorithm {
        Algorithm::RandomForest {
            trees,
            max_depth,
            bootstrap_proportion: 1.0,
            feature_proportion: 0.6,
        }
    }

    /// Ridge regression with penalty `penalty`.
    pub fn ridge(penalty: f64) -> Algorithm {
        Algorithm::ElasticNet {
            penalty,
            l1_ratio: 0.0,
            max_iterations: 1000,
            tolerance: 1e-4,
        }
    }

    /// The algorithm's name (the serde tag).
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::LogisticRegression { .. } => "logistic_regression",
            Algorithm::DecisionTree { .. } => "decision_tree",
            Algorithm::RandomForest { .. } => "random_forest",
            Algorithm::LinearRegression { .. } => "linear_regression",
            Algorithm::ElasticNet { .. } => "elastic_net",
            Algorithm::GaussianNb { .. } => "gaussian_nb",
        }
    }

    pub(super) fn is_classifier(&self) -> bool {
        !matches!(
            self,
            Algorithm::LinearRegression { .. } | Algorithm::ElasticNet { .. }
        )
    }
}

/// Everything that determines a trained model besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Input features.
    pub features: FeatureSpec,
    /// The target.
    pub target: TargetSpec,
    /// Algorithm and hyper-parameters.
    pub algorithm: Algorithm,
    /// Seed of every random choice.
    pub seed: u64,
}

impl TrainConfig {
    /// The config as flat MLflow parameters (`algorithm`, `seed`, `target`, `features`
    /// and each hyper-parameter by name), ready for `Run::log_params`.
    pub fn params(&self) -> Vec<Param> {
        let mut out = vec![
            Param::new("algorithm", self.algorithm.name()),
            Param::new("seed", self.seed.to_string()),
            Param::new("target", self.target.column.clone()),
            Param::new("features", self.features.features.len().to_string()),
        ];
        out.extend(
            flat_params(&serde_json::to_value(&self.algorithm).unwrap_or_default())
                .into_iter()
                .filter(|p| p.key != "algorithm"),
        );
        out
    }
}

/// A JSON object's top-level entries as params (strings as they are, other values as
/// JSON text); anything but an object gives none.
pub(crate) fn flat_params(v: &serde_json::Value) -> Vec<Param> {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Param::new(k.clone(), s)
            })
            .collect(),
        _ => Vec::new(),
    }
}
