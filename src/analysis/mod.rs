//! Importance analysis (`synaptic run --save-importance`, `synaptic analyze importance`): SI's
//! importance measured next to the diagonal Fisher and MAS's importance at the end of every
//! task, saved as `.npy` files, and compared per layer (Pearson, Spearman, log-log scatter
//! plots, correlation between tasks).
//!
//! - [`record`]: the [`record::ImportanceRecorder`] regulariser wrapper that measures and saves.
//! - [`npy`]: NumPy `.npy` v1.0 reading and writing (little-endian f32).
//! - [`stats`]: Pearson, Spearman (average ranks for ties), log10 Pearson.
//! - [`index`]: `index.json`, what was saved and where.
//! - [`importance`]: loading a run's saved importances and the analysis (tables, JSON).
//! - [`figures`]: the scatter plots and between-task heatmaps (PNG and SVG), drawn with
//!   [`crate::figures`].
//!
//! [`analyze_run`] puts the last three together.

pub mod figures;
pub mod importance;
pub mod index;
pub mod npy;
pub mod record;
pub mod stats;

use std::path::Path;

pub use index::{ImportanceIndex, ParamInfo, TaskEntry, ESTIMATORS, FORMAT};

/// Why saved importances could not be read or analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The run folder does not exist.
    #[error("run folder {} does not exist", .0.display())]
    NoRun(std::path::PathBuf),
    /// The run saved no importances.
    #[error("{} holds no saved importances ({} is missing): train it with importance saving on", run.display(), index.display())]
    NoImportances {
        /// The run folder.
        run: std::path::PathBuf,
        /// The index file looked for.
        index: std::path::PathBuf,
    },
    /// An output folder cannot be created.
    #[error("cannot create {}: {error}", path.display())]
    CreateDir {
        /// The folder.
        path: std::path::PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A saved importance holds a NaN or an infinity: every correlation of its task would be
    /// undefined, and a mean over tasks would quietly cover fewer of them.
    #[error("{} holds {value} at entry {entry}: its importances are unusable (the analysis would silently leave that task out); train the run again with importance saving on", path.display())]
    NonFinite {
        /// The `.npy` file.
        path: std::path::PathBuf,
        /// The first bad entry (0-based, in C order).
        entry: usize,
        /// Its value.
        value: f32,
    },
    /// A saved file is unusable, or an output cannot be written (the message says which).
    #[error("{0}")]
    Invalid(String),
}

impl From<npy::NpyError> for AnalysisError {
    fn from(e: npy::NpyError) -> Self {
        AnalysisError::Invalid(e.0)
    }
}

impl From<String> for AnalysisError {
    fn from(message: String) -> Self {
        AnalysisError::Invalid(message)
    }
}

/// Runs the whole analysis of `run` into `out`: tables, JSON and figures. Returns the analysis.
pub fn analyze_run(run: &Path, out: &Path) -> Result<importance::Analysis, AnalysisError> {
    let saved = importance::Saved::load(run)?;
    crate::fsutil::create_out_dir(out).map_err(|error| AnalysisError::CreateDir {
        path: out.to_path_buf(),
        error,
    })?;
    let mut a = importance::analyze(&saved);
    a.figures = figures::draw_all(&saved, &a, out)?;
    let write = |name: &str, bytes: &[u8]| {
        let p = out.join(name);
        crate::fsutil::write_atomic(&p, bytes)
            .map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    write("importance.md", importance::markdown(&a).as_bytes())?;
    write(
        "importance.json",
        &serde_json::to_vec_pretty(&a).map_err(|e| AnalysisError::Invalid(e.to_string()))?,
    )?;
    Ok(a)
}
