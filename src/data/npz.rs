//! Reader for a dataset in NumPy arrays: one `.npz` archive (as `numpy.savez` or
//! `numpy.savez_compressed` writes it) or a folder of `.npy` files, holding `x_train`, `y_train`,
//! `x_test`, `y_test` and optionally `x_val`, `y_val`. The `.npy` headers and typed reads are
//! `npyz`'s; the archive is read with `zip` (stored or deflated entries).
//!
//! - **Images** (`x_*`): `uint8`, `float32` or `float64`, shaped N×H×W (grey), N×H×W×C or
//!   N×C×H×W with C = 1 or 3. A 4-D array whose last axis is 1 or 3 is read as N×H×W×C, else
//!   one whose second axis is 1 or 3 as N×C×H×W (so an ambiguous N×3×H×3 is N×H×W×C). Float
//!   images are scaled by one rule for the whole dataset: if no value exceeds 1 they are read as
//!   [0, 1] and multiplied by 255, else they must lie in [0, 255]; then rounded to the nearest
//!   integer. NaN, infinities and values outside the range are refused.
//! - **Labels** (`y_*`): any integer dtype, shaped N or N×1, each in 0..=255 (labels are u8).
//!   The classes are `0..=max label`, named by their number.
//! - **Layout**: both byte orders and Fortran-ordered arrays are read; every split must have the
//!   same channels, height and width, and as many labels as images.
//!
//! Memory is bounded before it is allocated: a header is at most 64 KiB, and the data size the
//! header declares must equal the bytes the file (or the archive entry) holds, at most
//! [`MAX_ARRAY_BYTES`]; a deflated entry cannot declare more than deflate's best ratio allows,
//! and inflation stops one byte past the declared size.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use npyz::{DType, NpyHeader, Order, TypeChar, TypeStr};

use super::{
    entry_kind, hwc_to_chw, one_line, resize_chw, DataError, Dataset, ImageSet, Progress,
    SkippedFiles, UserData, UserDataOptions, UserFormat,
};

/// Largest array read, in bytes of data.
pub const MAX_ARRAY_BYTES: u64 = 8 << 30;
/// Largest `.npy` header read (numpy's own reader refuses more than 10,000 bytes by default).
const MAX_HEADER_BYTES: u64 = 1 << 16;
/// Deflate cannot compress better than about 1032:1; an entry declaring more is refused.
const MAX_DEFLATE_RATIO: u64 = 1040;

const SPLITS: [&str; 3] = ["train", "test", "val"];

const SAVE_FIX: &str = "save the arrays with numpy: np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)";

/// One array as stored: its header and its data bytes, not yet interpreted.
struct RawArray {
    header: NpyHeader,
    type_str: TypeStr,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// Where the arrays come from.
enum Source {
    Npz {
        path: PathBuf,
        archive: zip::ZipArchive<BufReader<File>>,
    },
    Folder {
        dir: PathBuf,
    },
}

impl Source {
    /// The file an array's errors name: the archive, or the array's own `.npy` file.
    fn path(&self, name: &str) -> PathBuf {
        match self {
            Source::Npz { path, .. } => path.clone(),
            Source::Folder { dir } => dir.join(format!("{name}.npy")),
        }
    }

    /// Reads array `name`, or `None` if there is none of that name.
    fn read(&mut self, name: &str) -> Result<Option<RawArray>, DataError> {
        let path = self.path(name);
        let bad = |detail: String, fix: &str| bad_array(&path, name, detail, fix);
        match self {
            Source::Folder { .. } => {
                let meta = match std::fs::metadata(&path) {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(source) => return Err(DataError::UserIo { path, source }),
                };
                if !meta.is_file() {
                    return Err(bad(
                        format!("{} where the .npy file belongs", entry_kind(&meta)),
                        "put the array's .npy file there",
                    ));
                }
                let file = File::open(&path).map_err(|source| DataError::UserIo {
                    path: path.clone(),
                    source,
                })?;
                read_npy(BufReader::new(file), meta.len(), &path, name).map(Some)
            }
            Source::Npz { archive, .. } => {
                let entry_name = format!("{name}.npy");
                let entry = match archive.by_name(&entry_name) {
                    Ok(entry) => entry,
                    Err(zip::result::ZipError::FileNotFound) => return Ok(None),
                    Err(e) => {
                        return Err(bad(
                            format!("cannot read {entry_name} from the archive: {}", one_line(e)),
                            SAVE_FIX,
                        ))
                    }
                };
                let method = entry.compression();
                let (size, packed) = (entry.size(), entry.compressed_size());
                match method {
                    zip::CompressionMethod::Stored => {}
                    zip::CompressionMethod::Deflated => {
                        if size > packed.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024) {
                            return Err(bad(
                                format!("the archive says {entry_name} inflates from {packed} to {size} bytes, more than deflate can compress"),
                                SAVE_FIX,
                            ));
                        }
                    }
                    other => {
                        return Err(bad(
                            format!("{entry_name} is compressed with {other}; numpy writes stored or deflated entries"),
                            SAVE_FIX,
                        ))
                    }
                }
                read_npy(entry, size, &path, name).map(Some)
            }
        }
    }

    /// The arrays present, for a message about a missing one.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = match self {
            Source::Npz { archive, .. } => archive
                .file_names()
                .filter_map(|n| n.strip_suffix(".npy"))
                .map(str::to_string)
                .collect(),
            Source::Folder { dir } => std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".npy"))
                        .map(str::to_string)
                })
                .collect(),
        };
        names.sort();
        names
    }
}

fn bad_array(path: &Path, array: &str, detail: String, fix: &str) -> DataError {
    DataError::BadArray {
        path: path.to_path_buf(),
        array: array.to_string(),
        detail,
        fix: fix.to_string(),
    }
}

/// Reads a `.npz` archive holding the dataset's arrays (see the module documentation).
pub fn load_npz(
    path: &Path,
    opts: &UserDataOptions,
    progress: Progress<'_>,
) -> Result<UserData, DataError> {
    let file = File::open(path).map_err(|source| DataError::UserIo {
        path: path.to_path_buf(),
        source,
    })?;
    let archive =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|e| DataError::UserLayout {
            path: path.to_path_buf(),
            detail: format!("not a readable .npz (zip) archive: {}", one_line(e)),
            fix: SAVE_FIX.into(),
        })?;
    let source = Source::Npz {
        path: path.to_path_buf(),
        archive,
    };
    load(source, path, UserFormat::Npz, opts, progress)
}

/// Reads a folder of `.npy` files (`x_train.npy`, `y_train.npy`, …; see the module documentation).
pub fn load_npy_folder(
    dir: &Path,
    opts: &UserDataOptions,
    progress: Progress<'_>,
) -> Result<UserData, DataError> {
    super::check_folder(dir)?;
    let source = Source::Folder {
        dir: dir.to_path_buf(),
    };
    load(source, dir, UserFormat::NpyFolder, opts, progress)
}

/// Image arrays as read, before their values are brought to u8.
enum Values {
    U8(Vec<u8>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// One split's image array, read and checked, with its labels.
struct Split {
    name: &'static str,
    path: PathBuf,
    values: Values,
    shape: Vec<usize>,
    fortran: bool,
    layout: Layout,
    labels: Vec<u8>,
}

/// Where the channel axis is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// N×H×W: one channel.
    Nhw,
    /// N×H×W×C.
    Nhwc,
    /// N×C×H×W.
    Nchw,
}

impl Layout {
    /// `(channels, rows, cols)` of one image.
    fn chw(self, shape: &[usize]) -> (usize, usize, usize) {
        match self {
            Layout::Nhw => (1, shape[1], shape[2]),
            Layout::Nhwc => (shape[3], shape[1], shape[2]),
            Layout::Nchw => (shape[1], shape[2], shape[3]),
        }
    }
}

fn load(
    mut source: Source,
    path: &Path,
    format: UserFormat,
    opts: &UserDataOptions,
    progress: Progress<'_>,
) -> Result<UserData, DataError> {
    if let Some((w, h)) = opts.resize {
        if w == 0 || h == 0 {
            return Err(DataError::UserLayout {
                path: path.to_path_buf(),
                detail: format!("the image size {w}x{h} has a zero side"),
                fix: "pass --image-size WxH with a width and height of at least 1".into(),
            });
        }
    }
    let mut splits = Vec::new();
    for name in SPLITS {
        let (x, y) = (format!("x_{name}"), format!("y_{name}"));
        let images = source.read(&x)?;
        let labels = source.read(&y)?;
        let (images, labels) = match (images, labels) {
            (Some(i), Some(l)) => (i, l),
            (None, None) if name == "val" => continue,
            (i, _) => {
                let missing = if i.is_none() { x } else { y };
                let found = source.names();
                let found = if found.is_empty() {
                    "none".to_string()
                } else {
                    found.join(", ")
                };
                return Err(bad_array(
                    &source.path(&missing),
                    &missing,
                    format!("missing (arrays found: {found})"),
                    SAVE_FIX,
                ));
            }
        };
        splits.push(check_split(name, &source, &x, images, &y, labels)?);
    }
    let first = &splits[0];
    let (channels, rows, cols) = first.layout.chw(&first.shape);
    for s in &splits[1..] {
        let chw = s.layout.chw(&s.shape);
        if chw != (channels, rows, cols) {
            return Err(bad_array(
                &s.path,
                &format!("x_{}", s.name),
                format!(
                    "images are {}x{} with {} channel(s) but x_train's are {cols}x{rows} with {channels}",
                    chw.2, chw.1, chw.0
                ),
                "give every split images of one size and channel count",
            ));
        }
    }
    let scale = float_scale(&splits)?;
    let total: usize = splits.iter().map(|s| s.shape[0]).sum();
    let (rows_out, cols_out) = match opts.resize {
        Some((w, h)) => (h as usize, w as usize),
        None => (rows, cols),
    };
    let mut done = 0;
    progress(done, total);
    let mut sets = Vec::new();
    for s in splits {
        let n = s.shape[0];
        let flat = to_u8(s.values, scale);
        let flat = if s.fortran {
            fortran_to_c(&flat, &s.shape)
        } else {
            flat
        };
        let mut images = match s.layout {
            Layout::Nhw | Layout::Nchw => flat,
            Layout::Nhwc => flat
                .chunks_exact(channels * rows * cols)
                .flat_map(|img| hwc_to_chw(img, channels))
                .collect(),
        };
        if let Some(to) = opts.resize {
            let per = channels * rows * cols;
            images = images
                .chunks_exact(per)
                .flat_map(|img| resize_chw(img.to_vec(), channels, (cols as u32, rows as u32), to))
                .collect();
        }
        done += n;
        progress(done, total);
        sets.push((
            s.name,
            ImageSet {
                images,
                labels: s.labels,
                n,
                pixels_per_image: channels * rows_out * cols_out,
                rows: rows_out,
                cols: cols_out,
            },
        ));
    }
    let max_label = sets
        .iter()
        .flat_map(|(_, s)| s.labels.iter().copied())
        .max()
        .unwrap_or(0);
    let mut sets = sets.into_iter();
    let (_, train) = sets.next().expect("train is always read");
    let (_, test) = sets.next().expect("test is always read");
    let val = sets.next().map(|(_, s)| s);
    Ok(UserData {
        dataset: Dataset {
            train,
            test,
            dir: path.to_path_buf(),
        },
        val,
        class_names: (0..=max_label as usize).map(|k| k.to_string()).collect(),
        channels,
        format,
        skipped: SkippedFiles::default(),
    })
}

/// The numpy name of a dtype ("uint8", "float32"), or its type string.
fn dtype_name(t: &TypeStr) -> String {
    let bits = t.size_field() * 8;
    match t.type_char() {
        TypeChar::Uint => format!("uint{bits}"),
        TypeChar::Int => format!("int{bits}"),
        TypeChar::Float => format!("float{bits}"),
        TypeChar::Bool => "bool".into(),
        _ => format!("'{t}'"),
    }
}

/// Checks one split's image and label arrays and reads their values.
fn check_split(
    name: &'static str,
    source: &Source,
    x: &str,
    images: RawArray,
    y: &str,
    labels: RawArray,
) -> Result<Split, DataError> {
    let (xpath, ypath) = (source.path(x), source.path(y));
    let xbad = |detail: String, fix: &str| bad_array(&xpath, x, detail, fix);
    let shape = images.shape.clone();
    let shown = format!("{shape:?}");
    let layout = match shape[..] {
        [_, _, _] => Layout::Nhw,
        [_, _, _, c] if c == 1 || c == 3 => Layout::Nhwc,
        [_, c, _, _] if c == 1 || c == 3 => Layout::Nchw,
        [_, _, _, _] => {
            return Err(xbad(
                format!("shape {shown} has no channel axis of 1 or 3 (first or last after N)"),
                "store images as N×H×W, N×H×W×C or N×C×H×W with C = 1 (grey) or 3 (RGB); drop an alpha channel with x[..., :3]",
            ))
        }
        _ => {
            return Err(xbad(
                format!("shape {shown} has {} dimensions", shape.len()),
                "store images as N×H×W, N×H×W×C or N×C×H×W with C = 1 (grey) or 3 (RGB); reshape flat images with x.reshape(N, H, W)",
            ))
        }
    };
    if shape[0] == 0 {
        return Err(xbad(
            "no images (N = 0)".into(),
            "give every split at least one image",
        ));
    }
    if let Some(k) = shape[1..].iter().position(|&d| d == 0) {
        return Err(xbad(
            format!("shape {shown} has a zero at axis {}", k + 1),
            "store images of at least 1x1 pixels",
        ));
    }
    let t = &images.type_str;
    let image_fix = "convert with x.astype('uint8') (pixels 0..255) or x.astype('float32')";
    let values = match (t.type_char(), t.size_field()) {
        (TypeChar::Uint, 1) => Values::U8(images.data),
        (TypeChar::Float, 4) => Values::F32(typed(&images, &xpath, x)?),
        (TypeChar::Float, 8) => Values::F64(typed(&images, &xpath, x)?),
        _ => {
            return Err(xbad(
                format!(
                    "images have dtype {}, not uint8, float32 or float64",
                    dtype_name(t)
                ),
                image_fix,
            ))
        }
    };
    let labels = read_labels(&labels, &ypath, y, shape[0])?;
    Ok(Split {
        name,
        path: xpath,
        values,
        fortran: images.header.order() == Order::Fortran,
        shape,
        layout,
        labels,
    })
}

/// The array's values as `T` (byte order handled by npyz).
fn typed<T: npyz::Deserialize>(a: &RawArray, path: &Path, name: &str) -> Result<Vec<T>, DataError> {
    npyz::NpyFile::with_header(a.header.clone(), &a.data[..])
        .into_vec::<T>()
        .map_err(|e| {
            bad_array(
                path,
                name,
                format!("cannot read its values: {}", one_line(e)),
                SAVE_FIX,
            )
        })
}

/// Reads a label array of any integer dtype, shaped N or N×1, each value in 0..=255.
fn read_labels(
    a: &RawArray,
    path: &Path,
    name: &str,
    n_images: usize,
) -> Result<Vec<u8>, DataError> {
    let bad = |detail: String, fix: &str| bad_array(path, name, detail, fix);
    let n = match a.shape[..] {
        [n] | [n, 1] => n,
        _ => {
            return Err(bad(
                format!("shape {:?} is not N or N×1", a.shape),
                "store one integer label per image: y.reshape(-1)",
            ))
        }
    };
    if n != n_images {
        return Err(bad(
            format!("{n} labels for {n_images} images"),
            "give every image exactly one label, in the images' order",
        ));
    }
    let t = &a.type_str;
    let labels = match (t.type_char(), t.size_field()) {
        (TypeChar::Int, 1) => checked::<i8>(a, path, name)?,
        (TypeChar::Int, 2) => checked::<i16>(a, path, name)?,
        (TypeChar::Int, 4) => checked::<i32>(a, path, name)?,
        (TypeChar::Int, 8) => checked::<i64>(a, path, name)?,
        (TypeChar::Uint, 1) => a.data.clone(),
        (TypeChar::Uint, 2) => checked::<u16>(a, path, name)?,
        (TypeChar::Uint, 4) => checked::<u32>(a, path, name)?,
        (TypeChar::Uint, 8) => checked::<u64>(a, path, name)?,
        _ => {
            return Err(bad(
                format!("labels have dtype {}, not an integer type", dtype_name(t)),
                "convert with y.astype('int64')",
            ))
        }
    };
    Ok(labels)
}

/// Reads integer labels as `T` and checks each is in 0..=255.
fn checked<T>(a: &RawArray, path: &Path, name: &str) -> Result<Vec<u8>, DataError>
where
    T: npyz::Deserialize + Copy + TryInto<u8> + std::fmt::Display + PartialOrd + Default,
{
    let values = typed::<T>(a, path, name)?;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            v.try_into().map_err(|_| {
                let what = if v < T::default() {
                    "negative"
                } else {
                    "above 255"
                };
                bad_array(
                    path,
                    name,
                    format!("label {v} at index {i} is {what}"),
                    "use labels 0..=255 (at most 256 classes), numbered from 0",
                )
            })
        })
        .collect()
}

/// The factor float images are multiplied by (255 for [0, 1] data, 1 for [0, 255]), decided
/// over every float image array of the dataset; checks every value is finite and in range.
fn float_scale(splits: &[Split]) -> Result<f64, DataError> {
    let mut max = 0.0f64;
    for s in splits {
        let name = format!("x_{}", s.name);
        let check = |i: usize, v: f64| -> Result<(), DataError> {
            if !v.is_finite() || v < 0.0 {
                return Err(bad_array(
                    &s.path,
                    &name,
                    format!("value {v} at flat index {i} is not a finite number of at least 0"),
                    "store float pixels in [0, 1] or [0, 255], with no NaN or infinity",
                ));
            }
            Ok(())
        };
        let m = match &s.values {
            Values::U8(_) => continue,
            Values::F32(v) => v.iter().enumerate().try_fold(0.0f64, |m, (i, &x)| {
                check(i, f64::from(x)).map(|()| m.max(f64::from(x)))
            })?,
            Values::F64(v) => v
                .iter()
                .enumerate()
                .try_fold(0.0f64, |m, (i, &x)| check(i, x).map(|()| m.max(x)))?,
        };
        if m > 255.0 {
            return Err(bad_array(
                &s.path,
                &name,
                format!("float pixels reach {m}, above 255"),
                "store float pixels in [0, 1] or [0, 255]",
            ));
        }
        max = max.max(m);
    }
    Ok(if max <= 1.0 { 255.0 } else { 1.0 })
}

fn to_u8(values: Values, scale: f64) -> Vec<u8> {
    // Values were checked to lie in [0, 255] after scaling, so the cast does not saturate.
    let px = |x: f64| (x * scale).round() as u8;
    match values {
        Values::U8(v) => v,
        Values::F32(v) => v.into_iter().map(|x| px(f64::from(x))).collect(),
        Values::F64(v) => v.into_iter().map(px).collect(),
    }
}

/// Reorders an array stored in Fortran order (first axis fastest) to C order (last axis fastest).
fn fortran_to_c<T: Copy>(v: &[T], shape: &[usize]) -> Vec<T> {
    // Fortran strides: axis k moves by the product of the axes before it.
    let mut strides = Vec::with_capacity(shape.len());
    let mut s = 1;
    for &d in shape {
        strides.push(s);
        s *= d;
    }
    let mut out = Vec::with_capacity(v.len());
    let mut idx = vec![0usize; shape.len()];
    let mut f = 0usize;
    for _ in 0..v.len() {
        out.push(v[f]);
        // Advance the C-order multi-index (last axis fastest), keeping `f` in step.
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            f += strides[k];
            if idx[k] < shape[k] {
                break;
            }
            f -= strides[k] * shape[k];
            idx[k] = 0;
        }
    }
    out
}

/// Reads one `.npy` stream of `available` bytes: header checked and bounded, then the data.
fn read_npy(
    mut r: impl Read,
    available: u64,
    path: &Path,
    name: &str,
) -> Result<RawArray, DataError> {
    let bad = |detail: String| bad_array(path, name, detail, SAVE_FIX);
    let io = |e: std::io::Error| bad(format!("cannot read it: {}", one_line(e)));
    let mut pre = [0u8; 12];
    if available < 10 {
        return Err(bad(format!(
            "not a .npy array: {available} bytes, shorter than the .npy preamble"
        )));
    }
    r.read_exact(&mut pre[..8]).map_err(io)?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(bad(
            "not a .npy array: no \\x93NUMPY magic at its start".into()
        ));
    }
    let len_bytes = match (pre[6], pre[7]) {
        (1, 0) => 2,
        (2, 0) | (3, 0) => 4,
        (major, minor) => return Err(bad(format!("unknown .npy format version {major}.{minor}"))),
    };
    let prefix = 8 + len_bytes;
    if available < prefix as u64 {
        return Err(bad(format!(
            "truncated: {available} bytes, shorter than the .npy preamble"
        )));
    }
    r.read_exact(&mut pre[8..prefix]).map_err(io)?;
    let header_len = if len_bytes == 2 {
        u64::from(u16::from_le_bytes([pre[8], pre[9]]))
    } else {
        u64::from(u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]))
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(bad(format!(
            "its header claims {header_len} bytes, more than the {MAX_HEADER_BYTES}-byte limit"
        )));
    }
    let data_start = prefix as u64 + header_len;
    if available < data_start {
        return Err(bad(format!(
            "truncated: {available} bytes, shorter than its {data_start}-byte header"
        )));
    }
    let mut head = pre[..prefix].to_vec();
    head.resize(data_start as usize, 0);
    r.read_exact(&mut head[prefix..]).map_err(io)?;
    // npyz multiplies the shape's axes unchecked: a hostile shape would overflow (a panic in a
    // debug build), so that is caught here and the shape checked below.
    let parsed = std::panic::catch_unwind(|| NpyHeader::from_reader(&head[..]));
    let header = match parsed {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return Err(bad(format!("unreadable .npy header: {}", one_line(e)))),
        Err(_) => return Err(bad("unreadable .npy header: its shape overflows".into())),
    };
    let type_str = match header.dtype() {
        DType::Plain(t) => t,
        other => {
            return Err(bad(format!(
                "a structured dtype ({}), not a plain number type",
                one_line(other.descr())
            )))
        }
    };
    let item = type_str
        .num_bytes()
        .filter(|&b| b > 0)
        .ok_or_else(|| bad(format!("dtype '{type_str}' has no fixed item size")))?
        as u64;
    let shape_u64 = header.shape().to_vec();
    let count = shape_u64
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let declared = count
        .and_then(|c| c.checked_mul(item))
        .filter(|&b| b <= MAX_ARRAY_BYTES)
        .ok_or_else(|| {
            bad(format!(
                "shape {shape_u64:?} of {} is more than the {} GiB limit for one array",
                dtype_name(&type_str),
                MAX_ARRAY_BYTES >> 30
            ))
        })?;
    let holds = available - data_start;
    if holds != declared {
        let what = if holds < declared {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(bad(format!(
            "{what}: shape {shape_u64:?} of {} is {declared} data bytes, the file holds {holds}",
            dtype_name(&type_str)
        )));
    }
    // Bounded by MAX_ARRAY_BYTES, and by the bytes the file or archive entry holds.
    let mut data = Vec::with_capacity(declared as usize);
    r.take(declared + 1).read_to_end(&mut data).map_err(io)?;
    if data.len() as u64 != declared {
        let what = if (data.len() as u64) < declared {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(bad(format!(
            "{what}: shape {shape_u64:?} of {} is {declared} data bytes, the stream holds {}{}",
            dtype_name(&type_str),
            data.len(),
            if (data.len() as u64) > declared {
                " or more"
            } else {
                ""
            }
        )));
    }
    let shape = shape_u64.iter().map(|&d| d as usize).collect();
    Ok(RawArray {
        header,
        type_str,
        shape,
        data,
    })
}
