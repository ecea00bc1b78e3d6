//! The ONNX-ML operators skl2onnx emits, as tract ops that compute what onnxruntime
//! computes.
//!
//! tract 0.23 parses ONNX and runs the standard operators (`Cast`, `Identity`, ...), but
//! of the `ai.onnx.ml` domain it has only `LinearClassifier`, `LinearRegressor`,
//! `Normalizer`, `TreeEnsembleClassifier` and `CategoryMapper`, and its versions differ
//! from onnxruntime where onnxruntime's behaviour is not what the ONNX spec says:
//! binary classifiers (one score turned into two columns: `[1 - p, p]` or `[-s, s]`
//! depending on whether the leaf weights are all positive), the label of a binary
//! tree ensemble (`p > 0.5` or `s > 0`), `Normalizer`'s `MAX` (the largest value, not
//! the largest magnitude) and its zero rows. A model served here must answer what
//! onnxruntime answers, so every ONNX-ML op skl2onnx emits for the supported
//! estimators is ours, registered over tract's: `Scaler`, `Normalizer`,
//! `LinearClassifier`, `TreeEnsembleClassifier`, `TreeEnsembleRegressor` and
//! `ArrayFeatureExtractor`. `ZipMap` (a sequence of maps, which is no tensor) is
//! removed before tract sees the graph (see `super::graph`).
//!
//! Each op is a plain kernel (parameters parsed from the node, an `eval` over slices)
//! wrapped once by [`MlOp`] into tract's three faces: an `Expansion` for the inference
//! model (type and shape rules), and `TypedOp` + `EvalOp` for the optimised plan. A
//! kernel is a tract op rather than a separate evaluator of the graph so the standard
//! operators around it (casts, identities, arithmetic a converter adds) stay tract's,
//! and a graph mixing both runs as one plan. Arithmetic is done in the precision and
//! order onnxruntime uses (`f32` for float inputs), so results agree to the last few
//! ulps; `tests/integration/onnx.rs` checks every op against onnxruntime's outputs.

use std::fmt;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

/// Registers our ONNX-ML ops over tract's.
pub(crate) fn register(reg: &mut OnnxOpRegister) {
    reg.insert("Scaler", scaler);
    reg.insert("Normalizer", normalizer);
    reg.insert("LinearClassifier", linear_classifier);
    reg.insert("ArrayFeatureExtractor", array_feature_extractor);
    reg.insert("TreeEnsembleClassifier", super::trees::tree_classifier);
    reg.insert("TreeEnsembleRegressor", super::trees::tree_regressor);
}

/// An ONNX-ML operator as a plain function of its inputs.
pub(crate) trait Kernel: fmt::Debug + Clone + PartialEq + Send + Sync + 'static {
    /// The ONNX op type.
    fn name(&self) -> &'static str;
    /// Number of outputs.
    fn n_outputs(&self) -> usize {
        1
    }
    /// Type and shape rules for the inference model.
    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult;
    /// Output facts for the typed model.
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>>;
    /// Evaluates the op.
    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>>;
}

/// A [`Kernel`] as a tract op (inference, typed and evaluated).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MlOp<K>(pub(crate) K);

// tract compares ops for equality (deduplication); parameters are never NaN.
impl<K: Kernel> Eq for MlOp<K> {}

impl<K: Kernel> Op for MlOp<K> {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    op_as_typed_op!();
}

impl<K: Kernel> EvalOp for MlOp<K> {
    fn eval(&self, _ctx: &EvalContext<'_>, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        self.0.eval(inputs)
    }

    op_out_of_plan!();
}

impl<K: Kernel> TypedOp for MlOp<K> {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        self.0.output_facts(inputs)
    }

    as_op!();
}

impl<K: Kernel> Expansion for MlOp<K> {
    fn name(&self) -> StaticName {
        self.0.name().into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.0.n_outputs())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.0.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

fn built<K: Kernel>(k: K) -> Built {
    Ok((expand(MlOp(k)), vec![]))
}

/// The numeric input of an ONNX-ML op: `f32`, or `f64` where onnxruntime computes in
/// double; integers are converted to `f32` as onnxruntime does.
pub(crate) enum Numbers<'a> {
    /// Float input (or integers converted).
    F32(Cow<'a, [f32]>),
    /// Double input.
    F64(&'a [f64]),
}

/// The rows × columns of a rank-2 (or rank-1: one row) numeric input.
pub(crate) fn numbers(t: &Tensor) -> TractResult<(usize, usize, Numbers<'_>)> {
    let (rows, cols) = match t.shape() {
        [c] => (1, *c),
        [r, c] => (*r, *c),
        s => bail!("expects a matrix (rows x features), got shape {s:?}"),
    };
    let data = match t.datum_type() {
        DatumType::F32 => Numbers::F32(Cow::Borrowed(t.try_as_plain_ram()?.as_slice::<f32>()?)),
        DatumType::F64 => Numbers::F64(t.try_as_plain_ram()?.as_slice::<f64>()?),
        DatumType::I64 => Numbers::F32(Cow::Owned(
            t.try_as_plain_ram()?
                .as_slice::<i64>()?
                .iter()
                .map(|&v| v as f32)
                .collect(),
        )),
        DatumType::I32 => Numbers::F32(Cow::Owned(
            t.try_as_plain_ram()?
                .as_slice::<i32>()?
                .iter()
                .map(|&v| v as f32)
                .collect(),
        )),
        dt => bail!("input type {dt:?} is not supported (float, double, int64, int32)"),
    };
    Ok((rows, cols, data))
}

impl Numbers<'_> {
    /// As `f32` (doubles rounded, as onnxruntime's casts do).
    pub(crate) fn to_f32(&self) -> Cow<'_, [f32]> {
        match self {
            Numbers::F32(v) => Cow::Borrowed(v),
            Numbers::F64(v) => Cow::Owned(v.iter().map(|&x| x as f32).collect()),
        }
    }
}

fn f32_matrix(rows: usize, cols: usize, data: &[f32]) -> TractResult<TValue> {
    Ok(Tensor::from_shape(&[rows, cols], data)?.into_tvalue())
}

/// onnxruntime's `ComputeLogistic` (float).
pub(crate) fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// onnxruntime's `ComputeSoftmax` on one row (float).
pub(crate) fn softmax(row: &mut [f32]) {
    let mut v_max = -f32::MAX;
    for &v in row.iter() {
        if v > v_max {
            v_max = v;
        }
    }
    let mut sum = 0f32;
    for v in row.iter_mut() {
        *v = (*v - v_max).exp();
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// onnxruntime's `ComputeSoftmaxZero` on one row: zeros stay (scaled) zeros.
pub(crate) fn softmax_zero(row: &mut [f32]) {
    let mut v_max = -f32::MAX;
    for &v in row.iter() {
        if v > v_max {
            v_max = v;
        }
    }
    let exp_neg_v_max = (-v_max).exp();
    let mut sum = 0f32;
    for v in row.iter_mut() {
        if *v > 0.000_000_1 || *v < -0.000_000_1 {
            *v = (*v - v_max).exp();
            sum += *v;
        } else {
            *v *= exp_neg_v_max;
        }
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// The `post_transform` attribute of classifiers and regressors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Post {
    None,
    Logistic,
    Softmax,
    SoftmaxZero,
}

pub(crate) fn post_transform(node: &NodeProto) -> TractResult<Post> {
    Ok(
        match node
            .get_attr_opt::<&str>("post_transform")?
            .unwrap_or("NONE")
        {
            "NONE" => Post::None,
            "LOGISTIC" => Post::Logistic,
            "SOFTMAX" => Post::Softmax,
            "SOFTMAX_ZERO" => Post::SoftmaxZero,
            other => bail!(
                "post_transform {other} is not supported (NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO)"
            ),
        },
    )
}

impl Post {
    /// Applies the transform to one row of two or more scores.
    pub(crate) fn apply_row(self, row: &mut [f32]) {
        match self {
            Post::None => {}
            Post::Logistic => row.iter_mut().for_each(|v| *v = logistic(*v)),
            Post::Softmax => softmax(row),
            Post::SoftmaxZero => softmax_zero(row),
        }
    }
}

/// Class labels: integers or strings (exactly one of the two attributes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Labels {
    Ints(Vec<i64>),
    Strings(Vec<String>),
}

impl Labels {
    pub(crate) fn parse(node: &NodeProto, ints_attr: &str) -> TractResult<Labels> {
        let ints = node.get_attr_opt_vec::<i64>(ints_attr)?;
        let strs = node.get_attr_opt_vec::<String>("classlabels_strings")?;
        match (ints, strs) {
            (Some(i), None) if !i.is_empty() => Ok(Labels::Ints(i)),
            (None, Some(s)) if !s.is_empty() => Ok(Labels::Strings(s)),
            (Some(_), Some(_)) => bail!("has both {ints_attr} and classlabels_strings"),
            _ => bail!("has neither {ints_attr} nor classlabels_strings"),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Labels::Ints(v) => v.len(),
            Labels::Strings(v) => v.len(),
        }
    }

    pub(crate) fn datum_type(&self) -> DatumType {
        match self {
            Labels::Ints(_) => DatumType::I64,
            Labels::Strings(_) => DatumType::String,
        }
    }

    /// The label tensor for per-row label indices (`Err` for an index out of range).
    pub(crate) fn tensor(&self, picks: &[Pick]) -> TractResult<TValue> {
        Ok(match self {
            Labels::Ints(v) => {
                let out: Vec<i64> = picks
                    .iter()
                    .map(|p| match *p {
                        Pick::Index(i) => v.get(i).copied().context("label index out of range"),
                        Pick::Raw(r) => Ok(r),
                    })
                    .collect::<TractResult<_>>()?;
                tensor1(&out).into_tvalue()
            }
            Labels::Strings(v) => {
                let out: Vec<String> = picks
                    .iter()
                    .map(|p| {
                        let i = match *p {
                            Pick::Index(i) => i,
                            Pick::Raw(r) => usize::try_from(r).unwrap_or(usize::MAX),
                        };
                        v.get(i).cloned().context("label index out of range")
                    })
                    .collect::<TractResult<_>>()?;
                tensor1(&out).into_tvalue()
            }
        })
    }
}

/// A row's label: an index into the class labels, or (onnxruntime's fallbacks) a raw
/// value: `1`/`0` for integer labels, the index for string labels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pick {
    Index(usize),
    Raw(i64),
}

/// Rules shared by classifiers: `[N, F]` in, labels `[N]` and scores `[N, C]` out.
pub(crate) fn classifier_rules<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
    labels: DatumType,
    classes: usize,
) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 2)?;
    s.equals(&outputs[0].datum_type, labels)?;
    s.equals(&outputs[1].datum_type, DatumType::F32)?;
    s.equals(&inputs[0].rank, 2)?;
    s.equals(&outputs[0].rank, 1)?;
    s.equals(&outputs[1].rank, 2)?;
    s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
    s.equals(&outputs[1].shape[0], &inputs[0].shape[0])?;
    s.equals(&outputs[1].shape[1], classes.to_dim())?;
    Ok(())
}

pub(crate) fn classifier_facts(
    inputs: &[&TypedFact],
    labels: DatumType,
    classes: usize,
) -> TractResult<TVec<TypedFact>> {
    ensure!(inputs[0].rank() == 2, "expects a matrix (rows x features)");
    let n = inputs[0].shape[0].clone();
    Ok(tvec!(
        labels.fact([n.clone()]),
        DatumType::F32.fact([n, classes.to_dim()])
    ))
}

// ---------------------------------------------------------------------------------------
// Scaler

/// `Y = (X - offset) * scale`, per feature (or one offset/scale for all); computed in
/// the input's precision, output float.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

fn scaler(_ctx: &ParsingContext<'_>, node: &NodeProto) -> Built {
    let scale = node.get_attr_opt_vec::<f32>("scale")?.unwrap_or_default();
    let offset = node.get_attr_opt_vec::<f32>("offset")?.unwrap_or_default();
    ensure!(!scale.is_empty(), "Scaler without scale");
    ensure!(
        scale.len() == offset.len(),
        "Scaler: scale has {} values, offset {}",
        scale.len(),
        offset.len()
    );
    built(Scaler { offset, scale })
}

/// Shape rules of an op mapping one numeric tensor to an `f32` tensor of the same shape
/// (Scaler, Normalizer).
fn elementwise_f32_rules<'r, 'p: 'r>(
    s: &mut Solver<'r>,
    inputs: &'p [TensorProxy],
    outputs: &'p [TensorProxy],
) -> InferenceResult {
    check_input_arity(inputs, 1)?;
    check_output_arity(outputs, 1)?;
    s.equals(&outputs[0].datum_type, DatumType::F32)?;
    s.equals(&inputs[0].shape, &outputs[0].shape)?;
    Ok(())
}

/// Output facts of such an op: `f32` of the input's shape.
fn elementwise_f32_facts(inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
    Ok(tvec!(DatumType::F32.fact(inputs[0].shape.clone())))
}

impl Kernel for Scaler {
    fn name(&self) -> &'static str {
        "Scaler"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        elementwise_f32_rules(s, inputs, outputs)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        elementwise_f32_facts(inputs)
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, cols, data) = numbers(x)?;
        let per_feature = self.scale.len() == cols;
        ensure!(
            per_feature || self.scale.len() == 1,
            "Scaler has {} scales for {cols} features: either both scale and offset have one \
             value per feature or one value",
            self.scale.len()
        );
        let at = |i: usize| if per_feature { i % cols } else { 0 };
        let out: Vec<f32> = match data {
            Numbers::F32(v) => v
                .iter()
                .enumerate()
                .map(|(i, &x)| (x - self.offset[at(i)]) * self.scale[at(i)])
                .collect(),
            Numbers::F64(v) => v
                .iter()
                .enumerate()
                .map(|(i, &x)| {
                    ((x - f64::from(self.offset[at(i)])) * f64::from(self.scale[at(i)])) as f32
                })
                .collect(),
        };
        let mut t = Tensor::from_shape(&[rows * cols], &out)?;
        t.set_shape(x.shape())?;
        Ok(tvec!(t.into_tvalue()))
    }
}

// ---------------------------------------------------------------------------------------
// Normalizer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Norm {
    Max,
    L1,
    L2,
}

/// Row normalisation as onnxruntime does it: `MAX` divides by the largest value (not
/// magnitude), `L1` by the sum of magnitudes, `L2` by the root of the sum of squares;
/// a row whose divisor is zero is copied unchanged.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Normalizer {
    norm: Norm,
}

fn normalizer(_ctx: &ParsingContext<'_>, node: &NodeProto) -> Built {
    let norm = match node.get_attr_opt::<&str>("norm")?.unwrap_or("MAX") {
        "MAX" => Norm::Max,
        "L1" => Norm::L1,
        "L2" => Norm::L2,
        other => bail!("Normalizer norm {other} is not MAX, L1 or L2"),
    };
    built(Normalizer { norm })
}

impl Kernel for Normalizer {
    fn name(&self) -> &'static str {
        "Normalizer"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        elementwise_f32_rules(s, inputs, outputs)
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        elementwise_f32_facts(inputs)
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let (rows, cols, data) = numbers(x)?;
        // onnxruntime squares in the input's precision, then rounds to float.
        let squares: Vec<f32> = match &data {
            Numbers::F32(v) => v.iter().map(|&x| x * x).collect(),
            Numbers::F64(v) => v.iter().map(|&x| (x * x) as f32).collect(),
        };
        let negative: Vec<bool> = match &data {
            Numbers::F32(v) => v.iter().map(|&x| x < 0.0).collect(),
            Numbers::F64(v) => v.iter().map(|&x| x < 0.0).collect(),
        };
        let v = data.to_f32();
        let mut out = vec![0f32; rows * cols];
        for r in 0..rows {
            let row = &v[r * cols..(r + 1) * cols];
            let o = &mut out[r * cols..(r + 1) * cols];
            match self.norm {
                Norm::Max => {
                    let max = row.iter().fold(f32::MIN, |m, &x| m.max(x));
                    for (o, &x) in o.iter_mut().zip(row) {
                        *o = if max != 0.0 { x / max } else { x };
                    }
                }
                Norm::L1 => {
                    let sum: f32 = row.iter().fold(0.0, |s, &x| s + x.abs());
                    for (o, &x) in o.iter_mut().zip(row) {
                        *o = if sum != 0.0 { x / sum } else { x };
                    }
                }
                Norm::L2 => {
                    let sq = &squares[r * cols..(r + 1) * cols];
                    let sum: f32 = sq.iter().fold(0.0, |s, &x| s + x);
                    for (i, o) in o.iter_mut().enumerate() {
                        *o = if sum != 0.0 {
                            let m = (sq[i] / sum).sqrt();
                            if negative[r * cols + i] { -m } else { m }
                        } else {
                            row[i]
                        };
                    }
                }
            }
        }
        let mut t = Tensor::from_shape(&[rows * cols], &out)?;
        t.set_shape(x.shape())?;
        Ok(tvec!(t.into_tvalue()))
    }
}

// ---------------------------------------------------------------------------------------
// LinearClassifier

/// `scores = X · Wᵀ + b` (float), labels by the largest raw score (or `score > 0` for a
/// single model), then the post transform. With one model and two class labels the
/// scores become two columns `[1 - p, p]` (onnxruntime's binary layout).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinearClassifier {
    labels: Labels,
    /// targets × features, row-major.
    coefficients: Vec<f32>,
    intercepts: Vec<f32>,
    post: Post,
}

fn linear_classifier(_ctx: &ParsingContext<'_>, node: &NodeProto) -> Built {
    let labels = Labels::parse(node, "classlabels_ints")?;
    let coefficients = node.get_attr_vec::<f32>("coefficients")?;
    let intercepts = node
        .get_attr_opt_vec::<f32>("intercepts")?
        .unwrap_or_default();
    ensure!(
        !intercepts.is_empty(),
        "LinearClassifier without intercepts is not supported"
    );
    ensure!(
        !coefficients.is_empty() && coefficients.len() % intercepts.len() == 0,
        "LinearClassifier: {} coefficients for {} models",
        coefficients.len(),
        intercepts.len()
    );
    let post = post_transform(node)?;
    if intercepts.len() == 1 {
        ensure!(
            matches!(post, Post::None | Post::Logistic) && labels.len() == 2,
            "LinearClassifier with one model supports two class labels and NONE or LOGISTIC"
        );
    } else {
        ensure!(
            labels.len() == intercepts.len(),
            "LinearClassifier: {} class labels for {} models",
            labels.len(),
            intercepts.len()
        );
    }
    built(LinearClassifier {
        labels,
        coefficients,
        intercepts,
        post,
    })
}

impl LinearClassifier {
    fn columns(&self) -> usize {
        if self.intercepts.len() == 1 {
            2
        } else {
            self.intercepts.len()
        }
    }
}

impl Kernel for LinearClassifier {
    fn name(&self) -> &'static str {
        "LinearClassifier"
    }

    fn n_outputs(&self) -> usize {
        2
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        classifier_rules(s, inputs, outputs, self.labels.datum_type(), self.columns())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        classifier_facts(inputs, self.labels.datum_type(), self.columns())
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (rows, cols, data) = numbers(&inputs[0])?;
        let x = data.to_f32();
        let targets = self.intercepts.len();
        ensure!(
            self.coefficients.len() == targets * cols,
            "LinearClassifier has {} coefficients per model, the input has {cols} features",
            self.coefficients.len() / targets
        );
        let width = self.columns();
        let mut scores = vec![0f32; rows * width];
        let mut picks = Vec::with_capacity(rows);
        let mut raw = vec![0f32; targets];
        for r in 0..rows {
            let xr = &x[r * cols..(r + 1) * cols];
            for (t, out) in raw.iter_mut().enumerate() {
                let w = &self.coefficients[t * cols..(t + 1) * cols];
                let dot = xr.iter().zip(w).fold(0f32, |s, (a, b)| s + a * b);
                *out = dot + self.intercepts[t];
            }
            let row = &mut scores[r * width..(r + 1) * width];
            if targets == 1 {
                let s = raw[0];
                picks.push(Pick::Index(usize::from(s > 0.0)));
                let p = match self.post {
                    Post::Logistic => logistic(s),
                    _ => s,
                };
                row[0] = 1.0 - p;
                row[1] = p;
            } else {
                let mut best = 0;
                for t in 1..targets {
                    if raw[t] > raw[best] {
                        best = t;
                    }
                }
                picks.push(Pick::Index(best));
                row.copy_from_slice(&raw);
                self.post.apply_row(row);
            }
        }
        Ok(tvec!(
            self.labels.tensor(&picks)?,
            f32_matrix(rows, width, &scores)?
        ))
    }
}

// ---------------------------------------------------------------------------------------
// ArrayFeatureExtractor

/// `Z = X[..., indices]` with constant indices (skl2onnx always gives an initializer);
/// a rank-1 input gives `[1, K]`, as in onnxruntime.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ArrayFeatureExtractor;

fn array_feature_extractor(_ctx: &ParsingContext<'_>, _node: &NodeProto) -> Built {
    built(ArrayFeatureExtractor)
}

fn const_indices(t: &Tensor) -> TractResult<Vec<i64>> {
    Ok(t.cast_to::<i64>()?
        .try_as_plain_ram()?
        .as_slice::<i64>()?
        .to_vec())
}

impl Kernel for ArrayFeatureExtractor {
    fn name(&self) -> &'static str {
        "ArrayFeatureExtractor"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.given_2(
            &inputs[0].rank,
            &inputs[1].value,
            move |s, rank, indices| {
                let k = indices.len();
                if rank <= 1 {
                    s.equals(&outputs[0].rank, 2)?;
                    s.equals(&outputs[0].shape[0], 1.to_dim())?;
                    s.equals(&outputs[0].shape[1], k.to_dim())?;
                } else {
                    let rank = rank as usize;
                    s.equals(&outputs[0].rank, rank as i64)?;
                    for i in 0..rank - 1 {
                        s.equals(&outputs[0].shape[i], &inputs[0].shape[i])?;
                    }
                    s.equals(&outputs[0].shape[rank - 1], k.to_dim())?;
                }
                Ok(())
            },
        )?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let indices = inputs[1]
            .konst
            .as_ref()
            .context("ArrayFeatureExtractor needs constant indices")?;
        let k = indices.len();
        let shape: TVec<TDim> = if inputs[0].rank() <= 1 {
            tvec!(1.to_dim(), k.to_dim())
        } else {
            let mut s: TVec<TDim> = inputs[0].shape.iter().cloned().collect();
            let last = s.len() - 1;
            s[last] = k.to_dim();
            s
        };
        Ok(tvec!(inputs[0].datum_type.fact(shape)))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let indices = const_indices(&inputs[1])?;
        ensure!(!indices.is_empty(), "ArrayFeatureExtractor without indices");
        ensure!(
            x.rank() >= 1,
            "ArrayFeatureExtractor input has no dimensions"
        );
        let stride = x.shape()[x.rank() - 1];
        let idx: Vec<usize> = indices
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .filter(|&u| u < stride)
                    .with_context(|| format!("index {i} is out of range (< {stride})"))
            })
            .collect::<TractResult<_>>()?;
        let outer = x.len() / stride.max(1);
        let mut shape: Vec<usize> = if x.rank() == 1 {
            vec![1, idx.len()]
        } else {
            x.shape().to_vec()
        };
        let last = shape.len() - 1;
        shape[last] = idx.len();
        fn pick<T: Datum + Clone>(
            x: &Tensor,
            idx: &[usize],
            outer: usize,
            stride: usize,
            shape: &[usize],
        ) -> TractResult<Tensor> {
            let v = x.try_as_plain_ram()?.as_slice::<T>()?;
            let mut out = Vec::with_capacity(outer * idx.len());
            for o in 0..outer {
                for &i in idx {
                    out.push(v[o * stride + i].clone());
                }
            }
            let mut t = tensor1(&out);
            t.set_shape(shape)?;
            Ok(t)
        }
        let t = match x.datum_type() {
            DatumType::F32 => pick::<f32>(x, &idx, outer, stride, &shape)?,
            DatumType::F64 => pick::<f64>(x, &idx, outer, stride, &shape)?,
            DatumType::I64 => pick::<i64>(x, &idx, outer, stride, &shape)?,
            DatumType::I32 => pick::<i32>(x, &idx, outer, stride, &shape)?,
            DatumType::String => pick::<String>(x, &idx, outer, stride, &shape)?,
            dt => bail!("ArrayFeatureExtractor does not take {dt:?}"),
        };
        Ok(tvec!(t.into_tvalue()))
    }
}
