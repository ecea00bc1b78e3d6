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

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
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
        let head = Head {
            seq: rec.seq,
            hash: rec.hash,
        };
        let head_bytes = serde_json::to_vec(&head).map_err(|source| Error::Json {
            context: "audit head".into(),
            source,
        })?;
        write_atomic(&self.head_path(), &head_bytes)?;
        tracing::debug!(seq = rec.seq, action, subject, "audit record appended");
        Ok(rec)
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

    /// Reads every record, in order, without checking the chain.
    pub fn records(&self) -> Result<Vec<AuditRecord>> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let mut out = Vec::new();
        for (i, line) in BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| Error::io(&self.path, e))?;
            out.push(self.parse_line(line.as_bytes(), Some(i as u64 + 1))?);
        }
        Ok(out)
    }

    /// Checks the whole chain and the head file. On success returns the number of records
    /// and the head hash; otherwise [`Error::AuditTampered`] names the first bad record
    /// (1-based line) and what is wrong with it.
    pub fn verify(&self) -> Result<AuditVerification> {
        let tampered = |line: u64, problem: String| Error::AuditTampered {
            path: self.path.clone(),
            line,
            problem,
        };
        let f = match File::open(&self.path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let mut prev = Digest::from_bytes([0; 32]);
        let mut count = 0u64;
        if let Some(f) = f {
            for (i, line) in BufReader::new(f).lines().enumerate() {
                let lineno = i as u64 + 1;
                let line = line.map_err(|e| Error::io(&self.path, e))?;
                let rec: AuditRecord = serde_json::from_str(&line)
                    .map_err(|e| tampered(lineno, format!("not a valid record: {e}")))?;
                if rec.compute_hash()? != rec.hash {
                    return Err(tampered(
                        lineno,
                        "record was edited: its content does not match its hash".into(),
                    ));
                }
                if rec.prev != prev {
                    return Err(tampered(
                        lineno,
                        "chain broken: a record before it was deleted, inserted or reordered"
                            .into(),
                    ));
                }
                if rec.seq != lineno {
                    return Err(tampered(
                        lineno,
                        format!("sequence number {} where {lineno} was expected", rec.seq),
                    ));
                }
                prev = rec.hash;
                count = lineno;
            }
        }
        let head: Option<Head> = match std::fs::read(self.head_path()) {
            Ok(b) => Some(
                serde_json::from_slice(&b)
                    .map_err(|e| tampered(count + 1, format!("head file unreadable: {e}")))?,
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io(self.head_path(), e)),
        };
        match head {
            None if count == 0 => {}
            None => {
                return Err(tampered(count, "head file is missing".into()));
            }
            Some(h) if h.seq == count && h.hash == prev => {}
            Some(h) if h.seq > count => {
                return Err(tampered(
                    count + 1,
                    format!(
                        "records {}..={} were cut off the end of the log",
                        count + 1,
                        h.seq
                    ),
                ));
            }
            Some(h) => {
                return Err(tampered(
                    h.seq.min(count).max(1),
                    "the log does not end at the recorded head".into(),
                ));
            }
        }
        Ok(AuditVerification {
            records: count,
            head: (count > 0).then_some(prev),
        })
    }
}
