//! End-to-end tests of grids planned once and run anywhere: `grid plan`, `grid run --cell K`
//! one cell at a time, `grid collect` giving compare's summary; `--jobs 2` (one child process
//! per cell) giving `--jobs 1`'s numbers; a cell locked by a live process refused; SIGTERM
//! passed on to the children, every cell checkpointed and resumed.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

mod common;
use common::{bin, mnist, stderr};

/// Two methods × two seeds on a slice of split MNIST.
const GRID: &[&str] = &[
    "--methods",
    "si,l2",
    "--seeds",
    "2",
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

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", stderr(&o));
    o
}

/// `synaptic compare GRID ARGS --data-dir DATA --out OUT`.
fn compare(args: &[&str], extra: &[&str], data: &Path, out: &Path) -> Command {
    let mut c = bin();
    c.arg("compare")
        .args(args)
        .args(extra)
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(out);
    c
}

fn grid(args: &[&str], dir: &Path) -> Command {
    let mut c = bin();
    c.arg("grid").arg(args[0]).arg(dir).args(&args[1..]);
    c
}

/// A summary.json without what differs between two runs of the same grid: the wall-clock
/// seconds and the command line.
fn numbers_of_summary(dir: &Path) -> serde_json::Value {
    let mut s = json(&dir.join("summary.json"));
    s.as_object_mut().unwrap().remove("command");
    for m in s["methods"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("train_seconds");
    }
    s
}

/// A result.json's numbers and config (everything but its clock).
fn numbers(path: &Path) -> serde_json::Value {
    let mut v = json(path);
    let o = v.as_object_mut().unwrap();
    o.retain(|k, _| !k.contains("seconds") && k != "started_unix");
    v
}

const CELLS: [&str; 4] = ["si/seed-0", "si/seed-1", "l2/seed-0", "l2/seed-1"];

#[test]
fn a_planned_grid_run_cell_by_cell_collects_compares_summary_and_jobs_2_equals_jobs_1() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (one, two, planned) = (
        tmp.path().join("one"),
        tmp.path().join("two"),
        tmp.path().join("planned"),
    );
    ok(compare(GRID, &["--jobs", "1", "--quiet"], &data, &one)
        .output()
        .unwrap());
    let o = ok(compare(GRID, &["--jobs", "2"], &data, &two)
        .output()
        .unwrap());
    let err = stderr(&o);
    assert!(
        err.contains("4 cells to run, 2 at once") && err.contains("[si seed 1] [2/4] si seed 1"),
        "{err}"
    );
    assert!(stdout(&o).contains("| l2 | 2 | "), "{}", stdout(&o));

    // Planned: nothing trains, every cell is pending.
    let mut plan = bin();
    plan.args(["grid", "plan", "compare"])
        .args(GRID)
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&planned);
    let o = ok(plan.output().unwrap());
    assert!(stderr(&o).contains("planned 4 cells"), "{}", stderr(&o));
    let p = json(&planned.join("grid.json"));
    assert_eq!(p["cells"].as_array().unwrap().len(), 4);
    assert_eq!(p["cells"][2]["dir"], "l2/seed-0");
    assert_eq!(p["cells"][2]["config"]["seed"], 0);
    assert!(!planned.join("si").exists());
    let status = stdout(&ok(grid(&["status"], &planned).output().unwrap()));
    assert!(
        status.contains("4 cells): 0 finished, 0 running, 0 interrupted, 4 pending"),
        "{status}"
    );
    let commands = stdout(&ok(grid(&["commands"], &planned).output().unwrap()));
    let lines: Vec<&str> = commands.lines().collect();
    assert_eq!(lines.len(), 4, "{commands}");
    assert!(
        lines[3].ends_with(&format!("grid run {} --cell 3", planned.display())),
        "{commands}"
    );
    let e = stderr(&grid(&["collect"], &planned).output().unwrap());
    assert!(e.contains("0 of 4 cells have finished"), "{e}");

    // Cell by cell, in any order, as a scheduler would.
    for k in [3, 0, 2, 1] {
        ok(
            grid(&["run", "--cell", &k.to_string(), "--quiet"], &planned)
                .output()
                .unwrap(),
        );
    }
    let o = ok(grid(&["run", "--cell", "0"], &planned).output().unwrap());
    assert!(
        stderr(&o).contains("already finished: cell 0 (si seed 0)"),
        "{}",
        stderr(&o)
    );
    let e = stderr(&grid(&["run", "--cell", "4"], &planned).output().unwrap());
    assert!(
        e.contains("--cell 4: the grid has 4 cells, numbered 0 to 3"),
        "{e}"
    );
    let status = stdout(&ok(grid(&["status"], &planned).output().unwrap()));
    assert!(status.contains("4 finished"), "{status}");
    let o = ok(grid(&["collect"], &planned).output().unwrap());
    assert!(stdout(&o).contains("| si | 2 | "), "{}", stdout(&o));
    // The summary quotes the command that runs the grid in one go.
    let cmd = json(&planned.join("summary.json"))["command"].clone();
    assert!(
        cmd.as_str()
            .unwrap()
            .starts_with("synaptic compare --methods si,l2"),
        "{cmd}"
    );

    for cell in CELLS {
        let r = |d: &Path| numbers(&d.join(cell).join("result.json"));
        assert_eq!(r(&one), r(&two), "{cell}: --jobs 2");
        assert_eq!(r(&one), r(&planned), "{cell}: planned");
    }
    assert_eq!(numbers_of_summary(&one), numbers_of_summary(&two));
    assert_eq!(numbers_of_summary(&one), numbers_of_summary(&planned));

    // Another grid in the same folder is refused, naming the difference.
    let mut other = compare(GRID, &["--lr", "0.01"], &data, &planned);
    let o = other.output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("holds a different grid (si seed 0: lr: 0.001 there, 0.01 now)"),
        "{}",
        stderr(&o)
    );
}

/// Training that lasts a few seconds: long enough to be caught running.
const LONG: &[&str] = &[
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
    "12",
];

/// A process with its standard error read line by line.
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

    fn wait_for(&mut self, needle: &str) {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            self.seen.push_str(&line);
            self.seen.push('\n');
            if line.contains(needle) {
                return;
            }
        }
        panic!("ended without printing '{needle}':\n{}", self.seen);
    }

    fn finish(mut self) -> (Option<i32>, String) {
        for line in self.lines.by_ref() {
            self.seen.push_str(&line.unwrap());
            self.seen.push('\n');
        }
        (self.child.wait().unwrap().code(), self.seen)
    }
}

fn term(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// A cell run by one process is refused to a second (one line naming the holder), shown as
/// running by `grid status`; SIGTERM checkpoints it (exit 130, the rerun hint) and the next
/// `grid run` resumes it.
#[cfg(unix)]
#[test]
fn a_cell_a_live_process_runs_is_refused_and_a_terminated_cell_resumes() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let mut plan = bin();
    plan.args(["grid", "plan", "compare"])
        .args(LONG)
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&dir)
        .arg("--quiet");
    ok(plan.output().unwrap());
    let mut a = Running::start(grid(&["run", "--cell", "1"], &dir));
    a.wait_for("epoch 1/12");
    let pid = a.child.id().to_string();
    let o = grid(&["run", "--cell", "1"], &dir).output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: l2 seed 0: ")
            && lines[0].contains("is in use by another synaptic process: pid ")
            && lines[0].contains(&pid),
        "{err}"
    );
    let status = stdout(&ok(grid(&["status"], &dir).output().unwrap()));
    assert!(status.contains("1 running"), "{status}");
    let row = status.lines().find(|l| l.contains("l2 seed 0")).unwrap();
    assert!(row.contains("running") && row.contains(&pid), "{status}");

    a.wait_for("after task 1/2");
    term(a.child.id());
    let (code, err) = a.finish();
    assert_eq!(code, Some(130), "{err}");
    assert!(
        err.contains("interrupted: continue with the same command: synaptic grid run"),
        "{err}"
    );
    let status = stdout(&ok(grid(&["status"], &dir).output().unwrap()));
    let row = status.lines().find(|l| l.contains("l2 seed 0")).unwrap();
    assert!(
        row.contains("interrupted") && row.contains("1/2 tasks"),
        "{status}"
    );
    let o = ok(grid(&["run", "--cell", "1"], &dir).output().unwrap());
    let err = stderr(&o);
    assert!(err.contains("l2 seed 0: resuming at task 2/2"), "{err}");
    assert!(dir.join("l2/seed-0/result.json").exists());
}

/// SIGTERM to a `compare --jobs 2` reaches both running cells: each checkpoints, the grid
/// exits 130 with the rerun hint and leaves no lock; the rerun resumes both and finishes.
#[cfg(unix)]
#[test]
fn sigterm_to_a_parallel_grid_checkpoints_every_running_cell_and_the_rerun_resumes() {
    let Some(data) = mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("g");
    let mut g = Running::start(compare(LONG, &["--jobs", "2"], &data, &dir));
    g.wait_for("after task 1/2");
    term(g.child.id());
    let (code, err) = g.finish();
    assert_eq!(code, Some(130), "{err}");
    let hints: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("interrupted: continue with the same command: synaptic compare"))
        .collect();
    assert_eq!(hints.len(), 1, "{err}");
    for cell in ["si/seed-0", "l2/seed-0"] {
        assert!(
            dir.join(cell).join("checkpoints/checkpoint.json").exists()
                || dir.join(cell).join("result.json").exists(),
            "{cell}: {err}"
        );
        assert!(!dir.join(cell).join("run.lock").exists(), "{cell}");
    }
    let o = ok(compare(LONG, &["--jobs", "2"], &data, &dir)
        .output()
        .unwrap());
    let err = stderr(&o);
    assert!(err.contains("resuming at task"), "{err}");
    assert!(dir.join("summary.json").exists());
}
