//! Result files of a run: `result.json` (every field a run records) and `accuracy.csv`, written
//! atomically so that a crash never leaves a half-written result.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::fsutil::write_atomic_all;
use crate::run_dir::RunDir;

pub mod collect;
pub mod markdown;
pub mod paper;
pub mod summary;

#[cfg(test)]
mod report_tests;

/// Everything `result.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// synaptic version that produced the file.
    pub version: String,
    /// Benchmark name.
    pub benchmark: String,
    /// Scenario name.
    pub scenario: String,
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// The full resolved configuration.
    pub config: RunConfig,
    /// Task names in training order.
    pub task_names: Vec<String>,
    /// The class order, each task's classes and angles as resolved (absent from older files).
    #[serde(flatten)]
    pub layout: crate::scenario::TaskLayout,
    /// `R[i][j]`: accuracy on task j after training task i.
    pub accuracy_matrix: Vec<Vec<f64>>,
    /// Accuracy of the untrained model on each task (b_j of forward transfer).
    pub initial_accuracy: Vec<f64>,
    /// ACC: mean accuracy over all tasks after the last one.
    pub average_accuracy: f64,
    /// Mean accuracy over the tasks seen so far, after each task.
    pub mean_seen_accuracy: Vec<f64>,
    /// BWT.
    pub backward_transfer: f64,
    /// Average forgetting.
    pub forgetting: f64,
    /// FWT.
    pub forward_transfer: f64,
    /// Mean task loss of each epoch, per task.
    pub epoch_loss: Vec<Vec<f64>>,
    /// Penalty value at the end of each task's training.
    pub final_penalty: Vec<f64>,
    /// Seconds in training steps.
    pub train_seconds: f64,
    /// Seconds in evaluation.
    pub eval_seconds: f64,
    /// Wall seconds of the whole run, data loading included; a resumed run's sum over its
    /// processes (each up to its last checkpoint).
    pub total_seconds: f64,
    /// Optimizer steps.
    pub steps: usize,
    /// Backend used.
    pub backend: String,
    /// CPU threads used.
    pub threads: usize,
    /// Data folder read.
    pub data_dir: String,
    /// Start time of the run's first process, seconds since the Unix epoch.
    pub started_unix: u64,
    /// Version of the burn framework the binary was built with (empty in files written before
    /// it was recorded).
    #[serde(default)]
    pub burn_version: String,
    /// The machine the run ran on (zeros and empty strings in older files).
    #[serde(default)]
    pub machine: Machine,
}

/// The burn version this crate is built against (pinned with `=` in Cargo.toml; a test keeps the
/// two in step).
pub const BURN_VERSION: &str = "0.21.0";

/// Where a run ran: enough to judge its timings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical cores available to the process (`std::thread::available_parallelism`).
    #[serde(default)]
    pub cores: usize,
    /// Operating system (`std::env::consts::OS`, e.g. `linux`).
    #[serde(default)]
    pub os: String,
    /// CPU architecture (`std::env::consts::ARCH`, e.g. `x86_64`).
    #[serde(default)]
    pub arch: String,
}

impl Machine {
    /// This machine.
    pub fn current() -> Self {
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            os: std::env::consts::OS.to_string(),
            arch: std::env::consts::ARCH.to_string(),
        }
    }
}

/// The accuracy matrix as CSV: one row per "after task i", one column per task (0-based).
pub fn accuracy_csv(r: &RunResult) -> String {
    let t = r.accuracy_matrix.len();
    let mut s = String::from("after_task");
    for j in 0..t {
        s.push_str(&format!(",task_{j}"));
    }
    s.push_str(",mean_seen\n");
    for (i, row) in r.accuracy_matrix.iter().enumerate() {
        s.push_str(&i.to_string());
        for v in row {
            s.push_str(&format!(",{v:.6}"));
        }
        s.push_str(&format!(",{:.6}\n", r.mean_seen_accuracy[i]));
    }
    s
}

/// Writes `result.json` and `accuracy.csv` into `dir` (created if needed).
pub fn write_run(dir: &Path, r: &RunResult) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(r).map_err(std::io::Error::other)?;
    let run = RunDir::new(dir);
    // result.json goes last, marking the run done.
    write_atomic_all(&[
        (&run.accuracy_csv(), accuracy_csv(r).as_bytes()),
        (&run.result(), &json),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_version_matches_the_pinned_dependency() {
        let toml = include_str!("../../Cargo.toml");
        let want = format!("burn = {{ version = \"={BURN_VERSION}\"");
        assert!(toml.contains(&want), "Cargo.toml does not pin {want}");
    }

    #[test]
    fn machine_describes_this_host_and_old_files_without_it_still_load() {
        let m = Machine::current();
        assert!(
            m.cores >= 1 && !m.os.is_empty() && !m.arch.is_empty(),
            "{m:?}"
        );
        // A result.json from before `machine` and `burn_version` existed.
        let mut v = serde_json::to_value(summary::tests::result("si", 3, 0.9, 1.0)).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("machine");
        obj.remove("burn_version");
        let r: RunResult = serde_json::from_value(v).unwrap();
        assert_eq!(
            (r.machine, r.burn_version, r.seed),
            (Machine::default(), String::new(), 3)
        );
    }
}
