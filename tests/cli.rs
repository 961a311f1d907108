//! End-to-end tests of the `synaptic` binary on a small slice of real MNIST.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{bin, mnist, stderr};

/// `synaptic run ARGS [--data-dir DATA] --out OUT`, run to completion.
fn run(args: &[&str], data: Option<&Path>, out: &Path) -> Output {
    let mut c = bin();
    c.arg("run").args(args);
    if let Some(d) = data {
        c.arg("--data-dir").arg(d);
    }
    c.arg("--out").arg(out).output().unwrap()
}

/// Asserts a bad-input failure: exit code 2, one `error:` line, no result file.
fn assert_bad_input(o: &Output, needle: &str, out: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(needle), "missing '{needle}' in: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out.join("result.json").exists());
}

const SMALL: &[&str] = &[
    "--tasks",
    "2",
    "--train-limit",
    "300",
    "--test-limit",
    "200",
    "--epochs",
    "1",
];

#[test]
fn run_writes_result_json_matching_the_contract() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = bin()
        .args([
            "run",
            "--benchmark",
            "split-mnist",
            "--method",
            "si",
            "--data-dir",
        ])
        .arg(&data)
        .args(SMALL)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // Not a terminal: one plain progress line per epoch, and a line per finished task.
    let err = stderr(&o);
    assert!(
        err.contains("task 1/2 (digits 0,1) epoch 1/1: loss"),
        "{err}"
    );
    assert!(err.contains("after task 2/2"), "{err}");

    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(r["benchmark"], "split-mnist");
    assert_eq!(r["scenario"], "task");
    assert_eq!(r["method"], "si");
    assert_eq!(r["seed"], 0);
    assert_eq!(r["version"], env!("CARGO_PKG_VERSION"));
    let cfg = &r["config"];
    assert_eq!(cfg["c"], 1.0);
    assert_eq!(cfg["xi"], 1e-3);
    assert_eq!(cfg["batch_size"], 64);
    assert_eq!(cfg["epochs"], 1);
    assert_eq!(cfg["reset_optimizer"], true);
    assert_eq!(cfg["head_init"], "default");
    let m = r["accuracy_matrix"].as_array().unwrap();
    assert_eq!(m.len(), 2);
    for row in m {
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 2);
        for v in row {
            let v = v.as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v));
        }
    }
    // Digits 0/1 are easy: one epoch on 300 images learns them.
    assert!(m[0][0].as_f64().unwrap() > 0.9, "{m:?}");
    let acc = r["average_accuracy"].as_f64().unwrap();
    let last: f64 = m[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum::<f64>()
        / 2.0;
    assert!((acc - last).abs() < 1e-12);
    let at = |i: usize, j: usize| m[i][j].as_f64().unwrap();
    let seen = r["mean_seen_accuracy"].as_array().unwrap();
    assert_eq!(seen.len(), 2);
    assert!((seen[0].as_f64().unwrap() - at(0, 0)).abs() < 1e-12);
    assert!((seen[1].as_f64().unwrap() - acc).abs() < 1e-12);
    let b = r["initial_accuracy"].as_array().unwrap();
    let fwt = at(0, 1) - b[1].as_f64().unwrap();
    assert!((r["forward_transfer"].as_f64().unwrap() - fwt).abs() < 1e-12);
    let bwt = m[1][0].as_f64().unwrap() - m[0][0].as_f64().unwrap();
    assert!((r["backward_transfer"].as_f64().unwrap() - bwt).abs() < 1e-12);
    assert!((r["forgetting"].as_f64().unwrap() + bwt).abs() < 1e-12);
    for k in ["forward_transfer", "train_seconds", "total_seconds"] {
        assert!(r[k].as_f64().unwrap().is_finite(), "{k}");
    }
    assert!(r["total_seconds"].as_f64().unwrap() >= r["train_seconds"].as_f64().unwrap());

    let csv = std::fs::read_to_string(out.join("accuracy.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "after_task,task_0,task_1,mean_seen");
    assert_eq!(lines.len(), 3);
    // No temporary files left behind.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "accuracy.csv",
            "checkpoints",
            "result.json",
            "run-config.json"
        ]
    );
    // One checkpoint (after the last task) and its manifest, no temporary files.
    let mut names: Vec<String> = std::fs::read_dir(out.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "000001-adam.mpk",
            "000001-model.mpk",
            "000001-regularizer.bin",
            "000001-state.json",
            "checkpoint.json"
        ]
    );
}

#[test]
fn same_seed_and_threads_give_bit_identical_metrics_and_quiet_prints_nothing() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for name in ["a", "b"] {
        let out = tmp.path().join(name);
        let o = bin()
            .args([
                "run",
                "--benchmark",
                "permuted-mnist",
                "--method",
                "si",
                "--hidden",
                "32",
            ])
            .args(["--threads", "2", "--quiet", "--data-dir"])
            .arg(&data)
            .args(SMALL)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            o.stderr.is_empty() && o.stdout.is_empty(),
            "--quiet printed something"
        );
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
        assert_eq!(r["scenario"], "domain");
        assert_eq!(r["config"]["reset_optimizer"], false);
        // Every number of the result, compared bit for bit (serde_json keeps f64 exactly).
        let metrics: Vec<serde_json::Value> = [
            "accuracy_matrix",
            "initial_accuracy",
            "average_accuracy",
            "mean_seen_accuracy",
            "backward_transfer",
            "forgetting",
            "forward_transfer",
            "epoch_loss",
            "final_penalty",
            "steps",
        ]
        .iter()
        .map(|k| r[*k].clone())
        .collect();
        assert!(metrics.iter().all(|v| !v.is_null()));
        results.push(metrics);
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn missing_data_is_a_one_line_error_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = run(&["--benchmark", "split-mnist"], Some(tmp.path()), &out);
    assert_bad_input(&o, "train-images-idx3-ubyte", &out);
}

#[test]
fn corrupt_data_is_rejected_before_training() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    for f in [
        "train-images-idx3-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(data.join(f), dir.join(f)).unwrap();
    }
    // A labels file cut short, with no checksum list: the reader itself must notice.
    let labels = std::fs::read(data.join("train-labels-idx1-ubyte.gz")).unwrap();
    let raw = {
        use std::io::Read;
        let mut s = Vec::new();
        flate2::read::GzDecoder::new(&labels[..])
            .read_to_end(&mut s)
            .unwrap();
        s
    };
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &raw[..raw.len() - 10]).unwrap();
    let out = tmp.path().join("run");
    let o = run(&["--benchmark", "split-mnist"], Some(&dir), &out);
    assert_bad_input(&o, "truncated", &out);

    // The full file back, but a checksum list that disagrees with it.
    std::fs::write(dir.join("train-labels-idx1-ubyte"), &raw).unwrap();
    std::fs::write(
        dir.join("SHA256SUMS.uncompressed"),
        format!("{}  train-labels-idx1-ubyte\n", "0".repeat(64)),
    )
    .unwrap();
    let o = run(&["--benchmark", "split-mnist"], Some(&dir), &out);
    assert_bad_input(&o, "train-labels-idx1-ubyte", &out);
}

#[test]
fn prob_clip_reaches_the_loss_and_is_recorded_only_when_set() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let go = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let args = [
            &[
                "--benchmark",
                "split-mnist",
                "--method",
                "finetune",
                "--quiet",
            ],
            extra,
            SMALL,
        ]
        .concat();
        let o = run(&args, Some(&data), &out);
        assert!(o.status.success(), "{}", stderr(&o));
        json(&out.join("result.json"))
    };
    let exact = go("exact", &[]);
    // A clip of 0.3 stops every example the network gets right with p > 0.7 from training, so
    // the losses must differ from the exact cross-entropy's.
    let clipped = go("clipped", &["--prob-clip", "0.3"]);
    assert!(
        exact["config"].get("prob_clip").is_none(),
        "off must leave old configs as they were"
    );
    assert_eq!(clipped["config"]["prob_clip"], 0.3);
    assert_ne!(exact["epoch_loss"], clipped["epoch_loss"]);
}

#[test]
fn bad_options_are_one_line_errors_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let cases: &[(&[&str], &str)] = &[
        (&["--benchmark", "split-imagenet"], "unknown benchmark"),
        (
            &["--benchmark", "split-mnist", "--method", "magic"],
            "unknown method",
        ),
        (&["--benchmark", "split-mnist", "--c", "-1"], "--c"),
        (&["--benchmark", "split-mnist", "--xi", "0"], "--xi"),
        (&["--benchmark", "split-mnist", "--epochs", "0"], "--epochs"),
        (
            &["--benchmark", "split-mnist", "--batch-size", "0"],
            "--batch-size",
        ),
        (&["--benchmark", "split-mnist", "--tasks", "9"], "--tasks"),
        (
            &["--benchmark", "split-mnist", "--scenario", "tasks"],
            "unknown scenario",
        ),
        (&["--method", "si"], "--benchmark"),
        (
            &["--benchmark", "split-mnist", "--prob-clip", "0.5"],
            "--prob-clip",
        ),
    ];
    for (args, needle) in cases {
        let o = run(args, None, &out);
        assert_bad_input(&o, needle, &out);
    }
    let cfg = tmp.path().join("bad.toml");
    std::fs::write(&cfg, "benchmark = \"split-mnist\"\nepochz = 2\n").unwrap();
    let o = run(&["--config", cfg.to_str().unwrap()], None, &out);
    assert_bad_input(&o, "epochz", &out);
}

#[test]
fn synaptic_data_is_used_and_data_dir_overrides_it() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = tmp.path().join("run");
    let o = bin()
        .env("SYNAPTIC_DATA", &empty)
        .args(["run", "--benchmark", "split-mnist", "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_bad_input(&o, &empty.display().to_string(), &out);
    let o = bin()
        .env("SYNAPTIC_DATA", &empty)
        .args(["run", "--benchmark", "split-mnist", "--quiet", "--data-dir"])
        .arg(&data)
        .args([
            "--tasks",
            "1",
            "--train-limit",
            "64",
            "--test-limit",
            "64",
            "--epochs",
            "1",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(r["data_dir"], data.display().to_string());
}

#[test]
fn diverging_loss_stops_with_a_named_step_and_no_result() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = bin()
        .args([
            "run",
            "--benchmark",
            "split-mnist",
            "--lr",
            "1e30",
            "--data-dir",
        ])
        .arg(&data)
        .args([
            "--tasks",
            "1",
            "--train-limit",
            "640",
            "--test-limit",
            "64",
            "--quiet",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_bad_input(
        &o,
        "loss is not finite (NaN or inf) at task 1, epoch 1, step",
        &out,
    );
}

#[test]
fn unwritable_out_folder_fails_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    // A regular file where the output folder should go.
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let out = blocker.join("run");
    // The data folder is missing too: the error must be about --out, found first.
    let o = run(
        &["--benchmark", "permuted-mnist"],
        Some(&tmp.path().join("no-data")),
        &out,
    );
    assert_bad_input(&o, "--out", &out);
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_backend_without_the_feature_says_how_to_build_it() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = bin()
        .args([
            "run",
            "--benchmark",
            "split-mnist",
            "--backend",
            "cuda",
            "--quiet",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_bad_input(&o, "--features cuda", &out);
}

/// `synaptic SUB ARGS [--data-dir DATA] --out OUT` (`compare` or `sweep`), run to completion.
fn grid(sub: &str, args: &[&str], data: Option<&Path>, out: &Path) -> Output {
    let mut c = bin();
    c.arg(sub).args(args);
    if let Some(d) = data {
        c.arg("--data-dir").arg(d);
    }
    c.arg("--out").arg(out).output().unwrap()
}

/// The small grid runs' shared settings: two tasks, one epoch, a few hundred images.
const GRID_SMALL: &[&str] = &[
    "--benchmark",
    "split-mnist",
    "--epochs",
    "1",
    "--tasks",
    "2",
    "--train-limit",
    "200",
    "--test-limit",
    "100",
];

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn with_small(args: &[&str]) -> Vec<String> {
    args.iter()
        .chain(GRID_SMALL)
        .map(|s| s.to_string())
        .collect()
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn compare_runs_the_grid_summarises_it_and_resumes() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let args = with_small(&["--methods", "finetune,l2", "--seeds", "2"]);
    let o = grid("compare", &strs(&args), Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("[1/4] finetune seed 0") && err.contains("[4/4] l2 seed 1"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        stdout.contains("| method | n | ACC | BWT | forgetting | train s |"),
        "{stdout}"
    );

    let dir = &out;
    let results: Vec<PathBuf> = ["finetune", "l2"]
        .iter()
        .flat_map(|m| (0..2).map(move |s| dir.join(m).join(format!("seed-{s}/result.json"))))
        .collect();
    for (i, p) in results.iter().enumerate() {
        let r = json(p);
        assert_eq!(r["seed"], (i % 2) as u64, "{}", p.display());
        assert_eq!(r["method"], if i < 2 { "finetune" } else { "l2" });
    }
    let summary = json(&out.join("summary.json"));
    assert_eq!(summary["benchmark"], "split-mnist");
    assert_eq!(summary["seeds"], serde_json::json!([0, 1]));
    let methods = summary["methods"].as_array().unwrap();
    assert_eq!(methods.len(), 2);
    for (k, m) in methods.iter().enumerate() {
        assert_eq!(m["method"], ["finetune", "l2"][k]);
        assert_eq!(m["n"], 2);
        let accs: Vec<f64> = results[2 * k..2 * k + 2]
            .iter()
            .map(|p| json(p)["average_accuracy"].as_f64().unwrap())
            .collect();
        let mean = (accs[0] + accs[1]) / 2.0;
        let got = m["average_accuracy"]["mean"].as_f64().unwrap();
        assert!((got - mean).abs() < 1e-12, "{got} vs {mean}");
        let sd = (accs[0] - accs[1]).abs() / 2f64.sqrt();
        assert!((m["average_accuracy"]["sd"].as_f64().unwrap() - sd).abs() < 1e-12);
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("| l2 | 2 | ") && md.contains("(SEM "), "{md}");

    // Again: every run is found done and nothing is rewritten.
    let mtimes = |ps: &[PathBuf]| -> Vec<std::time::SystemTime> {
        ps.iter()
            .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
            .collect()
    };
    let before = mtimes(&results);
    let o = grid("compare", &strs(&args), Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    for label in [
        "finetune seed 0",
        "finetune seed 1",
        "l2 seed 0",
        "l2 seed 1",
    ] {
        assert!(
            err.contains(&format!("skip {label}: already done")),
            "{err}"
        );
    }
    assert!(!err.contains("epoch 1/1"), "trained again: {err}");
    assert_eq!(mtimes(&results), before);
    assert_eq!(
        json(&out.join("summary.json"))["methods"],
        summary["methods"]
    );
}

#[test]
fn compare_refuses_a_folder_holding_a_run_with_another_config() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let args = with_small(&["--method", "l2", "--lambda", "5", "--quiet"]);
    let o = run(&strs(&args), Some(&data), &out.join("l2/seed-0"));
    assert!(o.status.success(), "{}", stderr(&o));
    let args = with_small(&["--methods", "finetune,l2", "--seeds", "1"]);
    let o = grid("compare", &strs(&args), Some(&data), &out);
    assert_bad_input(&o, "different config (lambda", &out.join("finetune/seed-0"));
    assert!(stderr(&o).contains("use another --out or delete that folder"));
    assert!(!out.join("summary.json").exists());
}

#[test]
fn compare_applies_each_flag_only_to_the_methods_that_use_it() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let args = with_small(&[
        "--methods",
        "si,l2",
        "--seeds",
        "1",
        "--lambda",
        "5",
        "--quiet",
    ]);
    let o = grid("compare", &strs(&args), Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        o.stdout.is_empty() && o.stderr.is_empty(),
        "--quiet printed something"
    );
    let si = json(&out.join("si/seed-0/result.json"));
    let l2 = json(&out.join("l2/seed-0/result.json"));
    assert_eq!(l2["config"]["lambda"], 5.0);
    // SI's config holds SI's options only.
    assert!(si["config"].get("lambda").is_none(), "{}", si["config"]);
    assert!(out.join("summary.md").exists());
}

#[test]
fn compare_rejects_bad_method_lists_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    for (methods, needle) in [
        ("si,bogus", "unknown method 'bogus'"),
        ("si,l2,si", "lists si twice"),
    ] {
        let o = grid(
            "compare",
            &["--benchmark", "split-mnist", "--methods", methods],
            None,
            &out,
        );
        assert_bad_input(&o, needle, &out);
    }
    // A method-specific flag that no listed method uses is a mistake.
    let o = grid(
        "compare",
        &[
            "--benchmark",
            "split-mnist",
            "--methods",
            "si,l2",
            "--gamma",
            "0.5",
        ],
        None,
        &out,
    );
    assert_bad_input(&o, "--gamma", &out);
    assert!(!out.exists());
}

#[test]
fn sweep_measures_on_validation_and_names_the_best_point() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let args = with_small(&["--method", "l2", "--grid", "lambda=0.1,10", "--seeds", "1"]);
    let o = grid("sweep", &strs(&args), Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    for v in ["0.1", "10"] {
        let r = json(&out.join(format!("lambda={v}/seed-0/result.json")));
        assert_eq!(r["config"]["eval_on"], "validation");
        assert_eq!(r["config"]["lambda"], v.parse::<f64>().unwrap());
    }
    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| 0.1 |") || l.starts_with("| 10 |"))
        .collect();
    assert_eq!(rows.len(), 2, "{md}");
    assert!(md.contains("validation split"), "{md}");
    assert!(md.lines().any(|l| l.starts_with("best: lambda=")), "{md}");
    assert!(md.contains("[l2]\nlambda = "), "{md}");
    let s = json(&out.join("sweep.json"));
    let points = s["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let acc = |i: usize| points[i]["average_accuracy"]["mean"].as_f64().unwrap();
    assert!(acc(0) >= acc(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("best: lambda="));
}

#[test]
fn sweep_rejects_the_test_split_and_unknown_grid_names() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let cases: &[(&[&str], &str)] = &[
        (
            &["--grid", "lambda=1", "--eval-on", "test"],
            "drop --eval-on",
        ),
        (&["--grid", "nosuch=1"], "unknown hyperparameter 'nosuch'"),
        (&["--grid", "lambda=1,x"], "'x' is not a finite number"),
        (&["--grid", "lambda=1", "--lambda", "2"], "both given"),
        (&["--method", "si", "--grid", "lambda=1"], "--lambda"),
    ];
    for (args, needle) in cases {
        let mut a = vec!["--benchmark", "split-mnist"];
        if !args.contains(&"--method") {
            a.extend(["--method", "l2"]);
        }
        a.extend_from_slice(args);
        let o = grid("sweep", &a, None, &out);
        assert_bad_input(&o, needle, &out);
    }
    assert!(!out.exists());
}

/// Writes CIFAR binary files in the real format: `n` records per file, labels cycling over
/// `classes`, pixels bright in a label-dependent block so that the tasks are learnable.
fn write_cifar(dir: &Path, cifar100: bool, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let classes = if cifar100 { 100 } else { 10 };
    let file = |salt: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..n {
            let label = ((i + salt) % classes) as u8;
            if cifar100 {
                out.push(label / 5);
            }
            out.push(label);
            for k in 0..3072 {
                let on = (k / 96) % 10 == label as usize % 10;
                out.push(if on { 200 } else { ((i * 13 + k) % 50) as u8 });
            }
        }
        out
    };
    let names: Vec<String> = if cifar100 {
        vec!["train.bin".into(), "test.bin".into()]
    } else {
        (1..=5)
            .map(|k| format!("data_batch_{k}.bin"))
            .chain(["test_batch.bin".to_string()])
            .collect()
    };
    for (salt, name) in names.iter().enumerate() {
        std::fs::write(dir.join(name), file(salt)).unwrap();
    }
}

#[test]
fn split_cifar_runs_end_to_end_on_generated_data_with_the_cnn() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // CIFAR-10 in its official folder, CIFAR-100 files directly in the data folder.
    write_cifar(&data.join("cifar-10-batches-bin"), false, 40);
    write_cifar(&data, true, 200);
    for (bench, tasks) in [("split-cifar10", "2"), ("split-cifar", "2")] {
        let out = tmp.path().join(bench);
        let o = run(
            &[
                "--benchmark",
                bench,
                "--method",
                "si",
                "--tasks",
                tasks,
                "--epochs",
                "2",
                "--batch-size",
                "32",
            ],
            Some(&data),
            &out,
        );
        assert!(o.status.success(), "{bench}: {}", stderr(&o));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
        assert_eq!(r["benchmark"], bench);
        assert_eq!(r["scenario"], "task");
        let m = r["accuracy_matrix"].as_array().unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.iter().flat_map(|row| row.as_array().unwrap()).all(|v| {
            let v = v.as_f64().unwrap();
            (0.0..=1.0).contains(&v)
        }));
        assert!(stderr(&o).contains("task scenario"), "{}", stderr(&o));
    }
    // --hidden belongs to the MLP; the CNN's widths are fixed.
    let out = tmp.path().join("hidden");
    let o = run(
        &["--benchmark", "split-cifar10", "--hidden", "10"],
        Some(&data),
        &out,
    );
    assert_bad_input(&o, "--hidden has no effect on split-cifar10", &out);
    // Missing CIFAR files: one line saying which file and how to get it.
    let out = tmp.path().join("missing");
    let o = run(
        &["--benchmark", "split-cifar10"],
        Some(&tmp.path().join("none")),
        &out,
    );
    assert_bad_input(&o, "test_batch.bin", &out);
}

#[test]
fn the_cnn_on_our_cpu_kernels_trains_like_burns_layers() {
    // Same run, our convolution/pooling kernels vs burn's (SYNAPTIC_BURN_KERNELS): the sums are
    // added in another order, so losses agree closely and the accuracy matrices exactly.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_cifar(&data.join("cifar-10-batches-bin"), false, 60);
    let go = |name: &str, burn: bool| {
        let out = tmp.path().join(name);
        let mut c = bin();
        c.args([
            "run",
            "--benchmark",
            "split-cifar10",
            "--method",
            "si",
            "--tasks",
            "2",
        ])
        .args([
            "--epochs",
            "3",
            "--batch-size",
            "16",
            "--log",
            "csv",
            "--log-every",
            "1",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&out);
        if burn {
            c.env("SYNAPTIC_BURN_KERNELS", "1");
        }
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
        let csv = std::fs::read_to_string(out.join("logs/scalars.csv")).unwrap();
        let losses: Vec<(String, f64)> = csv
            .lines()
            .skip(1)
            .filter(|l| l.contains("loss"))
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (format!("{},{}", f[0], f[1]), f[2].parse().unwrap())
            })
            .collect();
        (r["accuracy_matrix"].clone(), losses)
    };
    let (ours, burns) = (go("ours", false), go("burn", true));
    assert_eq!(ours.0, burns.0);
    assert_eq!(ours.1.len(), burns.1.len());
    assert!(ours.1.len() >= 20, "{:?}", ours.1);
    for ((ka, a), (kb, b)) in ours.1.iter().zip(&burns.1) {
        assert_eq!(ka, kb);
        assert!(
            (a - b).abs() <= 1e-3 * (1.0 + b.abs()),
            "{ka}: {a} vs burn's {b}"
        );
    }
}

// ---- checkpoints and resume -------------------------------------------------------------

const RESUMABLE: &[&str] = &[
    "--benchmark",
    "split-mnist",
    "--method",
    "si",
    "--tasks",
    "3",
    "--train-limit",
    "200",
    "--test-limit",
    "100",
    "--epochs",
    "2",
    "--checkpoint-every",
    "1",
];

/// The numbers of a result.json that an interrupted and resumed run must reproduce exactly.
fn numbers(path: &Path) -> Vec<(String, serde_json::Value)> {
    let v = json(path);
    [
        "accuracy_matrix",
        "initial_accuracy",
        "average_accuracy",
        "mean_seen_accuracy",
        "backward_transfer",
        "forgetting",
        "forward_transfer",
        "epoch_loss",
        "final_penalty",
        "steps",
        "config",
    ]
    .iter()
    .map(|k| (k.to_string(), v[*k].clone()))
    .collect()
}

#[test]
fn a_run_stopped_after_task_1_and_resumed_matches_the_uninterrupted_run() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (full, cut) = (tmp.path().join("full"), tmp.path().join("cut"));
    let o = run(RESUMABLE, Some(&data), &full);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(full.join("run-config.json").exists());
    assert!(full.join("checkpoints/checkpoint.json").exists());

    let mut c = bin();
    c.arg("run")
        .args(RESUMABLE)
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&cut)
        .env("SYNAPTIC_STOP_AFTER_TASK", "1");
    let o = c.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains(&format!(
            "interrupted: resume with synaptic run --resume {}",
            cut.display()
        )),
        "{err}"
    );
    assert!(!cut.join("result.json").exists());

    // Running the same command again would throw the checkpoints away: refused, pointing at --resume.
    let o = run(RESUMABLE, Some(&data), &cut);
    assert_bad_input(&o, "--resume", &cut);
    assert!(cut.join("checkpoints/checkpoint.json").exists());

    // Flags other than --quiet and --threads are refused with --resume.
    let o = bin()
        .args(["run", "--resume"])
        .arg(&cut)
        .args(["--epochs", "3"])
        .output()
        .unwrap();
    assert_bad_input(&o, "--epochs", &cut);

    let o = bin()
        .args(["run", "--quiet", "--resume"])
        .arg(&cut)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        numbers(&full.join("result.json")),
        numbers(&cut.join("result.json"))
    );

    // A missing, then a corrupt, manifest: one line, exit 2.
    let manifest = cut.join("checkpoints/checkpoint.json");
    std::fs::remove_file(cut.join("result.json")).unwrap();
    std::fs::write(&manifest, b"{ truncated").unwrap();
    let o = bin().args(["run", "--resume"]).arg(&cut).output().unwrap();
    assert_bad_input(&o, "is corrupt", &cut);
    std::fs::remove_file(&manifest).unwrap();
    let o = bin().args(["run", "--resume"]).arg(&cut).output().unwrap();
    assert_bad_input(&o, "checkpoint manifest", &cut);
}

#[test]
fn out_holding_a_different_run_is_refused_unless_overwrite() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = vec!["--benchmark", "split-mnist"];
    args.extend(SMALL);
    let o = run(&args, Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = std::fs::read(out.join("result.json")).unwrap();
    let mut other = args.clone();
    other.extend(["--seed", "7"]);
    let o = run(&other, Some(&data), &out);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("holds a different run") && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(std::fs::read(out.join("result.json")).unwrap(), before);
    other.push("--overwrite");
    let o = run(&other, Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&out.join("result.json"))["seed"], 7);
    // The same config again is not a conflict.
    let o = run(&other[..other.len() - 1], Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Runs `args` uninterrupted into one folder and, into another, stopped after task 1 by the
/// test hook and then resumed; asserts that both result.json files hold the same numbers.
fn stop_after_task_1_and_resume(args: &[&str], data: &Path, what: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let (full, cut) = (tmp.path().join("full"), tmp.path().join("cut"));
    let o = run(args, Some(data), &full);
    assert!(o.status.success(), "{what}: {}", stderr(&o));
    let mut c = bin();
    c.arg("run")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(&cut)
        .env("SYNAPTIC_STOP_AFTER_TASK", "1");
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{what}: {}", stderr(&o));
    let o = bin().args(["run", "--resume"]).arg(&cut).output().unwrap();
    assert!(o.status.success(), "{what}: {}", stderr(&o));
    assert_eq!(
        numbers(&full.join("result.json")),
        numbers(&cut.join("result.json")),
        "{what}"
    );
}

#[test]
fn scratch_and_ewc_runs_resume_to_the_same_numbers() {
    let Some(data) = mnist() else { return };
    for method in ["scratch", "ewc"] {
        let mut args = RESUMABLE.to_vec();
        args[3] = method;
        if method == "ewc" {
            args.extend(["--fisher-samples", "20"]);
        }
        stop_after_task_1_and_resume(&args, &data, method);
    }
}

#[test]
fn cnn_with_dropout_resumes_to_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_cifar(&data.join("cifar-10-batches-bin"), false, 40);
    stop_after_task_1_and_resume(
        &[
            "--benchmark",
            "split-cifar10",
            "--method",
            "si",
            "--tasks",
            "2",
            "--epochs",
            "2",
            "--batch-size",
            "32",
        ],
        &data,
        "split-cifar10",
    );
}

/// Copies a run folder: its files and those of `checkpoints/`.
fn copy_run(from: &Path, to: &Path) {
    for sub in ["", "checkpoints"] {
        std::fs::create_dir_all(to.join(sub)).unwrap();
        for e in std::fs::read_dir(from.join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
}

/// Replaces `from` by `to` in `path`'s text (which must hold it).
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn resume_checks_run_config_and_removes_stale_temporaries() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut");
    let args = [
        "--benchmark",
        "split-mnist",
        "--tasks",
        "2",
        "--train-limit",
        "100",
        "--test-limit",
        "50",
        "--epochs",
        "1",
    ];
    let mut c = bin();
    c.arg("run").args(args).arg("--data-dir").arg(&data);
    c.arg("--out")
        .arg(&cut)
        .env("SYNAPTIC_STOP_AFTER_TASK", "1");
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let manifest = json(&cut.join("checkpoints/checkpoint.json"));
    assert_eq!(manifest["config_sha256"].as_str().map(str::len), Some(64));
    let resume = |dir: &Path| bin().args(["run", "--resume"]).arg(dir).output().unwrap();
    let config = |dir: &Path| dir.join("run-config.json");

    // Out-of-range values are refused as a fresh run's flags are, naming the file.
    for (i, (from, to, needle)) in [
        ("\"c\": 1.0", "\"c\": -5", "run-config.json: c must be"),
        ("\"lr\": 0.001", "\"lr\": -1", "run-config.json: lr must be"),
        (
            "\"epochs\": 1",
            "\"epochs\": 0",
            "run-config.json: epochs must be",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let dir = tmp.path().join(format!("bad{i}"));
        copy_run(&cut, &dir);
        edit(&config(&dir), from, to);
        let o = resume(&dir);
        assert_bad_input(&o, needle, &dir);
        assert_bad_input(&o, "restore it or start a new run with --overwrite", &dir);
    }

    // A valid edit is caught by the digest the checkpoint recorded.
    let dir = tmp.path().join("epochs");
    copy_run(&cut, &dir);
    edit(&config(&dir), "\"epochs\": 1", "\"epochs\": 2");
    let o = resume(&dir);
    assert_bad_input(
        &o,
        "run-config.json was changed after the run started",
        &dir,
    );
    assert_bad_input(&o, "restore it or start a new run with --overwrite", &dir);

    // A checkpoint written before the digest was recorded: still validated, still resumed.
    let old = tmp.path().join("old");
    copy_run(&cut, &old);
    let m = old.join("checkpoints/checkpoint.json");
    let mut v = json(&m);
    v.as_object_mut().unwrap().remove("config_sha256").unwrap();
    std::fs::write(&m, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let bad = tmp.path().join("old-bad");
    copy_run(&old, &bad);
    edit(&config(&bad), "\"lr\": 0.001", "\"lr\": -1");
    assert_bad_input(&resume(&bad), "run-config.json: lr must be", &bad);

    // Temporaries of writes a SIGKILL cut short are gone once the run resumed.
    let stale = [
        old.join("checkpoints/.000001-regularizer.bin.tmp4242"),
        old.join(".result.json.tmp4242"),
        old.join(".run-config.json.tmp17"),
    ];
    for p in &stale {
        std::fs::write(p, b"half a file").unwrap();
    }
    let o = resume(&old);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(old.join("result.json").exists());
    for p in &stale {
        assert!(!p.exists(), "{} survived the resume", p.display());
    }
    let m = json(&old.join("checkpoints/checkpoint.json"));
    assert_eq!(m["config_sha256"], manifest["config_sha256"]);
}

/// A real SIGINT mid-run: checkpoint, exit 130 with the resume hint, then `--resume` finishes
/// with the numbers of an uninterrupted run.
#[cfg(unix)]
#[test]
fn sigint_checkpoints_exits_130_and_the_run_resumes_exactly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let Some(data) = mnist() else { return };
    let args = [
        "--benchmark",
        "split-mnist",
        "--method",
        "si",
        "--tasks",
        "2",
        "--train-limit",
        "2000",
        "--test-limit",
        "100",
        "--epochs",
        "20",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let (full, cut) = (tmp.path().join("full"), tmp.path().join("cut"));
    let mut child = bin()
        .arg("run")
        .args(args)
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&cut)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    // Wait for the first finished epoch, then interrupt.
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("epoch 1/20") {
            break;
        }
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    for line in lines {
        seen.push_str(&line.unwrap());
        seen.push('\n');
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen}");
    assert!(
        seen.contains("interrupted: resume with synaptic run --resume"),
        "{seen}"
    );
    assert!(!cut.join("result.json").exists());
    let m = json(&cut.join("checkpoints/checkpoint.json"));
    assert_eq!(m["reason"], "interrupt", "{m}");
    let o = bin().args(["run", "--resume"]).arg(&cut).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&args, Some(&data), &full);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        numbers(&full.join("result.json")),
        numbers(&cut.join("result.json"))
    );
}

fn assert_png_and_svg(base: &Path) {
    let png = std::fs::read(base.with_extension("png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{}", base.display());
    assert!(png.len() > 5_000, "{}: {} bytes", base.display(), png.len());
    let svg = std::fs::read_to_string(base.with_extension("svg")).unwrap();
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.len() > 2_000);
}

#[test]
fn reproduce_runs_the_papers_grid_reports_beside_the_paper_and_resumes() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("rep");
    let args = [
        "split-mnist",
        "--seeds",
        "1",
        "--tasks",
        "2",
        "--epochs",
        "1",
        "--train-limit",
        "200",
        "--test-limit",
        "100",
    ];
    let o = grid("reproduce", &args, Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("[1/2] si-c=0 seed 0") && err.contains("[2/2] si-c=1 seed 0"),
        "{err}"
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("| SI c=1 (paper) | train | 1.0000 | 1.0000 | 0.9930 | 0.9930 | 0.9890 |"),
        "{stdout}"
    );
    // The paper's c: 0 (its fine-tuning) and 1; its ξ, not a tuned preset.
    for (dir, c) in [("si-c=0", 0.0), ("si-c=1", 1.0)] {
        let r = json(&out.join(dir).join("seed-0/result.json"));
        assert_eq!(r["config"]["c"], c);
        assert_eq!(r["config"]["xi"], 1e-3);
        assert_eq!(r["config"]["preset"], "none");
        // Self-describing run folders.
        assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);
        assert_eq!(r["machine"]["os"], std::env::consts::OS);
        assert_eq!(r["burn_version"], "0.21.0");
        assert!(r["started_unix"].as_u64().unwrap() > 1_600_000_000);
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("### Ours vs the paper") && md.contains("**training-set** accuracy"));
    assert!(md.contains("**Not the paper's protocol**"), "{md}");
    let fig = out.join("figures");
    for f in [
        "split-mnist-task-mean-seen",
        "split-mnist-task-final-per-task",
        "split-mnist-task-matrix-1-si-c-0-seed-0",
        "split-mnist-task-matrix-2-si-c-1-seed-0",
    ] {
        assert_png_and_svg(&fig.join(f));
    }
    // Resumable: a rerun skips both runs and writes the report again.
    std::fs::remove_file(out.join("report.md")).unwrap();
    let o = grid("reproduce", &args, Some(&data), &out);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("[2/2] skip si-c=1 seed 0: already done"));
    assert!(out.join("report.md").exists());

    // `report` on hand-made results: two settings of l2 (λ differs) × two seeds, read from two
    // folders; the table holds their mean ± SEM.
    let hand = tmp.path().join("hand");
    let base = json(&out.join("si-c=1/seed-0/result.json"));
    let rows = [
        ("a", 0.1, 0, [[1.0, 0.5], [0.9, 0.96]]),
        ("a", 0.1, 1, [[0.98, 0.5], [0.95, 1.0]]),
        ("b", 10.0, 0, [[1.0, 0.5], [0.6, 1.0]]),
        ("b", 10.0, 1, [[1.0, 0.5], [0.7, 0.98]]),
    ];
    for (folder, lambda, seed, m) in rows {
        let mut r = base.clone();
        r["method"] = "l2".into();
        r["config"]["method"] = "l2".into();
        r["config"]["c"] = 0.0.into();
        r["config"]["lambda"] = lambda.into();
        r["config"]["seed"] = seed.into();
        r["seed"] = seed.into();
        r["accuracy_matrix"] = serde_json::json!(m);
        let acc = (m[1][0] + m[1][1]) / 2.0;
        r["average_accuracy"] = acc.into();
        r["mean_seen_accuracy"] = serde_json::json!([m[0][0], acc]);
        r["backward_transfer"] = (m[1][0] - m[0][0]).into();
        r["forgetting"] = (m[0][0] - m[1][0]).into();
        r["forward_transfer"] = 0.0.into();
        // FWT = R[0][1] − b₁ = 0: the report recomputes every metric from the matrix.
        r["initial_accuracy"] = serde_json::json!([0.5, 0.5]);
        r["train_seconds"] = (10.0 + seed as f64).into();
        let d = hand.join(folder).join(format!("seed-{seed}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("result.json"), serde_json::to_vec(&r).unwrap()).unwrap();
    }
    let rep = tmp.path().join("report");
    let o = bin()
        .arg("report")
        .arg(hand.join("a"))
        .arg(hand.join("b"))
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(
        md.contains("| L2 λ=0.1 | 2 | 0.9525 ± 0.0225 | -0.0650 ± 0.0350 | 0.0650 ± 0.0350 | +0.0000 ± 0.0000 | 10.5 ± 0.5 |"),
        "{md}"
    );
    assert!(
        md.contains("| L2 λ=10 | 2 | 0.8200 ± 0.0200 | -0.3500 ± 0.0500 | 0.3500 ± 0.0500 |"),
        "{md}"
    );
    assert!(!md.contains("Ours vs the paper"), "L2 has no paper setting");
    assert_png_and_svg(&rep.join("figures/split-mnist-task-mean-seen"));
    assert_png_and_svg(&rep.join("figures/split-mnist-task-matrix-2-l2-10-seed-1"));
}

#[test]
fn report_and_reproduce_reject_bad_input_with_one_line_and_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let one_line = |o: &Output, needle: &str| {
        let err = stderr(o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
    };
    let o = bin().arg("report").arg(&empty).output().unwrap();
    one_line(&o, "holds no result.json");
    assert!(!empty.join("report.md").exists());
    let o = bin()
        .arg("report")
        .arg(tmp.path().join("missing"))
        .output()
        .unwrap();
    one_line(&o, "is not a folder");
    std::fs::create_dir_all(empty.join("run")).unwrap();
    std::fs::write(empty.join("run/result.json"), b"{ not json").unwrap();
    let o = bin().arg("report").arg(&empty).output().unwrap();
    one_line(&o, "is not a synaptic result file");
    let o = bin().arg("report").output().unwrap();
    one_line(&o, "DIR");
    let o = bin()
        .args(["reproduce", "split-cifar10", "--out"])
        .arg(tmp.path().join("r"))
        .output()
        .unwrap();
    one_line(&o, "not 'split-cifar10'");
    let o = bin()
        .args([
            "reproduce",
            "split-mnist",
            "--eval-on",
            "validation",
            "--out",
        ])
        .arg(tmp.path().join("r"))
        .output()
        .unwrap();
    one_line(&o, "test or train");
}

// Messages a user meets: one line each, naming the cause and the fix (issue 13).

#[test]
fn no_arguments_print_the_help_not_the_description_as_an_error() {
    for (args, usage) in [
        (&[][..], "Usage: synaptic <COMMAND>"),
        (&["data"][..], "Usage: synaptic data <COMMAND>"),
    ] {
        let o = bin().args(args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(usage) && err.contains("Commands:"), "{err}");
        assert!(!err.contains("error:"), "{err}");
    }
}

#[test]
fn run_help_shows_that_benchmark_and_out_are_required() {
    let o = bin().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    assert!(
        help.contains("Usage: synaptic run --benchmark <BENCHMARK> --out <OUT> [OPTIONS]"),
        "{help}"
    );
    assert!(help.contains("synaptic run --resume <DIR>"), "{help}");
}

#[test]
fn a_data_dir_that_is_a_file_says_so_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = tmp.path().join("run");
    let o = run(&["--benchmark", "split-mnist"], Some(&file), &out);
    assert_bad_input(&o, "a file, not a folder", &out);
    let o = bin()
        .args(["data", "verify", "mnist", "--data-dir"])
        .arg(&file)
        .output()
        .unwrap();
    assert_bad_input(&o, "a file, not a folder", &out);
    // Before: the OS error, once in the message and once more as its cause.
    assert!(!stderr(&o).contains("os error"), "{}", stderr(&o));
}

#[cfg(unix)]
#[test]
fn a_fifo_or_folder_in_a_data_files_place_is_named() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    for f in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
    ] {
        let name = format!("{f}.gz");
        std::os::unix::fs::symlink(data.join(&name), dir.join(&name)).unwrap();
    }
    let labels = dir.join("t10k-labels-idx1-ubyte.gz");
    let out = tmp.path().join("run");
    std::fs::create_dir(&labels).unwrap();
    let o = run(&["--benchmark", "split-mnist"], Some(&dir), &out);
    assert_bad_input(
        &o,
        "t10k-labels-idx1-ubyte.gz: a directory where a data file belongs",
        &out,
    );
    std::fs::remove_dir(&labels).unwrap();
    let made = Command::new("mkfifo").arg(&labels).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped the FIFO case: no mkfifo");
        return;
    }
    let o = run(&["--benchmark", "split-mnist"], Some(&dir), &out);
    assert_bad_input(&o, "a FIFO (named pipe) where a data file belongs", &out);
}

#[test]
fn float_range_errors_print_readable_bounds_and_values() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = run(&["--benchmark", "split-mnist", "--lr", "1e-40"], None, &out);
    assert_bad_input(
        &o,
        "--lr must be a positive number between 1.2e-38 and 8.5e37, got 1e-40",
        &out,
    );
    let o = run(&["--benchmark", "split-mnist", "--xi", "1e300"], None, &out);
    assert_bad_input(&o, "got 1e300", &out);
}

#[test]
fn a_zero_example_limit_is_refused_not_taken_for_all() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    for flag in ["--train-limit", "--test-limit"] {
        let o = run(&["--benchmark", "split-mnist", flag, "0"], None, &out);
        assert_bad_input(&o, "0 examples cannot train or score", &out);
        assert!(!out.exists());
    }
    let cfg = tmp.path().join("zero.toml");
    std::fs::write(&cfg, "benchmark = \"split-mnist\"\ntrain_limit = 0\n").unwrap();
    let o = run(&["--config", cfg.to_str().unwrap()], None, &out);
    assert_bad_input(&o, "--train-limit must be at least 1 (leave it out", &out);
}

#[test]
fn grid_errors_name_the_grid_entry_not_a_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let o = grid(
        "sweep",
        &[
            "--benchmark",
            "split-mnist",
            "--method",
            "ewc",
            "--grid",
            "lambda=-1",
            "--seeds",
            "1",
        ],
        None,
        &out,
    );
    assert_bad_input(
        &o,
        "--grid lambda=-1: lambda must be 0 or a positive number",
        &out,
    );
    assert!(!stderr(&o).contains("--lambda"), "{}", stderr(&o));
}

#[test]
fn a_checkpoint_that_does_not_decode_is_one_line() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut");
    let o = bin()
        .arg("run")
        .args(SMALL)
        .args(["--benchmark", "split-mnist", "--quiet", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&cut)
        .env("SYNAPTIC_STOP_AFTER_TASK", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    // Half the model's record, with the manifest's hash made to match it.
    let ck = cut.join("checkpoints");
    let manifest = ck.join("checkpoint.json");
    let mut m = json(&manifest);
    let files = m["files"].as_array_mut().unwrap();
    let model = files.iter_mut().find(|f| f["role"] == "model").unwrap();
    let path = ck.join(model["name"].as_str().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    let half = &bytes[..bytes.len() / 2];
    std::fs::write(&path, half).unwrap();
    use sha2::Digest;
    let sha: String = sha2::Sha256::digest(half)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    model["sha256"] = sha.into();
    std::fs::write(&manifest, serde_json::to_vec(&m).unwrap()).unwrap();
    let o = bin()
        .args(["run", "--quiet", "--resume"])
        .arg(&cut)
        .output()
        .unwrap();
    assert_bad_input(&o, "checkpoint model in", &cut);
    let err = stderr(&o);
    assert!(err.contains("--overwrite"), "{err}");
    assert!(
        !err.contains("record-backward-compat") && !err.contains("\\n"),
        "{err}"
    );
}

#[test]
fn a_run_larger_than_the_memory_limit_is_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = run(
        &["--benchmark", "split-mnist", "--max-memory", "10M"],
        None,
        &out,
    );
    assert_bad_input(&o, "this run needs about ", &out);
    let err = stderr(&o);
    for needle in [
        "more than the 10.0 MiB limit given",
        "use a smaller --hidden or --batch-size, or pass a larger --max-memory",
    ] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    assert!(!out.exists());
    // The 17 GB layers of the issue: refused, not aborted on the allocation.
    let o = run(
        &[
            "--benchmark",
            "split-mnist",
            "--hidden",
            "65536,65536",
            "--max-memory",
            "64G",
        ],
        None,
        &out,
    );
    assert_bad_input(&o, "4,347,133,962 parameters", &out);
    let o = run(
        &["--benchmark", "split-cifar", "--max-memory", "100M"],
        None,
        &out,
    );
    assert_bad_input(
        &o,
        "use a smaller --batch-size, or pass a larger --max-memory",
        &out,
    );
    assert!(!stderr(&o).contains("--hidden"));
    let o = bin()
        .args(["run", "--max-memory", "lots"])
        .output()
        .unwrap();
    assert_bad_input(&o, "is not a memory size", &out);
    // A grid checks every run before the first one starts.
    let o = grid(
        "compare",
        &[
            "--benchmark",
            "split-mnist",
            "--methods",
            "si,finetune",
            "--seeds",
            "1",
            "--max-memory",
            "10M",
        ],
        None,
        &out,
    );
    assert_bad_input(&o, "si seed 0: this run needs about", &out);
    assert!(!out.exists());
}
