//! Dataset snapshots and seeded splits.
//!
//! A snapshot is a frame written as **canonical Parquet** into the content-addressed
//! [`ArtifactStore`]: one chunk, fixed row-group size, fixed codec (zstd at its default level),
//! column statistics on, no user metadata, categoricals as strings. Parquet written
//! this way is a function of the frame's content (names, dtypes, values, row order),
//! so the same data read from a CSV, a Parquet file written by pandas, or built in
//! memory gets the same digest, and any change to a value changes it. The returned
//! [`DatasetRef`] (digest, rows, schema, profile digest) is what lineage records.
//!
//! Splits assign rows by a hash of `(seed, row index)` (SplitMix64), not by a thread
//! RNG: the same seed gives the same split on every run and machine, whatever the
//! thread count. Stratified splits apply the same rule within each stratum, so each
//! class keeps its share.

use mlops_core::{ArtifactStore, ColumnSchema, DatasetRef, Digest};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use crate::profile::Profile;
use crate::{Error, Result};

/// Rows per Parquet row group in a snapshot.
pub const SNAPSHOT_ROW_GROUP: usize = 1 << 17;

/// Dataset snapshots: canonical Parquet in an artifact store.
#[derive(Debug, Clone, Copy)]
pub struct Dataset;

fn canonical_frame(df: &DataFrame) -> Result<DataFrame> {
    let mut cols = Vec::with_capacity(df.width());
    for c in df.columns() {
        let c = if c.dtype().is_categorical() || c.dtype().is_enum() {
            c.cast(&DataType::String)?
        } else {
            c.clone()
        };
        cols.push(c);
    }
    let mut out = DataFrame::new(df.height(), cols)?;
    out.rechunk_mut();
    Ok(out)
}

impl Dataset {
    /// The canonical Parquet bytes of a frame.
    pub fn canonical_parquet(df: &DataFrame) -> Result<Vec<u8>> {
        let mut frame = canonical_frame(df)?;
        let mut buf = Vec::new();
        ParquetWriter::new(&mut buf)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_row_group_size(Some(SNAPSHOT_ROW_GROUP))
            .with_data_page_size(Some(1 << 20))
            .with_key_value_metadata(None)
            .set_parallel(false)
            .finish(&mut frame)?;
        Ok(buf)
    }

    /// Writes `df` as a snapshot into `store`, with its profile, and returns its ref.
    pub fn snapshot(df: &DataFrame, store: &ArtifactStore) -> Result<DatasetRef> {
        Dataset::snapshot_named(df, store, None)
    }

    /// [`Dataset::snapshot`] with a human name (not part of the identity).
    pub fn snapshot_named(
        df: &DataFrame,
        store: &ArtifactStore,
        name: Option<&str>,
    ) -> Result<DatasetRef> {
        let bytes = Dataset::canonical_parquet(df)?;
        let digest = store.put_bytes(&bytes)?;
        let profile = Profile::of_frame(df)?;
        let profile_digest = store.put_bytes(profile.to_json()?.as_bytes())?;
        tracing::info!(%digest, rows = df.height(), "dataset snapshot stored");
        Ok(DatasetRef {
            digest,
            name: name.map(str::to_string),
            rows: df.height() as u64,
            schema: df
                .schema()
                .iter()
                .map(|(n, dt)| ColumnSchema {
                    name: n.to_string(),
                    dtype: dt.to_string(),
                })
                .collect(),
            profile_digest: Some(profile_digest),
        })
    }

    /// Reads a snapshot back (the store verifies its digest).
    pub fn load(store: &ArtifactStore, digest: &Digest) -> Result<DataFrame> {
        let bytes = store.get(digest)?;
        let df = ParquetReader::new(std::io::Cursor::new(bytes)).finish()?;
        Ok(df)
    }

    /// Reads a snapshot's stored profile.
    pub fn load_profile(store: &ArtifactStore, dataset: &DatasetRef) -> Result<Profile> {
        let d = dataset
            .profile_digest
            .as_ref()
            .ok_or_else(|| Error::InvalidArgument("the dataset ref has no profile".into()))?;
        let bytes = store.get(d)?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Serde(e.to_string()))?;
        Profile::from_json(&text)
    }
}

/// How to split a frame into train and test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitOptions {
    /// Fraction of rows (of each stratum, when stratified) that go to test, in [0, 1].
    pub test_fraction: f64,
    /// Seed: the same seed gives the same split everywhere.
    pub seed: u64,
    /// Column whose values are the strata (nulls form their own stratum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stratify: Option<String>,
}

impl SplitOptions {
    /// A non-stratified split.
    pub fn new(test_fraction: f64, seed: u64) -> SplitOptions {
        SplitOptions {
            test_fraction,
            seed,
            stratify: None,
        }
    }

    /// Stratify by `column`.
    pub fn stratified(mut self, column: impl Into<String>) -> SplitOptions {
        self.stratify = Some(column.into());
        self
    }
}

/// Train and test frames, with the row indices each took from the input.
#[derive(Debug, Clone)]
pub struct Split {
    /// Training rows, in input order.
    pub train: DataFrame,
    /// Test rows, in input order.
    pub test: DataFrame,
    /// Input row indices of `train`.
    pub train_rows: Vec<u64>,
    /// Input row indices of `test`.
    pub test_rows: Vec<u64>,
}

/// Splits `df` into train and test sets: within each stratum (or the whole frame),
/// rows are ordered by `hash(seed, row index)` and the first
/// `round(test_fraction * n)` go to test.
pub fn train_test_split(df: &DataFrame, options: &SplitOptions) -> Result<Split> {
    if !(0.0..=1.0).contains(&options.test_fraction) {
        return Err(Error::InvalidArgument(format!(
            "test_fraction {} not in [0, 1]",
            options.test_fraction
        )));
    }
    let n = df.height();
    let key = |i: usize| crate::profile::mix64(options.seed ^ crate::profile::mix64(i as u64));
    let strata: Vec<Vec<usize>> = match &options.stratify {
        None => vec![(0..n).collect()],
        Some(c) => {
            let column = df.column(c).map_err(|_| {
                Error::InvalidArgument(format!("stratify column {c:?} is not in the frame"))
            })?;
            let s = column.cast(&DataType::String)?;
            let s = s.str()?;
            let mut groups: std::collections::BTreeMap<Option<&str>, Vec<usize>> =
                std::collections::BTreeMap::new();
            for (i, v) in s.iter().enumerate() {
                groups.entry(v).or_default().push(i);
            }
            groups.into_values().collect()
        }
    };
    let mut test_rows = Vec::new();
    for mut rows in strata {
        rows.sort_by_key(|&i| (key(i), i));
        let k = (options.test_fraction * rows.len() as f64).round() as usize;
        test_rows.extend_from_slice(&rows[..k.min(rows.len())]);
    }
    test_rows.sort_unstable();
    let mut is_test = vec![false; n];
    for &i in &test_rows {
        is_test[i] = true;
    }
    let train_rows: Vec<u64> = (0..n).filter(|&i| !is_test[i]).map(|i| i as u64).collect();
    let test_rows: Vec<u64> = test_rows.into_iter().map(|i| i as u64).collect();
    let take = |rows: &[u64]| -> Result<DataFrame> {
        let idx = IdxCa::from_vec("idx".into(), rows.iter().map(|&i| i as IdxSize).collect());
        Ok(df.take(&idx)?)
    };
    Ok(Split {
        train: take(&train_rows)?,
        test: take(&test_rows)?,
        train_rows,
        test_rows,
    })
}
