//! `grid.json`: a grid's kind (what its summary groups), the command that made it and every
//! cell's label, folder (relative to the grid folder) and resolved config.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::report::summary::Setting;
use crate::report::RunResult;
use crate::run_dir::RunDir;

/// The plan's file name inside the grid folder.
pub const GRID_FILE: &str = "grid.json";
/// Layout version of `grid.json`.
pub const FORMAT: u32 = 1;

/// What a grid is, as far as its summary needs to know.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GridKind {
    /// `compare`: every method × seed, grouped by method (`summary.json`/`.md`).
    Compare {
        /// Methods in table order.
        methods: Vec<String>,
        /// Seeds per method.
        seeds: Vec<u64>,
    },
    /// `sweep`: every grid point × seed (`sweep.json`/`.md`).
    Sweep {
        /// The method swept.
        method: String,
        /// The swept hyperparameters, in `--grid` order.
        names: Vec<String>,
        /// Every point's settings.
        points: Vec<Vec<Setting>>,
        /// Seeds per point.
        seeds: Vec<u64>,
    },
    /// `reproduce`: the paper's settings × seeds (`report.md`/`.json` and figures).
    Reproduce {
        /// The paper's experiment, e.g. `split-mnist`.
        benchmark: String,
        /// Seeds per setting.
        seeds: Vec<u64>,
    },
}

impl GridKind {
    /// The command that plans a grid of this kind.
    pub fn command(&self) -> &'static str {
        match self {
            GridKind::Compare { .. } => "compare",
            GridKind::Sweep { .. } => "sweep",
            GridKind::Reproduce { .. } => "reproduce",
        }
    }
}

/// One run of a grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// What progress lines call it, e.g. `l2 seed 1`.
    pub label: String,
    /// Its run folder, relative to the grid folder.
    pub dir: PathBuf,
    /// Its fully resolved config.
    pub config: RunConfig,
}

/// The content of `grid.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GridPlan {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// What the grid is.
    pub kind: GridKind,
    /// The command line that planned it (as the summaries quote it).
    pub command: String,
    /// The data folder every cell reads.
    pub data_dir: PathBuf,
    /// The cells, in summary order.
    pub cells: Vec<Cell>,
}

/// A problem with a grid folder or its plan.
#[derive(Debug, thiserror::Error)]
pub enum GridError {
    /// No `grid.json` in the folder.
    #[error("{} holds no grid plan ({GRID_FILE}): plan one with `synaptic grid plan compare|sweep|reproduce ... --out {}`", dir.display(), dir.display())]
    NoPlan {
        /// The grid folder.
        dir: PathBuf,
    },
    /// `grid.json` could not be read or parsed.
    #[error("{} is unreadable ({message}): plan the grid again into another folder", path.display())]
    Corrupt {
        /// The plan file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A file could not be written or read.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// The folder holds another grid.
    #[error("{} holds a different grid ({why}): use another --out or delete that folder", dir.display())]
    Different {
        /// The grid folder.
        dir: PathBuf,
        /// The first difference.
        why: String,
    },
    /// A cell's folder holds a run of another config.
    #[error("{} holds a run with a different config ({why}): use another --out or delete that folder", dir.display())]
    CellDiffers {
        /// The cell's folder.
        dir: PathBuf,
        /// The first difference.
        why: String,
    },
    /// A cell index past the end.
    #[error("--cell {cell}: the grid has {cells} cells, numbered 0 to {}", cells.saturating_sub(1))]
    NoCell {
        /// The index asked for.
        cell: usize,
        /// The grid's cell count.
        cells: usize,
    },
    /// Collecting a grid whose cells have not all finished.
    #[error("{done} of {total} cells have finished (first missing: {first}): run the rest with `synaptic grid run {}`, then collect", dir.display())]
    Unfinished {
        /// The grid folder.
        dir: PathBuf,
        /// Finished cells.
        done: usize,
        /// All cells.
        total: usize,
        /// The first unfinished cell's label.
        first: String,
    },
    /// Writing the summary failed.
    #[error(transparent)]
    Report(#[from] crate::report::collect::ReportError),
}

/// `cfg` as a round trip through JSON makes it, so that floats compare exactly with a stored one.
pub fn as_stored(cfg: &RunConfig) -> RunConfig {
    serde_json::to_string(cfg)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or_else(|| cfg.clone())
}

/// The first setting where `want` and `have` differ (threads aside), as `name: A there, B now`.
pub fn first_difference(want: &RunConfig, have: &RunConfig) -> String {
    let (Ok(serde_json::Value::Object(w)), Ok(serde_json::Value::Object(h))) =
        (serde_json::to_value(want), serde_json::to_value(have))
    else {
        return "settings differ".into();
    };
    // Settings left at their default are not stored, so either side may lack a key.
    let null = serde_json::Value::Null;
    let keys = w.keys().chain(h.keys().filter(|k| !w.contains_key(*k)));
    for k in keys {
        let (old, new) = (h.get(k).unwrap_or(&null), w.get(k).unwrap_or(&null));
        if !["threads", "log", "log_every"].contains(&k.as_str()) && old != new {
            return format!("{k}: {old} there, {new} now");
        }
    }
    "settings differ".into()
}

/// `None` if `have` is `want`'s run (threads aside), else the first difference.
pub fn config_difference(want: &RunConfig, have: &RunConfig) -> Option<String> {
    let want = as_stored(want);
    let mut threadless = have.clone();
    threadless.threads = want.threads;
    (threadless != want).then(|| first_difference(&want, have))
}

impl GridPlan {
    /// A plan of `cells`.
    pub fn new(kind: GridKind, command: String, data_dir: PathBuf, cells: Vec<Cell>) -> Self {
        GridPlan {
            format: FORMAT,
            kind,
            command,
            data_dir,
            cells,
        }
    }

    /// The plan file of the grid folder `dir`.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(GRID_FILE)
    }

    /// Reads `dir/grid.json`.
    pub fn read(dir: &Path) -> Result<GridPlan, GridError> {
        let path = Self::path(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(GridError::NoPlan {
                    dir: dir.to_path_buf(),
                })
            }
            Err(error) => {
                return Err(GridError::Io {
                    action: "read",
                    path,
                    error,
                })
            }
        };
        let plan: GridPlan = serde_json::from_slice(&bytes).map_err(|e| GridError::Corrupt {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if plan.format != FORMAT {
            return Err(GridError::Corrupt {
                path,
                message: format!("format {}, this synaptic reads {FORMAT}", plan.format),
            });
        }
        Ok(plan)
    }

    /// Writes the plan into `dir` atomically; an existing plan there must be this one (its
    /// cells and kind; the command line and thread counts may differ).
    pub fn write(&self, dir: &Path) -> Result<(), GridError> {
        self.check(dir)?;
        let path = Self::path(dir);
        let bytes = serde_json::to_vec_pretty(self).expect("a plan serialises");
        crate::fsutil::write_atomic(&path, &bytes).map_err(|error| GridError::Io {
            action: "write",
            path,
            error,
        })
    }

    /// Refuses the grid folder `dir` if it holds another plan ([`GridError::Different`]).
    pub fn check(&self, dir: &Path) -> Result<(), GridError> {
        match Self::read(dir) {
            Ok(old) => match self.difference(&old) {
                Some(why) => Err(GridError::Different {
                    dir: dir.to_path_buf(),
                    why,
                }),
                None => Ok(()),
            },
            Err(GridError::NoPlan { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// How `old` differs from this plan, if it does (commands and thread counts aside).
    pub fn difference(&self, old: &GridPlan) -> Option<String> {
        if self.kind != old.kind {
            return Some(format!(
                "a {} grid of other settings or seeds",
                old.kind.command()
            ));
        }
        if self.cells.len() != old.cells.len() {
            return Some(format!(
                "{} cells there, {} now",
                old.cells.len(),
                self.cells.len()
            ));
        }
        for (new, old) in self.cells.iter().zip(&old.cells) {
            if new.dir != old.dir {
                return Some(format!(
                    "cell {} there, {} now",
                    old.dir.display(),
                    new.dir.display()
                ));
            }
            if let Some(why) = config_difference(&new.config, &old.config) {
                return Some(format!("{}: {why}", new.label));
            }
        }
        None
    }

    /// Cell `k`, or [`GridError::NoCell`].
    pub fn cell(&self, k: usize) -> Result<&Cell, GridError> {
        self.cells.get(k).ok_or(GridError::NoCell {
            cell: k,
            cells: self.cells.len(),
        })
    }

    /// The finished run of `cell` in the grid folder `dir`, if there is one; an error if its
    /// folder holds a run of another config.
    pub fn finished(&self, dir: &Path, cell: &Cell) -> Result<Option<RunResult>, GridError> {
        let folder = dir.join(&cell.dir);
        let path = RunDir::new(&folder).result();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(GridError::Io {
                    action: "read",
                    path,
                    error,
                })
            }
        };
        let r: RunResult = serde_json::from_slice(&bytes).map_err(|e| GridError::Corrupt {
            path: path.clone(),
            message: format!("not a result this synaptic can read: {e}"),
        })?;
        if let Some(why) = config_difference(&cell.config, &r.config) {
            return Err(GridError::CellDiffers { dir: folder, why });
        }
        Ok(Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Registry;
    use crate::scenario::Benchmark;

    fn plan(lambda: f64) -> GridPlan {
        let b = Benchmark::SplitMnist;
        let mut cfg = RunConfig::defaults(b, Registry::builtin().defaults("l2", b).unwrap());
        cfg.method.set("lambda", lambda.into());
        GridPlan::new(
            GridKind::Compare {
                methods: vec!["l2".into()],
                seeds: vec![0],
            },
            "synaptic compare --methods l2".into(),
            "data/mnist".into(),
            vec![Cell {
                label: "l2 seed 0".into(),
                dir: "l2/seed-0".into(),
                config: cfg,
            }],
        )
    }

    #[test]
    fn a_plan_round_trips_and_a_different_one_is_refused_in_its_folder() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(matches!(
            GridPlan::read(tmp.path()),
            Err(GridError::NoPlan { .. })
        ));
        let p = plan(0.1 + 0.2);
        p.write(tmp.path()).unwrap();
        let back = GridPlan::read(tmp.path()).unwrap();
        assert_eq!(back.difference(&p), None);
        assert_eq!(back.cells[0].config, as_stored(&p.cells[0].config));
        // The same plan again (another command line, other threads) is accepted.
        let mut again = plan(0.1 + 0.2);
        again.command = "synaptic grid plan compare --methods l2".into();
        again.cells[0].config.threads = 7;
        again.write(tmp.path()).unwrap();
        let e = plan(5.0).write(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains(
                "holds a different grid (l2 seed 0: lambda: 0.30000000000000004 there, 5.0 now)"
            ),
            "{e}"
        );
        let e = back.cell(3).unwrap_err().to_string();
        assert_eq!(e, "--cell 3: the grid has 1 cells, numbered 0 to 0");
    }

    #[test]
    fn plans_tell_class_settings_apart_whichever_side_leaves_them_out() {
        use crate::scenario::ClassOrder;
        let p = plan(0.1);
        let mut ordered = plan(0.1);
        ordered.cells[0].config.class_order = ClassOrder::Random;
        ordered.cells[0].config.classes_per_task = Some(3);
        assert_eq!(
            ordered.difference(&p).unwrap(),
            "l2 seed 0: class_order: null there, \"random\" now"
        );
        assert_eq!(
            p.difference(&ordered).unwrap(),
            "l2 seed 0: class_order: \"random\" there, null now"
        );
        let tmp = tempfile::tempdir().unwrap();
        ordered.write(tmp.path()).unwrap();
        let back = GridPlan::read(tmp.path()).unwrap();
        assert_eq!(back.cells[0].config.class_order, ClassOrder::Random);
        assert_eq!(back.difference(&ordered), None);
    }
}
