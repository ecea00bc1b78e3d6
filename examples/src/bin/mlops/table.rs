//! The tables every listing of the CLI prints (`runs list`, `models list|versions|history`,
//! `audit show`), so they all read the same way: a header row, columns aligned by display
//! width (comfy-table), no borders, numbers right-aligned at a readable precision, times
//! as UTC dates, one line per row. Full precision and raw values are what `--json` is for.

use std::io::Write;

use comfy_table::{CellAlignment, Table};

/// Which way a column's cells lean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table under construction: header and alignment fixed, rows added one by one.
pub struct Listing {
    table: Table,
}

impl Listing {
    /// A table with these columns.
    pub fn new(columns: &[(&str, Align)]) -> Listing {
        let mut table = Table::new();
        table.load_preset(comfy_table::presets::NOTHING);
        table.set_header(columns.iter().map(|(name, _)| *name).collect::<Vec<_>>());
        for (i, (_, align)) in columns.iter().enumerate() {
            if let Some(c) = table.column_mut(i) {
                c.set_padding((0, 2));
                if *align == Align::Right {
                    c.set_cell_alignment(CellAlignment::Right);
                }
            }
        }
        Listing { table }
    }

    /// Adds a row; line breaks inside a cell become spaces (one line per row).
    pub fn row(&mut self, cells: Vec<String>) {
        self.table
            .add_row(cells.into_iter().map(|c| one_line(&c)).collect::<Vec<_>>());
    }

    /// True when no row was added.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Writes the table (no trailing spaces).
    pub fn print(&self, o: &mut dyn Write) -> std::io::Result<()> {
        for line in self.table.lines() {
            writeln!(o, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

fn one_line(s: &str) -> String {
    if s.contains(['\n', '\r', '\t']) {
        s.replace(['\n', '\r', '\t'], " ")
    } else {
        s.to_string()
    }
}

/// A number at a readable precision: 4 significant digits (`0.9123`, `12.35`, `1235`),
/// whole numbers of up to 7 digits as they are, scientific notation beyond
/// (`1.235e9`, `1.2e-5`); `nan`, `inf`, `-inf` as Python prints them.
pub fn num(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    let a = x.abs();
    if x.fract() == 0.0 && a < 1e7 {
        return format!("{x:.0}");
    }
    if !(1e-3..1e7).contains(&a) {
        return trim_exp(&format!("{x:.3e}"));
    }
    let magnitude = a.log10().floor() as i32; // -3..=6
    let decimals = (3 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    // Rounding can carry into a new digit (9.99995 -> "10.0000"); trim the extra zeros.
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `1.200e-5` -> `1.2e-5`.
fn trim_exp(s: &str) -> String {
    match s.split_once('e') {
        Some((m, e)) if m.contains('.') => {
            format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => s.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of a time in ms since the Unix epoch.
pub fn utc(ms: u64) -> String {
    let full = mlops_core::format_utc_ms(ms);
    full[..19.min(full.len())].to_string()
}

/// [`utc`] of an optional time (MLflow's `i64` timestamps), `-` when absent or negative.
pub fn utc_opt(ms: Option<i64>) -> String {
    match ms {
        Some(ms) if ms >= 0 => utc(ms as u64),
        _ => "-".into(),
    }
}

/// A run's duration between two ms timestamps, in the largest fitting unit (`850ms`,
/// `12.3s`, `4m05s`, `2h07m`); `-` when the run has not ended.
pub fn duration(start: Option<i64>, end: Option<i64>) -> String {
    let (Some(s), Some(e)) = (start, end) else {
        return "-".into();
    };
    let ms = (e - s).max(0);
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// `s` cut to at most `max` characters, ending in `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let cases = [
            (0.0, "0"),
            (0.912345678, "0.9123"),
            (-0.912345678, "-0.9123"),
            (12.3456, "12.35"),
            (1234.5678, "1235"),
            (123456.7, "123457"),
            (42.0, "42"),
            (1_000_000.0, "1000000"),
            (0.5, "0.5"),
            (0.001234567, "0.001235"),
            (0.000012, "1.2e-5"),
            (1.2345e9, "1.234e9"),
            (9.99996, "10"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (x, want) in cases {
            assert_eq!(num(x), want, "{x}");
        }
    }

    #[test]
    fn dates_and_durations() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_123), "2000-02-29 00:00:00");
        assert_eq!(utc_opt(None), "-");
        assert_eq!(duration(Some(0), Some(850)), "850ms");
        assert_eq!(duration(Some(0), Some(12_345)), "12.3s");
        assert_eq!(duration(Some(0), Some(245_000)), "4m05s");
        assert_eq!(duration(Some(0), Some(7_620_000)), "2h07m");
        assert_eq!(duration(Some(0), None), "-");
    }

    #[test]
    fn tables_align_and_stay_on_one_line() {
        let mut t = Listing::new(&[("NAME", Align::Left), ("VALUE", Align::Right)]);
        t.row(vec!["a".into(), num(0.5)]);
        t.row(vec!["long\nname".into(), num(12.0)]);
        let mut out = Vec::new();
        t.print(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            ["NAME       VALUE", "a            0.5", "long name     12"]
        );
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
