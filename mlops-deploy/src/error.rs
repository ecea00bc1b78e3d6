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
}
