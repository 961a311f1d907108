use super::*;
use crate::log::proto::{Body, Event};
use crate::train::{EpochReport, Position, TrainOutcome};

const TASKS: usize = 2;
const EPOCHS: usize = 2;
const STEPS: usize = 3;

fn logs(formats: &[LogFormat], every: usize) -> LiveLogs {
    LiveLogs {
        log: formats.to_vec(),
        log_every: every,
    }
}

fn outcome(rows: Vec<Vec<f64>>, steps: usize) -> TrainOutcome {
    TrainOutcome {
        accuracy_matrix: rows,
        initial_accuracy: vec![0.5, 0.25],
        epoch_loss: Vec::new(),
        final_penalty: Vec::new(),
        train_seconds: 0.0,
        eval_seconds: 0.0,
        steps,
    }
}

fn row(t: usize) -> Vec<f64> {
    [vec![0.9, 0.4], vec![0.7, 0.95]][t].clone()
}

/// Calls `log` as the training loop would for tasks `from..TASKS` (2 epochs of 3 steps each,
/// a penalty from the second task on), starting at `at`.
fn play(log: &mut RunLog, from: usize) {
    let at = if from == 0 {
        Position::zero(outcome(Vec::new(), 0))
    } else {
        let mut p = Position::zero(outcome((0..from).map(row).collect(), from * EPOCHS * STEPS));
        p.task = from;
        p
    };
    log.start(&at, from > 0);
    let mut steps = at.outcome.steps;
    let every = log.sample_every().unwrap();
    for t in from..TASKS {
        log.task_start(t, "t", STEPS, EPOCHS);
        for e in 0..EPOCHS {
            for _ in 0..STEPS {
                steps += 1;
                let loss = 1.0 / steps as f64;
                if steps.is_multiple_of(every) {
                    log.sample(&StepSample {
                        step: steps,
                        loss,
                        penalty: (t > 0).then_some(steps as f64 * 0.125),
                    });
                }
                assert!(log.step(loss));
            }
            log.epoch_end(&EpochReport {
                task: t,
                tasks: TASKS,
                epoch: e,
                epochs: EPOCHS,
                loss: 0.5 + steps as f64,
                penalty: 0.0,
                steps_per_second: 1.0,
            });
        }
        log.task_end(t, &row(t));
    }
}

/// (tag, step, value) of every scalar in the folder's event files, in reading order.
fn tb_scalars(dir: &Path) -> Vec<(String, i64, f32)> {
    let mut out = Vec::new();
    for f in tensorboard::event_files(dir).unwrap() {
        for ev in tensorboard::read_events(&f).unwrap() {
            if let Body::Summary(vs) = ev.body {
                for v in vs {
                    if let Data::Scalar(x) = v.data {
                        out.push((v.tag, ev.step, x));
                    }
                }
            }
        }
    }
    out
}

fn csv_scalars(dir: &Path) -> Vec<(String, i64, f64)> {
    csv::read_rows(&dir.join(CSV_FILE))
        .unwrap()
        .into_iter()
        .map(|r| (r.tag, r.step, r.value))
        .collect()
}

fn texts(dir: &Path) -> Vec<(String, i64, String)> {
    let mut out = Vec::new();
    for f in tensorboard::event_files(dir).unwrap() {
        for ev in tensorboard::read_events(&f).unwrap() {
            if let Body::Summary(vs) = ev.body {
                for v in vs {
                    if let Data::Text(t) = v.data {
                        out.push((v.tag, ev.step, t));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn a_run_logs_every_scalar_at_its_step_in_both_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let both = [LogFormat::Tensorboard, LogFormat::Csv];
    let mut log = RunLog::create(
        &dir,
        &logs(&both, 4),
        &serde_json::json!({"lr": 0.001, "method": "si"}),
    )
    .unwrap();
    play(&mut log, 0);
    log.finish().unwrap();

    let csv = csv_scalars(&dir);
    let m = crate::metrics::compute(&[row(0), row(1)], &[0.5, 0.25]);
    let want: Vec<(String, i64, f64)> = [
        ("train/loss", 4, 0.25),
        ("train/epoch_loss", 3, 3.5),
        ("train/epoch_loss", 6, 6.5),
        ("accuracy/task_01", 6, 0.9),
        ("accuracy/task_02", 6, 0.4),
        ("accuracy/mean_seen", 6, 0.9),
        ("train/loss", 8, 0.125),
        ("train/penalty", 8, 1.0),
        ("train/epoch_loss", 9, 9.5),
        ("train/epoch_loss", 12, 12.5),
        ("train/loss", 12, 1.0 / 12.0),
        ("train/penalty", 12, 1.5),
        ("accuracy/task_01", 12, 0.7),
        ("accuracy/task_02", 12, 0.95),
        ("accuracy/mean_seen", 12, (0.7 + 0.95) / 2.0),
        ("metrics/acc", 12, m.average_accuracy),
        ("metrics/bwt", 12, m.backward_transfer),
        ("metrics/forgetting", 12, m.forgetting),
        ("metrics/fwt", 12, m.forward_transfer),
    ]
    .iter()
    .map(|&(t, s, v)| (t.to_string(), s, v))
    .collect();
    let sorted = |mut v: Vec<(String, i64, f64)>| {
        v.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        v
    };
    assert_eq!(sorted(csv.clone()), sorted(want));
    assert!((m.backward_transfer - (-0.2)).abs() < 1e-12);
    // The event files hold the same scalars (as f32), in the same order.
    let tb = tb_scalars(&dir);
    assert_eq!(
        tb,
        csv.iter()
            .map(|(t, s, v)| (t.clone(), *s, *v as f32))
            .collect::<Vec<_>>()
    );
    // The settings as text at step 0, for TensorBoard's text plugin.
    let t = texts(&dir);
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].0.as_str(), t[0].1), ("config", 0));
    assert!(
        t[0].2.contains("| lr | 0.001 |") && t[0].2.contains("| method | si |"),
        "{}",
        t[0].2
    );
}

#[test]
fn a_resumed_run_continues_its_logs_without_repeating_a_step() {
    let tmp = tempfile::tempdir().unwrap();
    let both = [LogFormat::Tensorboard, LogFormat::Csv];
    let (full, cut) = (tmp.path().join("full"), tmp.path().join("cut"));
    let mut log = RunLog::create(&full, &logs(&both, 2), &serde_json::json!({})).unwrap();
    play(&mut log, 0);
    log.finish().unwrap();

    // A process that logged the whole run but was killed before its last checkpoint (after
    // task 1): its logs run past the position the run resumes from.
    std::fs::create_dir_all(&cut).unwrap();
    for f in std::fs::read_dir(&full).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, cut.join(f.file_name().unwrap())).unwrap();
    }
    let mut log = RunLog::create(&cut, &logs(&both, 2), &serde_json::json!({})).unwrap();
    play(&mut log, 1);
    log.finish().unwrap();

    assert_eq!(tensorboard::event_files(&cut).unwrap().len(), 2);
    let strip = |v: Vec<(String, i64, f32)>| v;
    assert_eq!(strip(tb_scalars(&cut)), tb_scalars(&full));
    assert_eq!(csv_scalars(&cut), csv_scalars(&full));
    // No (tag, step) twice, and the config text once.
    let mut keys: Vec<(String, i64)> = tb_scalars(&cut)
        .into_iter()
        .map(|(t, s, _)| (t, s))
        .collect();
    let n = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n);
    assert_eq!(texts(&cut).len(), 1);
    // The second file starts after the position (6 steps): its first scalar is at step 8.
    let second = &tensorboard::event_files(&cut).unwrap()[1];
    let steps: Vec<i64> = tensorboard::read_events(second)
        .unwrap()
        .iter()
        .filter(|e| matches!(e.body, Body::Summary(_)))
        .map(|e: &Event| e.step)
        .collect();
    assert_eq!(steps.first(), Some(&8));

    // A fresh run in the same folder replaces the old logs.
    let mut log =
        RunLog::create(&cut, &logs(&[LogFormat::Csv], 2), &serde_json::json!({})).unwrap();
    play(&mut log, 0);
    log.finish().unwrap();
    assert!(tensorboard::event_files(&cut).unwrap().is_empty());
    assert_eq!(csv_scalars(&cut), csv_scalars(&full));
}

#[test]
fn a_failed_write_stops_the_logs_not_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    let mut log = RunLog::create(
        &dir,
        &logs(&[LogFormat::Tensorboard], 2),
        &serde_json::json!({}),
    )
    .unwrap();
    // The folder is gone and a file has its name: nothing can be opened in it.
    std::fs::remove_dir(&dir).unwrap();
    std::fs::write(&dir, b"").unwrap();
    play(&mut log, 0);
    let e = log.finish().unwrap_err().to_string();
    assert!(
        e.contains("cannot read live log") || e.contains("cannot write live log"),
        "{e}"
    );
    // A folder that cannot be made is an error at once.
    let e = RunLog::create(
        &dir.join("x"),
        &logs(&[LogFormat::Csv], 2),
        &serde_json::json!({}),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.starts_with("cannot write live log"), "{e}");
}

#[test]
fn formats_parse_from_a_list_or_a_string_and_logs_are_no_part_of_a_runs_identity() {
    let parse = |v: serde_json::Value| serde_json::from_value::<LiveLogs>(v);
    let l = parse(serde_json::json!({"log": "tensorboard,csv,tensorboard"})).unwrap();
    assert_eq!(l.log, [LogFormat::Tensorboard, LogFormat::Csv]);
    assert_eq!(l.log_every, DEFAULT_EVERY);
    let l = parse(serde_json::json!({"log": ["csv"], "log_every": 7})).unwrap();
    assert_eq!((l.log.as_slice(), l.log_every), (&[LogFormat::Csv][..], 7));
    let e = parse(serde_json::json!({"log": ["csv", "wandb"]}))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown log format 'wandb': use tensorboard or csv"),
        "{e}"
    );
    // Off: nothing is serialized.
    assert_eq!(
        serde_json::to_value(LiveLogs::default()).unwrap(),
        serde_json::json!({})
    );
    assert_eq!(LiveLogs::default(), l);
    assert_eq!(task_tag(2, 5), "accuracy/task_03");
    assert_eq!(task_tag(99, 100), "accuracy/task_100");
}
