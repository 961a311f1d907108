//! Property fuzzing of the user-data readers (`synaptic::data::load_user_data`): valid `.npz`
//! archives, `.npy` files with structure-aware random headers, and PNG and JPEG files, each
//! possibly damaged (cut, bytes overwritten, bytes appended), written to disk and read.
//!
//! Every property checks: no panic; on `Ok` the dataset is consistent (pixel and label counts
//! match, labels below the number of classes, channels × rows × cols = pixels per image); on
//! `Err` the message is one line.
//!
//! The default `cargo test` run uses 500 cases per property (a few seconds in release mode).
//! The full run: `FUZZ_CASES=20000 cargo test --release --test fuzz_user_data`.

use std::io::{Cursor, Write};
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use synaptic::data::export::{npy_bytes, npz_bytes, ArrayLayout};
use synaptic::data::{load_user_data, ImageSet, UserData, UserDataOptions};

/// Cases per property: `$FUZZ_CASES`, else 500.
fn config() -> ProptestConfig {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn none(_: usize, _: usize) {}

/// How a well-formed file is damaged (or not).
#[derive(Debug, Clone)]
enum Damage {
    None,
    /// Cut the file to this fraction (of 65,536) of its length.
    Cut(u16),
    /// Overwrite bytes at these relative positions.
    Flip(Vec<(u16, u8)>),
    /// Append bytes.
    Trail(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        1 => Just(Damage::None),
        2 => any::<u16>().prop_map(Damage::Cut),
        4 => prop::collection::vec((any::<u16>(), any::<u8>()), 1..6).prop_map(Damage::Flip),
        1 => prop::collection::vec(any::<u8>(), 1..20).prop_map(Damage::Trail),
    ]
}

fn apply(mut b: Vec<u8>, d: &Damage) -> Vec<u8> {
    match d {
        Damage::None => {}
        Damage::Cut(f) => b.truncate(b.len() * *f as usize / 65_536),
        Damage::Flip(edits) => {
            if !b.is_empty() {
                let len = b.len();
                for &(at, v) in edits {
                    // Mostly near the start, where the headers are.
                    let i = if at % 2 == 0 {
                        at as usize % len.min(160)
                    } else {
                        at as usize % len
                    };
                    b[i] = v;
                }
            }
        }
        Damage::Trail(t) => b.extend_from_slice(t),
    }
    b
}

fn one_line(msg: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        !msg.is_empty() && !msg.contains('\n'),
        "bad message: {msg:?}"
    );
    Ok(())
}

fn consistent(data: &UserData) -> Result<(), TestCaseError> {
    let k = data.num_classes();
    let sets = [
        Some(&data.dataset.train),
        Some(&data.dataset.test),
        data.val.as_ref(),
    ];
    for set in sets.into_iter().flatten() {
        prop_assert_eq!(set.images.len(), set.n * set.pixels_per_image);
        prop_assert_eq!(set.labels.len(), set.n);
        prop_assert!(set.n > 0);
        prop_assert_eq!(set.pixels_per_image, data.channels * set.rows * set.cols);
        prop_assert!(set.labels.iter().all(|&l| (l as usize) < k));
    }
    prop_assert!(data.channels == 1 || data.channels == 3);
    Ok(())
}

fn check(path: &Path) -> Result<(), TestCaseError> {
    match load_user_data(path, &UserDataOptions::default(), &none) {
        Ok(data) => consistent(&data),
        Err(e) => one_line(&e.to_string()),
    }
}

/// A small random dataset: `n` images of `c` channels, `h` x `w`, labels below 12.
fn image_set(n: usize, c: usize, h: usize, w: usize, seed: u8) -> ImageSet {
    let ppi = c * h * w;
    ImageSet {
        images: (0..n * ppi)
            .map(|i| (i as u8).wrapping_mul(seed | 1))
            .collect(),
        labels: (0..n).map(|i| (i as u8).wrapping_add(seed) % 12).collect(),
        n,
        pixels_per_image: ppi,
        rows: h,
        cols: w,
    }
}

fn layout() -> impl Strategy<Value = ArrayLayout> {
    prop_oneof![
        Just(ArrayLayout::Nhw),
        Just(ArrayLayout::Nhwc),
        Just(ArrayLayout::Nchw)
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn damaged_npz_archives_never_panic(
        n in 1usize..4, c in prop_oneof![Just(1usize), Just(3)], h in 1usize..6, w in 1usize..6,
        seed in any::<u8>(), layout in layout(), compressed in any::<bool>(), with_val in any::<bool>(),
        damage in damage(),
    ) {
        let layout = if c == 3 && layout == ArrayLayout::Nhw { ArrayLayout::Nchw } else { layout };
        let (train, test) = (image_set(n, c, h, w, seed), image_set(1, c, h, w, seed ^ 0x5a));
        let mut splits = vec![("train", &train), ("test", &test)];
        if with_val {
            splits.push(("val", &test));
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("d.npz");
        let bytes = apply(npz_bytes(&path, &splits, layout, compressed).unwrap(), &damage);
        std::fs::write(&path, bytes).unwrap();
        // N×C×H×W with W = 1 or 3 reads as N×H×W×C: documented, so not compared.
        let ambiguous = layout == ArrayLayout::Nchw && (w == 1 || w == 3);
        if matches!(damage, Damage::None) && !ambiguous {
            // Undamaged: read back exactly, whatever the layout.
            let data = load_user_data(&path, &UserDataOptions::default(), &none);
            let data = data.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&data.dataset.train, &train);
            prop_assert_eq!(&data.dataset.test, &test);
            prop_assert_eq!(data.val.is_some(), with_val);
        }
        check(&path)?;
    }

    #[test]
    fn random_npy_headers_never_panic(
        descr in prop_oneof![
            Just("'|u1'"), Just("'<f4'"), Just("'>f4'"), Just("'<f8'"), Just("'<i8'"), Just("'|b1'"),
            Just("'<f2'"), Just("'<c8'"), Just("'|O'"), Just("'<U5'"), Just("'|S0'"), Just("'<V3'"),
            Just("'<i99999999999999999999'"), Just("[('a', '<i4'), ('b', '|u1')]"), Just("'<u8'"),
            Just("('<i4', (2, 3))"), Just("3"), Just("'?'"),
        ],
        fortran in prop_oneof![Just("False"), Just("True"), Just("1"), Just("None")],
        shape in prop::collection::vec(prop_oneof![
            6 => 0u64..5,
            1 => prop_oneof![Just(u64::MAX), Just(1u64 << 32), Just(1u64 << 62), any::<u64>()],
        ], 0..6),
        bracket in any::<bool>(),
        data_len in 0usize..300,
        target in prop_oneof![Just("x_train"), Just("y_train"), Just("x_test")],
        damage in prop_oneof![4 => Just(Damage::None), 1 => damage()],
    ) {
        let dims = shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ");
        let shape = match (bracket, shape.len()) {
            (true, _) => format!("[{dims}]"),
            (false, 1) => format!("({dims},)"),
            (false, _) => format!("({dims})"),
        };
        let mut header = format!("{{'descr': {descr}, 'fortran_order': {fortran}, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend((0..data_len).map(|i| i as u8));
        let bytes = apply(bytes, &damage);

        let tmp = tempfile::tempdir().unwrap();
        let good = image_set(2, 1, 2, 2, 7);
        let x = npy_bytes("|u1", &[2, 2, 2], false, &good.images);
        let labels: Vec<u8> = good.labels.iter().flat_map(|&l| i64::from(l).to_le_bytes()).collect();
        let y = npy_bytes("<i8", &[2], false, &labels);
        for (name, b) in [("x_train", &x), ("y_train", &y), ("x_test", &x), ("y_test", &y)] {
            let b = if name == target { &bytes } else { b };
            std::fs::write(tmp.path().join(format!("{name}.npy")), b).unwrap();
        }
        check(tmp.path())?;
    }

    #[test]
    fn damaged_png_and_jpeg_files_never_panic(
        w in 1u32..24, h in 1u32..24,
        colour in prop_oneof![
            Just(image::ExtendedColorType::L8), Just(image::ExtendedColorType::La8),
            Just(image::ExtendedColorType::Rgb8), Just(image::ExtendedColorType::Rgba8),
        ],
        jpeg in any::<bool>(), seed in any::<u8>(), damage in damage(), resize in any::<bool>(),
    ) {
        // JPEG has no alpha: those cases write PNG.
        let jpeg = jpeg && matches!(colour, image::ExtendedColorType::L8 | image::ExtendedColorType::Rgb8);
        let channels = match colour {
            image::ExtendedColorType::L8 => 1,
            image::ExtendedColorType::La8 => 2,
            image::ExtendedColorType::Rgb8 => 3,
            _ => 4,
        };
        let px: Vec<u8> = (0..(w * h) as usize * channels).map(|i| (i as u8).wrapping_mul(seed | 1)).collect();
        let format = if jpeg { image::ImageFormat::Jpeg } else { image::ImageFormat::Png };
        let mut buf = Cursor::new(Vec::new());
        image::write_buffer_with_format(&mut buf, &px, w, h, colour, format).unwrap();
        let bytes = apply(buf.into_inner(), &damage);

        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        for (split, file, b) in [("train", "0.png", &bytes), ("test", "0.png", &bytes)] {
            let dir = d.join(split).join("a");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::File::create(dir.join(file)).unwrap().write_all(b).unwrap();
        }
        let opts = UserDataOptions { resize: resize.then_some((5, 3)), ..UserDataOptions::default() };
        let result = load_user_data(d, &opts, &none);
        prop_assert!(result.is_ok() || !matches!(damage, Damage::None), "undamaged file refused: {:?}", result.err());
        match result {
            Ok(data) if matches!(damage, Damage::None) => {
                consistent(&data)?;
                let (rows, cols) = if resize { (3, 5) } else { (h as usize, w as usize) };
                prop_assert_eq!((data.dataset.train.rows, data.dataset.train.cols), (rows, cols));
            }
            // A damaged header can still decode, to another size.
            Ok(data) => consistent(&data)?,
            Err(e) => one_line(&e.to_string())?,
        }
    }
}
