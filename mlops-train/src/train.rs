//! Seeded trainers over linfa, and [`LinfaModel`], the `mlops-linfa` flavor.
//!
//! A [`TrainConfig`] (features, target, algorithm with its hyper-parameters, seed) is
//! plain serde data: it is logged as the run's parameters and stored in the package.
//! The same frame, config and seed give the same model bytes: rows are used in frame
//! order, randomness comes only from a `SmallRng` seeded with `seed`, and the payload is
//! canonical JSON (object keys sorted), so linfa's `HashMap`s inside Gaussian naive Bayes
//! serialise identically every time.
//!
//! Decision trees and random forests are grown by our own small CART ([`Tree`]) rather
//! than linfa-trees 0.8.1, measured not to meet the same-bytes rule: its leaf votes and
//! its pruning break ties through `HashMap` iteration order, so two fits of the same
//! bootstrap sample gave trees of 67 and 65 nodes. linfa-ensemble 0.8.1 also has no serde
//! support and linfa's trees give no class probabilities. Ours tries features in order
//! and thresholds (midpoints between distinct sorted values, `x < t` goes left) in
//! increasing order and keeps only strictly better splits; each leaf keeps its training
//! class counts; prediction takes the largest count (the smallest class index on ties)
//! and probabilities are normalised counts, averaged over a forest's trees (soft voting,
//! as scikit-learn does). Forests draw bootstrap rows and a per-tree feature subset
//! from the seeded `SmallRng`.

use linfa::prelude::*;
use ndarray::{Array1, Array2, ArrayView1};
use polars::prelude::DataFrame;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use mlops_core::ColumnSchema;

use crate::evaluation::Task;
use crate::features::{FeatureSpec, FittedFeatures, numeric_values, text_values};
use crate::model::{Model, Prediction, Signature};
use crate::{Error, Result};

/// The flavor name of [`LinfaModel`].
pub const LINFA_FLAVOR: &str = "mlops-linfa";

/// What is predicted, from which column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetSpec {
    /// The target column.
    pub column: String,
    /// Classification or regression.
    pub task: TargetTask,
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

    fn is_classifier(&self) -> bool {
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
    /// The config as flat MLflow-style parameters (`algorithm`, `seed`, and each
    /// hyper-parameter by name).
    pub fn params(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("algorithm".to_string(), self.algorithm.name().to_string()),
            ("seed".to_string(), self.seed.to_string()),
            ("target".to_string(), self.target.column.clone()),
            (
                "features".to_string(),
                self.features.features.len().to_string(),
            ),
        ];
        if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&self.algorithm) {
            for (k, v) in m {
                if k != "algorithm" {
                    let s = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    out.push((k, s));
                }
            }
        }
        out
    }
}

/// A node of our serialisable tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "node", rename_all = "snake_case")]
pub enum Node {
    /// `x[feature] < threshold` goes left.
    Split {
        /// Column of the feature matrix.
        feature: usize,
        /// Threshold.
        threshold: f64,
        /// Index of the left child.
        left: usize,
        /// Index of the right child.
        right: usize,
    },
    /// A leaf with the class counts of the training rows that reach it.
    Leaf {
        /// The class with the largest count.
        prediction: usize,
        /// Training rows per class.
        counts: Vec<f64>,
    },
}

/// A decision tree in our own serde form (nodes in depth-first order, root first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Columns of the feature matrix this tree may split on (a forest's subset).
    pub features: Vec<usize>,
    /// The nodes.
    pub nodes: Vec<Node>,
}

/// Tree-growing limits.
struct Grow {
    max_depth: Option<usize>,
    min_split: usize,
    min_leaf: usize,
    criterion: Criterion,
    k: usize,
}

fn impurity(counts: &[f64], total: f64, criterion: Criterion) -> f64 {
    if total == 0.0 {
        return 0.0;
    }
    match criterion {
        Criterion::Gini => 1.0 - counts.iter().map(|c| (c / total).powi(2)).sum::<f64>(),
        Criterion::Entropy => -counts
            .iter()
            .filter(|&&c| c > 0.0)
            .map(|c| {
                let p = c / total;
                p * p.log2()
            })
            .sum::<f64>(),
    }
}

impl Tree {
    /// Grows a CART tree on `rows` (may repeat: bootstrap) using the columns `features`.
    /// Deterministic: features are tried in order, thresholds in increasing order, and
    /// only a strictly better split replaces the best so far.
    fn grow(
        x: &Array2<f64>,
        y: &[usize],
        rows: Vec<usize>,
        features: Vec<usize>,
        g: &Grow,
    ) -> Tree {
        let mut t = Tree {
            features,
            nodes: Vec::new(),
        };
        t.grow_node(x, y, rows, 0, g);
        t
    }

    fn grow_node(
        &mut self,
        x: &Array2<f64>,
        y: &[usize],
        rows: Vec<usize>,
        depth: usize,
        g: &Grow,
    ) -> usize {
        let mut counts = vec![0.0; g.k];
        for &r in &rows {
            counts[y[r]] += 1.0;
        }
        let total = rows.len() as f64;
        let me = self.nodes.len();
        let prediction = argmax(&counts);
        self.nodes.push(Node::Leaf {
            prediction,
            counts: counts.clone(),
        });
        let pure = counts.iter().filter(|&&c| c > 0.0).count() <= 1;
        if pure || rows.len() < g.min_split || g.max_depth.is_some_and(|d| depth >= d) {
            return me;
        }
        let parent = impurity(&counts, total, g.criterion);
        let mut best: Option<(f64, usize, f64)> = None; // (weighted impurity, feature, threshold)
        let mut sorted = rows.clone();
        for &f in &self.features {
            sorted.sort_by(|&a, &b| x[[a, f]].total_cmp(&x[[b, f]]).then(a.cmp(&b)));
            let mut left = vec![0.0; g.k];
            for i in 0..sorted.len() - 1 {
                left[y[sorted[i]]] += 1.0;
                let (a, b) = (x[[sorted[i], f]], x[[sorted[i + 1], f]]);
                if a >= b {
                    continue;
                }
                let nl = i + 1;
                let nr = sorted.len() - nl;
                if nl < g.min_leaf || nr < g.min_leaf {
                    continue;
                }
                let right: Vec<f64> = counts.iter().zip(&left).map(|(c, l)| c - l).collect();
                let w = (nl as f64 * impurity(&left, nl as f64, g.criterion)
                    + nr as f64 * impurity(&right, nr as f64, g.criterion))
                    / total;
                if best.is_none_or(|(bw, _, _)| w < bw) {
                    let mut thr = a + (b - a) / 2.0;
                    if thr <= a || thr > b {
                        thr = b;
                    }
                    best = Some((w, f, thr));
                }
            }
        }
        let Some((w, feature, threshold)) = best else {
            return me;
        };
        if w >= parent {
            return me;
        }
        let (l, r): (Vec<usize>, Vec<usize>) =
            rows.into_iter().partition(|&i| x[[i, feature]] < threshold);
        let left = self.grow_node(x, y, l, depth + 1, g);
        let right = self.grow_node(x, y, r, depth + 1, g);
        self.nodes[me] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        me
    }

    fn leaf(&self, row: ArrayView1<'_, f64>) -> usize {
        let mut i = 0;
        // Bounded by the node count: a malformed (hand-edited) tree cannot loop forever.
        for _ in 0..=self.nodes.len() {
            match &self.nodes[i] {
                Node::Leaf { .. } => return i,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    let v = row.get(*feature).copied().unwrap_or(f64::NAN);
                    let next = if v < *threshold { *left } else { *right };
                    if next >= self.nodes.len() {
                        return i;
                    }
                    i = next;
                }
            }
        }
        i
    }

    fn proba(&self, row: ArrayView1<'_, f64>, k: usize) -> Vec<f64> {
        let mut p = vec![0.0; k];
        if let Node::Leaf { prediction, counts } = &self.nodes[self.leaf(row)] {
            let total: f64 = counts.iter().sum();
            if total > 0.0 {
                for (c, v) in counts.iter().enumerate().take(k) {
                    p[c] = v / total;
                }
            } else if *prediction < k {
                p[*prediction] = 1.0;
            }
        }
        p
    }
}

/// The fitted estimator inside a [`LinfaModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "estimator", rename_all = "snake_case")]
#[allow(clippy::large_enum_variant)]
pub enum Estimator {
    /// Binary logistic regression (probability of class 1).
    Logistic {
        /// Fitted model.
        model: linfa_logistic::FittedLogisticRegression<f64, usize>,
    },
    /// Multinomial logistic regression.
    MultiLogistic {
        /// Fitted model.
        model: linfa_logistic::MultiFittedLogisticRegression<f64, usize>,
    },
    /// One tree or a forest of trees.
    Trees {
        /// The trees (one for a decision tree).
        trees: Vec<Tree>,
    },
    /// Gaussian naive Bayes.
    GaussianNb {
        /// Fitted model.
        model: linfa_bayes::GaussianNb<f64, usize>,
    },
    /// Linear coefficients (OLS, ridge, lasso, elastic net).
    Linear {
        /// Coefficients per feature.
        coefficients: Vec<f64>,
        /// Intercept.
        intercept: f64,
    },
}

/// A trained model of the `mlops-linfa` flavor: fitted features, target, estimator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinfaModel {
    /// The config it was trained with.
    pub config: TrainConfig,
    /// The fitted feature transform.
    pub features: FittedFeatures,
    /// Class names by index (classification).
    pub classes: Vec<String>,
    /// The target column's dtype in training.
    pub target_dtype: String,
    /// The estimator.
    pub estimator: Estimator,
    #[serde(skip)]
    signature: Option<Signature>,
}

/// Index of the largest count (the smallest index on ties).
fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in xs.iter().enumerate() {
        if v > xs[best] {
            best = i;
        }
    }
    best
}

fn fit_err(model: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Fit {
        model,
        message: e.to_string(),
    }
}

/// Sorts class labels: numerically when every label is a number, else as text.
fn sort_classes(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    if v.iter().all(|s| s.parse::<f64>().is_ok()) {
        v.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    v
}

/// Reads a classification target as class indices into `classes`.
pub(crate) fn class_targets(
    df: &DataFrame,
    column: &str,
    classes: &[String],
) -> Result<Vec<usize>> {
    let vals = text_values(df, column)?;
    vals.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let v = v.ok_or_else(|| Error::Column {
                column: column.to_string(),
                problem: format!("missing target at row {i}"),
            })?;
            classes
                .iter()
                .position(|c| *c == v)
                .ok_or_else(|| Error::Column {
                    column: column.to_string(),
                    problem: format!("label {v:?} at row {i} is not a class of the model"),
                })
        })
        .collect()
}

/// Reads a regression target.
pub(crate) fn value_targets(df: &DataFrame, column: &str) -> Result<Vec<f64>> {
    numeric_values(df, column)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            v.ok_or_else(|| Error::Column {
                column: column.to_string(),
                problem: format!("missing target at row {i}"),
            })
        })
        .collect()
}

/// Trains a model on `df` as `config` says.
pub fn train(df: &DataFrame, config: &TrainConfig) -> Result<LinfaModel> {
    let classifier = config.target.task == TargetTask::Classification;
    if classifier != config.algorithm.is_classifier() {
        return Err(Error::arg(format!(
            "{} does not fit a {:?} target",
            config.algorithm.name(),
            config.target.task
        )));
    }
    if df.height() < 2 {
        return Err(Error::arg(format!(
            "training needs at least two rows, the frame has {}",
            df.height()
        )));
    }
    let features = config.features.fit(df)?;
    let x = features.transform(df)?;
    let target_dtype = df
        .column(&config.target.column)
        .map_err(|_| Error::Column {
            column: config.target.column.clone(),
            problem: "target missing from the training frame".into(),
        })?
        .dtype()
        .to_string();
    let mut rng = SmallRng::seed_from_u64(config.seed);
    let (classes, estimator) = if classifier {
        let labels: Vec<String> = text_values(df, &config.target.column)?
            .into_iter()
            .flatten()
            .collect();
        let classes = sort_classes(labels);
        if classes.len() < 2 {
            return Err(Error::arg(format!(
                "classification needs at least two classes in {:?}, found {}",
                config.target.column,
                classes.len()
            )));
        }
        let y = class_targets(df, &config.target.column, &classes)?;
        let est = fit_classifier(&config.algorithm, &x, &y, classes.len(), &mut rng)?;
        (classes, est)
    } else {
        let y = value_targets(df, &config.target.column)?;
        (Vec::new(), fit_regressor(&config.algorithm, &x, &y)?)
    };
    let mut m = LinfaModel {
        config: config.clone(),
        features,
        classes,
        target_dtype,
        estimator,
        signature: None,
    };
    m.signature = Some(m.build_signature());
    Ok(m)
}

fn fit_classifier(
    alg: &Algorithm,
    x: &Array2<f64>,
    y: &[usize],
    k: usize,
    rng: &mut SmallRng,
) -> Result<Estimator> {
    let ds = Dataset::new(x.clone(), Array1::from(y.to_vec()));
    Ok(match alg {
        Algorithm::LogisticRegression {
            alpha,
            max_iterations,
            gradient_tolerance,
        } => {
            if k == 2 {
                let model = linfa_logistic::LogisticRegression::default()
                    .alpha(*alpha)
                    .max_iterations(*max_iterations)
                    .gradient_tolerance(*gradient_tolerance)
                    .fit(&ds)
                    .map_err(|e| fit_err("logistic regression", e))?;
                Estimator::Logistic { model }
            } else {
                let model = linfa_logistic::MultiLogisticRegression::default()
                    .alpha(*alpha)
                    .max_iterations(*max_iterations)
                    .gradient_tolerance(*gradient_tolerance)
                    .fit(&ds)
                    .map_err(|e| fit_err("multinomial logistic regression", e))?;
                Estimator::MultiLogistic { model }
            }
        }
        Algorithm::DecisionTree {
            max_depth,
            min_weight_split,
            min_weight_leaf,
            criterion,
        } => {
            let g = Grow {
                max_depth: *max_depth,
                min_split: (min_weight_split.max(2.0).ceil()) as usize,
                min_leaf: (min_weight_leaf.max(1.0).ceil()) as usize,
                criterion: *criterion,
                k,
            };
            let tree = Tree::grow(x, y, (0..x.nrows()).collect(), (0..x.ncols()).collect(), &g);
            Estimator::Trees { trees: vec![tree] }
        }
        Algorithm::RandomForest {
            trees,
            max_depth,
            bootstrap_proportion,
            feature_proportion,
        } => {
            if *trees == 0 {
                return Err(Error::arg("a random forest needs at least one tree"));
            }
            let in_unit = |p: f64| p > 0.0 && p <= 1.0;
            if !(in_unit(*bootstrap_proportion) && in_unit(*feature_proportion)) {
                return Err(Error::arg(
                    "bootstrap_proportion and feature_proportion must be in (0, 1]",
                ));
            }
            let g = Grow {
                max_depth: *max_depth,
                min_split: 2,
                min_leaf: 1,
                criterion: Criterion::Gini,
                k,
            };
            let n = x.nrows();
            let p = x.ncols();
            let n_rows = ((n as f64 * bootstrap_proportion).ceil() as usize).max(1);
            let n_feat = ((p as f64 * feature_proportion).ceil() as usize).clamp(1, p);
            let mut out = Vec::with_capacity(*trees);
            for _ in 0..*trees {
                let rows: Vec<usize> = (0..n_rows).map(|_| rng.gen_range(0..n)).collect();
                let mut feats = rand::seq::index::sample(rng, p, n_feat).into_vec();
                feats.sort_unstable();
                out.push(Tree::grow(x, y, rows, feats, &g));
            }
            Estimator::Trees { trees: out }
        }
        Algorithm::GaussianNb { var_smoothing } => {
            let model = linfa_bayes::GaussianNb::params()
                .var_smoothing(*var_smoothing)
                .fit(&ds)
                .map_err(|e| fit_err("gaussian naive bayes", e))?;
            Estimator::GaussianNb { model }
        }
        other => {
            return Err(Error::arg(format!("{} is not a classifier", other.name())));
        }
    })
}

fn fit_regressor(alg: &Algorithm, x: &Array2<f64>, y: &[f64]) -> Result<Estimator> {
    let ds = Dataset::new(x.clone(), Array1::from(y.to_vec()));
    Ok(match alg {
        Algorithm::LinearRegression { fit_intercept } => {
            let m = linfa_linear::LinearRegression::new()
                .with_intercept(*fit_intercept)
                .fit(&ds)
                .map_err(|e| fit_err("linear regression", e))?;
            Estimator::Linear {
                coefficients: m.params().to_vec(),
                intercept: m.intercept(),
            }
        }
        Algorithm::ElasticNet {
            penalty,
            l1_ratio,
            max_iterations,
            tolerance,
        } => {
            let m = linfa_elasticnet::ElasticNet::params()
                .penalty(*penalty)
                .l1_ratio(*l1_ratio)
                .max_iterations(*max_iterations)
                .tolerance(*tolerance)
                .fit(&ds)
                .map_err(|e| fit_err("elastic net", e))?;
            Estimator::Linear {
                coefficients: m.hyperplane().to_vec(),
                intercept: m.intercept(),
            }
        }
        other => {
            return Err(Error::arg(format!("{} is not a regressor", other.name())));
        }
    })
}

/// Sorts object keys recursively: canonical JSON, whatever map type produced it.
pub(crate) fn canonical(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut entries: Vec<(String, serde_json::Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(canonical).collect())
        }
        other => other,
    }
}

impl LinfaModel {
    fn build_signature(&self) -> Signature {
        Signature {
            inputs: self.features.inputs.clone(),
            output: ColumnSchema {
                name: self.config.target.column.clone(),
                dtype: self.target_dtype.clone(),
            },
            contract: Some(self.features.input_contract()),
        }
    }

    /// Reads a model back from its payload bytes.
    pub fn from_payload(bytes: &[u8]) -> Result<LinfaModel> {
        let mut m: LinfaModel =
            serde_json::from_slice(bytes).map_err(|e| Error::json("mlops-linfa payload", e))?;
        m.signature = Some(m.build_signature());
        let width = m.features.output_names().len();
        let ok = match &m.estimator {
            Estimator::Linear { coefficients, .. } => coefficients.len() == width,
            Estimator::Logistic { model } => model.params().len() == width,
            Estimator::MultiLogistic { model } => model.params().nrows() == width,
            Estimator::Trees { trees } => trees.iter().all(|t| {
                !t.nodes.is_empty()
                    && t.nodes.iter().all(|n| match n {
                        Node::Split { feature, .. } => *feature < width,
                        Node::Leaf { counts, .. } => counts.len() == m.classes.len(),
                    })
            }),
            Estimator::GaussianNb { .. } => true,
        };
        if !ok {
            return Err(Error::Package {
                package: "mlops-linfa payload".into(),
                problem: format!("the estimator does not match its {width} features"),
            });
        }
        Ok(m)
    }

    /// Class probabilities and labels for a feature matrix.
    fn predict_matrix(&self, x: &Array2<f64>) -> Prediction {
        let k = self.classes.len();
        let proba: Array2<f64> = match &self.estimator {
            Estimator::Linear {
                coefficients,
                intercept,
            } => {
                let c = ndarray::ArrayView1::from(coefficients.as_slice());
                return Prediction::Values((x.dot(&c) + *intercept).to_vec());
            }
            Estimator::Logistic { model } => {
                let p1 = model.predict_probabilities(x);
                let mut p = Array2::zeros((x.nrows(), 2));
                for (i, v) in p1.iter().enumerate() {
                    p[[i, 0]] = 1.0 - v;
                    p[[i, 1]] = *v;
                }
                p
            }
            Estimator::MultiLogistic { model } => {
                let raw = model.predict_probabilities(x);
                let mut p = Array2::zeros((x.nrows(), k));
                for (j, &c) in model.classes().iter().enumerate() {
                    if c < k {
                        p.column_mut(c).assign(&raw.column(j));
                    }
                }
                p
            }
            Estimator::Trees { trees } => {
                let mut p = Array2::zeros((x.nrows(), k));
                for (i, row) in x.rows().into_iter().enumerate() {
                    for t in trees {
                        for (c, v) in t.proba(row, k).into_iter().enumerate() {
                            p[[i, c]] += v;
                        }
                    }
                }
                p /= trees.len().max(1) as f64;
                p
            }
            Estimator::GaussianNb { model } => {
                use linfa_bayes::NaiveBayes;
                let (raw, cls) = model.predict_proba(x.view());
                let mut p = Array2::zeros((x.nrows(), k));
                for (j, &&c) in cls.iter().enumerate() {
                    if c < k {
                        p.column_mut(c).assign(&raw.column(j));
                    }
                }
                p
            }
        };
        let labels = proba
            .rows()
            .into_iter()
            .map(|r| {
                let mut best = 0;
                for (c, &v) in r.iter().enumerate() {
                    if v > r[best] {
                        best = c;
                    }
                }
                best
            })
            .collect();
        Prediction::Classes {
            classes: self.classes.clone(),
            labels,
            proba: Some(proba),
        }
    }
}

impl Model for LinfaModel {
    fn flavor(&self) -> &str {
        LINFA_FLAVOR
    }

    fn signature(&self) -> &Signature {
        // Always set by `train` and `from_payload`; the fallback keeps this total.
        static EMPTY: std::sync::OnceLock<Signature> = std::sync::OnceLock::new();
        self.signature.as_ref().unwrap_or_else(|| {
            EMPTY.get_or_init(|| Signature {
                inputs: Vec::new(),
                output: ColumnSchema {
                    name: String::new(),
                    dtype: String::new(),
                },
                contract: None,
            })
        })
    }

    fn task(&self) -> Task {
        match self.classes.len() {
            0 => Task::Regression,
            2 => Task::Binary,
            _ => Task::Multiclass,
        }
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn predict(&self, frame: &DataFrame) -> Result<Prediction> {
        let x = self.features.transform(frame)?;
        Ok(self.predict_matrix(&x))
    }

    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::to_value(&self.config.algorithm).unwrap_or_default()
    }

    fn to_payload(&self) -> Result<Vec<u8>> {
        let v = serde_json::to_value(self).map_err(|e| Error::json("mlops-linfa payload", e))?;
        serde_json::to_vec(&canonical(v)).map_err(|e| Error::json("mlops-linfa payload", e))
    }
}
