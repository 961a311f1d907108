//! Result files of a run: `result.json` (the SPEC §6 contract) and `accuracy.csv`, written
//! atomically so that a crash never leaves a half-written result.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;

pub mod collect;
pub mod figures;
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
    /// R[i][j]: accuracy on task j after training task i.
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
    /// Seconds for the whole run, data loading included.
    pub total_seconds: f64,
    /// Optimizer steps.
    pub steps: usize,
    /// Backend used.
    pub backend: String,
    /// CPU threads used.
    pub threads: usize,
    /// Data folder read.
    pub data_dir: String,
    /// Start time, seconds since the Unix epoch.
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

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = stage(path, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Where staged bytes go: a file that can be synced to disk.
trait Sink: Write {
    fn sync(&mut self) -> std::io::Result<()>;
}

impl Sink for std::fs::File {
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_all()
    }
}

/// Opens the temporary file of a staged write.
type Opener<'a> = &'a dyn Fn(&Path) -> std::io::Result<Box<dyn Sink>>;

fn create(p: &Path) -> std::io::Result<Box<dyn Sink>> {
    Ok(Box::new(std::fs::File::create(p)?))
}

/// Writes `bytes` next to `path` under a temporary name, synced; returns that name.
fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<std::path::PathBuf> {
    stage_with(path, bytes, &create)
}

fn stage_with(path: &Path, bytes: &[u8], open: Opener<'_>) -> std::io::Result<std::path::PathBuf> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| {
        let mut f = open(&tmp)?;
        f.write_all(bytes)?;
        f.sync()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            // A full disk must not leave a half-written temporary file behind either.
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Creates `dir` if needed and proves a file can be written there.
pub fn check_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".synaptic-probe{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// The accuracy matrix as CSV: one row per "after task i", one column per task (0-based, SPEC §5).
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
    let (csv_path, json_path) = (dir.join("accuracy.csv"), dir.join("result.json"));
    // Both files are complete on disk before either replaces an older one, so a full disk
    // cannot leave a new CSV beside an old result; result.json goes last, marking the run done.
    let csv_tmp = stage(&csv_path, accuracy_csv(r).as_bytes())?;
    let json_tmp = match stage(&json_path, &json) {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_file(&csv_tmp);
            return Err(e);
        }
    };
    std::fs::rename(&csv_tmp, &csv_path)?;
    std::fs::rename(&json_tmp, &json_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

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

    #[test]
    fn atomic_write_into_missing_folder_fails_cleanly() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no/such/x.json");
        assert!(write_atomic(&p, b"x").is_err());
        assert!(!p.exists());
    }
}

#[cfg(test)]
mod disk_full_tests {
    use super::*;

    /// A real file that refuses writes beyond `room` bytes, as a full disk does.
    struct Full {
        file: std::fs::File,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    "no space left on device",
                ));
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            self.file.write(&buf[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.file.flush()
        }
    }

    impl Sink for Full {
        fn sync(&mut self) -> std::io::Result<()> {
            self.file.sync_all()
        }
    }

    #[test]
    fn a_disk_that_fills_up_mid_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("result.json");
        std::fs::write(&path, b"old, complete result").unwrap();
        let full = |p: &Path| -> std::io::Result<Box<dyn Sink>> {
            Ok(Box::new(Full {
                file: std::fs::File::create(p)?,
                room: 10,
            }))
        };
        let e = stage_with(&path, &[b'x'; 4096], &full).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
        assert_eq!(std::fs::read(&path).unwrap(), b"old, complete result");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("result.json")],
            "{left:?}"
        );
        // With room enough the same path works.
        let tmp = stage_with(&path, b"new", &create).unwrap();
        std::fs::rename(tmp, &path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }
}
