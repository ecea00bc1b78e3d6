//! [`LinfaModel`], the `mlops-linfa` flavor: fitted features, classes and one of the
//! estimators linfa (or our [`Tree`](super::Tree)) fits, behind the [`Model`] trait.

use linfa::prelude::*;
use ndarray::{Array1, Array2};
use polars::prelude::DataFrame;
use rand::Rng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

use mlops_core::ColumnSchema;

use super::cart::{Grow, Node, Tree};
use super::config::{Algorithm, Criterion, TrainConfig};
use crate::canonical::canonical;
use crate::evaluation::Task;
use crate::features::FittedFeatures;
use crate::model::{Model, Prediction, Signature};
use crate::{Error, Result};

/// The flavor name of [`LinfaModel`].
pub const LINFA_FLAVOR: &str = "mlops-linfa";

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

fn fit_err(model: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Fit {
        model,
        message: e.to_string(),
    }
}

pub(super) fn fit_classifier(
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

pub(super) fn fit_regressor(alg: &Algorithm, x: &Array2<f64>, y: &[f64]) -> Result<Estimator> {
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

impl LinfaModel {
    /// A model with its signature derived from the features and target.
    pub(super) fn new(
        config: TrainConfig,
        features: FittedFeatures,
        classes: Vec<String>,
        target_dtype: String,
        estimator: Estimator,
    ) -> LinfaModel {
        let mut m = LinfaModel {
            config,
            features,
            classes,
            target_dtype,
            estimator,
            signature: None,
        };
        m.signature = Some(m.build_signature());
        m
    }

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
                // linfa gives the probability of its *positive* class, which is the
                // more frequent class of the training labels, not class 1.
                let pos = model.labels().pos.class;
                let p_pos = model.predict_probabilities(x);
                let mut p = Array2::zeros((x.nrows(), 2));
                for (i, v) in p_pos.iter().enumerate() {
                    let p1 = if pos == 1 { *v } else { 1.0 - v };
                    p[[i, 0]] = 1.0 - p1;
                    p[[i, 1]] = p1;
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

    fn predict_batch(&self, batch: &crate::Batch) -> Result<Prediction> {
        let x = self.features.transform_batch(batch)?;
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
