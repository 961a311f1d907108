//! A grid of runs planned once and executed anywhere: `plan` (the cells, each with its fully
//! resolved config and folder, kept as `DIR/grid.json`), `status` (what each cell's folder
//! says: finished, running, interrupted, pending) and `collect` (the summary files of a finished
//! grid). `compare`, `sweep`, `reproduce` and `grid run` execute the same plan cell by cell, in
//! one process or as one process per cell (any scheduler), so their numbers are the same.

pub mod collect;
pub mod plan;
pub mod status;

pub use collect::{collect, Collected};
pub use plan::{Cell, GridError, GridKind, GridPlan, GRID_FILE};
pub use status::{cell_state, CellState};
