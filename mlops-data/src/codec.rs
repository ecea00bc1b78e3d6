//! Compact text encodings for sketch state inside JSON: base64 of little-endian bytes.
//!
//! A profile's sketches hold thousands of floats and registers; as JSON numbers they
//! would be three times larger and slow to parse. Each is stored as one base64 string
//! instead (standard alphabet, padded, through the `base64` crate), which still
//! round-trips exactly (bytes, not decimal text).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Standard base64 with padding.
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes [`b64_encode`]'s output; `None` on any malformed input.
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// f64s as base64 of their little-endian bytes (exact).
pub(crate) fn f64s_encode(values: &[f64]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 8);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    b64_encode(&bytes)
}

/// Inverse of [`f64s_encode`].
pub(crate) fn f64s_decode(text: &str) -> Option<Vec<f64>> {
    let bytes = b64_decode(text)?;
    if bytes.len() % 8 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                f64::from_le_bytes(a)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        for len in 0..20 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 5) as u8).collect();
            let text = b64_encode(&bytes);
            assert_eq!(b64_decode(&text).unwrap(), bytes);
        }
        assert_eq!(b64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(b64_encode(b"fo"), "Zm8=");
        assert!(b64_decode("Zm8").is_none());
        assert!(b64_decode("Z=8=").is_none());
        let f = [1.5, -0.0, f64::MAX, 1e-300];
        assert_eq!(f64s_decode(&f64s_encode(&f)).unwrap(), f);
    }
}
