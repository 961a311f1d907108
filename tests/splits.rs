//! End-to-end tests of class orders, classes per task and rotated MNIST through the real CLI, on
//! small slices of the repository's MNIST.

use std::path::Path;
use std::process::Output;

use serde_json::{json, Value};

mod common;
use common::{bin, json, mnist, ok, refused, stderr};

/// What every run here shares: one epoch on small slices, a small network.
const SMALL: &[&str] = &[
    "--epochs",
    "1",
    "--train-limit",
    "120",
    "--test-limit",
    "60",
    "--hidden",
    "32",
    "--threads",
    "1",
];

/// `synaptic run ARGS SMALL --data-dir DATA --out OUT`.
fn run(args: &[&str], data: &Path, out: &Path) -> Output {
    bin()
        .arg("run")
        .args(args)
        .args(SMALL)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

#[test]
fn a_class_order_is_honoured_recorded_and_shown_in_the_report() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let order = "2,3,0,1,4,5,6,7,8,9";
    let out = tmp.path().join("ordered");
    let base = ["--benchmark", "split-mnist", "--method", "finetune"];
    let args = [&base[..], &["--tasks", "2", "--class-order", order]].concat();
    ok(&run(&args, &data, &out));
    let r = json(&out.join("result.json"));
    // Task 1 trains on digits 2 and 3.
    assert_eq!(r["task_names"], json!(["digits 2,3", "digits 0,1"]));
    assert_eq!(r["task_classes"], json!([[2, 3], [0, 1]]));
    assert_eq!(r["class_order"], json!([2, 3, 0, 1, 4, 5, 6, 7, 8, 9]));
    assert_eq!(
        r["config"]["class_order"],
        json!([2, 3, 0, 1, 4, 5, 6, 7, 8, 9])
    );
    let saved = json(&out.join("run-config.json"));
    assert_eq!(saved["config"]["class_order"], r["config"]["class_order"]);
    assert_eq!(saved["task_classes"], r["task_classes"]);
    // The first task of the reordered run is the second of the published order: the same
    // digits, so the untrained network's accuracies swap places.
    let plain = tmp.path().join("plain");
    ok(&run(
        &[&base[..], &["--tasks", "2"]].concat(),
        &data,
        &plain,
    ));
    let p = json(&plain.join("result.json"));
    assert_eq!(p["task_names"], json!(["digits 0,1", "digits 2,3"]));
    assert!(p.get("class_order").is_some() && p["config"].get("class_order").is_none());
    assert_ne!(p["accuracy_matrix"], r["accuracy_matrix"]);
    // Spelling out the published order and task size changes nothing, bit for bit.
    let spelled = tmp.path().join("spelled");
    let args = [
        &base[..],
        &[
            "--tasks",
            "2",
            "--class-order",
            "0,1,2,3,4,5,6,7,8,9",
            "--classes-per-task",
            "2",
        ],
    ]
    .concat();
    ok(&run(&args, &data, &spelled));
    let s = json(&spelled.join("result.json"));
    for key in [
        "accuracy_matrix",
        "initial_accuracy",
        "epoch_loss",
        "config",
    ] {
        assert_eq!(s[key], p[key], "{key}");
    }
    // The report says which digits each task holds.
    let rep = tmp.path().join("report");
    let o = bin()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap();
    ok(&o);
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("T1 = digits 2,3, T2 = digits 0,1"), "{md}");
}

#[test]
fn three_classes_per_task_leave_a_smaller_last_task_said_in_the_log() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for scenario in ["task", "class"] {
        let out = tmp.path().join(scenario);
        let args = [
            "--benchmark",
            "split-fashion-mnist",
            "--method",
            "si",
            "--classes-per-task",
            "3",
            "--scenario",
            scenario,
        ];
        // Fashion-MNIST's protocol on the MNIST files: any 10-class IDX dataset runs it.
        let err = ok(&run(&args, &data, &out));
        assert!(
            err.contains("tasks: 3 classes per task, the last task 1"),
            "{err}"
        );
        let r = json(&out.join("result.json"));
        assert_eq!(
            r["task_names"],
            json!([
                "classes 0,1,2",
                "classes 3,4,5",
                "classes 6,7,8",
                "classes 9"
            ])
        );
        assert_eq!(r["config"]["tasks"], 4);
        assert_eq!(r["config"]["classes_per_task"], 3);
        let m = r["accuracy_matrix"].as_array().unwrap();
        assert_eq!(m.len(), 4);
        if scenario == "task" {
            // A task of one class is answered right whatever the network says.
            assert_eq!(m[3][3], 1.0);
        }
    }
    let out = tmp.path().join("too-many");
    let o = run(
        &[
            "--benchmark",
            "split-mnist",
            "--classes-per-task",
            "3",
            "--tasks",
            "5",
        ],
        &data,
        &out,
    );
    refused(
        &o,
        "--tasks must be between 1 and 4 for split-mnist with classes_per_task = 3, got 5",
        &out,
    );
}

#[test]
fn bad_class_orders_are_one_line_errors() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("bad");
    for (args, needle) in [
        (
            &["--class-order", "1,1,2,3,4,5,6,7,8,9"][..],
            "--class-order lists class 1 twice: give each of the 10 classes (0-9) once, or random",
        ),
        (
            &["--class-order", "0,1,2,3,4,5,6,7,8,12"],
            "--class-order names class 12, but the data has classes 0-9 only",
        ),
        (
            &["--class-order", "9,8,7"],
            "--class-order leaves out classes 0,1,2,3,4,5,6: give each of the 10 classes once, or random",
        ),
        (&["--class-order", "a,b"], "'a,b' is not a class order"),
        (&["--classes-per-task", "0"], "--classes-per-task = 0 is out of range"),
        (&["--angles", "random"], "--angles has no effect on split-mnist"),
    ] {
        let o = run(&[&["--benchmark", "split-mnist"][..], args].concat(), &data, &out);
        refused(&o, needle, &out);
    }
    let o = run(
        &["--benchmark", "permuted-mnist", "--class-order", "random"],
        &data,
        &out,
    );
    refused(
        &o,
        "--class-order has no effect on permuted-mnist: every task holds every class; drop it",
        &out,
    );
}

#[test]
fn a_random_order_comes_from_the_seed_resumes_and_compares() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let o = bin()
        .args([
            "compare",
            "--benchmark",
            "split-mnist",
            "--methods",
            "finetune",
            "--seeds",
            "2",
            "--class-order",
            "random",
            "--tasks",
            "2",
            "--jobs",
            "1",
        ])
        .args(SMALL)
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    ok(&o);
    let r0 = json(&out.join("finetune/seed-0/result.json"));
    let r1 = json(&out.join("finetune/seed-1/result.json"));
    let order = |r: &Value| -> Vec<u64> {
        (r["class_order"].as_array().unwrap().iter())
            .map(|v| v.as_u64().unwrap())
            .collect()
    };
    let mut sorted = order(&r0);
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    assert_ne!(order(&r0), order(&r1));
    assert_eq!(r0["config"]["class_order"], "random");
    let first = &order(&r0)[..2];
    assert_eq!(
        r0["task_names"][0],
        format!("digits {},{}", first[0], first[1])
    );
    // One setting over two seeds: one group, whose runs' tasks the report lists one by one.
    let summary = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert_eq!(summary.matches("| finetune").count(), 1, "{summary}");
    let rep = tmp.path().join("report");
    ok(&bin()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(&rep)
        .output()
        .unwrap());
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("Tasks differ between runs"), "{md}");
    assert!(
        md.contains(&format!(
            "finetune seed 1: T1 = {}",
            r1["task_names"][0].as_str().unwrap()
        )),
        "{md}"
    );
    // --resume reads the setting back and checks it as a flag: a tampered order is refused.
    let run_dir = tmp.path().join("single");
    let o = bin()
        .args([
            "run",
            "--benchmark",
            "split-mnist",
            "--class-order",
            "random",
            "--tasks",
            "2",
        ])
        .args(SMALL)
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&run_dir)
        .env("SYNAPTIC_STOP_AFTER_TASK", "1")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    let cfg = run_dir.join("run-config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let o = bin()
        .arg("run")
        .arg("--resume")
        .arg(&run_dir)
        .output()
        .unwrap();
    ok(&o);
    let r = json(&run_dir.join("result.json"));
    assert_eq!(r["config"]["class_order"], "random");
    let t = json(&cfg);
    assert_eq!(t["class_order"], r["class_order"]);
    std::fs::remove_file(run_dir.join("result.json")).unwrap();
    std::fs::write(
        &cfg,
        text.replace("\"class_order\": \"random\"", "\"class_order\": [1, 1]"),
    )
    .unwrap();
    let o = bin()
        .arg("run")
        .arg("--resume")
        .arg(&run_dir)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("run-config.json: class_order lists class 1 twice"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn rotated_mnist_runs_in_every_scenario() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for scenario in ["domain", "task", "class"] {
        let out = tmp.path().join(scenario);
        let err = ok(&run(
            &[
                "--benchmark",
                "rotated-mnist",
                "--method",
                "si",
                "--tasks",
                "3",
                "--scenario",
                scenario,
            ],
            &data,
            &out,
        ));
        assert!(
            err.contains("tasks: rotations 0°, 18°, 36°")
                && err.contains(&format!("/ {scenario} scenario")),
            "{err}"
        );
        let r = json(&out.join("result.json"));
        assert_eq!(
            r["task_names"],
            json!(["rotation 0°", "rotation 18°", "rotation 36°"])
        );
        assert_eq!(r["task_angles"], json!([0.0, 18.0, 36.0]));
        assert_eq!(r["scenario"], scenario);
        let m = r["accuracy_matrix"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        assert!(m
            .iter()
            .flat_map(|row| row.as_array().unwrap())
            .all(|a| { (0.0..=1.0).contains(&a.as_f64().unwrap()) }));
        assert_eq!(r["initial_accuracy"].as_array().unwrap().len(), 3);
    }
    // Domain is the default; angles may be listed (then one task each).
    let out = tmp.path().join("listed");
    ok(&run(
        &[
            "--benchmark",
            "rotated-mnist",
            "--method",
            "finetune",
            "--angles",
            "90,-90",
        ],
        &data,
        &out,
    ));
    let r = json(&out.join("result.json"));
    assert_eq!(r["scenario"], "domain");
    assert_eq!(r["task_names"], json!(["rotation 90°", "rotation -90°"]));
    assert_eq!(r["config"]["angles"], json!([90.0, -90.0]));
}
