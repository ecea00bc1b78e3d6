//! The one error type of `mlops-core`.
//!
//! Every fallible call in the crate returns [`Result<T>`](crate::Result). Variants name
//! what was wrong and where (the object, the path, the line), so a message read in a CI
//! log is enough to act on. Bad *data* is never an error here: it is reported as data by
//! the crates above; `Error` is for what stops the work.

use std::path::PathBuf;

/// A stored entry (an experiment, a registered model) that could not be read and was
/// skipped by a listing; reported with the file and the reason.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Unreadable {
    /// The file that could not be read.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

/// A specialised `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an operation of `mlops-core`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A string is not a valid SHA-256 digest.
    #[error("invalid digest {input:?}: {reason}")]
    InvalidDigest {
        /// The text that failed to parse.
        input: String,
        /// Why it is not a digest.
        reason: &'static str,
    },
    /// A stored object's bytes no longer hash to its name: it was changed on disk.
    #[error("object {expected} is corrupt: its content hashes to {actual}")]
    Corrupt {
        /// The digest the object is stored under.
        expected: crate::Digest,
        /// The digest of the bytes actually found.
        actual: crate::Digest,
    },
    /// No object with this digest is in the store.
    #[error("object {0} is not in the store")]
    NotFound(crate::Digest),
    /// A user-given artifact path is unsafe or malformed (absolute, `..`, empty, ...).
    #[error("invalid artifact path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A JSON document could not be read or written.
    #[error("malformed JSON in {context}: {source}")]
    Json {
        /// Where the JSON came from (a file, a line, a response).
        context: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The audit log's hash chain is broken.
    #[error("audit log {path} fails verification at record {line}: {problem}")]
    AuditTampered {
        /// The log file.
        path: PathBuf,
        /// The 1-based line of the first bad record.
        line: u64,
        /// What was found there.
        problem: String,
    },
    /// The audit log ends in a torn record: an append was cut off mid-write (a crash),
    /// so the bytes after the last complete line are not a record. Everything before
    /// verifies. Not tampering: [`AuditLog::repair`](crate::AuditLog::repair)
    /// (`mlops audit repair LOG`) cuts the torn bytes and records the repair.
    #[error(
        "audit log {path} ends in a torn record at line {line} ({bytes} bytes cut off mid-write \
         by a crash); the {records} records before it verify. Repair it with `mlops audit repair {path}`"
    )]
    AuditTornTail {
        /// The log file.
        path: PathBuf,
        /// The 1-based line the torn bytes start.
        line: u64,
        /// How many torn bytes follow the last complete record.
        bytes: u64,
        /// Complete records before them (all verified).
        records: u64,
    },
    /// An argument is out of its allowed range or form.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An MLflow server (or the local store, speaking MLflow's codes) refused a request.
    ///
    /// Match on `code`, never on `message`: the message is for people and can hold
    /// anything the server chose to print.
    #[error("MLflow {endpoint}: {code} (HTTP {status}): {message}")]
    Mlflow {
        /// The endpoint or operation (`runs/create`, `local:log_param`).
        endpoint: String,
        /// HTTP status (0 for the local store).
        status: u16,
        /// MLflow's `error_code`, typed.
        code: crate::mlflow_http::ErrorCode,
        /// The server's message, truncated to a readable length.
        message: String,
    },
    /// The MLflow server could not be reached (connection refused, timeout, TLS) after
    /// the retries the call was allowed.
    #[error("MLflow {endpoint} unreachable after {attempts} attempt(s): {message}")]
    Unreachable {
        /// The endpoint called.
        endpoint: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last transport error.
        message: String,
    },
    /// A tracking store on disk holds something that does not parse.
    #[error("malformed tracking store file {path}: {problem}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line when known.
        problem: String,
    },
    /// The on-disk spool of points waiting for an unreachable server is full: the new
    /// points were NOT accepted.
    #[error(
        "tracking spool {path} is full ({bytes} bytes): the server has been unreachable too long"
    )]
    SpoolFull {
        /// The spool file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// Metric points a [`Run`](crate::tracking::Run) was given could not be delivered
    /// (neither to the server nor to the spool). They are still buffered in the `Run`
    /// and go out with the next flush; `source` says why they did not this time.
    #[error("{points} metric point(s) of run {run_id} not delivered, still buffered: {source}")]
    Undelivered {
        /// The run.
        run_id: String,
        /// How many points are buffered and not yet delivered.
        points: usize,
        /// Why the delivery failed.
        #[source]
        source: Box<Error>,
    },
    /// No registered model has this name.
    #[error("registered model {name:?} does not exist")]
    ModelNotFound {
        /// The model name asked for.
        name: String,
    },
    /// A registered model with this name already exists.
    #[error("registered model {name:?} already exists")]
    ModelAlreadyExists {
        /// The name that is taken.
        name: String,
    },
    /// The registered model exists but has no such version (or it was deleted).
    #[error("model version models:/{name}/{version} does not exist")]
    VersionNotFound {
        /// Registered model name.
        name: String,
        /// The version asked for.
        version: u64,
    },
    /// The registered model exists but no alias of this name is set on it.
    #[error("alias models:/{name}@{alias} is not set")]
    AliasNotFound {
        /// Registered model name.
        name: String,
        /// The alias asked for.
        alias: String,
    },
    /// A model version's package no longer matches the digest recorded at registration
    /// (its bytes were changed, or it is missing from the store).
    #[error("package of models:/{name}/{version} ({digest}) fails verification: {problem}")]
    PackageTampered {
        /// Registered model name.
        name: String,
        /// Version number.
        version: u64,
        /// The digest recorded on the version.
        digest: crate::Digest,
        /// What verification found.
        problem: String,
    },
}

impl Error {
    /// The MLflow error code, when this is an [`Error::Mlflow`].
    pub fn mlflow_code(&self) -> Option<&crate::mlflow_http::ErrorCode> {
        match self {
            Error::Mlflow { code, .. } => Some(code),
            _ => None,
        }
    }

    /// True for "does not exist" answers (`RESOURCE_DOES_NOT_EXIST`, HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Error::Mlflow {
                code: crate::mlflow_http::ErrorCode::ResourceDoesNotExist,
                ..
            }
        )
    }

    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
