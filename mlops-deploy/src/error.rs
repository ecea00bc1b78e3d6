//! The one error type of `mlops-deploy`.

use std::path::{Path, PathBuf};

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an operation of `mlops-deploy`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the storage layer.
    #[error(transparent)]
    Core(#[from] mlops_core::Error),
    /// An error from the data layer.
    #[error(transparent)]
    Data(#[from] mlops_data::Error),
    /// An error from the training layer.
    #[error(transparent)]
    Train(#[from] mlops_train::Error),
    /// A configuration value (judge, strategy, simulation) is out of range.
    #[error("invalid configuration: {field}: {reason}")]
    InvalidConfig {
        /// The field, as written in the configuration.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A metrics source (Prometheus) could not be read.
    #[error("metrics source: {0}")]
    Source(String),
    /// The data of one look cannot be judged (counts shrank, successes above n, wrong
    /// kind of data for the metric, looks out of order).
    #[error("look {look}: {reason}")]
    InvalidLook {
        /// The look, as numbered by the caller.
        look: u64,
        /// What is wrong.
        reason: String,
    },
    /// polars refused an operation on a frame.
    #[error("polars: {0}")]
    Polars(#[from] polars::prelude::PolarsError),
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An inference-log segment (or labels file) does not have the expected shape.
    #[error("{path}: {problem}")]
    Log {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A configuration, policy or argument is unusable; the message says which and why.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// JSON could not be read or written.
    #[error("{context}: {source}")]
    Json {
        /// What was being read or written.
        context: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A variant named in a call does not exist.
    #[error("no variant named {0:?}")]
    NoSuchVariant(String),
    /// The model server could not bind, run or stop cleanly.
    #[error("server: {0}")]
    Server(String),
    /// The application's retrain step failed.
    #[error("retrain step failed: {0}")]
    Retrain(String),
}

impl Error {
    pub(crate) fn config(field: &str, reason: impl Into<String>) -> Error {
        Error::InvalidConfig {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn log(path: &Path, problem: impl Into<String>) -> Error {
        Error::Log {
            path: path.to_path_buf(),
            problem: problem.into(),
        }
    }

    pub(crate) fn arg(message: impl Into<String>) -> Error {
        Error::InvalidArgument(message.into())
    }

    pub(crate) fn json(context: impl Into<String>, source: serde_json::Error) -> Error {
        Error::Json {
            context: context.into(),
            source,
        }
    }
}
