//! The one error type of `mlops-data`.
//!
//! Bad data is *not* an error: validation and drift report it as data. `Error` is for
//! what stops the work: unreadable files, a polars failure, a store that refuses.

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an operation of `mlops-data`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the storage layer.
    #[error(transparent)]
    Core(#[from] mlops_core::Error),
    /// polars refused an operation.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// An argument is out of its allowed range or form.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
