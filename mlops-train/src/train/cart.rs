//! Our own small CART ([`Tree`]): deterministic, serialisable, with class counts in
//! every leaf (see the parent module for why it is not linfa-trees).

use ndarray::{Array2, ArrayView1};
use serde::{Deserialize, Serialize};

use super::config::Criterion;

/// A node of our serialisable tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "node", rename_all = "snake_case")]
pub enum Node {
    /// `x[feature] < threshold` goes left.
    Split {
        /// Column of the feature matrix.
        feature: usize,
        /// Threshold.
        threshold: f64,
        /// Index of the left child.
        left: usize,
        /// Index of the right child.
        right: usize,
    },
    /// A leaf with the class counts of the training rows that reach it.
    Leaf {
        /// The class with the largest count.
        prediction: usize,
        /// Training rows per class.
        counts: Vec<f64>,
    },
}

/// A decision tree in our own serde form (nodes in depth-first order, root first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Columns of the feature matrix this tree may split on (a forest's subset).
    pub features: Vec<usize>,
    /// The nodes.
    pub nodes: Vec<Node>,
}

/// Tree-growing limits.
pub(super) struct Grow {
    pub(super) max_depth: Option<usize>,
    pub(super) min_split: usize,
    pub(super) min_leaf: usize,
    pub(super) criterion: Criterion,
    pub(super) k: usize,
}

fn impurity(counts: &[f64], total: f64, criterion: Criterion) -> f64 {
    if total == 0.0 {
        return 0.0;
    }
    match criterion {
        Criterion::Gini => 1.0 - counts.iter().map(|c| (c / total).powi(2)).sum::<f64>(),
        Criterion::Entropy => -counts
            .iter()
            .filter(|&&c| c > 0.0)
            .map(|c| {
                let p = c / total;
                p * p.log2()
            })
            .sum::<f64>(),
    }
}

impl Tree {
    /// Grows a CART tree on `rows` (may repeat: bootstrap) using the columns `features`.
    /// Deterministic: features are tried in order, thresholds in increasing order, and
    /// only a strictly better split replaces the best so far.
    pub(super) fn grow(
        x: &Array2<f64>,
        y: &[usize],
        rows: Vec<usize>,
        features: Vec<usize>,
        g: &Grow,
    ) -> Tree {
        let mut t = Tree {
            features,
            nodes: Vec::new(),
        };
        t.grow_node(x, y, rows, 0, g);
        t
    }

    fn grow_node(
        &mut self,
        x: &Array2<f64>,
        y: &[usize],
        rows: Vec<usize>,
        depth: usize,
        g: &Grow,
    ) -> usize {
        let mut counts = vec![0.0; g.k];
        for &r in &rows {
            counts[y[r]] += 1.0;
        }
        let total = rows.len() as f64;
        let me = self.nodes.len();
        let prediction = argmax(&counts);
        self.nodes.push(Node::Leaf {
            prediction,
            counts: counts.clone(),
        });
        let pure = counts.iter().filter(|&&c| c > 0.0).count() <= 1;
        if pure || rows.len() < g.min_split || g.max_depth.is_some_and(|d| depth >= d) {
            return me;
        }
        let parent = impurity(&counts, total, g.criterion);
        let mut best: Option<(f64, usize, f64)> = None; // (weighted impurity, feature, threshold)
        let mut sorted = rows.clone();
        for &f in &self.features {
            sorted.sort_by(|&a, &b| x[[a, f]].total_cmp(&x[[b, f]]).then(a.cmp(&b)));
            let mut left = vec![0.0; g.k];
            for i in 0..sorted.len() - 1 {
                left[y[sorted[i]]] += 1.0;
                let (a, b) = (x[[sorted[i], f]], x[[sorted[i + 1], f]]);
                if a >= b {
                    continue;
                }
                let nl = i + 1;
                let nr = sorted.len() - nl;
                if nl < g.min_leaf || nr < g.min_leaf {
                    continue;
                }
                let right: Vec<f64> = counts.iter().zip(&left).map(|(c, l)| c - l).collect();
                let w = (nl as f64 * impurity(&left, nl as f64, g.criterion)
                    + nr as f64 * impurity(&right, nr as f64, g.criterion))
                    / total;
                if best.is_none_or(|(bw, _, _)| w < bw) {
                    let mut thr = a + (b - a) / 2.0;
                    if thr <= a || thr > b {
                        thr = b;
                    }
                    best = Some((w, f, thr));
                }
            }
        }
        let Some((w, feature, threshold)) = best else {
            return me;
        };
        if w >= parent {
            return me;
        }
        let (l, r): (Vec<usize>, Vec<usize>) =
            rows.into_iter().partition(|&i| x[[i, feature]] < threshold);
        let left = self.grow_node(x, y, l, depth + 1, g);
        let right = self.grow_node(x, y, r, depth + 1, g);
        self.nodes[me] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        me
    }

    fn leaf(&self, row: ArrayView1<'_, f64>) -> usize {
        let mut i = 0;
        // Bounded by the node count: a malformed (hand-edited) tree cannot loop forever.
        for _ in 0..=self.nodes.len() {
            match &self.nodes[i] {
                Node::Leaf { .. } => return i,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    let v = row.get(*feature).copied().unwrap_or(f64::NAN);
                    let next = if v < *threshold { *left } else { *right };
                    if next >= self.nodes.len() {
                        return i;
                    }
                    i = next;
                }
            }
        }
        i
    }

    pub(super) fn proba(&self, row: ArrayView1<'_, f64>, k: usize) -> Vec<f64> {
        let mut p = vec![0.0; k];
        if let Node::Leaf { prediction, counts } = &self.nodes[self.leaf(row)] {
            let total: f64 = counts.iter().sum();
            if total > 0.0 {
                for (c, v) in counts.iter().enumerate().take(k) {
                    p[c] = v / total;
                }
            } else if *prediction < k {
                p[*prediction] = 1.0;
            }
        }
        p
    }
}

/// Index of the largest count (the smallest index on ties).
fn argmax(xs: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in xs.iter().enumerate() {
        if v > xs[best] {
            best = i;
        }
    }
    best
}
