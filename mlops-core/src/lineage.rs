//! Lineage ids shared by every crate: plain serde data.
//!
//! Lineage is a chain of names: a dataset snapshot's digest is recorded on the run
//! that trained on it, the run's id on the model version registered from it, and the
//! version on the deployment decision that served it. These types are those names.
//! They carry no behaviour beyond parsing and printing, so every crate (and every JSON
//! report) can hold them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Digest, Error, Result};

/// A column of a dataset's schema: its name and its dtype as text (polars' name for it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// Column name.
    pub name: String,
    /// Data type, as polars prints it (`i64`, `f64`, `str`, ...).
    pub dtype: String,
}

/// A reference to a content-addressed dataset snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatasetRef {
    /// Digest of the snapshot's canonical bytes in the artifact store.
    pub digest: Digest,
    /// A human name (`winequality`, `transactions-2026-11`), not part of the identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Number of rows.
    pub rows: u64,
    /// Columns in order.
    pub schema: Vec<ColumnSchema>,
    /// Digest of the dataset's stored profile, when one was computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_digest: Option<Digest>,
}

/// The id of a tracked run (MLflow's 32-hex run id, or any id a backend issues).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub String);

impl RunId {
    /// A fresh random id in MLflow's form: 32 lower-case hex digits.
    pub fn random() -> RunId {
        let bytes: [u8; 16] = rand::random();
        let mut s = String::with_capacity(32);
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        RunId(s)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of an experiment (MLflow's numeric string, `"0"` for the default one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExperimentId(pub String);

impl fmt::Display for ExperimentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One version of a registered model: `models:/NAME/VERSION`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModelVersionRef {
    /// Registered model name.
    pub name: String,
    /// Version number, from 1, never reused within a model.
    pub version: u64,
}

impl fmt::Display for ModelVersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "models:/{}/{}", self.name, self.version)
    }
}

/// A model URI: a fixed version or whatever an alias points at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ModelUri {
    /// `models:/NAME/VERSION`
    Version(ModelVersionRef),
    /// `models:/NAME@ALIAS`
    Alias {
        /// Registered model name.
        name: String,
        /// Alias (`champion`, `challenger`, ...).
        alias: String,
    },
}

impl fmt::Display for ModelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelUri::Version(v) => v.fmt(f),
            ModelUri::Alias { name, alias } => write!(f, "models:/{name}@{alias}"),
        }
    }
}

impl FromStr for ModelUri {
    type Err = Error;

    fn from_str(s: &str) -> Result<ModelUri> {
        let bad = |why: &str| Error::InvalidArgument(format!("model URI {s:?}: {why}"));
        let rest = s
            .strip_prefix("models:/")
            .ok_or_else(|| bad("must start with 'models:/'"))?;
        if let Some((name, alias)) = rest.rsplit_once('@') {
            if name.is_empty() || alias.is_empty() || alias.contains('/') {
                return Err(bad("expected models:/NAME@ALIAS"));
            }
            return Ok(ModelUri::Alias {
                name: name.to_string(),
                alias: alias.to_string(),
            });
        }
        let (name, version) = rest
            .rsplit_once('/')
            .ok_or_else(|| bad("expected models:/NAME/VERSION or models:/NAME@ALIAS"))?;
        if name.is_empty() {
            return Err(bad("empty model name"));
        }
        let version: u64 = version
            .parse()
            .map_err(|_| bad("the version must be a positive integer"))?;
        if version == 0 {
            return Err(bad("versions start at 1"));
        }
        Ok(ModelUri::Version(ModelVersionRef {
            name: name.to_string(),
            version,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_uris() {
        let v: ModelUri = "models:/fraud/3".parse().unwrap();
        assert_eq!(v.to_string(), "models:/fraud/3");
        let a: ModelUri = "models:/fraud@champion".parse().unwrap();
        assert_eq!(a.to_string(), "models:/fraud@champion");
        for bad in [
            "fraud/3",
            "models:/fraud/0",
            "models:/fraud/x",
            "models:/@a",
            "models:/f@",
        ] {
            assert!(bad.parse::<ModelUri>().is_err(), "{bad}");
        }
    }

    #[test]
    fn run_ids_are_mlflow_shaped() {
        let r = RunId::random();
        assert_eq!(r.as_str().len(), 32);
        assert!(r.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(r, RunId::random());
    }
}
