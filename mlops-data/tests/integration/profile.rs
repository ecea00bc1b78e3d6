//! Profiles: correct numbers (against SciPy vectors), exact merges, sketches within
//! their stated bounds, compact round trips, streaming equals in-memory.

use mlops_data::{ColumnKind, Profile, ProfileOptions, QuantileSketch};
use polars::prelude::*;
use proptest::prelude::*;

use crate::util::{data_path, wine};

fn exact_rank(sorted: &[f64], x: f64) -> (u64, u64) {
    (
        sorted.partition_point(|v| *v < x) as u64,
        sorted.partition_point(|v| *v <= x) as u64,
    )
}

/// `v` is a valid q-quantile for a sketch with rank error `bound`.
fn quantile_ok(sorted: &[f64], q: f64, v: f64, bound: u64) -> bool {
    let n = sorted.len() as f64;
    let (lt, le) = exact_rank(sorted, v);
    let target = q * n;
    (lt as f64) <= target + bound as f64 + 1.0 && (le as f64) >= target - bound as f64 - 1.0
}

#[test]
fn matches_scipy_vectors_on_wine() {
    let text = std::fs::read_to_string(data_path("winequality_stats.json")).unwrap();
    let want: serde_json::Value = serde_json::from_str(&text).unwrap();
    let df = wine();
    let p = Profile::of_frame(&df).unwrap();
    let s = p.summary();
    assert_eq!(s.rows, 1599);
    for (name, w) in want["columns"].as_object().unwrap() {
        let c = &s.columns[name];
        let f = |k: &str| w[k].as_f64().unwrap();
        assert_eq!(c.count as f64, f("count"), "{name}");
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-300);
        assert!(rel(c.mean.unwrap(), f("mean")) < 1e-13, "{name} mean");
        assert!(rel(c.std.unwrap(), f("std")) < 1e-12, "{name} std");
        assert_eq!(c.min.unwrap(), f("min"));
        assert_eq!(c.max.unwrap(), f("max"));
        // HLL at p=12 (linear counting at this cardinality): within 3 standard errors.
        let tol = (3.0 * 0.0163 * f("distinct")).max(2.0);
        assert!(
            (c.distinct - f("distinct")).abs() <= tol,
            "{name} distinct {}",
            c.distinct
        );
        let col = df.column(name).unwrap().cast(&DataType::Float64).unwrap();
        let mut sorted: Vec<f64> = col.f64().unwrap().into_no_null_iter().collect();
        sorted.sort_by(f64::total_cmp);
        let sk = p.column(name).unwrap().quantiles.as_ref().unwrap();
        for (q, exact) in w["quantiles_inverted_cdf"].as_object().unwrap() {
            let qv: f64 = q.parse().unwrap();
            let got = c.quantiles[q];
            assert!(
                quantile_ok(&sorted, qv, got, sk.rank_error_bound()),
                "{name} q{q}: got {got}, scipy {exact}, bound {}",
                sk.rank_error_bound()
            );
        }
    }
}

fn frame_of(nums: &[Option<f64>], cats: &[Option<String>]) -> DataFrame {
    df!("x" => nums.to_vec(), "c" => cats.to_vec()).unwrap()
}

fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        8 => (-1e3f64..1e3).prop_map(Some),
        2 => (0i32..20).prop_map(|v| Some(f64::from(v))),
        1 => Just(None),
        1 => Just(Some(f64::NAN)),
        1 => Just(Some(f64::INFINITY)),
        1 => Just(Some(f64::NEG_INFINITY)),
    ]
}

fn category() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => (0u32..12).prop_map(|i| Some(format!("c{i}"))),
        1 => Just(None),
    ]
}

fn check_exact_equal(a: &Profile, b: &Profile) {
    assert_eq!(a.rows, b.rows);
    for (name, x) in &a.columns {
        let y = &b.columns[name];
        assert_eq!(
            (
                x.count,
                x.null_count,
                x.nan_count,
                x.pos_inf_count,
                x.neg_inf_count
            ),
            (
                y.count,
                y.null_count,
                y.nan_count,
                y.pos_inf_count,
                y.neg_inf_count
            ),
            "{name}"
        );
        assert_eq!(x.distinct, y.distinct, "{name}: HLL merge is exact");
        // Frequent values are exact while no reduction happened; otherwise the
        // Misra-Gries bound is checked against the truth by the caller.
        if x.frequent.as_ref().is_some_and(|f| f.is_exact()) {
            assert_eq!(x.frequent, y.frequent, "{name}");
        }
        if let (Some(m), Some(n)) = (x.moments, y.moments) {
            assert_eq!((m.n, m.min, m.max), (n.n, n.min, n.max));
            let tol = 1e-9 * (1.0 + m.mean.abs());
            assert!((m.mean - n.mean).abs() <= tol, "{} vs {}", m.mean, n.mean);
            assert!(
                (m.m2 - n.m2).abs() <= 1e-9 * (1.0 + m.m2),
                "{} vs {}",
                m.m2,
                n.m2
            );
        }
        if let (Some(s), Some(t)) = (&x.quantiles, &y.quantiles) {
            assert_eq!(s.count(), t.count());
            assert_eq!((s.min(), s.max()), (t.min(), t.max()));
        }
    }
}

fn check_sketch_bound(sk: &QuantileSketch, values: &[Option<f64>]) {
    let mut sorted: Vec<f64> = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    assert_eq!(sk.count(), sorted.len() as u64);
    let bound = sk.rank_error_bound();
    for &x in sorted.iter().step_by(7).chain([-1e9, 1e9].iter()) {
        let (_, le) = exact_rank(&sorted, x);
        assert!(
            sk.rank(x).abs_diff(le) <= bound,
            "x {x}: {} vs {le}, bound {bound}",
            sk.rank(x)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Profiling partitions and merging equals profiling the union: exact fields
    /// exactly, moments to rounding, sketches within their bound. Merge is
    /// associative and commutative on the exact fields.
    #[test]
    fn merge_of_partitions_equals_profile_of_union(
        rows in proptest::collection::vec((value(), category()), 0..3000),
        cut1 in 0usize..3000,
        cut2 in 0usize..3000,
    ) {
        let (nums, cats): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
        let n = nums.len();
        let (a, b) = (cut1.min(n), cut2.min(n));
        let (a, b) = (a.min(b), a.max(b));
        // Small k so that the sketches really compact at these sizes.
        let opts = ProfileOptions { sketch_k: 32, top_k_capacity: 8, ..ProfileOptions::default() };
        let prof = |r: std::ops::Range<usize>| {
            Profile::of_frame_with(&frame_of(&nums[r.clone()], &cats[r]), &opts).unwrap()
        };
        let whole = prof(0..n);
        let (p1, p2, p3) = (prof(0..a), prof(a..b), prof(b..n));
        let left = p1.merge(&p2).unwrap().merge(&p3).unwrap();
        let right = p1.merge(&p2.merge(&p3).unwrap()).unwrap();
        let swapped = p3.merge(&p1).unwrap().merge(&p2).unwrap();
        for m in [&left, &right, &swapped] {
            check_exact_equal(&whole, m);
            check_sketch_bound(m.column("x").unwrap().quantiles.as_ref().unwrap(), &nums);
        }
        check_sketch_bound(whole.column("x").unwrap().quantiles.as_ref().unwrap(), &nums);
        // Merge of two is commutative in full, sketch state included.
        prop_assert_eq!(p1.merge(&p2).unwrap(), p2.merge(&p1).unwrap());
        // Misra-Gries bound on the categorical column.
        let f = left.column("c").unwrap().frequent.as_ref().unwrap();
        let non_null = cats.iter().flatten().count() as u64;
        prop_assert!(f.max_error <= non_null / 9);
        for (v, c) in &f.counts {
            let truth = cats.iter().flatten().filter(|x| *x == v).count() as u64;
            prop_assert!(*c <= truth && truth <= c + f.max_error);
        }
        // The same bound on the numeric column's frequent values (finite values,
        // keyed by their text).
        let f = left.column("x").unwrap().frequent.as_ref().unwrap();
        let finite: Vec<f64> = nums.iter().flatten().copied().filter(|v| v.is_finite()).collect();
        prop_assert!(f.max_error <= finite.len() as u64 / 9);
        for (v, c) in &f.counts {
            let v: f64 = v.parse().unwrap();
            let truth = finite.iter().filter(|x| **x == v).count() as u64;
            prop_assert!(*c <= truth && truth <= c + f.max_error, "{v}: {c} vs {truth}");
        }
        // Compact JSON round trip is exact.
        let back = Profile::from_json(&left.to_json().unwrap()).unwrap();
        prop_assert_eq!(back, left);
    }
}

#[test]
fn streaming_a_parquet_file_equals_profiling_in_memory() {
    let df = wine();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wine.parquet");
    let mut f = std::fs::File::create(&path).unwrap();
    ParquetWriter::new(&mut f)
        .with_row_group_size(Some(300))
        .finish(&mut df.clone())
        .unwrap();
    // Small batches: many merges.
    let opts = ProfileOptions {
        batch_rows: 200,
        ..ProfileOptions::default()
    };
    let streamed = Profile::of_path(&path, &opts).unwrap();
    let whole = Profile::of_frame_with(&df, &opts).unwrap();
    check_exact_equal(&whole, &streamed);
    let col = df.column("pH").unwrap().f64().unwrap().clone();
    let v: Vec<Option<f64>> = col.iter().collect();
    check_sketch_bound(
        streamed.column("pH").unwrap().quantiles.as_ref().unwrap(),
        &v,
    );
}

#[test]
fn categorical_numeric_and_edge_columns() {
    let df = df!(
        "s" => [Some("a"), Some("b"), None, Some("a")],
        "b" => [Some(true), Some(false), Some(true), None],
        "empty" => [None::<f64>, None, None, None],
        "x" => [1.0, f64::NAN, f64::INFINITY, -2.0],
    )
    .unwrap();
    let p = Profile::of_frame(&df).unwrap();
    let s = p.column("s").unwrap();
    assert_eq!(s.kind, ColumnKind::Categorical);
    assert_eq!(s.top_k(1), vec![("a".to_string(), 2)]);
    assert_eq!(s.distinct_count(), 2.0);
    assert_eq!(p.column("b").unwrap().distinct_count(), 2.0);
    let e = p.column("empty").unwrap();
    assert_eq!((e.null_count, e.mean(), e.quantile(0.5)), (4, None, None));
    let x = p.column("x").unwrap();
    assert_eq!((x.nan_count, x.pos_inf_count), (1, 1));
    assert_eq!(x.mean(), Some(-0.5));
    let summary = p.summary();
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(json["columns"]["x"]["count"], 3);
    assert_eq!(json["columns"]["x"]["null_count"], 0);
    assert!(json["columns"]["x"]["quantiles"]["0.5"].is_number());
    assert!(json["columns"]["empty"]["mean"].is_null());
    // Empty frames profile too.
    let p = Profile::of_frame(&df.clear()).unwrap();
    assert_eq!(p.rows, 0);
    let h = Profile::of_frame(&wine())
        .unwrap()
        .column("alcohol")
        .unwrap()
        .histogram(10)
        .unwrap();
    assert_eq!(h.counts.iter().sum::<u64>(), 1599);
}

#[test]
fn profile_digest_is_stable() {
    let df = wine();
    let a = Profile::of_frame(&df).unwrap();
    let b = Profile::of_frame(&df).unwrap();
    assert_eq!(a.digest().unwrap(), b.digest().unwrap());
}
