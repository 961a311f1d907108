//! Structure-aware property fuzzing of the untrusted-input parsers: the IDX reader
//! (`idx::decompress`, `parse_images`, `parse_labels`, `load_idx_dataset`), the CIFAR reader
//! (`cifar::parse_cifar`), the config parser (`parse_settings`, `read_config_file`,
//! `RunConfig::resolve`, `preset::parse`, `RunConfig::from_stored`) and the checkpoint manifest
//! (`checkpoint::read_manifest`); plus gzip bombs (a `.gz` inflating past its IDX header).
//!
//! Every property checks: no panic; on `Ok` the result is consistent (sizes match the header,
//! labels are in range, a resolved config passes `validate()` and survives a JSON round trip and
//! `--resume`'s reading with the same digest, a manifest names plain files); on `Err` the message
//! is one line.
//!
//! The default `cargo test` run uses 2,000 cases per property (a few seconds in release mode).
//! The full fuzzing run, 100,000 cases per property:
//!
//! ```text
//! FUZZ_CASES=100000 cargo test --release --test fuzz -- --test-threads 1 --nocapture
//! ```

use std::io::Write;
use std::path::Path;

use flate2::{write::GzEncoder, Compression};
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use synaptic::config::{parse_settings, preset, read_config_file, RunConfig, Settings};
use synaptic::data::cifar::{parse_cifar, CifarKind, PIXELS};
use synaptic::data::idx::{
    decompress, parse_images, parse_labels, IdxImages, IMAGES_MAGIC, LABELS_MAGIC,
};
use synaptic::data::{load_idx_dataset, DataError};
use synaptic::method::Registry;
use synaptic::scenario::Benchmark;

/// Cases per property: `$FUZZ_CASES`, else 2,000.
fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        // No regression files in the source tree; a failure prints its minimal input.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn one_line(msg: &str) -> Result<(), TestCaseError> {
    prop_assert!(!msg.contains('\n'), "multi-line error: {msg:?}");
    prop_assert!(!msg.is_empty(), "empty error message");
    Ok(())
}

// ---------------------------------------------------------------- IDX

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A header dimension: mostly small, sometimes zero or extreme.
fn dim() -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => 1u32..6,
        1 => Just(0u32),
        1 => prop_oneof![
            Just(u32::MAX),
            Just(1u32 << 16),
            Just(1u32 << 31),
            Just(65_537u32),
            any::<u32>()
        ],
    ]
}

fn magic(expected: u32) -> impl Strategy<Value = u32> {
    prop_oneof![
        8 => Just(expected),
        1 => prop_oneof![Just(IMAGES_MAGIC), Just(LABELS_MAGIC), Just(0x0d03u32), Just(0x1f8b_0808u32)],
        1 => any::<u32>(),
    ]
}

/// How the well-formed file is damaged (or not) before it is handed to the reader.
#[derive(Debug, Clone)]
enum Damage {
    None,
    /// Payload length off by this many bytes (truncation or trailing bytes).
    Resize(i8),
    /// Cut the whole file (header included) to this fraction of its length.
    Cut(u16),
    /// Overwrite bytes at these (relative) positions.
    Flip(Vec<(u16, u8)>),
    /// Append random bytes.
    Trail(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => Just(Damage::None),
        2 => (-4i8..=4).prop_map(Damage::Resize),
        2 => any::<u16>().prop_map(Damage::Cut),
        2 => prop::collection::vec((any::<u16>(), any::<u8>()), 1..5).prop_map(Damage::Flip),
        1 => prop::collection::vec(any::<u8>(), 1..20).prop_map(Damage::Trail),
    ]
}

/// How the (possibly damaged) IDX bytes are stored: raw, gzip, gzip with its own damage,
/// or two concatenated gzip members.
#[derive(Debug, Clone)]
enum Wrap {
    Raw,
    Gzip,
    GzipDamaged(Damage),
    GzipTwoMembers(u16),
    GzipThenGarbage(Vec<u8>),
}

fn wrap() -> impl Strategy<Value = Wrap> {
    prop_oneof![
        4 => Just(Wrap::Raw),
        3 => Just(Wrap::Gzip),
        2 => damage().prop_map(Wrap::GzipDamaged),
        1 => any::<u16>().prop_map(Wrap::GzipTwoMembers),
        1 => prop::collection::vec(any::<u8>(), 1..12).prop_map(Wrap::GzipThenGarbage),
    ]
}

fn apply(mut b: Vec<u8>, d: &Damage, header_len: usize) -> Vec<u8> {
    match d {
        Damage::None => {}
        Damage::Resize(k) => {
            if *k < 0 {
                let cut = b.len().saturating_sub(k.unsigned_abs() as usize);
                b.truncate(cut.max(header_len.min(b.len())));
            } else {
                b.extend((0..*k as u8).map(|i| i.wrapping_mul(31)));
            }
        }
        Damage::Cut(f) => {
            let len = b.len() * *f as usize / 65_536;
            b.truncate(len);
        }
        Damage::Flip(edits) => {
            if !b.is_empty() {
                for &(at, v) in edits {
                    let i = at as usize % b.len();
                    b[i] = v;
                }
            }
        }
        Damage::Trail(t) => b.extend_from_slice(t),
    }
    b
}

fn wrap_bytes(b: Vec<u8>, w: &Wrap) -> Vec<u8> {
    match w {
        Wrap::Raw => b,
        Wrap::Gzip => gz(&b),
        Wrap::GzipDamaged(d) => apply(gz(&b), d, 0),
        Wrap::GzipTwoMembers(split) => {
            let at = if b.is_empty() {
                0
            } else {
                *split as usize % b.len()
            };
            let mut z = gz(&b[..at]);
            z.extend(gz(&b[at..]));
            z
        }
        Wrap::GzipThenGarbage(g) => {
            let mut z = gz(&b);
            z.extend_from_slice(g);
            z
        }
    }
}

fn idx_bytes(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend_from_slice(payload);
    v
}

/// The payload a header describes when that is small, else a short arbitrary one.
fn payload_len(dims: &[u32], fallback: usize) -> usize {
    dims.iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .filter(|&t| t <= 4096)
        .map_or(fallback, |t| t as usize)
}

#[derive(Debug, Clone)]
struct IdxCase {
    magic: u32,
    dims: Vec<u32>,
    seed: u8,
    /// Payload bytes are taken modulo this when non-zero (so that labels are mostly in range).
    modulus: u8,
    fallback: usize,
    damage: Damage,
    wrap: Wrap,
}

impl IdxCase {
    fn clean(&self) -> bool {
        matches!(self.damage, Damage::None)
            && matches!(self.wrap, Wrap::Raw | Wrap::Gzip | Wrap::GzipTwoMembers(_))
    }

    fn payload(&self) -> Vec<u8> {
        let len = payload_len(&self.dims, self.fallback);
        (0..len)
            .map(|i| (i as u8).wrapping_mul(self.seed).wrapping_add(self.seed))
            .map(|b| b.checked_rem(self.modulus).unwrap_or(b))
            .collect()
    }

    fn bytes(&self) -> Vec<u8> {
        let raw = idx_bytes(self.magic, &self.dims, &self.payload());
        let raw = apply(raw, &self.damage, 4 + 4 * self.dims.len());
        wrap_bytes(raw, &self.wrap)
    }
}

fn idx_case(expected_magic: u32, ndim: usize) -> impl Strategy<Value = IdxCase> {
    (
        magic(expected_magic),
        prop::collection::vec(dim(), ndim),
        any::<u8>(),
        prop_oneof![Just(0u8), 1u8..=10],
        0usize..40,
        damage(),
        wrap(),
    )
        .prop_map(
            |(magic, dims, seed, modulus, fallback, damage, wrap)| IdxCase {
                magic,
                dims,
                seed,
                modulus,
                fallback,
                damage,
                wrap,
            },
        )
}

fn check_images(case: &IdxCase) -> Result<(), TestCaseError> {
    let p = Path::new("fuzz-images");
    match decompress(p, case.bytes()).and_then(|b| parse_images(p, b)) {
        Ok(IdxImages {
            n,
            rows,
            cols,
            pixels,
        }) => {
            prop_assert!(n > 0 && rows > 0 && cols > 0);
            prop_assert_eq!(pixels.len(), n * rows * cols);
            if case.clean() {
                prop_assert_eq!(pixels, case.payload());
            }
        }
        Err(e) => {
            one_line(&e.to_string())?;
            let valid = case.magic == IMAGES_MAGIC
                && case.dims.iter().all(|&d| d > 0)
                && payload_len(&case.dims, usize::MAX) != usize::MAX;
            prop_assert!(!(case.clean() && valid), "valid file rejected: {e}");
        }
    }
    Ok(())
}

fn check_labels(case: &IdxCase, num_classes: u8) -> Result<(), TestCaseError> {
    let p = Path::new("fuzz-labels");
    match decompress(p, case.bytes()).and_then(|b| parse_labels(p, b, num_classes)) {
        Ok(labels) => {
            prop_assert!(!labels.is_empty());
            prop_assert!(labels.iter().all(|&l| l < num_classes));
            if case.clean() {
                prop_assert_eq!(labels, case.payload());
            }
        }
        Err(e) => one_line(&e.to_string())?,
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn idx_images_never_panic_and_are_consistent(case in idx_case(IMAGES_MAGIC, 3)) {
        check_images(&case)?;
    }

    #[test]
    fn idx_labels_never_panic_and_stay_in_range(
        case in idx_case(LABELS_MAGIC, 1),
        num_classes in prop_oneof![Just(10u8), Just(0u8), Just(1u8), any::<u8>()],
    ) {
        check_labels(&case, num_classes)?;
    }

    #[test]
    fn idx_random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
        gzip_magic in any::<bool>(),
        num_classes in any::<u8>(),
    ) {
        let mut b = bytes;
        if gzip_magic {
            b.splice(0..0, [0x1f, 0x8b]);
        }
        let p = Path::new("fuzz-raw");
        match decompress(p, b.clone()) {
            Ok(d) => {
                if let Err(e) = parse_images(p, d.clone()) {
                    one_line(&e.to_string())?;
                }
                match parse_labels(p, d, num_classes) {
                    Ok(l) => prop_assert!(l.iter().all(|&x| x < num_classes)),
                    Err(e) => one_line(&e.to_string())?,
                }
            }
            Err(e) => one_line(&e.to_string())?,
        }
    }
}

// ------------------------------------------------------------ gzip bomb

/// `header` (a u8 IDX header) followed by `zeros` zero bytes, gzipped, with the CRC in the
/// gzip trailer broken: a reader that inflates to the end of the stream meets a corrupt-gzip
/// error, one that stops at the size the header declares never sees it.
fn bomb(header: &[u8], zeros: usize) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(header).unwrap();
    let block = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len());
        e.write_all(&block[..n]).unwrap();
        left -= n;
    }
    let mut z = e.finish().unwrap();
    let crc = z.len() - 8;
    z[crc] ^= 0xff;
    z
}

/// The issue's case at a smaller scale: a header that says 60,000 MNIST images (47 MB) on a
/// stream that inflates to 64 MiB. It is refused by name, having stopped at 47 MB + 1 byte.
#[test]
fn a_gzip_bomb_is_refused_at_the_size_its_header_declares() {
    let declared = 16 + 60_000 * 28 * 28;
    let z = bomb(&idx_bytes(IMAGES_MAGIC, &[60_000, 28, 28], &[]), 64 << 20);
    assert!(z.len() < 1 << 20, "the bomb is {} bytes", z.len());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("train-images-idx3-ubyte.gz");
    let err = decompress(&p, z).unwrap_err();
    assert!(
        matches!(&err, DataError::InflatesPastHeader { declared: d, .. } if *d == declared as u64),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&p.display().to_string()), "{msg}");
    assert!(
        msg.contains(&format!("the {declared} bytes its IDX header declares")),
        "{msg}"
    );
    assert_eq!(msg.lines().count(), 1, "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases().min(200), ..config() })]

    /// Any u8 IDX header with any excess behind it: refused past the declared size, without
    /// inflating on to the end.
    #[test]
    fn gzip_inflating_past_its_header_stops_there(
        labels in any::<bool>(),
        dims in prop::collection::vec(1u32..64, 3),
        excess in 1usize..(1 << 16),
    ) {
        let (magic, dims) = if labels {
            (LABELS_MAGIC, &dims[..1])
        } else {
            (IMAGES_MAGIC, &dims[..])
        };
        let header = idx_bytes(magic, dims, &[]);
        let payload: usize = dims.iter().map(|&d| d as usize).product();
        let declared = header.len() + payload;
        let err = decompress(Path::new("bomb.gz"), bomb(&header, payload + excess)).unwrap_err();
        prop_assert!(
            matches!(&err, DataError::InflatesPastHeader { declared: d, .. } if *d == declared as u64),
            "{:?}", err
        );
        one_line(&err.to_string())?;
    }
}

// ------------------------------------------------------- IDX dataset folder

/// One of the four files of an MNIST folder, as stored.
#[derive(Debug, Clone)]
struct StoredFile {
    gzip: bool,
    /// Both `name` and `name.gz` present (the loader prefers `.gz`).
    both: bool,
    damage: Damage,
}

fn stored_file() -> impl Strategy<Value = StoredFile> {
    (
        any::<bool>(),
        prop::bool::weighted(0.03),
        prop_oneof![12 => Just(Damage::None), 1 => damage()],
    )
        .prop_map(|(gzip, both, damage)| StoredFile { gzip, both, damage })
}

#[derive(Debug, Clone)]
struct Folder {
    n_train: u32,
    n_test: u32,
    rows: u32,
    cols: u32,
    test_rows: u32,
    label_bytes: Vec<u8>,
    num_classes: u8,
    files: Vec<StoredFile>,
    /// 0: no checksum lists, 1: correct ones, 2: a wrong hash, 3: a malformed list.
    sums: u8,
    garbage_sums: String,
}

fn folder() -> impl Strategy<Value = Folder> {
    (
        (0u32..5, 0u32..5, 0u32..4, 0u32..4).prop_map(|(a, b, c, d)| {
            // Mostly non-zero dims: zero is one error among many.
            let nz = |x: u32| if x == 0 && a % 2 == 0 { 1 } else { x };
            (nz(a), nz(b), nz(c), nz(d))
        }),
        prop_oneof![8 => Just(None), 1 => (0u32..4).prop_map(Some)],
        prop::collection::vec(prop_oneof![20 => 0u8..10, 1 => any::<u8>()], 8),
        prop_oneof![3 => Just(10u8), 1 => any::<u8>()],
        prop::collection::vec(stored_file(), 4),
        prop_oneof![3 => Just(0u8), 2 => Just(1u8), 1 => 2u8..4],
        "[ -~\n]{0,80}",
    )
        .prop_map(
            |(
                (n_train, n_test, rows, cols),
                test_rows,
                label_bytes,
                num_classes,
                files,
                sums,
                garbage_sums,
            )| Folder {
                n_train,
                n_test,
                rows,
                cols,
                test_rows: test_rows.unwrap_or(rows),
                label_bytes,
                num_classes,
                files,
                sums,
                garbage_sums,
            },
        )
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn check_folder(f: &Folder, dir: &Path) -> Result<(), TestCaseError> {
    let labels = |n: u32| -> Vec<u8> { (0..n as usize).map(|i| f.label_bytes[i % 8]).collect() };
    let contents: [(&str, Vec<u8>); 4] = [
        (
            "train-images-idx3-ubyte",
            idx_bytes(
                IMAGES_MAGIC,
                &[f.n_train, f.rows, f.cols],
                &vec![7; (f.n_train * f.rows * f.cols) as usize],
            ),
        ),
        (
            "train-labels-idx1-ubyte",
            idx_bytes(LABELS_MAGIC, &[f.n_train], &labels(f.n_train)),
        ),
        (
            "t10k-images-idx3-ubyte",
            idx_bytes(
                IMAGES_MAGIC,
                &[f.n_test, f.test_rows, f.cols],
                &vec![9; (f.n_test * f.test_rows * f.cols) as usize],
            ),
        ),
        (
            "t10k-labels-idx1-ubyte",
            idx_bytes(LABELS_MAGIC, &[f.n_test], &labels(f.n_test)),
        ),
    ];
    let mut stored_sums = String::new();
    let mut plain_sums = String::new();
    for ((name, bytes), sf) in contents.iter().zip(&f.files) {
        let bytes = apply(bytes.clone(), &sf.damage, 0);
        let (file, stored) = if sf.gzip {
            (format!("{name}.gz"), gz(&bytes))
        } else {
            (name.to_string(), bytes.clone())
        };
        std::fs::write(dir.join(&file), &stored).unwrap();
        if sf.both {
            std::fs::write(dir.join(format!("{name}.gz")), gz(&[0x00])).unwrap();
        }
        stored_sums += &format!("{}  {file}\n", sha256_hex(&stored));
        plain_sums += &format!("{} *./{name}\n", sha256_hex(&bytes));
    }
    match f.sums {
        1 => {
            std::fs::write(dir.join("SHA256SUMS"), &stored_sums).unwrap();
            std::fs::write(dir.join("SHA256SUMS.uncompressed"), &plain_sums).unwrap();
        }
        2 => {
            let wrong = plain_sums.replacen(|c: char| c.is_ascii_hexdigit(), "0", 1);
            std::fs::write(dir.join("SHA256SUMS.uncompressed"), wrong).unwrap();
        }
        3 => std::fs::write(dir.join("SHA256SUMS"), &f.garbage_sums).unwrap(),
        _ => {}
    }
    match load_idx_dataset(dir, f.num_classes) {
        Ok(d) => {
            for set in [&d.train, &d.test] {
                prop_assert!(set.n > 0);
                prop_assert_eq!(set.labels.len(), set.n);
                prop_assert_eq!(set.pixels_per_image, set.rows * set.cols);
                prop_assert_eq!(set.images.len(), set.n * set.rows * set.cols);
                prop_assert!(set.labels.iter().all(|&l| l < f.num_classes));
                prop_assert_eq!(set.image(set.n - 1).len(), set.pixels_per_image);
            }
            prop_assert_eq!((d.train.rows, d.train.cols), (d.test.rows, d.test.cols));
        }
        Err(e) => one_line(&e.to_string())?,
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn idx_dataset_folders_never_panic_and_are_consistent(f in folder()) {
        let dir = tempfile::tempdir().unwrap();
        check_folder(&f, dir.path())?;
    }
}

// ---------------------------------------------------------------- CIFAR

#[derive(Debug, Clone)]
struct CifarCase {
    kind: CifarKind,
    /// Label bytes of each record (coarse, fine for CIFAR-100).
    labels: Vec<(u8, u8)>,
    seed: u8,
    damage: Damage,
}

fn cifar_case() -> impl Strategy<Value = CifarCase> {
    let label = || prop_oneof![4 => 0u8..10, 1 => 0u8..120, 1 => any::<u8>()];
    (
        prop_oneof![Just(CifarKind::Cifar10), Just(CifarKind::Cifar100)],
        prop::collection::vec((label(), label()), 0..4),
        any::<u8>(),
        damage(),
    )
        .prop_map(|(kind, labels, seed, damage)| CifarCase {
            kind,
            labels,
            seed,
            damage,
        })
}

impl CifarCase {
    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(self.labels.len() * self.kind.record());
        for (i, &(coarse, fine)) in self.labels.iter().enumerate() {
            if self.kind == CifarKind::Cifar100 {
                b.push(coarse);
            }
            b.push(fine);
            b.extend((0..PIXELS).map(|k| (k as u8 ^ self.seed).wrapping_add(i as u8)));
        }
        apply(b, &self.damage, 0)
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cifar_never_panics_and_is_consistent(case in cifar_case()) {
        let bytes = case.bytes();
        let limit = if case.kind == CifarKind::Cifar10 { 10 } else { 100 };
        match parse_cifar(Path::new("fuzz.bin"), &bytes, case.kind) {
            Ok((images, labels)) => {
                let n = bytes.len() / case.kind.record();
                prop_assert!(n > 0);
                prop_assert_eq!(bytes.len(), n * case.kind.record());
                prop_assert_eq!(images.len(), n * PIXELS);
                prop_assert_eq!(labels.len(), n);
                prop_assert!(labels.iter().all(|&l| l < limit));
                for (i, rec) in bytes.chunks_exact(case.kind.record()).enumerate() {
                    let off = case.kind.record() - PIXELS;
                    prop_assert_eq!(labels[i], rec[off - 1]);
                    prop_assert_eq!(&images[i * PIXELS..(i + 1) * PIXELS], &rec[off..]);
                    if case.kind == CifarKind::Cifar100 {
                        prop_assert!(rec[0] < 20);
                    }
                }
            }
            Err(e) => {
                one_line(&e.to_string())?;
                let clean = matches!(case.damage, Damage::None) && !case.labels.is_empty()
                    && case.labels.iter().all(|&(c, f)| match case.kind {
                        CifarKind::Cifar10 => f < 10,
                        CifarKind::Cifar100 => c < 20 && f < 100,
                    });
                prop_assert!(!clean, "valid file rejected: {e}");
            }
        }
    }

    #[test]
    fn cifar_random_bytes_never_panic(
        len in prop_oneof![0usize..8, 3070usize..3080, 6140usize..6152],
        fill in any::<u8>(),
        cifar100 in any::<bool>(),
    ) {
        let kind = if cifar100 { CifarKind::Cifar100 } else { CifarKind::Cifar10 };
        let bytes = vec![fill; len];
        match parse_cifar(Path::new("r.bin"), &bytes, kind) {
            Ok((images, labels)) => prop_assert_eq!(images.len(), labels.len() * PIXELS),
            Err(e) => one_line(&e.to_string())?,
        }
    }
}

// ---------------------------------------------------------------- config

/// A TOML value, rendered by hand so that any type can go under any key.
#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Arr(Vec<Val>),
    Table(Vec<(String, Val)>),
    /// Verbatim text (integers beyond i64, dates, broken syntax).
    Raw(String),
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            c if c.is_control() => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out + "\""
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        toml_str(k)
    }
}

impl Val {
    fn render(&self) -> String {
        match self {
            Val::Str(s) => toml_str(s),
            Val::Int(i) => i.to_string(),
            Val::Float(f) if f.is_nan() => "nan".into(),
            Val::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
            Val::Float(f) => {
                let s = format!("{f:?}");
                if s.contains(['.', 'e', 'E']) {
                    s
                } else {
                    s + ".0"
                }
            }
            Val::Bool(b) => b.to_string(),
            Val::Arr(v) => {
                let items: Vec<String> = v.iter().map(Val::render).collect();
                format!("[{}]", items.join(", "))
            }
            Val::Table(kv) => {
                let items: Vec<String> = kv
                    .iter()
                    .map(|(k, v)| format!("{} = {}", toml_key(k), v.render()))
                    .collect();
                format!("{{ {} }}", items.join(", "))
            }
            Val::Raw(s) => s.clone(),
        }
    }
}

fn extreme_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(1e308),
        Just(-1e308),
        Just(f64::MAX),
        Just(5e-324),
        Just(f32::MIN_POSITIVE as f64),
        Just(f32::MIN_POSITIVE as f64 / 2.0),
        Just(f32::MAX as f64 / 4.0),
        Just(f32::MAX as f64),
        Just(1.0),
        Just(-1.0),
        0.0f64..2.0,
        -10.0f64..1e6,
        any::<f64>(),
    ]
}

fn extreme_int() -> impl Strategy<Value = Val> {
    prop_oneof![
        6 => prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(1 << 16),
            Just((1 << 16) + 1),
            Just(1 << 20),
            Just((1 << 20) + 1),
            Just(100_000),
            Just(100_001),
            Just(1_000_001),
            Just(1024),
            Just(1025),
            Just(u32::MAX as i64),
            0i64..12,
            any::<i64>(),
        ].prop_map(Val::Int),
        1 => prop_oneof![
            Just("18446744073709551615".to_string()),
            Just("18446744073709551616".to_string()),
            Just("99999999999999999999999999".to_string()),
            Just("0x7fffffffffffffff".to_string()),
            Just("-0".to_string()),
            Just("+7".to_string()),
            Just("1_000".to_string()),
            Just("0o777".to_string()),
            Just("0b101".to_string()),
        ].prop_map(Val::Raw),
    ]
}

fn some_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "si", "ewc", "online-ewc", "mas", "l2", "finetune", "joint", "scratch",
            "split-mnist", "permuted-mnist", "split-fashion-mnist", "permuted-fashion-mnist",
            "split-cifar10", "split-cifar", "task", "domain", "class", "total", "relu", "none",
            "exact", "sampled", "empirical", "test", "train", "validation", "default", "zero",
            "cpu", "flex", "cuda", "tuned", "", " ", "layers.2.*", "x.toml", "SI", "si ",
        ])
        .prop_map(str::to_string),
        1 => "\\PC{0,12}",
        1 => any::<String>(),
    ]
}

fn scalar() -> impl Strategy<Value = Val> {
    prop_oneof![
        some_string().prop_map(Val::Str),
        extreme_int(),
        extreme_f64().prop_map(Val::Float),
        any::<bool>().prop_map(Val::Bool),
        prop_oneof![
            Just("1979-05-27T07:32:00Z"),
            Just("07:32:00"),
            Just("1979-05-27"),
            Just("[[]]"),
            Just("{}"),
            Just("'''x'''"),
            Just("\"\\u0000\""),
        ]
        .prop_map(|s| Val::Raw(s.into())),
    ]
}

fn any_val() -> impl Strategy<Value = Val> {
    scalar().prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Val::Arr),
            prop::collection::vec(("[a-z_]{1,6}", inner), 0..3).prop_map(Val::Table),
        ]
    })
}

#[derive(Clone, Copy)]
enum Kind {
    /// A string; these are the values it accepts.
    Str(&'static [&'static str]),
    F64,
    Usize,
    U64,
    Bool,
    VecStr,
    VecUsize,
}

const KEYS: &[(&str, Kind)] = &[
    (
        "benchmark",
        Kind::Str(&[
            "split-mnist",
            "permuted-mnist",
            "split-fashion-mnist",
            "permuted-fashion-mnist",
            "split-cifar10",
            "split-cifar",
        ]),
    ),
    ("scenario", Kind::Str(&["task", "domain", "class"])),
    (
        "method",
        Kind::Str(&[
            "si",
            "ewc",
            "online-ewc",
            "mas",
            "l2",
            "finetune",
            "joint",
            "scratch",
        ]),
    ),
    ("preset", Kind::Str(&["tuned", "none"])),
    ("c", Kind::F64),
    ("xi", Kind::F64),
    ("si_grad", Kind::Str(&["task", "total"])),
    ("si_clamp", Kind::Str(&["relu", "none"])),
    ("si_half", Kind::Bool),
    ("si_cap", Kind::F64),
    ("lambda", Kind::F64),
    ("gamma", Kind::F64),
    ("fisher", Kind::Str(&["exact", "sampled", "empirical"])),
    ("fisher_samples", Kind::Usize),
    ("exclude", Kind::VecStr),
    ("epochs", Kind::Usize),
    ("batch_size", Kind::Usize),
    ("lr", Kind::F64),
    ("beta1", Kind::F64),
    ("beta2", Kind::F64),
    ("epsilon", Kind::F64),
    ("reset_optimizer", Kind::Bool),
    ("seed", Kind::U64),
    ("tasks", Kind::Usize),
    ("train_limit", Kind::Usize),
    ("test_limit", Kind::Usize),
    ("eval_on", Kind::Str(&["test", "train", "validation"])),
    ("hidden", Kind::VecUsize),
    ("head_init", Kind::Str(&["default", "zero"])),
    ("init", Kind::Str(&["default", "glorot"])),
    ("prob_clip", Kind::F64),
    ("backend", Kind::Str(&["cpu", "flex", "cuda"])),
    ("threads", Kind::Usize),
    ("eval_batch_size", Kind::Usize),
];

/// A value of the key's own type (with extreme contents), sometimes of any type.
fn value_for(kind: Kind) -> BoxedStrategy<Val> {
    let typed: BoxedStrategy<Val> = match kind {
        Kind::Str(valid) => prop_oneof![
            2 => prop::sample::select(valid).prop_map(|v| Val::Str(v.to_string())),
            1 => some_string().prop_map(Val::Str),
        ]
        .boxed(),
        Kind::F64 => prop_oneof![
            3 => extreme_f64().prop_map(Val::Float),
            2 => (1e-6f64..1.0).prop_map(Val::Float),
            1 => extreme_int(),
        ]
        .boxed(),
        Kind::Usize | Kind::U64 => prop_oneof![
            2 => extreme_int(),
            1 => (1i64..12).prop_map(Val::Int),
        ]
        .boxed(),
        Kind::Bool => any::<bool>().prop_map(Val::Bool).boxed(),
        Kind::VecStr => prop::collection::vec(some_string().prop_map(Val::Str), 0..4)
            .prop_map(Val::Arr)
            .boxed(),
        Kind::VecUsize => prop::collection::vec(extreme_int(), 0..4)
            .prop_map(Val::Arr)
            .boxed(),
    };
    prop_oneof![12 => typed, 1 => any_val()].boxed()
}

fn entry() -> impl Strategy<Value = (String, Val)> {
    let known: Vec<BoxedStrategy<(String, Val)>> = KEYS
        .iter()
        .map(|&(k, kind)| (Just(k.to_string()), value_for(kind)).boxed())
        .collect();
    prop_oneof![
        12 => proptest::strategy::Union::new(known),
        1 => (
            prop_oneof![
                Just("epochz".to_string()),
                Just("batch-size".to_string()),
                Just("EPOCHS".to_string()),
                "\\PC{0,8}",
            ],
            any_val(),
        ),
    ]
}

/// A TOML document of entries (a repeated key is a TOML error, as it should be).
fn document() -> impl Strategy<Value = String> {
    prop::collection::vec(entry(), 0..7).prop_map(|es| {
        es.iter()
            .map(|(k, v)| format!("{} = {}\n", toml_key(k), v.render()))
            .collect()
    })
}

/// Mostly well-formed documents, sometimes arbitrary text or a mutilated document.
fn config_text() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => document(),
        1 => any::<String>(),
        1 => (document(), any::<u16>()).prop_map(|(d, cut)| {
            let mut at = cut as usize % (d.len() + 1);
            while !d.is_char_boundary(at) {
                at -= 1;
            }
            d[..at].to_string()
        }),
    ]
}

fn command_line() -> impl Strategy<Value = Settings> {
    (
        prop_oneof![
            3 => prop::sample::select(Benchmark::ALL.to_vec()).prop_map(|b| Some(b.name().to_string())),
            1 => Just(None),
            1 => some_string().prop_map(Some),
        ],
        prop_oneof![3 => Just(None), 1 => some_string().prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => extreme_f64().prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => any::<usize>().prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => prop::collection::vec(any::<usize>(), 0..3).prop_map(Some)],
    )
        .prop_map(|(benchmark, method, lr, tasks, hidden)| {
            let mut s = Settings::new();
            let mut put = |k: &str, v: Option<serde_json::Value>| {
                if let Some(v) = v {
                    s.insert(k.to_string(), v);
                }
            };
            put("benchmark", benchmark.map(Into::into));
            put("method", method.map(Into::into));
            put("lr", lr.map(Into::into));
            put("tasks", tasks.map(Into::into));
            put("hidden", hidden.map(Into::into));
            s
        })
}

fn check_resolved(r: Result<RunConfig, impl std::fmt::Display>) -> Result<(), TestCaseError> {
    match r {
        Ok(cfg) => {
            if let Err(e) = cfg.validate() {
                return Err(TestCaseError::fail(format!(
                    "resolved config fails validate(): {e}"
                )));
            }
            let _ = cfg.method_summary();
            // result.json and checkpoints record it verbatim: it must read back equal.
            let json = serde_json::to_string(&cfg).unwrap();
            let back: RunConfig = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(&back, &cfg);
            // `--resume` reads run-config.json back through the fresh run's checks, and finds
            // the digest its checkpoints recorded.
            let table: Settings = serde_json::from_str(&json).unwrap();
            let stored = RunConfig::from_stored(Registry::builtin(), &table);
            prop_assert!(
                stored.is_ok(),
                "stored config refused: {}",
                stored.unwrap_err()
            );
            let stored = stored.unwrap();
            prop_assert_eq!(stored.digest(), cfg.digest());
            prop_assert_eq!(stored, cfg);
        }
        Err(e) => one_line(&e.to_string())?,
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_files_never_panic_and_resolve_to_valid_configs(
        text in config_text(),
        flags in command_line(),
        strict in any::<bool>(),
    ) {
        // The library path: parse, then resolve against command-line flags.
        // A parse error is checked by the next property, through `read_config_file`.
        if let Ok(file) = parse_settings(&text, "fuzz") {
            check_resolved(RunConfig::resolve_in(Registry::builtin(), Some(&file), &flags, strict))?;
            check_resolved(RunConfig::resolve(None, &file))?;
        }
    }

    #[test]
    fn config_file_reader_errors_are_one_line(text in config_text()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, &text).unwrap();
        match read_config_file(&p) {
            Ok(o) => check_resolved(RunConfig::resolve(None, &o))?,
            Err(e) => one_line(&e.to_string())?,
        }
    }

    #[test]
    fn presets_never_panic_and_hold_only_method_tables(
        tables in prop::collection::vec(
            (
                prop_oneof![
                    4 => prop::sample::select(vec![
                        "si", "ewc", "online-ewc", "mas", "l2", "finetune", "joint", "scratch",
                    ]).prop_map(str::to_string),
                    1 => "\\PC{0,8}",
                ],
                prop::collection::vec(entry(), 0..5),
            ),
            0..4,
        ),
        raw in prop_oneof![4 => Just(None), 1 => any::<String>().prop_map(Some)],
        benchmark in prop::sample::select(Benchmark::ALL.to_vec()),
    ) {
        let text = raw.unwrap_or_else(|| {
            tables
                .iter()
                .map(|(name, es)| {
                    let body: String = es
                        .iter()
                        .map(|(k, v)| format!("{} = {}\n", toml_key(k), v.render()))
                        .collect();
                    format!("[{}]\n{body}", toml_key(name))
                })
                .collect()
        });
        match preset::parse(Registry::builtin(), &text, "fuzz.toml") {
            Ok(t) => {
                for (name, o) in &t {
                    prop_assert!(Registry::builtin().get(name).is_some());
                    prop_assert!(!o.contains_key("method") && !o.contains_key("benchmark") && !o.contains_key("preset"));
                }
                // Use it as a --preset file for one of its methods.
                if let Some(name) = t.keys().next() {
                    let dir = tempfile::tempdir().unwrap();
                    let p = dir.path().join("preset.toml");
                    std::fs::write(&p, &text).unwrap();
                    let mut flags = Settings::new();
                    flags.insert("benchmark".into(), benchmark.name().into());
                    flags.insert("method".into(), name.clone().into());
                    flags.insert("preset".into(), p.display().to_string().into());
                    check_resolved(RunConfig::resolve(None, &flags))?;
                }
            }
            Err(e) => one_line(&e.to_string())?,
        }
    }
}

// ------------------------------------------------- checkpoint manifest names

fn manifest_naming(files: &[(&str, &str)]) -> String {
    let files: Vec<_> = files
        .iter()
        .map(|(role, name)| {
            serde_json::json!({
                "role": role,
                "name": name,
                "sha256": sha256_hex(b"x"),
            })
        })
        .collect();
    serde_json::json!({
        "format": synaptic::checkpoint::FORMAT,
        "seq": 3,
        "task": 1,
        "epoch": 0,
        "step": 0,
        "reason": "task",
        "files": files,
    })
    .to_string()
}

/// A manifest naming a file outside `checkpoints/` (whose hash it gives rightly) is refused,
/// by name, before anything is read: `load` never opens it.
#[test]
fn a_manifest_naming_a_file_outside_its_folder_is_refused() {
    use synaptic::backend::CpuAutodiff;
    use synaptic::checkpoint::{load, read_manifest, CheckpointError, MANIFEST};
    use synaptic::model::{HeadInit, MlpConfig, WeightInit};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run/checkpoints");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(tmp.path().join("x"), b"x").unwrap();
    std::fs::write(dir.join("000003-adam.mpk"), b"x").unwrap();
    let absolute = tmp.path().join("x").display().to_string();
    for bad in [
        "../../x",
        "../checkpoints/000003-adam.mpk",
        "sub/x",
        "..",
        ".",
        "",
        &absolute,
    ] {
        let text = manifest_naming(&[("model", "000003-adam.mpk"), ("adam", bad)]);
        std::fs::write(dir.join(MANIFEST), text).unwrap();
        let err = read_manifest(&dir).unwrap_err();
        assert!(
            matches!(err, CheckpointError::UnsafeName { .. }),
            "{bad}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        one_line(&msg).unwrap();
        let model = MlpConfig {
            inputs: 4,
            hidden: vec![3],
            outputs: 2,
            head_init: HeadInit::Default,
            init: WeightInit::Default,
        }
        .init::<CpuAutodiff>(&Default::default());
        match load::<CpuAutodiff, _>(&dir, model, &Default::default()) {
            Err(CheckpointError::UnsafeName { name, .. }) => assert_eq!(name, bad),
            Err(e) => panic!("{bad}: {e}"),
            Ok(_) => panic!("{bad}: loaded"),
        }
    }
}

/// Whatever the manifest names, it is read only as a plain name inside the folder, or refused
/// in one line.
#[test]
fn manifest_file_names_are_plain_or_refused() {
    let name = prop_oneof![
        2 => "[a-z0-9.-]{1,12}",
        2 => prop::collection::vec(
            prop_oneof![
                Just("..".to_string()),
                Just(".".to_string()),
                Just(String::new()),
                "[a-z0-9.]{1,6}",
            ],
            1..4
        )
        .prop_map(|parts| parts.join(if parts.len() % 2 == 0 { "/" } else { "\\" })),
        1 => "/[a-z/.]{0,12}",
        1 => "\\PC{0,8}",
        1 => any::<String>(),
    ];
    // One folder for every case (a folder per case costs more than the check).
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join(synaptic::checkpoint::MANIFEST);
    let mut runner = proptest::test_runner::TestRunner::new(config());
    let result = runner.run(&name, |name| {
        std::fs::write(&manifest, manifest_naming(&[("model", &name)])).unwrap();
        match synaptic::checkpoint::read_manifest(dir.path()) {
            Ok(m) => {
                let n = &m.files[0].name;
                let plain = Path::new(n).file_name().and_then(|f| f.to_str()) == Some(n.as_str());
                prop_assert!(
                    plain && n != ".." && n != "." && !n.contains(['/', '\\']),
                    "accepted {:?}",
                    n
                );
            }
            Err(e) => one_line(&e.to_string())?,
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
