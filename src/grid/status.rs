//! What a cell's folder says about it: finished, running (its lock held by a live process),
//! interrupted (a checkpoint, nobody running it) or pending.

use std::path::Path;

use crate::checkpoint::read_manifest;
use crate::run_dir::RunDir;
use crate::run_lock::{read_lock, Holder};

use super::plan::Cell;

/// A cell's state, as its folder shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum CellState {
    /// `result.json` is there.
    Finished,
    /// A live process holds the folder's lock; `tasks_done` from its latest checkpoint.
    Running {
        /// Who holds the lock.
        holder: Box<Holder>,
        /// Tasks completed so far.
        tasks_done: usize,
    },
    /// A checkpoint and no live holder: the next run of the cell resumes it.
    Interrupted {
        /// Tasks completed so far.
        tasks_done: usize,
    },
    /// Nothing yet.
    Pending,
}

impl CellState {
    /// One word for tables: finished, running, interrupted, pending.
    pub fn word(&self) -> &'static str {
        match self {
            CellState::Finished => "finished",
            CellState::Running { .. } => "running",
            CellState::Interrupted { .. } => "interrupted",
            CellState::Pending => "pending",
        }
    }
}

/// The state of `cell` of the grid in `dir`.
pub fn cell_state(dir: &Path, cell: &Cell) -> CellState {
    let run = RunDir::new(dir.join(&cell.dir));
    if run.result().exists() {
        return CellState::Finished;
    }
    let tasks_done = read_manifest(&run.checkpoints()).map(|m| m.task).ok();
    match read_lock(&run.lock()) {
        Some(holder) if !holder.is_gone() => CellState::Running {
            holder: Box::new(holder),
            tasks_done: tasks_done.unwrap_or(0),
        },
        _ => match tasks_done {
            Some(tasks_done) => CellState::Interrupted { tasks_done },
            None => CellState::Pending,
        },
    }
}
