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
    opts.check(dir)?;
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
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err(&split_dir)(e))
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

    let decoded = decode_all(dir, &jobs, opts, progress)?;
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
/// checks each against the first image's size. The first image is decoded alone, so that data
/// too large for [`UserDataOptions::max_bytes`] is refused before more is decoded (and again
/// once a colour image triples the estimate).
fn decode_all(
    dir: &Path,
    jobs: &[Job],
    opts: &UserDataOptions,
    progress: Progress<'_>,
) -> Result<Vec<Decoded>, DataError> {
    let resize = opts.resize;
    let total = jobs.len();
    let mut out: Vec<Decoded> = Vec::with_capacity(total);
    let (mut channels, mut colour) = (0, false);
    progress(0, total);
    let chunks = std::iter::once(&jobs[..1]).chain(jobs[1..].chunks(CHUNK));
    for chunk in chunks {
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
            colour |= !d.grey;
            out.push(d);
        }
        let seen = if colour { 3 } else { 1 };
        if seen > channels {
            channels = seen;
            let (w, h) = resize.unwrap_or(out[0].size);
            opts.check_bytes(dir, total, (channels, h as usize, w as usize))?;
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use image::{ExtendedColorType as Ct, ImageFormat};

    use super::*;
    use crate::data::load_user_data;

    fn write_image(path: &Path, w: u32, h: u32, color: Ct, px: &[u8], format: ImageFormat) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image::save_buffer_with_format(path, px, w, h, color, format).unwrap();
    }

    fn png(path: &Path, w: u32, h: u32, color: Ct, px: &[u8]) {
        write_image(path, w, h, color, px, ImageFormat::Png);
    }

    fn none(_: usize, _: usize) {}

    fn load(dir: &Path) -> Result<UserData, DataError> {
        load_image_folder(dir, &UserDataOptions::default(), &none)
    }

    fn load_resized(dir: &Path, to: (u32, u32)) -> Result<UserData, DataError> {
        let opts = UserDataOptions {
            resize: Some(to),
            ..UserDataOptions::default()
        };
        load_image_folder(dir, &opts, &none)
    }

    /// A one-class-each folder of 1x1 grey PNGs in `splits`, classes `a` and `b`.
    fn minimal(dir: &Path, splits: &[&str]) {
        for split in splits {
            for class in ["a", "b"] {
                png(
                    &dir.join(split).join(class).join("0.png"),
                    1,
                    1,
                    Ct::L8,
                    &[9],
                );
            }
        }
    }

    fn err_msg(dir: &Path) -> (DataError, String) {
        let err = load(dir).unwrap_err();
        let msg = err.to_string();
        assert!(!msg.contains('\n'), "multi-line: {msg}");
        (err, msg)
    }

    fn contains_all(msg: &str, needles: &[&str]) {
        for n in needles {
            assert!(msg.contains(n), "{n:?} not in {msg}");
        }
    }

    #[test]
    fn grey_pngs_load_exactly_in_sorted_class_and_file_order() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        // Written out of order: labels come from sorted class names, order from sorted files.
        png(&d.join("train/b/x.png"), 3, 2, Ct::L8, &[1, 2, 3, 4, 5, 6]);
        png(
            &d.join("train/a/z.png"),
            3,
            2,
            Ct::L8,
            &[10, 11, 12, 13, 14, 15],
        );
        png(
            &d.join("train/a/y.PNG"),
            3,
            2,
            Ct::L8,
            &[20, 21, 22, 23, 24, 25],
        );
        png(&d.join("test/a/t.png"), 3, 2, Ct::L8, &[30; 6]);
        png(&d.join("test/b/t.png"), 3, 2, Ct::L8, &[40; 6]);
        png(&d.join("val/b/v.png"), 3, 2, Ct::L8, &[50; 6]);
        png(&d.join("val/a/v.png"), 3, 2, Ct::L8, &[60; 6]);
        std::fs::write(d.join("train/a/notes.txt"), "not an image").unwrap();
        std::fs::write(d.join("train/README.md"), "about").unwrap();
        std::fs::write(d.join("train/a/.DS_Store"), "hidden").unwrap();
        std::fs::create_dir_all(d.join("train/.ipynb_checkpoints")).unwrap();
        let data = load_user_data(d, &UserDataOptions::default(), &none).unwrap();
        assert_eq!(data.format, UserFormat::ImageFolder);
        assert_eq!(data.class_names, ["a", "b"]);
        assert_eq!((data.channels, data.num_classes()), (1, 2));
        let train = &data.dataset.train;
        assert_eq!(
            (train.n, train.rows, train.cols, train.pixels_per_image),
            (3, 2, 3, 6)
        );
        assert_eq!(train.labels, [0, 0, 1]);
        assert_eq!(train.image(0), &[20, 21, 22, 23, 24, 25]);
        assert_eq!(train.image(1), &[10, 11, 12, 13, 14, 15]);
        assert_eq!(train.image(2), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(data.dataset.test.images, [[30; 6], [40; 6]].concat());
        assert_eq!(data.dataset.test.labels, [0, 1]);
        let val = data.val.as_ref().unwrap();
        assert_eq!(
            (val.images.clone(), val.labels.clone()),
            ([[60; 6], [50; 6]].concat(), vec![0, 1])
        );
        // Hidden entries are ignored, the two other files skipped and counted.
        assert_eq!(data.skipped.count, 2);
        assert_eq!(
            data.skipped.first.as_deref(),
            Some(d.join("train/README.md").as_path())
        );
        assert_eq!(data.dataset.dir, d);
    }

    #[test]
    fn colour_makes_three_channels_grey_is_promoted_and_alpha_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        png(
            &d.join("train/a/0.png"),
            2,
            1,
            Ct::Rgb8,
            &[1, 2, 3, 4, 5, 6],
        );
        png(&d.join("train/a/1.png"), 2, 1, Ct::L8, &[7, 8]);
        // Alpha 0 must not blacken the pixel: alpha is dropped, not composited.
        png(
            &d.join("train/b/0.png"),
            2,
            1,
            Ct::Rgba8,
            &[9, 10, 11, 0, 12, 13, 14, 255],
        );
        png(&d.join("train/b/1.png"), 2, 1, Ct::La8, &[15, 0, 16, 128]);
        // 16-bit grey is scaled to 8 bits.
        png(&d.join("test/a/0.png"), 2, 1, Ct::L16, &[0, 0, 255, 255]);
        png(
            &d.join("test/b/0.png"),
            2,
            1,
            Ct::Rgb8,
            &[0, 0, 0, 255, 255, 255],
        );
        let data = load(d).unwrap();
        assert_eq!(data.channels, 3);
        let train = &data.dataset.train;
        assert_eq!((train.pixels_per_image, train.channels()), (6, 3));
        // CHW: the red plane, then green, then blue.
        assert_eq!(train.image(0), &[1, 4, 2, 5, 3, 6]);
        assert_eq!(train.image(1), &[7, 8, 7, 8, 7, 8]);
        assert_eq!(train.image(2), &[9, 12, 10, 13, 11, 14]);
        assert_eq!(train.image(3), &[15, 16, 15, 16, 15, 16]);
        assert_eq!(train.labels, [0, 0, 1, 1]);
        assert_eq!(data.dataset.test.image(0), &[0, 255, 0, 255, 0, 255]);
        assert_eq!(data.dataset.test.image(1), &[0, 255, 0, 255, 0, 255]);
    }

    #[test]
    fn grey_with_alpha_alone_stays_one_channel() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        png(&d.join("train/a/0.png"), 2, 1, Ct::La8, &[15, 0, 16, 128]);
        png(&d.join("test/a/0.png"), 2, 1, Ct::L8, &[1, 2]);
        let data = load(d).unwrap();
        assert_eq!(data.channels, 1);
        assert_eq!(data.dataset.train.images, [15, 16]);
    }

    #[test]
    fn jpegs_decode_by_content_within_a_level_of_the_original() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let (w, h) = (16, 16);
        write_image(
            &d.join("train/a/0.jpg"),
            w,
            h,
            Ct::L8,
            &[100; 256],
            ImageFormat::Jpeg,
        );
        write_image(
            &d.join("train/b/0.JPEG"),
            w,
            h,
            Ct::L8,
            &[30; 256],
            ImageFormat::Jpeg,
        );
        // A JPEG named .png is read by its content.
        write_image(
            &d.join("test/a/0.png"),
            w,
            h,
            Ct::L8,
            &[200; 256],
            ImageFormat::Jpeg,
        );
        write_image(
            &d.join("test/b/0.jpeg"),
            w,
            h,
            Ct::L8,
            &[0; 256],
            ImageFormat::Jpeg,
        );
        let data = load(d).unwrap();
        assert_eq!(
            (
                data.channels,
                data.dataset.train.rows,
                data.dataset.train.cols
            ),
            (1, 16, 16)
        );
        for (set, i, v) in [
            (&data.dataset.train, 0, 100i16),
            (&data.dataset.train, 1, 30),
            (&data.dataset.test, 0, 200),
            (&data.dataset.test, 1, 0),
        ] {
            let worst = set.image(i).iter().map(|&p| (i16::from(p) - v).abs()).max();
            assert!(worst <= Some(1), "image {i}: off by {worst:?} from {v}");
        }
        // A colour JPEG makes the dataset three-channel.
        let rgb: Vec<u8> = [200u8, 50, 20].repeat(256);
        write_image(
            &d.join("test/b/0.jpeg"),
            w,
            h,
            Ct::Rgb8,
            &rgb,
            ImageFormat::Jpeg,
        );
        let data = load(d).unwrap();
        assert_eq!(data.channels, 3);
        let img = data.dataset.test.image(1);
        for (c, v) in [200i16, 50, 20].into_iter().enumerate() {
            let plane = &img[c * 256..(c + 1) * 256];
            let worst = plane
                .iter()
                .map(|&p| (i16::from(p) - v).abs())
                .max()
                .unwrap();
            assert!(worst <= 3, "channel {c}: off by {worst} from {v}");
        }
    }

    #[test]
    fn resize_is_bilinear_per_channel_and_keeps_images_of_the_size() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let big: Vec<u8> = (0..4 * 3 * 3).map(|i| (i * 37 % 251) as u8).collect();
        let small: Vec<u8> = (0..2 * 2 * 3).map(|i| (i * 11) as u8).collect();
        png(&d.join("train/a/0.png"), 4, 3, Ct::Rgb8, &big);
        png(&d.join("train/a/1.png"), 2, 2, Ct::Rgb8, &small);
        let grey: Vec<u8> = (0..25).map(|i| (i * 10) as u8).collect();
        png(&d.join("test/a/0.png"), 5, 5, Ct::L8, &grey);
        let data = load_resized(d, (2, 2)).unwrap();
        let train = &data.dataset.train;
        assert_eq!((train.rows, train.cols, train.pixels_per_image), (2, 2, 12));
        // The interleaved RGB resize of the image crate, planes taken apart afterwards.
        let rgb = image::RgbImage::from_raw(4, 3, big).unwrap();
        let want = image::imageops::resize(&rgb, 2, 2, image::imageops::FilterType::Triangle);
        assert_eq!(train.image(0), hwc_to_chw(want.as_raw(), 3));
        assert_ne!(train.image(0)[..4], [0, 37, 74, 111], "not resized at all");
        // Already 2x2: kept as it is.
        assert_eq!(train.image(1), hwc_to_chw(&small, 3));
        let g = image::GrayImage::from_raw(5, 5, grey).unwrap();
        let want = image::imageops::resize(&g, 2, 2, image::imageops::FilterType::Triangle);
        let promoted = [want.as_raw().as_slice(); 3].concat();
        assert_eq!(data.dataset.test.image(0), promoted);

        // Without a resize the second size is refused, naming the file, both sizes and the flag.
        let err = load(d).unwrap_err();
        assert!(
            matches!(
                err,
                DataError::ImageSizeMismatch {
                    size: (2, 2),
                    expected: (4, 3),
                    ..
                }
            ),
            "{err:?}"
        );
        contains_all(
            &err.to_string(),
            &[
                &d.join("train/a/1.png").display().to_string(),
                "is 2x2",
                "is 4x3",
                "--image-size 4x3",
            ],
        );
        let err = load_resized(d, (0, 3)).unwrap_err();
        assert!(err.to_string().contains("zero side"), "{err}");
    }

    #[test]
    fn order_and_progress_hold_across_parallel_chunks() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let n = CHUNK + 45;
        for i in 0..n {
            let class = ["c0", "c1", "c2"][i % 3];
            png(
                &d.join(format!("train/{class}/{i:04}.png")),
                1,
                1,
                Ct::L8,
                &[i as u8],
            );
        }
        minimal(d, &["test"]);
        for class in ["a", "b"] {
            std::fs::rename(
                d.join("test").join(class),
                d.join("test").join(format!("c{}", (class == "b") as u8)),
            )
            .unwrap();
        }
        png(&d.join("test/c2/0.png"), 1, 1, Ct::L8, &[9]);
        let calls = Mutex::new(Vec::new());
        let record = |done: usize, total: usize| calls.lock().unwrap().push((done, total));
        let data = load_image_folder(d, &UserDataOptions::default(), &record).unwrap();
        let want: Vec<(u8, u8)> = (0..3)
            .flat_map(|c| {
                (0..n)
                    .filter(move |i| i % 3 == c)
                    .map(move |i| (i as u8, c as u8))
            })
            .collect();
        let got: Vec<(u8, u8)> = data
            .dataset
            .train
            .images
            .iter()
            .copied()
            .zip(data.dataset.train.labels.iter().copied())
            .collect();
        assert_eq!(got, want);
        let calls = calls.into_inner().unwrap();
        let total = n + 3;
        // The first image alone, then chunks.
        assert_eq!(
            calls,
            [(0, total), (1, total), (1 + CHUNK, total), (total, total)]
        );
    }

    #[test]
    fn layout_errors_name_the_folder_and_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        minimal(d, &["train"]);
        let (_, msg) = err_msg(d);
        contains_all(
            &msg,
            &[
                &d.display().to_string(),
                "no test/ folder",
                "DIR/train/<class>/*.png",
            ],
        );

        minimal(d, &["test"]);
        std::fs::create_dir_all(d.join("test/zebra")).unwrap();
        std::fs::rename(d.join("test/b"), d.join("test/c")).unwrap();
        let (_, msg) = err_msg(d);
        contains_all(
            &msg,
            &[
                &d.join("test").display().to_string(),
                "lacks class folders that train/ has: b",
                "has class folders that train/ lacks: c, zebra",
            ],
        );
        std::fs::remove_dir_all(d.join("test")).unwrap();
        minimal(d, &["test"]);

        std::fs::create_dir_all(d.join("val/a")).unwrap();
        std::fs::create_dir_all(d.join("val/b")).unwrap();
        std::fs::write(d.join("val/b/notes.txt"), "x").unwrap();
        let (_, msg) = err_msg(d);
        contains_all(
            &msg,
            &[
                &d.join("val/a").display().to_string(),
                "no .png, .jpg or .jpeg image",
            ],
        );
        std::fs::remove_dir_all(d.join("val")).unwrap();

        std::fs::create_dir_all(d.join("train/a/more")).unwrap();
        let (_, msg) = err_msg(d);
        contains_all(
            &msg,
            &[
                &d.join("train/a/more").display().to_string(),
                "a folder inside a class folder",
            ],
        );
        std::fs::remove_dir_all(d.join("train/a/more")).unwrap();

        std::fs::write(d.join("val"), "a file").unwrap();
        let (_, msg) = err_msg(d);
        contains_all(
            &msg,
            &[&d.join("val").display().to_string(), "a file, not a folder"],
        );
        std::fs::remove_file(d.join("val")).unwrap();

        let empty = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(empty.path().join("train")).unwrap();
        std::fs::create_dir_all(empty.path().join("test")).unwrap();
        let (_, msg) = err_msg(empty.path());
        contains_all(
            &msg,
            &[
                &empty.path().join("train").display().to_string(),
                "no class folders",
            ],
        );
        for k in 0..=MAX_CLASSES {
            std::fs::create_dir_all(empty.path().join(format!("train/{k:03}"))).unwrap();
        }
        let (_, msg) = err_msg(empty.path());
        contains_all(&msg, &["257 class folders, more than the 256 labels"]);
    }

    #[test]
    fn bad_image_files_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        minimal(d, &["train", "test"]);
        let target = d.join("test/b/0.png");
        let check = |bytes: &[u8], needle: &str| {
            std::fs::write(&target, bytes).unwrap();
            let (err, msg) = err_msg(d);
            assert!(
                matches!(err, DataError::BadImage { ref path, .. } if *path == target),
                "{err:?}"
            );
            contains_all(
                &msg,
                &[
                    &target.display().to_string(),
                    "not a readable PNG or JPEG image",
                    needle,
                ],
            );
        };
        check(b"hello, not an image", "not a PNG or JPEG image");
        check(b"", "empty");
        let mut buf = Cursor::new(Vec::new());
        image::write_buffer_with_format(&mut buf, &[1u8; 64], 8, 8, Ct::L8, ImageFormat::Png)
            .unwrap();
        let good_png = buf.into_inner();
        check(&good_png[..good_png.len() - 20], "");
        // A flipped byte in the pixel data breaks its checksum.
        let mut flipped = good_png.clone();
        let at = flipped.len() - 16;
        flipped[at] ^= 0x55;
        check(&flipped, "");
        let mut buf = Cursor::new(Vec::new());
        let px: Vec<u8> = (0..64 * 64).map(|i| (i * 7) as u8).collect();
        image::write_buffer_with_format(&mut buf, &px, 64, 64, Ct::L8, ImageFormat::Jpeg).unwrap();
        let jpeg = buf.into_inner();
        check(&jpeg[..jpeg.len() / 2], "");
        check(&jpeg[..jpeg.len() - 2], "truncated JPEG");
        // GIF magic: a real image format, but not one we read.
        check(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "its content is Gif");
        std::fs::write(&target, &jpeg).unwrap();
        assert!(
            load(d).is_err(),
            "a 64x64 image among 1x1 ones must be refused"
        );
        let data = load_resized(d, (1, 1)).unwrap();
        assert_eq!(data.dataset.test.n, 2);
    }

    #[test]
    fn data_over_the_memory_bound_is_refused_before_it_is_all_decoded() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        png(&d.join("train/a/0.png"), 2, 2, Ct::L8, &[1; 4]);
        png(&d.join("train/b/0.png"), 2, 2, Ct::L8, &[2; 4]);
        png(&d.join("test/a/0.png"), 2, 2, Ct::L8, &[3; 4]);
        png(&d.join("test/b/0.png"), 2, 2, Ct::L8, &[4; 4]);
        let with = |max: u64| UserDataOptions {
            resize: None,
            max_bytes: Some(max),
        };
        assert!(load_image_folder(d, &with(16), &none).is_ok());
        let msg = load_image_folder(d, &with(15), &none)
            .unwrap_err()
            .to_string();
        contains_all(
            &msg,
            &[
                &d.display().to_string(),
                "4 images of 1x2x2 u8 pixels take 16 bytes, more than the 15 bytes allowed",
                "--image-size",
            ],
        );
        // A colour image met later triples the estimate.
        png(&d.join("test/b/0.png"), 2, 2, Ct::Rgb8, &[4; 12]);
        let msg = load_image_folder(d, &with(16), &none)
            .unwrap_err()
            .to_string();
        contains_all(&msg, &["4 images of 3x2x2 u8 pixels take 48 bytes"]);
        // The bound counts the resized size.
        let opts = UserDataOptions {
            resize: Some((1, 1)),
            max_bytes: Some(12),
        };
        assert_eq!(
            load_image_folder(d, &opts, &none)
                .unwrap()
                .dataset
                .train
                .pixels_per_image,
            3
        );
        let err = load_resized(d, (100_000, 100_000)).unwrap_err().to_string();
        contains_all(
            &err,
            &[
                "the image size 100000x100000 is larger than the 512 MiB",
                "--image-size",
            ],
        );
    }

    #[test]
    fn user_data_detection_refuses_other_layouts() {
        let tmp = tempfile::tempdir().unwrap();
        let err = load_user_data(tmp.path(), &UserDataOptions::default(), &none).unwrap_err();
        contains_all(
            &err.to_string(),
            &[
                "neither an image folder",
                "x_train.npy",
                "train/<class>/*.png",
            ],
        );
        let file = tmp.path().join("data.csv");
        std::fs::write(&file, "1,2").unwrap();
        let err = load_user_data(&file, &UserDataOptions::default(), &none).unwrap_err();
        contains_all(&err.to_string(), &["a file, not a folder or an .npz file"]);
        let err = load_user_data(
            &tmp.path().join("absent"),
            &UserDataOptions::default(),
            &none,
        )
        .unwrap_err();
        contains_all(&err.to_string(), &["absent: cannot read"]);
    }
}
