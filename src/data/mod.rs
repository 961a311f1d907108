//! The datasets the benchmarks read, as u8 images with labels ([`Dataset`]): MNIST and
//! Fashion-MNIST from IDX files ([`idx`]), CIFAR-10 and CIFAR-100 from their binary files
//! ([`cifar`]), each checked against the SHA-256 list beside it where there is one; where each
//! benchmark looks for its files ([`resolve_dir_for`], [`cache_dir`]); and downloading and
//! verifying them ([`fetch`]). A user's own data, an ImageFolder tree ([`image_folder`]) or
//! NumPy arrays ([`npz`]), is read by [`load_user_data`] and can be written back in either
//! format ([`export`]).

pub mod cifar;
pub mod export;
pub mod fetch;
pub mod idx;
pub mod image_folder;
pub mod npz;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Which files a benchmark reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// MNIST (IDX).
    Mnist,
    /// Fashion-MNIST (IDX, laid out like MNIST).
    FashionMnist,
    /// CIFAR-10 binary.
    Cifar10,
    /// CIFAR-10 and CIFAR-100 binary (CIFAR-100 fine labels shifted to 10..110).
    Cifar10And100,
    /// A user's own data: an image folder or NumPy arrays ([`load_user_data`]).
    User,
}

const FIX: &str = "re-download it or use a data folder with valid MNIST IDX files";

/// Everything that can go wrong locating, reading or validating a dataset; each message is one line.
// Variant fields are named for what they hold and shown in the messages.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("{}: cannot read: {source}; check it exists and is readable, or {FIX}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Neither the plain nor the gzip file exists.
    #[error(
        "{}: neither {name}.gz nor {name} found; pass a data folder or set SYNAPTIC_DATA to a folder holding the MNIST IDX files",
        .dir.display()
    )]
    Missing { dir: PathBuf, name: String },
    /// The header's magic number is not the expected IDX type.
    #[error(
        "{}: not the expected IDX file: expected magic {expected:#010x} ({}), found {found:#010x} ({}); {FIX}",
        .path.display(), magic_kind(*.expected), magic_kind(*.found)
    )]
    BadMagic {
        path: PathBuf,
        expected: u32,
        found: u32,
    },
    /// The file is shorter than its header says.
    #[error("{}: truncated: {what} = {expected} bytes, file has {actual}; {FIX}", .path.display())]
    Truncated {
        path: PathBuf,
        what: String,
        expected: u64,
        actual: u64,
    },
    /// The file is longer than its header says.
    #[error(
        "{}: {} unexpected trailing bytes: {what} = {expected} bytes, file has {actual}; {FIX}",
        .path.display(), .actual.saturating_sub(*.expected)
    )]
    TrailingBytes {
        path: PathBuf,
        what: String,
        expected: u64,
        actual: u64,
    },
    /// Zero, overflowing or inconsistent dimensions.
    #[error("{}: bad dimensions: {detail}; {FIX}", .path.display())]
    BadDims { path: PathBuf, detail: String },
    /// The gzip stream is corrupt.
    #[error("{}: corrupt gzip data: {detail}; {FIX}", .path.display())]
    BadGzip { path: PathBuf, detail: String },
    /// A gzip file inflates to more than its IDX header declares (inflation stopped there).
    #[error(
        "{}: inflates to more than the {declared} bytes its IDX header declares (reading stopped there); {FIX}",
        .path.display()
    )]
    InflatesPastHeader { path: PathBuf, declared: u64 },
    /// The file exceeds the size limit.
    #[error("{}: larger than the {limit}-byte limit, so not an MNIST file; {FIX}", .path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    /// A label is not below the number of classes.
    #[error(
        "{}: label {label} at index {index} is not below num_classes = {num_classes}; {FIX}",
        .path.display()
    )]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
        num_classes: u8,
    },
    /// Images and labels files disagree on the number of examples.
    #[error(
        "{} has {n_images} images but {} has {n_labels} labels; {FIX}",
        .images.display(), .labels.display()
    )]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        n_images: usize,
        n_labels: usize,
    },
    /// The SHA-256 differs from the one in the checksum list.
    #[error(
        "{}: sha256 {actual} does not match {expected} listed in SHA256SUMS or SHA256SUMS.uncompressed; the file is corrupt or not the listed one: {FIX}",
        .path.display()
    )]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    /// A CIFAR file is not a whole, non-zero number of records.
    #[error(
        "{}: not a {kind} binary file: {actual} bytes is not a whole, non-zero number of {record}-byte records; re-download it, or use a data folder with the {kind} binary files",
        .path.display()
    )]
    CifarRecords {
        path: PathBuf,
        kind: &'static str,
        record: usize,
        actual: u64,
    },
    /// A CIFAR label is out of range.
    #[error(
        "{}: {what} {label} of record {index} is not below {limit}, so this is not a {kind} binary file; re-download it",
        .path.display()
    )]
    CifarLabel {
        path: PathBuf,
        kind: &'static str,
        what: &'static str,
        index: usize,
        label: u8,
        limit: u8,
    },
    /// A CIFAR file is missing.
    #[error(
        "{}: no {kind} file {file} (looked in the folder and in {folder}/ inside it); run `synaptic data fetch` or put the official binary files there",
        .dir.display()
    )]
    CifarMissing {
        dir: PathBuf,
        kind: &'static str,
        file: String,
        folder: &'static str,
    },
    /// The data folder is something else than a folder.
    #[error("{}: {what}, not a folder; pass the folder that holds the data files", .path.display())]
    NotAFolder { path: PathBuf, what: &'static str },
    /// A data file's name is taken by something that is not a file.
    #[error(
        "{}: {what} where a data file belongs, so it cannot be read; put the file itself there, or use another data folder",
        .path.display()
    )]
    NotAFile { path: PathBuf, what: &'static str },
    /// A user data file or folder cannot be read.
    #[error("{}: cannot read: {source}; check that it exists and is readable", .path.display())]
    UserIo {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A user data folder or file does not have the layout the loaders read.
    #[error("{}: {detail}; {fix}", .path.display())]
    UserLayout {
        path: PathBuf,
        detail: String,
        fix: String,
    },
    /// An image file of an ImageFolder cannot be decoded.
    #[error("{}: not a readable PNG or JPEG image: {detail}; replace or remove the file", .path.display())]
    BadImage { path: PathBuf, detail: String },
    /// An image's size differs from the first image's and no common size was asked for.
    #[error(
        "{}: image is {}x{} (WxH) but the first image, {}, is {}x{}; pass --image-size {}x{} (or another WxH) to resize every image to one size",
        .path.display(), .size.0, .size.1, .first.display(), .expected.0, .expected.1,
        .expected.0, .expected.1
    )]
    ImageSizeMismatch {
        path: PathBuf,
        size: (u32, u32),
        first: PathBuf,
        expected: (u32, u32),
    },
    /// A NumPy array is missing, or has a shape, dtype or value the loader cannot use.
    #[error("{}: array {array}: {detail}; {fix}", .path.display())]
    BadArray {
        path: PathBuf,
        array: String,
        detail: String,
        fix: String,
    },
    /// A line of a checksum list is malformed.
    #[error(
        "{}: line {line}: {detail}; expected `<64 hex digits>  <file name>` as written by sha256sum",
        .path.display()
    )]
    BadChecksumList {
        path: PathBuf,
        line: usize,
        detail: String,
    },
}

fn magic_kind(magic: u32) -> String {
    match (magic >> 16, (magic >> 8) & 0xff, magic & 0xff) {
        (0, 0x08, 1) => "u8 labels".into(),
        (0, 0x08, 3) => "u8 images".into(),
        (0, ty, ndim) => format!("element type {ty:#04x}, {ndim} dims"),
        _ => "not IDX at all".into(),
    }
}

/// One split of an image-classification dataset: `n` images of `rows` x `cols` u8 pixels in
/// `pixels_per_image / (rows * cols)` channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// All pixels, image after image; each image channel after channel (CHW), each channel
    /// row-major.
    pub images: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Number of images.
    pub n: usize,
    /// `channels * rows * cols`.
    pub pixels_per_image: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl ImageSet {
    /// The pixels of image `i`, row-major; panics if `i >= n`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * self.pixels_per_image..(i + 1) * self.pixels_per_image]
    }

    /// Number of examples in this split.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether this split has no examples.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Channels per image: 1 (grey) or 3 (RGB).
    pub fn channels(&self) -> usize {
        self.pixels_per_image / (self.rows * self.cols).max(1)
    }
}

/// A train/test pair loaded from one folder (IDX or CIFAR files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dataset {
    /// The training split.
    pub train: ImageSet,
    /// The test split.
    pub test: ImageSet,
    /// The folder it was read from.
    pub dir: PathBuf,
}

/// How a user's images are brought to one size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserDataOptions {
    /// `Some((width, height))`: every image is resized to this size with bilinear interpolation
    /// (the `image` crate's `Triangle` filter, per channel; an image already of this size is
    /// kept as it is). `None`: every image must have the size of the first one (`--image-size`).
    pub resize: Option<(u32, u32)>,
    /// Refuse data whose u8 pixels would take more than this many bytes (the CLI's
    /// `--max-memory`, or the memory the machine has), before they are all allocated.
    pub max_bytes: Option<u64>,
}

/// Largest image [`UserDataOptions::resize`] may ask for, in bytes of three u8 channels.
pub const MAX_RESIZE_BYTES: u64 = 512 << 20;

impl UserDataOptions {
    /// Refuses a resize to a size with a zero side or larger than [`MAX_RESIZE_BYTES`].
    pub(crate) fn check(&self, path: &Path) -> Result<(), DataError> {
        let Some((w, h)) = self.resize else {
            return Ok(());
        };
        let problem = if w == 0 || h == 0 {
            "has a zero side"
        } else if 3 * u64::from(w) * u64::from(h) > MAX_RESIZE_BYTES {
            "is larger than the 512 MiB an image may take"
        } else {
            return Ok(());
        };
        Err(DataError::UserLayout {
            path: path.to_path_buf(),
            detail: format!("the image size {w}x{h} {problem}"),
            fix: "pass --image-size WxH with a width and height of at least 1, such as 32x32"
                .into(),
        })
    }

    /// Refuses `n` images of `channels` × `rows` × `cols` u8 pixels if they exceed
    /// [`UserDataOptions::max_bytes`].
    pub(crate) fn check_bytes(
        &self,
        path: &Path,
        n: usize,
        (channels, rows, cols): (usize, usize, usize),
    ) -> Result<(), DataError> {
        let Some(max) = self.max_bytes else {
            return Ok(());
        };
        let need = [n, channels, rows, cols]
            .iter()
            .fold(1u64, |acc, &d| acc.saturating_mul(d as u64));
        if need <= max {
            return Ok(());
        }
        Err(DataError::UserLayout {
            path: path.to_path_buf(),
            detail: format!(
                "{n} images of {channels}x{rows}x{cols} u8 pixels take {}, more than the {} allowed",
                crate::memory::human(need),
                crate::memory::human(max)
            ),
            fix: "pass --image-size WxH to store the images smaller, or use fewer images or more memory (--max-memory)".into(),
        })
    }
}

/// Which format [`load_user_data`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserFormat {
    /// `DIR/train/<class>/*.png|jpg|jpeg`, `DIR/test/<class>/…`, optional `DIR/val/<class>/…`.
    ImageFolder,
    /// One `.npz` archive holding `x_train`, `y_train`, `x_test`, `y_test` (optional `x_val`, `y_val`).
    Npz,
    /// A folder holding `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy` (optional val pair).
    NpyFolder,
}

impl UserFormat {
    /// The format's name as logs print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::ImageFolder => "image folder",
            Self::Npz => "npz archive",
            Self::NpyFolder => "npy folder",
        }
    }
}

/// Files of an ImageFolder that were not read because their extension is not an image's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkippedFiles {
    /// How many files were skipped (hidden files and folders, named `.*`, are ignored and not counted).
    pub count: usize,
    /// The first one skipped, in reading order, to show the user.
    pub first: Option<PathBuf>,
}

/// A user's dataset as [`load_user_data`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserData {
    /// The train and test splits, and the path they were read from.
    pub dataset: Dataset,
    /// The validation split, where the data has one.
    pub val: Option<ImageSet>,
    /// Class `k`'s name (label `k`): the class folder's name, or for arrays the label value itself.
    pub class_names: Vec<String>,
    /// Channels per image: 1 (every image grey) or 3.
    pub channels: usize,
    /// The format it was read in.
    pub format: UserFormat,
    /// Files skipped for their extension (ImageFolder only).
    pub skipped: SkippedFiles,
}

impl UserData {
    /// Number of classes (labels are `0..num_classes`).
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }
}

/// Reports progress while user data is decoded: `(images done, images in all)`.
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

/// Reads a user's dataset from `path`, detecting its format: a folder with a `train/` folder
/// is an ImageFolder ([`image_folder`]); a `.npz` file, or a folder with `x_train.npy`, holds
/// NumPy arrays ([`npz`]); a folder with both `train/` and `x_train.npy` is read as an image
/// folder. `progress` is called from this thread as images are decoded.
pub fn load_user_data(
    path: &Path,
    opts: &UserDataOptions,
    progress: Progress<'_>,
) -> Result<UserData, DataError> {
    let meta = std::fs::metadata(path).map_err(|source| DataError::UserIo {
        path: path.to_path_buf(),
        source,
    })?;
    let is_npz = |p: &Path| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    if meta.is_dir() {
        if path.join("train").exists() {
            return image_folder::load_image_folder(path, opts, progress);
        }
        if path.join("x_train.npy").exists() {
            return npz::load_npy_folder(path, opts, progress);
        }
    } else if meta.is_file() && is_npz(path) {
        return npz::load_npz(path, opts, progress);
    }
    Err(DataError::UserLayout {
        path: path.to_path_buf(),
        detail: if meta.is_dir() {
            "neither an image folder (no train/ folder in it) nor a NumPy folder (no x_train.npy in it)".into()
        } else {
            format!("{}, not a folder or an .npz file", entry_kind(&meta))
        },
        fix: "pass a folder laid out as train/<class>/*.png and test/<class>/*.png, a folder with x_train.npy, y_train.npy, x_test.npy and y_test.npy, or an .npz file holding those arrays".into(),
    })
}

/// Replaces line breaks in a message from another crate, so that errors stay one line.
pub(crate) fn one_line(msg: impl std::fmt::Display) -> String {
    msg.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One image's interleaved pixels (HWC) as one plane per channel (CHW).
pub(crate) fn hwc_to_chw(hwc: &[u8], channels: usize) -> Vec<u8> {
    let plane = hwc.len() / channels;
    let mut chw = vec![0u8; hwc.len()];
    for (i, px) in hwc.chunks_exact(channels).enumerate() {
        for (c, &v) in px.iter().enumerate() {
            chw[c * plane + i] = v;
        }
    }
    chw
}

/// One image's planes (CHW) as interleaved pixels (HWC).
pub(crate) fn chw_to_hwc(chw: &[u8], channels: usize) -> Vec<u8> {
    let plane = chw.len() / channels;
    let mut hwc = vec![0u8; chw.len()];
    for (c, p) in chw.chunks_exact(plane).enumerate() {
        for (i, &v) in p.iter().enumerate() {
            hwc[i * channels + c] = v;
        }
    }
    hwc
}

/// Resizes one image, stored channel after channel (CHW), to `to = (width, height)` with the
/// bilinear (`Triangle`) filter, channel by channel; an image already of that size is returned
/// as it is.
pub(crate) fn resize_chw(
    pixels: Vec<u8>,
    channels: usize,
    (width, height): (u32, u32),
    to: (u32, u32),
) -> Vec<u8> {
    if (width, height) == to {
        return pixels;
    }
    let plane = width as usize * height as usize;
    let mut out = Vec::with_capacity(channels * to.0 as usize * to.1 as usize);
    for c in 0..channels {
        let src =
            image::GrayImage::from_raw(width, height, pixels[c * plane..(c + 1) * plane].to_vec())
                .expect("a plane holds width * height pixels");
        let dst = image::imageops::resize(&src, to.0, to.1, image::imageops::FilterType::Triangle);
        out.extend_from_slice(dst.as_raw());
    }
    out
}

/// What a file-system entry is, in words ("a directory", "a FIFO (named pipe)", …).
pub(crate) fn entry_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() || t.is_char_device() {
            return "a device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a file"
    } else {
        "not a regular file"
    }
}

/// Refuses a data folder that exists but is not a folder (an absent one is reported by the
/// files it lacks).
pub(crate) fn check_folder(dir: &Path) -> Result<(), DataError> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => Err(DataError::NotAFolder {
            path: dir.to_path_buf(),
            what: entry_kind(&m),
        }),
        _ => Ok(()),
    }
}

/// The first of `candidates` that is a regular file; else the first that exists as something
/// else (a [`DataError::NotAFile`]); else `None`.
pub(crate) fn find_file(candidates: &[PathBuf]) -> Result<Option<PathBuf>, DataError> {
    if let Some(p) = candidates.iter().find(|p| p.is_file()) {
        return Ok(Some(p.clone()));
    }
    for p in candidates {
        if let Ok(m) = std::fs::metadata(p) {
            return Err(DataError::NotAFile {
                path: p.clone(),
                what: entry_kind(&m),
            });
        }
    }
    Ok(None)
}

/// Loads the four MNIST IDX files (each plain or `.gz`) from `dir`, verifying any listed checksums.
pub fn load_idx_dataset(dir: &Path, num_classes: u8) -> Result<Dataset, DataError> {
    check_folder(dir)?;
    let sums = Sums {
        stored: read_sums(&dir.join("SHA256SUMS"))?,
        decompressed: read_sums(&dir.join("SHA256SUMS.uncompressed"))?,
    };
    let (train, _) = load_split(dir, "train", num_classes, &sums)?;
    let (test, test_path) = load_split(dir, "t10k", num_classes, &sums)?;
    if (train.rows, train.cols) != (test.rows, test.cols) {
        let detail = format!(
            "test images are {}x{} but train images are {}x{}",
            test.rows, test.cols, train.rows, train.cols
        );
        return Err(DataError::BadDims {
            path: test_path,
            detail,
        });
    }
    Ok(Dataset {
        train,
        test,
        dir: dir.to_path_buf(),
    })
}

/// Loads the data a benchmark reads from `dir`.
pub fn load_for(kind: DataKind, dir: &Path) -> Result<Dataset, DataError> {
    match kind {
        DataKind::Mnist | DataKind::FashionMnist => load_idx_dataset(dir, 10),
        DataKind::Cifar10 => cifar::load_cifar(dir, cifar::CifarKind::Cifar10, 0),
        DataKind::Cifar10And100 => cifar::load_cifar10_100(dir),
        // At the size of its first image; a run passes its own options to load_user_data.
        DataKind::User => {
            load_user_data(dir, &UserDataOptions::default(), &|_, _| {}).map(|u| u.dataset)
        }
    }
}

/// Where `synaptic data fetch` keeps datasets: `$SYNAPTIC_CACHE`, else `$XDG_CACHE_HOME/synaptic`,
/// else `~/.cache/synaptic`, else `.synaptic-cache`.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("SYNAPTIC_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("synaptic")))
        .or_else(|| env("HOME").map(|d| d.join(".cache").join("synaptic")))
        .unwrap_or_else(|| PathBuf::from(".synaptic-cache"))
}

/// The folder a benchmark's data is read from: `--data-dir` if given; for MNIST then
/// `$SYNAPTIC_DATA` and the shipped copy; for the others their folder in [`cache_dir`].
pub fn resolve_dir_for(kind: DataKind, cli: Option<&Path>) -> PathBuf {
    match (kind, cli) {
        (_, Some(dir)) => dir.to_path_buf(),
        (DataKind::Mnist, None) => resolve_data_dir(None),
        (DataKind::FashionMnist, None) => cache_dir().join("fashion-mnist"),
        (DataKind::Cifar10 | DataKind::Cifar10And100, None) => cache_dir().join("cifar"),
        // A user's data has no place of its own: the command line names it.
        (DataKind::User, None) => PathBuf::from("."),
    }
}

/// The dataset folder: `--data-dir` if given, else `$SYNAPTIC_DATA` if non-empty, else the shipped one.
pub fn resolve_data_dir(cli: Option<&Path>) -> PathBuf {
    if let Some(dir) = cli {
        return dir.to_path_buf();
    }
    match std::env::var_os("SYNAPTIC_DATA") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => shipped_data_dir(),
    }
}

/// The MNIST folder shipped with the source tree, or `data/mnist` under the current dir if the build moved.
pub fn shipped_data_dir() -> PathBuf {
    let shipped = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist"));
    if shipped.is_dir() {
        shipped.to_path_buf()
    } else {
        PathBuf::from("data/mnist")
    }
}

/// Expected hashes by file name: of the bytes on disk, and of the decompressed bytes.
struct Sums {
    stored: HashMap<String, String>,
    decompressed: HashMap<String, String>,
}

/// Reads a `sha256sum`-format list as (file name, lowercase hash) pairs in file order; an absent
/// file is an empty list.
pub(crate) fn read_sum_list(path: &Path) -> Result<Vec<(String, String)>, DataError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        // An absent list just means nothing is checked.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(DataError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut sums = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        if line.trim_start().is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |detail: &str| DataError::BadChecksumList {
            path: path.to_path_buf(),
            line: i + 1,
            detail: detail.into(),
        };
        let (hash, rest) = line.split_once(' ').ok_or_else(|| bad("no file name"))?;
        // sha256sum writes "hash  name" (text mode) or "hash *name" (binary mode).
        let name = rest.strip_prefix([' ', '*']).unwrap_or(rest);
        let name = name.strip_prefix("./").unwrap_or(name);
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the hash is not 64 hex digits"));
        }
        if name.is_empty() {
            return Err(bad("no file name"));
        }
        sums.push((name.to_string(), hash.to_ascii_lowercase()));
    }
    Ok(sums)
}

fn read_sums(path: &Path) -> Result<HashMap<String, String>, DataError> {
    Ok(read_sum_list(path)?.into_iter().collect())
}

fn verify(path: &Path, expected: Option<&String>, bytes: &[u8]) -> Result<(), DataError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let actual = Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        });
    if actual != *expected {
        let (path, expected) = (path.to_path_buf(), expected.clone());
        return Err(DataError::ChecksumMismatch {
            path,
            expected,
            actual,
        });
    }
    Ok(())
}

/// Finds `name.gz` or `name`, reads it once, and checks both checksums against those bytes.
fn load_bytes(dir: &Path, name: &str, sums: &Sums) -> Result<(PathBuf, Vec<u8>), DataError> {
    let candidates = [dir.join(format!("{name}.gz")), dir.join(name)];
    let path = find_file(&candidates)?.ok_or_else(|| DataError::Missing {
        dir: dir.to_path_buf(),
        name: name.into(),
    })?;
    let raw = idx::read_file(&path)?;
    let file_name = path.file_name().and_then(|f| f.to_str()).unwrap_or(name);
    verify(&path, sums.stored.get(file_name), &raw)?;
    let bytes = idx::decompress(&path, raw)?;
    verify(&path, sums.decompressed.get(name), &bytes)?;
    Ok((path, bytes))
}

fn load_split(
    dir: &Path,
    prefix: &str,
    num_classes: u8,
    sums: &Sums,
) -> Result<(ImageSet, PathBuf), DataError> {
    let (images_path, bytes) = load_bytes(dir, &format!("{prefix}-images-idx3-ubyte"), sums)?;
    let images = idx::parse_images(&images_path, bytes)?;
    let (labels_path, bytes) = load_bytes(dir, &format!("{prefix}-labels-idx1-ubyte"), sums)?;
    let labels = idx::parse_labels(&labels_path, bytes, num_classes)?;
    if images.n != labels.len() {
        return Err(DataError::CountMismatch {
            images: images_path,
            labels: labels_path,
            n_images: images.n,
            n_labels: labels.len(),
        });
    }
    let set = ImageSet {
        pixels_per_image: images.rows * images.cols,
        images: images.pixels,
        labels,
        n: images.n,
        rows: images.rows,
        cols: images.cols,
    };
    Ok((set, images_path))
}

#[cfg(test)]
mod tests {
    use super::idx::tests::{gz, images, labels, write};
    use super::*;

    const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
    const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
    const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
    const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

    /// Writes a tiny 2x3 dataset (4 train, 2 test); train files gzipped, test files raw.
    fn tiny(dir: &Path) -> Vec<(String, Vec<u8>, Vec<u8>)> {
        let files = [
            (
                TRAIN_IMAGES,
                images(4, 2, 3, &(0..24).collect::<Vec<u8>>()),
                true,
            ),
            (TRAIN_LABELS, labels(&[5, 0, 4, 1]), true),
            (TEST_IMAGES, images(2, 2, 3, &[7; 12]), false),
            (TEST_LABELS, labels(&[7, 2]), false),
        ];
        files
            .into_iter()
            .map(|(name, plain, zip)| {
                let (file, stored) = if zip {
                    (format!("{name}.gz"), gz(&plain))
                } else {
                    (name.into(), plain.clone())
                };
                write(dir, &file, &stored);
                (file, stored, plain)
            })
            .collect()
    }

    fn hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn tiny_dataset_loads_exactly() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        // A broken plain twin must be ignored because the .gz is preferred.
        write(dir.path(), TRAIN_IMAGES, b"garbage");
        let ds = load_idx_dataset(dir.path(), 10).unwrap();
        assert_eq!(
            (ds.train.len(), ds.test.len(), ds.train.rows, ds.train.cols),
            (4, 2, 2, 3)
        );
        assert_eq!(ds.train.pixels_per_image, 6);
        assert_eq!(ds.train.image(1), &[6, 7, 8, 9, 10, 11]);
        assert_eq!(ds.train.labels, [5, 0, 4, 1]);
        assert_eq!(ds.test.image(1), &[7; 6]);
        assert_eq!(ds.test.labels, [7, 2]);
        assert!(!ds.train.is_empty());
        assert_eq!(ds.dir, dir.path());
    }

    #[test]
    fn missing_file_names_both_candidates_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        std::fs::remove_file(dir.path().join(TEST_LABELS)).unwrap();
        let err = load_idx_dataset(dir.path(), 10).unwrap_err();
        assert!(
            matches!(&err, DataError::Missing { name, .. } if name == TEST_LABELS),
            "{err:?}"
        );
        let msg = err.to_string();
        for needle in [
            format!("{TEST_LABELS}.gz nor {TEST_LABELS} found"),
            dir.path().display().to_string(),
            "pass a data folder".into(),
            "SYNAPTIC_DATA".into(),
        ] {
            assert!(msg.contains(&needle), "{needle:?} not in {msg}");
        }
    }

    #[test]
    fn image_and_label_counts_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        write(dir.path(), TEST_LABELS, &labels(&[1, 2, 3]));
        let err = load_idx_dataset(dir.path(), 10).unwrap_err();
        assert!(matches!(
            err,
            DataError::CountMismatch {
                n_images: 2,
                n_labels: 3,
                ..
            }
        ));
        assert!(err.to_string().contains(TEST_IMAGES) && err.to_string().contains(TEST_LABELS));
    }

    #[test]
    fn train_and_test_shapes_must_agree_and_labels_checked() {
        let dir = tempfile::tempdir().unwrap();
        tiny(dir.path());
        write(dir.path(), TEST_IMAGES, &images(2, 3, 2, &[7; 12]));
        let err = load_idx_dataset(dir.path(), 10).unwrap_err();
        assert!(matches!(err, DataError::BadDims { ref path, .. } if path.ends_with(TEST_IMAGES)));
        assert!(err
            .to_string()
            .contains("test images are 3x2 but train images are 2x3"));
        tiny(dir.path());
        let err = load_idx_dataset(dir.path(), 6).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::LabelOutOfRange {
                    label: 7,
                    index: 0,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains(TEST_LABELS));
    }

    #[test]
    fn stored_checksums_accept_good_and_reject_bad() {
        let dir = tempfile::tempdir().unwrap();
        let files = tiny(dir.path());
        // Mixed line formats: two spaces, "*" binary marker, single space; one file unlisted.
        let list = format!(
            "{}  {}\n{} *{}\n{} {}\n",
            hex(&files[0].1).to_uppercase(),
            files[0].0,
            hex(&files[1].1),
            files[1].0,
            hex(&files[2].1),
            files[2].0
        );
        write(dir.path(), "SHA256SUMS", list.as_bytes());
        load_idx_dataset(dir.path(), 10).unwrap();
        let wrong = list.replace(&hex(&files[1].1), &hex(b"other"));
        write(dir.path(), "SHA256SUMS", wrong.as_bytes());
        let err = load_idx_dataset(dir.path(), 10).unwrap_err();
        let DataError::ChecksumMismatch {
            path,
            expected,
            actual,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert!(path.ends_with(format!("{TRAIN_LABELS}.gz")));
        assert_eq!((expected, actual), (&hex(b"other"), &hex(&files[1].1)));
        assert!(err.to_string().contains(&path.display().to_string()));
        write(
            dir.path(),
            "SHA256SUMS",
            b"nothex  train-images-idx3-ubyte.gz\n",
        );
        let err = load_idx_dataset(dir.path(), 10).unwrap_err();
        assert!(
            matches!(err, DataError::BadChecksumList { line: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn decompressed_checksums_hash_the_inflated_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let files = tiny(dir.path());
        let list: String = files
            .iter()
            .zip([TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS])
            .map(|((_, _, plain), name)| format!("{}  {name}\n", hex(plain)))
            .collect();
        write(dir.path(), "SHA256SUMS.uncompressed", list.as_bytes());
        load_idx_dataset(dir.path(), 10).unwrap();
        // Hashing the gzip bytes instead of the inflated ones must not pass.
        let wrong = list.replace(&hex(&files[0].2), &hex(&files[0].1));
        write(dir.path(), "SHA256SUMS.uncompressed", wrong.as_bytes());
        let err = load_idx_dataset(dir.path(), 10).unwrap_err();
        assert!(
            matches!(&err, DataError::ChecksumMismatch { path, .. } if path.ends_with(&files[0].0)),
            "{err:?}"
        );
    }

    #[test]
    fn cli_dir_wins() {
        let cli = Path::new("/some/where");
        assert_eq!(resolve_data_dir(Some(cli)), cli);
        let fallback = match std::env::var_os("SYNAPTIC_DATA") {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => shipped_data_dir(),
        };
        assert_eq!(resolve_data_dir(None), fallback);
    }

    #[test]
    fn shipped_mnist_loads_and_verifies() {
        // The copy this crate ships: it must be there and intact, no skipping.
        let dir = &Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        assert_eq!(shipped_data_dir(), *dir);
        assert!(dir.join("SHA256SUMS").is_file() && dir.join("SHA256SUMS.uncompressed").is_file());
        // Every file must be listed in both lists, or "checksums verified" would be vacuous.
        let stored = read_sums(&dir.join("SHA256SUMS")).unwrap();
        let decompressed = read_sums(&dir.join("SHA256SUMS.uncompressed")).unwrap();
        for name in [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS] {
            assert!(stored.contains_key(&format!("{name}.gz")) && decompressed.contains_key(name));
        }
        let ds = load_idx_dataset(dir, 10).unwrap();
        assert_eq!((ds.train.len(), ds.test.len()), (60_000, 10_000));
        assert_eq!(
            (ds.train.rows, ds.train.cols, ds.test.rows, ds.test.cols),
            (28, 28, 28, 28)
        );
        assert_eq!(ds.train.images.len(), 60_000 * 784);
        assert!(ds
            .train
            .labels
            .iter()
            .chain(&ds.test.labels)
            .all(|&l| l < 10));
        assert_eq!((ds.train.labels[0], ds.test.labels[0]), (5, 7));
    }
}
