//! Readers for the CIFAR-10 and CIFAR-100 binary formats (Krizhevsky 2009): fixed-length records
//! of label byte(s) followed by 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major).
//! Any whole number of records is accepted; everything else is a one-line [`DataError`].

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, ImageSet};

/// Pixel bytes per CIFAR image: 3 channels of 32 x 32.
pub const PIXELS: usize = 3 * 32 * 32;
/// The largest CIFAR file we read (the official ones are about 180 MB).
const LIMIT: u64 = 1 << 30;

/// Which of the two binary formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarKind {
    /// One label byte (0..10) per record.
    Cifar10,
    /// A coarse label byte (0..20), then a fine one (0..100); we use the fine label.
    Cifar100,
}

impl CifarKind {
    fn label_bytes(self) -> usize {
        match self {
            Self::Cifar10 => 1,
            Self::Cifar100 => 2,
        }
    }

    /// Bytes per record.
    pub fn record(self) -> usize {
        self.label_bytes() + PIXELS
    }

    /// The official unpacked folder's name.
    pub fn folder(self) -> &'static str {
        match self {
            Self::Cifar10 => "cifar-10-batches-bin",
            Self::Cifar100 => "cifar-100-binary",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Cifar10 => "CIFAR-10",
            Self::Cifar100 => "CIFAR-100",
        }
    }

    fn train_files(self) -> Vec<String> {
        match self {
            Self::Cifar10 => (1..=5).map(|k| format!("data_batch_{k}.bin")).collect(),
            Self::Cifar100 => vec!["train.bin".into()],
        }
    }

    fn test_file(self) -> &'static str {
        match self {
            Self::Cifar10 => "test_batch.bin",
            Self::Cifar100 => "test.bin",
        }
    }
}

/// Images and labels of one CIFAR binary file (labels: the CIFAR-10 label or CIFAR-100 fine label).
pub fn parse_cifar(
    path: &Path,
    bytes: &[u8],
    kind: CifarKind,
) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let rec = kind.record();
    if bytes.is_empty() || !bytes.len().is_multiple_of(rec) {
        return Err(DataError::CifarRecords {
            path: path.to_path_buf(),
            kind: kind.name(),
            record: rec,
            actual: bytes.len() as u64,
        });
    }
    let n = bytes.len() / rec;
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = Vec::with_capacity(n);
    for (index, r) in bytes.chunks_exact(rec).enumerate() {
        let checks: &[(u8, u8, &str)] = match kind {
            CifarKind::Cifar10 => &[(r[0], 10, "label")],
            CifarKind::Cifar100 => &[(r[0], 20, "coarse label"), (r[1], 100, "fine label")],
        };
        for &(label, limit, what) in checks {
            if label >= limit {
                return Err(DataError::CifarLabel {
                    path: path.to_path_buf(),
                    kind: kind.name(),
                    what,
                    index,
                    label,
                    limit,
                });
            }
        }
        labels.push(r[kind.label_bytes() - 1]);
        images.extend_from_slice(&r[kind.label_bytes()..]);
    }
    Ok((images, labels))
}

/// The folder holding `kind`'s files: `dir` itself, or the official unpacked folder inside it.
fn locate(dir: &Path, kind: CifarKind) -> Result<PathBuf, DataError> {
    super::check_folder(dir)?;
    let probe = kind.test_file();
    let found = super::find_file(&[dir.join(probe), dir.join(kind.folder()).join(probe)])?;
    match found {
        Some(p) => Ok(p.parent().unwrap_or(dir).to_path_buf()),
        None => Err(DataError::CifarMissing {
            dir: dir.to_path_buf(),
            kind: kind.name(),
            file: probe.to_string(),
            folder: kind.folder(),
        }),
    }
}

fn read(path: &Path, kind: CifarKind) -> Result<(Vec<u8>, Vec<u8>), DataError> {
    let meta = std::fs::metadata(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > LIMIT {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit: LIMIT,
        });
    }
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_cifar(path, &bytes, kind)
}

fn split(dir: &Path, files: &[String], kind: CifarKind, offset: u8) -> Result<ImageSet, DataError> {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for f in files {
        let path = dir.join(f);
        if super::find_file(std::slice::from_ref(&path))?.is_none() {
            return Err(DataError::CifarMissing {
                dir: dir.to_path_buf(),
                kind: kind.name(),
                file: f.clone(),
                folder: kind.folder(),
            });
        }
        let (i, l) = read(&path, kind)?;
        images.extend(i);
        labels.extend(l.into_iter().map(|v| v + offset));
    }
    Ok(ImageSet {
        n: labels.len(),
        images,
        labels,
        pixels_per_image: PIXELS,
        rows: 32,
        cols: 32,
    })
}

/// Loads CIFAR-`kind` from `dir` (files directly in it, or in the official unpacked folder),
/// adding `offset` to every label.
pub fn load_cifar(dir: &Path, kind: CifarKind, offset: u8) -> Result<Dataset, DataError> {
    let d = locate(dir, kind)?;
    Ok(Dataset {
        train: split(&d, &kind.train_files(), kind, offset)?,
        test: split(&d, &[kind.test_file().to_string()], kind, offset)?,
        dir: d,
    })
}

/// The split-CIFAR-10/100 data: CIFAR-10 with labels 0..10, then CIFAR-100 with fine labels
/// shifted to 10..110, in one set.
pub fn load_cifar10_100(dir: &Path) -> Result<Dataset, DataError> {
    let a = load_cifar(dir, CifarKind::Cifar10, 0)?;
    let b = load_cifar(dir, CifarKind::Cifar100, 10)?;
    let join = |x: ImageSet, y: ImageSet| ImageSet {
        n: x.n + y.n,
        images: [x.images, y.images].concat(),
        labels: [x.labels, y.labels].concat(),
        pixels_per_image: PIXELS,
        rows: 32,
        cols: 32,
    };
    Ok(Dataset {
        train: join(a.train, b.train),
        test: join(a.test, b.test),
        dir: dir.to_path_buf(),
    })
}

/// Writers for small CIFAR files in the real format (used by the tests here and in `tests/`).
#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `n` records of `kind` whose labels cycle through `classes` and whose pixels encode them.
    pub(crate) fn records(kind: CifarKind, n: usize, classes: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(n * kind.record());
        for i in 0..n {
            let label = (i % classes as usize) as u8;
            if kind == CifarKind::Cifar100 {
                out.push(label / 5);
            }
            out.push(label);
            out.extend((0..PIXELS).map(|k| ((k * 7 + i + label as usize * 31) % 256) as u8));
        }
        out
    }

    /// Writes a full CIFAR-`kind` folder of small files into `dir`.
    pub(crate) fn write_folder(dir: &Path, kind: CifarKind, per_file: usize) {
        std::fs::create_dir_all(dir).unwrap();
        let classes = match kind {
            CifarKind::Cifar10 => 10,
            CifarKind::Cifar100 => 100,
        };
        for f in kind.train_files() {
            std::fs::write(dir.join(f), records(kind, per_file, classes)).unwrap();
        }
        std::fs::write(dir.join(kind.test_file()), records(kind, per_file, classes)).unwrap();
    }

    #[test]
    fn reads_records_from_the_folder_or_the_official_subfolder() {
        let t = tempfile::tempdir().unwrap();
        write_folder(t.path(), CifarKind::Cifar10, 20);
        let d = load_cifar(t.path(), CifarKind::Cifar10, 0).unwrap();
        assert_eq!((d.train.n, d.test.n), (100, 20));
        assert_eq!(
            (d.train.rows, d.train.cols, d.train.pixels_per_image),
            (32, 32, 3072)
        );
        assert_eq!(&d.train.labels[..12], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
        // Record 3 of the first batch: label 3, then its 3072 pixels in file order.
        let rec = &records(CifarKind::Cifar10, 20, 10)[3 * 3073..4 * 3073];
        assert_eq!(d.train.image(3), &rec[1..]);

        let u = tempfile::tempdir().unwrap();
        write_folder(&u.path().join("cifar-100-binary"), CifarKind::Cifar100, 7);
        let d = load_cifar(u.path(), CifarKind::Cifar100, 10).unwrap();
        assert_eq!((d.train.n, d.test.n), (7, 7));
        // The fine label (second byte) is used, shifted by the offset.
        assert_eq!(&d.test.labels[..3], &[10, 11, 12]);
    }

    #[test]
    fn split_cifar_joins_cifar10_and_shifted_cifar100() {
        let t = tempfile::tempdir().unwrap();
        write_folder(
            &t.path().join("cifar-10-batches-bin"),
            CifarKind::Cifar10,
            10,
        );
        write_folder(t.path(), CifarKind::Cifar100, 120);
        let d = load_cifar10_100(t.path()).unwrap();
        assert_eq!((d.train.n, d.test.n), (50 + 120, 10 + 120));
        assert!(d.train.labels[..50].iter().all(|&l| l < 10));
        assert!(d.train.labels[50..].iter().all(|&l| (10..110).contains(&l)));
        assert_eq!(d.train.labels[50 + 99], 109);
    }

    #[test]
    fn broken_files_are_one_line_errors() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("test_batch.bin");
        let good = records(CifarKind::Cifar10, 3, 10);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                good[..good.len() - 1].to_vec(),
                "not a whole, non-zero number of 3073-byte records",
            ),
            (Vec::new(), "0 bytes"),
            (
                {
                    let mut b = good.clone();
                    b[3073] = 10;
                    b
                },
                "label 10 of record 1 is not below 10",
            ),
        ];
        for (bytes, needle) in cases {
            std::fs::write(&p, &bytes).unwrap();
            let e = read(&p, CifarKind::Cifar10).unwrap_err().to_string();
            assert!(e.contains(needle) && !e.contains('\n'), "{e}");
        }
        let mut b = records(CifarKind::Cifar100, 2, 100);
        b[0] = 20;
        let e = parse_cifar(&p, &b, CifarKind::Cifar100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("coarse label 20"), "{e}");
        // A missing batch names the file and where it was looked for.
        write_folder(t.path(), CifarKind::Cifar10, 2);
        std::fs::remove_file(t.path().join("data_batch_4.bin")).unwrap();
        let e = load_cifar(t.path(), CifarKind::Cifar10, 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data_batch_4.bin") && e.contains("synaptic data fetch"),
            "{e}"
        );
        let e = load_cifar(&t.path().join("nowhere"), CifarKind::Cifar100, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cifar-100-binary"), "{e}");
    }

    #[test]
    fn random_corruption_never_panics() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let p = Path::new("fuzz.bin");
        for kind in [CifarKind::Cifar10, CifarKind::Cifar100] {
            let good = records(kind, 4, 10);
            for _ in 0..300 {
                let mut b = good.clone();
                match rng.gen_range(0..3) {
                    0 => b.truncate(rng.gen_range(0..b.len())),
                    1 => {
                        let i = rng.gen_range(0..b.len());
                        b[i] = rng.gen();
                    }
                    _ => b.extend((0..rng.gen_range(1..100)).map(|_| rng.gen::<u8>())),
                }
                let _ = parse_cifar(p, &b, kind);
            }
        }
    }
}
