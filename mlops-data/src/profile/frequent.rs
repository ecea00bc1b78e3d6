//! Frequent values with a mergeable Misra-Gries summary.
//!
//! Up to `capacity` distinct values are counted exactly. Past that, the summary keeps
//! the `capacity` heaviest counters and subtracts the next count from all of them
//! (Misra-Gries; the mergeable form of Agarwal et al., "Mergeable summaries", 2012).
//! Every reported count is then at most [`FrequentItems::max_error`] below the true
//! count, and `max_error <= n / (capacity + 1)`. Merging adds counters and reduces
//! again, which depends only on the multiset of counters, so it is commutative; while
//! no reduction happened (`max_error == 0`) the counts are exact and the merge is
//! exactly the summary of the union.
//!
//! Numeric columns use the same summary, keyed by the value's shortest round-trip
//! text (`1.5`, `3`); a batch of sorted values is first reduced as runs of equal
//! values, so a continuous column (a million distinct values) costs one pass and no
//! string per value.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use serde::{Deserialize, Serialize};

/// Default number of counters kept.
pub const DEFAULT_TOP_K_CAPACITY: u32 = 128;

/// A frequent-values summary of a column (categorical values, or numeric values as text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrequentItems {
    /// Counters kept.
    pub capacity: u32,
    /// Values and their (lower-bound) counts.
    pub counts: BTreeMap<String, u64>,
    /// Largest possible undercount of any value (0: all counts are exact and every
    /// value seen is present).
    pub max_error: u64,
}

impl FrequentItems {
    /// An empty summary with `capacity` counters (at least 1).
    pub fn new(capacity: u32) -> FrequentItems {
        FrequentItems {
            capacity: capacity.max(1),
            counts: BTreeMap::new(),
            max_error: 0,
        }
    }

    /// Adds `count` occurrences of `value`. Call [`reduce`](Self::reduce) after a
    /// batch of additions.
    pub fn add(&mut self, value: &str, count: u64) {
        if let Some(c) = self.counts.get_mut(value) {
            *c += count;
        } else {
            self.counts.insert(value.to_string(), count);
        }
    }

    /// Brings the summary back to `capacity` counters.
    pub fn reduce(&mut self) {
        let cap = self.capacity as usize;
        if self.counts.len() <= cap {
            return;
        }
        let mut c: Vec<u64> = self.counts.values().copied().collect();
        c.sort_unstable_by(|a, b| b.cmp(a));
        let cut = c[cap];
        self.counts.retain(|_, v| {
            *v = v.saturating_sub(cut);
            *v > 0
        });
        self.max_error += cut;
    }

    /// Merges `other` into `self` (the smaller capacity wins, so the bound holds).
    pub fn merge(&mut self, other: &FrequentItems) {
        self.capacity = self.capacity.min(other.capacity);
        for (v, c) in &other.counts {
            self.add(v, *c);
        }
        self.max_error += other.max_error;
        self.reduce();
    }

    /// Adds a batch of finite values sorted ascending: equal values are counted as
    /// runs, the batch is reduced to `capacity` counters on its own (a Misra-Gries
    /// summary of the batch) and merged in, which keeps the bound.
    pub(crate) fn add_sorted_f64(&mut self, sorted: &[f64]) {
        // Two passes over the runs, no allocation per value: the (capacity+1)-th
        // largest run length is the batch's Misra-Gries cut (0 when there are at most
        // `capacity` runs); then only runs longer than the cut become counters.
        let cap = self.capacity as usize;
        let mut heap: BinaryHeap<Reverse<u64>> = BinaryHeap::with_capacity(cap + 2);
        for_each_run(sorted, |_, n| {
            if heap.len() <= cap {
                heap.push(Reverse(n));
            } else if heap.peek().is_some_and(|m| n > m.0) {
                heap.pop();
                heap.push(Reverse(n));
            }
        });
        let cut = if heap.len() > cap {
            heap.peek().map_or(0, |m| m.0)
        } else {
            0
        };
        let mut batch = FrequentItems::new(self.capacity);
        for_each_run(sorted, |v, n| {
            if n > cut {
                // -0.0 and 0.0 are one value.
                let v = if v == 0.0 { 0.0 } else { v };
                batch.add(&v.to_string(), n - cut);
            }
        });
        batch.max_error = cut;
        self.merge(&batch);
    }

    /// Whether every count is exact and every distinct value is present.
    pub fn is_exact(&self) -> bool {
        self.max_error == 0
    }

    /// The `k` most frequent values, heaviest first (ties by value).
    pub fn top(&self, k: usize) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self.counts.iter().map(|(s, c)| (s.clone(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(k);
        v
    }
}

/// Calls `f(value, length)` for each run of equal values of a sorted slice.
fn for_each_run(sorted: &[f64], mut f: impl FnMut(f64, u64)) {
    let mut i = 0;
    while i < sorted.len() {
        let v = sorted[i];
        let mut j = i + 1;
        while j < sorted.len() && sorted[j] == v {
            j += 1;
        }
        f(v, (j - i) as u64);
        i = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_numeric_runs() {
        let mut f = FrequentItems::new(3);
        f.add_sorted_f64(&[-0.0, 0.0, 1.5, 1.5, 1.5, 3.0]);
        assert!(f.is_exact());
        assert_eq!(f.top(2), vec![("1.5".to_string(), 3), ("0".to_string(), 2)]);
        f.add_sorted_f64(&[7.0, 8.0, 9.0]);
        assert!(f.max_error <= 9 / 4);
        assert!(f.counts["1.5"] + f.max_error >= 3);
    }

    #[test]
    fn exact_until_capacity_then_bounded() {
        let mut f = FrequentItems::new(4);
        for (v, c) in [("a", 10), ("b", 5), ("c", 3), ("d", 1)] {
            f.add(v, c);
        }
        f.reduce();
        assert!(f.is_exact());
        f.add("e", 1);
        f.add("f", 1);
        f.reduce();
        assert!(f.max_error <= 21 / 5);
        assert_eq!(f.top(1)[0].0, "a");
        assert!(f.counts["a"] + f.max_error >= 10);
    }
}
