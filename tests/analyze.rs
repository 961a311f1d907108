//! End-to-end tests of `synaptic run --save-importance` and `synaptic analyze importance` on a
//! small slice of real MNIST (skipped when it is absent).

use std::path::Path;
use std::process::Command;

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
    "--quiet",
];

/// `synaptic run SMALL ARGS --data-dir DATA --out OUT`.
fn run(args: &[&str], data: &Path, out: &Path) -> Command {
    let mut c = bin();
    c.arg("run")
        .args(SMALL)
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

/// What training produced: accuracies, losses, penalties (not timings).
fn numbers(result: &Path) -> Vec<serde_json::Value> {
    let r = json(result);
    [
        "accuracy_matrix",
        "initial_accuracy",
        "epoch_loss",
        "final_penalty",
    ]
    .iter()
    .map(|k| r[*k].clone())
    .collect()
}

#[test]
fn save_importance_then_analyze_writes_tables_json_and_figures() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = run(
        &[
            "--method",
            "si",
            "--save-importance",
            "--fisher-samples",
            "60",
        ],
        &data,
        &out,
    )
    .output()
    .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let result = json(&out.join("result.json"));
    assert_eq!(result["config"]["save_importance"], true);
    assert_eq!(result["config"]["importance_samples"], 60);

    // index.json lists 2 tasks × 4 estimators × 6 parameters; every file parses as .npy.
    let imp = out.join("importance");
    let index = json(&imp.join("index.json"));
    assert_eq!(index["format"], "synaptic-importance/1");
    assert_eq!(index["si_source"], "method");
    let tasks = index["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["samples"], 60);
    let params = index["params"].as_array().unwrap();
    assert_eq!(params[0]["path"], "layers.0.weight");
    assert_eq!(params[0]["shape"], serde_json::json!([784, 256]));
    for t in tasks {
        for est in ["si_omega", "si_task", "fisher", "mas"] {
            for p in params {
                let rel = t["files"][est][p["path"].as_str().unwrap()]
                    .as_str()
                    .unwrap();
                let (shape, v) =
                    synaptic::analysis::npy::read_f32(&imp.join(rel)).expect("valid .npy");
                let want: Vec<usize> = p["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect();
                assert_eq!(shape, want, "{rel}");
                assert!(v.iter().all(|x| x.is_finite()), "{rel}");
                if est != "si_task" {
                    assert!(v.iter().all(|&x| x >= 0.0), "{rel} has a negative entry");
                }
            }
        }
    }

    let an = tmp.path().join("analysis");
    let o = bin()
        .args(["analyze", "importance", "--run"])
        .arg(&out)
        .arg("--out")
        .arg(&an)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("SI (task) vs Fisher"), "{stdout}");
    assert!(stdout.contains("layers.0.weight"), "{stdout}");

    let md = std::fs::read_to_string(an.join("importance.md")).unwrap();
    assert!(md.contains("## Between tasks"), "{md}");
    assert!(md.contains("![scatter-layers.0.weight.png](scatter-layers.0.weight.png)"));
    let a = json(&an.join("importance.json"));
    let pair = &a["pairs"][0];
    assert_eq!(
        (pair["x"].as_str(), pair["y"].as_str()),
        (Some("si_task"), Some("fisher"))
    );
    // 2 tasks × (6 parameters + all).
    assert_eq!(pair["cells"].as_array().unwrap().len(), 14);
    let rho = pair["cells"][0]["spearman"].as_f64().expect("defined");
    assert!((-1.0..=1.0).contains(&rho));
    let between = &a["between_tasks"][0]["spearman"];
    assert_eq!(between[0][0].as_f64(), Some(1.0));

    for f in a["figures"].as_array().unwrap() {
        let f = an.join(f.as_str().unwrap());
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            bytes.len() > 5_000,
            "{} is only {} bytes",
            f.display(),
            bytes.len()
        );
        if f.extension().unwrap() == "png" {
            assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", f.display());
        } else {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains("<svg"), "{}", f.display());
            assert!(text.trim_end().ends_with("</svg>"), "{}", f.display());
        }
    }
    for stem in [
        "scatter-layers.0.weight",
        "scatter-all_parameters",
        "between-tasks",
    ] {
        assert!(an.join(format!("{stem}.png")).exists(), "{stem}.png");
        assert!(an.join(format!("{stem}.svg")).exists(), "{stem}.svg");
    }

    // The default --out is RUN/analysis.
    let o = bin()
        .args(["analyze", "importance", "--quiet", "--run"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("analysis/importance.json").exists());
}

#[test]
fn save_importance_does_not_change_training() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // SI (the recorder is SI itself), MAS (a passive SI next to the method, which measures on
    // the same examples) and finetune (no regulariser of its own).
    for method in ["si", "mas", "finetune"] {
        let plain = tmp.path().join(format!("{method}-plain"));
        let saved = tmp.path().join(format!("{method}-saved"));
        let o = run(&["--method", method], &data, &plain).output().unwrap();
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        let o = run(&["--method", method, "--save-importance"], &data, &saved)
            .output()
            .unwrap();
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        assert_eq!(
            numbers(&plain.join("result.json")),
            numbers(&saved.join("result.json")),
            "{method}: --save-importance changed training"
        );
        assert!(saved.join("importance/index.json").exists(), "{method}");
        assert!(!plain.join("importance").exists(), "{method}");
        let index = json(&saved.join("importance/index.json"));
        let source = if method == "si" { "method" } else { "observer" };
        assert_eq!(index["si_source"], source, "{method}");
    }
}

#[test]
fn save_importance_resumes_to_the_same_numbers_and_files() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    let cut = tmp.path().join("cut");
    let args = [
        "--method",
        "ewc",
        "--save-importance",
        "--fisher-samples",
        "40",
    ];
    let o = run(&args, &data, &full).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&args, &data, &cut)
        .env("SYNAPTIC_STOP_AFTER_TASK", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_eq!(
        json(&cut.join("importance/index.json"))["tasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let o = bin().args(["run", "--resume"]).arg(&cut).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        numbers(&full.join("result.json")),
        numbers(&cut.join("result.json"))
    );
    for t in 0..2 {
        for est in ["si_omega", "si_task", "fisher", "mas"] {
            let rel = format!("importance/task{t}/{est}/layers.1.weight.npy");
            assert_eq!(
                std::fs::read(full.join(&rel)).unwrap(),
                std::fs::read(cut.join(&rel)).unwrap(),
                "{rel} differs after resuming"
            );
        }
    }
    // --save-importance cannot be switched on or off when resuming.
    let o = bin()
        .args(["run", "--save-importance", "--resume"])
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn analyze_without_saved_importances_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    for run in [tmp.path().to_path_buf(), tmp.path().join("missing")] {
        let o = bin()
            .args(["analyze", "importance", "--run"])
            .arg(&run)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].starts_with("error: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = bin()
        .args(["analyze", "importance", "--run"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(stderr(&o).contains("--save-importance"), "{}", stderr(&o));
    assert!(!tmp.path().join("analysis").exists());
}

/// A run folder with hand-made saved importances: 2 tasks × 4 estimators × 2 parameters, every
/// value positive and finite except `bad`: (task, estimator, value) written at entry 3 of that
/// task's `layers.0.weight`.
fn synthetic_importances(run: &Path, bad: Option<(usize, &str, f32)>) {
    use synaptic::analysis::{ImportanceIndex, ParamInfo, TaskEntry, ESTIMATORS, FORMAT};
    let dir = run.join("importance");
    let params = [("layers.0.weight", vec![4, 3]), ("layers.0.bias", vec![3])];
    let mut tasks = Vec::new();
    for t in 0..2 {
        let mut files = std::collections::BTreeMap::new();
        for (e, (est, _)) in ESTIMATORS.iter().enumerate() {
            let mut per = std::collections::BTreeMap::new();
            for (path, shape) in &params {
                let n: usize = shape.iter().product();
                let mut v: Vec<f32> = (0..n)
                    .map(|i| 1e-3 * (1 + (i * (e + 2) + t * 5) % 11) as f32)
                    .collect();
                if let Some((bt, be, value)) = bad {
                    if bt == t && be == *est && *path == "layers.0.weight" {
                        v[3] = value;
                    }
                }
                let rel = format!("task{t}/{est}/{path}.npy");
                std::fs::create_dir_all(dir.join(&rel).parent().unwrap()).unwrap();
                synaptic::analysis::npy::write_f32(&dir.join(&rel), shape, &v).unwrap();
                per.insert(path.to_string(), rel);
            }
            files.insert(est.to_string(), per);
        }
        tasks.push(TaskEntry {
            task: t,
            name: format!("{}/{}", 2 * t, 2 * t + 1),
            samples: 10,
            seconds: 0.1,
            files,
        });
    }
    let index = ImportanceIndex {
        format: FORMAT.into(),
        benchmark: "split-mnist".into(),
        scenario: "task".into(),
        method: "si".into(),
        seed: 0,
        si_source: "method".into(),
        xi: 1e-3,
        samples: 10,
        fisher_estimator: "exact".into(),
        excluded: Vec::new(),
        estimators: ESTIMATORS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        params: params
            .iter()
            .map(|(p, s)| ParamInfo {
                path: p.to_string(),
                shape: s.clone(),
            })
            .collect(),
        tasks,
    };
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec_pretty(&index).unwrap(),
    )
    .unwrap();
}

/// Asserts exit code 2 and one `error:` line containing every needle.
fn assert_one_line(o: &std::process::Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "missing '{n}' in: {err}");
    }
}

#[test]
fn a_nan_or_inf_in_a_saved_importance_is_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good");
    synthetic_importances(&good, None);
    let o = bin()
        .args(["analyze", "importance", "--quiet", "--run"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let a = json(&good.join("analysis/importance.json"));
    assert_eq!(a["pairs"][0]["cells"].as_array().unwrap().len(), 2 * 3);
    assert!(a["pairs"][0]["cells"][0]["spearman"].is_f64());

    for (value, shown) in [(f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
        let run = tmp.path().join(format!("bad-{shown}"));
        synthetic_importances(&run, Some((1, "fisher", value)));
        let o = bin()
            .args(["analyze", "importance", "--run"])
            .arg(&run)
            .output()
            .unwrap();
        let file = run.join("importance/task1/fisher/layers.0.weight.npy");
        assert_one_line(
            &o,
            &[
                &file.display().to_string(),
                &format!("holds {shown} at entry 3"),
                "--save-importance",
            ],
        );
        assert!(!run.join("analysis").exists());
    }

    // --out naming a file is refused, the file untouched.
    let file = tmp.path().join("notes.txt");
    std::fs::write(&file, b"mine").unwrap();
    let o = bin()
        .args(["analyze", "importance", "--run"])
        .arg(&good)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert_one_line(&o, &["--out", "it is a file, not a folder"]);
    assert_eq!(std::fs::read(&file).unwrap(), b"mine");
}
