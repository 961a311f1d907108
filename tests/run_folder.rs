//! End-to-end tests of a run folder's life: one process at a time (the lock), a finished run
//! left alone, interrupted grids resumed exactly, and a resumed run's clock.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

mod common;
use common::{bin, mnist, stderr};

const SMALL: &[&str] = &[
    "--benchmark",
    "split-mnist",
    "--tasks",
    "2",
    "--train-limit",
    "300",
    "--test-limit",
    "200",
    "--epochs",
    "1",
];

/// Training that lasts a few seconds: long enough to be caught running.
const LONG: &[&str] = &[
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

/// `synaptic SUB ARGS --data-dir DATA --out OUT`, run to completion.
fn synaptic(sub: &str, args: &[&str], data: &Path, out: &Path) -> Output {
    command(sub, args, data, out).output().unwrap()
}

fn command(sub: &str, args: &[&str], data: &Path, out: &Path) -> Command {
    let mut c = bin();
    c.arg(sub)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out);
    c
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Asserts a refusal: exit code 2 and one `error:` line holding every needle.
fn assert_refused(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "missing '{n}' in: {err}");
    }
}

/// A process started with its standard error piped, and the lines read from it so far.
struct Running {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStderr>>,
    seen: String,
}

impl Running {
    fn start(mut c: Command) -> Self {
        let mut child = c.stderr(Stdio::piped()).spawn().unwrap();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        Running {
            child,
            lines,
            seen: String::new(),
        }
    }

    /// Reads standard error until a line holds `needle`.
    fn wait_for(&mut self, needle: &str) {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            self.seen.push_str(&line);
            self.seen.push('\n');
            if line.contains(needle) {
                return;
            }
        }
        panic!(
            "the process ended without printing '{needle}':\n{}",
            self.seen
        );
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the end; returns the exit code and all of standard error.
    fn finish(mut self) -> (Option<i32>, String) {
        for line in self.lines.by_ref() {
            self.seen.push_str(&line.unwrap());
            self.seen.push('\n');
        }
        let status = self.child.wait().unwrap();
        (status.code(), self.seen)
    }
}

#[cfg(unix)]
#[test]
fn a_second_process_on_a_run_folder_is_refused_and_a_dead_holders_lock_is_taken_over() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The folder of a compare cell, so that compare meets the same lock.
    let grid = tmp.path().join("cmp");
    let out = grid.join("si/seed-0");
    let mut a = Running::start(command("run", LONG, &data, &out));
    a.wait_for("epoch 1/20");
    let pid = format!("pid {}", a.child.id());
    assert!(out.join("run.lock").exists());

    // Another run, with --overwrite even: refused, nothing of the first run touched.
    let config = std::fs::read(out.join("run-config.json")).unwrap();
    let mut other = SMALL.to_vec();
    other.extend(["--seed", "7", "--overwrite"]);
    let o = synaptic("run", &other, &data, &out);
    assert_refused(&o, &["is in use by another synaptic process", &pid, "kill"]);
    assert_eq!(std::fs::read(out.join("run-config.json")).unwrap(), config);
    // --resume and a grid whose cell this folder is: refused the same way.
    let o = bin().args(["run", "--resume"]).arg(&out).output().unwrap();
    assert_refused(&o, &[&pid]);
    let mut cmp = SMALL.to_vec();
    cmp.extend(["--methods", "si", "--seeds", "1"]);
    let o = synaptic("compare", &cmp, &data, &grid);
    assert_refused(&o, &["si seed 0: ", &pid]);

    // Killed outright, the first process leaves its lock behind; the next run takes it over.
    a.signal("-KILL");
    let (code, _) = a.finish();
    assert_eq!(code, None);
    assert!(out.join("run.lock").exists());
    let o = synaptic("run", &other, &data, &out);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let took: Vec<&str> = err.lines().filter(|l| l.contains("taking over")).collect();
    assert_eq!(took.len(), 1, "{err}");
    assert!(
        took[0].contains(&pid) && took[0].contains("no longer runs"),
        "{err}"
    );
    assert_eq!(json(&out.join("result.json"))["seed"], 7);
    assert!(!out.join("run.lock").exists());
}

#[test]
fn an_error_exit_releases_the_lock() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut args = SMALL.to_vec();
    args.extend(["--lr", "1e30", "--quiet"]);
    let o = synaptic("run", &args, &data, &out);
    assert_refused(&o, &["loss is not finite"]);
    assert!(out.join("run-config.json").exists());
    assert!(!out.join("run.lock").exists());
}

/// Modification times and contents of every file under `dir`.
fn snapshot(dir: &Path) -> Vec<(PathBuf, SystemTime, Vec<u8>)> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                let m = std::fs::metadata(&p).unwrap().modified().unwrap();
                files.push((p.clone(), m, std::fs::read(&p).unwrap()));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

#[test]
fn a_finished_run_is_left_alone_by_the_same_command_and_by_resume_and_overwrite_replaces_it() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = synaptic("run", SMALL, &data, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let before = snapshot(&out);

    let o = synaptic("run", SMALL, &data, &out);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("already finished") && err.contains("--overwrite"),
        "{err}"
    );
    assert!(!err.contains("epoch 1/1"), "trained again: {err}");
    assert_eq!(snapshot(&out), before);

    let o = bin().args(["run", "--resume"]).arg(&out).output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("already finished"), "{err}");
    assert!(!err.contains("resuming"), "{err}");
    assert_eq!(snapshot(&out), before);

    let mut again = SMALL.to_vec();
    again.push("--overwrite");
    let o = synaptic("run", &again, &data, &out);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("after task 2/2"), "not retrained: {err}");
    let result = out.join("result.json");
    let old = &before.iter().find(|f| f.0 == result).unwrap().1;
    assert_ne!(
        &std::fs::metadata(&result).unwrap().modified().unwrap(),
        old
    );
}

const RESUMABLE: &[&str] = &[
    "--benchmark",
    "split-mnist",
    "--method",
    "si",
    "--tasks",
    "3",
    "--train-limit",
    "300",
    "--test-limit",
    "100",
    "--epochs",
    "2",
];

#[test]
fn a_resumed_run_counts_the_time_of_every_process_from_the_first_start() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = Instant::now();
    let o = command("run", RESUMABLE, &data, &out)
        .env("SYNAPTIC_STOP_AFTER_TASK", "1")
        .output()
        .unwrap();
    let w1 = clock.elapsed().as_secs_f64();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    // The gap between the processes is no part of the run.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let clock = Instant::now();
    let o = bin().args(["run", "--resume"]).arg(&out).output().unwrap();
    let w2 = clock.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", stderr(&o));
    let r = json(&out.join("result.json"));
    let total = r["total_seconds"].as_f64().unwrap();
    let train = r["train_seconds"].as_f64().unwrap();
    // More than the second process alone ran, less than both did.
    assert!(total > w2 && total < w1 + w2, "{total} vs {w1} + {w2}");
    assert!(total >= train, "{total} < train {train}");
    let started = r["started_unix"].as_u64().unwrap();
    assert!((t0..=t0 + 1).contains(&started), "{started} vs {t0}");

    // --resume of the finished run rewrites neither.
    let o = bin().args(["run", "--resume"]).arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(json(&out.join("result.json")), r);
}

/// The numbers of a result.json that an interrupted and resumed run must reproduce exactly.
fn numbers(path: &Path) -> Vec<(String, serde_json::Value)> {
    let v = json(path);
    [
        "accuracy_matrix",
        "initial_accuracy",
        "average_accuracy",
        "backward_transfer",
        "forgetting",
        "epoch_loss",
        "final_penalty",
        "steps",
        "config",
    ]
    .iter()
    .map(|k| (k.to_string(), v[*k].clone()))
    .collect()
}

/// A SIGTERM while the first cell of a compare grid trains: a checkpoint, exit 130 and the
/// rerun hint; the same command then continues that cell from its checkpoint and the grid ends
/// with the numbers of an uninterrupted one, bit for bit.
#[cfg(unix)]
#[test]
fn an_interrupted_grid_resumes_its_unfinished_run_from_the_checkpoint_exactly() {
    let Some(data) = mnist() else { return };
    // One cell at a time, so that the second has not started when the first is stopped
    // (tests/grid.rs stops a grid of concurrent cells).
    let args = [
        "--methods",
        "si,l2",
        "--seeds",
        "1",
        "--benchmark",
        "split-mnist",
        "--tasks",
        "2",
        "--train-limit",
        "2000",
        "--test-limit",
        "100",
        "--epochs",
        "3",
        "--jobs",
        "1",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let (full, cut) = (tmp.path().join("full"), tmp.path().join("cut"));
    let first = cut.join("si/seed-0");
    let mut g = Running::start(command("compare", &args, &data, &cut));
    // The first cell's first task is done (and checkpointed as it finishes): stop mid-cell.
    g.wait_for("after task 1/2");
    g.signal("-TERM");
    let (code, err) = g.finish();
    assert_eq!(code, Some(130), "{err}");
    let hint: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("interrupted: "))
        .collect();
    assert_eq!(hint.len(), 1, "{err}");
    assert!(
        hint[0].contains("continue with the same command: synaptic compare --methods si,l2"),
        "{err}"
    );
    assert!(!first.join("result.json").exists(), "{err}");
    let m = json(&first.join("checkpoints/checkpoint.json"));
    assert_eq!(m["task"], 1, "{m}");
    assert!(!first.join("run.lock").exists());
    assert!(!cut.join("l2").exists());

    let o = synaptic("compare", &args, &data, &cut);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("[1/2] si seed 0: resuming at task 2/2"),
        "{err}"
    );
    let si_part = err.split("[2/2]").next().unwrap();
    assert!(
        si_part.contains("task 2/2") && !si_part.contains("task 1/2"),
        "task 1 trained again: {err}"
    );
    let o = synaptic("compare", &args, &data, &full);
    assert!(o.status.success(), "{}", stderr(&o));
    for cell in ["si/seed-0", "l2/seed-0"] {
        let (a, b) = (full.join(cell), cut.join(cell));
        assert_eq!(
            numbers(&a.join("result.json")),
            numbers(&b.join("result.json")),
            "{cell}"
        );
    }
    let summary = |d: &Path| {
        json(&d.join("summary.json"))["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["average_accuracy"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&full), summary(&cut));
}
