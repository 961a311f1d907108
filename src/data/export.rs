//! Writers for the user-data formats that [`super::load_user_data`] reads: an ImageFolder of
//! PNG or JPEG files, an `.npz` archive (as `numpy.savez` writes it, stored or deflated), and a
//! folder of `.npy` files (uint8 images, int64 labels). They turn a built-in dataset into user
//! data, so that the same examples can be run both ways, and they write the tests' files.

use std::io::{Cursor, Write};
use std::path::Path;

use super::{chw_to_hwc, one_line, DataError, ImageSet};
use crate::fsutil::write_atomic;

/// How [`write_image_split`] encodes each image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFileFormat {
    /// Lossless PNG (`.png`).
    Png,
    /// JPEG (`.jpg`) at this quality (1..=100); lossy.
    Jpeg {
        /// Encoder quality, 1..=100.
        quality: u8,
    },
}

/// Where the channel axis of an exported image array goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayLayout {
    /// N×H×W (one-channel images only).
    Nhw,
    /// N×H×W×C.
    Nhwc,
    /// N×C×H×W.
    Nchw,
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::UserIo {
        path: path.to_path_buf(),
        source,
    }
}

fn layout_err(path: &Path, detail: String) -> DataError {
    DataError::UserLayout {
        path: path.to_path_buf(),
        detail,
        fix: "write one-channel images as N×H×W, and give every label a class name".into(),
    }
}

/// Writes every image of `set` to `dir/split/<class name>/<index>.png|jpg`, the class name being
/// `class_names[label]` and the index the image's position in `set`, zero-padded so that the
/// files of a class sort in the set's order.
pub fn write_image_split(
    dir: &Path,
    split: &str,
    set: &ImageSet,
    class_names: &[String],
    format: ImageFileFormat,
) -> Result<(), DataError> {
    let channels = set.channels();
    let width = set.n.max(1).to_string().len();
    let (w, h) = (set.cols as u32, set.rows as u32);
    let color = if channels == 1 {
        image::ExtendedColorType::L8
    } else {
        image::ExtendedColorType::Rgb8
    };
    for i in 0..set.n {
        let label = set.labels[i] as usize;
        let class = class_names.get(label).ok_or_else(|| {
            layout_err(dir, format!("label {label} of image {i} has no class name"))
        })?;
        let class_dir = dir.join(split).join(class);
        std::fs::create_dir_all(&class_dir).map_err(write_err(&class_dir))?;
        let pixels = chw_to_hwc(set.image(i), channels);
        let mut bytes = Cursor::new(Vec::new());
        let (ext, encoded) = match format {
            ImageFileFormat::Png => (
                "png",
                image::write_buffer_with_format(
                    &mut bytes,
                    &pixels,
                    w,
                    h,
                    color,
                    image::ImageFormat::Png,
                ),
            ),
            ImageFileFormat::Jpeg { quality } => (
                "jpg",
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
                    .encode(&pixels, w, h, color),
            ),
        };
        let path = class_dir.join(format!("{i:0width$}.{ext}"));
        encoded.map_err(|e| layout_err(&path, format!("cannot encode: {}", one_line(e))))?;
        write_unsynced(&path, bytes.get_ref()).map_err(write_err(&path))?;
    }
    Ok(())
}

/// Writes `path` through a temporary name and a rename, like [`write_atomic`] but without its
/// sync (one per image would make exporting 60,000 images take minutes): a crash in the
/// middle leaves an export to redo anyway, and no half-written file under a real name.
fn write_unsynced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Hidden, so that a reader of the folder ignores one left behind.
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// The bytes of a `.npy` file (format 1.0) holding `data`, an array of numpy type `descr`
/// (e.g. `"|u1"`, `"<f4"`, `"<i8"`) and `shape`, in Fortran order if `fortran`; the header
/// is padded as numpy pads it (to a multiple of 64 bytes, ending in a newline).
pub fn npy_bytes(descr: &str, shape: &[usize], fortran: bool, data: &[u8]) -> Vec<u8> {
    let dims = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let fortran = if fortran { "True" } else { "False" };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {dims}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The `.npy` files of `set`'s images (uint8, in `layout`) and labels (int64).
fn split_arrays(
    set: &ImageSet,
    layout: ArrayLayout,
    path: &Path,
) -> Result<[Vec<u8>; 2], DataError> {
    let c = set.channels();
    let (n, h, w) = (set.n, set.rows, set.cols);
    let (shape, data) = match layout {
        ArrayLayout::Nhw if c != 1 => {
            return Err(layout_err(
                path,
                format!("{c}-channel images cannot be stored as N×H×W"),
            ))
        }
        ArrayLayout::Nhw => (vec![n, h, w], set.images.clone()),
        ArrayLayout::Nchw => (vec![n, c, h, w], set.images.clone()),
        ArrayLayout::Nhwc => (
            vec![n, h, w, c],
            (0..n).flat_map(|i| chw_to_hwc(set.image(i), c)).collect(),
        ),
    };
    let labels: Vec<u8> = set
        .labels
        .iter()
        .flat_map(|&l| i64::from(l).to_le_bytes())
        .collect();
    Ok([
        npy_bytes("|u1", &shape, false, &data),
        npy_bytes("<i8", &[n], false, &labels),
    ])
}

/// Writes `splits` (named "train", "test", "val") as `x_<name>` and `y_<name>` arrays into one
/// `.npz` archive at `path`, deflated if `compressed` (`numpy.savez_compressed`), else stored
/// (`numpy.savez`).
pub fn write_npz(
    path: &Path,
    splits: &[(&str, &ImageSet)],
    layout: ArrayLayout,
    compressed: bool,
) -> Result<(), DataError> {
    let bytes = npz_bytes(path, splits, layout, compressed)?;
    write_atomic(path, &bytes).map_err(write_err(path))
}

/// The bytes [`write_npz`] writes (`path` only names the archive in errors).
pub fn npz_bytes(
    path: &Path,
    splits: &[(&str, &ImageSet)],
    layout: ArrayLayout,
    compressed: bool,
) -> Result<Vec<u8>, DataError> {
    let zip_err = |e: zip::result::ZipError| {
        layout_err(path, format!("cannot write the archive: {}", one_line(e)))
    };
    let method = if compressed {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(method)
        .large_file(true);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, set) in splits {
        let [x, y] = split_arrays(set, layout, path)?;
        for (prefix, bytes) in [("x", x), ("y", y)] {
            zip.start_file(format!("{prefix}_{name}.npy"), options)
                .map_err(zip_err)?;
            zip.write_all(&bytes).map_err(write_err(path))?;
        }
    }
    Ok(zip.finish().map_err(zip_err)?.into_inner())
}

/// Writes `splits` (named "train", "test", "val") as `x_<name>.npy` and `y_<name>.npy` into
/// the folder `dir`, which is made if needed.
pub fn write_npy_folder(
    dir: &Path,
    splits: &[(&str, &ImageSet)],
    layout: ArrayLayout,
) -> Result<(), DataError> {
    std::fs::create_dir_all(dir).map_err(write_err(dir))?;
    for (name, set) in splits {
        let [x, y] = split_arrays(set, layout, dir)?;
        for (prefix, bytes) in [("x", x), ("y", y)] {
            let path = dir.join(format!("{prefix}_{name}.npy"));
            write_atomic(&path, &bytes).map_err(write_err(&path))?;
        }
    }
    Ok(())
}
