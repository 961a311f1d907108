//! A user's own dataset in a run: what identifies it in the run's config ([`UserDataset`]: path,
//! format, class names, image shape, example counts), the `image_size` setting ([`ImageSize`]),
//! and reading it for a run ([`load`], [`load_for`]), checked against that record when a run
//! resumes or a grid cell starts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::data::{load_user_data, DataError, Dataset, UserData, UserDataOptions, UserFormat};
use crate::scenario::DataShape;

/// Largest side `image_size` accepts.
pub const MAX_SIDE: u32 = 4096;

/// A user's dataset as a run's config records it: enough to size the networks and the memory
/// estimate before the data is read again, and to recognise the same data later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDataset {
    /// The image folder, `.npz` file or `.npy` folder read (absolute).
    pub path: PathBuf,
    /// How it was read: `image-folder`, `npz` or `npy-folder`.
    pub format: String,
    /// Class `k`'s name (label `k`): the class folders' names in sorted order, or for arrays
    /// the label values.
    pub classes: Vec<String>,
    /// Channels per image (1 grey, 3 colour), stored channel-major.
    pub channels: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Training examples.
    pub train: usize,
    /// Test examples.
    pub test: usize,
}

impl UserDataset {
    /// The record of `data`, read from `path`.
    pub fn of(data: &UserData, path: &Path) -> Self {
        let set = &data.dataset.train;
        UserDataset {
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            format: format_name(data.format).into(),
            classes: data.class_names.clone(),
            channels: data.channels,
            rows: set.rows,
            cols: set.cols,
            train: data.dataset.train.len(),
            test: data.dataset.test.len(),
        }
    }

    /// The shape networks and estimates are sized from.
    pub fn shape(&self) -> DataShape {
        DataShape {
            channels: self.channels,
            rows: self.rows,
            cols: self.cols,
            labels: self.classes.len(),
            train: self.train,
            test: self.test,
        }
    }

    /// The first way `now` (the same path read again) differs from this record, the path
    /// aside (a moved copy is the same data).
    pub fn difference(&self, now: &UserDataset) -> Option<String> {
        let pair = |what: &str, a: String, b: String| {
            (a != b).then(|| format!("{what}: {a} then, {b} now"))
        };
        let shape = |u: &UserDataset| format!("{}x{}x{}", u.channels, u.rows, u.cols);
        pair("format", self.format.clone(), now.format.clone())
            .or_else(|| pair("classes", self.classes.join(","), now.classes.join(",")))
            .or_else(|| pair("images (channels x rows x cols)", shape(self), shape(now)))
            .or_else(|| {
                pair(
                    "training examples",
                    self.train.to_string(),
                    now.train.to_string(),
                )
            })
            .or_else(|| pair("test examples", self.test.to_string(), now.test.to_string()))
    }
}

/// A format as records name it.
fn format_name(f: UserFormat) -> &'static str {
    match f {
        UserFormat::ImageFolder => "image-folder",
        UserFormat::Npz => "npz",
        UserFormat::NpyFolder => "npy-folder",
    }
}

/// Whether `path` looks like a user's dataset (an image folder with `train/`, a folder with
/// `x_train.npy`, or an `.npz` file) rather than a folder of IDX or CIFAR files.
pub fn looks_like_user_data(path: &Path) -> bool {
    let npz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    (path.is_file() && npz) || path.join("train").is_dir() || path.join("x_train.npy").is_file()
}

/// The size every user image is resized to: `WxH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

impl std::str::FromStr for ImageSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!("'{s}' is not an image size: write WIDTHxHEIGHT with sides from 1 to {MAX_SIDE}, e.g. 32x32")
        };
        let (w, h) = s.trim().split_once(['x', 'X']).ok_or_else(bad)?;
        let side = |v: &str| {
            v.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_SIDE).contains(n))
        };
        match (side(w), side(h)) {
            (Some(width), Some(height)) => Ok(ImageSize { width, height }),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for ImageSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.width, self.height)
    }
}

/// Stored as the `WxH` text the flag takes.
impl Serialize for ImageSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ImageSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Reads a user's dataset at `path` (every image resized to `size` if given; refused before
/// its pixels are allocated if they would take more than `max_bytes`), decoding on a pool of
/// `threads` threads of its own (0: one per core), so that rayon's global pool is still free to
/// be sized for the training that follows; `progress` hears `(decoded, total)`.
pub fn load(
    path: &Path,
    size: Option<ImageSize>,
    max_bytes: Option<u64>,
    threads: usize,
    progress: crate::data::Progress<'_>,
) -> Result<UserData, DataError> {
    let opts = UserDataOptions {
        resize: size.map(|s| (s.width, s.height)),
        max_bytes,
    };
    match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(|| load_user_data(path, &opts, progress)),
        Err(_) => load_user_data(path, &opts, progress),
    }
}

/// The user's data a config records is not what is at its path now.
#[derive(Debug, thiserror::Error)]
pub enum UserDataError {
    /// It cannot be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// It differs from the record.
    #[error("{}: not the data this run was configured with ({what}); put that data back, or start a new run", .path.display())]
    Changed {
        /// Where it was read.
        path: PathBuf,
        /// The first difference.
        what: String,
    },
    /// The config is not of a user's data.
    #[error("benchmark {0} reads no user data")]
    NotUser(&'static str),
}

/// Reads the user's data `cfg` was configured with from `dir` (at most `max_bytes` of pixels)
/// and checks that it is the same data (format, classes, image shape, example counts).
pub fn load_for(
    cfg: &RunConfig,
    dir: &Path,
    max_bytes: Option<u64>,
    progress: crate::data::Progress<'_>,
) -> Result<Dataset, UserDataError> {
    let Some(record) = &cfg.user_data else {
        return Err(UserDataError::NotUser(cfg.benchmark.name()));
    };
    let data = load(dir, cfg.image_size, max_bytes, cfg.threads, progress)?;
    if let Some(what) = record.difference(&UserDataset::of(&data, dir)) {
        return Err(UserDataError::Changed {
            path: dir.to_path_buf(),
            what,
        });
    }
    Ok(data.dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_sizes_parse_as_width_by_height_and_store_as_text() {
        assert_eq!(
            "32x16".parse::<ImageSize>().unwrap(),
            ImageSize {
                width: 32,
                height: 16
            }
        );
        assert_eq!("7X9".parse::<ImageSize>().unwrap().to_string(), "7x9");
        for bad in ["32", "0x5", "x", "5x", "4097x1", "-1x3"] {
            let e = bad.parse::<ImageSize>().unwrap_err();
            assert!(e.contains("is not an image size"), "{bad}: {e}");
        }
        let s = ImageSize {
            width: 28,
            height: 20,
        };
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"28x20\"");
        assert_eq!(serde_json::from_str::<ImageSize>(&json).unwrap(), s);
    }

    #[test]
    fn records_name_the_first_difference() {
        let a = UserDataset {
            path: "/d".into(),
            format: "npz".into(),
            classes: vec!["cat".into(), "dog".into()],
            channels: 3,
            rows: 8,
            cols: 8,
            train: 10,
            test: 4,
        };
        let moved = UserDataset {
            path: "/elsewhere".into(),
            ..a.clone()
        };
        assert_eq!(a.difference(&moved), None);
        let renamed = UserDataset {
            classes: vec!["cat".into(), "fox".into()],
            train: 11,
            ..a.clone()
        };
        assert_eq!(
            a.difference(&renamed).unwrap(),
            "classes: cat,dog then, cat,fox now"
        );
        let grey = UserDataset {
            channels: 1,
            ..a.clone()
        };
        assert_eq!(
            a.difference(&grey).unwrap(),
            "images (channels x rows x cols): 3x8x8 then, 1x8x8 now"
        );
        assert_eq!(
            a.shape(),
            DataShape {
                channels: 3,
                rows: 8,
                cols: 8,
                labels: 2,
                train: 10,
                test: 4
            }
        );
    }
}
