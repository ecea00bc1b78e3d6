//! Schema evolution: what changed between two contract versions, and whether it breaks.
//!
//! The rule is one sentence: a change is **breaking** when data that satisfied the old
//! contract may fail the new one, or when a column the old contract guaranteed to
//! consumers is no longer guaranteed (dropped or retyped). Everything else (a new
//! optional column, looser bounds, a removed check) is **compatible**. A CI job fails
//! on breaking changes unless someone owns the migration.

use serde::{Deserialize, Serialize};

use super::{ColumnCheck, ColumnSpec, Contract, ExtraColumns, Scalar};

/// One change between two contracts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractChange {
    /// Whether the change is breaking.
    pub breaking: bool,
    /// The column concerned (`None` for table rules).
    pub column: Option<String>,
    /// What changed, for a person.
    pub description: String,
}

/// The changes between two contracts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContractDiff {
    /// Every change, breaking ones first.
    pub changes: Vec<ContractChange>,
}

impl ContractDiff {
    /// Whether any change is breaking.
    pub fn is_breaking(&self) -> bool {
        self.changes.iter().any(|c| c.breaking)
    }

    /// Whether the contracts are equivalent.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

struct Acc(Vec<ContractChange>);

impl Acc {
    fn push(&mut self, breaking: bool, column: Option<&str>, description: String) {
        self.0.push(ContractChange {
            breaking,
            column: column.map(str::to_string),
            description,
        });
    }
}

fn opt_looser_min(old: Option<f64>, new: Option<f64>) -> bool {
    match (old, new) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(o), Some(n)) => n <= o,
    }
}

fn opt_looser_max(old: Option<f64>, new: Option<f64>) -> bool {
    match (old, new) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(o), Some(n)) => n >= o,
    }
}

/// Whether every value passing `old` passes `new` (conservative: unknown -> false).
fn check_loosened(old: &ColumnCheck, new: &ColumnCheck) -> bool {
    let mostly_ok = |o: Option<f64>, n: Option<f64>| n.unwrap_or(1.0) <= o.unwrap_or(1.0);
    match (old, new) {
        (
            ColumnCheck::Range {
                min: omin,
                max: omax,
                min_exclusive: oex_lo,
                max_exclusive: oex_hi,
                mostly: om,
            },
            ColumnCheck::Range {
                min: nmin,
                max: nmax,
                min_exclusive: nex_lo,
                max_exclusive: nex_hi,
                mostly: nm,
            },
        ) => {
            let lo = opt_looser_min(*omin, *nmin)
                && !(nmin.is_some() && omin == nmin && *nex_lo && !oex_lo);
            let hi = opt_looser_max(*omax, *nmax)
                && !(nmax.is_some() && omax == nmax && *nex_hi && !oex_hi);
            lo && hi && mostly_ok(*om, *nm)
        }
        (
            ColumnCheck::AllowedSet {
                values: ov,
                mostly: om,
            },
            ColumnCheck::AllowedSet {
                values: nv,
                mostly: nm,
            },
        ) => ov.iter().all(|v| nv.contains(v)) && mostly_ok(*om, *nm),
        (
            ColumnCheck::StrLength {
                min: omin,
                max: omax,
                mostly: om,
            },
            ColumnCheck::StrLength {
                min: nmin,
                max: nmax,
                mostly: nm,
            },
        ) => {
            opt_looser_min(omin.map(|v| v as f64), nmin.map(|v| v as f64))
                && opt_looser_max(omax.map(|v| v as f64), nmax.map(|v| v as f64))
                && mostly_ok(*om, *nm)
        }
        (ColumnCheck::MaxNullFraction { max: o }, ColumnCheck::MaxNullFraction { max: n }) => {
            n >= o
        }
        (
            ColumnCheck::Monotonic {
                direction: od,
                strict: os,
            },
            ColumnCheck::Monotonic {
                direction: nd,
                strict: ns,
            },
        ) => od == nd && (!ns || *os),
        (a, b) => {
            a == b
                || (a.name() == b.name()
                    && mostly_ok(a.mostly(), b.mostly())
                    && same_but_mostly(a, b))
        }
    }
}

fn same_but_mostly(a: &ColumnCheck, b: &ColumnCheck) -> bool {
    match (a, b) {
        (ColumnCheck::Regex { pattern: p, .. }, ColumnCheck::Regex { pattern: q, .. }) => p == q,
        (ColumnCheck::Unique { .. }, ColumnCheck::Unique { .. })
        | (ColumnCheck::Finite { .. }, ColumnCheck::Finite { .. }) => true,
        _ => false,
    }
}

fn describe_set(v: &[Scalar]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn diff_column(acc: &mut Acc, old: &ColumnSpec, new: &ColumnSpec) {
    let name = Some(old.name.as_str());
    match (old.dtype, new.dtype) {
        (Some(o), Some(n)) if o != n => {
            acc.push(true, name, format!("dtype changed from {o:?} to {n:?}"));
        }
        (None, Some(n)) => acc.push(true, name, format!("dtype now required: {n:?}")),
        (Some(o), None) => acc.push(true, name, format!("dtype {o:?} no longer guaranteed")),
        _ => {}
    }
    if old.nullable && !new.nullable {
        acc.push(true, name, "nulls no longer allowed".into());
    } else if !old.nullable && new.nullable {
        acc.push(false, name, "nulls now allowed".into());
    }
    if !old.required && new.required {
        acc.push(true, name, "column became required".into());
    } else if old.required && !new.required {
        acc.push(
            true,
            name,
            "column became optional (no longer guaranteed)".into(),
        );
    }
    for oc in &old.checks {
        let counterpart = new.checks.iter().find(|nc| nc.name() == oc.name());
        match counterpart {
            None => acc.push(false, name, format!("check {} removed", oc.name())),
            Some(nc) if nc == oc => {}
            Some(nc) => {
                let loose = check_loosened(oc, nc);
                let what = match (oc, nc) {
                    (
                        ColumnCheck::AllowedSet { values: a, .. },
                        ColumnCheck::AllowedSet { values: b, .. },
                    ) => format!("allowed set {} -> {}", describe_set(a), describe_set(b)),
                    _ => format!(
                        "check {} changed: {} -> {}",
                        oc.name(),
                        serde_json::to_string(oc).unwrap_or_default(),
                        serde_json::to_string(nc).unwrap_or_default()
                    ),
                };
                acc.push(
                    !loose,
                    name,
                    if loose {
                        format!("{what} (loosened)")
                    } else {
                        format!("{what} (tightened)")
                    },
                );
            }
        }
    }
    for nc in &new.checks {
        if !old.checks.iter().any(|oc| oc.name() == nc.name()) {
            acc.push(true, name, format!("check {} added", nc.name()));
        }
    }
}

impl Contract {
    /// The changes from `old` to `new`, each classified as breaking or compatible.
    pub fn diff(old: &Contract, new: &Contract) -> ContractDiff {
        let mut acc = Acc(Vec::new());
        for oc in &old.columns {
            match new.column(&oc.name) {
                None if oc.required => {
                    acc.push(true, Some(&oc.name), "required column removed".into())
                }
                None => acc.push(false, Some(&oc.name), "optional column removed".into()),
                Some(nc) => diff_column(&mut acc, oc, nc),
            }
        }
        for nc in &new.columns {
            if old.column(&nc.name).is_none() {
                if nc.required {
                    acc.push(true, Some(&nc.name), "required column added".into());
                } else {
                    acc.push(false, Some(&nc.name), "optional column added".into());
                }
            }
        }
        let (ot, nt) = (&old.table, &new.table);
        if !opt_looser_min(ot.min_rows.map(|v| v as f64), nt.min_rows.map(|v| v as f64)) {
            acc.push(
                true,
                None,
                format!("min_rows {:?} -> {:?}", ot.min_rows, nt.min_rows),
            );
        } else if ot.min_rows != nt.min_rows {
            acc.push(
                false,
                None,
                format!("min_rows {:?} -> {:?}", ot.min_rows, nt.min_rows),
            );
        }
        if !opt_looser_max(ot.max_rows.map(|v| v as f64), nt.max_rows.map(|v| v as f64)) {
            acc.push(
                true,
                None,
                format!("max_rows {:?} -> {:?}", ot.max_rows, nt.max_rows),
            );
        } else if ot.max_rows != nt.max_rows {
            acc.push(
                false,
                None,
                format!("max_rows {:?} -> {:?}", ot.max_rows, nt.max_rows),
            );
        }
        if ot.extra_columns != nt.extra_columns {
            acc.push(
                nt.extra_columns == ExtraColumns::Forbid,
                None,
                format!(
                    "extra columns {:?} -> {:?}",
                    ot.extra_columns, nt.extra_columns
                ),
            );
        }
        for set in &nt.unique_together {
            if !ot.unique_together.contains(set) {
                acc.push(true, None, format!("unique over {set:?} added"));
            }
        }
        for set in &ot.unique_together {
            if !nt.unique_together.contains(set) {
                acc.push(false, None, format!("unique over {set:?} removed"));
            }
        }
        for e in &new.expectations {
            match old
                .expectations
                .iter()
                .find(|o| o.column == e.column && o.stat == e.stat)
            {
                None => acc.push(
                    true,
                    Some(&e.column),
                    format!("expectation {} added", e.stat.name()),
                ),
                Some(o) if o == e => {}
                Some(o) => {
                    let loose = opt_looser_min(o.min, e.min) && opt_looser_max(o.max, e.max);
                    acc.push(
                        !loose,
                        Some(&e.column),
                        format!(
                            "expectation {} bounds [{:?}, {:?}] -> [{:?}, {:?}]",
                            e.stat.name(),
                            o.min,
                            o.max,
                            e.min,
                            e.max
                        ),
                    );
                }
            }
        }
        for o in &old.expectations {
            if !new
                .expectations
                .iter()
                .any(|e| e.column == o.column && e.stat == o.stat)
            {
                acc.push(
                    false,
                    Some(&o.column),
                    format!("expectation {} removed", o.stat.name()),
                );
            }
        }
        for c in &new.custom {
            match old.custom.iter().find(|o| o.name == c.name) {
                None => acc.push(true, None, format!("custom check {:?} added", c.name)),
                Some(o) if o == c => {}
                Some(_) => acc.push(true, None, format!("custom check {:?} changed", c.name)),
            }
        }
        for o in &old.custom {
            if !new.custom.iter().any(|c| c.name == o.name) {
                acc.push(false, None, format!("custom check {:?} removed", o.name));
            }
        }
        let mut changes = acc.0;
        changes.sort_by_key(|c| !c.breaking);
        ContractDiff { changes }
    }
}
