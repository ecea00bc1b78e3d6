//! The names a training pipeline uses: `use mlops_train::prelude::*;`.
//!
//! Load and check data, train, evaluate, gate, log, register and load back: the steps
//! of a pipeline, from the three crates, under one import. Everything else is imported
//! by name (`mlops_train::data::...`, `mlops_train::core::...`).

pub use crate::core::prelude::*;
pub use crate::data::prelude::*;
pub use crate::{
    Algorithm, ContractOutcome, Evaluation, FeatureSpec, Gate, Lineage, Model, ModelPackage,
    RegressionTest, TargetSpec, TargetTask, TrainConfig, TrainingJob, evaluate, load_model,
    load_model_if_exists, train, train_tracked,
};
