//! File-system primitives every store in the workspace is built on.
//!
//! Two promises hold across the SDK and both live here so they are written once:
//! a write is atomic (a reader sees the old file or the new one, never half of either,
//! even when the writer is killed), and cross-process mutual exclusion uses an
//! OS file lock (released by the kernel when a holder dies, so a crash never wedges a
//! store).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is
/// written, flushed to disk and renamed over `path`, then the directory is synced.
///
/// Parent directories are created. A reader never observes a partial file; a writer
/// killed at any point leaves either the old content or the new one (plus, at worst,
/// a stray temporary file named `.tmp*` that no reader looks at).
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
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    fill(tmp.as_file_mut()).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    sync_dir(dir)
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
