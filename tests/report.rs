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
        layout: Default::default(),
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

#[test]
fn a_bad_accuracy_matrix_is_refused_naming_the_file_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let good = two_task_run(&tmp.path().join("runs/good"), 0);
    let bad = tmp.path().join("runs/bad");
    let out = tmp.path().join("out");
    for (matrix, needle) in [
        (serde_json::json!([]), "accuracy_matrix is empty"),
        (
            serde_json::json!([[0.9, 0.5], [0.8]]),
            "row 2 of its accuracy_matrix has 1 value, want 2",
        ),
        (
            serde_json::json!([[0.9, 0.5], [-5.0, 0.9]]),
            "accuracy_matrix[1][0] is -5",
        ),
        (
            serde_json::json!([[0.9, 1e308], [0.8, 0.9]]),
            "accuracy_matrix[0][1] is 1e308",
        ),
    ] {
        let mut r =
            serde_json::to_value(result("si", 1, vec![vec![0.9, 0.5], vec![0.8, 0.9]])).unwrap();
        r["accuracy_matrix"] = matrix;
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join("result.json"), serde_json::to_vec(&r).unwrap()).unwrap();
        let o = bin()
            .arg("report")
            .arg(&good)
            .arg(&bad)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_one_line(&o, needle);
        assert_one_line(&o, &bad.join("result.json").display().to_string());
        assert!(!out.join("report.md").exists() && !out.join("figures").exists());
    }
}

#[test]
fn a_copied_run_counts_once_with_a_warning_naming_both_folders() {
    let tmp = tempfile::tempdir().unwrap();
    let a = two_task_run(&tmp.path().join("runs/a"), 0);
    let copy = tmp.path().join("runs/copy");
    std::fs::create_dir_all(&copy).unwrap();
    std::fs::copy(a.join("result.json"), copy.join("result.json")).unwrap();
    let out = tmp.path().join("out");
    let o = bin()
        .arg("report")
        .arg(tmp.path().join("runs"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    let want = format!(
        "warning: {} and {} hold the same setting with the same seed (0): counted once",
        a.display(),
        copy.display()
    );
    assert!(err.contains(&want), "{err}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| SI | 1 | 0.9400 |"), "{md}");
    assert!(
        md.contains("(1 run, seed 0)") && md.contains("backend cpu, 1 thread\n"),
        "{md}"
    );
}

/// 600 tasks (a 600×600 matrix) once made plotters panic after allocating gigabytes: the report
/// now draws bounded figures, within a 1 GB address-space limit and in seconds.
#[cfg(target_os = "linux")]
#[test]
fn a_600_task_result_reports_in_bounded_memory_and_time() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 600;
    let m: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| ((i * 7 + j * 3) % 100) as f64 / 100.0)
                .collect()
        })
        .collect();
    let run = tmp.path().join("run");
    write_run(&run, &result("si", 0, m)).unwrap();
    let started = std::time::Instant::now();
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1000000 && exec \"$0\" report \"$1\" --quiet")
        .arg(env!("CARGO_BIN_EXE_synaptic"))
        .arg(&run)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    let mut figures = 0;
    for e in std::fs::read_dir(run.join("figures")).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::metadata(&p).unwrap().len();
        assert!(bytes < 3_000_000, "{}: {bytes} bytes", p.display());
        if p.extension().is_some_and(|x| x == "png") {
            let b = std::fs::read(&p).unwrap();
            let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            assert!(be(16) <= 1100 && be(20) <= 1000, "{}", p.display());
        }
        figures += 1;
    }
    assert_eq!(figures, 6);
}
