//! Reader for the IDX tensor format that MNIST ships in, raw or gzip-compressed.
//!
//! Every length in a header is checked against the bytes actually present before it is
//! trusted, so a corrupt or hostile file yields a `DataError`, never a panic or a huge
//! allocation.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::data::DataError;

/// IDX magic for a u8 tensor of three dimensions (n, rows, cols): an images file.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic for a u8 tensor of one dimension (n): a labels file.
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest file, after decompression, that is read at all (MNIST is about 47 MB).
pub const MAX_FILE_BYTES: u64 = 2 << 30;
// Only rejects nonsense headers early, with a clearer message than "truncated".
const MAX_PAYLOAD_BYTES: u64 = 1 << 32;

/// A decoded IDX3 u8 image tensor: `n` images of `rows` x `cols` pixels, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    /// Number of images.
    pub n: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// `n * rows * cols` pixels.
    pub pixels: Vec<u8>,
}

/// Reads and validates an IDX3 u8 image file, raw or gzip (detected by its magic bytes).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    let raw = read_file(path)?;
    parse_images(path, decompress(path, raw)?)
}

/// Reads and validates an IDX1 u8 label file, raw or gzip; every label must be `< num_classes`.
pub fn read_labels(path: &Path, num_classes: u8) -> Result<Vec<u8>, DataError> {
    let raw = read_file(path)?;
    parse_labels(path, decompress(path, raw)?, num_classes)
}

/// Reads a whole file as stored on disk, refusing anything over `MAX_FILE_BYTES`.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut buf = Vec::new();
    File::open(path)
        .map_err(io)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(io)?;
    check_size(path, buf)
}

/// Inflates `raw` if it starts with the gzip magic; IDX data itself starts with 00 00.
///
/// The IDX header fixes the file's size, so inflation stops one byte past it: a small `.gz` that
/// inflates far beyond what its header declares (a gzip bomb) is refused after at most that
/// many bytes. A header that is not a u8 IDX header ends the inflation there; the parsers then
/// say what is wrong with it.
pub fn decompress(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut gz = MultiGzDecoder::new(raw.as_slice());
    let mut out = Vec::new();
    // Inflates until `out` holds `len` bytes or the stream ends.
    let mut fill = |out: &mut Vec<u8>, len: u64| {
        let want = len.saturating_sub(out.len() as u64);
        (&mut gz)
            .take(want)
            .read_to_end(out)
            .map_err(|e| DataError::BadGzip {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })
    };
    fill(&mut out, 4)?;
    // Magic 00 00 08 d: unsigned bytes in d dimensions, each a big-endian u32 after it.
    let ndim = match out[..] {
        [0, 0, 0x08, d] if d > 0 => u64::from(d),
        _ => return Ok(out),
    };
    let header_len = 4 + 4 * ndim;
    fill(&mut out, header_len)?;
    if (out.len() as u64) < header_len {
        return Ok(out);
    }
    let magic = u32::from_be_bytes([out[0], out[1], out[2], out[3]]);
    let Ok(dims) = header(path, &out, magic, ndim as usize) else {
        // Zero or absurd dimensions: the parser names them.
        return Ok(out);
    };
    // `header` bounded the product, so this cannot overflow.
    let declared = header_len + dims.iter().map(|&d| d as u64).product::<u64>();
    if declared > MAX_FILE_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_FILE_BYTES,
        });
    }
    fill(&mut out, declared + 1)?;
    if out.len() as u64 > declared {
        return Err(DataError::InflatesPastHeader {
            path: path.to_path_buf(),
            declared,
        });
    }
    Ok(out)
}

fn check_size(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(bytes)
}

/// Validates decompressed IDX3 bytes and strips the header in place (no copy of the pixels).
pub fn parse_images(path: &Path, mut bytes: Vec<u8>) -> Result<IdxImages, DataError> {
    let dims = header(path, &bytes, IMAGES_MAGIC, 3)?;
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    payload(path, &mut bytes, 16, &dims, || {
        format!("header says {n} images of {rows}x{cols}")
    })?;
    Ok(IdxImages {
        n,
        rows,
        cols,
        pixels: bytes,
    })
}

/// Validates decompressed IDX1 bytes and checks every label is below `num_classes`.
pub fn parse_labels(
    path: &Path,
    mut bytes: Vec<u8>,
    num_classes: u8,
) -> Result<Vec<u8>, DataError> {
    let dims = header(path, &bytes, LABELS_MAGIC, 1)?;
    let n = dims[0];
    payload(path, &mut bytes, 8, &dims, || {
        format!("header says {n} labels")
    })?;
    if let Some((index, &label)) = bytes.iter().enumerate().find(|(_, l)| **l >= num_classes) {
        let path = path.to_path_buf();
        return Err(DataError::LabelOutOfRange {
            path,
            index,
            label,
            num_classes,
        });
    }
    Ok(bytes)
}

fn header(path: &Path, bytes: &[u8], magic: u32, ndim: usize) -> Result<Vec<usize>, DataError> {
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let header_len = 4 + 4 * ndim;
    let short = || DataError::Truncated {
        path: path.to_path_buf(),
        what: format!("the IDX header (magic + {ndim} dims)"),
        expected: header_len as u64,
        actual: bytes.len() as u64,
    };
    if bytes.len() < 4 {
        return Err(short());
    }
    // Checked before the length so that a labels file passed as images says so.
    let found = be(0);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: magic,
            found,
        });
    }
    if bytes.len() < header_len {
        return Err(short());
    }
    let dims: Vec<usize> = (0..ndim).map(|k| be(4 + 4 * k) as usize).collect();
    let bad = |detail: String| DataError::BadDims {
        path: path.to_path_buf(),
        detail,
    };
    if let Some(k) = dims.iter().position(|&d| d == 0) {
        return Err(bad(format!("dimension {k} of {dims:?} is zero")));
    }
    let total = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64));
    if total.is_none_or(|t| t > MAX_PAYLOAD_BYTES) {
        return Err(bad(format!(
            "dims {dims:?} describe more than {MAX_PAYLOAD_BYTES} bytes"
        )));
    }
    Ok(dims)
}

/// Checks the payload after the header is exactly the declared size, then drops the header.
fn payload(
    path: &Path,
    bytes: &mut Vec<u8>,
    header_len: usize,
    dims: &[usize],
    what: impl Fn() -> String,
) -> Result<(), DataError> {
    // `header` already bounded this product, so it cannot overflow.
    let expected: u64 = dims.iter().map(|&d| d as u64).product();
    let actual = (bytes.len() - header_len) as u64;
    let path = path.to_path_buf();
    if actual < expected {
        return Err(DataError::Truncated {
            path,
            what: what(),
            expected,
            actual,
        });
    }
    if actual > expected {
        return Err(DataError::TrailingBytes {
            path,
            what: what(),
            expected,
            actual,
        });
    }
    bytes.drain(..header_len);
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use flate2::{write::GzEncoder, Compression};
    use std::io::Write;
    use std::path::PathBuf;

    pub(crate) fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| v.extend(d.to_be_bytes()));
        v.extend_from_slice(payload);
        v
    }

    pub(crate) fn images(n: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
        idx(IMAGES_MAGIC, &[n, rows, cols], pixels)
    }

    pub(crate) fn labels(labels: &[u8]) -> Vec<u8> {
        idx(LABELS_MAGIC, &[labels.len() as u32], labels)
    }

    pub(crate) fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn pixels(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 37 % 256) as u8).collect()
    }

    fn assert_names(err: &DataError, path: &Path, needle: &str) {
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string()),
            "no path in: {msg}"
        );
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
        assert!(!msg.contains('\n'), "multi-line: {msg}");
    }

    #[test]
    fn valid_files_round_trip_raw_and_gzip_detected_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let px = pixels(3 * 4 * 5);
        let want = IdxImages {
            n: 3,
            rows: 4,
            cols: 5,
            pixels: px.clone(),
        };
        let file = images(3, 4, 5, &px);
        // Names deliberately lie about compression: detection must go by content.
        let raw = write(dir.path(), "imgs.gz", &file);
        let zipped = write(dir.path(), "imgs.raw", &gz(&file));
        assert_eq!(read_images(&raw).unwrap(), want);
        assert_eq!(read_images(&zipped).unwrap(), want);
        let lab = [0, 9, 3, 7];
        let raw = write(dir.path(), "labs", &labels(&lab));
        let zipped = write(dir.path(), "labs.z", &gz(&labels(&lab)));
        assert_eq!(read_labels(&raw, 10).unwrap(), lab);
        assert_eq!(read_labels(&zipped, 10).unwrap(), lab);
    }

    #[test]
    fn truncated_payload_and_header_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "short", &gz(&images(3, 2, 2, &pixels(11))));
        let err = read_images(&p).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 12,
                    actual: 11,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_names(
            &err,
            &p,
            "truncated: header says 3 images of 2x2 = 12 bytes, file has 11",
        );
        assert_names(&err, &p, "data folder");
        let p = write(dir.path(), "hdr", &images(3, 2, 2, &[])[..10]);
        let err = read_images(&p).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::Truncated {
                    expected: 16,
                    actual: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_names(&err, &p, "truncated");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "long", &images(3, 2, 2, &pixels(13)));
        let err = read_images(&p).unwrap_err();
        assert!(matches!(
            err,
            DataError::TrailingBytes {
                expected: 12,
                actual: 13,
                ..
            }
        ));
        assert_names(&err, &p, "1 unexpected trailing bytes");
        let mut lab = labels(&[1, 2]);
        lab.push(0);
        let p = write(dir.path(), "labs", &lab);
        let err = read_labels(&p, 10).unwrap_err();
        assert!(matches!(
            err,
            DataError::TrailingBytes {
                expected: 2,
                actual: 3,
                ..
            }
        ));
    }

    #[test]
    fn wrong_magic_names_expected_and_found_in_hex() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "labels-as-images", &labels(&[1; 20]));
        let err = read_images(&p).unwrap_err();
        assert!(matches!(
            err,
            DataError::BadMagic {
                expected: 0x803,
                found: 0x801,
                ..
            }
        ));
        assert_names(&err, &p, "expected magic 0x00000803");
        assert_names(&err, &p, "found 0x00000801");
        // A float (type 0x0d) tensor has the right ndim but the wrong element type.
        let p = write(dir.path(), "floats", &idx(0x0d03, &[1, 1, 1], &[0; 4]));
        let err = read_images(&p).unwrap_err();
        assert!(
            matches!(err, DataError::BadMagic { found: 0x0d03, .. }),
            "{err:?}"
        );
        let p = write(dir.path(), "images-as-labels", &images(1, 1, 1, &[0]));
        let err = read_labels(&p, 10).unwrap_err();
        assert!(matches!(
            err,
            DataError::BadMagic {
                expected: 0x801,
                found: 0x803,
                ..
            }
        ));
    }

    #[test]
    fn zero_and_overflowing_dims_are_rejected_without_allocating() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "zero", &images(3, 0, 2, &[]));
        let err = read_images(&p).unwrap_err();
        assert!(matches!(err, DataError::BadDims { .. }), "{err:?}");
        assert_names(&err, &p, "is zero");
        let p = write(
            dir.path(),
            "huge",
            &images(u32::MAX, u32::MAX, u32::MAX, &[1; 8]),
        );
        let err = read_images(&p).unwrap_err();
        assert!(matches!(err, DataError::BadDims { .. }), "{err:?}");
        assert_names(&err, &p, "more than");
        let p = write(dir.path(), "nolabels", &labels(&[]));
        assert!(matches!(
            read_labels(&p, 10),
            Err(DataError::BadDims { .. })
        ));
    }

    #[test]
    fn label_out_of_range_reports_index_and_value() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "labs", &labels(&[1, 9, 10, 3]));
        let err = read_labels(&p, 10).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    index: 2,
                    label: 10,
                    num_classes: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_names(&err, &p, "label 10 at index 2");
        assert_eq!(read_labels(&p, 11).unwrap(), [1, 9, 10, 3]);
    }

    #[test]
    fn unreadable_and_corrupt_gzip_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("absent");
        let err = read_images(&p).unwrap_err();
        assert!(matches!(err, DataError::Io { .. }), "{err:?}");
        assert_names(&err, &p, "cannot read");
        let z = gz(&images(2, 2, 2, &pixels(8)));
        let p = write(dir.path(), "cut.gz", &z[..z.len() - 10]);
        let err = read_images(&p).unwrap_err();
        assert!(matches!(err, DataError::BadGzip { .. }), "{err:?}");
        assert_names(&err, &p, "gzip");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let p = Path::new("fuzz");
        let raw = images(3, 2, 2, &pixels(12));
        let zipped = gz(&raw);
        let decode = |b: &[u8]| decompress(p, b.to_vec()).and_then(|d| parse_images(p, d));
        assert!(decode(&raw).is_ok() && decode(&zipped).is_ok());
        for len in 0..raw.len() {
            assert!(decode(&raw[..len]).is_err(), "truncated to {len} accepted");
        }
        for len in 0..zipped.len() {
            let _ = decode(&zipped[..len]);
        }
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..400 {
            let mut b = if round % 2 == 0 {
                raw.clone()
            } else {
                zipped.clone()
            };
            for _ in 0..1 + next() % 4 {
                let i = (next() % b.len() as u64) as usize;
                b[i] = next() as u8;
            }
            let _ = decode(&b);
            let _ = decompress(p, b).and_then(|d| parse_labels(p, d, 10));
        }
    }

    #[test]
    fn gzip_inflating_past_its_header_is_refused_without_reading_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        // One byte too many: refused, the file named.
        let p = write(dir.path(), "long.gz", &gz(&images(3, 2, 2, &pixels(13))));
        let err = read_images(&p).unwrap_err();
        assert!(
            matches!(err, DataError::InflatesPastHeader { declared: 28, .. }),
            "{err:?}"
        );
        assert_names(
            &err,
            &p,
            "inflates to more than the 28 bytes its IDX header declares",
        );
        // A stream far longer than its header, whose CRC at the end is broken: had the reader
        // gone on to the end it would have met the broken CRC instead.
        let mut bomb = gz(&images(3, 2, 2, &vec![0; 1 << 20]));
        let crc = bomb.len() - 8;
        bomb[crc] ^= 0xff;
        let p = write(dir.path(), "bomb.gz", &bomb);
        let err = read_images(&p).unwrap_err();
        assert!(
            matches!(err, DataError::InflatesPastHeader { .. }),
            "{err:?}"
        );
        // Exactly the declared size still reads to the end of the stream, CRC included.
        let mut exact = gz(&images(3, 2, 2, &pixels(12)));
        assert_eq!(
            read_images(&write(dir.path(), "ok.gz", &exact)).unwrap().n,
            3
        );
        let crc = exact.len() - 8;
        exact[crc] ^= 0xff;
        let err = read_images(&write(dir.path(), "crc.gz", &exact)).unwrap_err();
        assert!(matches!(err, DataError::BadGzip { .. }), "{err:?}");
        // A header past the size limit is refused before inflating its payload.
        let huge = gz(&idx(IMAGES_MAGIC, &[60_000, 200, 200], &[0; 64]));
        let err = read_images(&write(dir.path(), "huge.gz", &huge)).unwrap_err();
        assert!(matches!(err, DataError::TooLarge { .. }), "{err:?}");
    }
}
