//! End-to-end tests of the live logs (`--log tensorboard,csv`) on a small slice of real MNIST:
//! what `run` and the grid commands write, read back with synaptic's own reader and, where a
//! Python with the `tensorboard` package is found, with TensorBoard's `EventAccumulator`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use synaptic::log::csv::read_rows;
use synaptic::log::proto::{Body, Data};
use synaptic::log::tensorboard::{event_files, read_events};

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

/// `synaptic SUB ARGS SMALL --data-dir DATA --out OUT`, with extra environment `env`.
fn synaptic(sub: &str, args: &[&str], data: &Path, out: &Path, env: &[(&str, &str)]) -> Output {
    let mut c = bin();
    c.arg(sub)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn run_args(method: &str, extra: &[&'static str]) -> Vec<&'static str> {
    let method: &'static str = Box::leak(method.to_string().into_boxed_str());
    let mut a = vec!["--method", method];
    a.extend(SMALL);
    a.extend(extra);
    a
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// (tag, step, value) of the CSV, in file order.
fn csv(logs: &Path) -> Vec<(String, i64, f64)> {
    read_rows(&logs.join("scalars.csv"))
        .unwrap()
        .into_iter()
        .map(|r| (r.tag, r.step, r.value))
        .collect()
}

/// (tag, step, value) of every scalar in the event files, in TensorBoard's reading order, and
/// the text summaries as (tag, step, text).
#[allow(clippy::type_complexity)]
fn events(logs: &Path) -> (Vec<(String, i64, f32)>, Vec<(String, i64, String)>) {
    let (mut scalars, mut texts) = (Vec::new(), Vec::new());
    for f in event_files(logs).unwrap() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("events.out.tfevents."), "{name}");
        let evs = read_events(&f).unwrap();
        assert_eq!(
            evs[0].body,
            Body::FileVersion("brain.Event:2".into()),
            "{name}"
        );
        for ev in evs {
            if let Body::Summary(vs) = ev.body {
                for v in vs {
                    match v.data {
                        Data::Scalar(x) => scalars.push((v.tag, ev.step, x)),
                        Data::Text(t) => texts.push((v.tag, ev.step, t)),
                        Data::Other => panic!("unexpected value {}", v.tag),
                    }
                }
            }
        }
    }
    (scalars, texts)
}

fn as_f32(rows: &[(String, i64, f64)]) -> Vec<(String, i64, f32)> {
    rows.iter()
        .map(|(t, s, v)| (t.clone(), *s, *v as f32))
        .collect()
}

fn value(rows: &[(String, i64, f64)], tag: &str) -> Vec<(i64, f64)> {
    rows.iter()
        .filter(|r| r.0 == tag)
        .map(|r| (r.1, r.2))
        .collect()
}

/// A Python that imports `tensorboard`: `$SYNAPTIC_TB_PYTHON`, else `python3`; `None` with a
/// printed reason when there is none.
fn tensorboard_python() -> Option<String> {
    let (python, explicit) = match std::env::var("SYNAPTIC_TB_PYTHON") {
        Ok(p) => (p, true),
        Err(_) => ("python3".to_string(), false),
    };
    let ok = Command::new(&python)
        .args(["-c", "import tensorboard"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            !explicit,
            "SYNAPTIC_TB_PYTHON={python} cannot import tensorboard"
        );
        eprintln!(
            "skipped the EventAccumulator check: {python} cannot import tensorboard (set SYNAPTIC_TB_PYTHON to a python that can, e.g. after `python3 -m venv /tmp/tbenv && /tmp/tbenv/bin/pip install tensorboard`)"
        );
        return None;
    }
    Some(python)
}

/// What TensorBoard's own `EventAccumulator` reads from `logs`: per scalar tag its (step,
/// value) list, per tensor tag its (step, text, plugin) list.
#[allow(clippy::type_complexity)]
fn accumulated(
    python: &str,
    logs: &Path,
) -> (
    BTreeMap<String, Vec<(i64, f64)>>,
    BTreeMap<String, Vec<(i64, String, String)>>,
) {
    const SCRIPT: &str = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
ea.Reload()
tags = ea.Tags()
print(json.dumps({
    "scalars": {t: [[e.step, e.value] for e in ea.Scalars(t)] for t in tags["scalars"]},
    "tensors": {t: [[e.step, e.tensor_proto.string_val[0].decode(),
                     ea.SummaryMetadata(t).plugin_data.plugin_name] for e in ea.Tensors(t)]
                for t in tags["tensors"]},
}))
"#;
    let o = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(logs)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    #[derive(serde::Deserialize)]
    struct Read {
        scalars: BTreeMap<String, Vec<(i64, f64)>>,
        tensors: BTreeMap<String, Vec<(i64, String, String)>>,
    }
    let r: Read = serde_json::from_slice(&o.stdout).unwrap();
    (r.scalars, r.tensors)
}

/// Checks `logs` with EventAccumulator against the CSV: the same tags, steps and values (as
/// f32), and the config text once, for the text plugin.
fn check_with_tensorboard(logs: &Path) {
    let Some(python) = tensorboard_python() else {
        return;
    };
    let rows = csv(logs);
    let (scalars, tensors) = accumulated(&python, logs);
    let mut want: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for (t, s, v) in &rows {
        want.entry(t.clone())
            .or_default()
            .push((*s, *v as f32 as f64));
    }
    assert_eq!(scalars, want, "{}", logs.display());
    let config = &tensors["config"];
    assert_eq!(config.len(), 1, "{config:?}");
    assert_eq!((config[0].0, config[0].2.as_str()), (0, "text"));
    assert!(
        config[0].1.contains("| benchmark | split-mnist |"),
        "{}",
        config[0].1
    );
}

#[test]
fn run_logs_every_scalar_in_tensorboard_and_csv_and_changes_no_number() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (plain, logged) = (tmp.path().join("plain"), tmp.path().join("logged"));
    let o = synaptic("run", &run_args("si", &[]), &data, &plain, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let args = run_args("si", &["--log", "tensorboard,csv", "--log-every", "3"]);
    let o = synaptic("run", &args, &data, &logged, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("live logs: "), "{}", stderr(&o));

    // Logging changes no number, and result.json does not mention it.
    let (a, r) = (
        json(&plain.join("result.json")),
        json(&logged.join("result.json")),
    );
    for k in [
        "accuracy_matrix",
        "epoch_loss",
        "final_penalty",
        "steps",
        "config",
    ] {
        assert_eq!(a[k], r[k], "{k}");
    }
    assert!(r["config"].get("log").is_none());
    assert_eq!(
        json(&logged.join("run-config.json"))["config"]["log"],
        serde_json::json!(["tensorboard", "csv"])
    );

    let logs = logged.join("logs");
    let rows = csv(&logs);
    let steps = r["steps"].as_i64().unwrap();
    // Split MNIST's first two tasks, 300 examples each, batch 64: 5 steps per task.
    assert_eq!(steps, 10);
    let every3: Vec<i64> = value(&rows, "train/loss").iter().map(|x| x.0).collect();
    assert_eq!(every3, [3, 6, 9]);
    assert_eq!(value(&rows, "train/penalty").len(), 3);
    let epoch_loss: Vec<(i64, f64)> = r["epoch_loss"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(t, l)| (5 * (t as i64 + 1), l[0].as_f64().unwrap()))
        .collect();
    assert_eq!(value(&rows, "train/epoch_loss"), epoch_loss);
    let m = r["accuracy_matrix"].as_array().unwrap();
    for (j, tag) in ["accuracy/task_01", "accuracy/task_02"].iter().enumerate() {
        let want: Vec<(i64, f64)> = (0..2)
            .map(|i| (5 * (i as i64 + 1), m[i][j].as_f64().unwrap()))
            .collect();
        assert_eq!(value(&rows, tag), want, "{tag}");
    }
    let seen: Vec<f64> = r["mean_seen_accuracy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(
        value(&rows, "accuracy/mean_seen"),
        [(5, seen[0]), (10, seen[1])]
    );
    for (tag, key) in [
        ("metrics/acc", "average_accuracy"),
        ("metrics/bwt", "backward_transfer"),
        ("metrics/forgetting", "forgetting"),
        ("metrics/fwt", "forward_transfer"),
    ] {
        assert_eq!(value(&rows, tag), [(10, r[key].as_f64().unwrap())], "{tag}");
    }

    // The event file holds the same scalars, in the same order, and the settings as text.
    let (scalars, texts) = events(&logs);
    assert_eq!(event_files(&logs).unwrap().len(), 1);
    assert_eq!(scalars, as_f32(&rows));
    assert_eq!(texts.len(), 1);
    assert_eq!((texts[0].0.as_str(), texts[0].1), ("config", 0));
    assert!(texts[0].2.contains("| method | si |"), "{}", texts[0].2);
    check_with_tensorboard(&logs);
}

#[test]
fn a_resumed_run_continues_its_logs_without_repeating_a_step() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (full, cut, late) = (
        tmp.path().join("full"),
        tmp.path().join("cut"),
        tmp.path().join("late"),
    );
    let args = run_args(
        "si",
        &["--log", "tensorboard,csv", "--log-every", "2", "--quiet"],
    );
    let o = synaptic("run", &args, &data, &full, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = synaptic(
        "run",
        &args,
        &data,
        &cut,
        &[("SYNAPTIC_STOP_AFTER_TASK", "1")],
    );
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    // Another copy whose logs ran past the checkpoint, as when a process is killed after
    // logging a step but before its next checkpoint: here, the whole run's logs.
    copy_dir(&cut, &late);
    std::fs::remove_dir_all(late.join("logs")).unwrap();
    copy_dir(&full.join("logs"), &late.join("logs"));

    let (want_scalars, _) = events(&full.join("logs"));
    let want_rows = csv(&full.join("logs"));
    for dir in [&cut, &late] {
        let o = bin()
            .args(["run", "--quiet", "--resume"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let logs = dir.join("logs");
        assert_eq!(event_files(&logs).unwrap().len(), 2, "{}", dir.display());
        let (scalars, texts) = events(&logs);
        assert_eq!(scalars, want_scalars, "{}", dir.display());
        assert_eq!(texts.len(), 1, "{}", dir.display());
        assert_eq!(csv(&logs), want_rows, "{}", dir.display());
        // The new file holds only what follows the checkpoint after task 1 (step 5).
        let second = &event_files(&logs).unwrap()[1];
        let first_step = read_events(second)
            .unwrap()
            .into_iter()
            .find(|e| matches!(e.body, Body::Summary(_)))
            .map(|e| e.step);
        assert_eq!(first_step, Some(6), "{}", dir.display());
        check_with_tensorboard(&logs);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p: PathBuf = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn every_grid_command_logs_each_cell_in_its_run_folder() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let grid = tmp.path().join("grid");
    let mut plain = vec!["--methods", "finetune,si", "--seeds", "1"];
    plain.extend(SMALL);
    let mut args = plain.clone();
    args.extend(["--log", "tensorboard", "--log-every", "2"]);
    let o = synaptic("compare", &args, &data, &grid, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for m in ["finetune", "si"] {
        let logs = grid.join(m).join("seed-0/logs");
        let (scalars, texts) = events(&logs);
        assert!(scalars.iter().any(|s| s.0 == "metrics/acc"), "{m}");
        assert!(texts[0].2.contains(&format!("| method | {m} |")), "{m}");
        assert!(!logs.join("scalars.csv").exists());
        // finetune has no penalty to log.
        let penalties = scalars.iter().filter(|s| s.0 == "train/penalty").count();
        assert_eq!(penalties == 0, m == "finetune", "{m}");
    }
    // Logs are no part of a run's identity: the same grid without them is already done.
    let o = synaptic("compare", &plain, &data, &grid, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("skip si seed 0: already done"),
        "{}",
        stderr(&o)
    );

    let sweep = tmp.path().join("sweep");
    let mut args = vec![
        "--method", "si", "--grid", "c=0.1,1", "--seeds", "1", "--log", "csv",
    ];
    args.extend(SMALL);
    let o = synaptic("sweep", &args, &data, &sweep, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for point in ["c=0.1", "c=1"] {
        let rows = csv(&sweep.join(point).join("seed-0/logs"));
        assert_eq!(value(&rows, "metrics/acc").len(), 1, "{point}");
    }

    let rep = tmp.path().join("rep");
    let o = bin()
        .args([
            "reproduce",
            "split-mnist",
            "--seeds",
            "1",
            "--tasks",
            "2",
            "--epochs",
            "1",
        ])
        .args([
            "--train-limit",
            "200",
            "--test-limit",
            "100",
            "--log",
            "csv",
            "--log-every",
            "1",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for setting in ["si-c=0", "si-c=1"] {
        let rows = csv(&rep.join(setting).join("seed-0/logs"));
        // Every step sampled: 200 examples per task, batch 64, 4 steps per task.
        let steps: Vec<i64> = value(&rows, "train/loss").iter().map(|x| x.0).collect();
        assert_eq!(steps, (1..=8).collect::<Vec<_>>(), "{setting}");
    }
}

#[test]
fn bad_log_options_are_one_line_errors() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bad");
    for (extra, needle) in [
        (
            &["--log", "wandb"][..],
            "unknown log format 'wandb': use tensorboard or csv",
        ),
        (
            &["--log-every", "10"],
            "--log-every has no effect without --log",
        ),
        (
            &["--log", "csv", "--log-every", "0"],
            "--log-every must be between 1 and",
        ),
    ] {
        let o = synaptic("run", &run_args("si", extra), &data, &out, &[]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{extra:?}: {err}"
        );
        assert!(!out.join("logs").exists());
    }
}
