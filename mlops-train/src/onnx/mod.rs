//! MLflow's `onnx` flavor on tract: models trained in Python (scikit-learn converted by
//! skl2onnx, logged with `mlflow.onnx.log_model`), served from Rust without Python or
//! onnxruntime.
//!
//! [`OnnxGraph`] is the graph as tract runs it: the ONNX protobuf with `ZipMap` removed
//! (see below), parsed by tract-onnx with our ONNX-ML operators ([`ops`](self) module
//! docs) registered over tract's, typed with a symbolic batch dimension and optimised
//! once at load. [`OnnxModel`] is the [`Model`]: it maps a polars frame's columns (named
//! by the MLflow signature, or by the graph's inputs) to the input tensor, runs the
//! plan, and reads the outputs skl2onnx writes (`label` and `probabilities`, or a
//! single value column for regressors) into a [`Prediction`].
//!
//! `ZipMap` (skl2onnx's default output, a list of `{class: probability}` maps) is no
//! tensor and tract has no such type. It only renames the columns of the probability
//! tensor it takes, so the graph is served without it: the node is dropped, its input
//! becomes the graph output, and its class labels name the columns. A `ZipMap` whose
//! output feeds another node is refused at load with an error that names skl2onnx's
//! `zipmap=False` option.
//!
//! The flavor name in packages and in MLflow's `MLmodel` is `onnx` ([`ONNX_FLAVOR`]).

mod ops;
mod trees;

/// tract-onnx, for callers that build input tensors for [`OnnxGraph::run`] themselves.
pub use tract_onnx;

use std::collections::HashMap;
use std::sync::Arc;

use ndarray::Array2;
use polars::prelude::{DataFrame, DataType};
use serde::{Deserialize, Serialize};
use tract_onnx::pb;
use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModelExt, IntoRunnable, TDim, TValue, Tensor,
    ToDim, TypedRunnableModel, tvec,
};
use tract_onnx::tract_hir::internal::{IntoTValue, TVec};

use mlops_core::ColumnSchema;

use crate::batch::{Batch, Values};
use crate::evaluation::Task;
use crate::mlflow_model::MlflowModel;
use crate::model::{Model, Prediction, Signature, default_mlflow_predictions};
use crate::{Error, Result};

/// The flavor name (MLflow's `onnx` flavor).
pub const ONNX_FLAVOR: &str = "onnx";

/// The ONNX-ML operator types this build evaluates (ours) or leaves to tract.
pub const SUPPORTED_ML_OPS: &[&str] = &[
    "ArrayFeatureExtractor",
    "CategoryMapper",
    "LinearClassifier",
    "LinearRegressor",
    "Normalizer",
    "Scaler",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
    "ZipMap",
];

const ML_DOMAIN: &str = "ai.onnx.ml";
const PAYLOAD_MAGIC: &[u8] = b"mlops-onnx/1\n";

fn onnx_err(model: &str, problem: impl Into<String>) -> Error {
    Error::Package {
        package: format!("ONNX model {model}"),
        problem: problem.into(),
    }
}

/// A graph input: its name, element type and width (features per row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphInput {
    /// The ONNX input name.
    pub name: String,
    /// The element type.
    pub dtype: DatumType,
    /// Columns per row (the second dimension).
    pub width: usize,
}

/// A graph output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphOutput {
    /// The ONNX output name (for a removed `ZipMap`, the name of its output).
    pub name: String,
    /// Class labels naming the columns, when a removed `ZipMap` produced this output.
    pub zipmap_keys: Option<Vec<String>>,
}

/// An ONNX graph loaded into tract with our ONNX-ML ops, optimised and ready to run.
#[derive(Clone)]
pub struct OnnxGraph {
    plan: Arc<TypedRunnableModel>,
    /// Inputs, in graph order.
    pub inputs: Vec<GraphInput>,
    /// Outputs, in graph order.
    pub outputs: Vec<GraphOutput>,
    /// The op types of the graph's nodes (before `ZipMap` removal), sorted.
    pub ops: Vec<String>,
    /// Class labels of the graph's classifier node (or its `ZipMap`), as text.
    pub class_labels: Option<Vec<String>>,
    /// `producer_name producer_version` of the ONNX file.
    pub producer: String,
}

impl std::fmt::Debug for OnnxGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxGraph")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("ops", &self.ops)
            .field("producer", &self.producer)
            .finish()
    }
}

fn attr<'a>(node: &'a pb::NodeProto, name: &str) -> Option<&'a pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Class labels of a node (`<ints_attr>` or `classlabels_strings`), as text.
fn node_labels(node: &pb::NodeProto, ints_attr: &str) -> Option<Vec<String>> {
    if let Some(a) = attr(node, ints_attr)
        && !a.ints.is_empty()
    {
        return Some(a.ints.iter().map(i64::to_string).collect());
    }
    attr(node, "classlabels_strings").and_then(|a| {
        (!a.strings.is_empty()).then(|| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
    })
}

fn tensor_elem_type(t: &pb::TypeProto) -> Option<i32> {
    match t.value.as_ref()? {
        pb::type_proto::Value::TensorType(tt) => Some(tt.elem_type),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

fn datum_type(elem: i32) -> Option<DatumType> {
    use pb::tensor_proto::DataType as D;
    match D::try_from(elem).ok()? {
        D::Float => Some(DatumType::F32),
        D::Double => Some(DatumType::F64),
        D::Int64 => Some(DatumType::I64),
        D::Int32 => Some(DatumType::I32),
        _ => None,
    }
}

impl OnnxGraph {
    /// Parses ONNX bytes and prepares the plan. `name` is used in error messages.
    pub fn load(name: &str, bytes: &[u8]) -> Result<OnnxGraph> {
        let mut onnx = tract_onnx::onnx();
        ops::register(&mut onnx.op_register);
        let mut proto = onnx
            .proto_model_for_read(&mut std::io::Cursor::new(bytes))
            .map_err(|e| onnx_err(name, format!("is not a readable ONNX file: {e}")))?;
        let producer = format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_string();
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| onnx_err(name, "has no graph"))?;
        let mut ops: Vec<String> = graph.node.iter().map(|n| n.op_type.clone()).collect();
        ops.sort();
        ops.dedup();
        let unsupported: Vec<&str> = graph
            .node
            .iter()
            .filter(|n| n.domain == ML_DOMAIN && !SUPPORTED_ML_OPS.contains(&n.op_type.as_str()))
            .map(|n| n.op_type.as_str())
            .collect();
        if !unsupported.is_empty() {
            return Err(onnx_err(
                name,
                format!(
                    "uses ONNX-ML operators this build does not evaluate: {} (supported: {})",
                    unsupported.join(", "),
                    SUPPORTED_ML_OPS.join(", ")
                ),
            ));
        }
        let class_labels = graph.node.iter().find_map(|n| match n.op_type.as_str() {
            "LinearClassifier" => node_labels(n, "classlabels_ints"),
            "TreeEnsembleClassifier" => node_labels(n, "classlabels_int64s"),
            _ => None,
        });
        let zipmaps = strip_zipmaps(name, graph)?;
        let mut inputs = Vec::new();
        for i in &graph.input {
            if graph.initializer.iter().any(|t| t.name == i.name) {
                continue;
            }
            let dtype = i
                .r#type
                .as_ref()
                .and_then(tensor_elem_type)
                .and_then(datum_type)
                .ok_or_else(|| {
                    onnx_err(
                        name,
                        format!(
                            "input {:?} is not a float, double or integer tensor",
                            i.name
                        ),
                    )
                })?;
            let dims: Vec<Option<i64>> = match i.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(pb::type_proto::Value::TensorType(tt)) => tt
                    .shape
                    .as_ref()
                    .map(|s| {
                        s.dim
                            .iter()
                            .map(|d| match d.value {
                                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                                    Some(v)
                                }
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                #[allow(unreachable_patterns)]
                _ => Vec::new(),
            };
            let width = match dims.as_slice() {
                [_, Some(w)] if *w > 0 => *w as usize,
                _ => {
                    return Err(onnx_err(
                        name,
                        format!(
                            "input {:?} must be a matrix [rows, features] with a known number \
                             of features, its shape is {dims:?}",
                            i.name
                        ),
                    ));
                }
            };
            inputs.push(GraphInput {
                name: i.name.clone(),
                dtype,
                width,
            });
        }
        if inputs.is_empty() {
            return Err(onnx_err(name, "has no inputs"));
        }
        let outputs: Vec<GraphOutput> = graph
            .output
            .iter()
            .map(|o| {
                let z = zipmaps.iter().find(|z| z.tensor == o.name);
                GraphOutput {
                    name: z
                        .map(|z| z.output.clone())
                        .unwrap_or_else(|| o.name.clone()),
                    zipmap_keys: z.map(|z| z.keys.clone()),
                }
            })
            .collect();
        let class_labels = class_labels.or_else(|| zipmaps.first().map(|z| z.keys.clone()));

        let tract_err = |e: tract_onnx::prelude::TractError| onnx_err(name, format!("{e:#}"));
        let mut model = onnx.model_for_proto_model(&proto).map_err(tract_err)?;
        let batch = TDim::from(model.sym("N"));
        for (ix, i) in inputs.iter().enumerate() {
            let fact = InferenceFact::dt_shape(i.dtype, tvec![batch.clone(), i.width.to_dim()]);
            model.set_input_fact(ix, fact).map_err(tract_err)?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(tract_err)?;
        Ok(OnnxGraph {
            plan,
            inputs,
            outputs,
            ops,
            class_labels,
            producer,
        })
    }

    /// Runs the graph on one tensor per input; returns the outputs in graph order.
    pub fn run(&self, inputs: Vec<Tensor>) -> Result<Vec<TValue>> {
        let inputs: TVec<TValue> = inputs.into_iter().map(IntoTValue::into_tvalue).collect();
        let out = self
            .plan
            .run(inputs)
            .map_err(|e| Error::InvalidArgument(format!("ONNX evaluation failed: {e:#}")))?;
        // tract keeps integers that may be dimensions as `TDim`; ONNX says int64.
        out.into_iter()
            .map(|t| {
                if t.datum_type() == DatumType::TDim {
                    let t = t
                        .cast_to::<i64>()
                        .map_err(|e| Error::InvalidArgument(format!("ONNX output: {e}")))?
                        .into_owned();
                    Ok(t.into_tvalue())
                } else {
                    Ok(t)
                }
            })
            .collect()
    }
}

struct ZipMapped {
    /// The tensor the ZipMap read (now the graph output).
    tensor: String,
    /// The ZipMap's output name.
    output: String,
    keys: Vec<String>,
}

/// Removes `ZipMap` nodes whose output is a graph output (see the module docs).
fn strip_zipmaps(name: &str, graph: &mut pb::GraphProto) -> Result<Vec<ZipMapped>> {
    let mut found = Vec::new();
    let mut keep = Vec::with_capacity(graph.node.len());
    for node in std::mem::take(&mut graph.node) {
        if node.op_type != "ZipMap" {
            keep.push(node);
            continue;
        }
        let (Some(input), Some(output)) = (node.input.first(), node.output.first()) else {
            return Err(onnx_err(name, "has a ZipMap without input or output"));
        };
        let keys = node_labels(&node, "classlabels_int64s")
            .ok_or_else(|| onnx_err(name, "has a ZipMap without class labels"))?;
        found.push(ZipMapped {
            tensor: input.clone(),
            output: output.clone(),
            keys,
        });
    }
    graph.node = keep;
    for z in &found {
        let consumed = graph.node.iter().any(|n| n.input.contains(&z.output));
        let Some(out) = graph.output.iter_mut().find(|o| o.name == z.output) else {
            return Err(onnx_err(
                name,
                "has a ZipMap whose output is not a graph output: convert it with skl2onnx's \
                 option zipmap=False (options={id(model): {'zipmap': False}})",
            ));
        };
        if consumed {
            return Err(onnx_err(
                name,
                "has a ZipMap whose output feeds other nodes: convert it with skl2onnx's option \
                 zipmap=False (options={id(model): {'zipmap': False}})",
            ));
        }
        out.name = z.tensor.clone();
        // The type was a sequence of maps; let tract infer the tensor's.
        out.r#type = None;
    }
    Ok(found)
}

/// How the outputs are read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Head {
    /// Labels at one output, probabilities (optional) at another.
    Classifier { label: usize, proba: Option<usize> },
    /// One value per row at this output.
    Regressor { value: usize },
}

/// What the payload stores besides the ONNX bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    columns: Vec<ColumnSchema>,
    output: ColumnSchema,
}

/// A model of the `onnx` flavor: an ONNX graph plus the column names it reads.
#[derive(Clone)]
pub struct OnnxModel {
    graph: OnnxGraph,
    onnx: Arc<Vec<u8>>,
    signature: Signature,
    task: Task,
    classes: Vec<String>,
    class_index: HashMap<String, usize>,
    /// `classes` read as integers (`None` where a class is not one), for integer labels.
    class_ints: Vec<Option<i64>>,
    head: Head,
}

impl std::fmt::Debug for OnnxModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxModel")
            .field("graph", &self.graph)
            .field("task", &self.task)
            .field("classes", &self.classes)
            .finish()
    }
}

fn mlflow_type_to_dtype(t: &str) -> Option<&'static str> {
    Some(match t {
        "float" => "f32",
        "double" => "f64",
        "long" => "i64",
        "integer" => "i32",
        "boolean" => "bool",
        _ => return None,
    })
}

fn dtype_name(dt: DatumType) -> &'static str {
    match dt {
        DatumType::F64 => "f64",
        DatumType::I64 => "i64",
        DatumType::I32 => "i32",
        _ => "f32",
    }
}

impl OnnxModel {
    /// Loads ONNX bytes. `columns` names the input columns in order (one per feature of
    /// a single matrix input); without it a graph with one `[rows, 1]` input per column
    /// names its columns by its inputs, and a single matrix input by position
    /// (`"0"`, `"1"`, ..., as pandas names the columns of an array).
    pub fn from_onnx(
        name: &str,
        bytes: Vec<u8>,
        columns: Option<Vec<String>>,
    ) -> Result<OnnxModel> {
        let graph = OnnxGraph::load(name, &bytes)?;
        let columns: Vec<ColumnSchema> = match (columns, graph.inputs.as_slice()) {
            (Some(cols), [single]) => {
                if cols.len() != single.width {
                    return Err(onnx_err(
                        name,
                        format!(
                            "the signature names {} columns, the ONNX input {:?} has {} features",
                            cols.len(),
                            single.name,
                            single.width
                        ),
                    ));
                }
                cols.into_iter()
                    .map(|c| ColumnSchema {
                        name: c,
                        dtype: dtype_name(single.dtype).to_string(),
                    })
                    .collect()
            }
            (_, [single]) => (0..single.width)
                .map(|i| ColumnSchema {
                    name: i.to_string(),
                    dtype: dtype_name(single.dtype).to_string(),
                })
                .collect(),
            (_, many) => {
                if let Some(wide) = many.iter().find(|i| i.width != 1) {
                    return Err(onnx_err(
                        name,
                        format!(
                            "has several inputs and {:?} has {} features: only one matrix input \
                             or one [rows, 1] input per column is supported",
                            wide.name, wide.width
                        ),
                    ));
                }
                many.iter()
                    .map(|i| ColumnSchema {
                        name: i.name.clone(),
                        dtype: dtype_name(i.dtype).to_string(),
                    })
                    .collect()
            }
        };
        Self::build(name, graph, bytes, columns)
    }

    fn build(
        name: &str,
        graph: OnnxGraph,
        bytes: Vec<u8>,
        columns: Vec<ColumnSchema>,
    ) -> Result<OnnxModel> {
        // Probe the output types on one zero row: the typed facts are exact, but a run
        // also proves the graph evaluates before it is served.
        let probe = graph.run(Self::zero_inputs(&graph)?)?;
        let mut label = None;
        let mut proba = None;
        let mut value = None;
        for (i, t) in probe.iter().enumerate() {
            match (t.datum_type(), t.rank()) {
                (DatumType::I64 | DatumType::String, 1) if label.is_none() => label = Some(i),
                (DatumType::F32 | DatumType::F64, 2) if proba.is_none() => proba = Some(i),
                (DatumType::F32 | DatumType::F64, 1) if value.is_none() => value = Some(i),
                _ => {}
            }
        }
        let (head, classes, output) = match (label, proba, value) {
            (Some(label), proba, _) => {
                let classes = graph.class_labels.clone().ok_or_else(|| {
                    onnx_err(
                        name,
                        "has a label output but no classifier node or ZipMap naming the classes",
                    )
                })?;
                if let Some(p) = proba
                    && probe[p].shape().get(1) != Some(&classes.len())
                {
                    return Err(onnx_err(
                        name,
                        format!(
                            "its probabilities have {:?} columns for {} classes",
                            probe[p].shape(),
                            classes.len()
                        ),
                    ));
                }
                let dtype = if probe[label].datum_type() == DatumType::String {
                    "str"
                } else {
                    "i64"
                };
                let output = ColumnSchema {
                    name: graph.outputs[label].name.clone(),
                    dtype: dtype.to_string(),
                };
                (Head::Classifier { label, proba }, classes, output)
            }
            (None, Some(p), _) if probe[p].shape().get(1) == Some(&1) => {
                let output = ColumnSchema {
                    name: graph.outputs[p].name.clone(),
                    dtype: "f32".to_string(),
                };
                (Head::Regressor { value: p }, Vec::new(), output)
            }
            (None, _, Some(v)) => {
                let output = ColumnSchema {
                    name: graph.outputs[v].name.clone(),
                    dtype: "f32".to_string(),
                };
                (Head::Regressor { value: v }, Vec::new(), output)
            }
            _ => {
                return Err(onnx_err(
                    name,
                    "has neither a label output (int64 or string [rows]) nor one value per row",
                ));
            }
        };
        let task = match classes.len() {
            0 => Task::Regression,
            2 => Task::Binary,
            _ => Task::Multiclass,
        };
        let class_index = classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let class_ints = classes.iter().map(|c| c.parse::<i64>().ok()).collect();
        Ok(OnnxModel {
            signature: Signature {
                inputs: columns,
                output,
                contract: None,
            },
            graph,
            onnx: Arc::new(bytes),
            task,
            classes,
            class_index,
            class_ints,
            head,
        })
    }

    fn zero_inputs(graph: &OnnxGraph) -> Result<Vec<Tensor>> {
        graph
            .inputs
            .iter()
            .map(|i| {
                Tensor::zero_dt(i.dtype, &[1, i.width])
                    .map_err(|e| Error::InvalidArgument(format!("{e}")))
            })
            .collect()
    }

    /// Loads the `onnx` flavor of an MLflow model directory: the file named by
    /// `flavors.onnx.data`, columns named by the signature's column specs.
    pub fn from_mlflow(m: &MlflowModel) -> Result<OnnxModel> {
        let flavor = m
            .flavor(ONNX_FLAVOR)
            .ok_or_else(|| onnx_err(&m.source, "MLmodel has no onnx flavor"))?;
        let data = flavor
            .get("data")
            .and_then(|d| d.as_str())
            .unwrap_or("model.onnx");
        let bytes = m.file(data)?.to_vec();
        let columns = match m.signature_inputs()? {
            Some(specs) if specs.iter().all(|s| s.get("name").is_some()) => {
                for s in &specs {
                    let t = s.get("type").and_then(|t| t.as_str()).unwrap_or("");
                    if mlflow_type_to_dtype(t).is_none() {
                        return Err(onnx_err(
                            &m.source,
                            format!(
                                "signature column {} has type {t:?}; numeric columns only",
                                s["name"]
                            ),
                        ));
                    }
                }
                Some(
                    specs
                        .iter()
                        .map(|s| s["name"].as_str().unwrap_or_default().to_string())
                        .collect(),
                )
            }
            // Tensor-based signatures name no columns.
            _ => None,
        };
        Self::from_onnx(&m.source, bytes, columns)
    }

    /// Reads a payload written by [`Model::to_payload`].
    pub fn from_payload(bytes: &[u8]) -> Result<OnnxModel> {
        let rest = bytes
            .strip_prefix(PAYLOAD_MAGIC)
            .ok_or_else(|| onnx_err("payload", "is not an mlops ONNX payload"))?;
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| onnx_err("payload", "has no header line"))?;
        let header: Header = serde_json::from_slice(&rest[..nl])
            .map_err(|e| Error::json("ONNX payload header", e))?;
        let model = Self::from_onnx(
            "payload",
            rest[nl + 1..].to_vec(),
            Some(header.columns.iter().map(|c| c.name.clone()).collect()),
        )?;
        Ok(model)
    }

    /// The loaded graph.
    pub fn graph(&self) -> &OnnxGraph {
        &self.graph
    }

    /// The input tensors for `rows` rows; `fill(column, j, stride, out)` writes the
    /// column's value of row `r` to `out[r * stride + j]` (the frame and the batch
    /// path differ only in how they read a column).
    fn input_tensors(
        &self,
        rows: usize,
        fill: impl Fn(&str, usize, usize, &mut [f64]) -> Result<()>,
    ) -> Result<Vec<Tensor>> {
        let make = |dtype: DatumType, width: usize, data: Vec<f64>| -> Result<Tensor> {
            let shape = [rows, width];
            let t = match dtype {
                DatumType::F64 => Tensor::from_shape(&shape, &data),
                DatumType::I64 => {
                    let v: Vec<i64> = data.iter().map(|&x| x as i64).collect();
                    Tensor::from_shape(&shape, &v)
                }
                DatumType::I32 => {
                    let v: Vec<i32> = data.iter().map(|&x| x as i32).collect();
                    Tensor::from_shape(&shape, &v)
                }
                _ => {
                    let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
                    Tensor::from_shape(&shape, &v)
                }
            };
            t.map_err(|e| Error::InvalidArgument(format!("{e}")))
        };
        if let [single] = self.graph.inputs.as_slice() {
            let cols = &self.signature.inputs;
            let mut data = vec![0f64; rows * cols.len()];
            for (j, c) in cols.iter().enumerate() {
                fill(&c.name, j, cols.len(), &mut data)?;
            }
            Ok(vec![make(single.dtype, single.width, data)?])
        } else {
            self.graph
                .inputs
                .iter()
                .map(|i| {
                    let mut data = vec![0f64; rows];
                    fill(&i.name, 0, 1, &mut data)?;
                    make(i.dtype, 1, data)
                })
                .collect()
        }
    }

    /// Input tensors from a polars frame (the [`Model::predict`] path).
    fn frame_tensors(&self, frame: &DataFrame) -> Result<Vec<Tensor>> {
        self.input_tensors(frame.height(), |name, j, stride, out| {
            let col = frame.column(name).map_err(|_| missing(name))?;
            let dt = col.dtype();
            if !(dt.is_primitive_numeric() || dt.is_bool() || dt.is_null()) {
                return Err(not_numeric(name, dt));
            }
            let c = col.cast(&DataType::Float64)?;
            let ca = c.f64()?;
            if ca.null_count() > 0 {
                return Err(has_nulls(name, ca.null_count()));
            }
            for (r, v) in ca.into_no_null_iter().enumerate() {
                out[r * stride + j] = v;
            }
            Ok(())
        })
    }

    /// Input tensors straight from a [`Batch`]'s typed columns (the serving path): the
    /// same numbers as [`OnnxModel::frame_tensors`] on the batch's frame, without one.
    fn batch_tensors(&self, batch: &Batch) -> Result<Vec<Tensor>> {
        self.input_tensors(batch.rows(), |name, j, stride, out| {
            let values = batch.column(name).ok_or_else(|| missing(name))?;
            // One column into its slot of the row-major input; a null refuses the batch
            // (NaN is a value here, as in a polars Float64 column).
            fn put<T: Copy>(
                name: &str,
                v: &[Option<T>],
                to_f64: impl Fn(T) -> f64,
                j: usize,
                stride: usize,
                out: &mut [f64],
            ) -> Result<()> {
                for (r, x) in v.iter().enumerate() {
                    let x =
                        x.ok_or_else(|| has_nulls(name, v.iter().filter(|x| x.is_none()).count()))?;
                    out[r * stride + j] = to_f64(x);
                }
                Ok(())
            }
            match values {
                Values::F64(v) => put(name, v, |x| x, j, stride, out),
                Values::I64(v) => put(name, v, |x| x as f64, j, stride, out),
                Values::Bool(v) => put(name, v, |x| f64::from(u8::from(x)), j, stride, out),
                Values::Str(_) => Err(not_numeric(name, &DataType::String)),
            }
        })
    }

    /// Reads the graph's outputs for `rows` rows into a [`Prediction`].
    fn read_outputs(&self, rows: usize, out: &[TValue]) -> Result<Prediction> {
        match &self.head {
            Head::Regressor { value } => {
                let v = f64_values(&out[*value])?;
                if v.len() != rows {
                    return Err(Error::InvalidArgument(format!(
                        "the ONNX model gave {} values for {rows} rows",
                        v.len()
                    )));
                }
                Ok(Prediction::Values(v))
            }
            Head::Classifier { label, proba } => {
                let labels = self.label_indices(&out[*label])?;
                if labels.len() != rows {
                    return Err(Error::InvalidArgument(format!(
                        "the ONNX model gave {} labels for {rows} rows",
                        labels.len()
                    )));
                }
                let proba = match proba {
                    Some(p) => {
                        let v = f64_values(&out[*p])?;
                        Some(
                            Array2::from_shape_vec((rows, self.classes.len()), v).map_err(|e| {
                                Error::InvalidArgument(format!("ONNX probabilities: {e}"))
                            })?,
                        )
                    }
                    None => None,
                };
                Ok(Prediction::Classes {
                    classes: self.classes.clone(),
                    labels,
                    proba,
                })
            }
        }
    }

    /// The class index of each predicted label: integer labels are looked up among the
    /// classes that read as integers (no text per row), string labels by name.
    fn label_indices(&self, t: &Tensor) -> Result<Vec<usize>> {
        let unknown = |l: &dyn std::fmt::Display| {
            Error::InvalidArgument(format!(
                "the ONNX model predicted label {l}, which is not one of its classes {:?}",
                self.classes
            ))
        };
        if t.datum_type() == DatumType::String {
            let texts = t
                .try_as_plain_ram()
                .and_then(|r| r.as_slice::<String>().map(<[String]>::to_vec))
                .map_err(|e| Error::InvalidArgument(format!("ONNX labels: {e}")))?;
            return texts
                .iter()
                .map(|l| {
                    self.class_index
                        .get(l)
                        .copied()
                        .ok_or_else(|| unknown(&format!("{l:?}")))
                })
                .collect();
        }
        f64_values(t)?
            .into_iter()
            .map(|v| {
                let l = v as i64;
                self.class_ints
                    .iter()
                    .position(|&c| c == Some(l))
                    .ok_or_else(|| unknown(&format!("\"{l}\"")))
            })
            .collect()
    }
}

fn missing(name: &str) -> Error {
    Error::Column {
        column: name.to_string(),
        problem: "is missing".to_string(),
    }
}

fn not_numeric(name: &str, dt: &DataType) -> Error {
    Error::Column {
        column: name.to_string(),
        problem: format!("has dtype {dt}, the model expects numbers"),
    }
}

fn has_nulls(name: &str, n: usize) -> Error {
    Error::Column {
        column: name.to_string(),
        problem: format!("has {n} null values; the ONNX model takes none"),
    }
}

fn f64_values(t: &Tensor) -> Result<Vec<f64>> {
    let c = t
        .cast_to::<f64>()
        .map_err(|e| Error::InvalidArgument(format!("ONNX output: {e}")))?;
    let v = c
        .try_as_plain_ram()
        .and_then(|r| r.as_slice::<f64>().map(<[f64]>::to_vec))
        .map_err(|e| Error::InvalidArgument(format!("ONNX output: {e}")))?;
    Ok(v)
}

impl Model for OnnxModel {
    fn flavor(&self) -> &str {
        ONNX_FLAVOR
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn task(&self) -> Task {
        self.task
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn predict(&self, frame: &DataFrame) -> Result<Prediction> {
        let out = self.graph.run(self.frame_tensors(frame)?)?;
        self.read_outputs(frame.height(), &out)
    }

    fn predict_batch(&self, batch: &Batch) -> Result<Prediction> {
        let out = self.graph.run(self.batch_tensors(batch)?)?;
        self.read_outputs(batch.rows(), &out)
    }

    /// MLflow's `onnx` pyfunc answers a frame with a frame of the graph's outputs, one
    /// column per output, so its scoring server answers one record per row:
    /// `{"label": 1, "probabilities": [0.2, 0.8]}`, `{"output_label": 1,
    /// "output_probability": {"0": 0.2, "1": 0.8}}` for a `ZipMap` output (served without
    /// the node, its keys restored here), `{"variable": 3.5}` for a regressor. MLflow
    /// 3.17 itself fails on a `[rows, classes]` probability output (it flattens every
    /// output to one dimension); there the row's probabilities are given as a list.
    fn mlflow_predictions(&self, prediction: &Prediction) -> serde_json::Value {
        use serde_json::{Map, Value};
        let num = |x: f64| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number);
        let name = |i: usize| self.graph.outputs.get(i).map(|o| o.name.clone());
        match (&self.head, prediction) {
            (Head::Regressor { value }, Prediction::Values(v)) => {
                let Some(key) = name(*value) else {
                    return default_mlflow_predictions(&self.signature.output, prediction);
                };
                Value::Array(
                    v.iter()
                        .map(|&x| {
                            let mut row = Map::new();
                            row.insert(key.clone(), num(x));
                            Value::Object(row)
                        })
                        .collect(),
                )
            }
            (
                Head::Classifier { label, proba },
                Prediction::Classes {
                    labels, proba: p, ..
                },
            ) => {
                let Some(label_key) = name(*label) else {
                    return default_mlflow_predictions(&self.signature.output, prediction);
                };
                let numeric = self.signature.output.dtype == "i64";
                let label_json: Vec<Value> = self
                    .classes
                    .iter()
                    .zip(&self.class_ints)
                    .map(|(c, i)| match i {
                        Some(i) if numeric => Value::from(*i),
                        _ => Value::String(c.clone()),
                    })
                    .collect();
                let proba_out = proba.and_then(|i| self.graph.outputs.get(i));
                Value::Array(
                    labels
                        .iter()
                        .enumerate()
                        .map(|(r, &l)| {
                            let mut row = Map::new();
                            row.insert(
                                label_key.clone(),
                                label_json.get(l).cloned().unwrap_or(Value::Null),
                            );
                            if let (Some(out), Some(p)) = (proba_out, p)
                                && r < p.nrows()
                            {
                                let ps = p.row(r);
                                let v = match &out.zipmap_keys {
                                    Some(keys) => Value::Object(
                                        keys.iter()
                                            .zip(ps.iter())
                                            .map(|(k, &x)| (k.clone(), num(x)))
                                            .collect(),
                                    ),
                                    None => Value::Array(ps.iter().map(|&x| num(x)).collect()),
                                };
                                row.insert(out.name.clone(), v);
                            }
                            Value::Object(row)
                        })
                        .collect(),
                )
            }
            _ => default_mlflow_predictions(&self.signature.output, prediction),
        }
    }

    fn hyperparameters(&self) -> serde_json::Value {
        serde_json::json!({
            "producer": self.graph.producer,
            "ops": self.graph.ops,
        })
    }

    fn to_payload(&self) -> Result<Vec<u8>> {
        let header = Header {
            columns: self.signature.inputs.clone(),
            output: self.signature.output.clone(),
        };
        let mut out = PAYLOAD_MAGIC.to_vec();
        out.extend(serde_json::to_vec(&header).map_err(|e| Error::json("ONNX payload header", e))?);
        out.push(b'\n');
        out.extend_from_slice(&self.onnx);
        Ok(out)
    }
}
