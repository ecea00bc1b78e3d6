//! Validation: every failure reported with counts and sample rows; bad input never panics.

use mlops_data::{
    ColumnCheck, ColumnSpec, Contract, CustomCheck, DType, Direction, Expectation, ExtraColumns,
    Scalar, Statistic, TableRules, ValidateOptions,
};
use polars::prelude::*;

use crate::util::{data_path, faulty};

fn bench_like_contract() -> Contract {
    Contract {
        name: Some("faulty".into()),
        table: TableRules {
            min_rows: Some(1),
            ..TableRules::default()
        },
        columns: vec![
            ColumnSpec::new("id")
                .dtype(DType::Int64)
                .not_null()
                .check(ColumnCheck::Unique { mostly: None })
                .check(ColumnCheck::Monotonic {
                    direction: Direction::Increasing,
                    strict: true,
                }),
            ColumnSpec::new("num_0")
                .dtype(DType::Float64)
                .not_null()
                .check(ColumnCheck::range(Some(0.0), Some(100.0))),
            ColumnSpec::new("num_1")
                .dtype(DType::Float)
                .check(ColumnCheck::Finite { mostly: None }),
            ColumnSpec::new("num_2")
                .dtype(DType::Numeric)
                .check(ColumnCheck::range(Some(0.0), Some(100.0))),
            ColumnSpec::new("cat_0")
                .dtype(DType::String)
                .check(ColumnCheck::AllowedSet {
                    values: ["a", "b", "c", "d", "e"]
                        .map(|s| Scalar::Str(s.into()))
                        .to_vec(),
                    mostly: None,
                }),
            ColumnSpec::new("cat_1")
                .dtype(DType::String)
                .check(ColumnCheck::Regex {
                    pattern: r"^k\d{2}$".into(),
                    mostly: None,
                }),
            ColumnSpec::new("num_8").dtype(DType::Float64),
        ],
        expectations: vec![],
        custom: vec![],
    }
}

#[test]
fn reports_every_injected_fault_with_rows() {
    let df = faulty(1000);
    let report = bench_like_contract().validate(&df).unwrap();
    assert!(!report.is_ok());
    let find = |col: Option<&str>, check: &str| {
        report
            .failures
            .iter()
            .find(|f| f.column.as_deref() == col && f.check == check)
            .unwrap_or_else(|| panic!("no failure {col:?} {check}: {:#?}", report.failures))
    };
    let f = find(Some("num_8"), "column_exists");
    assert_eq!(f.failing_rows, 1000);
    let f = find(Some("num_0"), "not_null");
    assert_eq!((f.failing_rows, f.sample_rows.clone()), (2, vec![3, 7]));
    let f = find(Some("num_2"), "range");
    assert_eq!((f.failing_rows, f.sample_rows.clone()), (1, vec![5]));
    assert_eq!(f.sample_values, vec![serde_json::json!(150.0)]);
    let f = find(Some("cat_0"), "allowed_set");
    assert_eq!((f.failing_rows, f.sample_rows.clone()), (2, vec![9, 11]));
    assert_eq!(f.sample_values, vec![serde_json::json!("zzz"); 2]);
    let f = find(Some("cat_1"), "regex");
    assert_eq!((f.failing_rows, f.sample_rows.clone()), (1, vec![13]));
    let f = find(Some("num_1"), "finite");
    assert_eq!((f.failing_rows, f.sample_rows.clone()), (2, vec![4, 6]));
    assert_eq!(report.failures.len(), 6, "{:#?}", report.failures);
    // NaN and inf are counted apart from nulls.
    let c = report.columns["num_1"];
    assert_eq!((c.nulls, c.nan, c.inf), (0, 1, 1));
    assert_eq!(report.columns["num_0"].nulls, 2);
    // The JSON has the shape CI reads.
    let json: serde_json::Value = serde_json::from_str(&report.to_json().unwrap()).unwrap();
    assert_eq!(json["ok"], false);
    assert!(json["failures"][0]["sample_rows"].is_array());
    assert!(
        json["failures"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| !f["column"].is_null())
    );
    let table = report.to_table();
    assert!(table.starts_with("INVALID"), "{table}");
    assert!(table.contains("allowed_set"));
}

#[test]
fn clean_data_passes_and_mostly_tolerates() {
    let df = faulty(1000);
    let mut c = bench_like_contract();
    c.columns.retain(|s| s.name != "num_8");
    for s in c.columns.iter_mut() {
        s.nullable = true;
        for ch in s.checks.iter_mut() {
            match ch {
                ColumnCheck::Range { mostly, .. }
                | ColumnCheck::AllowedSet { mostly, .. }
                | ColumnCheck::Regex { mostly, .. }
                | ColumnCheck::Finite { mostly } => *mostly = Some(0.99),
                _ => {}
            }
        }
    }
    let report = c.validate(&df).unwrap();
    assert!(report.is_ok(), "{}", report.to_table());
    // 2 of 1000 fail; mostly 0.999 is too strict.
    if let ColumnCheck::AllowedSet { mostly, .. } = &mut c.columns[4].checks[0] {
        *mostly = Some(0.999);
    }
    let report = c.validate(&df).unwrap();
    assert_eq!(report.failures.len(), 1);
    assert!((report.failures[0].failing_fraction - 0.002).abs() < 1e-12);
}

#[test]
fn table_rules_statistics_and_custom_checks() {
    let df = df!(
        "a" => [1i64, 2, 2, 4],
        "b" => ["x", "y", "y", "z"],
        "c" => [1.0, 2.0, 3.0, 10.0],
        "extra" => [0, 0, 0, 0],
    )
    .unwrap();
    let contract = Contract {
        name: None,
        table: TableRules {
            min_rows: Some(5),
            max_rows: None,
            extra_columns: ExtraColumns::Forbid,
            unique_together: vec![vec!["a".into(), "b".into()]],
        },
        columns: vec![
            ColumnSpec::new("a").check(ColumnCheck::Unique { mostly: None }),
            ColumnSpec::new("b").check(ColumnCheck::StrLength {
                min: Some(2),
                max: None,
                mostly: None,
            }),
            ColumnSpec::new("c").check(ColumnCheck::Range {
                min: Some(1.0),
                max: Some(10.0),
                min_exclusive: true,
                max_exclusive: true,
                mostly: None,
            }),
        ],
        expectations: vec![
            Expectation {
                column: "c".into(),
                stat: Statistic::Mean,
                min: Some(0.0),
                max: Some(3.0),
            },
            Expectation {
                column: "c".into(),
                stat: Statistic::Quantile { q: 0.5 },
                min: Some(2.0),
                max: Some(3.0),
            },
            Expectation {
                column: "b".into(),
                stat: Statistic::DistinctCount,
                min: Some(3.0),
                max: Some(3.0),
            },
        ],
        custom: vec![CustomCheck {
            name: "c_exceeds_a".into(),
            expr: "c > a".into(),
            mostly: None,
        }],
    };
    let r = contract.validate(&df).unwrap();
    let checks: Vec<(Option<&str>, &str, u64)> = r
        .failures
        .iter()
        .map(|f| (f.column.as_deref(), f.check.as_str(), f.failing_rows))
        .collect();
    assert!(checks.contains(&(None, "row_count", 0)), "{checks:?}");
    assert!(checks.contains(&(None, "extra_columns", 0)), "{checks:?}");
    assert!(checks.contains(&(Some("a"), "unique", 2)), "{checks:?}");
    assert!(checks.contains(&(Some("b"), "str_length", 4)), "{checks:?}");
    assert!(checks.contains(&(Some("c"), "range", 2)), "{checks:?}");
    assert!(checks.contains(&(None, "unique_together", 2)), "{checks:?}");
    assert!(checks.contains(&(Some("c"), "mean", 0)), "{checks:?}");
    assert!(checks.contains(&(None, "c_exceeds_a", 2)), "{checks:?}");
    // median of 1,2,3,10 is 2.5: passes; distinct b = 3: passes.
    assert!(
        !checks
            .iter()
            .any(|c| c.1 == "quantile(0.5)" || c.1 == "distinct_count")
    );
    let mean = r.failures.iter().find(|f| f.check == "mean").unwrap();
    assert_eq!(mean.observed, Some(4.0));
    let custom = r
        .failures
        .iter()
        .find(|f| f.check == "c_exceeds_a")
        .unwrap();
    assert_eq!(custom.sample_rows, vec![0, 1]);
}

#[test]
fn bad_input_is_reported_not_panicked() {
    // Wrong dtypes, checks that do not apply, all-null columns, empty frames.
    let df = df!(
        "n" => ["1", "2"],
        "s" => [1.0, 2.0],
        "z" => [None::<f64>, None],
    )
    .unwrap();
    let contract = Contract {
        columns: vec![
            ColumnSpec::new("n").dtype(DType::Int64),
            ColumnSpec::new("s").check(ColumnCheck::Regex {
                pattern: "x".into(),
                mostly: None,
            }),
            ColumnSpec::new("z")
                .not_null()
                .check(ColumnCheck::MaxNullFraction { max: 0.5 }),
        ],
        expectations: vec![Expectation {
            column: "z".into(),
            stat: Statistic::Mean,
            min: Some(0.0),
            max: None,
        }],
        ..Contract::default()
    };
    let r = contract.validate(&df).unwrap();
    let checks: Vec<&str> = r.failures.iter().map(|f| f.check.as_str()).collect();
    assert_eq!(
        checks,
        vec!["dtype", "regex", "not_null", "max_null_fraction", "mean"],
        "{:#?}",
        r.failures
    );
    let empty = df.clear();
    let r = contract.validate(&empty).unwrap();
    assert_eq!(r.rows, 0);
    assert!(!r.is_ok());
    let r = Contract::default().validate(&DataFrame::empty()).unwrap();
    assert!(r.is_ok());
    // A malformed contract is an error, not a report.
    let bad = Contract {
        columns: vec![ColumnSpec::new("s").check(ColumnCheck::Regex {
            pattern: "(".into(),
            mostly: None,
        })],
        ..Contract::default()
    };
    assert!(matches!(
        bad.validate(&df),
        Err(mlops_data::Error::InvalidContract(_))
    ));
}

#[test]
fn lazy_scan_of_a_file_validates() {
    let contract = Contract::infer(&crate::util::wine()).unwrap();
    let lf = mlops_data::scan_frame(data_path("winequality-red.csv")).unwrap();
    // The aggregate pass on the streaming engine (bounded memory for big files).
    let opts = ValidateOptions {
        sample_size: 3,
        streaming: true,
    };
    let r = contract.validate_lazy(lf, &opts).unwrap();
    assert!(r.is_ok(), "{}", r.to_table());
    assert_eq!(r.rows, 1599);
    // Tighten one range: failures come with at most 3 sample rows.
    let mut c = contract.clone();
    c.columns[0].checks = vec![ColumnCheck::range(None, Some(8.0))];
    let lf = mlops_data::scan_frame(data_path("winequality-red.csv")).unwrap();
    let r = c.validate_lazy(lf, &opts).unwrap();
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].sample_rows.len(), 3);
    let df = crate::util::wine();
    let fa = df.column("fixed acidity").unwrap().f64().unwrap();
    let expected = fa.iter().filter(|v| v.is_some_and(|v| v > 8.0)).count() as u64;
    assert_eq!(r.failures[0].failing_rows, expected);
    for &i in &r.failures[0].sample_rows {
        assert!(fa.get(i as usize).unwrap() > 8.0);
    }
}

#[test]
fn nan_and_nulls_in_range_and_set_checks() {
    let df = df!(
        "x" => [Some(1.0), Some(f64::NAN), None, Some(50.0), Some(f64::NEG_INFINITY)],
        "s" => [Some("a"), None, Some("b"), Some("q"), Some("a")],
    )
    .unwrap();
    let run = |check: ColumnCheck| {
        let c = Contract {
            columns: vec![ColumnSpec::new("x").check(check)],
            ..Contract::default()
        };
        let r = c.validate(&df).unwrap();
        r.failures
            .first()
            .map(|f| (f.failing_rows, f.sample_rows.clone()))
    };
    // NaN fails every range; nulls never fail value checks; -inf fails a lower bound.
    assert_eq!(
        run(ColumnCheck::range(Some(0.0), Some(10.0))),
        Some((3, vec![1, 3, 4]))
    );
    assert_eq!(
        run(ColumnCheck::range(Some(0.0), None)),
        Some((2, vec![1, 4]))
    );
    assert_eq!(
        run(ColumnCheck::range(None, Some(10.0))),
        Some((2, vec![1, 3]))
    );
    assert_eq!(run(ColumnCheck::range(None, None)), Some((1, vec![1])));
    assert_eq!(
        run(ColumnCheck::Finite { mostly: None }),
        Some((2, vec![1, 4]))
    );
    let c = Contract {
        columns: vec![ColumnSpec::new("s").check(ColumnCheck::AllowedSet {
            values: vec![Scalar::Str("a".into()), Scalar::Str("b".into())],
            mostly: None,
        })],
        ..Contract::default()
    };
    let r = c.validate(&df).unwrap();
    assert_eq!(r.failures[0].failing_rows, 1);
    assert_eq!(r.failures[0].sample_rows, vec![3]);
    assert!((r.failures[0].failing_fraction - 0.25).abs() < 1e-12);
}

/// NaN/inf counts are derived from a finite range check only when it proves them zero,
/// and string checks evaluated per distinct value count rows like a row-wise check.
#[test]
fn shortcuts_keep_row_semantics() {
    let df = df![
        "x" => [Some(1.0), Some(f64::NAN), None, Some(f64::INFINITY), Some(2.0), Some(-1.0)],
        "y" => [Some(1.0), Some(2.0), None, Some(3.0), Some(4.0), Some(5.0)],
        "s" => [Some("k01"), Some("zz"), None, Some("k01"), Some("zz"), Some("abcdef")],
    ]
    .unwrap();
    let df = df
        .lazy()
        .with_column(
            col("s")
                .cast(DataType::from_categories(Categories::global()))
                .alias("c"),
        )
        .collect()
        .unwrap();
    let set = |v: &[&str]| {
        v.iter()
            .map(|s| Scalar::Str((*s).into()))
            .collect::<Vec<_>>()
    };
    let contract = Contract {
        columns: vec![
            ColumnSpec::new("x").check(ColumnCheck::range(Some(0.0), Some(10.0))),
            ColumnSpec::new("y").check(ColumnCheck::range(Some(0.0), Some(10.0))),
            ColumnSpec::new("s")
                .check(ColumnCheck::Regex {
                    pattern: r"^k\d{2}$".into(),
                    mostly: Some(0.5),
                })
                .check(ColumnCheck::AllowedSet {
                    values: set(&["k01", "abcdef"]),
                    mostly: None,
                })
                .check(ColumnCheck::StrLength {
                    min: Some(2),
                    max: Some(3),
                    mostly: None,
                }),
            ColumnSpec::new("c").check(ColumnCheck::AllowedSet {
                values: set(&["k01"]),
                mostly: None,
            }),
        ],
        ..Contract::default()
    };
    let r = contract.validate(&df).unwrap();
    let x = r.columns["x"];
    assert_eq!((x.nulls, x.nan, x.inf), (1, 1, 1));
    let y = r.columns["y"];
    assert_eq!((y.nulls, y.nan, y.inf), (1, 0, 0));
    let got: Vec<(&str, &str, u64, Vec<u64>)> = r
        .failures
        .iter()
        .map(|f| {
            (
                f.column.as_deref().unwrap_or("-"),
                f.check.as_str(),
                f.failing_rows,
                f.sample_rows.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("x", "range", 3, vec![1, 3, 5]),
            ("s", "regex", 3, vec![1, 4, 5]),
            ("s", "allowed_set", 2, vec![1, 4]),
            ("s", "str_length", 1, vec![5]),
            ("c", "allowed_set", 3, vec![1, 4, 5]),
        ]
    );
    let regex = &r.failures[1];
    assert!((regex.failing_fraction - 0.6).abs() < 1e-12);
    // The streaming engine gives the same report.
    let opts = ValidateOptions {
        sample_size: 10,
        streaming: true,
    };
    let s = contract.validate_lazy(df.clone().lazy(), &opts).unwrap();
    assert_eq!(&s.failures, &r.failures);
    assert_eq!(s.columns, r.columns);
    // Ten copies: now low-cardinality, so the string checks run per distinct value;
    // every count is ten times the row-wise one.
    let mut big = df.clone();
    for _ in 0..9 {
        big.vstack_mut(&df).unwrap();
    }
    for streaming in [false, true] {
        let opts = ValidateOptions {
            sample_size: 10,
            streaming,
        };
        let b = contract.validate_lazy(big.clone().lazy(), &opts).unwrap();
        let counts: Vec<(&str, u64)> = b
            .failures
            .iter()
            .map(|f| (f.check.as_str(), f.failing_rows))
            .collect();
        let want: Vec<(&str, u64)> = r
            .failures
            .iter()
            .map(|f| (f.check.as_str(), f.failing_rows * 10))
            .collect();
        assert_eq!(counts, want);
        assert_eq!(
            b.failures[1].sample_rows,
            vec![1, 4, 5, 7, 10, 11, 13, 16, 17, 19]
        );
        assert_eq!(b.columns["x"].nan, 10);
    }
}
