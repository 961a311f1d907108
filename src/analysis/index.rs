//! `OUT/importance/index.json`, the on-disk format `record` writes and `importance` reads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Version tag of `index.json`.
pub const FORMAT: &str = "synaptic-importance/1";

/// The estimators saved per task, with what each file holds.
pub const ESTIMATORS: &[(&str, &str)] = &[
    (
        "si_omega",
        "SI's cumulative importance Ω after this task, as the penalty uses it (clamped as the run's --si-clamp says)",
    ),
    (
        "si_task",
        "SI's importance of this task alone, ω/((θ−θ̃)²+ξ), before it is added to Ω (not clamped)",
    ),
    (
        "fisher",
        "diagonal Fisher information of this task, E_x Σ_y p(y|x)(∂ log p(y|x)/∂θ)² (exact estimator)",
    ),
    (
        "mas",
        "MAS importance of this task, mean over examples of |∂‖f(x)‖²/∂θ|",
    ),
];

/// `OUT/importance/index.json`: what was saved and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportanceIndex {
    /// [`FORMAT`].
    pub format: String,
    /// Benchmark name.
    pub benchmark: String,
    /// Scenario name.
    pub scenario: String,
    /// The run's method.
    pub method: String,
    /// The run's seed.
    pub seed: u64,
    /// `method` when SI is the run's own regulariser, `observer` when a passive SI estimator
    /// (strength 0, same ξ) ran alongside another method.
    pub si_source: String,
    /// SI's damping ξ in ω/((θ−θ̃)²+ξ).
    pub xi: f64,
    /// Examples per task the Fisher and MAS importance were averaged over (at most).
    pub samples: usize,
    /// The Fisher estimator used.
    pub fisher_estimator: String,
    /// `--exclude` patterns: with `si_source` = `method`, SI's Ω of matching parameters is 0.
    pub excluded: Vec<String>,
    /// Estimator name → what its files hold.
    pub estimators: BTreeMap<String, String>,
    /// Every float parameter of the model, in visit order.
    pub params: Vec<ParamInfo>,
    /// The tasks measured so far, in order.
    pub tasks: Vec<TaskEntry>,
}

/// One parameter tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    /// Module path, e.g. `layers.0.weight`.
    pub path: String,
    /// Shape of the tensor (the `.npy` files hold it in C order).
    pub shape: Vec<usize>,
}

/// The files of one finished task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEntry {
    /// 0-based task.
    pub task: usize,
    /// Task name (e.g. `0/1`).
    pub name: String,
    /// Examples the Fisher and MAS importance were averaged over.
    pub samples: usize,
    /// Seconds the measurement took (Fisher, MAS, files).
    pub seconds: f64,
    /// Estimator → parameter path → file, relative to the importance folder.
    pub files: BTreeMap<String, BTreeMap<String, String>>,
}
