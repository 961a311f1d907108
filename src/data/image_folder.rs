//! Reader for the ImageFolder layout (torchvision's `ImageFolder`, continuum's
//! `ImageFolderDataset`): `DIR/train/<class>/*.png|jpg|jpeg`, `DIR/test/<class>/…` and an
//! optional `DIR/val/<class>/…`.
//!
//! - **Labels**: the class folder names, sorted by their bytes, are labels `0..K` (at most 256,
//!   as labels are `u8`); every split must have the same class folders.
//! - **Order**: within a class, files sorted by name (bytes); classes in label order.
//! - **Files**: `.png`, `.jpg` and `.jpeg` (any case) are decoded by their content (a JPEG named
//!   `.png` is read as JPEG); other files are skipped and counted ([`SkippedFiles`]); names
//!   starting with `.` are ignored; a folder inside a class folder is refused (its images would
//!   otherwise be left out unnoticed).
//! - **Pixels**: kept as u8, channel after channel (CHW). A grey image (with or without alpha)
//!   has one channel, any other three; if any image of the dataset has colour, the grey ones
//!   are promoted to RGB by repeating their channel. Alpha is dropped, not composited: a pixel
//!   keeps its colour whatever its opacity. 16-bit images are scaled to 8 bits by the `image`
//!   crate. Whether an image is grey is read from its colour type, not its pixels.
//! - **Size**: with [`UserDataOptions::resize`] every image is resized to that size with
//!   bilinear interpolation (`Triangle`), channel by channel; without it every image must have
//!   the first image's size (the first file of the first class of `train/`).
//!
//! Images are decoded in parallel on rayon's threads, a chunk at a time, and checked in file
//! order, so the result and the error reported (the first bad file in reading order) do not
//! depend on the number of threads.

use std::ffi::OsString;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{
    entry_kind, hwc_to_chw, one_line, resize_chw, DataError, Dataset, ImageSet, Progress,
    SkippedFiles, UserData, UserDataOptions, UserFormat,
};

/// File extensions read as images (compared without regard to case).
pub const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];
/// Most classes a dataset can have: labels are u8.
pub const MAX_CLASSES: usize = 256;
/// Largest image file read (a bigger one is refused before it is read).
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;
/// Largest decoded image, in bytes (the `image` crate refuses to allocate more).
const MAX_DECODED_BYTES: u64 = 512 << 20;
/// Images decoded in parallel between two checks and progress reports.
const CHUNK: usize = 256;

/// The splits read, in this order; `val` is optional.
const SPLITS: [&str; 3] = ["train", "test", "val"];

const LAYOUT_FIX: &str =
    "lay the data out as DIR/train/<class>/*.png and DIR/test/<class>/*.png (optional DIR/val/<class>/), with the same class folders in each";

/// One decoded image: its pixels (CHW, already resized if asked) and what they were.
struct Decoded {
    grey: bool,
    /// Size as stored in the file (before any resize).
    size: (u32, u32),
    pixels: Vec<u8>,
}

/// An image file to read and the label it gets.
struct Job {
    path: PathBuf,
    label: u8,
    split: usize,
}

/// Reads the ImageFolder tree at `dir` (see the module documentation for every rule).
pub fn load_image_folder(
    dir: &Path,
    opts: &UserDataOptions,
    progress: Progress<'_>,
) -> Result<UserData, DataError> {
    if let Some((w, h)) = opts.resize {
        if w == 0 || h == 0 {
            return Err(layout(
                dir,
                format!("the image size {w}x{h} has a zero side"),
                "pass --image-size WxH with a width and height of at least 1",
            ));
        }
    }
    let mut skipped = SkippedFiles::default();
    let mut split_classes: Vec<(usize, PathBuf, Vec<OsString>)> = Vec::new();
    for (k, name) in SPLITS.iter().enumerate() {
        let split_dir = dir.join(name);
        match std::fs::metadata(&split_dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                return Err(layout(
                    &split_dir,
                    format!("{}, not a folder", entry_kind(&m)),
                    LAYOUT_FIX,
                ))
            }
            Err(_) if *name == "val" => continue,
            Err(_) => return Err(layout(dir, format!("no {name}/ folder"), LAYOUT_FIX)),
        }
        let classes = class_folders(&split_dir, &mut skipped)?;
        split_classes.push((k, split_dir, classes));
    }
    let (_, train_dir, classes) = &split_classes[0];
    if classes.is_empty() {
        return Err(layout(
            train_dir,
            "no class folders in it".into(),
            LAYOUT_FIX,
        ));
    }
    if classes.len() > MAX_CLASSES {
        return Err(layout(
            train_dir,
            format!(
                "{} class folders, more than the {MAX_CLASSES} labels a u8 holds",
                classes.len()
            ),
            "merge classes, or split the data into several datasets of at most 256 classes",
        ));
    }
    for (_, split_dir, other) in &split_classes[1..] {
        if other != classes {
            return Err(layout(
                split_dir,
                class_difference(classes, other),
                LAYOUT_FIX,
            ));
        }
    }

    let mut jobs = Vec::new();
    let mut counts = vec![0usize; SPLITS.len()];
    for (k, split_dir, _) in &split_classes {
        for (label, class) in classes.iter().enumerate() {
            let class_dir = split_dir.join(class);
            let files = image_files(&class_dir, &mut skipped)?;
            if files.is_empty() {
                return Err(layout(
                    &class_dir,
                    "no .png, .jpg or .jpeg image in this class folder".into(),
                    "add images to it, or remove this class folder from every split",
                ));
            }
            counts[*k] += files.len();
            // `label < MAX_CLASSES` was checked above.
            jobs.extend(files.into_iter().map(|path| Job {
                path,
                label: label as u8,
                split: *k,
            }));
        }
    }

    let decoded = decode_all(&jobs, opts.resize, progress)?;
    let channels = if decoded.iter().all(|d| d.grey) { 1 } else { 3 };
    let (cols, rows) = match opts.resize {
        Some(size) => size,
        None => decoded[0].size,
    };
    let (rows, cols) = (rows as usize, cols as usize);
    let pixels_per_image = channels * rows * cols;
    let mut sets: Vec<ImageSet> = counts
        .iter()
        .map(|&n| ImageSet {
            images: Vec::with_capacity(n * pixels_per_image),
            labels: Vec::with_capacity(n),
            n,
            pixels_per_image,
            rows,
            cols,
        })
        .collect();
    for (job, d) in jobs.iter().zip(decoded) {
        let set = &mut sets[job.split];
        if d.grey && channels == 3 {
            for _ in 0..3 {
                set.images.extend_from_slice(&d.pixels);
            }
        } else {
            set.images.extend_from_slice(&d.pixels);
        }
        set.labels.push(job.label);
    }
    let val = split_classes
        .iter()
        .any(|(k, _, _)| *k == 2)
        .then(|| sets.remove(2));
    let test = sets.remove(1);
    let train = sets.remove(0);
    Ok(UserData {
        dataset: Dataset {
            train,
            test,
            dir: dir.to_path_buf(),
        },
        val,
        class_names: classes
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect(),
        channels,
        format: UserFormat::ImageFolder,
        skipped,
    })
}

fn layout(path: &Path, detail: String, fix: &str) -> DataError {
    DataError::UserLayout {
        path: path.to_path_buf(),
        detail,
        fix: fix.into(),
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::UserIo {
        path: path.to_path_buf(),
        source,
    }
}

fn is_hidden(name: &OsString) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// The entries of `dir` that are not hidden, sorted by name, with whether each is a folder
/// (symbolic links followed).
fn entries(dir: &Path) -> Result<Vec<(OsString, PathBuf, bool)>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        if is_hidden(&name) {
            continue;
        }
        let path = entry.path();
        let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
        out.push((name, path, meta.is_dir()));
    }
    // OsString orders by bytes on Unix: the same order on every machine and locale.
    out.sort();
    Ok(out)
}

/// The class folder names of one split, sorted; files beside them are skipped.
fn class_folders(split_dir: &Path, skipped: &mut SkippedFiles) -> Result<Vec<OsString>, DataError> {
    let mut classes = Vec::new();
    for (name, path, is_dir) in entries(split_dir)? {
        if is_dir {
            classes.push(name);
        } else {
            skip(skipped, path);
        }
    }
    Ok(classes)
}

fn skip(skipped: &mut SkippedFiles, path: PathBuf) {
    skipped.count += 1;
    skipped.first.get_or_insert(path);
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The image files of one class folder, sorted by name; other files are skipped.
fn image_files(class_dir: &Path, skipped: &mut SkippedFiles) -> Result<Vec<PathBuf>, DataError> {
    let mut files = Vec::new();
    for (_, path, is_dir) in entries(class_dir)? {
        if is_dir {
            return Err(layout(
                &path,
                "a folder inside a class folder".into(),
                "put each class's images directly in DIR/<split>/<class>/: move the files up or remove this folder",
            ));
        }
        if has_image_extension(&path) {
            files.push(path);
        } else {
            skip(skipped, path);
        }
    }
    Ok(files)
}

/// Joins a few names for a message.
fn names(list: &[&OsString]) -> String {
    const SHOWN: usize = 5;
    let mut s = list
        .iter()
        .take(SHOWN)
        .map(|n| n.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > SHOWN {
        s.push_str(&format!(" and {} more", list.len() - SHOWN));
    }
    s
}

/// Says how a split's class folders differ from train/'s.
fn class_difference(train: &[OsString], other: &[OsString]) -> String {
    let extra: Vec<&OsString> = other.iter().filter(|c| !train.contains(c)).collect();
    let missing: Vec<&OsString> = train.iter().filter(|c| !other.contains(c)).collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!(
            "lacks class folders that train/ has: {}",
            names(&missing)
        ));
    }
    if !extra.is_empty() {
        parts.push(format!(
            "has class folders that train/ lacks: {}",
            names(&extra)
        ));
    }
    parts.join("; it ")
}

/// Decodes every job's image in file order, a chunk at a time in parallel; without a resize,
/// checks each against the first image's size.
fn decode_all(
    jobs: &[Job],
    resize: Option<(u32, u32)>,
    progress: Progress<'_>,
) -> Result<Vec<Decoded>, DataError> {
    let total = jobs.len();
    let mut out: Vec<Decoded> = Vec::with_capacity(total);
    progress(0, total);
    for chunk in jobs.chunks(CHUNK) {
        let results: Vec<Result<Decoded, DataError>> = chunk
            .par_iter()
            .map(|job| decode(&job.path, resize))
            .collect();
        for (job, result) in chunk.iter().zip(results) {
            let d = result?;
            if resize.is_none() {
                if let Some(first) = out.first() {
                    if d.size != first.size {
                        return Err(DataError::ImageSizeMismatch {
                            path: job.path.clone(),
                            size: d.size,
                            first: jobs[0].path.clone(),
                            expected: first.size,
                        });
                    }
                }
            }
            out.push(d);
        }
        progress(out.len(), total);
    }
    Ok(out)
}

/// Reads and decodes one PNG or JPEG file into CHW pixels (1 channel if grey, else 3),
/// resized if asked.
fn decode(path: &Path, resize: Option<(u32, u32)>) -> Result<Decoded, DataError> {
    let bad = |detail: String| DataError::BadImage {
        path: path.to_path_buf(),
        detail,
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io_err(path))?
        .take(MAX_IMAGE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_err(path))?;
    if bytes.len() as u64 > MAX_IMAGE_FILE_BYTES {
        return Err(bad(format!(
            "larger than the {} MiB limit for one image file",
            MAX_IMAGE_FILE_BYTES >> 20
        )));
    }
    if bytes.is_empty() {
        return Err(bad("the file is empty".into()));
    }
    let mut reader = image::ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| bad(one_line(e)))?;
    let format = reader.format();
    match format {
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg) => {}
        Some(other) => return Err(bad(format!("its content is {other:?}, not PNG or JPEG"))),
        None => return Err(bad("its content is not a PNG or JPEG image".into())),
    }
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| bad(one_line(e)))?;
    if format == Some(image::ImageFormat::Jpeg) && !jpeg_is_complete(&bytes) {
        // The JPEG decoder fills a truncated scan with grey instead of failing.
        return Err(bad(
            "truncated JPEG: no end-of-image marker after its last scan".into(),
        ));
    }
    let size = (img.width(), img.height());
    let grey = !img.color().has_color();
    let (pixels, channels) = if grey {
        (img.into_luma8().into_raw(), 1)
    } else {
        (hwc_to_chw(&img.into_rgb8().into_raw(), 3), 3)
    };
    let pixels = match resize {
        Some(to) => resize_chw(pixels, channels, size, to),
        None => pixels,
    };
    Ok(Decoded { grey, size, pixels })
}

/// Whether a JPEG has an end-of-image marker (FF D9) after the start of its last scan (FF DA):
/// inside a scan a 0xFF data byte is always followed by 0x00, so only a complete file has it.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    match last_scan {
        Some(start) => bytes[start..].windows(2).any(|w| w == [0xFF, 0xD9]),
        None => false,
    }
}
