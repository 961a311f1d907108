//! Your own data through the real CLI: image folders and NumPy arrays written by the tests,
//! through `run`, `compare`, `report` and `--resume`, with both networks, class orders and
//! rotations; and a split of user data equal, bit for bit, to the same split of an IDX copy of
//! the same MNIST digits.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::json;
use synaptic::data::export::{write_image_split, write_npz, ArrayLayout, ImageFileFormat};
use synaptic::data::ImageSet;

mod common;
use common::{bin, json, mnist, ok, refused, stderr};

/// One epoch on one thread (the numbers of a run depend on its thread count).
const SMALL: &[&str] = &["--epochs", "1", "--threads", "1"];

fn run(args: &[&str], out: &Path) -> Output {
    bin()
        .arg("run")
        .args(args)
        .args(SMALL)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// `n` images of `channels` x `side` x `side`, labels cycling through `classes`; each class has
/// its own bright region (so that a network can learn it) plus noise from the index.
fn patterns(n: usize, classes: usize, channels: usize, side: usize) -> ImageSet {
    let plane = side * side;
    let mut images = Vec::with_capacity(n * channels * plane);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = i % classes;
        for c in 0..channels {
            for p in 0..plane {
                let (r, col) = (p / side, p % side);
                let lit = (r * classes / side == label) ^ (c == 1 && col < side / 2);
                let noise = (i * 31 + p * 7 + c * 13) % 40;
                images.push(if lit {
                    200 + noise as u8 / 2
                } else {
                    noise as u8
                });
            }
        }
        labels.push(label as u8);
    }
    ImageSet {
        images,
        labels,
        n,
        pixels_per_image: channels * plane,
        rows: side,
        cols: side,
    }
}

/// Writes `train` and `test` as an image folder under `dir` with the classes `names`.
fn image_folder(dir: &Path, train: &ImageSet, test: &ImageSet, names: &[&str]) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    for (split, set) in [("train", train), ("test", test)] {
        write_image_split(dir, split, set, &names, ImageFileFormat::Png).unwrap();
    }
}

/// The first `n` examples of `set`, ordered by label (stable within a label).
fn by_label(set: &ImageSet, n: usize) -> ImageSet {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by_key(|&i| set.labels[i]);
    ImageSet {
        images: idx.iter().flat_map(|&i| set.image(i).to_vec()).collect(),
        labels: idx.iter().map(|&i| set.labels[i]).collect(),
        n,
        pixels_per_image: set.pixels_per_image,
        rows: set.rows,
        cols: set.cols,
    }
}

/// Writes `set` as the two plain IDX files `prefix-images-idx3-ubyte` and `-labels-idx1-ubyte`.
fn write_idx(dir: &Path, prefix: &str, set: &ImageSet) {
    let mut images = vec![0, 0, 8, 3];
    for d in [set.n, set.rows, set.cols] {
        images.extend((d as u32).to_be_bytes());
    }
    images.extend(&set.images);
    let mut labels = vec![0, 0, 8, 1];
    labels.extend((set.n as u32).to_be_bytes());
    labels.extend(&set.labels);
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), images).unwrap();
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), labels).unwrap();
}

#[test]
fn a_split_of_png_digits_equals_the_same_split_of_their_idx_copy_bit_for_bit() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mnist = synaptic::data::load_idx_dataset(&data, 10).unwrap();
    // The same digits both ways. An image folder lists a class's files together, so the IDX
    // copy holds them in that order too (ordered by label, each label's digits in MNIST's
    // order): the two datasets are then the same examples in the same order.
    let (train, test) = (by_label(&mnist.train, 1500), by_label(&mnist.test, 400));
    let idx = tmp.path().join("idx");
    std::fs::create_dir(&idx).unwrap();
    write_idx(&idx, "train", &train);
    write_idx(&idx, "t10k", &test);
    let png = tmp.path().join("png");
    let names: Vec<String> = (0..10).map(|d| d.to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    image_folder(&png, &train, &test, &names);
    for extra in [
        &["--scenario", "task"][..],
        &[
            "--scenario",
            "class",
            "--class-order",
            "3,1,4,0,5,9,2,6,8,7",
        ],
    ] {
        let common = [
            &["--method", "si", "--tasks", "3", "--hidden", "32"][..],
            extra,
        ]
        .concat();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        let args = [
            &["--benchmark", "split-mnist", "--data-dir"][..],
            &[idx.to_str().unwrap()],
            &common[..],
        ]
        .concat();
        ok(&run(&args, &a));
        let args = [&["--dataset-dir", png.to_str().unwrap()][..], &common[..]].concat();
        let err = ok(&run(&args, &b));
        assert!(err.contains("decoding 1900 images of"), "{err}");
        let (ra, rb) = (json(&a.join("result.json")), json(&b.join("result.json")));
        for key in [
            "accuracy_matrix",
            "initial_accuracy",
            "epoch_loss",
            "final_penalty",
            "steps",
            "task_classes",
            "class_order",
        ] {
            assert_eq!(ra[key], rb[key], "{extra:?}: {key}");
        }
        assert!(ra["accuracy_matrix"][0][0].as_f64().unwrap() > 0.6, "{ra}");
        assert_eq!(rb["benchmark"], "user");
        let first = rb["task_classes"][0].clone();
        assert_eq!(
            rb["task_names"][0],
            format!("classes {},{}", first[0], first[1])
        );
        let u = &rb["config"]["user_data"];
        assert_eq!(u["format"], "image-folder");
        assert_eq!(u["classes"], json!(names));
        assert_eq!(
            (&u["channels"], &u["rows"], &u["cols"]),
            (&json!(1), &json!(28), &json!(28))
        );
        assert_eq!((&u["train"], &u["test"]), (&json!(1500), &json!(400)));
        assert_eq!(rb["data_dir"], u["path"]);
        std::fs::remove_dir_all(&a).unwrap();
        std::fs::remove_dir_all(&b).unwrap();
    }
}

#[test]
fn a_16x16_grey_image_folder_trains_the_cnn_and_a_colour_one_the_mlp() {
    let tmp = tempfile::tempdir().unwrap();
    let grey = tmp.path().join("grey");
    // Class folders sort to labels: circle 0, cross 1, dot 2, line 3.
    image_folder(
        &grey,
        &patterns(80, 4, 1, 16),
        &patterns(24, 4, 1, 16),
        &["circle", "cross", "dot", "line"],
    );
    let out = tmp.path().join("cnn");
    let err = ok(&run(
        &[
            "--dataset-dir",
            grey.to_str().unwrap(),
            "--model",
            "cnn",
            "--method",
            "si",
            "--batch-size",
            "16",
        ],
        &out,
    ));
    assert!(
        err.contains("data: image-folder") && err.contains("4 classes (circle, cross, dot, line), 16x16 pixels, 1 channel, 80 training and 24 test images"),
        "{err}"
    );
    let r = json(&out.join("result.json"));
    assert_eq!(r["benchmark"], "user");
    assert_eq!(r["scenario"], "task");
    assert_eq!(
        r["task_names"],
        json!(["classes circle,cross", "classes dot,line"])
    );
    assert_eq!(r["config"]["model"], "cnn");
    assert_eq!(r["config"]["hidden"], json!([]));
    assert_eq!(r["accuracy_matrix"].as_array().unwrap().len(), 2);

    let rgb = tmp.path().join("rgb");
    image_folder(
        &rgb,
        &patterns(60, 3, 3, 12),
        &patterns(30, 3, 3, 12),
        &["a", "b", "c"],
    );
    let out = tmp.path().join("mlp");
    ok(&run(
        &[
            "--dataset-dir",
            rgb.to_str().unwrap(),
            "--method",
            "finetune",
        ],
        &out,
    ));
    let r = json(&out.join("result.json"));
    assert_eq!(r["task_names"], json!(["classes a,b", "classes c"]));
    assert_eq!(r["config"]["user_data"]["channels"], 3);
    assert!(r["config"].get("model").is_none());
    assert_eq!(r["config"]["hidden"], json!([256, 256]));
}

#[test]
fn npz_arrays_run_rotated_compare_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let npz = tmp.path().join("shapes.npz");
    let (train, test) = (patterns(90, 3, 3, 10), patterns(30, 3, 3, 10));
    write_npz(
        &npz,
        &[("train", &train), ("test", &test)],
        ArrayLayout::Nhwc,
        true,
    )
    .unwrap();
    // Rotated tasks of every class: domain scenario, a task per angle.
    let out = tmp.path().join("rot");
    let err = ok(&run(
        &[
            "--dataset-dir",
            npz.to_str().unwrap(),
            "--transform",
            "rotate",
            "--angles",
            "0,90,180",
            "--method",
            "si",
        ],
        &out,
    ));
    assert!(err.contains("tasks: rotations 0°, 90°, 180°"), "{err}");
    let r = json(&out.join("result.json"));
    assert_eq!(r["scenario"], "domain");
    assert_eq!(
        r["task_names"],
        json!(["rotation 0°", "rotation 90°", "rotation 180°"])
    );
    assert_eq!(r["config"]["transform"], "rotate");
    assert_eq!(r["config"]["user_data"]["format"], "npz");
    assert_eq!(r["config"]["user_data"]["classes"], json!(["0", "1", "2"]));
    for scenario in ["task", "class"] {
        let out = tmp.path().join(scenario);
        ok(&run(
            &[
                "--dataset-dir",
                npz.to_str().unwrap(),
                "--transform",
                "rotate",
                "--tasks",
                "2",
                "--scenario",
                scenario,
            ],
            &out,
        ));
        assert_eq!(
            json(&out.join("result.json"))["task_classes"],
            json!([[0, 1, 2], [0, 1, 2]])
        );
    }
    // compare, then report, over a random class order per seed.
    let cmp = tmp.path().join("cmp");
    let o = bin()
        .args(["compare", "--dataset-dir", npz.to_str().unwrap()])
        .args([
            "--methods",
            "si,finetune",
            "--seeds",
            "2",
            "--class-order",
            "random",
        ])
        .args(["--jobs", "1", "--classes-per-task", "1"])
        .args(SMALL)
        .arg("--out")
        .arg(&cmp)
        .output()
        .unwrap();
    ok(&o);
    let r = json(&cmp.join("si/seed-1/result.json"));
    assert_eq!(r["benchmark"], "user");
    assert_eq!(r["task_names"].as_array().unwrap().len(), 3);
    let summary = std::fs::read_to_string(cmp.join("summary.md")).unwrap();
    assert!(summary.contains("finetune"), "{summary}");
    let rep = tmp.path().join("report");
    ok(&bin()
        .arg("report")
        .arg(&cmp)
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap());
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("user"), "{md}");
    assert!(
        md.contains("SI seed 0: T1 = classes") || md.contains("Tasks: T1 = classes"),
        "{md}"
    );
}

#[test]
fn a_run_on_your_data_resumes_and_refuses_changed_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("folder");
    image_folder(
        &dir,
        &patterns(40, 4, 1, 8),
        &patterns(12, 4, 1, 8),
        &["w", "x", "y", "z"],
    );
    let out = tmp.path().join("run");
    let o = bin()
        .arg("run")
        .args(["--dataset-dir", dir.to_str().unwrap()])
        .args(SMALL)
        .arg("--out")
        .arg(&out)
        .env("SYNAPTIC_STOP_AFTER_TASK", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let saved = json(&out.join("run-config.json"));
    assert_eq!(
        saved["config"]["user_data"]["classes"],
        json!(["w", "x", "y", "z"])
    );
    assert_eq!(saved["data_dir"], saved["config"]["user_data"]["path"]);
    // One image fewer: not the data the run was configured with.
    let gone: PathBuf = std::fs::read_dir(dir.join("train/z"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let kept = std::fs::read(&gone).unwrap();
    std::fs::remove_file(&gone).unwrap();
    let o = bin().arg("run").arg("--resume").arg(&out).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("error: ")
            && last.contains(
                "not the data this run was configured with (training examples: 40 then, 39 now)"
            ),
        "{err}"
    );
    assert!(!out.join("result.json").exists());
    std::fs::write(&gone, kept).unwrap();
    let o = bin().arg("run").arg("--resume").arg(&out).output().unwrap();
    ok(&o);
    assert_eq!(
        json(&out.join("result.json"))["task_names"],
        json!(["classes w,x", "classes y,z"])
    );
}

#[test]
fn bad_uses_of_your_data_are_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("folder");
    image_folder(
        &dir,
        &patterns(8, 2, 1, 8),
        &patterns(4, 2, 1, 8),
        &["a", "b"],
    );
    let d = dir.to_str().unwrap();
    let out = tmp.path().join("out");
    for (args, needle) in [
        (
            &["--benchmark", "user"][..],
            "--benchmark user trains on your own data: pass its folder or .npz file as --dataset-dir",
        ),
        (
            &["--benchmark", "split-mnist", "--dataset-dir", d],
            "holds your own data (an image folder or NumPy arrays), not split-mnist's files: drop --benchmark",
        ),
        (
            &["--dataset-dir", d, "--image-size", "0x8"],
            "--image-size: '0x8' is not an image size",
        ),
        (
            &["--benchmark", "split-mnist", "--transform", "rotate"],
            "--transform has no effect on split-mnist",
        ),
        (
            &["--benchmark", "split-mnist", "--image-size", "16x16"],
            "--image-size has no effect on split-mnist",
        ),
        (
            &["--dataset-dir", d, "--classes-per-task", "3"],
            "--classes-per-task = 3 is out of range: between 1 and 2",
        ),
        (
            &["--dataset-dir", d, "--class-order", "1,2"],
            "--class-order names class 2, but the data has classes 0-1 only",
        ),
        (
            &["--dataset-dir", d, "--model", "cnn"],
            "--model cnn needs images of at least 10x10 pixels (its two valid convolutions and two pools shrink them), but the data's are 8x8: use --model mlp",
        ),
        (
            &["--dataset-dir", d, "--transform", "rotate", "--class-order", "random"],
            "--class-order has no effect on user: every task holds every class",
        ),
    ] {
        let o = bin()
            .arg("run")
            .args(args)
            .args(["--quiet", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        refused(&o, needle, &out);
    }
    // Images of two sizes: refused naming the file, then read with --image-size.
    let odd = patterns(1, 2, 1, 9);
    write_image_split(
        &dir,
        "train",
        &odd,
        &["a".into(), "b".into()],
        ImageFileFormat::Png,
    )
    .unwrap();
    let o = bin()
        .arg("run")
        .args(["--dataset-dir", d, "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    refused(&o, "pass --image-size", &out);
    ok(&run(&["--dataset-dir", d, "--image-size", "12x10"], &out));
    let r = json(&out.join("result.json"));
    assert_eq!(r["config"]["image_size"], "12x10");
    assert_eq!(
        (
            &r["config"]["user_data"]["rows"],
            &r["config"]["user_data"]["cols"]
        ),
        (&json!(10), &json!(12))
    );
}
