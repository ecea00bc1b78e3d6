//! File-system primitives every store in the workspace is built on.
//!
//! Three promises hold across the SDK and all live here so they are written once:
//!
//! - a write is atomic (a reader sees the old file or the new one, never half of either,
//!   even when the writer is killed), and durable (the file and its directory entry are
//!   synced before the call returns), copies included;
//! - a file or directory gets the mode a plain create gives under the process umask
//!   (`0666`/`0777` masked: `0644`/`0755` under umask `022`, `0600`/`0700` under `077`),
//!   as MLflow's own file store does, so a store shared by a team, read by `mlflow ui`
//!   under another account or uploaded by CI stays readable. Temporary files are made
//!   with that mode from the start because they *become* the files; nothing the SDK
//!   writes today is a secret (a writer of secrets would be the documented exception);
//! - cross-process mutual exclusion uses an OS file lock (released by the kernel when a
//!   holder dies, so a crash never wedges a store).
//!
//! The directory walks every store needs (sorted names, files of a tree, the
//! one-file-per-key directories of MLflow's layout) are here too, so that they skip
//! the same temporary files and refuse the same symbolic links everywhere.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// The prefix of every temporary file [`write_atomic`] creates; walks skip such names.
pub const TEMP_PREFIX: &str = ".tmp";

/// True for a name a writer uses for a temporary file ([`TEMP_PREFIX`]), which no
/// reader should take for data. Of an `a/b`-style relative path, the last name counts.
pub fn is_temp_name(name: &str) -> bool {
    name.rsplit('/')
        .next()
        .unwrap_or(name)
        .starts_with(TEMP_PREFIX)
}

/// A new temporary file in `dir` (which must exist), named `.tmp*`, created with the
/// mode a plain create gets under the process umask (tempfile's default is `0600`,
/// which a rename would carry into the final file).
pub(crate) fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    let mut b = tempfile::Builder::new();
    b.prefix(TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The kernel applies the umask to this, exactly as for `File::create`.
        b.permissions(std::fs::Permissions::from_mode(0o666));
    }
    b.tempfile_in(dir).map_err(|e| Error::io(dir, e))
}

/// A scratch directory in `dir` (created if needed) named `<prefix>*`, removed when the
/// value is dropped, also when a panic unwinds. Its mode is a plain `mkdir`'s, so it
/// can be renamed into a store as it is.
pub(crate) fn temp_dir_in(dir: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is
/// written, flushed to disk and renamed over `path`, then the directory is synced.
///
/// Parent directories are created. A reader never observes a partial file; a writer
/// killed at any point leaves either the old content or the new one (plus, at worst,
/// a stray temporary file named `.tmp*` that no reader looks at). The file gets the
/// mode a plain create would give (see the module docs), also when it replaces one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// Like [`write_atomic`], with the content produced by a closure writing to the
/// temporary file (for content streamed from elsewhere).
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = temp_file_in(dir)?;
    fill(tmp.as_file_mut()).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir)
}

/// Creates `path` with `bytes` atomically unless it exists: the content is written and
/// synced in a temporary file, then linked to `path` without replacing anything
/// (a no-clobber rename), so of two writers racing for one name exactly one wins.
///
/// Returns `true` when this call created the file, `false` when `path` already existed
/// (left untouched; the caller decides whether its content is acceptable).
pub fn write_atomic_new(path: &Path, bytes: &[u8]) -> Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let dir = parent_dir(path);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = temp_file_in(dir)?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => {
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(Error::io(path, e.error)),
    }
}

/// Copies the file `from` to `to` with [`write_atomic`]'s guarantees (temporary file,
/// fsync, rename, directory fsync; parents created).
pub fn copy_file_atomic(from: &Path, to: &Path) -> Result<()> {
    let mut src = File::open(from).map_err(|e| Error::io(from, e))?;
    write_atomic_with(to, |f| std::io::copy(&mut src, f).map(|_| ()))
}

/// Copies a file, or a directory tree file by file, from `from` to `to` (created as
/// needed), each file with [`copy_file_atomic`]. A symbolic link inside the tree is an
/// [`Error::InvalidPath`] rather than followed out of it (see [`walk_files`]).
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = std::fs::metadata(from).map_err(|e| Error::io(from, e))?;
    if meta.is_file() {
        return copy_file_atomic(from, to);
    }
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    for (rel, path) in walk_files(from)? {
        copy_file_atomic(&path, &to.join(rel))?;
    }
    Ok(())
}

/// The names in `dir`, sorted; a missing directory has none. Names that are not valid
/// UTF-8 are skipped (no store of ours creates them).
pub fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|err| Error::io(dir, err))?;
        if let Some(n) = e.file_name().to_str() {
            out.push(n.to_string());
        }
    }
    out.sort();
    Ok(out)
}

/// Every regular file under `dir`, recursively, as (`a/b`-style relative path, full
/// path), sorted by relative path; a missing directory has none. Nothing is skipped
/// (a user's tree may hold any name); readers of a store drop temporary files with
/// [`is_temp_name`]. A symbolic link or other special file is an
/// [`Error::InvalidPath`] (never followed out of the tree), and so is a name that is not
/// valid UTF-8.
pub fn walk_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, prefix)) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&d, e)),
        };
        for ent in rd {
            let ent = ent.map_err(|e| Error::io(&d, e))?;
            let path = ent.path();
            let Some(name) = ent.file_name().to_str().map(str::to_string) else {
                return Err(Error::InvalidPath {
                    path: path.display().to_string(),
                    reason: "not valid UTF-8",
                });
            };
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let ft = ent.file_type().map_err(|e| Error::io(&path, e))?;
            if ft.is_dir() {
                stack.push((path, rel));
            } else if ft.is_file() {
                out.push((rel, path));
            } else {
                return Err(Error::InvalidPath {
                    path: path.display().to_string(),
                    reason: "not a regular file or directory (symbolic links are not followed)",
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a one-file-per-key directory (MLflow's `tags/`, `params/`, `aliases/`) as
/// `key → content`; keys with `/` are subdirectories, as MLflow writes them. Temporary
/// files ([`is_temp_name`]: a write in flight or a killed writer's leftover) are not
/// keys. Content that is not UTF-8 is read lossily.
pub fn read_kv_dir(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, p) in walk_files(dir)? {
        if is_temp_name(&k) {
            continue;
        }
        let v = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        out.insert(k, String::from_utf8_lossy(&v).into_owned());
    }
    Ok(out)
}

/// Flushes a directory's entries (new names, renames) to disk.
pub fn sync_dir(dir: &Path) -> Result<()> {
    // Directories cannot be opened for syncing on every platform; where they can't,
    // the rename is still atomic, only its durability is left to the OS.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// An exclusive advisory lock on a file, held until the value is dropped.
///
/// Used to serialise writers across threads *and* processes (appends to the audit
/// log, version numbering in the registry). The kernel releases it if the holder dies.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Blocks until the exclusive lock on `path` is held, creating the file if needed.
    pub fn acquire(path: &Path) -> Result<FileLock> {
        let dir = parent_dir(path);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        file.lock().map_err(|e| Error::io(path, e))?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Checks a user-given relative path (an artifact name, a manifest entry) and returns
/// it normalised with `/` separators.
///
/// Refused: empty paths, absolute paths, `..` components, Windows prefixes, NUL bytes
/// and backslashes. `.` components and repeated separators are dropped. A path that
/// passes can be joined to a root without escaping it.
pub fn safe_relative_path(path: &str) -> Result<String> {
    let bad = |reason| Error::InvalidPath {
        path: path.to_string(),
        reason,
    };
    if path.is_empty() {
        return Err(bad("empty path"));
    }
    if path.contains('\0') {
        return Err(bad("contains a NUL byte"));
    }
    if path.contains('\\') {
        return Err(bad("contains a backslash; use '/'"));
    }
    if path.starts_with('/') {
        return Err(bad("absolute paths are not allowed"));
    }
    let mut parts = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(s) => match s.to_str() {
                Some(s) => parts.push(s),
                None => return Err(bad("not valid UTF-8")),
            },
            Component::CurDir => {}
            Component::ParentDir => return Err(bad("'..' is not allowed")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(bad("absolute paths are not allowed"));
            }
        }
    }
    if parts.is_empty() {
        return Err(bad("names no file"));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(safe_relative_path("a/./b//c.txt").unwrap(), "a/b/c.txt");
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/..",
            ".",
            "a\\b",
            "a\0",
        ] {
            assert!(safe_relative_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn atomic_write_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/file.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
    }
}
