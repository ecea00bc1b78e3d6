//! `TreeEnsembleClassifier` and `TreeEnsembleRegressor` (ai.onnx.ml v1), evaluated as
//! onnxruntime evaluates them.
//!
//! Trees are walked per row in tree order; a node sends a row to its true branch when
//! `value MODE threshold` holds (or when the value is NaN and the node tracks missing
//! values to the true branch). Leaf weights are summed per class in the input's
//! precision (`f32` for float input), then onnxruntime's finalisation runs: base values,
//! the label (largest score; for two classes the binary rules below), the post transform.
//!
//! Two classes are onnxruntime's special case, and skl2onnx relies on it: when all leaf
//! weights go to one class id (the *binary case*) the single score `s` becomes two
//! columns and decides the label: with all weights non-negative (a forest's averaged
//! probabilities) the label is positive when `s > 0.5` and the columns are `[1 - s, s]`;
//! with mixed signs (gradient boosting's log-odds) it is positive when `s > 0` and the
//! columns are `[-s, s]`, or `[σ(-s), σ(s)]` after `LOGISTIC`.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::ops::{
    Kernel, Labels, MlOp, Numbers, Pick, Post, classifier_facts, classifier_rules, logistic,
    numbers, post_transform,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Leq,
    Lt,
    Gte,
    Gt,
    Eq,
    Neq,
    Leaf,
}

#[derive(Debug, Clone, PartialEq)]
struct Node {
    feature: usize,
    threshold: f32,
    mode: Mode,
    missing_true: bool,
    true_child: usize,
    false_child: usize,
    /// (target or class id, weight) of a leaf.
    weights: Vec<(usize, f32)>,
}

/// The trees of an ensemble, nodes in one array.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Forest {
    nodes: Vec<Node>,
    roots: Vec<usize>,
    max_feature: usize,
}

impl Forest {
    fn parse(node: &NodeProto, leaf: &str, n_targets: usize) -> TractResult<Forest> {
        let ints = |name: &str| -> TractResult<Vec<i64>> {
            node.get_attr_opt_vec::<i64>(name)?
                .with_context(|| format!("missing attribute {name}"))
        };
        if node.get_attr_opt_vec::<f32>("nodes_values")?.is_none() {
            bail!(
                "has no nodes_values (the ai.onnx.ml opset 3 *_as_tensor attributes are not \
                 supported: convert with target_opset {{'ai.onnx.ml': 1}})"
            );
        }
        let tree_ids = ints("nodes_treeids")?;
        let node_ids = ints("nodes_nodeids")?;
        let features = ints("nodes_featureids")?;
        let values = node.get_attr_vec::<f32>("nodes_values")?;
        let modes = node.get_attr_vec::<String>("nodes_modes")?;
        let trues = ints("nodes_truenodeids")?;
        let falses = ints("nodes_falsenodeids")?;
        let missing = node
            .get_attr_opt_vec::<i64>("nodes_missing_value_tracks_true")?
            .unwrap_or_default();
        let n = tree_ids.len();
        ensure!(n > 0, "has no nodes");
        for (name, len) in [
            ("nodes_nodeids", node_ids.len()),
            ("nodes_featureids", features.len()),
            ("nodes_values", values.len()),
            ("nodes_modes", modes.len()),
            ("nodes_truenodeids", trues.len()),
            ("nodes_falsenodeids", falses.len()),
        ] {
            ensure!(len == n, "{name} has {len} values for {n} nodes");
        }
        let mut index = std::collections::HashMap::new();
        for i in 0..n {
            if index.insert((tree_ids[i], node_ids[i]), i).is_some() {
                bail!(
                    "node {} of tree {} is listed twice",
                    node_ids[i],
                    tree_ids[i]
                );
            }
        }
        let find = |tree: i64, id: i64, what: &str| -> TractResult<usize> {
            index
                .get(&(tree, id))
                .copied()
                .with_context(|| format!("{what} {id} of tree {tree} does not exist"))
        };
        let mut nodes = Vec::with_capacity(n);
        let mut max_feature = 0;
        for i in 0..n {
            let mode = match modes[i].as_str() {
                "BRANCH_LEQ" => Mode::Leq,
                "BRANCH_LT" => Mode::Lt,
                "BRANCH_GTE" => Mode::Gte,
                "BRANCH_GT" => Mode::Gt,
                "BRANCH_EQ" => Mode::Eq,
                "BRANCH_NEQ" => Mode::Neq,
                "LEAF" => Mode::Leaf,
                other => bail!("node mode {other} is not supported"),
            };
            let feature = usize::try_from(features[i]).context("negative feature id")?;
            let (t, f) = if mode == Mode::Leaf {
                (0, 0)
            } else {
                max_feature = max_feature.max(feature);
                let t = find(tree_ids[i], trues[i], "true node")?;
                let f = find(tree_ids[i], falses[i], "false node")?;
                ensure!(
                    t != i && f != i,
                    "node {} of tree {} points to itself",
                    node_ids[i],
                    tree_ids[i]
                );
                (t, f)
            };
            nodes.push(Node {
                feature,
                threshold: values[i],
                mode,
                missing_true: missing.get(i).copied().unwrap_or(0) == 1,
                true_child: t,
                false_child: f,
                weights: Vec::new(),
            });
        }
        let l_trees = ints(&format!("{leaf}_treeids"))?;
        let l_nodes = ints(&format!("{leaf}_nodeids"))?;
        let l_ids = ints(&format!("{leaf}_ids"))?;
        let l_weights = node.get_attr_vec::<f32>(&format!("{leaf}_weights"))?;
        ensure!(
            l_trees.len() == l_nodes.len()
                && l_nodes.len() == l_ids.len()
                && l_ids.len() == l_weights.len(),
            "the {leaf}_* attributes differ in length"
        );
        for j in 0..l_ids.len() {
            let i = find(l_trees[j], l_nodes[j], "weighted node")?;
            let id = usize::try_from(l_ids[j])
                .ok()
                .filter(|&id| id < n_targets)
                .with_context(|| format!("{leaf} id {} out of range", l_ids[j]))?;
            nodes[i].weights.push((id, l_weights[j]));
        }
        // A root wherever the tree id changes, in node order (onnxruntime's rule).
        let mut roots = Vec::new();
        for i in 0..n {
            if i == 0 || tree_ids[i] != tree_ids[i - 1] {
                roots.push(i);
            }
        }
        // Every walk must end: a branch's children are checked to be in its tree, but a
        // cycle would loop, so bound the depth.
        Ok(Forest {
            nodes,
            roots,
            max_feature,
        })
    }

    /// The leaf a row reaches from `root`.
    fn leaf<T: Copy + PartialOrd + Into<f64>>(
        &self,
        root: usize,
        row: &[T],
        threshold: impl Fn(f32) -> T,
        is_nan: impl Fn(T) -> bool,
    ) -> TractResult<&Node> {
        let mut i = root;
        for _ in 0..=self.nodes.len() {
            let n = &self.nodes[i];
            if n.mode == Mode::Leaf {
                return Ok(n);
            }
            let v = row[n.feature];
            let th = threshold(n.threshold);
            let cond = match n.mode {
                Mode::Leq => v <= th,
                Mode::Lt => v < th,
                Mode::Gte => v >= th,
                Mode::Gt => v > th,
                Mode::Eq => v == th,
                Mode::Neq => v != th,
                Mode::Leaf => unreachable!("handled above"),
            };
            i = if cond || (n.missing_true && is_nan(v)) {
                n.true_child
            } else {
                n.false_child
            };
        }
        bail!("tree walk does not end (the tree has a cycle)")
    }

    /// Per row, the leaves reached in every tree, in tree order.
    fn walk(
        &self,
        x: &Numbers<'_>,
        rows: usize,
        cols: usize,
        mut visit: impl FnMut(usize, &Node),
    ) -> TractResult<()> {
        ensure!(
            self.max_feature < cols,
            "the trees read feature {}, the input has {cols} features",
            self.max_feature
        );
        for r in 0..rows {
            for &root in &self.roots {
                let leaf = match x {
                    Numbers::F32(v) => {
                        self.leaf(root, &v[r * cols..(r + 1) * cols], |t| t, f32::is_nan)?
                    }
                    Numbers::F64(v) => {
                        self.leaf(root, &v[r * cols..(r + 1) * cols], f64::from, f64::is_nan)?
                    }
                };
                visit(r, leaf);
            }
        }
        Ok(())
    }
}

/// One accumulated score (onnxruntime's `ScoreValue`).
#[derive(Debug, Clone, Copy, Default)]
struct Score {
    score: f32,
    has: bool,
}

// ---------------------------------------------------------------------------------------
// Classifier

/// `TreeEnsembleClassifier`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TreeClassifier {
    forest: Forest,
    labels: Labels,
    base_values: Vec<f32>,
    post: Post,
    /// Two classes and every leaf weight on one class id.
    binary_case: bool,
    weights_all_positive: bool,
}

pub(crate) fn tree_classifier(
    _ctx: &ParsingContext<'_>,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let labels = Labels::parse(node, "classlabels_int64s")?;
    let classes = labels.len();
    let forest = Forest::parse(node, "class", classes)?;
    let base_values = node
        .get_attr_opt_vec::<f32>("base_values")?
        .unwrap_or_default();
    let post = post_transform(node)?;
    let ids: std::collections::BTreeSet<usize> = forest
        .nodes
        .iter()
        .flat_map(|n| n.weights.iter().map(|w| w.0))
        .collect();
    let weights_all_positive = forest
        .nodes
        .iter()
        .all(|n| n.weights.iter().all(|w| w.1 >= 0.0));
    ensure!(
        base_values.is_empty()
            || base_values.len() == classes
            || (classes == 2 && base_values.len() == 1),
        "{} base values for {classes} classes",
        base_values.len()
    );
    Ok((
        expand(MlOp(TreeClassifier {
            binary_case: classes == 2 && ids.len() == 1,
            forest,
            labels,
            base_values,
            post,
            weights_all_positive,
        })),
        vec![],
    ))
}

impl TreeClassifier {
    /// onnxruntime's `_set_score_binary`: the label, and how the single score becomes
    /// two columns (0/1: `[1 - s, s]`; 2/3: `[-s, s]` or logistic of both).
    fn binary_label(&self, classes: &[Score], mode: &mut i32) -> Pick {
        let (s0, h0) = (classes[0].score, classes[0].has);
        let (s1, h1) = match classes.get(1) {
            Some(c) if c.has => (c.score, true),
            _ => (0.0, false),
        };
        let pos_weight = if h1 {
            s1
        } else if h0 {
            s0
        } else {
            0.0
        };
        if self.binary_case {
            if self.weights_all_positive {
                if pos_weight > 0.5 {
                    *mode = 0;
                    Pick::Index(1)
                } else {
                    *mode = 1;
                    Pick::Index(0)
                }
            } else if pos_weight > 0.0 {
                *mode = 2;
                Pick::Index(1)
            } else {
                *mode = 3;
                Pick::Index(0)
            }
        } else {
            // onnxruntime returns the raw labels 1 / 0 here (indices for string labels).
            Pick::Raw(i64::from(pos_weight > 0.0))
        }
    }

    fn finalize(&self, scores: &mut Vec<Score>, out: &mut [f32]) -> TractResult<Pick> {
        let classes = self.labels.len();
        if classes > 2 {
            for (k, &b) in self.base_values.iter().enumerate() {
                if scores[k].has {
                    scores[k].score += b;
                } else {
                    scores[k] = Score {
                        score: b,
                        has: true,
                    };
                }
            }
            let mut best: Option<usize> = None;
            for (k, s) in scores.iter().enumerate() {
                if s.has && best.is_none_or(|b| s.score > scores[b].score) {
                    best = Some(k);
                }
            }
            let best = best.context("no class has a score")?;
            for (o, s) in out.iter_mut().zip(scores.iter()) {
                *o = s.score;
            }
            self.post.apply_row(out);
            return Ok(Pick::Index(best));
        }
        let mut mode = -1;
        match self.base_values.len() {
            2 => {
                if scores[1].has {
                    scores[1].score = self.base_values[1] + scores[0].score;
                    scores[0].score = -scores[1].score;
                } else {
                    scores[1].score += self.base_values[1];
                    scores[0].score += self.base_values[0];
                }
            }
            1 => {
                scores[0].score += self.base_values[0];
                if !scores[1].has {
                    scores.pop();
                }
            }
            _ => {
                mode = 3;
                if !scores[1].has {
                    scores.pop();
                }
            }
        }
        let pick = self.binary_label(scores, &mut mode);
        if scores.len() >= 2 {
            out[0] = scores[0].score;
            out[1] = scores[1].score;
            self.post.apply_row(out);
        } else {
            let s = scores[0].score;
            match mode {
                0 | 1 => {
                    out[0] = 1.0 - s;
                    out[1] = s;
                }
                _ if self.post == Post::Logistic => {
                    out[0] = logistic(-s);
                    out[1] = logistic(s);
                }
                _ => {
                    out[0] = -s;
                    out[1] = s;
                }
            }
        }
        Ok(pick)
    }
}

impl Kernel for TreeClassifier {
    fn name(&self) -> &'static str {
        "TreeEnsembleClassifier"
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
        classifier_rules(
            s,
            inputs,
            outputs,
            self.labels.datum_type(),
            self.labels.len(),
        )
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        classifier_facts(inputs, self.labels.datum_type(), self.labels.len())
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (rows, cols, x) = numbers(&inputs[0])?;
        let classes = self.labels.len();
        let mut acc = vec![Score::default(); rows * classes];
        self.forest.walk(&x, rows, cols, |r, leaf| {
            for &(id, w) in &leaf.weights {
                let s = &mut acc[r * classes + id];
                s.score += w;
                s.has = true;
            }
        })?;
        let mut out = vec![0f32; rows * classes];
        let mut picks = Vec::with_capacity(rows);
        for r in 0..rows {
            let mut scores = acc[r * classes..(r + 1) * classes].to_vec();
            picks.push(self.finalize(&mut scores, &mut out[r * classes..(r + 1) * classes])?);
        }
        Ok(tvec!(
            self.labels.tensor(&picks)?,
            Tensor::from_shape(&[rows, classes], &out)?.into_tvalue()
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Regressor

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// `TreeEnsembleRegressor`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TreeRegressor {
    forest: Forest,
    n_targets: usize,
    aggregate: Aggregate,
    base_values: Vec<f32>,
    post: Post,
}

pub(crate) fn tree_regressor(
    _ctx: &ParsingContext<'_>,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let n_targets = usize::try_from(node.get_attr::<i64>("n_targets")?)
        .ok()
        .filter(|&n| n > 0)
        .context("n_targets must be positive")?;
    let forest = Forest::parse(node, "target", n_targets)?;
    let aggregate = match node
        .get_attr_opt::<&str>("aggregate_function")?
        .unwrap_or("SUM")
    {
        "SUM" => Aggregate::Sum,
        "AVERAGE" => Aggregate::Average,
        "MIN" => Aggregate::Min,
        "MAX" => Aggregate::Max,
        other => bail!("aggregate_function {other} is not SUM, AVERAGE, MIN or MAX"),
    };
    let post = post_transform(node)?;
    ensure!(
        n_targets > 1 || post == Post::None,
        "a single-target regressor supports post_transform NONE only"
    );
    Ok((
        expand(MlOp(TreeRegressor {
            forest,
            n_targets,
            aggregate,
            base_values: node
                .get_attr_opt_vec::<f32>("base_values")?
                .unwrap_or_default(),
            post,
        })),
        vec![],
    ))
}

impl Kernel for TreeRegressor {
    fn name(&self) -> &'static str {
        "TreeEnsembleRegressor"
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, DatumType::F32)?;
        s.equals(&inputs[0].rank, 2)?;
        s.equals(&outputs[0].rank, 2)?;
        s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
        s.equals(&outputs[0].shape[1], self.n_targets.to_dim())?;
        Ok(())
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(inputs[0].rank() == 2, "expects a matrix (rows x features)");
        Ok(tvec!(DatumType::F32.fact([
            inputs[0].shape[0].clone(),
            self.n_targets.to_dim()
        ])))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (rows, cols, x) = numbers(&inputs[0])?;
        let t = self.n_targets;
        let mut acc = vec![Score::default(); rows * t];
        let single = t == 1;
        let agg = self.aggregate;
        self.forest.walk(&x, rows, cols, |r, leaf| {
            if single {
                // onnxruntime reads only a leaf's first weight for one target.
                let Some(&(_, w)) = leaf.weights.first() else {
                    return;
                };
                let s = &mut acc[r];
                match agg {
                    Aggregate::Sum | Aggregate::Average => s.score += w,
                    Aggregate::Min => {
                        if !s.has || w < s.score {
                            s.score = w;
                        }
                        s.has = true;
                    }
                    Aggregate::Max => {
                        if !s.has || w > s.score {
                            s.score = w;
                        }
                        s.has = true;
                    }
                }
                return;
            }
            for &(id, w) in &leaf.weights {
                let s = &mut acc[r * t + id];
                match agg {
                    Aggregate::Sum | Aggregate::Average => s.score += w,
                    Aggregate::Min => {
                        if !s.has || w < s.score {
                            s.score = w;
                        }
                    }
                    Aggregate::Max => {
                        if !s.has || w > s.score {
                            s.score = w;
                        }
                    }
                }
                s.has = true;
            }
        })?;
        let n_trees = self.forest.roots.len() as f32;
        let use_base = self.base_values.len() == t;
        let origin = if self.base_values.len() == 1 {
            self.base_values[0]
        } else {
            0.0
        };
        let mut out = vec![0f32; rows * t];
        for r in 0..rows {
            let row = &mut out[r * t..(r + 1) * t];
            let sc = &acc[r * t..(r + 1) * t];
            if single {
                let s = sc[0];
                row[0] = match agg {
                    Aggregate::Sum => s.score + origin,
                    Aggregate::Average => s.score / n_trees + origin,
                    Aggregate::Min | Aggregate::Max => {
                        if s.has {
                            s.score + origin
                        } else {
                            origin
                        }
                    }
                };
                continue;
            }
            for k in 0..t {
                let base = if use_base { self.base_values[k] } else { 0.0 };
                row[k] = match agg {
                    Aggregate::Sum => {
                        if use_base {
                            sc[k].score + base
                        } else {
                            sc[k].score
                        }
                    }
                    Aggregate::Average => sc[k].score / n_trees + base,
                    Aggregate::Min | Aggregate::Max => {
                        base + if sc[k].has { sc[k].score } else { 0.0 }
                    }
                };
            }
            self.post.apply_row(row);
        }
        Ok(tvec!(Tensor::from_shape(&[rows, t], &out)?.into_tvalue()))
    }
}
