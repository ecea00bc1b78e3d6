//! The one error type of `mlops-train`.

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an operation of `mlops-train`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the storage layer.
    #[error(transparent)]
    Core(#[from] mlops_core::Error),
    /// An error from the data layer.
    #[error(transparent)]
    Data(#[from] mlops_data::Error),
    /// An argument is out of its allowed range or form.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
