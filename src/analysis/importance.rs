//! `synaptic analyze importance`: loads the importances a run saved with `--save-importance`
//! and compares SI with the Fisher and MAS per layer and per task, and each estimator between
//! tasks; writes `importance.md`, `importance.json` and the figures.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::index::{ImportanceIndex, ESTIMATORS, FORMAT};
use super::stats::{correlate, spearman, Correlation};
use crate::run_dir::RunDir;

/// Name of the row that pools every parameter of the model.
pub const ALL: &str = "all parameters";

/// The pairs compared: (x, y, label). `*_sum` are sums over the tasks so far.
pub const PAIRS: &[(&str, &str, &str)] = &[
    ("si_task", "fisher", "SI (task) vs Fisher"),
    ("si_task", "mas", "SI (task) vs MAS"),
    ("fisher", "mas", "Fisher vs MAS"),
    ("si_omega", "fisher_sum", "SI Ω vs ΣFisher"),
    ("si_omega", "mas_sum", "SI Ω vs ΣMAS"),
];

/// Points per panel in the PNG scatter plots (a deterministic subsample when there are more).
pub const MAX_POINTS_PNG: usize = 20_000;
/// Points per panel in the SVG scatter plots (each point is an element: kept small).
pub const MAX_POINTS_SVG: usize = 2_500;

/// Estimators whose task-to-task correlation is measured.
pub const BETWEEN: &[&str] = &["si_task", "fisher", "mas"];

/// A run's saved importances, all in memory: (task, estimator, parameter) → values.
pub struct Saved {
    /// `index.json`.
    pub index: ImportanceIndex,
    /// The importance folder.
    pub dir: PathBuf,
    data: BTreeMap<(usize, String, String), Vec<f32>>,
}

impl Saved {
    /// Loads `RUN/importance/` (or `RUN` itself when it holds `index.json`).
    pub fn load(run: &Path) -> Result<Self, super::AnalysisError> {
        let dir = if run.join("index.json").exists() {
            run.to_path_buf()
        } else {
            RunDir::new(run).importance()
        };
        let index_path = dir.join("index.json");
        if !run.exists() {
            return Err(super::AnalysisError::NoRun(run.to_path_buf()));
        }
        let bytes =
            std::fs::read(&index_path).map_err(|_| super::AnalysisError::NoImportances {
                run: run.to_path_buf(),
                index: index_path.clone(),
            })?;
        let index: ImportanceIndex = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is corrupt: {e}", index_path.display()))?;
        if index.format != FORMAT {
            return Err(format!(
                "{} has format '{}', this synaptic reads '{}'",
                index_path.display(),
                index.format,
                FORMAT
            )
            .into());
        }
        if index.tasks.is_empty() {
            return Err(format!(
                "{} lists no finished task yet: let the run finish a task",
                index_path.display()
            )
            .into());
        }
        let mut data = BTreeMap::new();
        for t in &index.tasks {
            for (est, files) in &t.files {
                for p in &index.params {
                    let rel = files.get(&p.path).ok_or_else(|| {
                        format!(
                            "{} lists no {est} file of {} for task {}",
                            index_path.display(),
                            p.path,
                            t.task + 1
                        )
                    })?;
                    let path = dir.join(rel);
                    let (shape, v) = super::npy::read_f32(&path)?;
                    if let Some((entry, &value)) =
                        v.iter().enumerate().find(|(_, x)| !x.is_finite())
                    {
                        return Err(super::AnalysisError::NonFinite { path, entry, value });
                    }
                    if shape != p.shape {
                        return Err(format!(
                            "{}: shape {shape:?}, index.json says {:?}",
                            dir.join(rel).display(),
                            p.shape
                        )
                        .into());
                    }
                    data.insert((t.task, est.clone(), p.path.clone()), v);
                }
            }
        }
        Ok(Self { index, dir, data })
    }

    /// Values of `estimator` for `param` (or [`ALL`]: every parameter, in visit order) after task
    /// `task`; `fisher_sum` / `mas_sum` add up the tasks up to `task`. `None` if not saved.
    pub fn values(&self, task: usize, estimator: &str, param: &str) -> Option<Vec<f64>> {
        if param == ALL {
            let mut out = Vec::new();
            for p in &self.index.params {
                out.extend(self.values(task, estimator, &p.path)?);
            }
            return Some(out);
        }
        if let Some(base) = estimator.strip_suffix("_sum") {
            let mut acc: Option<Vec<f64>> = None;
            for t in self.index.tasks.iter().filter(|t| t.task <= task) {
                let v = self.values(t.task, base, param)?;
                acc = Some(match acc {
                    Some(a) => a.iter().zip(&v).map(|(x, y)| x + y).collect(),
                    None => v,
                });
            }
            return acc;
        }
        self.data
            .get(&(task, estimator.to_string(), param.to_string()))
            .map(|v| v.iter().map(|&x| x as f64).collect())
    }

    /// Parameter paths, then [`ALL`].
    pub fn layers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.index.params.iter().map(|p| p.path.clone()).collect();
        v.push(ALL.into());
        v
    }
}

/// One correlation of a pair on one task and layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// 0-based task.
    pub task: usize,
    /// Parameter path or [`ALL`].
    pub layer: String,
    /// The correlations.
    #[serde(flatten)]
    pub corr: Correlation,
}

/// Every cell of one pair of estimators.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairResult {
    /// Estimator on the x axis.
    pub x: String,
    /// Estimator on the y axis.
    pub y: String,
    /// Human-readable name.
    pub label: String,
    /// One per (task, layer).
    pub cells: Vec<Cell>,
}

/// How many entries of an estimator are zero or negative (left out of log plots).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Zeros {
    /// Estimator.
    pub estimator: String,
    /// Parameter path or [`ALL`].
    pub layer: String,
    /// Entries over all tasks.
    pub n: usize,
    /// Exactly zero.
    pub zero: usize,
    /// Negative (only SI's task importance can be).
    pub negative: usize,
}

/// Spearman's ρ between the importances of task k and task l.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BetweenTasks {
    /// Estimator.
    pub estimator: String,
    /// Parameter path or [`ALL`].
    pub layer: String,
    /// `ρ[k][l]` (`null` when undefined).
    pub spearman: Vec<Vec<Option<f64>>>,
}

/// Everything `importance.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Analysis {
    /// The run's `index.json` header (tasks without their file lists).
    pub run: RunInfo,
    /// Layers analysed: parameter paths, then [`ALL`].
    pub layers: Vec<String>,
    /// Per pair of estimators, the correlations per task and layer.
    pub pairs: Vec<PairResult>,
    /// Zero and negative entries per estimator and layer.
    pub zeros: Vec<Zeros>,
    /// Between-task correlation of each estimator's per-task importance.
    pub between_tasks: Vec<BetweenTasks>,
    /// Figure files written next to `importance.json`.
    pub figures: Vec<String>,
}

/// What was analysed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    /// Benchmark.
    pub benchmark: String,
    /// Scenario.
    pub scenario: String,
    /// Method.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// Where SI's importance came from (`method` or `observer`).
    pub si_source: String,
    /// SI's ξ.
    pub xi: f64,
    /// Examples per task for the Fisher and MAS.
    pub samples: usize,
    /// Task names, in order.
    pub tasks: Vec<String>,
    /// Estimator descriptions.
    pub estimators: BTreeMap<String, String>,
}

/// Computes every table of the analysis (no figures).
pub fn analyze(saved: &Saved) -> Analysis {
    let idx = &saved.index;
    let layers = saved.layers();
    let tasks: Vec<usize> = idx.tasks.iter().map(|t| t.task).collect();
    let mut pairs: Vec<PairResult> = PAIRS
        .iter()
        .map(|(x, y, label)| PairResult {
            x: x.to_string(),
            y: y.to_string(),
            label: label.to_string(),
            cells: Vec::new(),
        })
        .collect();
    let mut zeros = Vec::new();
    let mut between = Vec::new();
    for layer in &layers {
        for &t in &tasks {
            for pr in pairs.iter_mut() {
                if let (Some(x), Some(y)) =
                    (saved.values(t, &pr.x, layer), saved.values(t, &pr.y, layer))
                {
                    pr.cells.push(Cell {
                        task: t,
                        layer: layer.clone(),
                        corr: correlate(&x, &y),
                    });
                }
            }
        }
        for (est, _) in ESTIMATORS {
            let mut z = Zeros {
                estimator: est.to_string(),
                layer: layer.clone(),
                n: 0,
                zero: 0,
                negative: 0,
            };
            for &t in &tasks {
                if let Some(v) = saved.values(t, est, layer) {
                    z.n += v.len();
                    z.zero += v.iter().filter(|&&x| x == 0.0).count();
                    z.negative += v.iter().filter(|&&x| x < 0.0).count();
                }
            }
            zeros.push(z);
        }
        for est in BETWEEN {
            let vs: Vec<Option<Vec<f64>>> =
                tasks.iter().map(|&t| saved.values(t, est, layer)).collect();
            let m = vs
                .iter()
                .enumerate()
                .map(|(k, a)| {
                    vs.iter()
                        .enumerate()
                        .map(|(l, b)| match (a, b) {
                            // A task with itself: exactly 1 where defined (the sums would
                            // round to 1 − 2⁻⁵²).
                            (Some(a), Some(_)) if k == l => spearman(a, a).map(|_| 1.0),
                            (Some(a), Some(b)) => spearman(a, b),
                            _ => None,
                        })
                        .collect()
                })
                .collect();
            between.push(BetweenTasks {
                estimator: est.to_string(),
                layer: layer.clone(),
                spearman: m,
            });
        }
    }
    Analysis {
        run: RunInfo {
            benchmark: idx.benchmark.clone(),
            scenario: idx.scenario.clone(),
            method: idx.method.clone(),
            seed: idx.seed,
            si_source: idx.si_source.clone(),
            xi: idx.xi,
            samples: idx.tasks.iter().map(|t| t.samples).max().unwrap_or(0),
            tasks: idx.tasks.iter().map(|t| t.name.clone()).collect(),
            estimators: idx.estimators.clone(),
        },
        layers,
        pairs,
        zeros,
        between_tasks: between,
        figures: Vec::new(),
    }
}

/// A correlation for a table: two decimals, `–` when undefined.
pub fn fmt(v: Option<f64>) -> String {
    match v {
        Some(v) => format!("{v:.2}"),
        None => "–".into(),
    }
}

/// Mean over tasks of the pair's Spearman ρ on `layer` (tasks where it is defined).
pub fn mean_spearman(p: &PairResult, layer: &str) -> Option<f64> {
    let v: Vec<f64> = p
        .cells
        .iter()
        .filter(|c| c.layer == layer)
        .filter_map(|c| c.corr.spearman)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The short table `analyze` prints: task-averaged Spearman ρ per layer and pair.
pub fn summary_table(a: &Analysis) -> String {
    let w = a
        .layers
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut s = format!("{:w$}", "layer");
    for p in &a.pairs {
        let _ = write!(s, "  {:>18}", p.label);
    }
    s.push('\n');
    for l in &a.layers {
        let _ = write!(s, "{l:w$}");
        for p in &a.pairs {
            let _ = write!(s, "  {:>18}", fmt(mean_spearman(p, l)));
        }
        s.push('\n');
    }
    s
}

/// `importance.md`.
pub fn markdown(a: &Analysis) -> String {
    let r = &a.run;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Importance: SI vs Fisher vs MAS — {}, {} ({} scenario), seed {}\n",
        r.benchmark, r.method, r.scenario, r.seed
    );
    let _ = writeln!(
        s,
        "Measured at the end of every task on the model right after training it (`synaptic run --save-importance`), \
         Fisher and MAS on {} training examples of the task. SI's importance comes from {} (ξ = {}).\n",
        r.samples,
        if r.si_source == "method" {
            "the run's own SI regulariser"
        } else {
            "a passive SI estimator (strength 0) that followed the run"
        },
        r.xi
    );
    let _ = writeln!(s, "Estimators:\n");
    for (k, v) in &r.estimators {
        let _ = writeln!(s, "- `{k}`: {v}");
    }
    let _ = writeln!(
        s,
        "- `fisher_sum`, `mas_sum`: the sum over the tasks so far (what online EWC with γ = 1 and MAS accumulate).\n"
    );
    let _ = writeln!(
        s,
        "## Summary: Spearman ρ per layer, mean over the {}\n",
        crate::plural::plural(r.tasks.len(), "task")
    );
    let mut head = "| layer |".to_string();
    let mut rule = "|---|".to_string();
    for p in &a.pairs {
        let _ = write!(head, " {} |", p.label);
        rule.push_str("---:|");
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for l in &a.layers {
        let _ = write!(s, "| `{l}` |");
        for p in &a.pairs {
            let _ = write!(s, " {} |", fmt(mean_spearman(p, l)));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\n## Per task\n\nEach cell: Spearman ρ (average ranks for ties) / Pearson r / Pearson r of log10 values \
         over the entries where both are positive (the share of entries left out of that one is in parentheses) / \
         least-squares slope of log10 y on log10 x over the same entries (2 would mean x ∝ √y). \
         `–`: undefined (a constant vector). Spearman and Pearson include the entries that are zero in both \
         (parameters no example of the task reaches: the masked heads of other tasks, always-black pixels), which \
         agree trivially; the log10 columns leave them out.\n"
    );
    for p in &a.pairs {
        let _ = writeln!(s, "### {} (`{}` vs `{}`)\n", p.label, p.x, p.y);
        let mut head = "| layer |".to_string();
        let mut rule = "|---|".to_string();
        for (k, name) in r.tasks.iter().enumerate() {
            let _ = write!(head, " task {} ({name}) |", k + 1);
            rule.push_str("---:|");
        }
        let _ = writeln!(s, "{head}\n{rule}");
        for l in &a.layers {
            let _ = write!(s, "| `{l}` |");
            for c in p.cells.iter().filter(|c| &c.layer == l) {
                let c = &c.corr;
                let dropped = 100.0 * c.log_dropped as f64 / c.n.max(1) as f64;
                let _ = write!(
                    s,
                    " {} / {} / {} ({dropped:.0}%) / {} |",
                    fmt(c.spearman),
                    fmt(c.pearson),
                    fmt(c.pearson_log10),
                    fmt(c.log_slope)
                );
            }
            s.push('\n');
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "## Zero and negative entries (all tasks)\n\nLeft out of the log-log plots and of log10 Pearson. \
         Only SI's task importance can be negative (a parameter that moved against its task gradient).\n"
    );
    let mut head = "| layer |".to_string();
    let mut rule = "|---|".to_string();
    for (e, _) in ESTIMATORS {
        let _ = write!(head, " `{e}` zero / negative |");
        rule.push_str("---:|");
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for l in &a.layers {
        let _ = write!(s, "| `{l}` |");
        for z in a.zeros.iter().filter(|z| &z.layer == l) {
            let pc = |k: usize| 100.0 * k as f64 / z.n.max(1) as f64;
            let _ = write!(s, " {:.1}% / {:.1}% |", pc(z.zero), pc(z.negative));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "\n## Between tasks\n\nSpearman ρ between the importance of task k (row) and task l (column), over {}; \
         per layer in `importance.json`.\n",
        ALL
    );
    for b in a.between_tasks.iter().filter(|b| b.layer == ALL) {
        let _ = writeln!(s, "### `{}`\n", b.estimator);
        let mut head = "| task |".to_string();
        let mut rule = "|---|".to_string();
        for k in 0..b.spearman.len() {
            let _ = write!(head, " {} |", k + 1);
            rule.push_str("---:|");
        }
        let _ = writeln!(s, "{head}\n{rule}");
        for (k, row) in b.spearman.iter().enumerate() {
            let _ = write!(s, "| {} |", k + 1);
            for v in row {
                let _ = write!(s, " {} |", fmt(*v));
            }
            s.push('\n');
        }
        s.push('\n');
    }
    if !a.figures.is_empty() {
        let _ = writeln!(
            s,
            "## Figures\n\nLog-log scatter plots: entries with a value ≤ 0 are left out (the count is on each panel); \
             at most {} points per panel in the PNG and {} in the SVG, a fixed random subsample.\n",
            MAX_POINTS_PNG,
            MAX_POINTS_SVG
        );
        for f in a.figures.iter().filter(|f| f.ends_with(".png")) {
            let svg = f.trim_end_matches(".png").to_string() + ".svg";
            let _ = writeln!(s, "![{f}]({f})\n\n([SVG]({svg}))\n");
        }
    }
    s
}
