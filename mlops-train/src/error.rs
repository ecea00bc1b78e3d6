//! The one error type of `mlops-train`.
//!
//! `Err` is for what stops the work: bad arguments (empty or mismatched inputs, a
//! probability outside [0, 1]), a frame that does not fit the model's signature, a
//! package that fails its digest or was written by an incompatible format version.
//! A metric that is *undefined* on valid input (ROC AUC with one class) is not an error:
//! it is `NaN`, exactly as scikit-learn returns it, and an [`Evaluation`](crate::Evaluation)
//! lists it under `undefined`.

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
    /// A frame does not fit what the feature spec or the model expects.
    #[error("column {column:?}: {problem}")]
    Column {
        /// The column.
        column: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A polars operation failed.
    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// linfa refused to fit.
    #[error("training {model} failed: {message}")]
    Fit {
        /// The model kind.
        model: &'static str,
        /// linfa's message.
        message: String,
    },
    /// A model package could not be loaded.
    #[error("model package {package}: {problem}")]
    Package {
        /// The package (its manifest digest or path).
        package: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A package was written by a format version this build cannot read.
    #[error(
        "model package {package} has format version {found}, this build of mlops-train reads version {supported}: \
         re-export it with a matching mlops-train"
    )]
    IncompatibleFormat {
        /// The package.
        package: String,
        /// The version found in its manifest.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// No loader is registered for a flavor.
    #[error("no loader registered for flavor {0:?}")]
    UnknownFlavor(String),
    /// A JSON document could not be read or written.
    #[error("JSON in {context}: {source}")]
    Json {
        /// Where the JSON came from.
        context: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// An I/O error on a path.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether this says a registered model, version or alias does not exist (the
    /// "no champion yet" case), as opposed to a store that failed or a package that
    /// does not verify.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Core(
                mlops_core::Error::ModelNotFound { .. }
                    | mlops_core::Error::VersionNotFound { .. }
                    | mlops_core::Error::AliasNotFound { .. }
            )
        )
    }

    pub(crate) fn arg(msg: impl Into<String>) -> Error {
        Error::InvalidArgument(msg.into())
    }

    pub(crate) fn json(context: impl Into<String>, source: serde_json::Error) -> Error {
        Error::Json {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
