//! Snapshots: same content, same digest, whatever the source; seeded splits.

use mlops_core::ArtifactStore;
use mlops_data::{Dataset, SplitOptions, train_test_split};
use polars::prelude::*;

use crate::util::wine;

#[test]
fn same_content_same_digest_whatever_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let store = ArtifactStore::new(dir.path().join("store")).unwrap();
    let from_csv = wine();
    let r1 = Dataset::snapshot(&from_csv, &store).unwrap();
    assert_eq!(r1.rows, 1599);
    assert_eq!(r1.schema.len(), 12);
    // The same data through a Parquet file with other writer settings.
    let path = dir.path().join("wine.parquet");
    let mut f = std::fs::File::create(&path).unwrap();
    ParquetWriter::new(&mut f)
        .with_compression(ParquetCompression::Snappy)
        .with_row_group_size(Some(100))
        .finish(&mut from_csv.clone())
        .unwrap();
    drop(f);
    let from_parquet = mlops_data::read_frame(&path).unwrap();
    let r2 = Dataset::snapshot(&from_parquet, &store).unwrap();
    assert_eq!(r1.digest, r2.digest);
    // Built chunk by chunk in memory.
    let mut chunked = from_csv.slice(0, 500);
    chunked.vstack_mut(&from_csv.slice(500, 2000)).unwrap();
    assert!(
        chunked.first_col_n_chunks() > 1,
        "the chunked path is exercised"
    );
    assert_eq!(
        Dataset::snapshot(&chunked, &store).unwrap().digest,
        r1.digest
    );
    // One value changed: a different digest.
    let mut changed = from_csv.clone();
    let col = changed.column("pH").unwrap().f64().unwrap().clone();
    let mut v: Vec<Option<f64>> = col.iter().collect();
    v[777] = Some(v[777].unwrap() + 1e-9);
    changed
        .replace("pH", Series::new("pH".into(), v).into())
        .unwrap();
    assert_ne!(
        Dataset::snapshot(&changed, &store).unwrap().digest,
        r1.digest
    );
    // Loads back equal, and the profile is stored.
    let back = Dataset::load(&store, &r1.digest).unwrap();
    assert!(back.equals_missing(&from_csv));
    let prof = Dataset::load_profile(&store, &r1).unwrap();
    assert_eq!(prof.rows, 1599);
}

#[test]
fn splits_are_seeded_and_stratified() {
    let df = wine();
    let opts = SplitOptions::new(0.2, 42).stratified("quality");
    let a = train_test_split(&df, &opts).unwrap();
    let b = train_test_split(&df, &opts).unwrap();
    assert_eq!(a.test_rows, b.test_rows);
    assert_eq!(a.train.height() + a.test.height(), 1599);
    let c = train_test_split(&df, &SplitOptions::new(0.2, 43).stratified("quality")).unwrap();
    assert_ne!(a.test_rows, c.test_rows);
    // Each quality class keeps its share (rounded per class).
    let q = df.column("quality").unwrap().i64().unwrap();
    let mut per: std::collections::BTreeMap<i64, (usize, usize)> = Default::default();
    for (i, v) in q.iter().enumerate() {
        per.entry(v.unwrap()).or_default().0 += 1;
        if a.test_rows.binary_search(&(i as u64)).is_ok() {
            per.get_mut(&v.unwrap()).unwrap().1 += 1;
        }
    }
    for (class, (n, t)) in per {
        assert_eq!(t, (0.2 * n as f64).round() as usize, "class {class}");
    }
    // A fixed seed gives a fixed split on every machine: pin the first test rows.
    let plain = train_test_split(&df, &SplitOptions::new(0.25, 7)).unwrap();
    assert_eq!(plain.test.height(), 400);
    // (SplitMix64 of (seed, row): no platform, thread or library RNG involved.)
    assert_eq!(&plain.test_rows[..5], &[2, 6, 7, 11, 29]);
    assert!(train_test_split(&df, &SplitOptions::new(1.5, 7)).is_err());
    assert!(train_test_split(&df, &SplitOptions::new(0.5, 7).stratified("nope")).is_err());
}
