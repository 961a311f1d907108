//! Refactors keep every number: short runs of each method and mode, compared bit for bit with
//! values recorded before a change (`tests/golden/runs.json`).
//!
//! The numbers depend on the CPU's matrix kernels (gemm picks AVX-512 or AVX2 at run time, which
//! rounds differently), so the file records which kind recorded them and a machine of the other
//! kind says so and checks only that the runs finish. Re-record deliberately, after a change that
//! is meant to move numbers: `GOLDEN_RECORD=1 cargo test --release --test golden`.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

mod common;
use common::{bin, mnist, stderr};

/// The recorded cases: a name and the `run` arguments (data folder and `--out` added).
const CASES: &[(&str, &[&str])] = &[
    ("si", &["--method", "si"]),
    (
        "si-variants",
        &[
            "--method",
            "si",
            "--si-grad",
            "total",
            "--si-clamp",
            "none",
            "--si-half",
            "--si-cap",
            "0.5",
        ],
    ),
    ("ewc", &["--method", "ewc"]),
    (
        "online-ewc",
        &[
            "--method",
            "online-ewc",
            "--gamma",
            "0.7",
            "--fisher",
            "empirical",
        ],
    ),
    ("mas", &["--method", "mas"]),
    ("l2", &["--method", "l2", "--exclude", "layers.2.*"]),
    ("finetune", &["--method", "finetune"]),
    ("joint", &["--method", "joint"]),
    ("scratch", &["--method", "scratch"]),
    (
        "si-class",
        &["--method", "si", "--scenario", "class", "--preset", "none"],
    ),
    (
        "ewc-domain-permuted",
        &[
            "--benchmark",
            "permuted-mnist",
            "--method",
            "ewc",
            "--hidden",
            "64,32",
            "--batch-size",
            "64",
        ],
    ),
];

/// What every case shares: split MNIST (unless a case names another), 3 tasks, 1 epoch, small slices.
const SMALL: &[&str] = &[
    "--tasks",
    "3",
    "--epochs",
    "1",
    "--train-limit",
    "300",
    "--test-limit",
    "200",
    "--threads",
    "2",
];

fn golden_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/runs.json")
}

/// The kind of matrix kernels this CPU gets, as recorded beside the numbers.
fn kernels() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "x86_64-avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "x86_64-avx2";
        }
    }
    "other"
}

/// Runs one case and returns the numbers the golden file keeps.
fn numbers(data: &Path, args: &[&str], out: &Path) -> Value {
    let mut c = bin();
    c.arg("run");
    if !args.contains(&"--benchmark") {
        c.args(["--benchmark", "split-mnist"]);
    }
    c.args(args)
        .args(SMALL)
        .arg("--quiet")
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out);
    let o = c.output().unwrap();
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let r: Value =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    json!({
        "accuracy_matrix": r["accuracy_matrix"],
        "initial_accuracy": r["initial_accuracy"],
        "epoch_loss": r["epoch_loss"],
        "final_penalty": r["final_penalty"],
        "steps": r["steps"],
    })
}

#[test]
fn short_runs_of_every_method_give_the_recorded_numbers_bit_for_bit() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let mut got = serde_json::Map::new();
    for (name, args) in CASES {
        got.insert(
            name.to_string(),
            numbers(&data, args, &tmp.path().join(name)),
        );
    }
    if std::env::var_os("GOLDEN_RECORD").is_some() {
        let file = json!({ "kernels": kernels(), "runs": got });
        std::fs::create_dir_all(golden_file().parent().unwrap()).unwrap();
        std::fs::write(
            golden_file(),
            serde_json::to_string_pretty(&file).unwrap() + "\n",
        )
        .unwrap();
        eprintln!("recorded {}", golden_file().display());
        return;
    }
    let want: Value = serde_json::from_slice(&std::fs::read(golden_file()).unwrap()).unwrap();
    if want["kernels"] != kernels() {
        eprintln!(
            "skipped the comparison: numbers recorded with {} kernels, this CPU has {}",
            want["kernels"],
            kernels()
        );
        return;
    }
    for (name, _) in CASES {
        let (w, g) = (&want["runs"][name], &got[*name]);
        assert!(
            !w.is_null(),
            "{name} is not recorded: re-record the golden file"
        );
        for key in [
            "accuracy_matrix",
            "initial_accuracy",
            "epoch_loss",
            "final_penalty",
            "steps",
        ] {
            assert_eq!(
                &w[key], &g[key],
                "{name}: {key} differs from the recorded run"
            );
        }
    }
    // The comparison can fail: the recorded runs differ from each other.
    assert_ne!(
        want["runs"]["si"]["epoch_loss"],
        want["runs"]["finetune"]["epoch_loss"]
    );
}
