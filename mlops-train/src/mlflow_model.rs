//! MLflow model directories (an `MLmodel` file plus the flavor's files), as other MLflow
//! clients write them: the way a model trained and logged in Python reaches Rust.
//!
//! An mlops package carries its own manifest (`mlops-package.json`); a model logged by
//! `mlflow.<flavor>.log_model` carries only MLflow's `MLmodel` YAML, which names its
//! flavors (`onnx: {data: model.onnx}`, `python_function: ...`) and its signature (JSON
//! strings of column specs). [`MlflowModel`] reads such a directory, from the artifact
//! store (a `Manifest` the registry downloaded) or from disk, so that a flavor loader
//! registered with [`FlavorRegistry::register_mlflow`](crate::FlavorRegistry::register_mlflow)
//! can build a [`Model`](crate::Model) from it. The YAML is read with `yaml-rust2` (PyYAML
//! writes it) into JSON values, since the loaders only read a few keys.

use std::collections::BTreeMap;
use std::path::Path;

use mlops_core::{ArtifactStore, Digest};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::{Error, Result};

/// The name of MLflow's model description file.
pub const MLMODEL_FILE: &str = "MLmodel";

/// Files larger than this are not read into memory from a model directory.
const MAX_FILE_BYTES: u64 = 1 << 30;

/// An MLflow model directory in memory: the parsed `MLmodel` and every file by its
/// path relative to the directory.
#[derive(Clone)]
pub struct MlflowModel {
    /// Where it was read from (a store digest or a path), for messages.
    pub source: String,
    /// `MLmodel` as JSON.
    pub mlmodel: Value,
    /// The files, by relative path (`/`-separated).
    pub files: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for MlflowModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlflowModel")
            .field("source", &self.source)
            .field("flavors", &self.flavors())
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn err(source: &str, problem: impl Into<String>) -> Error {
    Error::Package {
        package: source.to_string(),
        problem: problem.into(),
    }
}

impl MlflowModel {
    /// Builds it from the files of a directory (`MLmodel` must be among them).
    pub fn from_files(source: &str, files: BTreeMap<String, Vec<u8>>) -> Result<MlflowModel> {
        let text = files
            .get(MLMODEL_FILE)
            .ok_or_else(|| err(source, "has no MLmodel file: not an MLflow model"))?;
        let text = std::str::from_utf8(text).map_err(|_| err(source, "MLmodel is not UTF-8"))?;
        let docs = YamlLoader::load_from_str(text)
            .map_err(|e| err(source, format!("MLmodel is not valid YAML: {e}")))?;
        let mlmodel = docs.first().map(yaml_to_json).unwrap_or(Value::Null);
        if !mlmodel.is_object() {
            return Err(err(source, "MLmodel is not a mapping"));
        }
        Ok(MlflowModel {
            source: source.to_string(),
            mlmodel,
            files,
        })
    }

    /// Reads a stored directory (a `Manifest` in the store), every file verified.
    pub fn from_store(store: &ArtifactStore, id: &Digest) -> Result<MlflowModel> {
        let source = format!("stored model {}", id.short());
        let m = store.get_manifest(id)?;
        let mut files = BTreeMap::new();
        for (path, entry) in &m.files {
            if entry.size > MAX_FILE_BYTES {
                return Err(err(&source, format!("{path} is larger than 1 GiB")));
            }
            files.insert(path.clone(), store.get(&entry.digest)?);
        }
        MlflowModel::from_files(&source, files)
    }

    /// Reads a directory on disk (e.g. `mlflow.onnx.save_model`'s output).
    pub fn read_dir(dir: &Path) -> Result<MlflowModel> {
        let source = dir.display().to_string();
        let mut files = BTreeMap::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
                let entry = entry.map_err(|e| Error::io(&d, e))?;
                let p = entry.path();
                let ft = entry.file_type().map_err(|e| Error::io(&p, e))?;
                if ft.is_dir() {
                    stack.push(p);
                } else if ft.is_file() {
                    let len = entry.metadata().map_err(|e| Error::io(&p, e))?.len();
                    if len > MAX_FILE_BYTES {
                        return Err(err(
                            &source,
                            format!("{} is larger than 1 GiB", p.display()),
                        ));
                    }
                    let rel = p
                        .strip_prefix(dir)
                        .map_err(|_| err(&source, "file outside the directory"))?
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/");
                    files.insert(rel, std::fs::read(&p).map_err(|e| Error::io(&p, e))?);
                }
            }
        }
        MlflowModel::from_files(&source, files)
    }

    /// The flavor names of `MLmodel`, in its order (sorted, as PyYAML writes them).
    pub fn flavors(&self) -> Vec<String> {
        self.mlmodel
            .get("flavors")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The configuration of one flavor (`flavors.<name>`).
    pub fn flavor(&self, name: &str) -> Option<&Value> {
        self.mlmodel.get("flavors")?.get(name)
    }

    /// A file's bytes, by path relative to the model directory.
    pub fn file(&self, path: &str) -> Result<&[u8]> {
        self.files
            .get(path.trim_start_matches("./"))
            .map(Vec::as_slice)
            .ok_or_else(|| err(&self.source, format!("has no file {path}")))
    }

    /// The signature's input column specs (`[{"name": .., "type": ..}]`), parsed from
    /// the JSON string MLflow stores; `None` without a signature.
    pub fn signature_inputs(&self) -> Result<Option<Vec<Value>>> {
        let Some(s) = self.mlmodel.get("signature").and_then(|s| s.get("inputs")) else {
            return Ok(None);
        };
        let parsed = match s {
            Value::String(text) => serde_json::from_str(text)
                .map_err(|e| Error::json(format!("{} MLmodel signature.inputs", self.source), e))?,
            Value::Null => return Ok(None),
            other => other.clone(),
        };
        match parsed {
            Value::Array(a) => Ok(Some(a)),
            _ => Err(err(&self.source, "MLmodel signature.inputs is not a list")),
        }
    }
}

fn yaml_to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(s.clone())),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) | Yaml::Real(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => String::new(),
                    };
                    (key, yaml_to_json(v))
                })
                .collect(),
        ),
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_mlmodel_written_by_mlflow() {
        let text = "artifact_path: model\nflavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.23.2\n  python_function:\n    data: model.onnx\n    env:\n      conda: conda.yaml\n    loader_module: mlflow.onnx\n    python_version: 3.11.7\nmlflow_version: 3.17.2\nmodel_size_bytes: 585\nsignature:\n  inputs: '[{\"type\": \"float\", \"name\": \"f0\", \"required\": true}, {\"type\": \"float\", \"name\": \"f 1\", \"required\": true}]'\n  outputs: '[{\"type\": \"long\", \"name\": \"label\", \"required\": true}]'\n  params: null\n";
        let mut files = BTreeMap::new();
        files.insert(MLMODEL_FILE.to_string(), text.as_bytes().to_vec());
        files.insert("model.onnx".to_string(), vec![1, 2, 3]);
        let m = MlflowModel::from_files("test", files).unwrap();
        assert_eq!(m.flavors(), vec!["onnx", "python_function"]);
        assert_eq!(m.flavor("onnx").unwrap()["data"], "model.onnx");
        assert_eq!(m.file("model.onnx").unwrap(), &[1, 2, 3]);
        let inputs = m.signature_inputs().unwrap().unwrap();
        assert_eq!(inputs[1]["name"], "f 1");
        assert!(m.file("nope").is_err());
    }

    #[test]
    fn refuses_a_directory_without_mlmodel() {
        let e = MlflowModel::from_files("x", BTreeMap::new()).unwrap_err();
        assert!(e.to_string().contains("no MLmodel"), "{e}");
    }
}
