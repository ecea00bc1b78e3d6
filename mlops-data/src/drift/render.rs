//! Three faces of one [`DriftReport`]: a terminal table, JSON, and a self-contained
//! HTML page.
//!
//! The HTML page needs no network: styles are inline and each column's reference and
//! current distributions are drawn as overlaid bars in an inline SVG. Every summary
//! row carries `class="drift-row"` and every chart `class="drift-chart"` (with
//! `data-column`), which is what the headless-browser test counts.

use std::fmt::Write as _;

use super::report::{ColumnDrift, DriftReport};

fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.is_nan() => "nan".into(),
        Some(0.0) => "0".into(),
        Some(x) if x.abs() >= 1e-3 && x.abs() < 1e6 => format!("{x:.4}"),
        Some(x) => format!("{x:.3e}"),
    }
}

impl DriftReport {
    /// A plain-text table for a terminal, one line per column and a verdict line.
    pub fn to_table(&self) -> String {
        let header = [
            "column",
            "type",
            "method",
            "statistic",
            "p-value",
            "threshold",
            "drift",
            "n_ref",
            "n_cur",
        ];
        let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
        for c in &self.columns {
            let drift = match (&c.error, c.drifted) {
                (Some(_), _) => "ERROR".to_string(),
                (None, true) => "DRIFT".to_string(),
                (None, false) => "ok".to_string(),
            };
            rows.push(vec![
                c.column.clone(),
                format!("{:?}", c.column_type).to_lowercase(),
                c.method
                    .map(|m| m.name().to_string())
                    .unwrap_or_else(|| "-".into()),
                fmt_num(c.statistic),
                fmt_num(c.p_value),
                fmt_num(c.threshold),
                drift,
                c.n_reference.to_string(),
                c.n_current.to_string(),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for (k, r) in rows.iter().enumerate() {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    if i >= 3 {
                        format!("{cell:>w$}", w = widths[i])
                    } else {
                        format!("{cell:<w$}", w = widths[i])
                    }
                })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
            if k == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
                out.push('\n');
            }
        }
        for c in &self.columns {
            if let Some(e) = &c.error {
                let _ = writeln!(out, "error in {}: {e}", c.column);
            }
        }
        let _ = writeln!(
            out,
            "{} of {} columns drifted (share {:.3}, threshold {}): {}",
            self.n_drifted,
            self.n_tested,
            self.drift_share,
            self.drift_share_threshold,
            if self.dataset_drift {
                "DATASET DRIFT"
            } else {
                "no dataset drift"
            }
        );
        out
    }

    /// The full report as pretty JSON.
    pub fn to_json(&self) -> crate::Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| crate::Error::InvalidArgument(format!("report to JSON: {e}")))
    }

    /// A self-contained HTML page: summary table and one overlaid-distribution chart
    /// per column.
    pub fn to_html(&self, title: &str) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        let _ = write!(h, "<title>{}</title>", esc(title));
        h.push_str(STYLE);
        h.push_str("</head><body>");
        let _ = write!(h, "<h1>{}</h1>", esc(title));
        let _ = write!(
            h,
            "<p class=\"verdict {}\" id=\"verdict\">{} of {} columns drifted (share {:.3}, threshold {}): <b>{}</b></p>",
            if self.dataset_drift { "bad" } else { "good" },
            self.n_drifted,
            self.n_tested,
            self.drift_share,
            self.drift_share_threshold,
            if self.dataset_drift {
                "dataset drift"
            } else {
                "no dataset drift"
            }
        );
        h.push_str("<table id=\"summary\"><thead><tr><th>column</th><th>type</th><th>method</th><th>statistic</th><th>p-value</th><th>threshold</th><th>drift</th><th>n ref</th><th>n cur</th><th>dropped</th></tr></thead><tbody>");
        for c in &self.columns {
            let (cls, label) = match (&c.error, c.drifted) {
                (Some(_), _) => ("err", "error"),
                (None, true) => ("bad", "drift"),
                (None, false) => ("good", "ok"),
            };
            let _ = write!(
                h,
                "<tr class=\"drift-row\" data-column=\"{col}\"><td><a href=\"#col-{id}\">{col}</a></td><td>{ty}</td><td>{m}</td><td>{s}</td><td>{p}</td><td>{t}</td><td class=\"{cls}\">{label}</td><td>{nr}</td><td>{nc}</td><td>{dr} / {dc}</td></tr>",
                col = esc(&c.column),
                id = anchor(&c.column),
                ty = format!("{:?}", c.column_type).to_lowercase(),
                m = c.method.map(|m| m.name()).unwrap_or("-"),
                s = fmt_num(c.statistic),
                p = fmt_num(c.p_value),
                t = fmt_num(c.threshold),
                nr = c.n_reference,
                nc = c.n_current,
                dr = c.dropped_reference,
                dc = c.dropped_current,
            );
        }
        h.push_str("</tbody></table>");
        h.push_str("<p class=\"legend\"><span class=\"sw ref\"></span> reference <span class=\"sw cur\"></span> current (share of values per bin)</p>");
        h.push_str("<div class=\"charts\">");
        for c in &self.columns {
            let _ = write!(
                h,
                "<section class=\"col\" id=\"col-{}\"><h2>{}</h2>",
                anchor(&c.column),
                esc(&c.column)
            );
            if let Some(e) = &c.error {
                let _ = write!(h, "<p class=\"err\">{}</p>", esc(e));
            }
            h.push_str(&chart(c));
            h.push_str("</section>");
        }
        h.push_str("</div></body></html>\n");
        h
    }
}

const STYLE: &str = "<style>body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:14px}th,td{border-bottom:1px solid #ddd;padding:4px 10px;text-align:right}th:nth-child(-n+3),td:nth-child(-n+3){text-align:left}.good{color:#1a7f37}.bad{color:#cf222e;font-weight:bold}.err{color:#9a6700}.charts{display:flex;flex-wrap:wrap;gap:16px;margin-top:12px}.col{border:1px solid #ddd;border-radius:6px;padding:8px}.col h2{font-size:15px;margin:0 0 6px}.legend{font-size:13px}.sw{display:inline-block;width:12px;height:12px;vertical-align:middle}.sw.ref{background:#1f77b4;opacity:.55}.sw.cur{background:#ff7f0e;opacity:.55}svg text{font-size:10px;fill:#555}</style>";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn anchor(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The overlaid distributions of one column as inline SVG (at most 40 bins shown:
/// categories beyond the 39 most frequent are summed into "other").
fn chart(c: &ColumnDrift) -> String {
    let (w, hgt, pad_l, pad_b) = (360.0, 180.0, 34.0, 34.0);
    let mut s = format!(
        "<svg class=\"drift-chart\" data-column=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{hgt}\" viewBox=\"0 0 {w} {hgt}\" role=\"img\">",
        esc(&c.column)
    );
    let Some(d) = &c.distribution else {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text></svg>",
            w / 2.0,
            hgt / 2.0
        );
        return s;
    };
    let (mut labels, mut r, mut cu): (Vec<String>, Vec<u64>, Vec<u64>) = match &d.edges {
        Some(e) => (
            e.windows(2)
                .map(|w| fmt_num(Some((w[0] + w[1]) / 2.0)))
                .collect(),
            d.reference.clone(),
            d.current.clone(),
        ),
        None => (d.labels.clone(), d.reference.clone(), d.current.clone()),
    };
    if labels.len() > 40 {
        let mut idx: Vec<usize> = (0..labels.len()).collect();
        idx.sort_by_key(|&i| std::cmp::Reverse(r[i] + cu[i]));
        let keep = &idx[..39];
        let (mut nl, mut nr, mut nc) = (vec![], vec![], vec![]);
        for &i in keep {
            nl.push(labels[i].clone());
            nr.push(r[i]);
            nc.push(cu[i]);
        }
        let rest: Vec<usize> = idx[39..].to_vec();
        nl.push("other".into());
        nr.push(rest.iter().map(|&i| r[i]).sum());
        nc.push(rest.iter().map(|&i| cu[i]).sum());
        (labels, r, cu) = (nl, nr, nc);
    }
    let tr: u64 = r.iter().sum::<u64>().max(1);
    let tc: u64 = cu.iter().sum::<u64>().max(1);
    let sr: Vec<f64> = r.iter().map(|v| *v as f64 / tr as f64).collect();
    let sc: Vec<f64> = cu.iter().map(|v| *v as f64 / tc as f64).collect();
    let ymax = sr.iter().chain(&sc).cloned().fold(0.0, f64::max).max(1e-12);
    let n = labels.len().max(1) as f64;
    let plot_w = w - pad_l - 6.0;
    let plot_h = hgt - pad_b - 8.0;
    let bw = plot_w / n;
    let _ = write!(
        s,
        "<line x1=\"{pad_l}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"#999\"/><text x=\"2\" y=\"14\">{ym}</text>",
        y0 = 8.0 + plot_h,
        x1 = w - 6.0,
        ym = fmt_num(Some(ymax))
    );
    for (i, label) in labels.iter().enumerate() {
        let x = pad_l + i as f64 * bw;
        for (shares, color, cls) in [(&sr, "#1f77b4", "ref"), (&sc, "#ff7f0e", "cur")] {
            let bh = shares[i] / ymax * plot_h;
            let _ = write!(
                s,
                "<rect class=\"{cls}\" x=\"{x:.2}\" y=\"{y:.2}\" width=\"{bw2:.2}\" height=\"{bh:.2}\" fill=\"{color}\" fill-opacity=\"0.55\"><title>{l}: {cls} {p:.4}</title></rect>",
                y = 8.0 + plot_h - bh,
                bw2 = (bw - 1.0).max(0.5),
                l = esc(label),
                p = shares[i]
            );
        }
    }
    // first, middle and last tick labels
    let ticks: Vec<usize> = if labels.len() <= 3 {
        (0..labels.len()).collect()
    } else {
        vec![0, labels.len() / 2, labels.len() - 1]
    };
    for i in ticks {
        let x = pad_l + (i as f64 + 0.5) * bw;
        let mut l = labels[i].clone();
        if l.chars().count() > 14 {
            l = l.chars().take(13).collect::<String>() + "…";
        }
        let _ = write!(
            s,
            "<text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            hgt - 14.0,
            esc(&l)
        );
    }
    s.push_str("</svg>");
    s
}
