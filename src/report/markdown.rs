//! `synaptic report`: from grouped runs ([`super::collect`]) to figures ([`crate::figures`]) and
//! `report.md` / `report.json`, with the paper's numbers ([`super::paper`]) beside ours where a
//! group matches one of the paper's settings.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::collect::{FigureSet, Group, GroupStats, ReportError};
use super::paper::{self, PaperSetting};
use super::summary::Stat;
use crate::config::RunConfig;
use crate::figures::{
    slug, write_figure, BarChart, BarGroup, ColorScale, Figure, HeatMap, LineChart, LineKind,
    Series,
};
use crate::fsutil::write_atomic_all;
use crate::plural::plural;

/// What the report says about where it came from.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    /// The folders read, as given.
    pub sources: Vec<String>,
    /// The command line, if any.
    pub command: Option<String>,
}

/// What [`write_report`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    /// `OUT/report.md`.
    pub markdown: PathBuf,
    /// `OUT/report.json`.
    pub json: PathBuf,
    /// Every figure file (PNG and SVG).
    pub figures: Vec<PathBuf>,
    /// The "ours vs paper" tables (markdown; empty when no group matches the paper).
    pub comparison: String,
    /// Warnings about the input, one line each (also listed in `report.md`).
    pub notes: Vec<String>,
}

/// One group in `report.json`.
#[derive(Debug, Clone, Serialize)]
struct GroupJson {
    label: String,
    method: String,
    n: usize,
    seeds: Vec<u64>,
    settings: String,
    stats: GroupStats,
    paper: Option<PaperJson>,
}

#[derive(Debug, Clone, Serialize)]
struct PaperJson {
    label: String,
    measured_on: String,
    source: String,
    mean_seen: Vec<f64>,
    final_per_task: Vec<f64>,
    final_mean: f64,
}

#[derive(Debug, Clone, Serialize)]
struct SetJson {
    benchmark: String,
    scenario: String,
    title: String,
    eval_on: String,
    groups: Vec<GroupJson>,
}

#[derive(Debug, Clone, Serialize)]
struct ReportJson {
    version: String,
    command: Option<String>,
    sources: Vec<String>,
    sets: Vec<SetJson>,
}

/// The paper's setting a group corresponds to.
pub fn paper_for(g: &Group) -> Option<&'static PaperSetting> {
    let c = g.config().get("c").and_then(Value::as_f64).unwrap_or(0.0);
    paper::matching(&g.benchmark, &g.scenario, &g.method, c)
}

/// Settings of a group that differ from the paper's protocol as `RunConfig::defaults` encodes it
/// (method strengths, seeds, threads and backend aside), as `epochs=1 (paper 10)`.
pub fn protocol_deviations(g: &Group) -> Vec<String> {
    let Some(first) = g.runs.first() else {
        return Vec::new();
    };
    let b = first.config.benchmark;
    let method = crate::method::Registry::builtin()
        .defaults(first.config.method.name(), b)
        .unwrap_or_else(|_| first.config.method.clone());
    let want = RunConfig::defaults(b, method);
    let (Ok(Value::Object(want)), Ok(Value::Object(have))) = (
        serde_json::to_value(&want),
        serde_json::to_value(&first.config),
    ) else {
        return Vec::new();
    };
    const IGNORED: [&str; 15] = [
        "seed",
        "threads",
        "backend",
        "preset",
        "c",
        "lambda",
        "gamma",
        "fisher",
        "fisher_samples",
        "exclude",
        "eval_batch_size",
        "method",
        "benchmark",
        "scenario",
        "eval_on",
    ];
    let mut out = Vec::new();
    for (k, v) in &have {
        if IGNORED.contains(&k.as_str()) {
            continue;
        }
        let w = want.get(k).unwrap_or(&Value::Null);
        if w != v {
            out.push(format!(
                "{k}={} (paper {})",
                super::collect::value_display(v),
                super::collect::value_display(w)
            ));
        }
    }
    out
}

fn pm(s: &Stat, d: usize) -> String {
    if s.values.len() > 1 {
        format!("{:.d$} ± {:.d$}", s.mean, s.sem, d = d)
    } else {
        format!("{:.d$}", s.mean, d = d)
    }
}

fn signed(s: &Stat, d: usize) -> String {
    if s.values.len() > 1 {
        format!("{:+.d$} ± {:.d$}", s.mean, s.sem, d = d)
    } else {
        format!("{:+.d$}", s.mean, d = d)
    }
}

/// The group's settings in one line: method hyperparameters, protocol, provenance.
fn settings_line(g: &Group) -> String {
    let Some(r) = g.runs.first() else {
        return String::new();
    };
    let c = &r.config;
    let method = c.method_summary();
    let limits = match (c.train_limit, c.test_limit) {
        (0, 0) => String::new(),
        (a, b) => format!(", at most {a} training / {b} evaluation examples per task (0 = all)"),
    };
    let net = if c.hidden.is_empty() {
        "CNN".to_string()
    } else {
        format!(
            "MLP hidden {}",
            c.hidden
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("-")
        )
    };
    let machine = if r.machine.cores > 0 {
        format!(
            ", machine {} {} {}",
            plural(r.machine.cores, "core"),
            r.machine.os,
            r.machine.arch
        )
    } else {
        String::new()
    };
    let burn = if r.burn_version.is_empty() {
        String::new()
    } else {
        format!(", burn {}", r.burn_version)
    };
    let init = match c.init {
        crate::model::WeightInit::Default => "",
        crate::model::WeightInit::Glorot => ", Glorot-uniform init with zero biases",
    };
    let init = if c.train.prob_clip > 0.0 {
        format!(
            "{init}, loss with Keras's probability clip {}",
            c.train.prob_clip
        )
    } else {
        init.to_string()
    };
    format!(
        "{}{} × {}, batch {}, Adam lr {}, optimizer reset per task: {}, {net}, head init {:?}{init}{limits}; evaluated on {}; synaptic {}{burn}, backend {}, {}{machine}",
        if method.is_empty() { String::new() } else { format!("{method}; ") },
        plural(c.tasks, "task"),
        plural(c.train.epochs, "epoch"),
        c.train.batch_size,
        c.train.lr,
        c.train.reset_optimizer,
        c.head_init,
        format!("{:?}", c.eval_on).to_lowercase(),
        r.version,
        r.backend,
        plural(r.threads, "thread"),
    )
    .replace("head init Default", "head init default")
    .replace("head init Zero", "head init zero")
}

/// The colour range of a heat map: from a round number at or below the lowest accuracy of the
/// tasks trained so far (the lower triangle), at most 0.5, to 1.
pub fn heat_range(m: &[Vec<f64>]) -> (f64, f64) {
    let lo = m
        .iter()
        .enumerate()
        .flat_map(|(i, row)| row.iter().take(i + 1).copied())
        .filter(|v| v.is_finite())
        .fold(0.5_f64, f64::min);
    (((lo * 20.0).floor() / 20.0).max(0.0), 1.0)
}

/// `path` relative to `base` where it lies under it, else as given.
fn relative(path: &Path, base: &Path) -> String {
    let canon = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    match canon(path).strip_prefix(canon(base)) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

/// The paper's settings matched by groups of a set, with the groups' indices.
type Matched = [(usize, &'static PaperSetting)];

/// The markdown of the "ours vs paper" tables for one set ("" if no group matches).
fn comparison(set: &FigureSet, stats: &[GroupStats], eval_on: &str) -> String {
    let matched: Vec<(usize, &PaperSetting)> = set
        .groups
        .iter()
        .enumerate()
        .filter_map(|(i, g)| paper_for(g).map(|p| (i, p)))
        .collect();
    if matched.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    if let Some(n) = paper::note(&set.benchmark) {
        s += &format!("{n}\n\n");
    }
    if matched.iter().any(|(_, p)| !p.mean_seen.is_empty()) {
        s += &mean_seen_comparison(set, stats, &matched, eval_on);
    }
    s += &final_comparison(set, stats, &matched, eval_on);
    s += &comparison_footer(set, &matched);
    s
}

/// `n` cells from `get`, "–" where it has none.
fn cells(n: usize, get: impl Fn(usize) -> Option<String>) -> String {
    (0..n)
        .map(|k| get(k).unwrap_or_else(|| "–".into()))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The table of mean accuracy on the tasks seen after each task, ours over the paper's.
fn mean_seen_comparison(
    set: &FigureSet,
    stats: &[GroupStats],
    matched: &Matched,
    eval_on: &str,
) -> String {
    let t = matched
        .iter()
        .map(|&(i, p)| stats[i].mean_seen.len().max(p.mean_seen.len()))
        .max()
        .unwrap_or(0);
    let mut s = String::from(
        "Mean accuracy on the tasks seen, after each task (ours: mean ± SEM over seeds):\n\n",
    );
    s += "| setting | measured on |";
    for k in 1..=t {
        s += &format!(" {k} |");
    }
    s += "\n|---|---|";
    s += &"---:|".repeat(t);
    s += "\n";
    for &(i, p) in matched {
        let ours = cells(t, |k| stats[i].mean_seen.get(k).map(|x| pm(x, 4)));
        s += &format!("| {} (ours) | {eval_on} | {ours} |\n", set.groups[i].label);
        if !p.mean_seen.is_empty() {
            let theirs = cells(t, |k| p.mean_seen.get(k).map(|x| format!("{x:.4}")));
            s += &format!("| {} (paper) | {} | {theirs} |\n", p.label, p.measured_on);
        }
    }
    s += "\n";
    s
}

/// The table of accuracy on each task after the last task and ACC, ours over the paper's.
fn final_comparison(
    set: &FigureSet,
    stats: &[GroupStats],
    matched: &Matched,
    eval_on: &str,
) -> String {
    let t = matched
        .iter()
        .map(|&(i, p)| stats[i].final_per_task.len().max(p.final_per_task.len()))
        .max()
        .unwrap_or(0);
    let mut s = String::from("Accuracy on each task after the last task, and its mean (ACC):\n\n");
    s += "| setting | measured on |";
    for k in 1..=t {
        s += &format!(" T{k} |");
    }
    s += " ACC |\n|---|---|";
    s += &"---:|".repeat(t + 1);
    s += "\n";
    for &(i, p) in matched {
        let ours = cells(t, |k| stats[i].final_per_task.get(k).map(|x| pm(x, 4)));
        s += &format!(
            "| {} (ours) | {eval_on} | {ours} | **{}** |\n",
            set.groups[i].label,
            pm(&stats[i].average_accuracy, 4)
        );
        let theirs = cells(t, |k| p.final_per_task.get(k).map(|x| format!("{x:.3}")));
        s += &format!(
            "| {} (paper) | {} | {theirs} | **{:.4}** |\n",
            p.label, p.measured_on, p.final_mean
        );
    }
    s
}

/// The paper's sources, and where our groups depart from its protocol.
fn comparison_footer(set: &FigureSet, matched: &Matched) -> String {
    let mut sources: Vec<&str> = matched.iter().map(|(_, p)| p.source).collect();
    sources.dedup();
    let mut s = format!("\nPaper: {}.\n", sources.join("; "));
    let devs: Vec<String> = matched
        .iter()
        .filter_map(|&(i, _)| {
            let d = protocol_deviations(&set.groups[i]);
            (!d.is_empty()).then(|| format!("{}: {}", set.groups[i].label, d.join(", ")))
        })
        .collect();
    if !devs.is_empty() {
        s += &format!("\n**Not the paper's protocol**: {}.\n", devs.join("; "));
    }
    s
}

/// A y range for accuracies in `values` (y ± error): from a round number below the lowest, to 1.
pub fn accuracy_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let lo = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(1.0_f64, f64::min);
    let lo = ((lo - 0.02) * 20.0).floor() / 20.0;
    (lo.clamp(0.0, 0.95), 1.005)
}

/// The error for a file that could not be written.
fn write_error(p: &Path, e: std::io::Error) -> ReportError {
    ReportError(format!("cannot write {}: {e}", p.display()))
}

/// The report's figure folder, under its output folder.
pub const FIGURES: &str = "figures";

/// Draws figures into a staging folder beside `out/figures/`, then puts the whole set in that
/// folder's place: a failure or a kill while drawing leaves the previous figures as they were,
/// never a half-written folder. Keeps every file written, in order, by its final path.
struct FigureWriter<'a> {
    out: &'a Path,
    stage: PathBuf,
    files: Vec<PathBuf>,
    done: bool,
}

impl<'a> FigureWriter<'a> {
    fn new(out: &'a Path) -> Result<Self, ReportError> {
        let dir = out.join(FIGURES);
        if dir.exists() && !dir.is_dir() {
            return Err(ReportError(format!(
                "{} is a file, not a folder: move it, or write the report elsewhere",
                dir.display()
            )));
        }
        // Staging folders of reports that were killed mid-way.
        if let Ok(entries) = std::fs::read_dir(out) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(".figures.tmp") || name.starts_with(".figures.old") {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let stage = out.join(format!(".figures.tmp{}", std::process::id()));
        crate::fsutil::create_out_dir(&stage)
            .map_err(|e| ReportError(format!("cannot create {}: {e}", stage.display())))?;
        Ok(Self {
            out,
            stage,
            files: Vec::new(),
            done: false,
        })
    }

    /// Draws `fig` as `NAME.png` and `.svg`; their paths relative to the report
    /// (`figures/NAME.png`, …).
    fn write(&mut self, fig: &impl Figure, name: &str) -> Result<(String, String), ReportError> {
        let base = self.stage.join(name);
        let drawn = write_figure(fig, &base)
            .map_err(|e| ReportError(format!("cannot draw {FIGURES}/{name}: {e}")))?;
        let [png, svg] = drawn.map(|p| {
            let file = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            self.files.push(self.out.join(FIGURES).join(&file));
            format!("{FIGURES}/{file}")
        });
        Ok((png, svg))
    }

    /// Replaces `out/figures/` by the figures drawn; their paths.
    fn finish(mut self) -> Result<Vec<PathBuf>, ReportError> {
        let dir = self.out.join(FIGURES);
        let old = self.out.join(format!(".figures.old{}", std::process::id()));
        let moved = |e: std::io::Error, what: &Path| {
            ReportError(format!("cannot replace {}: {e}", what.display()))
        };
        if dir.exists() {
            std::fs::rename(&dir, &old).map_err(|e| moved(e, &dir))?;
        }
        if let Err(e) = std::fs::rename(&self.stage, &dir) {
            let _ = std::fs::rename(&old, &dir);
            return Err(moved(e, &dir));
        }
        self.done = true;
        let _ = std::fs::remove_dir_all(&old);
        Ok(std::mem::take(&mut self.files))
    }
}

impl Drop for FigureWriter<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.stage);
        }
    }
}

/// One figure set with what every part of its section needs.
struct SetView<'a> {
    set: &'a FigureSet,
    stem: String,
    eval_on: String,
    title: String,
    stats: Vec<GroupStats>,
    papers: Vec<Option<&'static PaperSetting>>,
}

impl<'a> SetView<'a> {
    fn new(set: &'a FigureSet) -> Self {
        Self {
            set,
            stem: set.stem(),
            eval_on: set.eval_on(),
            title: set.title(),
            stats: set.groups.iter().map(Group::stats).collect(),
            papers: set.groups.iter().map(paper_for).collect(),
        }
    }
}

/// Draws every figure of `sets` into `out/figures/` and writes `out/report.md` and
/// `out/report.json`.
pub fn write_report(
    sets: &[FigureSet],
    out: &Path,
    opts: &ReportOptions,
) -> Result<Written, ReportError> {
    crate::fsutil::create_out_dir(out)
        .map_err(|e| ReportError(format!("cannot create {}: {e}", out.display())))?;
    let mut figures = FigureWriter::new(out)?;
    let mut md = header(sets, opts);
    let mut comparisons = String::new();
    let mut json_sets = Vec::new();
    for set in sets {
        let v = SetView::new(set);
        md += &set_section(&v, &mut figures, &mut comparisons)?;
        json_sets.push(set_json(v));
    }
    let doc = ReportJson {
        version: env!("CARGO_PKG_VERSION").into(),
        command: opts.command.clone(),
        sources: opts.sources.clone(),
        sets: json_sets,
    };
    let json_bytes = serde_json::to_vec_pretty(&doc).map_err(|e| ReportError(e.to_string()))?;
    // Every figure is drawn: now the set replaces the old one, then both texts are renamed into
    // place together.
    let figures = figures.finish()?;
    let (markdown, json) = (out.join("report.md"), out.join("report.json"));
    write_atomic_all(&[(&markdown, md.as_bytes()), (&json, &json_bytes)])
        .map_err(|e| write_error(&markdown, e))?;
    Ok(Written {
        markdown,
        json,
        figures,
        comparison: comparisons,
        notes: sets.iter().flat_map(|s| s.notes.iter().cloned()).collect(),
    })
}

/// The title, where the runs came from, and what the numbers mean.
fn header(sets: &[FigureSet], opts: &ReportOptions) -> String {
    let runs: usize = sets
        .iter()
        .flat_map(|s| s.groups.iter())
        .map(|g| g.runs.len())
        .sum();
    let srcs: Vec<String> = opts.sources.iter().map(|s| format!("`{s}`")).collect();
    let mut md = String::from("# synaptic report\n\n");
    md += &format!(
        "{} from {}; written by synaptic {}{}.\n\n",
        plural(runs, "run"),
        srcs.join(", "),
        env!("CARGO_PKG_VERSION"),
        opts.command
            .as_ref()
            .map(|c| format!(" (`{c}`)"))
            .unwrap_or_default()
    );
    md += "Numbers are mean ± SEM over seeds (standard error of the mean, sd/√n with the n−1 sd); \
           bands and error bars in the figures are ± SEM. ACC: mean accuracy over all tasks after \
           the last; BWT: mean change of each earlier task's accuracy from right after learning it \
           to the end; forgetting: mean drop from each earlier task's best to its final accuracy; \
           FWT: mean accuracy on each task before training it, minus the untrained network's; \
           ACC, BWT, forgetting and FWT are computed from each run's accuracy matrix.\n\n";
    let notes: Vec<&String> = sets.iter().flat_map(|s| &s.notes).collect();
    if !notes.is_empty() {
        md += "**Notes on the input:**\n\n";
        for n in notes {
            md += &format!("- {n}\n");
        }
        md += "\n";
    }
    md
}

/// One set's section of report.md, drawing its figures; its "ours vs paper" tables are also
/// appended to `comparisons`.
fn set_section(
    v: &SetView,
    figures: &mut FigureWriter,
    comparisons: &mut String,
) -> Result<String, ReportError> {
    let mut md = format!("## {}\n\n", v.title);
    md += &mean_seen_figure(v, figures)?;
    md += &final_per_task_figure(v, figures)?;
    md += &task_names(v.set);
    md += &metrics_table(v);
    let cmp = comparison(v.set, &v.stats, &v.eval_on);
    if !cmp.is_empty() {
        md += &format!("### Ours vs the paper\n\n{cmp}\n");
        *comparisons += &format!("{}\n\n{cmp}\n", v.title);
    }
    md += &settings_list(v.set);
    md += &matrix_figures(v, figures)?;
    md += &runs_table(v.set, figures.out);
    Ok(md)
}

/// (a) Mean accuracy on the tasks seen after each task, with the paper's curves dashed.
fn mean_seen_figure(v: &SetView, figures: &mut FigureWriter) -> Result<String, ReportError> {
    let series = mean_seen_series(v);
    let t_max = series
        .iter()
        .map(|s| s.points.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let (title, eval_on) = (&v.title, &v.eval_on);
    let chart = LineChart {
        title: format!("{title} · mean accuracy on tasks seen"),
        x_label: "tasks learned".into(),
        y_label: format!("mean accuracy on tasks seen ({eval_on})"),
        x_range: (0.8, t_max as f64 + 0.2),
        y_range: accuracy_range(
            series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1 - p.2)),
        ),
        integer_x: true,
        series,
        size: (900, 600),
    };
    let (png, svg) = figures.write(&chart, &format!("{}-mean-seen", v.stem))?;
    let dashed = if (v.papers.iter()).any(|p| p.is_some_and(|p| !p.mean_seen.is_empty())) {
        "; dashed: the paper's curve for the same setting"
    } else {
        ""
    };
    Ok(format!(
        "![{title}: mean accuracy on the tasks seen]({png})\n\n*(a) Mean accuracy on the tasks learned so far, after each task; one line per setting, band ± SEM over seeds{dashed}.* [SVG]({svg})\n\n"
    ))
}

/// Ours with ± SEM, one line per group, then the paper's curves in the same colours.
fn mean_seen_series(v: &SetView) -> Vec<Series> {
    let mut series: Vec<Series> = (v.set.groups.iter().zip(&v.stats).enumerate())
        .map(|(i, (g, st))| Series {
            label: g.label.clone(),
            points: st
                .mean_seen
                .iter()
                .enumerate()
                .map(|(k, s)| ((k + 1) as f64, s.mean, s.sem))
                .collect(),
            color: i,
            kind: LineKind::Solid,
        })
        .collect();
    for (i, p) in v.papers.iter().enumerate() {
        let Some(p) = p else { continue };
        if p.mean_seen.is_empty() {
            continue;
        }
        series.push(Series {
            label: format!("paper: {} ({})", p.label, p.measured_on),
            points: p
                .mean_seen
                .iter()
                .enumerate()
                .map(|(k, &y)| ((k + 1) as f64, y, 0.0))
                .collect(),
            color: i,
            kind: LineKind::Dashed,
        });
    }
    series
}

/// (b) Accuracy on each task after the last task, with the paper's values as ticks.
fn final_per_task_figure(v: &SetView, figures: &mut FigureWriter) -> Result<String, ReportError> {
    let t_final = (v.stats.iter())
        .map(|s| s.final_per_task.len())
        .max()
        .unwrap_or(0);
    let groups: Vec<BarGroup> = (v.set.groups.iter().zip(&v.stats).zip(&v.papers).enumerate())
        .map(|(i, ((g, st), p))| BarGroup {
            label: g.label.clone(),
            values: (0..t_final)
                .map(|j| st.final_per_task.get(j).map(|s| (s.mean, s.sem)))
                .collect(),
            // Only where the paper's task count is ours, so that its T3 is our T3.
            reference: (0..t_final)
                .map(|j| {
                    p.filter(|p| p.final_per_task.len() == st.final_per_task.len())
                        .and_then(|p| p.final_per_task.get(j).copied())
                })
                .collect(),
            color: i,
        })
        .collect();
    let lows = groups.iter().flat_map(|g| {
        g.values
            .iter()
            .flatten()
            .map(|v| v.0 - v.1)
            .chain(g.reference.iter().flatten().copied())
    });
    let lo = accuracy_range(lows).0;
    let (title, eval_on) = (&v.title, &v.eval_on);
    let bars = BarChart {
        title: format!("{title} · accuracy per task after the last task"),
        x_label: "task".into(),
        y_label: format!("accuracy after the last task ({eval_on})"),
        categories: (1..=t_final).map(|j| format!("T{j}")).collect(),
        groups,
        reference_label: "paper".into(),
        y_range: (lo, 1.005),
        size: (900, 600),
    };
    let (png, svg) = figures.write(&bars, &format!("{}-final-per-task", v.stem))?;
    let ticks = if (bars.groups.iter()).any(|g| g.reference.iter().any(Option::is_some)) {
        "; black ticks: the paper's value"
    } else {
        ""
    };
    Ok(format!(
        "![{title}: accuracy per task after the last task]({png})\n\n*(b) Accuracy on each task after training the last one; error bars ± SEM over seeds{ticks}.* [SVG]({svg})\n\n"
    ))
}

/// Which task is T1, T2, …: one line when every run of the set has the same tasks, else one
/// line per run (a class order or angles drawn from each seed); "" if the runs name none.
fn task_names(set: &FigureSet) -> String {
    let runs: Vec<(&str, &crate::report::RunResult)> = (set.groups.iter())
        .flat_map(|g| g.runs.iter().map(move |r| (g.label.as_str(), r)))
        .collect();
    let Some((_, first)) = runs.first() else {
        return String::new();
    };
    if first.task_names.is_empty() {
        return String::new();
    }
    let line = |names: &[String]| {
        (names.iter().enumerate())
            .map(|(j, n)| format!("T{} = {n}", j + 1))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if runs.iter().all(|(_, r)| r.task_names == first.task_names) {
        return format!("Tasks: {}.\n\n", line(&first.task_names));
    }
    let mut md = String::from(
        "Tasks differ between runs (a class order or angles drawn from each seed), so each task's column averages different tasks:\n\n",
    );
    for (label, r) in runs {
        md += &format!("- {label} seed {}: {}\n", r.seed, line(&r.task_names));
    }
    md + "\n"
}

/// The table of ACC, BWT, forgetting, FWT and training time per group.
fn metrics_table(v: &SetView) -> String {
    let mut md = String::from("| setting | n | ACC | BWT | forgetting | FWT | train s |\n");
    md += "|---|---:|---:|---:|---:|---:|---:|\n";
    for (g, st) in v.set.groups.iter().zip(&v.stats) {
        md += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            g.label,
            g.runs.len(),
            pm(&st.average_accuracy, 4),
            signed(&st.backward_transfer, 4),
            pm(&st.forgetting, 4),
            signed(&st.forward_transfer, 4),
            pm(&st.train_seconds, 1)
        );
    }
    md += "\n";
    md
}

/// Each group's seeds and settings.
fn settings_list(set: &FigureSet) -> String {
    let mut md = String::from("### Settings\n\n");
    for g in &set.groups {
        let seeds: Vec<String> = g.runs.iter().map(|r| r.seed.to_string()).collect();
        md += &format!(
            "- **{}** ({}, {} {}): {}\n",
            g.label,
            plural(g.runs.len(), "run"),
            if seeds.len() == 1 { "seed" } else { "seeds" },
            seeds.join(", "),
            settings_line(g)
        );
    }
    md += "\n";
    md
}

/// (c) One accuracy-matrix heat map per run, grouped by setting.
fn matrix_figures(v: &SetView, figures: &mut FigureWriter) -> Result<String, ReportError> {
    let mut md = String::from("### Accuracy matrices\n\n");
    md += "R[i][j]: accuracy on task j (columns) after training task i (rows); faded cells are tasks not trained yet.\n\n";
    for (i, g) in v.set.groups.iter().enumerate() {
        md += &format!("**{}**\n\n", g.label);
        for r in &g.runs {
            let heat = matrix_heat_map(&r.accuracy_matrix, &g.label, r.seed, &v.eval_on);
            let name = format!(
                "{}-matrix-{}-{}-seed-{}",
                v.stem,
                i + 1,
                slug(&g.label),
                r.seed
            );
            let (png, svg) = figures.write(&heat, &name)?;
            md += &format!(
                "<a href=\"{svg}\"><img src=\"{png}\" width=\"32%\" alt=\"{} seed {} accuracy matrix\"></a>\n",
                g.label, r.seed,
            );
        }
        md += "\n";
    }
    Ok(md)
}

/// The heat map of one run's accuracy matrix, tasks not trained yet faded.
fn matrix_heat_map(m: &[Vec<f64>], label: &str, seed: u64, eval_on: &str) -> HeatMap {
    let t = m.len();
    let range = heat_range(m);
    HeatMap {
        title: format!(
            "{label} · seed {seed} · accuracy matrix ({eval_on}; colour {:.2}–{:.2})",
            range.0, range.1
        ),
        row_label: "after training task".into(),
        col_label: "accuracy on task".into(),
        rows: (1..=t).map(|k| format!("T{k}")).collect(),
        cols: (1..=m.first().map_or(0, Vec::len))
            .map(|k| format!("T{k}"))
            .collect(),
        values: (m.iter())
            .map(|row| row.iter().map(|&v| Some(v)).collect())
            .collect(),
        faded: (m.iter().enumerate())
            .map(|(a, row)| (0..row.len()).map(|b| b > a).collect())
            .collect(),
        size: HeatMap::size_for(t, t),
        range,
        scale: ColorScale::Sequential,
    }
}

/// One row per run with its headline numbers and result file.
fn runs_table(set: &FigureSet, out: &Path) -> String {
    let mut md = String::from("### Runs\n\n| setting | seed | ACC | BWT | forgetting | train s | result |\n|---|---:|---:|---:|---:|---:|---|\n");
    for g in &set.groups {
        for (r, path) in g.runs.iter().zip(&g.paths) {
            md += &format!(
                "| {} | {} | {:.4} | {:+.4} | {:.4} | {:.1} | `{}` |\n",
                g.label,
                r.seed,
                r.average_accuracy,
                r.backward_transfer,
                r.forgetting,
                r.train_seconds,
                relative(path, out)
            );
        }
    }
    md += "\n";
    md
}

/// A set's entry in report.json.
fn set_json(v: SetView) -> SetJson {
    let groups = (v.set.groups.iter().zip(v.stats).zip(&v.papers))
        .map(|((g, st), p)| GroupJson {
            label: g.label.clone(),
            method: g.method.clone(),
            n: g.runs.len(),
            seeds: g.runs.iter().map(|r| r.seed).collect(),
            settings: settings_line(g),
            stats: st,
            paper: p.map(|p| PaperJson {
                label: p.label.into(),
                measured_on: p.measured_on.into(),
                source: p.source.into(),
                mean_seen: p.mean_seen.to_vec(),
                final_per_task: p.final_per_task.to_vec(),
                final_mean: p.final_mean,
            }),
        })
        .collect();
    SetJson {
        benchmark: v.set.benchmark.clone(),
        scenario: v.set.scenario.clone(),
        title: v.title,
        eval_on: v.eval_on,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small figure to stage.
    fn chart() -> LineChart {
        LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_range: (0.0, 1.0),
            y_range: (0.0, 1.0),
            integer_x: false,
            series: Vec::new(),
            size: (300, 200),
        }
    }

    #[test]
    fn figures_replace_the_old_folder_only_once_all_are_drawn() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path();
        std::fs::create_dir_all(out.join(FIGURES)).unwrap();
        std::fs::write(out.join("figures/old.png"), b"old").unwrap();
        let names = |dir: &Path| -> Vec<String> {
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        };
        // Stopped half-way (an error, a panic unwinding): the old figures stay, nothing else.
        {
            let mut w = FigureWriter::new(out).unwrap();
            w.write(&chart(), "a").unwrap();
        }
        assert_eq!(names(out), ["figures"]);
        assert_eq!(names(&out.join(FIGURES)), ["old.png"]);
        // A staging folder of a killed report is cleared by the next one.
        std::fs::create_dir_all(out.join(".figures.tmp1")).unwrap();
        let mut w = FigureWriter::new(out).unwrap();
        let (png, svg) = w.write(&chart(), "a").unwrap();
        assert_eq!(
            (png.as_str(), svg.as_str()),
            ("figures/a.png", "figures/a.svg")
        );
        let files = w.finish().unwrap();
        assert_eq!(
            files,
            [out.join("figures/a.png"), out.join("figures/a.svg")]
        );
        assert_eq!(names(out), ["figures"]);
        assert_eq!(names(&out.join(FIGURES)), ["a.png", "a.svg"]);
    }

    #[test]
    fn accuracy_range_starts_at_a_round_number_below_the_data() {
        assert_eq!(accuracy_range([0.93, 0.99]), (0.9, 1.005));
        assert_eq!(accuracy_range([0.5]), (0.45, 1.005));
        assert_eq!(accuracy_range([-0.2, f64::NAN]), (0.0, 1.005));
        assert_eq!(accuracy_range([1.0]), (0.95, 1.005));
    }
}
