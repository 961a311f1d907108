//! Aggregates over several runs: mean, sample standard deviation and standard error per method
//! (`synaptic compare`, `summary.json`/`summary.md`) and per hyperparameter point
//! (`synaptic sweep`, `sweep.json`/`sweep.md`).

use serde::{Deserialize, Serialize};

use super::RunResult;
use crate::plural::plural;

/// Arithmetic mean of `xs` (0 for an empty slice).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Sample standard deviation of `xs`, with the n−1 denominator (0 for fewer than two values).
pub fn sample_sd(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// Standard error of the mean, sd/√n (0 for an empty slice).
pub fn sem(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        sample_sd(xs) / (xs.len() as f64).sqrt()
    }
}

/// One metric over several runs: mean, sample standard deviation, standard error and the values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Mean of `values`.
    pub mean: f64,
    /// Sample standard deviation (n−1 denominator; 0 for one value).
    pub sd: f64,
    /// Standard error of the mean, sd/√n.
    pub sem: f64,
    /// The values, in run order.
    pub values: Vec<f64>,
}

impl Stat {
    /// The statistics of `values`.
    pub fn of(values: &[f64]) -> Self {
        Stat {
            mean: mean(values),
            sd: sample_sd(values),
            sem: sem(values),
            values: values.to_vec(),
        }
    }

    /// `mean ± sd (SEM sem)` with `decimals` digits after the point.
    pub fn cell(&self, decimals: usize) -> String {
        format!(
            "{:.d$} ± {:.d$} (SEM {:.d$})",
            self.mean,
            self.sd,
            self.sem,
            d = decimals
        )
    }
}

/// Joins the distinct strings of `items` in first-seen order with `/`.
fn distinct<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for s in items {
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    seen.join("/")
}

/// The four headline metrics of a group of runs.
fn metric_stats(runs: &[&RunResult]) -> [Stat; 4] {
    let pick = |f: fn(&RunResult) -> f64| Stat::of(&runs.iter().map(|r| f(r)).collect::<Vec<_>>());
    [
        pick(|r| r.average_accuracy),
        pick(|r| r.backward_transfer),
        pick(|r| r.forgetting),
        pick(|r| r.train_seconds),
    ]
}

/// One method's results over its seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodSummary {
    /// Method name.
    pub method: String,
    /// Number of runs (seeds) aggregated.
    pub n: usize,
    /// The method's hyperparameters (`RunConfig::method_summary`).
    pub config_summary: String,
    /// Epochs per task.
    pub epochs: usize,
    /// ACC over the runs.
    pub average_accuracy: Stat,
    /// BWT over the runs.
    pub backward_transfer: Stat,
    /// Average forgetting over the runs.
    pub forgetting: Stat,
    /// Training seconds over the runs.
    pub train_seconds: Stat,
}

impl MethodSummary {
    /// Aggregates the runs of one method (`None` if `runs` is empty).
    pub fn from_runs(runs: &[&RunResult]) -> Option<Self> {
        let first = runs.first()?;
        let [average_accuracy, backward_transfer, forgetting, train_seconds] = metric_stats(runs);
        Some(MethodSummary {
            method: first.method.clone(),
            n: runs.len(),
            config_summary: first.config.method_summary(),
            epochs: first.config.train.epochs,
            average_accuracy,
            backward_transfer,
            forgetting,
            train_seconds,
        })
    }
}

/// The content of `summary.json`: every method of a `compare` grid, in the order asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Benchmark name.
    pub benchmark: String,
    /// Scenario name (several joined with `/` if the methods differ).
    pub scenario: String,
    /// Seeds every method ran with.
    pub seeds: Vec<u64>,
    /// The command line that produced the grid.
    pub command: String,
    /// Per-method aggregates.
    pub methods: Vec<MethodSummary>,
}

impl Summary {
    /// Aggregates `groups` (one list of runs per method, in table order); empty groups are left out.
    pub fn new(groups: &[Vec<RunResult>], seeds: &[u64], command: &str) -> Self {
        let all = || groups.iter().flatten();
        Summary {
            benchmark: distinct(all().map(|r| r.benchmark.as_str())),
            scenario: distinct(all().map(|r| r.scenario.as_str())),
            seeds: seeds.to_vec(),
            command: command.to_string(),
            methods: groups
                .iter()
                .filter_map(|g| MethodSummary::from_runs(&g.iter().collect::<Vec<_>>()))
                .collect(),
        }
    }

    /// `summary.md`: a header line, the table (mean ± sd (SEM)), then each method's settings.
    pub fn to_markdown(&self) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let epochs: Vec<usize> = self.methods.iter().map(|m| m.epochs).collect();
        let epochs = if epochs.windows(2).all(|w| w[0] == w[1]) {
            format!(
                "{} per task",
                plural(epochs.first().copied().unwrap_or(0), "epoch")
            )
        } else {
            let per: Vec<String> = self
                .methods
                .iter()
                .map(|m| format!("{} {}", m.method, m.epochs))
                .collect();
            format!("epochs per task: {}", per.join(", "))
        };
        let mut s = format!(
            "{}, {} scenario; seeds {}; {epochs}; command: `{}`\n\n",
            self.benchmark,
            self.scenario,
            seeds.join(", "),
            self.command
        );
        s += "| method | n | ACC | BWT | forgetting | train s |\n";
        s += "|---|---:|---:|---:|---:|---:|\n";
        for m in &self.methods {
            s += &format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                m.method,
                m.n,
                m.average_accuracy.cell(4),
                m.backward_transfer.cell(4),
                m.forgetting.cell(4),
                m.train_seconds.cell(1)
            );
        }
        s.push('\n');
        for m in &self.methods {
            let settings = if m.config_summary.is_empty() {
                "no hyperparameters"
            } else {
                &m.config_summary
            };
            s += &format!("- {}: {settings}\n", m.method);
        }
        s
    }
}

/// A value of a swept hyperparameter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GridValue {
    /// A count (epochs, batch size, samples).
    Int(usize),
    /// A real number (strengths, rates).
    Float(f64),
}

impl std::fmt::Display for GridValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Float(v) => write!(f, "{v}"),
        }
    }
}

impl GridValue {
    /// The value as a TOML literal (floats keep a decimal point or exponent).
    pub fn toml(&self) -> String {
        match self {
            Self::Int(v) => v.to_string(),
            Self::Float(v) => format!("{v:?}"),
        }
    }
}

/// One hyperparameter of a sweep point, by its config-file name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Setting {
    /// Config-file name, e.g. `lambda` or `si_cap`.
    pub name: String,
    /// Its value at this point.
    pub value: GridValue,
}

/// `name=value,name2=value2`: a grid point's label and folder name.
pub fn label(settings: &[Setting]) -> String {
    settings
        .iter()
        .map(|s| format!("{}={}", s.name, s.value))
        .collect::<Vec<_>>()
        .join(",")
}

/// One point of a sweep grid with its results over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The hyperparameters set at this point, in `--grid` order.
    pub settings: Vec<Setting>,
    /// Number of runs (seeds) aggregated.
    pub n: usize,
    /// Validation ACC over the seeds.
    pub average_accuracy: Stat,
    /// Validation BWT over the seeds.
    pub backward_transfer: Stat,
    /// Validation forgetting over the seeds.
    pub forgetting: Stat,
    /// Training seconds over the seeds.
    pub train_seconds: Stat,
}

impl SweepPoint {
    /// Aggregates the runs of one grid point.
    pub fn new(settings: Vec<Setting>, runs: &[&RunResult]) -> Self {
        let [average_accuracy, backward_transfer, forgetting, train_seconds] = metric_stats(runs);
        SweepPoint {
            settings,
            n: runs.len(),
            average_accuracy,
            backward_transfer,
            forgetting,
            train_seconds,
        }
    }
}

/// The content of `sweep.json`: every grid point, best mean validation ACC first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Benchmark name.
    pub benchmark: String,
    /// Scenario name.
    pub scenario: String,
    /// Method swept.
    pub method: String,
    /// Split the runs were measured on (always "validation").
    pub eval_on: String,
    /// Seeds every point ran with.
    pub seeds: Vec<u64>,
    /// The command line that produced the sweep.
    pub command: String,
    /// The swept hyperparameters, in `--grid` order.
    pub names: Vec<String>,
    /// The grid points, sorted by mean validation ACC, best first (ties keep grid order).
    pub points: Vec<SweepPoint>,
}

impl Sweep {
    /// Builds the sweep table from its points (any order), sorting them best first.
    pub fn new(
        method: &str,
        runs: &[RunResult],
        names: Vec<String>,
        mut points: Vec<SweepPoint>,
        seeds: &[u64],
        command: &str,
    ) -> Self {
        points.sort_by(|a, b| b.average_accuracy.mean.total_cmp(&a.average_accuracy.mean));
        Sweep {
            benchmark: distinct(runs.iter().map(|r| r.benchmark.as_str())),
            scenario: distinct(runs.iter().map(|r| r.scenario.as_str())),
            method: method.to_string(),
            eval_on: "validation".into(),
            seeds: seeds.to_vec(),
            command: command.to_string(),
            names,
            points,
        }
    }

    /// The best point (highest mean validation ACC).
    pub fn best(&self) -> Option<&SweepPoint> {
        self.points.first()
    }

    /// The best point as a preset table, e.g. `[ewc]\nlambda = 100.0\n`.
    pub fn preset_toml(&self) -> String {
        let mut s = format!("[{}]\n", self.method);
        for set in self
            .best()
            .map(|p| p.settings.as_slice())
            .unwrap_or_default()
        {
            s += &format!("{} = {}\n", set.name, set.value.toml());
        }
        s
    }

    /// `sweep.md`: header, one row per point (best first), then the best point and its preset table.
    pub fn to_markdown(&self) -> String {
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let mut s = format!(
            "sweep of {} on {} ({} scenario), measured on the validation split (10% of each task's training data, never the test set); seeds {}; command: `{}`\n\n",
            self.method,
            self.benchmark,
            self.scenario,
            seeds.join(", "),
            self.command
        );
        let mut head = String::from("|");
        let mut rule = String::from("|");
        for name in &self.names {
            head += &format!(" {name} |");
            rule += "---:|";
        }
        s += &format!("{head} n | validation ACC | forgetting | train s |\n");
        s += &format!("{rule}---:|---:|---:|---:|\n");
        for p in &self.points {
            let mut row = String::from("|");
            for set in &p.settings {
                row += &format!(" {} |", set.value);
            }
            s += &format!(
                "{row} {} | {:.4} ± {:.4} | {:.4} | {:.1} |\n",
                p.n,
                p.average_accuracy.mean,
                p.average_accuracy.sd,
                p.forgetting.mean,
                p.train_seconds.mean
            );
        }
        if let Some(best) = self.best() {
            s += &format!(
                "\nbest: {} (validation ACC {:.4} ± {:.4}); as a preset table:\n\n```toml\n{}```\n",
                best.settings
                    .iter()
                    .map(|x| format!("{}={}", x.name, x.value))
                    .collect::<Vec<_>>()
                    .join(" "),
                best.average_accuracy.mean,
                best.average_accuracy.sd,
                self.preset_toml()
            );
        }
        s
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::RunConfig;
    use crate::method::Registry;
    use crate::scenario::Benchmark;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn statistics_match_hand_computed_values() {
        let xs = [0.9, 0.95, 1.0];
        assert!(close(mean(&xs), 0.95));
        assert!(close(sample_sd(&xs), 0.05));
        assert!(close(sem(&xs), 0.028867513459481287));
        // sd of [2, 4, 4, 4, 5, 5, 7, 9]: Σ(x−5)² = 32, /7, √ = 2.138089935299395.
        let ys = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(close(mean(&ys), 5.0));
        assert!(close(sample_sd(&ys), 2.138089935299395));
        assert!(close(sem(&ys), 2.138089935299395 / 8f64.sqrt()));
        // One value: no spread; none: zeros, not NaN.
        assert_eq!(
            Stat::of(&[0.7]),
            Stat {
                mean: 0.7,
                sd: 0.0,
                sem: 0.0,
                values: vec![0.7]
            }
        );
        assert_eq!((mean(&[]), sample_sd(&[]), sem(&[])), (0.0, 0.0, 0.0));
    }

    #[test]
    fn cells_have_the_asked_for_decimals() {
        let s = Stat::of(&[0.9, 0.95, 1.0]);
        assert_eq!(s.cell(4), "0.9500 ± 0.0500 (SEM 0.0289)");
        assert_eq!(Stat::of(&[10.0, 12.0]).cell(1), "11.0 ± 1.4 (SEM 1.0)");
    }

    /// A hand-made result (no matrix) for tests.
    pub(crate) fn result(method: &str, seed: u64, acc: f64, secs: f64) -> RunResult {
        let mut config = RunConfig::defaults(
            Benchmark::SplitMnist,
            Registry::builtin()
                .defaults(method, Benchmark::SplitMnist)
                .unwrap(),
        );
        config.train.seed = seed;
        RunResult {
            version: "test".into(),
            benchmark: "split-mnist".into(),
            scenario: "task".into(),
            method: method.into(),
            seed,
            config,
            task_names: vec![],
            layout: Default::default(),
            accuracy_matrix: vec![],
            initial_accuracy: vec![],
            average_accuracy: acc,
            mean_seen_accuracy: vec![],
            backward_transfer: -acc / 10.0,
            forgetting: acc / 10.0,
            forward_transfer: 0.0,
            epoch_loss: vec![],
            final_penalty: vec![],
            train_seconds: secs,
            eval_seconds: 0.0,
            total_seconds: secs,
            steps: 0,
            backend: "cpu".into(),
            threads: 1,
            data_dir: String::new(),
            started_unix: 0,
            burn_version: String::new(),
            machine: Default::default(),
        }
    }

    #[test]
    fn summary_aggregates_each_method_in_the_given_order() {
        let groups = vec![
            vec![
                result("l2", 0, 0.9, 10.0),
                result("l2", 1, 0.95, 12.0),
                result("l2", 2, 1.0, 14.0),
            ],
            vec![result("finetune", 0, 0.6, 5.0)],
        ];
        let s = Summary::new(&groups, &[0, 1, 2], "synaptic compare");
        assert_eq!(
            (s.benchmark.as_str(), s.scenario.as_str()),
            ("split-mnist", "task")
        );
        assert_eq!(s.methods.len(), 2);
        let l2 = &s.methods[0];
        assert_eq!((l2.method.as_str(), l2.n), ("l2", 3));
        assert!(close(l2.average_accuracy.mean, 0.95) && close(l2.average_accuracy.sd, 0.05));
        assert!(close(l2.backward_transfer.mean, -0.095));
        assert!(close(l2.forgetting.sd, 0.005));
        assert!(close(l2.train_seconds.mean, 12.0) && close(l2.train_seconds.sd, 2.0));
        assert_eq!(l2.average_accuracy.values, vec![0.9, 0.95, 1.0]);
        assert_eq!(l2.config_summary, "λ=1 (preset none)");
        let ft = &s.methods[1];
        assert_eq!(
            (ft.n, ft.average_accuracy.sd, ft.average_accuracy.sem),
            (1, 0.0, 0.0)
        );

        let md = s.to_markdown();
        let lines: Vec<&str> = md.lines().collect();
        assert!(
            lines[0].starts_with("split-mnist, task scenario; seeds 0, 1, 2; 10 epochs per task;")
        );
        assert!(lines[0].contains("`synaptic compare`"));
        assert_eq!(
            lines[2],
            "| method | n | ACC | BWT | forgetting | train s |"
        );
        assert_eq!(
            lines[4],
            "| l2 | 3 | 0.9500 ± 0.0500 (SEM 0.0289) | -0.0950 ± 0.0050 (SEM 0.0029) | 0.0950 ± 0.0050 (SEM 0.0029) | 12.0 ± 2.0 (SEM 1.2) |"
        );
        assert!(lines[5].starts_with("| finetune | 1 | 0.6000 ± 0.0000 (SEM 0.0000)"));
        assert!(md.contains("- l2: λ=1 (preset none)\n- finetune: no hyperparameters\n"));

        let json: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(json["methods"][0]["average_accuracy"]["values"][2], 1.0);
        assert_eq!(json["seeds"], serde_json::json!([0, 1, 2]));
    }

    #[test]
    fn sweep_sorts_best_first_and_writes_a_preset_table() {
        let lam = |v: f64| {
            vec![Setting {
                name: "lambda".into(),
                value: GridValue::Float(v),
            }]
        };
        let (a, b, c) = (
            result("ewc", 0, 0.8, 1.0),
            result("ewc", 0, 0.9, 1.0),
            result("ewc", 1, 0.92, 3.0),
        );
        let points = vec![
            SweepPoint::new(lam(0.1), &[&a]),
            SweepPoint::new(lam(100.0), &[&b, &c]),
        ];
        let runs = vec![a.clone(), b.clone(), c.clone()];
        let s = Sweep::new("ewc", &runs, vec!["lambda".into()], points, &[0, 1], "cmd");
        assert_eq!(label(&s.points[0].settings), "lambda=100");
        assert_eq!(s.preset_toml(), "[ewc]\nlambda = 100.0\n");
        let md = s.to_markdown();
        assert!(
            md.contains("validation split (10% of each task's training data, never the test set)")
        );
        let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| ")).collect();
        assert_eq!(rows.len(), 3, "{md}");
        assert!(rows[1].starts_with("| 100 | 2 | 0.9100 ± 0.0141 |"), "{md}");
        assert!(rows[2].starts_with("| 0.1 | 1 | 0.8000 ± 0.0000 |"), "{md}");
        assert!(
            md.contains("\nbest: lambda=100 (validation ACC 0.9100"),
            "{md}"
        );
        assert!(
            md.ends_with("```toml\n[ewc]\nlambda = 100.0\n```\n"),
            "{md}"
        );
        assert_eq!(GridValue::Int(64).toml(), "64");
        assert_eq!(GridValue::Float(1e-10).toml(), "1e-10");
        assert_eq!(
            label(&[
                Setting {
                    name: "c".into(),
                    value: GridValue::Float(0.5)
                },
                Setting {
                    name: "epochs".into(),
                    value: GridValue::Int(3)
                }
            ]),
            "c=0.5,epochs=3"
        );
    }
}
