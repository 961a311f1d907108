//! The user-data readers against the IDX reader on real MNIST: the first examples of each split,
//! written as an ImageFolder of PNGs, as `.npz` archives (both layouts, stored and deflated) and
//! as a folder of `.npy` files, read back equal to the same examples read from IDX, pixel for
//! pixel and label for label. An ImageFolder lists a class's files together, so its order is
//! the IDX order sorted by label (stably: files are named by their IDX index); the arrays keep
//! the IDX order itself.

use std::path::Path;

use synaptic::data::export::{
    write_image_split, write_npy_folder, write_npz, ArrayLayout, ImageFileFormat,
};
use synaptic::data::{
    load_idx_dataset, load_user_data, ImageSet, UserData, UserDataOptions, UserFormat,
};

/// Examples taken from each split.
const TAKE: usize = 200;

fn none(_: usize, _: usize) {}

/// The first `k` examples of `set`, in its order.
fn first(set: &ImageSet, k: usize) -> ImageSet {
    ImageSet {
        images: set.images[..k * set.pixels_per_image].to_vec(),
        labels: set.labels[..k].to_vec(),
        n: k,
        ..set.clone()
    }
}

/// `set` with its examples stably sorted by label: an ImageFolder's order.
fn by_label(set: &ImageSet) -> ImageSet {
    let mut order: Vec<usize> = (0..set.n).collect();
    order.sort_by_key(|&i| set.labels[i]);
    ImageSet {
        images: order.iter().flat_map(|&i| set.image(i).to_vec()).collect(),
        labels: order.iter().map(|&i| set.labels[i]).collect(),
        ..set.clone()
    }
}

fn load(path: &Path, opts: &UserDataOptions) -> UserData {
    load_user_data(path, opts, &none).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn mnist_as_pngs_npz_and_npy_reads_back_as_the_idx_examples() {
    let mnist = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let idx = load_idx_dataset(&mnist, 10).unwrap();
    let (train, test) = (first(&idx.train, TAKE), first(&idx.test, TAKE));
    // Every digit is among the examples, so the class folders match across splits.
    for set in [&train, &test] {
        assert!((0..10).all(|d| set.labels.contains(&d)));
    }
    let names: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let tmp = tempfile::tempdir().unwrap();

    let folder = tmp.path().join("mnist-png");
    for (split, set) in [("train", &train), ("test", &test)] {
        write_image_split(&folder, split, set, &names, ImageFileFormat::Png).unwrap();
    }
    for opts in [
        UserDataOptions::default(),
        // Resizing to the size the images have leaves them as they are.
        UserDataOptions {
            resize: Some((28, 28)),
            ..UserDataOptions::default()
        },
    ] {
        let data = load(&folder, &opts);
        assert_eq!(data.format, UserFormat::ImageFolder);
        assert_eq!((data.channels, &data.class_names), (1, &names));
        assert_eq!(data.dataset.train, by_label(&train));
        assert_eq!(data.dataset.test, by_label(&test));
        assert_eq!(data.skipped.count, 0);
    }

    let splits = [("train", &train), ("test", &test)];
    let cases = [
        ("stored.npz", ArrayLayout::Nhw, false),
        ("deflated.npz", ArrayLayout::Nhwc, true),
        ("nchw.npz", ArrayLayout::Nchw, false),
    ];
    for (file, layout, compressed) in cases {
        let path = tmp.path().join(file);
        write_npz(&path, &splits, layout, compressed).unwrap();
        let data = load(&path, &UserDataOptions::default());
        assert_eq!(data.format, UserFormat::Npz);
        assert_eq!((data.channels, &data.class_names), (1, &names), "{file}");
        assert_eq!(data.dataset.train, train, "{file}");
        assert_eq!(data.dataset.test, test, "{file}");
    }
    let npy = tmp.path().join("mnist-npy");
    write_npy_folder(&npy, &splits, ArrayLayout::Nhw).unwrap();
    let data = load(&npy, &UserDataOptions::default());
    assert_eq!(data.format, UserFormat::NpyFolder);
    assert_eq!((data.dataset.train, data.dataset.test), (train, test));
}
