//! The tamper-evident audit log.
//!
//! Every decision the pipeline takes (a gate, an alias move, a rollout step) is
//! appended to a JSON-lines file in which each record carries the SHA-256 of the
//! record before it. Editing, deleting, inserting or reordering any record breaks the
//! chain at that point, and [`AuditLog::verify`] names the first broken record. The
//! hash of the newest record is also kept in a small head file next to the log
//! (`<log>.head`), so cutting records off the end is detected too; copy that head
//! (or any record hash) somewhere the log's writer cannot reach for an anchor an
//! attacker cannot rewrite along with the log.
//!
//! Appends take an exclusive OS file lock, so threads and processes appending at once
//! lose nothing and never interleave bytes: each record is one `write` of a whole line.
//!
//! ## Crashes are not tampering
//!
//! An append writes the record line, then rewrites the head. A crash can leave two
//! marks, both told apart from tampering:
//!
//! - the head one record behind the log (killed between the two writes): the record is
//!   complete and chained, so [`AuditLog::verify`] accepts it
//!   ([`AuditVerification::head_lagging`]) and the next append rewrites the head;
//! - a torn last line (killed mid-write: bytes after the last newline). `verify` reports
//!   [`Error::AuditTornTail`], not [`Error::AuditTampered`]; [`AuditLog::repair`] (and
//!   `mlops audit repair LOG`) cuts the torn bytes and appends an `audit.repair` record
//!   naming how many bytes went and their SHA-256. It refuses to touch a log whose
//!   complete records do not verify. [`AuditLog::append`] makes the same repair first
//!   when it finds a torn tail, so appends after a crash work.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fs::{FileLock, write_atomic};
use crate::{Digest, Error, Result};

/// One record of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, starting at 1.
    pub seq: u64,
    /// When it was appended, in milliseconds since the Unix epoch (UTC).
    pub time_ms: u64,
    /// Who acted (a user, a service, a CI job).
    pub actor: String,
    /// What was done (`alias.set`, `gate.decide`, `rollout.promote`, ...).
    pub action: String,
    /// What it was done to (`models:/fraud@champion`, a run id, a digest).
    pub subject: String,
    /// Free details: the numbers behind the decision.
    pub payload: serde_json::Value,
    /// Hash of the previous record (all zeros for the first).
    pub prev: Digest,
    /// Hash of this record: SHA-256 of its JSON form without this field.
    pub hash: Digest,
}

/// The part of a record that is hashed (everything but `hash`).
#[derive(Serialize)]
struct Hashed<'a> {
    seq: u64,
    time_ms: u64,
    actor: &'a str,
    action: &'a str,
    subject: &'a str,
    payload: &'a serde_json::Value,
    prev: &'a Digest,
}

impl AuditRecord {
    fn compute_hash(&self) -> Result<Digest> {
        let h = Hashed {
            seq: self.seq,
            time_ms: self.time_ms,
            actor: &self.actor,
            action: &self.action,
            subject: &self.subject,
            payload: &self.payload,
            prev: &self.prev,
        };
        let bytes = serde_json::to_vec(&h).map_err(|source| Error::Json {
            context: "audit record".into(),
            source,
        })?;
        Ok(Digest::of_bytes(&bytes))
    }
}

/// What [`AuditLog::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// Number of records checked.
    pub records: u64,
    /// Hash of the last record (the chain's head), if any.
    pub head: Option<Digest>,
    /// The head file names the record before the last one: an append was interrupted
    /// between writing its record and its head (a crash, not tampering). The next
    /// append (or [`AuditLog::repair`]) brings the head up to date.
    #[serde(default)]
    pub head_lagging: bool,
}

/// What [`AuditLog::repair`] did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRepair {
    /// Torn bytes cut off the end of the log (0: there were none).
    pub dropped_bytes: u64,
    /// The `audit.repair` record appended, when bytes were cut.
    pub record: Option<AuditRecord>,
    /// The head file was behind and was rewritten.
    pub head_rewritten: bool,
}

/// The complete records of a log, checked, and what follows them.
struct Scan {
    records: u64,
    /// Hash of the last complete record (zeros when none).
    last: Digest,
    /// Hash of the record before it (zeros when fewer than two).
    before_last: Digest,
    /// Bytes after the last newline (a torn append).
    torn: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: Digest,
}

/// An append-only, hash-chained JSON-lines log.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC) of a time in milliseconds since the Unix epoch: the
/// one date formatter of the workspace (CLI tables, MLflow's `utc_time_created`).
pub fn format_utc_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

impl AuditLog {
    /// Opens the log at `path` (created, with its parent directories, on first append).
    pub fn open(path: impl Into<PathBuf>) -> AuditLog {
        AuditLog { path: path.into() }
    }

    /// The log file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn head_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".head");
        PathBuf::from(p)
    }

    fn lock_path(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".lock");
        PathBuf::from(p)
    }

    /// Appends a record and returns it (with its sequence number and hash).
    ///
    /// Safe to call from many threads and processes at once.
    pub fn append(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        payload: serde_json::Value,
    ) -> Result<AuditRecord> {
        let _lock = FileLock::acquire(&self.lock_path())?;
        if self.torn_tail_len()? > 0 {
            // A crash mid-append left a torn line: cut it (and record that) first.
            self.cut_torn_tail_locked(actor, "append")?;
        }
        let rec = self.append_locked(actor, action, subject, payload)?;
        tracing::debug!(seq = rec.seq, action, subject, "audit record appended");
        Ok(rec)
    }

    /// Appends one record (caller holds the lock; the file ends with a newline).
    fn append_locked(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        payload: serde_json::Value,
    ) -> Result<AuditRecord> {
        let last = self.read_last()?;
        let (seq, prev) = match &last {
            Some(r) => (r.seq + 1, r.hash),
            None => (1, Digest::from_bytes([0; 32])),
        };
        let mut rec = AuditRecord {
            seq,
            time_ms: now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            subject: subject.to_string(),
            payload,
            prev,
            hash: Digest::from_bytes([0; 32]),
        };
        rec.hash = rec.compute_hash()?;
        let mut line = serde_json::to_vec(&rec).map_err(|source| Error::Json {
            context: "audit record".into(),
            source,
        })?;
        line.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        f.write_all(&line).map_err(|e| Error::io(&self.path, e))?;
        f.sync_data().map_err(|e| Error::io(&self.path, e))?;
        self.write_head(rec.seq, rec.hash)?;
        Ok(rec)
    }

    fn write_head(&self, seq: u64, hash: Digest) -> Result<()> {
        let head_bytes = serde_json::to_vec(&Head { seq, hash }).map_err(|source| Error::Json {
            context: "audit head".into(),
            source,
        })?;
        write_atomic(&self.head_path(), &head_bytes)
    }

    /// How many bytes follow the last newline (a torn append), without reading the log.
    fn torn_tail_len(&self) -> Result<u64> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let len = f.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        let mut window = 4096u64;
        loop {
            let start = len.saturating_sub(window);
            f.seek(SeekFrom::Start(start))
                .map_err(|e| Error::io(&self.path, e))?;
            let mut buf = Vec::with_capacity((len - start) as usize);
            (&mut f)
                .take(len - start)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io(&self.path, e))?;
            if let Some(pos) = buf.iter().rposition(|&b| b == b'\n') {
                return Ok(len - start - pos as u64 - 1);
            }
            if start == 0 {
                return Ok(len);
            }
            window *= 4;
        }
    }

    /// Cuts the bytes after the last newline and appends an `audit.repair` record
    /// (caller holds the lock).
    fn cut_torn_tail_locked(&self, actor: &str, by: &str) -> Result<Option<(u64, AuditRecord)>> {
        let bytes = std::fs::read(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let keep = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if keep == bytes.len() {
            return Ok(None);
        }
        let torn = &bytes[keep..];
        let f = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        f.set_len(keep as u64)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&self.path, e))?;
        tracing::warn!(log = %self.path.display(), bytes = torn.len(), "torn audit record cut");
        let rec = self.append_locked(
            actor,
            "audit.repair",
            &self.path.display().to_string(),
            serde_json::json!({
                "dropped_bytes": torn.len(),
                "dropped_sha256": Digest::of_bytes(torn).to_string(),
                "by": by,
            }),
        )?;
        Ok(Some((torn.len() as u64, rec)))
    }

    /// Repairs what a crash can leave: cuts a torn last line (recording the repair as an
    /// `audit.repair` record by `actor`) and brings a lagging head up to date. Refuses
    /// ([`Error::AuditTampered`], nothing changed) when the complete records do not
    /// verify. A log with nothing to repair is left as it is.
    pub fn repair(&self, actor: &str) -> Result<AuditRepair> {
        let _lock = FileLock::acquire(&self.lock_path())?;
        let scan = self.scan()?;
        // The head must be consistent with the complete records (tampering otherwise).
        let lagging = self.check_head(&scan)?;
        let mut out = AuditRepair {
            dropped_bytes: 0,
            record: None,
            head_rewritten: false,
        };
        if !scan.torn.is_empty() {
            if let Some((n, rec)) = self.cut_torn_tail_locked(actor, "repair")? {
                out.dropped_bytes = n;
                out.record = Some(rec);
            }
        } else if lagging {
            self.write_head(scan.records, scan.last)?;
            out.head_rewritten = true;
        }
        Ok(out)
    }

    /// Reads the last complete record by scanning backwards from the end of the file.
    fn read_last(&self) -> Result<Option<AuditRecord>> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let len = f.metadata().map_err(|e| Error::io(&self.path, e))?.len();
        if len == 0 {
            return Ok(None);
        }
        let mut window = 4096u64;
        loop {
            let start = len.saturating_sub(window);
            f.seek(SeekFrom::Start(start))
                .map_err(|e| Error::io(&self.path, e))?;
            let mut buf = Vec::with_capacity((len - start) as usize);
            (&mut f)
                .take(len - start)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io(&self.path, e))?;
            let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
            if let Some(pos) = body.iter().rposition(|&b| b == b'\n') {
                return self.parse_line(&body[pos + 1..], None).map(Some);
            }
            if start == 0 {
                return self.parse_line(body, None).map(Some);
            }
            window *= 4;
        }
    }

    fn parse_line(&self, line: &[u8], lineno: Option<u64>) -> Result<AuditRecord> {
        serde_json::from_slice(line).map_err(|source| Error::Json {
            context: match lineno {
                Some(n) => format!("{} line {n}", self.path.display()),
                None => format!("last record of {}", self.path.display()),
            },
            source,
        })
    }

    /// Reads every complete record, in order, without checking the chain (a torn last
    /// line, which [`AuditLog::verify`] reports, is not a record and is left out).
    pub fn records(&self) -> Result<Vec<AuditRecord>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let mut out = Vec::new();
        for (i, line) in bytes[..complete_len]
            .split_inclusive(|&b| b == b'\n')
            .enumerate()
        {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            out.push(self.parse_line(line, Some(i as u64 + 1))?);
        }
        Ok(out)
    }

    /// Checks the whole chain and the head file. On success returns the number of records
    /// and the head hash; [`Error::AuditTornTail`] when the log ends in a torn record
    /// (a crash mid-append; everything before it verifies); otherwise
    /// [`Error::AuditTampered`] names the first bad record (1-based line) and what is
    /// wrong with it.
    pub fn verify(&self) -> Result<AuditVerification> {
        let scan = self.scan()?;
        let head_lagging = self.check_head(&scan)?;
        if !scan.torn.is_empty() {
            return Err(Error::AuditTornTail {
                path: self.path.clone(),
                line: scan.records + 1,
                bytes: scan.torn.len() as u64,
                records: scan.records,
            });
        }
        Ok(AuditVerification {
            records: scan.records,
            head: (scan.records > 0).then_some(scan.last),
            head_lagging,
        })
    }

    fn tampered(&self, line: u64, problem: String) -> Error {
        Error::AuditTampered {
            path: self.path.clone(),
            line,
            problem,
        }
    }

    /// Reads and checks every complete line; keeps the torn bytes after the last one.
    fn scan(&self) -> Result<Scan> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let complete_len = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let mut prev = Digest::from_bytes([0; 32]);
        let mut before_last = prev;
        let mut count = 0u64;
        for (i, line) in bytes[..complete_len]
            .split_inclusive(|&b| b == b'\n')
            .enumerate()
        {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let lineno = i as u64 + 1;
            let rec: AuditRecord = serde_json::from_slice(line)
                .map_err(|e| self.tampered(lineno, format!("not a valid record: {e}")))?;
            if rec.compute_hash()? != rec.hash {
                return Err(self.tampered(
                    lineno,
                    "record was edited: its content does not match its hash".into(),
                ));
            }
            if rec.prev != prev {
                return Err(self.tampered(
                    lineno,
                    "chain broken: a record before it was deleted, inserted or reordered".into(),
                ));
            }
            if rec.seq != lineno {
                return Err(self.tampered(
                    lineno,
                    format!("sequence number {} where {lineno} was expected", rec.seq),
                ));
            }
            before_last = prev;
            prev = rec.hash;
            count = lineno;
        }
        Ok(Scan {
            records: count,
            last: prev,
            before_last,
            torn: bytes[complete_len..].to_vec(),
        })
    }

    /// Checks the head file against the complete records: `Ok(false)` when it names the
    /// last one, `Ok(true)` when it lags by exactly one (an interrupted append),
    /// [`Error::AuditTampered`] otherwise.
    fn check_head(&self, scan: &Scan) -> Result<bool> {
        let count = scan.records;
        let head: Option<Head> = match std::fs::read(self.head_path()) {
            Ok(b) => Some(
                serde_json::from_slice(&b)
                    .map_err(|e| self.tampered(count + 1, format!("head file unreadable: {e}")))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(self.head_path(), e)),
        };
        match head {
            None if count == 0 => Ok(false),
            // The very first append was interrupted before its head was written.
            None if count == 1 => Ok(true),
            None => Err(self.tampered(count, "head file is missing".into())),
            Some(h) if h.seq == count && h.hash == scan.last => Ok(false),
            Some(h) if h.seq + 1 == count && h.hash == scan.before_last => Ok(true),
            Some(h) if h.seq > count => Err(self.tampered(
                count + 1,
                format!(
                    "records {}..={} were cut off the end of the log",
                    count + 1,
                    h.seq
                ),
            )),
            Some(h) => Err(self.tampered(
                h.seq.min(count).max(1),
                "the log does not end at the recorded head".into(),
            )),
        }
    }
}
