//! The layout of a run folder (`synaptic run --out DIR`): the one place that names its files.

use std::path::{Path, PathBuf};

/// A run folder: `result.json`, `accuracy.csv`, `run-config.json`, `checkpoints/`,
/// `importance/`, `analysis/` and `logs/` inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// File name of the run's result, written last: its presence marks a finished run.
    pub const RESULT: &'static str = "result.json";
    /// File name of the accuracy matrix as CSV.
    pub const ACCURACY_CSV: &'static str = "accuracy.csv";
    /// File name of the settings `--resume` continues with.
    pub const CONFIG: &'static str = "run-config.json";
    /// Folder name of the checkpoints.
    pub const CHECKPOINTS: &'static str = "checkpoints";
    /// Folder name of the importances saved by `--save-importance`.
    pub const IMPORTANCE: &'static str = "importance";
    /// Folder name of `synaptic analyze importance`'s output when no `--out` is given.
    pub const ANALYSIS: &'static str = "analysis";
    /// File name of the lock a process holds while it trains into the folder
    /// ([`crate::run_lock`]).
    pub const LOCK: &'static str = "run.lock";
    /// Folder name of the live logs (TensorBoard event files, `scalars.csv`).
    pub const LOGS: &'static str = "logs";

    /// The run folder at `path` (nothing is created).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `result.json`.
    pub fn result(&self) -> PathBuf {
        self.path.join(Self::RESULT)
    }

    /// `accuracy.csv`.
    pub fn accuracy_csv(&self) -> PathBuf {
        self.path.join(Self::ACCURACY_CSV)
    }

    /// `run-config.json`.
    pub fn config(&self) -> PathBuf {
        self.path.join(Self::CONFIG)
    }

    /// `checkpoints/`.
    pub fn checkpoints(&self) -> PathBuf {
        self.path.join(Self::CHECKPOINTS)
    }

    /// `checkpoints/checkpoint.json`, the latest checkpoint's manifest.
    pub fn checkpoint_manifest(&self) -> PathBuf {
        self.checkpoints().join(crate::checkpoint::MANIFEST)
    }

    /// `importance/`.
    pub fn importance(&self) -> PathBuf {
        self.path.join(Self::IMPORTANCE)
    }

    /// `analysis/`.
    pub fn analysis(&self) -> PathBuf {
        self.path.join(Self::ANALYSIS)
    }

    /// `run.lock`.
    pub fn lock(&self) -> PathBuf {
        self.path.join(Self::LOCK)
    }

    /// `logs/`.
    pub fn logs(&self) -> PathBuf {
        self.path.join(Self::LOGS)
    }

    /// Removes the temporary files that a process killed mid-write left in the folder, its
    /// `checkpoints/` and its `importance/` (see [`crate::fsutil::remove_stale_temporaries`]);
    /// for the process that holds the run, when it starts or resumes. Returns the files removed.
    pub fn remove_stale_temporaries(&self) -> Vec<PathBuf> {
        [self.path.clone(), self.checkpoints(), self.importance()]
            .iter()
            .flat_map(|d| crate::fsutil::remove_stale_temporaries(d))
            .collect()
    }

    /// The files a finished run writes at its top level (what `--overwrite` removes), the
    /// result first: without it the folder no longer claims a finished run.
    pub fn top_level_files(&self) -> [PathBuf; 3] {
        [self.result(), self.accuracy_csv(), self.config()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_on_disk_keeps_its_names() {
        let r = RunDir::new("out");
        let rel = |p: PathBuf| {
            p.strip_prefix("out")
                .unwrap()
                .to_string_lossy()
                .into_owned()
        };
        assert_eq!(
            [
                rel(r.result()),
                rel(r.accuracy_csv()),
                rel(r.config()),
                rel(r.checkpoints()),
                rel(r.checkpoint_manifest()),
                rel(r.importance()),
                rel(r.analysis()),
                rel(r.lock()),
                rel(r.logs()),
            ],
            [
                "result.json",
                "accuracy.csv",
                "run-config.json",
                "checkpoints",
                "checkpoints/checkpoint.json",
                "importance",
                "analysis",
                "run.lock",
                "logs",
            ]
        );
    }
}
