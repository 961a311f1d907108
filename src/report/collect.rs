//! Finding `result.json` files under folders and grouping the runs for `synaptic report`: runs
//! with the same benchmark, scenario, method and config (seed and thread count aside) form one
//! group; a group's label is the method plus the settings that differ between the groups of the
//! same method (e.g. `SI c=0`, `SI c=1`, `scratch`); groups of one benchmark and scenario form one
//! figure set.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::summary::Stat;
use super::RunResult;
use crate::figures::slug;
use crate::method::Registry;
use crate::plural::plural;
use crate::run_dir::RunDir;

/// A problem with the report's input, as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ReportError(pub String);

/// One `result.json` and where it was found.
#[derive(Debug, Clone)]
pub struct Found {
    /// The file.
    pub path: PathBuf,
    /// Its content, every metric recomputed from its accuracy matrix ([`check_result`]).
    pub result: RunResult,
    /// What the reader should know about the file (e.g. stored metrics that disagreed with the
    /// matrix), one line each.
    pub notes: Vec<String>,
}

/// `v` short: `-5`, `0.5`, `1e308`.
fn number(v: f64) -> String {
    let a = v.abs();
    if a.is_finite() && a != 0.0 && !(1e-4..1e6).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// What a damaged or hand-edited result file should get: the remedy of every refusal.
const REMEDY: &str =
    "the file is damaged or was edited: run that setting again, or leave its folder out";

/// Checks the accuracy matrix of a result read from `path` (T×T with T the config's task count,
/// T ≥ 1, every value in [0, 1]) and its initial accuracies (T values in [0, 1]), then
/// recomputes every metric from the matrix into `r`, so that the report never shows a stored
/// number its own matrix contradicts. Returns a note naming the file where a stored metric
/// differed; a matrix that is empty, ragged, of the wrong size or out of range is an error
/// naming the file.
pub fn check_result(path: &Path, r: &mut RunResult) -> Result<Vec<String>, ReportError> {
    let refuse = |what: String| Err(ReportError(format!("{}: {what}; {REMEDY}", path.display())));
    let m = &r.accuracy_matrix;
    let t = m.len();
    if t == 0 {
        return refuse("its accuracy_matrix is empty (a finished run has a row per task)".into());
    }
    if t != r.config.tasks {
        return refuse(format!(
            "its accuracy_matrix has {} but its config says {}",
            plural(t, "row"),
            plural(r.config.tasks, "task")
        ));
    }
    for (i, row) in m.iter().enumerate() {
        if row.len() != t {
            return refuse(format!(
                "row {} of its accuracy_matrix has {}, want {t} (the matrix is square: every task after every task)",
                i + 1,
                plural(row.len(), "value")
            ));
        }
        if let Some((j, v)) = (row.iter().enumerate()).find(|(_, v)| !(0.0..=1.0).contains(*v)) {
            return refuse(format!(
                "accuracy_matrix[{i}][{j}] is {}, not an accuracy in [0, 1]",
                number(*v)
            ));
        }
    }
    let b = &r.initial_accuracy;
    if b.len() != t {
        return refuse(format!(
            "its initial_accuracy has {}, want {t} (one per task)",
            plural(b.len(), "value")
        ));
    }
    if let Some((j, v)) = (b.iter().enumerate()).find(|(_, v)| !(0.0..=1.0).contains(*v)) {
        return refuse(format!(
            "initial_accuracy[{j}] is {}, not an accuracy in [0, 1]",
            number(*v)
        ));
    }
    if !r.task_names.is_empty() && r.task_names.len() != t {
        return refuse(format!(
            "it names {} for {}",
            plural(r.task_names.len(), "task"),
            plural(t, "task")
        ));
    }
    let x = crate::metrics::compute(m, b);
    // Recomputed by the same code from the same numbers, a file synaptic wrote agrees exactly;
    // the tolerance only forgives another summation order.
    let differs = |a: f64, b: f64| {
        !matches!(
            (a - b).abs().partial_cmp(&1e-9),
            Some(Ordering::Less | Ordering::Equal)
        )
    };
    let mut wrong: Vec<String> = [
        ("average_accuracy", r.average_accuracy, x.average_accuracy),
        (
            "backward_transfer",
            r.backward_transfer,
            x.backward_transfer,
        ),
        ("forgetting", r.forgetting, x.forgetting),
        ("forward_transfer", r.forward_transfer, x.forward_transfer),
    ]
    .into_iter()
    .filter(|(_, stored, computed)| differs(*stored, *computed))
    .map(|(k, stored, computed)| {
        let (a, b) = (format!("{stored:.4}"), format!("{computed:.4}"));
        if a == b {
            format!("{k} {stored} (the matrix gives {computed})")
        } else {
            format!("{k} {a} (the matrix gives {b})")
        }
    })
    .collect();
    let seen = &r.mean_seen_accuracy;
    if seen.len() != t
        || seen
            .iter()
            .zip(&x.mean_seen_accuracy)
            .any(|(a, b)| differs(*a, *b))
    {
        wrong.push("mean_seen_accuracy".into());
    }
    r.average_accuracy = x.average_accuracy;
    r.backward_transfer = x.backward_transfer;
    r.forgetting = x.forgetting;
    r.forward_transfer = x.forward_transfer;
    r.mean_seen_accuracy = x.mean_seen_accuracy;
    Ok(if wrong.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "{}: stored {} disagree with its accuracy matrix; the report uses the values computed from the matrix",
            path.display(),
            wrong.join(", ")
        )]
    })
}

/// Folders never searched: checkpoints and hidden folders.
fn skipped(name: &str) -> bool {
    name == RunDir::CHECKPOINTS || name.starts_with('.')
}

/// Every `result.json` under `dir` (which may itself be a run folder or a `result.json`).
fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let file = RunDir::new(dir).result();
    if file.is_file() {
        out.push(file);
    }
    if depth == 0 {
        return Ok(());
    }
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        // Symbolic links are not followed (no cycles).
        if e.file_type()?.is_dir() && !skipped(&e.file_name().to_string_lossy()) {
            walk(&e.path(), depth - 1, out)?;
        }
    }
    Ok(())
}

/// Reads every `result.json` under each of `dirs` (a run, a `compare` folder, a folder of runs);
/// a folder with none, an unreadable file or one that is not a result is an error naming it.
/// A file reached twice (nested or repeated folders) is read once.
pub fn find_results(dirs: &[PathBuf]) -> Result<Vec<Found>, ReportError> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        if dir.is_file() && dir.file_name().is_some_and(|n| n == RunDir::RESULT) {
            paths.push(dir.clone());
            continue;
        }
        if !dir.is_dir() {
            return Err(ReportError(format!(
                "{} is not a folder: name run folders, compare/reproduce folders or folders holding them",
                dir.display()
            )));
        }
        let before = paths.len();
        walk(dir, 8, &mut paths)
            .map_err(|e| ReportError(format!("cannot read {}: {e}", dir.display())))?;
        if paths.len() == before {
            return Err(ReportError(format!(
                "{} holds no result.json (searched 8 folders deep): point at the output folder of a finished run, compare or reproduce",
                dir.display()
            )));
        }
    }
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut found = Vec::new();
    for path in paths {
        let canon = path.canonicalize().unwrap_or_else(|_| path.clone());
        if seen.contains(&canon) {
            continue;
        }
        seen.push(canon);
        let bytes = std::fs::read(&path)
            .map_err(|e| ReportError(format!("cannot read {}: {e}", path.display())))?;
        let mut result: RunResult = serde_json::from_slice(&bytes).map_err(|e| {
            ReportError(format!(
                "{} is not a synaptic result file ({e}); delete it or leave its folder out",
                path.display()
            ))
        })?;
        let notes = check_result(&path, &mut result)?;
        found.push(Found {
            path,
            result,
            notes,
        });
    }
    Ok(found)
}

/// Config keys that never separate groups: the seed varies within a group, the thread count
/// does not change the numbers' meaning, and the rest is in the group key already.
const NOT_GROUPING: [&str; 5] = ["seed", "threads", "method", "benchmark", "scenario"];

/// A run's config as a JSON object without the keys of [`NOT_GROUPING`].
fn grouping_config(r: &RunResult) -> serde_json::Map<String, Value> {
    let mut m = match serde_json::to_value(&r.config) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for k in NOT_GROUPING {
        m.remove(k);
    }
    m
}

/// Runs of one setting over its seeds.
#[derive(Debug, Clone)]
pub struct Group {
    /// Benchmark name.
    pub benchmark: String,
    /// Scenario name.
    pub scenario: String,
    /// Method name (as in result files).
    pub method: String,
    /// What tables and legends call the group, e.g. `SI c=1`.
    pub label: String,
    /// The settings that set this group apart from the other groups of its method: (key, value).
    pub distinct: Vec<(String, Value)>,
    /// The runs, by seed.
    pub runs: Vec<RunResult>,
    /// Where each run's `result.json` was found (same order as `runs`).
    pub paths: Vec<PathBuf>,
    /// The shared config (seed and threads aside), for the distinct-settings search.
    config: serde_json::Map<String, Value>,
}

/// The groups of one benchmark and scenario: one figure set.
#[derive(Debug, Clone)]
pub struct FigureSet {
    /// Benchmark name.
    pub benchmark: String,
    /// Scenario name.
    pub scenario: String,
    /// The groups, methods in the registry's order, then by their distinct settings.
    pub groups: Vec<Group>,
    /// What the reader should know about the set's input files (stored metrics that disagreed
    /// with their matrix, a run counted once although found twice), one line each.
    pub notes: Vec<String>,
}

impl FigureSet {
    /// Distinct seeds over all groups, ascending.
    pub fn seeds(&self) -> Vec<u64> {
        let mut s: Vec<u64> = self
            .groups
            .iter()
            .flat_map(|g| g.runs.iter().map(|r| r.seed))
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// `split-mnist · task scenario · 3 seeds` (the seed count is the largest group's).
    pub fn title(&self) -> String {
        let n = self.groups.iter().map(|g| g.runs.len()).max().unwrap_or(0);
        format!(
            "{} · {} scenario · {}",
            self.benchmark,
            self.scenario,
            plural(n, "seed")
        )
    }

    /// What the accuracies were measured on (`test`, `train`, `validation`; several joined by `/`).
    pub fn eval_on(&self) -> String {
        let mut seen: Vec<String> = Vec::new();
        for g in &self.groups {
            let e = g.config.get("eval_on").map_or_else(
                || "test".to_string(),
                |v| v.as_str().unwrap_or("test").to_string(),
            );
            if !seen.contains(&e) {
                seen.push(e);
            }
        }
        seen.join("/")
    }

    /// A file-name stem for the set, e.g. `split-mnist-task`.
    pub fn stem(&self) -> String {
        slug(&format!("{}-{}", self.benchmark, self.scenario))
    }
}

/// How tables and legends name a method: its label (`SI`, `online EWC`), an unknown one as is.
pub fn method_display(method: &str) -> String {
    Registry::builtin().label(method)
}

/// A config key as labels show it.
fn key_display(key: &str) -> &str {
    match key {
        "xi" => "ξ",
        "lambda" => "λ",
        "gamma" => "γ",
        other => other,
    }
}

/// A config value as labels show it: numbers short (`0.01`, `1e7`), strings bare, lists with `,`.
pub fn value_display(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => u.to_string(),
            (_, Some(i), _) => i.to_string(),
            (_, _, Some(f)) => {
                let a = f.abs();
                if a != 0.0 && !(1e-3..1e5).contains(&a) {
                    format!("{f:e}")
                } else {
                    format!("{f}")
                }
            }
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(xs) => xs.iter().map(value_display).collect::<Vec<_>>().join(","),
        Value::Object(_) => v.to_string(),
    }
}

/// Orders config values: numbers numerically, anything else by its text.
fn value_cmp(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => value_display(a).cmp(&value_display(b)),
    }
}

fn method_rank(method: &str) -> usize {
    Registry::builtin().rank(method)
}

/// Groups the runs into figure sets (by benchmark and scenario, in name order), each with its
/// groups labelled and ordered.
pub fn group_runs(found: Vec<Found>) -> Vec<FigureSet> {
    let mut groups: Vec<Group> = Vec::new();
    // (benchmark, scenario, note) until the sets exist.
    let mut notes: Vec<(String, String, String)> = Vec::new();
    for f in found {
        let r = f.result;
        for n in f.notes {
            notes.push((r.benchmark.clone(), r.scenario.clone(), n));
        }
        let config = grouping_config(&r);
        let slot = groups.iter_mut().find(|g| {
            g.benchmark == r.benchmark
                && g.scenario == r.scenario
                && g.method == r.method
                && g.config == config
        });
        match slot {
            Some(g) => {
                g.runs.push(r);
                g.paths.push(f.path);
            }
            None => groups.push(Group {
                benchmark: r.benchmark.clone(),
                scenario: r.scenario.clone(),
                method: r.method.clone(),
                label: String::new(),
                distinct: Vec::new(),
                runs: vec![r],
                paths: vec![f.path],
                config,
            }),
        }
    }
    for g in &mut groups {
        let mut pairs: Vec<(RunResult, PathBuf)> =
            g.runs.drain(..).zip(g.paths.drain(..)).collect();
        pairs.sort_by(|a, b| a.0.seed.cmp(&b.0.seed).then_with(|| a.1.cmp(&b.1)));
        // Two copies of one run (same setting, same seed) are one seed, not two.
        let mut kept: Vec<(RunResult, PathBuf)> = Vec::with_capacity(pairs.len());
        for (r, path) in pairs {
            match kept.last() {
                Some((first, first_path)) if first.seed == r.seed => notes.push((
                    g.benchmark.clone(),
                    g.scenario.clone(),
                    format!(
                        "{} and {} hold the same setting with the same seed ({}): counted once, from {}",
                        folder(first_path).display(),
                        folder(&path).display(),
                        r.seed,
                        folder(first_path).display()
                    ),
                )),
                _ => kept.push((r, path)),
            }
        }
        (g.runs, g.paths) = kept.into_iter().unzip();
    }
    let mut sets: Vec<FigureSet> = Vec::new();
    for g in groups {
        match sets
            .iter_mut()
            .find(|s| s.benchmark == g.benchmark && s.scenario == g.scenario)
        {
            Some(s) => s.groups.push(g),
            None => sets.push(FigureSet {
                benchmark: g.benchmark.clone(),
                scenario: g.scenario.clone(),
                groups: vec![g],
                notes: Vec::new(),
            }),
        }
    }
    for s in &mut sets {
        label_groups(&mut s.groups);
        s.notes = (notes.iter())
            .filter(|(b, sc, _)| *b == s.benchmark && *sc == s.scenario)
            .map(|(_, _, n)| n.clone())
            .collect();
    }
    sets.sort_by(|a, b| (&a.benchmark, &a.scenario).cmp(&(&b.benchmark, &b.scenario)));
    sets
}

/// The folder of a `result.json` (the run folder), as found.
fn folder(result: &Path) -> &Path {
    result.parent().unwrap_or(result)
}

/// Sets each group's distinct settings and label, and sorts the groups.
fn label_groups(groups: &mut [Group]) {
    let mut methods: Vec<String> = groups.iter().map(|g| g.method.clone()).collect();
    methods.sort();
    methods.dedup();
    for m in methods {
        let idx: Vec<usize> = (0..groups.len())
            .filter(|&i| groups[i].method == m)
            .collect();
        if idx.len() < 2 {
            for &i in &idx {
                groups[i].label = method_display(&m);
            }
            continue;
        }
        let mut keys: Vec<String> = Vec::new();
        for &i in &idx {
            for k in groups[i].config.keys() {
                let first = groups[idx[0]].config.get(k);
                let differs = idx.iter().any(|&j| groups[j].config.get(k) != first);
                if differs && !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        // Keys every group has first (in config order), so labels read alike.
        keys.sort_by_key(|k| !idx.iter().all(|&j| groups[j].config.contains_key(k)));
        for &i in &idx {
            let distinct: Vec<(String, Value)> = keys
                .iter()
                .map(|k| {
                    (
                        k.clone(),
                        groups[i].config.get(k).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect();
            let parts: Vec<String> = distinct
                .iter()
                .map(|(k, v)| format!("{}={}", key_display(k), value_display(v)))
                .collect();
            groups[i].label = format!("{} {}", method_display(&m), parts.join(" "));
            groups[i].distinct = distinct;
        }
    }
    groups.sort_by(|a, b| {
        method_rank(&a.method)
            .cmp(&method_rank(&b.method))
            .then_with(|| a.method.cmp(&b.method))
            .then_with(|| {
                a.distinct
                    .iter()
                    .zip(&b.distinct)
                    .map(|((_, x), (_, y))| value_cmp(x, y))
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            })
    });
}

/// A group's numbers over its seeds.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupStats {
    /// Mean accuracy on the tasks seen, after 1, 2, … tasks.
    pub mean_seen: Vec<Stat>,
    /// Accuracy on each task after the last one (the matrix's last row).
    pub final_per_task: Vec<Stat>,
    /// ACC.
    pub average_accuracy: Stat,
    /// BWT.
    pub backward_transfer: Stat,
    /// Forgetting.
    pub forgetting: Stat,
    /// FWT.
    pub forward_transfer: Stat,
    /// Seconds of training.
    pub train_seconds: Stat,
}

impl Group {
    /// Tasks every run of the group has (the shortest curve).
    pub fn tasks(&self) -> usize {
        self.runs
            .iter()
            .map(|r| r.mean_seen_accuracy.len().min(r.accuracy_matrix.len()))
            .min()
            .unwrap_or(0)
    }

    /// Mean, sd and SEM over the seeds of every number the report shows.
    pub fn stats(&self) -> GroupStats {
        let t = self.tasks();
        let pick =
            |f: &dyn Fn(&RunResult) -> f64| Stat::of(&self.runs.iter().map(f).collect::<Vec<_>>());
        GroupStats {
            mean_seen: (0..t).map(|i| pick(&|r| r.mean_seen_accuracy[i])).collect(),
            final_per_task: (0..t)
                .map(|j| pick(&|r| r.accuracy_matrix[t - 1].get(j).copied().unwrap_or(f64::NAN)))
                .collect(),
            average_accuracy: pick(&|r| r.average_accuracy),
            backward_transfer: pick(&|r| r.backward_transfer),
            forgetting: pick(&|r| r.forgetting),
            forward_transfer: pick(&|r| r.forward_transfer),
            train_seconds: pick(&|r| r.train_seconds),
        }
    }

    /// The config this group shares (seed, threads, method, benchmark and scenario left out).
    pub fn config(&self) -> &serde_json::Map<String, Value> {
        &self.config
    }
}
