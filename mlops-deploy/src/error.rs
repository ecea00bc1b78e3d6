//! The one error type of `mlops-deploy`.

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an operation of `mlops-deploy`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the storage layer.
    #[error(transparent)]
    Core(#[from] mlops_core::Error),
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
}
