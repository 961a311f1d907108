//! End-to-end tests of `synaptic report` (and the output folder of `analyze` and `reproduce`) on
//! hand-made result files: no training, no data.

use std::path::{Path, PathBuf};
use std::process::Output;

use synaptic::config::RunConfig;
use synaptic::method::Registry;
use synaptic::report::{write_run, RunResult};
use synaptic::scenario::Benchmark;

#[allow(dead_code)]
mod common;
use common::{bin, stderr};

/// A split-MNIST run of `method` with accuracy matrix `m`, its metrics computed from it.
fn result(method: &str, seed: u64, m: Vec<Vec<f64>>) -> RunResult {
    let mut config = RunConfig::defaults(
        Benchmark::SplitMnist,
        Registry::builtin()
            .defaults(method, Benchmark::SplitMnist)
            .unwrap(),
    );
    config.train.seed = seed;
    config.tasks = m.len();
    let b = vec![0.5; m.len()];
    let x = synaptic::metrics::compute(&m, &b);
    RunResult {
        version: "test".into(),
        benchmark: "split-mnist".into(),
        scenario: "task".into(),
        method: method.into(),
        seed,
        config,
        task_names: (0..m.len()).map(|t| format!("task {t}")).collect(),
        initial_accuracy: b,
        average_accuracy: x.average_accuracy,
        mean_seen_accuracy: x.mean_seen_accuracy,
        backward_transfer: x.backward_transfer,
        forgetting: x.forgetting,
        forward_transfer: x.forward_transfer,
        accuracy_matrix: m,
        epoch_loss: vec![],
        final_penalty: vec![],
        train_seconds: 1.0,
        eval_seconds: 0.0,
        total_seconds: 1.0,
        steps: 0,
        backend: "cpu".into(),
        threads: 1,
        data_dir: String::new(),
        started_unix: 0,
        burn_version: String::new(),
        machine: Default::default(),
    }
}

/// A 2-task run written into `dir`.
fn two_task_run(dir: &Path, seed: u64) -> PathBuf {
    let r = result("si", seed, vec![vec![0.99, 0.5], vec![0.9, 0.98]]);
    write_run(dir, &r).unwrap();
    dir.to_path_buf()
}

/// Asserts a bad-input failure: exit code 2, one `error:` line containing `needle`, no panic.
fn assert_one_line(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(needle), "missing '{needle}' in: {err}");
}

#[test]
fn an_out_that_is_a_file_is_refused_and_nothing_beside_it_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let run = two_task_run(&tmp.path().join("run"), 0);
    let d = tmp.path().join("d");
    std::fs::create_dir_all(d.join("figures")).unwrap();
    std::fs::write(d.join("foo.txt"), b"mine").unwrap();
    std::fs::write(d.join("report.md"), b"an older report").unwrap();
    std::fs::write(d.join("figures/keep.png"), b"x").unwrap();
    let o = bin()
        .arg("report")
        .arg(&run)
        .arg("--out")
        .arg(d.join("foo.txt"))
        .output()
        .unwrap();
    assert_one_line(&o, "is a file, not a folder");
    assert_one_line(&o, "foo.txt");
    assert_eq!(std::fs::read(d.join("foo.txt")).unwrap(), b"mine");
    assert_eq!(
        std::fs::read(d.join("report.md")).unwrap(),
        b"an older report"
    );
    assert_eq!(std::fs::read_dir(d.join("figures")).unwrap().count(), 1);
    assert!(!d.join("report.json").exists());

    // reproduce refuses the same --out before anything trains or loads data.
    let o = bin()
        .args(["reproduce", "split-mnist", "--data-dir"])
        .arg(tmp.path().join("no-data"))
        .arg("--out")
        .arg(d.join("foo.txt"))
        .output()
        .unwrap();
    assert_one_line(&o, "is a file, not a folder");
    assert_eq!(
        std::fs::read(d.join("report.md")).unwrap(),
        b"an older report"
    );

    // Without --out, `report DIR/result.json` still writes beside the file.
    let o = bin()
        .arg("report")
        .arg(run.join("result.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(run.join("report.md").is_file());
}
