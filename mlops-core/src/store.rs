//! The content-addressed artifact store.
//!
//! Objects live under `ROOT/objects/ab/cdef…`, named by the SHA-256 of their bytes.
//! Because the name is the hash, a reader can prove the bytes are the ones written:
//! every read verifies, and a byte changed on disk is reported as
//! [`Error::Corrupt`] naming the object, while other objects keep reading.
//!
//! Writes stream into a temporary file inside `objects/` (hashing as they go), are
//! synced, then renamed to their final name. A writer killed at any moment leaves at
//! most a stray temporary file, never an object whose bytes do not match its name.
//! Directories are stored as a [`Manifest`]: a JSON object mapping checked relative
//! paths to the digests of the files, itself stored as an object.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Hasher;
use crate::fs::{read_dir_names, safe_relative_path, sync_dir, temp_file_in, walk_files};
use crate::{Digest, Error, Result};

/// A directory of content-addressed, verified-on-read objects.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
}

/// One file of a stored directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Digest of the file's bytes (an object in the same store).
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// A stored directory: relative paths (always `/`-separated, checked) to file digests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format marker, so a manifest is recognisable among other JSON objects.
    pub kind: String,
    /// The files, sorted by path (a `BTreeMap`, so the same tree always gives the same
    /// manifest bytes and hence the same digest).
    pub files: BTreeMap<String, ManifestEntry>,
}

/// The `kind` value of every [`Manifest`].
pub const MANIFEST_KIND: &str = "mlops.manifest.v1";

/// Objects larger than this are never read whole to look for a manifest (a manifest of
/// 100,000 files is about 15 MB).
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

impl ArtifactStore {
    /// Opens (creating if needed) a store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Result<ArtifactStore> {
        let root = root.into();
        let objects = root.join("objects");
        std::fs::create_dir_all(&objects).map_err(|e| Error::io(&objects, e))?;
        Ok(ArtifactStore { root })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object named `digest` lives (whether or not it exists).
    pub fn object_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    /// True when an object named `digest` is present (its content is not checked).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.object_path(digest).is_file()
    }

    /// Stores a byte string and returns its digest.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        self.put_reader(bytes)
    }

    /// Stores a file's content (streamed, constant memory) and returns its digest.
    pub fn put_file(&self, path: &Path) -> Result<Digest> {
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        self.put_reader(f)
    }

    /// Stores everything a reader yields and returns its digest.
    ///
    /// Storing content that is already present is cheap and leaves the present object
    /// in place (when its size matches); otherwise the object is (re)written atomically.
    pub fn put_reader(&self, mut reader: impl Read) -> Result<Digest> {
        let objects = self.root.join("objects");
        let mut tmp = temp_file_in(&objects)?;
        let tmp_path = tmp.path().to_path_buf();
        let mut hasher = Hasher::new();
        let mut size = 0u64;
        {
            let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io(&tmp_path, e)),
                };
                hasher.update(&buf[..n]);
                w.write_all(&buf[..n])
                    .map_err(|e| Error::io(&tmp_path, e))?;
                size += n as u64;
            }
            w.flush().map_err(|e| Error::io(&tmp_path, e))?;
        }
        let digest = hasher.finish();
        let dest = self.object_path(&digest);
        if let Ok(meta) = std::fs::metadata(&dest)
            && meta.len() == size
        {
            return Ok(digest); // the temporary file is removed on drop
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(&tmp_path, e))?;
        let dir = dest.parent().unwrap_or(&objects);
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        tmp.persist(&dest).map_err(|e| Error::io(&dest, e.error))?;
        sync_dir(dir)?;
        tracing::debug!(%digest, size, "stored object");
        Ok(digest)
    }

    /// Stores every regular file under `dir` and then a [`Manifest`] of them; returns the
    /// manifest's digest. Symbolic links are refused rather than followed out of the tree.
    pub fn put_dir(&self, dir: &Path) -> Result<Digest> {
        let mut manifest = Manifest {
            kind: MANIFEST_KIND.to_string(),
            files: BTreeMap::new(),
        };
        // A missing directory is an error here, not an empty manifest.
        std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        for (rel, path) in walk_files(dir)? {
            let rel = safe_relative_path(&rel)?;
            let digest = self.put_file(&path)?;
            let size = std::fs::metadata(&path)
                .map_err(|e| Error::io(&path, e))?
                .len();
            manifest.files.insert(rel, ManifestEntry { digest, size });
        }
        self.put_manifest(&manifest)
    }

    /// Stores a manifest built by hand (its paths are checked) and returns its digest.
    pub fn put_manifest(&self, manifest: &Manifest) -> Result<Digest> {
        for path in manifest.files.keys() {
            let norm = safe_relative_path(path)?;
            if &norm != path {
                return Err(Error::InvalidPath {
                    path: path.clone(),
                    reason: "manifest paths must be normalised ('/'-separated, no '.')",
                });
            }
        }
        let bytes = serde_json::to_vec(manifest).map_err(|source| Error::Json {
            context: "manifest".into(),
            source,
        })?;
        self.put_bytes(&bytes)
    }

    /// Reads a whole object into memory, verifying its digest.
    pub fn get(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut r = self.open(digest)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).map_err(|e| r.into_error(e))?;
        Ok(out)
    }

    /// Opens an object for streaming. The reader hashes what it yields and fails at the
    /// end of the stream with [`Error::Corrupt`] (inside the `io::Error`, see
    /// [`ObjectReader::into_error`]) if the bytes do not match the name.
    pub fn open(&self, digest: &Digest) -> Result<ObjectReader> {
        let path = self.object_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(*digest));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        Ok(ObjectReader {
            file,
            path,
            expected: *digest,
            hasher: Some(Hasher::new()),
        })
    }

    /// Reads an object through to the end and checks its digest.
    pub fn verify(&self, digest: &Digest) -> Result<()> {
        let mut r = self.open(digest)?;
        std::io::copy(&mut r, &mut std::io::sink()).map_err(|e| r.into_error(e))?;
        Ok(())
    }

    /// Reads and parses a manifest object.
    pub fn get_manifest(&self, digest: &Digest) -> Result<Manifest> {
        let bytes = self.get(digest)?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|source| Error::Json {
            context: format!("manifest {digest}"),
            source,
        })?;
        if m.kind != MANIFEST_KIND {
            return Err(Error::InvalidArgument(format!(
                "object {digest} is not a manifest (kind {:?})",
                m.kind
            )));
        }
        Ok(m)
    }

    /// Writes the directory a manifest describes under `dest` (created if needed),
    /// verifying every file as it is copied.
    pub fn export_dir(&self, manifest: &Digest, dest: &Path) -> Result<()> {
        let m = self.get_manifest(manifest)?;
        for (rel, entry) in &m.files {
            let rel = safe_relative_path(rel)?;
            let target = dest.join(&rel);
            let mut r = self.open(&entry.digest)?;
            crate::fs::write_atomic_with(&target, |f| std::io::copy(&mut r, f).map(|_| ()))
                .map_err(|e| match e {
                    Error::Io { source, .. } if source.get_ref().is_some() => r.into_error(source),
                    other => other,
                })?;
        }
        Ok(())
    }

    /// Copies a package (one object, or a manifest and every file it lists) from `from`
    /// into this store, verifying every object as it is read; objects already here are
    /// skipped. Returns the manifest when the package is a directory. The registry's
    /// `import_package` and `mlops sync` copy packages between stores with it.
    pub fn copy_package_from(
        &self,
        from: &ArtifactStore,
        package: &Digest,
    ) -> Result<Option<Manifest>> {
        let manifest = from.manifest_if_any(package)?;
        if let Some(m) = &manifest {
            for entry in m.files.values() {
                self.copy_object_from(from, &entry.digest)?;
            }
        }
        self.copy_object_from(from, package)?;
        Ok(manifest)
    }

    /// The manifest an object holds, if it is one; objects larger than
    /// [`MAX_MANIFEST_BYTES`] are never read whole to find out.
    pub fn manifest_if_any(&self, digest: &Digest) -> Result<Option<Manifest>> {
        let path = self.object_path(digest);
        let len = std::fs::metadata(&path)
            .map(|m| m.len())
            .map_err(|e| Error::io(&path, e))?;
        if len > MAX_MANIFEST_BYTES {
            return Ok(None);
        }
        let bytes = self.get(digest)?;
        Ok(serde_json::from_slice::<Manifest>(&bytes)
            .ok()
            .filter(|m| m.kind == MANIFEST_KIND))
    }

    fn copy_object_from(&self, from: &ArtifactStore, digest: &Digest) -> Result<()> {
        if self.contains(digest) {
            return Ok(());
        }
        let mut r = from.open(digest)?;
        // The reader verifies at the end; a mismatch fails the copy.
        let got = self.put_reader(&mut r)?;
        if got != *digest {
            return Err(Error::Corrupt {
                expected: *digest,
                actual: got,
            });
        }
        Ok(())
    }

    /// Every object digest in the store (order unspecified).
    pub fn list(&self) -> Result<Vec<Digest>> {
        let objects = self.root.join("objects");
        let mut out = Vec::new();
        if !objects.is_dir() {
            return Err(Error::io(
                &objects,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        for prefix in read_dir_names(&objects)? {
            let shard = objects.join(&prefix);
            if prefix.len() != 2 || !shard.is_dir() {
                continue;
            }
            for rest in read_dir_names(&shard)? {
                if let Ok(d) = format!("{prefix}{rest}").parse::<Digest>() {
                    out.push(d);
                }
            }
        }
        Ok(out)
    }
}

/// A reader over a stored object that verifies its digest at the end of the stream.
#[derive(Debug)]
pub struct ObjectReader {
    file: File,
    path: PathBuf,
    expected: Digest,
    hasher: Option<Hasher>,
}

impl ObjectReader {
    /// Turns an `io::Error` from this reader back into the crate's [`Error`], recovering
    /// [`Error::Corrupt`] when that is what ended the stream.
    pub fn into_error(&self, e: std::io::Error) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            match e.into_inner().map(|b| b.downcast::<Error>()) {
                Some(Ok(err)) => return *err,
                Some(Err(other)) => {
                    return Error::io(&self.path, std::io::Error::other(other));
                }
                None => {}
            }
            return Error::io(&self.path, std::io::Error::other("unknown error"));
        }
        Error::io(&self.path, e)
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        if n > 0 {
            if let Some(h) = self.hasher.as_mut() {
                h.update(&buf[..n]);
            }
        } else if !buf.is_empty()
            && let Some(h) = self.hasher.take()
        {
            let actual = h.finish();
            if actual != self.expected {
                tracing::warn!(object = %self.expected, %actual, "corrupt object");
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    Error::Corrupt {
                        expected: self.expected,
                        actual,
                    },
                ));
            }
        }
        Ok(n)
    }
}
