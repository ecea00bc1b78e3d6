//! Contracts: lossless JSON and TOML round trips (proptest), inference, diffs.

use mlops_data::{
    ColumnCheck, ColumnSpec, Contract, CustomCheck, DType, Direction, Expectation, ExtraColumns,
    Scalar, Statistic, TableRules,
};
use proptest::prelude::*;

use crate::util::wine;

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-1e6f64..1e6),
        any::<i32>().prop_map(f64::from),
        Just(0.0),
        Just(1e-300),
        Just(-2.5e17),
    ]
}

fn fraction() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(0.0f64..=1.0)
}

fn name() -> impl Strategy<Value = String> {
    "\\PC{1,12}"
}

fn scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        any::<bool>().prop_map(Scalar::Bool),
        any::<i64>().prop_map(Scalar::Int),
        // A float with a fractional part stays a float in both formats.
        (-1e6f64..1e6).prop_map(|f| Scalar::Float(f.trunc() + 0.5)),
        "\\PC{0,8}".prop_map(Scalar::Str),
    ]
}

fn column_check() -> impl Strategy<Value = ColumnCheck> {
    prop_oneof![
        (
            proptest::option::of(finite()),
            proptest::option::of(finite()),
            any::<bool>(),
            any::<bool>(),
            fraction()
        )
            .prop_map(|(min, max, a, b, mostly)| ColumnCheck::Range {
                min,
                max,
                min_exclusive: a,
                max_exclusive: b,
                mostly
            }),
        (proptest::collection::vec(scalar(), 0..5), fraction())
            .prop_map(|(values, mostly)| ColumnCheck::AllowedSet { values, mostly }),
        (
            prop_oneof![Just(r"^k\d{2}$"), Just("a|b"), Just(r"[\w.]+@\w+\.com")],
            fraction()
        )
            .prop_map(|(p, mostly)| ColumnCheck::Regex {
                pattern: p.to_string(),
                mostly
            }),
        (
            proptest::option::of(0u64..1000),
            proptest::option::of(0u64..1000),
            fraction()
        )
            .prop_map(|(min, max, mostly)| ColumnCheck::StrLength { min, max, mostly }),
        fraction().prop_map(|mostly| ColumnCheck::Unique { mostly }),
        (0.0f64..=1.0).prop_map(|max| ColumnCheck::MaxNullFraction { max }),
        fraction().prop_map(|mostly| ColumnCheck::Finite { mostly }),
        (any::<bool>(), any::<bool>()).prop_map(|(inc, strict)| ColumnCheck::Monotonic {
            direction: if inc {
                Direction::Increasing
            } else {
                Direction::Decreasing
            },
            strict
        }),
    ]
}

fn dtype() -> impl Strategy<Value = Option<DType>> {
    proptest::option::of(proptest::sample::select(vec![
        DType::Bool,
        DType::Int64,
        DType::UInt8,
        DType::Float64,
        DType::String,
        DType::Categorical,
        DType::Datetime,
        DType::Integer,
        DType::Numeric,
    ]))
}

fn contract() -> impl Strategy<Value = Contract> {
    let columns = proptest::collection::btree_map(
        name(),
        (
            dtype(),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(column_check(), 0..4),
        ),
        0..5,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(name, (dtype, nullable, required, checks))| ColumnSpec {
                name,
                dtype,
                nullable,
                required,
                checks,
            })
            .collect::<Vec<_>>()
    });
    let table = (
        proptest::option::of(0u64..1_000_000),
        proptest::option::of(0u64..(i64::MAX as u64)),
        any::<bool>(),
        proptest::collection::vec(proptest::collection::vec(name(), 1..3), 0..2),
    )
        .prop_map(|(min_rows, max_rows, forbid, unique_together)| TableRules {
            min_rows,
            max_rows,
            extra_columns: if forbid {
                ExtraColumns::Forbid
            } else {
                ExtraColumns::Allow
            },
            unique_together,
        });
    let stat = prop_oneof![
        Just(Statistic::Mean),
        Just(Statistic::Std),
        Just(Statistic::Min),
        Just(Statistic::Max),
        Just(Statistic::DistinctCount),
        (0.0f64..=1.0).prop_map(|q| Statistic::Quantile { q }),
    ];
    let expectations = proptest::collection::vec(
        (
            name(),
            stat,
            proptest::option::of(finite()),
            proptest::option::of(finite()),
        )
            .prop_map(|(column, stat, min, max)| Expectation {
                column,
                stat,
                min,
                max,
            }),
        0..3,
    );
    let custom = proptest::collection::vec(
        (
            name(),
            proptest::sample::select(vec![
                "a > b",
                "price * quantity <= total + 0.01 and discount >= 0",
                "not is_null(`weird name`) || str_len(s) == 3",
            ]),
            fraction(),
        )
            .prop_map(|(name, expr, mostly)| CustomCheck {
                name,
                expr: expr.to_string(),
                mostly,
            }),
        0..2,
    );
    (
        proptest::option::of(name()),
        table,
        columns,
        expectations,
        custom,
    )
        .prop_map(|(name, table, columns, expectations, custom)| Contract {
            name,
            table,
            columns,
            expectations,
            custom,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn json_and_toml_round_trip_losslessly(c in contract()) {
        let json = c.to_json().unwrap();
        let back = Contract::from_json(&json).unwrap();
        prop_assert_eq!(&back, &c, "json:\n{}", json);
        let toml = c.to_toml().unwrap();
        let back = Contract::from_toml(&toml).unwrap();
        prop_assert_eq!(&back, &c, "toml:\n{}", toml);
    }
}

#[test]
fn toml_reads_like_a_config_file() {
    let text = r#"
name = "orders"

[table]
min_rows = 1
extra_columns = "forbid"

[[columns]]
name = "amount"
dtype = "float64"
nullable = false
checks = [
  { check = "range", min = 0.0, max = 10000.0, max_exclusive = true, mostly = 0.99 },
]

[[columns]]
name = "status"
dtype = "string"
checks = [{ check = "allowed_set", values = ["new", "paid", "shipped"] }]

[[expectations]]
column = "amount"
stat = "quantile"
q = 0.5
min = 10.0
max = 500.0

[[custom]]
name = "positive"
expr = "amount > 0"
"#;
    let c = Contract::from_toml(text).unwrap();
    assert_eq!(c.columns.len(), 2);
    assert_eq!(c.table.extra_columns, ExtraColumns::Forbid);
    assert_eq!(c.expectations[0].stat, Statistic::Quantile { q: 0.5 });
    // Typos are errors, not silently ignored keys.
    assert!(Contract::from_toml(&text.replace("nullable", "nulable")).is_err());
    assert!(Contract::from_toml(&text.replace("amount > 0", "amount >")).is_err());
}

#[test]
fn infer_proposes_a_contract_the_data_passes() {
    let df = wine();
    let c = Contract::infer(&df).unwrap();
    assert_eq!(c.columns.len(), 12);
    let alcohol = c.column("alcohol").unwrap();
    assert_eq!(alcohol.dtype, Some(DType::Float64));
    assert!(!alcohol.nullable);
    match &alcohol.checks[0] {
        ColumnCheck::Range { min, max, .. } => {
            // observed [8.4, 14.9], span 6.5, 10% margin
            assert!((min.unwrap() - 7.75).abs() < 1e-9, "{min:?}");
            assert!((max.unwrap() - 15.55).abs() < 1e-9, "{max:?}");
        }
        other => panic!("{other:?}"),
    }
    let quality = c.column("quality").unwrap();
    assert_eq!(quality.dtype, Some(DType::Int64));
    assert!(c.validate(&df).unwrap().is_ok());
    // Small string sets become allowed sets.
    let df = polars::df!("s" => ["a", "b", "a", "c"], "x" => [Some(1i64), None, Some(3), Some(4)])
        .unwrap();
    let c = Contract::infer(&df).unwrap();
    assert_eq!(
        c.column("s").unwrap().checks,
        vec![ColumnCheck::AllowedSet {
            values: ["a", "b", "c"].map(|v| Scalar::Str(v.into())).to_vec(),
            mostly: None
        }]
    );
    assert!(c.column("x").unwrap().nullable);
    assert!(c.validate(&df).unwrap().is_ok());
}

#[test]
fn diff_classifies_breaking_and_compatible_changes() {
    let old = Contract::infer(&wine()).unwrap();
    assert!(Contract::diff(&old, &old).is_empty());

    // Loosening is compatible.
    let mut looser = old.clone();
    looser.columns[0].checks = vec![ColumnCheck::range(Some(0.0), Some(100.0))];
    looser.columns[1].nullable = true;
    looser
        .columns
        .push(ColumnSpec::new("new_optional").optional());
    looser.table.min_rows = None;
    let d = Contract::diff(&old, &looser);
    assert!(!d.is_breaking(), "{d:#?}");
    assert_eq!(d.changes.len(), 4);

    // Tightening, retyping, dropping a column, forbidding extras are breaking.
    for change in 0..5 {
        let mut new = old.clone();
        match change {
            0 => new.columns[0].checks = vec![ColumnCheck::range(Some(6.0), Some(10.0))],
            1 => new.columns[0].dtype = Some(DType::Float32),
            2 => {
                new.columns.remove(3);
            }
            3 => new.table.extra_columns = ExtraColumns::Forbid,
            _ => new.columns.push(ColumnSpec::new("new_required")),
        }
        let d = Contract::diff(&old, &new);
        assert!(d.is_breaking(), "change {change}: {d:#?}");
    }
    // Widening an allowed set is compatible, shrinking it breaking.
    let set = |v: &[&str]| Contract {
        columns: vec![ColumnSpec::new("s").check(ColumnCheck::AllowedSet {
            values: v.iter().map(|s| Scalar::Str(s.to_string())).collect(),
            mostly: None,
        })],
        ..Contract::default()
    };
    assert!(!Contract::diff(&set(&["a"]), &set(&["a", "b"])).is_breaking());
    assert!(Contract::diff(&set(&["a", "b"]), &set(&["a"])).is_breaking());
}
