//! NumPy `.npy` files (format version 1.0) of little-endian f32 arrays: what
//! `numpy.load` reads without options. Only what the importance files need: `<f4`, C order.

use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The bytes of an `.npy` v1.0 file holding `data` with `shape` (C order, `<f4`).
///
/// Panics if the shape's product is not `data.len()` (a programming error).
pub fn encode_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(
        shape.iter().product::<usize>(),
        data.len(),
        "npy: shape {shape:?} does not hold {} values",
        data.len()
    );
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    crate::data::export::npy_bytes("<f4", shape, false, &bytes)
}

/// Parses an `.npy` file of little-endian f32 in C order (versions 1.0 and 2.0): shape and data.
/// A `.npy` file this reader cannot use (the message says why).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NpyError(pub String);

impl From<String> for NpyError {
    fn from(message: String) -> Self {
        NpyError(message)
    }
}

impl From<&str> for NpyError {
    fn from(message: &str) -> Self {
        NpyError(message.to_string())
    }
}

impl From<NpyError> for String {
    fn from(e: NpyError) -> Self {
        e.0
    }
}

/// Decodes an `.npy` file of little-endian f32 (version 1.0-3.0, C order) into its shape and data.
pub fn decode_f32(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not an .npy file (bad magic)".into());
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}").into()),
    };
    let header = bytes
        .get(start..start + hlen)
        .ok_or(".npy header is truncated")?;
    let header = std::str::from_utf8(header).map_err(|_| ".npy header is not text")?;
    let field = |key: &str| -> Result<&str, NpyError> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!(".npy header has no '{key}'"))?;
        let rest = &header[at + key.len() + 2..];
        let colon = rest.find(':').ok_or(".npy header is malformed")?;
        Ok(rest[colon + 1..].trim_start())
    };
    let descr = field("descr")?;
    if !descr.starts_with("'<f4'") {
        return Err(format!(
            ".npy data type {} is not little-endian f32 ('<f4')",
            descr.split(',').next().unwrap_or("?")
        )
        .into());
    }
    if !field("fortran_order")?.starts_with("False") {
        return Err(".npy array is in Fortran order; only C order is read".into());
    }
    let shape = field("shape")?;
    let close = shape.find(')').ok_or(".npy shape is malformed")?;
    let shape: Vec<usize> = shape[1..close]
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!(".npy shape entry '{s}' is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let n: usize = shape.iter().product();
    let body = &bytes[start + hlen..];
    if body.len() != 4 * n {
        return Err(format!(
            ".npy data holds {} bytes, the shape {shape:?} needs {}",
            body.len(),
            4 * n
        )
        .into());
    }
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    Ok((shape, data))
}

/// Writes `data` as an `.npy` file atomically (temporary file, sync, rename).
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> std::io::Result<()> {
    crate::fsutil::write_atomic(path, &encode_f32(shape, data))
}

/// Reads an `.npy` file of f32; the error names the file.
pub fn read_f32(path: &Path) -> Result<(Vec<usize>, Vec<f32>), NpyError> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    decode_f32(&bytes).map_err(|e| NpyError(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trip_keeps_header_shape_and_data() {
        let data: Vec<f32> = (0..6).map(|i| i as f32 * 0.5 - 1.0).collect();
        let bytes = encode_f32(&[2, 3], &data);
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0, "header padded to 64 bytes");
        let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
        assert_eq!(
            header.trim_end(),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
        );
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + hlen + 24);
        // First value, -1.0 little-endian.
        assert_eq!(&bytes[10 + hlen..14 + hlen], &(-1.0f32).to_le_bytes());
        let (shape, back) = decode_f32(&bytes).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(back, data);
    }

    #[test]
    fn npy_one_dimensional_shape_has_a_trailing_comma() {
        let bytes = encode_f32(&[3], &[1.0, 2.0, 3.0]);
        let text = String::from_utf8_lossy(&bytes[10..]);
        assert!(text.contains("'shape': (3,), }"), "{text}");
        assert_eq!(decode_f32(&bytes).unwrap(), (vec![3], vec![1.0, 2.0, 3.0]));
    }

    #[test]
    fn npy_decode_rejects_bad_files() {
        assert!(decode_f32(b"hello world").unwrap_err().0.contains("magic"));
        let mut b = encode_f32(&[2], &[1.0, 2.0]);
        b.pop();
        assert!(decode_f32(&b).unwrap_err().0.contains("bytes"));
        let f8 = encode_f32(&[1], &[1.0]);
        let s = String::from_utf8_lossy(&f8).replace("<f4", "<f8");
        assert!(decode_f32(s.as_bytes()).is_err());
    }
}
