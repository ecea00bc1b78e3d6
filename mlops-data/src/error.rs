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
    /// A data file whose extension names no format the crate reads.
    #[error("{path}: unsupported file format (expected .csv or .parquet)")]
    UnsupportedFormat {
        /// The path as given.
        path: String,
    },
    /// A file could not be opened or written.
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A data file could not be parsed.
    #[error("{path}: cannot read: {message}")]
    Read {
        /// The path as given.
        path: String,
        /// What the reader said.
        message: String,
    },
    /// JSON or another serialised form could not be read or written.
    #[error("serialisation: {0}")]
    Serde(String),
    /// A contract is malformed (bad JSON/TOML, a regex or expression that does not
    /// compile, a fraction outside [0, 1]).
    #[error("invalid contract: {0}")]
    InvalidContract(String),
    /// An argument is out of its allowed range or form.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}
