//! SHA-256 digests: the names of everything the SDK stores.
//!
//! Content addressing makes lineage checkable: a dataset, a model package or an artifact
//! is named by the hash of its bytes, so a name that resolves proves the bytes are the
//! ones that were recorded. Hashing streams through a fixed buffer, so a file of any
//! size is hashed in constant memory.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// Size of the read buffer used when hashing readers and files.
const CHUNK: usize = 1 << 20;

/// A SHA-256 digest, shown and parsed as 64 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest of a byte string.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        let mut h = Hasher::new();
        h.update(bytes);
        h.finish()
    }

    /// The digest of everything a reader yields, read in fixed-size chunks.
    pub fn of_reader(mut reader: impl Read) -> std::io::Result<Digest> {
        let mut h = Hasher::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(h.finish())
    }

    /// The digest of a file's content, streamed in constant memory.
    pub fn of_file(path: &Path) -> Result<Digest> {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Digest::of_reader(f).map_err(|e| Error::io(path, e))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Builds a digest from its raw 32 bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// The 64-digit lower-case hex form (the same as `to_string()`).
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// A short form (the first 12 hex digits) for messages and tables.
    pub fn short(&self) -> String {
        let mut s = self.to_string();
        s.truncate(12);
        s
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = Error;

    /// Parses 64 hex digits, optionally prefixed by `sha256:`. Upper-case digits are accepted.
    fn from_str(s: &str) -> Result<Digest> {
        let hex = s.strip_prefix("sha256:").unwrap_or(s);
        let bad = |reason| Error::InvalidDigest {
            input: s.to_string(),
            reason,
        };
        if hex.len() != 64 {
            return Err(bad("expected 64 hex digits"));
        }
        let mut out = [0u8; 32];
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            let hi = hex_val(pair[0]).ok_or_else(|| bad("not a hex digit"))?;
            let lo = hex_val(pair[1]).ok_or_else(|| bad("not a hex digit"))?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Digest(out))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Digest, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An incremental SHA-256 hasher, for digests of data that arrives in pieces.
#[derive(Clone, Default)]
pub struct Hasher(Sha256);

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// A hasher that has seen no bytes.
    pub fn new() -> Hasher {
        Hasher(Sha256::new())
    }

    /// Feeds more bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The digest of every byte fed so far.
    pub fn finish(self) -> Digest {
        let out = self.0.finalize();
        let mut b = [0u8; 32];
        b.copy_from_slice(&out);
        Digest(b)
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(
            Digest::of_bytes(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            Digest::of_bytes(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn parse_round_trip_and_errors() {
        let d = Digest::of_bytes(b"x");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert_eq!(format!("sha256:{d}").parse::<Digest>().unwrap(), d);
        assert_eq!(d.to_string().to_uppercase().parse::<Digest>().unwrap(), d);
        assert!("abc".parse::<Digest>().is_err());
        assert!("g".repeat(64).parse::<Digest>().is_err());
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
    }
}
