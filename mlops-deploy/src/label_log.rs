//! Delayed labels sent to the model server as API calls (`POST /labels`), kept as JSON
//! lines that the monitor joins exactly like a Parquet/CSV drop.
//!
//! Ground truth arrives after the prediction, from another system (a chargeback, a
//! support ticket, a human review), keyed by the request id the server answered with
//! (`X-Request-Id`). The server does not join anything itself: it validates the labels
//! and appends them to one file, `{"request_id", "row", "label", "ts_ms"}` per line,
//! all lines of one call in one `write` on a file opened in append mode and
//! `fsync`ed before the call is answered (so an answered call is on disk, and
//! concurrent calls never interleave bytes). [`crate::Labels::read`] reads that file
//! (a torn last line, from a writer killed mid-write, is ignored), so `mlops monitor
//! --labels FILE` and [`crate::monitor::follow`] treat it like any other drop; a later
//! label of the same `(request_id, row)` replaces the earlier one (a correction).
//!
//! The body is one label object or `{"labels": [...]}`:
//!
//! ```json
//! {"labels": [{"request_id": "7f3a…-1c", "label": "fraud"},
//!             {"request_id": "7f3a…-1d", "row": 2, "label": 0}]}
//! ```
//!
//! `label` may be a string, a number or a boolean (kept as its JSON text); `row`
//! (optional) is the row within a request of several rows, else the label applies to
//! every row of the request. Bad input is a 400 naming the item and field, never
//! echoing values; nothing is written unless every item is valid.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Longest request id accepted (the server's own `X-Request-Id` limit).
pub const MAX_REQUEST_ID: usize = 128;
/// Longest label accepted, bytes.
pub const MAX_LABEL: usize = 1024;

/// One label as stored (one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelRecord {
    /// The request id the server answered with.
    pub request_id: String,
    /// Row within the request (`None`: every row of the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u32>,
    /// The true label, as text.
    pub label: String,
    /// When the server received it (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts_ms: Option<i64>,
}

/// Why a labels body was refused: the message names the item and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelsRefused(pub String);

impl std::fmt::Display for LabelsRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `s` is a request id the server accepts and echoes (and labels may name).
pub(crate) fn valid_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_REQUEST_ID && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Parses and validates a `POST /labels` body (at most `max_items` labels).
pub fn parse_body(
    body: &[u8],
    max_items: usize,
    ts_ms: i64,
) -> std::result::Result<Vec<LabelRecord>, LabelsRefused> {
    let refuse = |m: String| LabelsRefused(m);
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        refuse(format!(
            "the body is not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let (items, list): (Vec<&serde_json::Value>, bool) = match &v {
        serde_json::Value::Object(o) if o.contains_key("labels") => match &o["labels"] {
            serde_json::Value::Array(a) => (a.iter().collect(), true),
            _ => return Err(refuse("\"labels\" must be a list of label objects".into())),
        },
        serde_json::Value::Object(_) => (vec![&v], false),
        _ => {
            return Err(refuse(
                "the body must be a label object or {\"labels\": [...]}".into(),
            ));
        }
    };
    if items.is_empty() {
        return Err(refuse("\"labels\" is empty".into()));
    }
    if items.len() > max_items {
        return Err(refuse(format!(
            "{} labels in one call; this server accepts at most {max_items}",
            items.len()
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = if list {
            format!("labels[{i}]")
        } else {
            "the label".to_string()
        };
        let o = item
            .as_object()
            .ok_or_else(|| refuse(format!("{at}: not an object")))?;
        for k in o.keys() {
            if !matches!(k.as_str(), "request_id" | "row" | "label") {
                return Err(refuse(format!(
                    "{at}: unknown field (expected request_id, row, label)"
                )));
            }
        }
        let request_id = match o.get("request_id") {
            Some(serde_json::Value::String(s)) if valid_id(s) => s.clone(),
            Some(serde_json::Value::String(_)) => {
                return Err(refuse(format!(
                    "{at}.request_id: must be 1 to {MAX_REQUEST_ID} printable ASCII characters"
                )));
            }
            Some(_) => return Err(refuse(format!("{at}.request_id: must be a string"))),
            None => return Err(refuse(format!("{at}.request_id: missing"))),
        };
        let row =
            match o.get("row") {
                None | Some(serde_json::Value::Null) => None,
                Some(r) => Some(r.as_u64().and_then(|r| u32::try_from(r).ok()).ok_or_else(
                    || {
                        refuse(format!(
                            "{at}.row: must be an integer from 0 to {}",
                            u32::MAX
                        ))
                    },
                )?),
            };
        let label = match o.get("label") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(n @ serde_json::Value::Number(_)) => n.to_string(),
            Some(serde_json::Value::Bool(b)) => b.to_string(),
            Some(_) => {
                return Err(refuse(format!(
                    "{at}.label: must be a string, a number or a boolean"
                )));
            }
            None => return Err(refuse(format!("{at}.label: missing"))),
        };
        if label.is_empty() || label.len() > MAX_LABEL {
            return Err(refuse(format!(
                "{at}.label: must be 1 to {MAX_LABEL} bytes long"
            )));
        }
        out.push(LabelRecord {
            request_id,
            row,
            label,
            ts_ms: Some(ts_ms),
        });
    }
    Ok(out)
}

/// The append-only label file of a server.
#[derive(Debug)]
pub struct LabelLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl LabelLog {
    /// Opens (creating it and its directory if missing) the file at `path` for
    /// appending.
    pub fn open(path: &Path) -> Result<LabelLog> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(LabelLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `records` in one `write` and syncs the file: whole lines or nothing.
    pub fn append(&self, records: &[LabelRecord]) -> Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 64);
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| Error::json("label", e))?;
            buf.push(b'\n');
        }
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(&buf).map_err(|e| Error::io(&self.path, e))?;
        f.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}
