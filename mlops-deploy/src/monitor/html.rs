//! The monitoring report a person reads: one self-contained HTML page (inline CSS and
//! SVG, nothing loaded from the network) with drift, quality and health per window
//! over time and the triggers that fired.

use std::fmt::Write as _;

use super::MonitorReport;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fmt(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v != 0.0 && v.abs() < 1e-3 {
        format!("{v:.2e}")
    } else {
        format!("{v:.4}")
    }
}

const W: f64 = 760.0;
const H: f64 = 170.0;
const PAD: f64 = 36.0;

/// A line chart of series over window index; `band` draws a shaded interval.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    values: Vec<Option<f64>>,
    band: Option<Vec<Option<(f64, f64)>>>,
    dashed: bool,
}

fn line_chart(title: &str, n: usize, series: &[Series<'_>], y_range: Option<(f64, f64)>) -> String {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in series {
        for v in s.values.iter().flatten() {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
        for (a, b) in s.band.iter().flatten().flatten() {
            lo = lo.min(*a);
            hi = hi.max(*b);
        }
    }
    if let Some((a, b)) = y_range {
        lo = lo.min(a);
        hi = hi.max(b);
    }
    if !lo.is_finite() || !hi.is_finite() {
        lo = 0.0;
        hi = 1.0;
    }
    if hi - lo < 1e-12 {
        hi = lo + 1.0;
    }
    let x = |i: usize| {
        PAD + (W - 2.0 * PAD)
            * if n <= 1 {
                0.5
            } else {
                i as f64 / (n - 1) as f64
            }
    };
    let y = |v: f64| H - PAD + (H - 2.0 * PAD) * -((v - lo) / (hi - lo));
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure class=\"monitor-chart\"><figcaption>{}</figcaption>\
         <svg viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\">",
        esc(title)
    );
    let _ = write!(
        s,
        "<line x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>\
         <text x=\"2\" y=\"{}\" font-size=\"10\">{}</text><text x=\"2\" y=\"{}\" font-size=\"10\">{}</text>",
        H - PAD,
        W - PAD,
        H - PAD,
        PAD,
        fmt(hi),
        H - PAD,
        fmt(lo)
    );
    for (k, ser) in series.iter().enumerate() {
        if let Some(band) = &ser.band {
            let pts: Vec<(usize, f64, f64)> = band
                .iter()
                .enumerate()
                .filter_map(|(i, b)| b.map(|(a, c)| (i, a, c)))
                .collect();
            if pts.len() > 1 {
                let mut d = String::new();
                for (j, (i, _, up)) in pts.iter().enumerate() {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if j == 0 { "M" } else { "L" },
                        x(*i),
                        y(*up)
                    );
                }
                for (i, lowv, _) in pts.iter().rev() {
                    let _ = write!(d, "L{:.1},{:.1} ", x(*i), y(*lowv));
                }
                let _ = write!(
                    s,
                    "<path d=\"{d}Z\" fill=\"{}\" fill-opacity=\"0.18\" stroke=\"none\"/>",
                    ser.color
                );
            }
        }
        let mut d = String::new();
        let mut pen = false;
        for (i, v) in ser.values.iter().enumerate() {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen { "L" } else { "M" },
                        x(i),
                        y(*v)
                    );
                    pen = true;
                }
                None => pen = false,
            }
        }
        let _ = write!(
            s,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"{}/>",
            ser.color,
            if ser.dashed {
                " stroke-dasharray=\"5 4\""
            } else {
                ""
            }
        );
        for (i, v) in ser.values.iter().enumerate() {
            if let Some(v) = v
                && n <= 200
            {
                let _ = write!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.2\" fill=\"{}\"><title>window {i}: {}</title></circle>",
                    x(i),
                    y(*v),
                    ser.color,
                    fmt(*v)
                );
            }
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{}\">{}</text>",
            PAD + 140.0 * k as f64,
            14,
            ser.color,
            esc(ser.name)
        );
    }
    s.push_str("</svg></figure>");
    s
}

fn heatmap(report: &MonitorReport) -> String {
    let features: Vec<String> = report
        .windows
        .first()
        .map(|w| w.drift.columns.iter().map(|c| c.column.clone()).collect())
        .unwrap_or_default();
    let n = report.windows.len().max(1);
    let cell_w = ((W - 140.0) / n as f64).clamp(2.0, 40.0);
    let cell_h = 16.0;
    let h = cell_h * features.len() as f64 + 24.0;
    let w = 140.0 + cell_w * n as f64;
    let mut s = format!(
        "<figure class=\"monitor-chart\"><figcaption>Feature drift per window \
         (red: drifted; shade: score relative to its threshold)</figcaption>\
         <svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\">"
    );
    for (r, f) in features.iter().enumerate() {
        let yy = 12.0 + cell_h * r as f64;
        let _ = write!(
            s,
            "<text x=\"2\" y=\"{:.1}\" font-size=\"11\">{}</text>",
            yy + 12.0,
            esc(f)
        );
        for (i, win) in report.windows.iter().enumerate() {
            let c = win.drift.column(f);
            let (fill, op, tip) = match c {
                Some(c) if c.error.is_some() => ("#bbb", 0.6, c.error.clone().unwrap_or_default()),
                Some(c) => {
                    let rel = match (c.score, c.threshold) {
                        (Some(s), Some(t)) if t > 0.0 && c.p_value.is_none() => {
                            (s / t).min(2.0) / 2.0
                        }
                        (Some(s), Some(t)) if c.p_value.is_some() => {
                            if s <= t {
                                1.0
                            } else {
                                (t / s).min(1.0) * 0.5
                            }
                        }
                        _ => 0.0,
                    };
                    (
                        if c.drifted { "#d62728" } else { "#1f77b4" },
                        if c.drifted { 0.9 } else { 0.15 + 0.6 * rel },
                        format!(
                            "{}: {} score {} (threshold {})",
                            c.column,
                            c.method.map(|m| m.to_string()).unwrap_or_default(),
                            c.score.map(fmt).unwrap_or_default(),
                            c.threshold.map(fmt).unwrap_or_default()
                        ),
                    )
                }
                None => ("#eee", 1.0, String::from("not tested")),
            };
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{yy:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" \
                 fill-opacity=\"{op:.2}\"><title>window {i}: {}</title></rect>",
                140.0 + cell_w * i as f64,
                (cell_w - 1.0).max(1.0),
                cell_h - 2.0,
                esc(&tip)
            );
        }
    }
    s.push_str("</svg></figure>");
    s
}

/// Renders the report as one self-contained HTML page.
pub fn to_html(title: &str, report: &MonitorReport) -> String {
    let ws = &report.windows;
    let n = ws.len();
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{}</h1><p class=\"meta\">model <code>{}</code> · {} windows · {} rows · {} triggers fired</p>",
        esc(title),
        esc(&report.model),
        n,
        ws.iter().map(|w| w.rows).sum::<u64>(),
        report.fired.len()
    );
    // drift
    let threshold = report.drift_share_threshold;
    body.push_str("<h2>Data drift</h2>");
    body.push_str(&line_chart(
        "Share of drifted features per window (dashed: dataset threshold)",
        n,
        &[
            Series {
                name: "drift share",
                color: "#d62728",
                values: ws.iter().map(|w| Some(w.drift.share)).collect(),
                band: None,
                dashed: false,
            },
            Series {
                name: "threshold",
                color: "#555",
                values: ws.iter().map(|_| Some(threshold)).collect(),
                band: None,
                dashed: true,
            },
            Series {
                name: "prediction drift share",
                color: "#9467bd",
                values: ws
                    .iter()
                    .map(|w| w.prediction_drift.as_ref().map(|p| p.share))
                    .collect(),
                band: None,
                dashed: false,
            },
        ],
        Some((0.0, 1.0)),
    ));
    body.push_str(&heatmap(report));
    // quality
    let metrics: Vec<String> = {
        let mut m: Vec<String> = ws
            .iter()
            .filter_map(|w| w.quality.as_ref())
            .flat_map(|q| q.metrics.iter().map(|m| m.metric.clone()))
            .collect();
        m.sort();
        m.dedup();
        m
    };
    if !metrics.is_empty() {
        body.push_str("<h2>Quality from delayed labels</h2>");
        for name in &metrics {
            let get =
                |w: &super::WindowReport| w.quality.as_ref().and_then(|q| q.metric(name)).cloned();
            let registered = ws.iter().find_map(|w| get(w).and_then(|m| m.registered));
            let mut series = vec![Series {
                name,
                color: "#2ca02c",
                values: ws
                    .iter()
                    .map(|w| get(w).map(|m| m.estimate.value))
                    .collect(),
                band: Some(
                    ws.iter()
                        .map(|w| get(w).and_then(|m| m.estimate.lower.zip(m.estimate.upper)))
                        .collect(),
                ),
                dashed: false,
            }];
            if let Some(r) = registered {
                series.push(Series {
                    name: "at registration",
                    color: "#555",
                    values: ws.iter().map(|_| Some(r)).collect(),
                    band: None,
                    dashed: true,
                });
            }
            body.push_str(&line_chart(
                &format!("{name} per window with its confidence interval (dashed: registration evaluation)"),
                n,
                &series,
                None,
            ));
        }
        body.push_str(&line_chart(
            "Concept drift: observed minus confidence-expected accuracy, with interval (below 0: concept drift)",
            n,
            &[
                Series {
                    name: "concept gap",
                    color: "#ff7f0e",
                    values: ws.iter().map(|w| w.shifts.concept.as_ref().map(|c| c.gap.value)).collect(),
                    band: Some(
                        ws.iter()
                            .map(|w| w.shifts.concept.as_ref().and_then(|c| c.gap.lower.zip(c.gap.upper)))
                            .collect(),
                    ),
                    dashed: false,
                },
                Series {
                    name: "zero",
                    color: "#555",
                    values: ws.iter().map(|_| Some(0.0)).collect(),
                    band: None,
                    dashed: true,
                },
            ],
            None,
        ));
    }
    // health
    body.push_str("<h2>Service health</h2>");
    body.push_str(&line_chart(
        "Latency per window (ms)",
        n,
        &[
            Series {
                name: "p50",
                color: "#1f77b4",
                values: ws
                    .iter()
                    .map(|w| w.health.latency_ms.map(|l| l.p50))
                    .collect(),
                band: None,
                dashed: false,
            },
            Series {
                name: "p99",
                color: "#d62728",
                values: ws
                    .iter()
                    .map(|w| w.health.latency_ms.map(|l| l.p99))
                    .collect(),
                band: None,
                dashed: false,
            },
        ],
        None,
    ));
    body.push_str(&line_chart(
        "Error rate per window",
        n,
        &[Series {
            name: "error rate",
            color: "#8c564b",
            values: ws.iter().map(|w| Some(w.health.error_rate)).collect(),
            band: None,
            dashed: false,
        }],
        Some((0.0, 0.0)),
    ));
    // table
    body.push_str(
        "<h2>Windows</h2><table><thead><tr><th>#</th><th>rows</th><th>drift share</th>\
         <th>drifted features</th><th>label shift</th><th>concept gap</th><th>accuracy</th>\
         <th>error rate</th><th>p99 ms</th><th>profile</th></tr></thead><tbody>",
    );
    for w in ws {
        let acc = w
            .quality
            .as_ref()
            .and_then(|q| q.metric("accuracy"))
            .map(|m| {
                format!(
                    "{} [{}, {}]",
                    fmt(m.estimate.value),
                    m.estimate.lower.map(fmt).unwrap_or_default(),
                    m.estimate.upper.map(fmt).unwrap_or_default()
                )
            })
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr class=\"window-row{}\"><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            if w.drift.dataset_drift {
                " drifted"
            } else {
                ""
            },
            w.index,
            if w.complete { "" } else { " (partial)" },
            w.rows,
            fmt(w.drift.share),
            esc(&w.shifts.covariate.drifted_columns.join(", ")),
            w.shifts
                .label
                .as_ref()
                .map(|l| format!(
                    "{}{}",
                    fmt(l.distance),
                    if l.shifted { " shifted" } else { "" }
                ))
                .unwrap_or_default(),
            w.shifts
                .concept
                .as_ref()
                .map(|c| format!(
                    "{}{}",
                    fmt(c.gap.value),
                    if c.drifted { " drifted" } else { "" }
                ))
                .unwrap_or_default(),
            acc,
            fmt(w.health.error_rate),
            w.health.latency_ms.map(|l| fmt(l.p99)).unwrap_or_default(),
            w.profile_digest.short()
        );
    }
    body.push_str("</tbody></table>");
    if !report.fired.is_empty() {
        body.push_str("<h2>Triggers fired</h2><ul>");
        for f in &report.fired {
            let _ = write!(
                body,
                "<li class=\"fired\"><b>{}</b> at window {}: {}</li>",
                esc(&f.policy),
                f.window,
                esc(&f.reason)
            );
        }
        body.push_str("</ul>");
    }
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:24px;color:#222}}\
         table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ddd;padding:3px 6px}}\
         tr.drifted{{background:#fde0e0}}figure{{margin:12px 0}}figcaption{{font-size:13px;color:#444}}\
         .meta{{color:#555}}</style></head><body>{body}</body></html>",
        esc(title)
    )
}
