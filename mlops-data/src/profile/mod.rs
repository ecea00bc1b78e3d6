//! Mergeable dataset profiles: the summary statistics of every column, in a form that
//! can be computed on partitions anywhere and merged.
//!
//! A [`Profile`] holds one [`ColumnProfile`] per column. Exact parts (counts, nulls,
//! NaN and infinity counts, min/max, mean and variance via [`Moments`]) merge exactly;
//! sketches merge within a stated error: the [`QuantileSketch`] carries a guaranteed
//! rank-error bound, the [`HyperLogLog`] distinct count a standard error of
//! `1.04/sqrt(2^p)`, and [`FrequentItems`] a bound on every count's undercount. So
//! profiling shards separately and merging the small results equals profiling the
//! whole, which is how profiles scale past one machine.
//!
//! Statistics cover *finite* values: nulls, NaN and ±inf are counted separately and
//! kept out of means, quantiles and histograms (a NaN in a mean hides every other
//! value). Numeric columns (integers, floats, temporal types via their physical
//! integers) get moments, quantiles and a histogram; categorical columns (strings,
//! categoricals, booleans) get frequent values; numeric columns get them too (keyed
//! by the value's text); both get a distinct count.
//!
//! [`Profile::of_lazy`] and [`Profile::of_path`] run polars' streaming engine and
//! profile batch by batch, so a Parquet file larger than memory profiles in the memory
//! of one batch plus the sketches.

mod frequent;
mod hll;
mod moments;
mod sketch;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex};

use mlops_core::Digest;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

pub use frequent::{DEFAULT_TOP_K_CAPACITY, FrequentItems};
pub(crate) use hll::mix64;
pub use hll::{DEFAULT_HLL_PRECISION, HyperLogLog, hash_f64, hash_str};
pub use moments::Moments;
pub use sketch::{DEFAULT_SKETCH_K, QuantileSketch};

use crate::{Error, Result};

/// How large the sketches of a profile are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileOptions {
    /// Items per level of the quantile sketch ([`DEFAULT_SKETCH_K`]).
    pub sketch_k: u32,
    /// HyperLogLog precision ([`DEFAULT_HLL_PRECISION`]).
    pub hll_precision: u8,
    /// Counters of the frequent-values summary ([`DEFAULT_TOP_K_CAPACITY`]).
    pub top_k_capacity: u32,
    /// Rows per batch when streaming a lazy frame.
    pub batch_rows: usize,
}

impl Default for ProfileOptions {
    fn default() -> ProfileOptions {
        ProfileOptions {
            sketch_k: DEFAULT_SKETCH_K,
            hll_precision: DEFAULT_HLL_PRECISION,
            top_k_capacity: DEFAULT_TOP_K_CAPACITY,
            batch_rows: 1 << 18,
        }
    }
}

/// What statistics a column gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Integers, floats, dates and times: moments, quantiles, histogram.
    Numeric,
    /// Strings, categoricals, booleans: frequent values.
    Categorical,
    /// Anything else (lists, structs, binary): counts only.
    Other,
}

impl ColumnKind {
    /// The kind polars' dtype maps to.
    pub fn of_dtype(dtype: &DataType) -> ColumnKind {
        if dtype.is_primitive_numeric() || dtype.is_temporal() || dtype.is_decimal() {
            ColumnKind::Numeric
        } else if dtype.is_string() || dtype.is_bool() || dtype.is_categorical() || dtype.is_enum()
        {
            ColumnKind::Categorical
        } else {
            ColumnKind::Other
        }
    }
}

/// The profile of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    /// polars dtype, as polars prints it.
    pub dtype: String,
    /// Which statistics apply.
    pub kind: ColumnKind,
    /// Rows, including nulls.
    pub count: u64,
    /// Null rows.
    pub null_count: u64,
    /// NaN values (floats only), not counted as nulls.
    pub nan_count: u64,
    /// +inf values.
    pub pos_inf_count: u64,
    /// -inf values.
    pub neg_inf_count: u64,
    /// Moments of the finite values (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moments: Option<Moments>,
    /// Quantile sketch of the finite values (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<QuantileSketch>,
    /// Distinct non-null values (finite values for numeric columns).
    pub distinct: HyperLogLog,
    /// Frequent values (categorical columns; numeric ones keyed by the value's text,
    /// finite values only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequent: Option<FrequentItems>,
}

/// An equal-width histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// `bins + 1` edges; bin `i` is `(edges[i], edges[i+1]]`, the first also holds `edges[0]`.
    pub edges: Vec<f64>,
    /// Counts per bin (from the quantile sketch: each within twice its rank-error bound).
    pub counts: Vec<u64>,
}

impl ColumnProfile {
    /// An empty profile for a column of `dtype`.
    pub fn empty(dtype: &DataType, options: &ProfileOptions) -> ColumnProfile {
        let kind = ColumnKind::of_dtype(dtype);
        ColumnProfile {
            dtype: dtype.to_string(),
            kind,
            count: 0,
            null_count: 0,
            nan_count: 0,
            pos_inf_count: 0,
            neg_inf_count: 0,
            moments: (kind == ColumnKind::Numeric).then(Moments::default),
            quantiles: (kind == ColumnKind::Numeric).then(|| QuantileSketch::new(options.sketch_k)),
            distinct: HyperLogLog::new(options.hll_precision),
            frequent: (kind != ColumnKind::Other)
                .then(|| FrequentItems::new(options.top_k_capacity)),
        }
    }

    /// Profiles one column.
    pub fn of_column(column: &Column, options: &ProfileOptions) -> Result<ColumnProfile> {
        let mut p = ColumnProfile::empty(column.dtype(), options);
        p.count = column.len() as u64;
        p.null_count = column.null_count() as u64;
        let series = column.as_materialized_series();
        match p.kind {
            ColumnKind::Numeric => p.add_numeric(series)?,
            ColumnKind::Categorical => p.add_categorical(series)?,
            ColumnKind::Other => {}
        }
        Ok(p)
    }

    fn add_numeric(&mut self, series: &Series) -> Result<()> {
        let physical = series.to_physical_repr();
        let floats = physical.cast(&DataType::Float64)?;
        let ca = floats.f64()?;
        let mut finite: Vec<f64> = Vec::with_capacity(ca.len() - ca.null_count());
        let (mut nan, mut pinf, mut ninf) = (0u64, 0u64, 0u64);
        let mut push = |v: f64| {
            if v.is_finite() {
                finite.push(v);
            } else if v.is_nan() {
                nan += 1;
            } else if v > 0.0 {
                pinf += 1;
            } else {
                ninf += 1;
            }
        };
        for arr in ca.downcast_iter() {
            let values = arr.values().as_slice();
            match arr.validity().filter(|b| b.unset_bits() > 0) {
                None => values.iter().for_each(|&v| push(v)),
                Some(bits) => values
                    .iter()
                    .zip(bits.iter())
                    .filter(|(_, ok)| *ok)
                    .for_each(|(&v, _)| push(v)),
            }
        }
        self.nan_count += nan;
        self.pos_inf_count += pinf;
        self.neg_inf_count += ninf;
        for &v in &finite {
            self.distinct.add_hash(hash_f64(v));
        }
        let m = Moments::of_slice(&finite);
        self.moments = Some(self.moments.unwrap_or_default().merge(&m));
        if let Some(q) = self.quantiles.as_mut() {
            q.add_batch(&mut finite);
        }
        // The sketch sorted `finite` in place; sort only if it did not.
        if !finite.is_sorted_by(|a, b| a <= b) {
            finite.sort_unstable_by(f64::total_cmp);
        }
        if let Some(f) = self.frequent.as_mut() {
            f.add_sorted_f64(&finite);
        }
        Ok(())
    }

    fn add_categorical(&mut self, series: &Series) -> Result<()> {
        let strings = series.cast(&DataType::String)?.with_name("value".into());
        let counts = strings.value_counts(false, false, "count".into(), false)?;
        let values = counts.column("value")?.str()?;
        let n = counts.column("count")?.cast(&DataType::UInt64)?;
        let n = n.u64()?;
        let freq = self
            .frequent
            .get_or_insert_with(|| FrequentItems::new(DEFAULT_TOP_K_CAPACITY));
        for (v, c) in values.iter().zip(n.iter()) {
            if let (Some(v), Some(c)) = (v, c) {
                self.distinct.add_hash(hash_str(v));
                freq.add(v, c);
            }
        }
        freq.reduce();
        Ok(())
    }

    /// Merges another profile of the same column (same dtype).
    pub fn merge(&mut self, other: &ColumnProfile) -> Result<()> {
        if self.dtype != other.dtype || self.kind != other.kind {
            return Err(Error::InvalidArgument(format!(
                "cannot merge a {} column profile with a {} one",
                self.dtype, other.dtype
            )));
        }
        self.count += other.count;
        self.null_count += other.null_count;
        self.nan_count += other.nan_count;
        self.pos_inf_count += other.pos_inf_count;
        self.neg_inf_count += other.neg_inf_count;
        self.moments = match (self.moments, other.moments) {
            (Some(a), Some(b)) => Some(a.merge(&b)),
            (a, b) => a.or(b),
        };
        match (&mut self.quantiles, &other.quantiles) {
            (Some(a), Some(b)) => a.merge(b),
            (a @ None, Some(b)) => *a = Some(b.clone()),
            _ => {}
        }
        self.distinct.merge(&other.distinct);
        match (&mut self.frequent, &other.frequent) {
            (Some(a), Some(b)) => a.merge(b),
            (a @ None, Some(b)) => *a = Some(b.clone()),
            _ => {}
        }
        Ok(())
    }

    /// Non-null, non-NaN values (finite plus infinite).
    pub fn valid_count(&self) -> u64 {
        self.count - self.null_count - self.nan_count
    }

    /// Mean of the finite values.
    pub fn mean(&self) -> Option<f64> {
        self.moments.filter(|m| m.n > 0).map(|m| m.mean)
    }

    /// Sample standard deviation (ddof = 1) of the finite values.
    pub fn std(&self) -> Option<f64> {
        self.moments.and_then(|m| m.std())
    }

    /// Smallest finite value.
    pub fn min(&self) -> Option<f64> {
        self.moments.filter(|m| m.n > 0).map(|m| m.min)
    }

    /// Largest finite value.
    pub fn max(&self) -> Option<f64> {
        self.moments.filter(|m| m.n > 0).map(|m| m.max)
    }

    /// The `q`-quantile of the finite values from the sketch.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles.as_ref().and_then(|s| s.quantile(q))
    }

    /// Distinct non-null values: exact for categorical columns whose values all fit
    /// the frequent-values summary, the HyperLogLog estimate otherwise.
    pub fn distinct_count(&self) -> f64 {
        match &self.frequent {
            Some(f) if f.is_exact() => f.counts.len() as f64,
            _ => self.distinct.estimate().round(),
        }
    }

    /// The `k` most frequent values with their counts (categorical and numeric
    /// columns; numeric values as their shortest round-trip text).
    pub fn top_k(&self, k: usize) -> Vec<(String, u64)> {
        self.frequent.as_ref().map(|f| f.top(k)).unwrap_or_default()
    }

    /// An equal-width histogram of the finite values over [min, max], read from the
    /// quantile sketch. `None` for non-numeric or empty columns or `bins == 0`.
    pub fn histogram(&self, bins: usize) -> Option<Histogram> {
        let s = self.quantiles.as_ref()?;
        let (lo, hi) = (s.min()?, s.max()?);
        if bins == 0 {
            return None;
        }
        let edges: Vec<f64> = (0..=bins)
            .map(|i| {
                if i == bins {
                    hi
                } else {
                    lo + (hi - lo) * i as f64 / bins as f64
                }
            })
            .collect();
        let mut counts = Vec::with_capacity(bins);
        let mut prev = 0u64;
        for e in &edges[1..] {
            let r = s.rank(*e);
            counts.push(r.saturating_sub(prev));
            prev = r.max(prev);
        }
        Some(Histogram { edges, counts })
    }
}

/// The profile of a table: rows and one [`ColumnProfile`] per column (by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Rows profiled.
    pub rows: u64,
    /// Column profiles by name.
    pub columns: BTreeMap<String, ColumnProfile>,
}

impl Profile {
    /// A profile of no rows with the given schema.
    pub fn empty(schema: &Schema, options: &ProfileOptions) -> Profile {
        Profile {
            rows: 0,
            columns: schema
                .iter()
                .map(|(n, dt)| (n.to_string(), ColumnProfile::empty(dt, options)))
                .collect(),
        }
    }

    /// Profiles a frame with default options.
    pub fn of_frame(df: &DataFrame) -> Result<Profile> {
        Profile::of_frame_with(df, &ProfileOptions::default())
    }

    /// Profiles a frame, columns in parallel.
    pub fn of_frame_with(df: &DataFrame, options: &ProfileOptions) -> Result<Profile> {
        let cols = df.columns();
        let threads = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
            .min(cols.len())
            .max(1);
        let results: Vec<Result<(String, ColumnProfile)>> = if threads == 1 || df.height() < 10_000
        {
            cols.iter()
                .map(|c| Ok((c.name().to_string(), ColumnProfile::of_column(c, options)?)))
                .collect()
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        scope.spawn(move || {
                            cols.iter()
                                .skip(t)
                                .step_by(threads)
                                .map(|c| {
                                    Ok((
                                        c.name().to_string(),
                                        ColumnProfile::of_column(c, options)?,
                                    ))
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| {
                        h.join().unwrap_or_else(|_| {
                            vec![Err(Error::InvalidArgument(
                                "a profiling thread panicked".into(),
                            ))]
                        })
                    })
                    .collect()
            })
        };
        let mut columns = BTreeMap::new();
        for r in results {
            let (name, p) = r?;
            columns.insert(name, p);
        }
        Ok(Profile {
            rows: df.height() as u64,
            columns,
        })
    }

    /// Profiles a lazy frame batch by batch on polars' streaming engine: memory stays
    /// at one batch plus the sketches, whatever the size of the source.
    pub fn of_lazy(lf: LazyFrame, options: &ProfileOptions) -> Result<Profile> {
        let mut lf = lf;
        let schema = lf.collect_schema()?;
        let acc = Arc::new(Mutex::new(Profile::empty(&schema, options)));
        let sink_acc = Arc::clone(&acc);
        let opts = options.clone();
        let callback = PlanCallback::new(move |df: DataFrame| {
            let p = Profile::of_frame_with(&df, &opts)
                .map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
            let mut guard = sink_acc
                .lock()
                .map_err(|_| PolarsError::ComputeError("profile lock poisoned".into()))?;
            guard
                .merge_in(&p)
                .map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
            Ok(false)
        });
        let batch = NonZeroUsize::new(options.batch_rows.max(1)).unwrap_or(NonZeroUsize::MIN);
        lf.sink_batches(callback, false, Some(batch))?
            .collect_with_engine(Engine::Streaming)?;
        let guard = acc
            .lock()
            .map_err(|_| Error::InvalidArgument("profile lock poisoned".into()))?;
        Ok(guard.clone())
    }

    /// Profiles a CSV or Parquet file in bounded memory.
    ///
    /// Parquet is read one slice of `options.batch_rows` rows at a time, each slice its
    /// own query (polars pushes the slice down to the row groups it needs), so memory
    /// stays at one slice plus
    /// the sketches: measured, a 10-million-row, 12-column file (about 1 GB in memory)
    /// profiles in 141 MB of resident memory. The streaming engine's batch sink
    /// ([`Profile::of_lazy`]) is not used for Parquet because its source reads ahead
    /// faster than the profile consumes, and memory then grows with the file. CSV has no
    /// cheap random access and goes through [`Profile::of_lazy`].
    pub fn of_path(path: &Path, options: &ProfileOptions) -> Result<Profile> {
        let lf = crate::io::scan_frame(path)?;
        match crate::io::FileFormat::of_path(path)? {
            crate::io::FileFormat::Parquet => Profile::of_lazy_sliced(lf, options),
            _ => Profile::of_lazy(lf, options),
        }
    }

    /// Profiles a lazy frame slice by slice, each slice collected on its own.
    fn of_lazy_sliced(lf: LazyFrame, options: &ProfileOptions) -> Result<Profile> {
        let mut lf = lf;
        let schema = lf.collect_schema()?;
        let counted = lf.clone().select([len().alias("n")]).collect()?;
        let rows = counted
            .column("n")?
            .cast(&DataType::UInt64)?
            .u64()?
            .get(0)
            .unwrap_or(0);
        let step = options.batch_rows.max(1) as u64;
        let mut acc = Profile::empty(&schema, options);
        let mut offset = 0u64;
        while offset < rows {
            let take = step.min(rows - offset);
            let df = lf.clone().slice(offset as i64, take as IdxSize).collect()?;
            acc.merge_in(&Profile::of_frame_with(&df, options)?)?;
            offset += take;
        }
        Ok(acc)
    }

    /// Merges `other` into `self`. Both must have the same columns and dtypes.
    pub fn merge_in(&mut self, other: &Profile) -> Result<()> {
        if self.columns.len() != other.columns.len()
            || self
                .columns
                .keys()
                .zip(other.columns.keys())
                .any(|(a, b)| a != b)
        {
            return Err(Error::InvalidArgument(format!(
                "cannot merge profiles of different columns: {:?} vs {:?}",
                self.columns.keys().collect::<Vec<_>>(),
                other.columns.keys().collect::<Vec<_>>()
            )));
        }
        for (name, c) in self.columns.iter_mut() {
            if let Some(o) = other.columns.get(name) {
                c.merge(o)
                    .map_err(|e| Error::InvalidArgument(format!("column {name:?}: {e}")))?;
            }
        }
        self.rows += other.rows;
        Ok(())
    }

    /// The merge of two profiles (associative and commutative).
    pub fn merge(&self, other: &Profile) -> Result<Profile> {
        let mut out = self.clone();
        out.merge_in(other)?;
        Ok(out)
    }

    /// The profile of one column.
    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.get(name)
    }

    /// Compact JSON (sketches as base64).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Serde(e.to_string()))
    }

    /// Reads [`Profile::to_json`]'s output; corrupt sketches are an error.
    pub fn from_json(text: &str) -> Result<Profile> {
        serde_json::from_str(text).map_err(|e| Error::Serde(e.to_string()))
    }

    /// SHA-256 of the JSON form: the same data and options give the same digest.
    pub fn digest(&self) -> Result<Digest> {
        Ok(Digest::of_bytes(self.to_json()?.as_bytes()))
    }

    /// Plain numbers for people and CI: see [`ProfileSummary`].
    pub fn summary(&self) -> ProfileSummary {
        ProfileSummary {
            rows: self.rows,
            columns: self
                .columns
                .iter()
                .map(|(n, c)| (n.clone(), ColumnSummary::of(c)))
                .collect(),
        }
    }
}

/// The human and CI view of a [`Profile`]: numbers, no sketch state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// Rows profiled.
    pub rows: u64,
    /// Per column, by name.
    pub columns: BTreeMap<String, ColumnSummary>,
}

/// The numbers of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    /// polars dtype.
    pub dtype: String,
    /// Which statistics apply.
    pub kind: ColumnKind,
    /// Non-null, non-NaN values (as pandas' `describe()` counts).
    pub count: u64,
    /// Nulls.
    pub null_count: u64,
    /// NaN values.
    pub nan_count: u64,
    /// ±inf values.
    pub inf_count: u64,
    /// Mean of the finite values.
    pub mean: Option<f64>,
    /// Sample standard deviation (ddof = 1) of the finite values.
    pub std: Option<f64>,
    /// Smallest finite value.
    pub min: Option<f64>,
    /// Largest finite value.
    pub max: Option<f64>,
    /// Distinct non-null values (exact or HyperLogLog, see [`ColumnProfile::distinct_count`]).
    pub distinct: f64,
    /// Quantiles 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99 keyed by their text.
    pub quantiles: BTreeMap<String, f64>,
    /// Guaranteed normalised rank error of the quantiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantile_rank_error: Option<f64>,
    /// Up to ten most frequent values (categorical and numeric columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<(String, u64)>,
    /// A 20-bin histogram (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
}

/// The quantiles a summary reports.
pub const SUMMARY_QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

impl ColumnSummary {
    fn of(c: &ColumnProfile) -> ColumnSummary {
        let mut quantiles = BTreeMap::new();
        if let Some(s) = &c.quantiles
            && let Some(qs) = s.quantiles(&SUMMARY_QUANTILES)
        {
            for (q, v) in SUMMARY_QUANTILES.iter().zip(qs) {
                quantiles.insert(q.to_string(), v);
            }
        }
        ColumnSummary {
            dtype: c.dtype.clone(),
            kind: c.kind,
            count: c.valid_count(),
            null_count: c.null_count,
            nan_count: c.nan_count,
            inf_count: c.pos_inf_count + c.neg_inf_count,
            mean: c.mean(),
            std: c.std(),
            min: c.min(),
            max: c.max(),
            distinct: c.distinct_count(),
            quantiles,
            quantile_rank_error: c
                .quantiles
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(QuantileSketch::normalized_rank_error),
            top: c.top_k(10),
            histogram: c.histogram(20),
        }
    }
}
