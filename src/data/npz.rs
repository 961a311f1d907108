//! Reader for a dataset in NumPy arrays: one `.npz` archive (as `numpy.savez` or
//! `numpy.savez_compressed` writes it) or a folder of `.npy` files, holding `x_train`, `y_train`,
//! `x_test`, `y_test` and optionally `x_val`, `y_val`. The `.npy` headers and typed reads are
//! `npyz`'s; the archive is read with `zip` (stored or deflated entries).
//!
//! - **Images** (`x_*`): `uint8`, `float32` or `float64`, shaped N×H×W (grey), N×H×W×C or
//!   N×C×H×W with C = 1 or 3. A 4-D array whose last axis is 1 or 3 is read as N×H×W×C, else
//!   one whose second axis is 1 or 3 as N×C×H×W (so an ambiguous N×3×H×3 is N×H×W×C: an
//!   N×C×H×W array whose width is 1 or 3 must be stored as N×H×W×C). Float images are scaled
//!   by one rule for the whole dataset: if no value exceeds 1 they are read as [0, 1] and
//!   multiplied by 255 (so 0/1 binary images become 0/255), else they must lie in [0, 255];
//!   then rounded to the nearest integer. NaN, infinities and negative values are refused.
//! - **Size**: [`UserDataOptions::resize`] resizes every image as for an image folder
//!   (bilinear, per channel).
//! - **Labels** (`y_*`): any integer dtype, shaped N or N×1, each in 0..=255 (labels are u8).
//!   The classes are `0..=max label`, named by their number.
//! - **Layout**: both byte orders and Fortran-ordered arrays are read; every split must have the
//!   same channels, height and width, and as many labels as images.
//!
//! Memory is bounded before it is allocated: a header is at most 64 KiB, and the data size the
//! header declares must equal the bytes the file (or the archive entry) holds, at most
//! [`MAX_ARRAY_BYTES`]; a deflated entry cannot declare more than deflate's best ratio allows,
//! and inflation stops one byte past the declared size. [`UserDataOptions::max_bytes`] is
//! checked against each image array's shape before its data is read.

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

    /// Reads array `name`, or `None` if there is none of that name; `before_data` sees its
    /// shape before its data is allocated.
    fn read(
        &mut self,
        name: &str,
        before_data: BeforeData<'_>,
    ) -> Result<Option<RawArray>, DataError> {
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
                read_npy(BufReader::new(file), meta.len(), &path, name, before_data).map(Some)
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
                read_npy(entry, size, &path, name, before_data).map(Some)
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

/// Called with an array's shape once its header is checked, before its data is read.
type BeforeData<'a> = &'a dyn Fn(&[usize]) -> Result<(), DataError>;

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
    /// The layout of an image array of `shape` (see the module documentation), if it has one.
    fn of(shape: &[usize]) -> Option<Layout> {
        match shape {
            [_, _, _] => Some(Layout::Nhw),
            [_, _, _, 1 | 3] => Some(Layout::Nhwc),
            [_, 1 | 3, _, _] => Some(Layout::Nchw),
            _ => None,
        }
    }

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
    opts.check(path)?;
    let mut splits = Vec::new();
    // Images of the splits before this one, for the memory bound.
    let images_before = std::cell::Cell::new(0usize);
    for name in SPLITS {
        let (x, y) = (format!("x_{name}"), format!("y_{name}"));
        let x_path = source.path(&x);
        let bound = |shape: &[usize]| {
            let Some(layout) = Layout::of(shape) else {
                // check_split names the shape.
                return Ok(());
            };
            let (c, h, w) = layout.chw(shape);
            let (h, w) = opts
                .resize
                .map_or((h, w), |(w, h)| (h as usize, w as usize));
            let n = images_before.get() + shape[0];
            images_before.set(n);
            opts.check_bytes(&x_path, n, (c, h, w))
        };
        let images = source.read(&x, &bound)?;
        let labels = source.read(&y, &|_| Ok(()))?;
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
    let layout = match (Layout::of(&shape), shape.len()) {
        (Some(layout), _) => layout,
        (None, 4) => {
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
    before_data: BeforeData<'_>,
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
    let shape: Vec<usize> = shape_u64.iter().map(|&d| d as usize).collect();
    before_data(&shape)?;
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
    Ok(RawArray {
        header,
        type_str,
        shape,
        data,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write};

    use super::*;
    use crate::data::export::npy_bytes;
    use crate::data::load_user_data;

    fn none(_: usize, _: usize) {}

    type Entries = Vec<(&'static str, Vec<u8>)>;

    /// Writes `entries` as `<name>.npy` members of a zip archive at `path`.
    fn write_zip(path: &Path, entries: &Entries, compressed: bool) {
        let method = if compressed {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, bytes) in entries {
            z.start_file(format!("{name}.npy"), options).unwrap();
            z.write_all(bytes).unwrap();
        }
        std::fs::write(path, z.finish().unwrap().into_inner()).unwrap();
    }

    fn i64s(v: &[i64]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Pixel `c, y, x` of image `i` of the 3-channel 2x4 test images (no axis but C is 1 or 3,
    /// so that both layouts are unambiguous).
    fn px(i: usize, c: usize, y: usize, x: usize) -> u8 {
        (i * 100 + c * 10 + y * 4 + x) as u8
    }

    /// `n` images of 3 channels, 2 rows, 4 columns: (NCHW bytes, NHWC bytes).
    fn rgb(n: usize) -> (Vec<u8>, Vec<u8>) {
        let mut nchw = Vec::new();
        let mut nhwc = Vec::new();
        for i in 0..n {
            for c in 0..3 {
                for y in 0..2 {
                    for x in 0..4 {
                        nchw.push(px(i, c, y, x));
                    }
                }
            }
            for y in 0..2 {
                for x in 0..4 {
                    for c in 0..3 {
                        nhwc.push(px(i, c, y, x));
                    }
                }
            }
        }
        (nchw, nhwc)
    }

    /// The test dataset: 2 train images labelled 1, 0; 1 test image labelled 2; in `layout`.
    fn base(nhwc: bool) -> Entries {
        let (train_chw, train_hwc) = rgb(2);
        let (test_chw, test_hwc) = rgb(1);
        let (xtr, xte, str_, ste) = if nhwc {
            (train_hwc, test_hwc, vec![2, 2, 4, 3], vec![1, 2, 4, 3])
        } else {
            (train_chw, test_chw, vec![2, 3, 2, 4], vec![1, 3, 2, 4])
        };
        vec![
            ("x_train", npy_bytes("|u1", &str_, false, &xtr)),
            ("y_train", npy_bytes("<i8", &[2], false, &i64s(&[1, 0]))),
            ("x_test", npy_bytes("|u1", &ste, false, &xte)),
            ("y_test", npy_bytes("<i8", &[1], false, &i64s(&[2]))),
        ]
    }

    fn set(entries: &Entries, name: &str, bytes: Vec<u8>) -> Entries {
        let mut e: Entries = entries
            .iter()
            .filter(|(n, _)| *n != name)
            .cloned()
            .collect();
        let name = ["x_train", "y_train", "x_test", "y_test", "x_val", "y_val"]
            .into_iter()
            .find(|n| *n == name)
            .unwrap();
        e.push((name, bytes));
        e
    }

    fn load_entries(entries: &Entries, compressed: bool) -> Result<UserData, DataError> {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data.npz");
        write_zip(&path, entries, compressed);
        load_user_data(&path, &UserDataOptions::default(), &none)
    }

    /// The error of loading `entries`, checked to be one line naming `array`.
    fn err(entries: &Entries, array: &str, needles: &[&str]) {
        let e = load_entries(entries, false).unwrap_err();
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "multi-line: {msg}");
        assert!(msg.contains("data.npz"), "no file in {msg}");
        assert!(
            msg.contains(&format!("array {array}:")),
            "{array} not named in {msg}"
        );
        for n in needles {
            assert!(msg.contains(n), "{n:?} not in {msg}");
        }
    }

    fn expected_train() -> ImageSet {
        ImageSet {
            images: rgb(2).0,
            labels: vec![1, 0],
            n: 2,
            pixels_per_image: 24,
            rows: 2,
            cols: 4,
        }
    }

    #[test]
    fn nhwc_and_nchw_uint8_give_the_same_chw_images() {
        for compressed in [false, true] {
            let a = load_entries(&base(true), compressed).unwrap();
            let b = load_entries(&base(false), compressed).unwrap();
            assert_eq!(a.format, UserFormat::Npz);
            assert_eq!(a.dataset.train, expected_train());
            assert_eq!(a.dataset.test.images, rgb(1).0);
            assert_eq!(a.dataset.test.labels, [2]);
            assert_eq!(
                (a.channels, a.class_names.clone()),
                (3, vec!["0".to_string(), "1".into(), "2".into()])
            );
            assert_eq!(
                (&a.dataset.train, &a.dataset.test),
                (&b.dataset.train, &b.dataset.test)
            );
            assert!(a.val.is_none());
        }
    }

    #[test]
    fn grey_images_in_every_shape_agree() {
        let grey: Vec<u8> = (0..2 * 2 * 4).map(|v| v * 9).collect();
        let mut sets = Vec::new();
        for shape in [vec![2, 2, 4], vec![2, 2, 4, 1], vec![2, 1, 2, 4]] {
            let e = set(
                &base(true),
                "x_train",
                npy_bytes("|u1", &shape, false, &grey),
            );
            let mut one = shape.clone();
            one[0] = 1;
            let e = set(&e, "x_test", npy_bytes("|u1", &one, false, &grey[..8]));
            let data = load_entries(&e, false).unwrap();
            assert_eq!(data.channels, 1);
            sets.push(data.dataset.train);
        }
        assert_eq!(sets[0].images, grey);
        assert_eq!(
            (sets[0].rows, sets[0].cols, sets[0].pixels_per_image),
            (2, 4, 8)
        );
        assert!(sets.iter().all(|s| *s == sets[0]));
    }

    #[test]
    fn ambiguous_shapes_are_read_as_channels_last() {
        // 1 x 3 x 3 x 3: both axis 1 and axis 3 could be channels; the last one wins.
        let hwc: Vec<u8> = (0..27).collect();
        let e = set(
            &base(true),
            "x_train",
            npy_bytes("|u1", &[1, 3, 3, 3], false, &hwc),
        );
        let e = set(&e, "y_train", npy_bytes("<i8", &[1], false, &i64s(&[0])));
        let e = set(&e, "x_test", npy_bytes("|u1", &[1, 3, 3, 3], false, &hwc));
        let data = load_entries(&e, false).unwrap();
        assert_eq!(data.dataset.train.images, crate::data::hwc_to_chw(&hwc, 3));
        assert_eq!(data.dataset.train.images[..3], [0, 3, 6]);
    }

    #[test]
    fn float_pixels_in_either_range_round_to_the_same_bytes() {
        let all: Vec<u8> = (0..=255).collect();
        let ints = |bytes: Vec<u8>| {
            let e = set(
                &base(true),
                "x_train",
                npy_bytes("|u1", &[1, 16, 16], false, &all),
            );
            let e = set(&e, "y_train", npy_bytes("<i8", &[1], false, &i64s(&[0])));
            let e = set(&e, "x_test", bytes);
            load_entries(&e, false)
        };
        let unit_f32: Vec<u8> = all
            .iter()
            .flat_map(|&p| (f32::from(p) / 255.0).to_le_bytes())
            .collect();
        let unit_f32_be: Vec<u8> = all
            .iter()
            .flat_map(|&p| (f32::from(p) / 255.0).to_be_bytes())
            .collect();
        let unit_f64: Vec<u8> = all
            .iter()
            .flat_map(|&p| (f64::from(p) / 255.0).to_le_bytes())
            .collect();
        // [0, 255] floats, rounded to the nearest integer.
        let wide: Vec<u8> = all
            .iter()
            .flat_map(|&p| (f32::from(p) + if p < 128 { 0.4 } else { -0.4 }).to_le_bytes())
            .collect();
        for (descr, bytes) in [
            ("<f4", unit_f32),
            (">f4", unit_f32_be),
            ("<f8", unit_f64),
            ("<f4", wide),
        ] {
            let data = ints(npy_bytes(descr, &[1, 16, 16], false, &bytes)).unwrap();
            assert_eq!(data.dataset.test.images, all, "{descr}");
            assert_eq!(data.dataset.train.images, all);
        }
        let bad = |vals: &[f32], needle: &str| {
            let bytes: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
            let e = set(
                &base(true),
                "x_test",
                npy_bytes("<f4", &[1, 2, 4, 3], false, &{
                    let mut b = bytes.clone();
                    b.resize(24 * 4, 0);
                    b
                }),
            );
            err(&e, "x_test", &[needle]);
        };
        bad(
            &[0.5, f32::NAN],
            "value NaN at flat index 1 is not a finite number",
        );
        bad(&[f32::INFINITY], "value inf at flat index 0");
        bad(&[-0.5], "value -0.5 at flat index 0");
        bad(&[255.5], "float pixels reach 255.5, above 255");
    }

    #[test]
    fn fortran_order_and_byte_orders_are_read() {
        /// C-order values stored in Fortran order (first axis fastest).
        fn to_fortran(c: &[u8], shape: &[usize]) -> Vec<u8> {
            let mut out = Vec::new();
            let mut idx = vec![0; shape.len()];
            for _ in 0..c.len() {
                let flat = idx.iter().zip(shape).fold(0, |acc, (&i, &d)| acc * d + i);
                out.push(c[flat]);
                for k in 0..shape.len() {
                    idx[k] += 1;
                    if idx[k] < shape[k] {
                        break;
                    }
                    idx[k] = 0;
                }
            }
            out
        }
        for nhwc in [true, false] {
            let base = base(nhwc);
            let shape: &[usize] = if nhwc { &[2, 2, 4, 3] } else { &[2, 3, 2, 4] };
            let c_order = if nhwc { rgb(2).1 } else { rgb(2).0 };
            let fortran = to_fortran(&c_order, shape);
            assert_ne!(fortran, c_order);
            let e = set(&base, "x_train", npy_bytes("|u1", shape, true, &fortran));
            let labels: Vec<u8> = [1i64, 0].iter().flat_map(|v| v.to_be_bytes()).collect();
            let e = set(&e, "y_train", npy_bytes(">i8", &[2, 1], true, &labels));
            let data = load_entries(&e, false).unwrap();
            assert_eq!(data.dataset.train, expected_train(), "nhwc = {nhwc}");
        }
    }

    #[test]
    fn labels_of_every_integer_dtype_are_read() {
        let cases: [(&str, Vec<u8>); 7] = [
            ("|u1", vec![1, 0]),
            ("|i1", vec![1, 0]),
            (
                "<i2",
                [1i16, 0].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "<u2",
                [1u16, 0].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                "<i4",
                [1i32, 0].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
            (
                ">u4",
                [1u32, 0].iter().flat_map(|v| v.to_be_bytes()).collect(),
            ),
            (
                "<u8",
                [1u64, 0].iter().flat_map(|v| v.to_le_bytes()).collect(),
            ),
        ];
        for (descr, bytes) in cases {
            let e = set(
                &base(true),
                "y_train",
                npy_bytes(descr, &[2], false, &bytes),
            );
            let data = load_entries(&e, false).unwrap();
            assert_eq!(data.dataset.train.labels, [1, 0], "{descr}");
        }
        let e = set(
            &base(true),
            "y_test",
            npy_bytes("<i8", &[1], false, &i64s(&[255])),
        );
        let data = load_entries(&e, false).unwrap();
        assert_eq!(data.num_classes(), 256);
        assert_eq!(data.class_names[255], "255");
    }

    #[test]
    fn npy_folder_with_val_loads_like_the_archive() {
        let tmp = tempfile::tempdir().unwrap();
        let mut entries = base(false);
        entries.push(("x_val", entries[2].1.clone()));
        entries.push(("y_val", npy_bytes("<i8", &[1], false, &i64s(&[0]))));
        for (name, bytes) in &entries {
            std::fs::write(tmp.path().join(format!("{name}.npy")), bytes).unwrap();
        }
        let calls = std::sync::Mutex::new(Vec::new());
        let record = |d: usize, t: usize| calls.lock().unwrap().push((d, t));
        let folder = load_user_data(tmp.path(), &UserDataOptions::default(), &record).unwrap();
        assert_eq!(folder.format, UserFormat::NpyFolder);
        assert_eq!(
            calls.into_inner().unwrap(),
            [(0, 4), (2, 4), (3, 4), (4, 4)]
        );
        let archive = load_entries(&entries, true).unwrap();
        assert_eq!(folder.dataset.train, archive.dataset.train);
        assert_eq!(folder.val, archive.val);
        let val = folder.val.unwrap();
        assert_eq!((val.images, val.labels), (rgb(1).0, vec![0]));

        std::fs::remove_file(tmp.path().join("y_val.npy")).unwrap();
        let e = load_user_data(tmp.path(), &UserDataOptions::default(), &none).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&tmp.path().join("y_val.npy").display().to_string()),
            "{msg}"
        );
        assert!(
            msg.contains(
                "array y_val: missing (arrays found: x_test, x_train, x_val, y_test, y_train)"
            ),
            "{msg}"
        );
    }

    #[test]
    fn resize_applies_to_arrays_too() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("d.npz");
        write_zip(&path, &base(true), false);
        let data = load_npz(
            &path,
            &UserDataOptions {
                resize: Some((6, 4)),
                ..UserDataOptions::default()
            },
            &none,
        )
        .unwrap();
        let train = &data.dataset.train;
        assert_eq!((train.rows, train.cols, train.pixels_per_image), (4, 6, 72));
        let first = &rgb(2).0[..24];
        let want = crate::data::resize_chw(first.to_vec(), 3, (4, 2), (6, 4));
        assert_eq!(train.image(0), want);
        let plane = image::GrayImage::from_raw(4, 2, first[8..16].to_vec()).unwrap();
        let green = image::imageops::resize(&plane, 6, 4, image::imageops::FilterType::Triangle);
        assert_eq!(train.image(0)[24..48], green.as_raw()[..]);
    }

    #[test]
    fn arrays_over_the_memory_bound_are_refused_before_their_data_is_read() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data.npz");
        write_zip(&path, &base(false), false);
        let with = |max: u64| UserDataOptions {
            resize: None,
            max_bytes: Some(max),
        };
        // 2 train and 1 test image of 3x2x4 = 24 bytes each.
        assert!(load_npz(&path, &with(72), &none).is_ok());
        let msg = load_npz(&path, &with(71), &none).unwrap_err().to_string();
        assert!(msg.contains("data.npz: 3 images of 3x2x4 u8 pixels take 72 bytes, more than the 71 bytes allowed; pass --image-size"), "{msg}");
        let msg = load_npz(&path, &with(47), &none).unwrap_err().to_string();
        assert!(
            msg.contains("2 images of 3x2x4 u8 pixels take 48 bytes"),
            "{msg}"
        );
        let opts = UserDataOptions {
            resize: Some((1, 1)),
            max_bytes: Some(9),
        };
        assert!(load_npz(&path, &opts, &none).is_ok());
    }

    #[test]
    fn shape_dtype_and_label_errors_name_the_array() {
        let b = base(true);
        let fix_shape = "N×H×W, N×H×W×C or N×C×H×W";
        err(
            &set(&b, "x_train", npy_bytes("|u1", &[2, 18], false, &[0; 36])),
            "x_train",
            &["shape [2, 18] has 2 dimensions", fix_shape],
        );
        err(
            &set(
                &b,
                "x_train",
                npy_bytes("|u1", &[2, 2, 3, 4], false, &[0; 48]),
            ),
            "x_train",
            &["no channel axis of 1 or 3", "x[..., :3]"],
        );
        err(
            &set(&b, "x_train", npy_bytes("|u1", &[0, 2, 3, 3], false, &[])),
            "x_train",
            &["no images (N = 0)"],
        );
        err(
            &set(&b, "x_train", npy_bytes("|u1", &[2, 0, 3, 3], false, &[])),
            "x_train",
            &["a zero at axis 1"],
        );
        err(
            &set(
                &b,
                "x_train",
                npy_bytes("<i8", &[2, 2, 3, 3], false, &[0; 288]),
            ),
            "x_train",
            &[
                "dtype int64, not uint8, float32 or float64",
                "astype('uint8')",
            ],
        );
        err(
            &set(
                &b,
                "x_test",
                npy_bytes("|u1", &[1, 3, 3, 3], false, &[0; 27]),
            ),
            "x_test",
            &["images are 3x3 with 3 channel(s) but x_train's are 4x2 with 3"],
        );
        err(
            &set(&b, "y_train", npy_bytes("<f4", &[2], false, &[0; 8])),
            "y_train",
            &["dtype float32, not an integer type", "astype('int64')"],
        );
        err(
            &set(&b, "y_train", npy_bytes("|b1", &[2], false, &[0, 1])),
            "y_train",
            &["dtype bool"],
        );
        err(
            &set(
                &b,
                "y_train",
                npy_bytes("<i8", &[2], false, &i64s(&[0, -1])),
            ),
            "y_train",
            &["label -1 at index 1 is negative", "0..=255"],
        );
        err(
            &set(
                &b,
                "y_train",
                npy_bytes("<i8", &[2], false, &i64s(&[256, 0])),
            ),
            "y_train",
            &["label 256 at index 0 is above 255"],
        );
        err(
            &set(
                &b,
                "y_train",
                npy_bytes("<i8", &[3], false, &i64s(&[0, 0, 0])),
            ),
            "y_train",
            &["3 labels for 2 images"],
        );
        err(
            &set(
                &b,
                "y_train",
                npy_bytes("<i8", &[2, 2], false, &i64s(&[0; 4])),
            ),
            "y_train",
            &["shape [2, 2] is not N or N×1"],
        );
        let no_test: Entries = b.iter().filter(|(n, _)| *n != "x_test").cloned().collect();
        err(
            &no_test,
            "x_test",
            &[
                "missing (arrays found: x_train, y_test, y_train)",
                "np.savez",
            ],
        );
        let only_val: Entries = b
            .iter()
            .cloned()
            .chain([("x_val", b[2].1.clone())])
            .collect();
        err(&only_val, "y_val", &["missing"]);
    }

    #[test]
    fn damaged_npy_files_are_refused_before_allocating() {
        let b = base(true);
        let good = b[0].1.clone();
        err(
            &set(&b, "x_train", good[..good.len() - 1].to_vec()),
            "x_train",
            &["truncated: shape [2, 2, 4, 3] of uint8 is 48 data bytes, the file holds 47"],
        );
        err(
            &set(&b, "x_train", [good.clone(), vec![0]].concat()),
            "x_train",
            &["trailing bytes: shape [2, 2, 4, 3] of uint8 is 48 data bytes, the file holds 49"],
        );
        err(
            &set(&b, "x_train", b"PK\x03\x04 not npy at all".to_vec()),
            "x_train",
            &["no \\x93NUMPY magic"],
        );
        err(
            &set(&b, "x_train", good[..5].to_vec()),
            "x_train",
            &["5 bytes, shorter than the .npy preamble"],
        );
        let mut v9 = good.clone();
        v9[6] = 9;
        err(
            &set(&b, "x_train", v9),
            "x_train",
            &["unknown .npy format version 9.0"],
        );
        // Version 2 with a 4 GiB header length: refused before anything that size is allocated.
        let mut huge = b"\x93NUMPY\x02\x00\xff\xff\xff\xff".to_vec();
        huge.extend_from_slice(&[b' '; 100]);
        err(
            &set(&b, "x_train", huge),
            "x_train",
            &["header claims 4294967295 bytes"],
        );
        // A shape whose product overflows, and one that is merely huge.
        let over = npy_bytes("|u1", &[1 << 40, 1 << 40, 1 << 40], false, &[]);
        err(
            &set(&b, "x_train", over),
            "x_train",
            &["GiB limit for one array"],
        );
        let big = npy_bytes("<f8", &[1 << 20, 1 << 20], false, &[]);
        err(
            &set(&b, "x_train", big),
            "x_train",
            &["GiB limit for one array"],
        );
        let bigish = npy_bytes("|u1", &[1 << 20, 32, 32], false, &[]);
        err(&set(&b, "x_train", bigish), "x_train", &["truncated: shape [1048576, 32, 32] of uint8 is 1073741824 data bytes, the file holds 0"]);
        let mut garbled = good.clone();
        garbled[12..20].copy_from_slice(b"(((((((\x00");
        err(
            &set(&b, "x_train", garbled),
            "x_train",
            &["unreadable .npy header"],
        );
        let structured = npy_bytes_raw("[('a', '<i4'), ('b', '<f4')]", "(2,)", &[0; 16]);
        err(
            &set(&b, "y_train", structured),
            "y_train",
            &["a structured dtype"],
        );
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data.npz");
        std::fs::write(&path, b"not a zip archive").unwrap();
        let msg = load_user_data(&path, &UserDataOptions::default(), &none)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("data.npz: not a readable .npz (zip) archive"),
            "{msg}"
        );
    }

    /// A .npy file with a hand-written `descr` and shape (for dtypes `npy_bytes` does not quote).
    fn npy_bytes_raw(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': {descr}, 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn a_deflate_bomb_is_refused_from_the_archive_directory() {
        // 64 MiB of zeros deflate to about 64 KiB: within deflate's ratio, so allowed…
        let zeros = npy_bytes("|u1", &[1 << 16, 32, 32], false, &vec![0; 1 << 26]);
        let mut e = set(&base(true), "x_train", zeros);
        e = set(
            &e,
            "y_train",
            npy_bytes("|u1", &[1 << 16], false, &vec![0; 1 << 16]),
        );
        e = set(
            &e,
            "x_test",
            npy_bytes("|u1", &[1, 32, 32], false, &[0; 1024]),
        );
        let data = load_entries(&e, true).unwrap();
        assert_eq!(data.dataset.train.n, 1 << 16);
        // …but an archive whose directory claims more than deflate can give is refused.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("data.npz");
        write_zip(&path, &e, true);
        let mut bytes = std::fs::read(&path).unwrap();
        // Patch the uncompressed size (offset 24 of the central directory header) of x_train.
        let cd = (0..bytes.len() - 57)
            .find(|&i| {
                bytes[i..].starts_with(b"PK\x01\x02") && bytes[i + 46..].starts_with(b"x_train.npy")
            })
            .unwrap();
        let declared = u32::from_le_bytes(bytes[cd + 24..cd + 28].try_into().unwrap());
        assert_eq!(declared as usize, 128 + (1 << 26));
        bytes[cd + 24..cd + 28].copy_from_slice(&0xF000_0000u32.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let msg = load_user_data(&path, &UserDataOptions::default(), &none)
            .unwrap_err()
            .to_string();
        assert!(!msg.contains('\n'));
        assert!(
            msg.contains("array x_train: the archive says x_train.npy inflates from "),
            "{msg}"
        );
        assert!(
            msg.contains("to 4026531840 bytes, more than deflate can compress"),
            "{msg}"
        );
    }
}
