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
    slug, write_figure, BarChart, BarGroup, ColorScale, HeatMap, LineChart, LineKind, Series,
};
use crate::fsutil::write_atomic;

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
            ", machine {} cores {} {}",
            r.machine.cores, r.machine.os, r.machine.arch
        )
    } else {
        String::new()
    };
    let burn = if r.burn_version.is_empty() {
        String::new()
    } else {
        format!(", burn {}", r.burn_version)
    };
    format!(
        "{}{} tasks × {} epochs, batch {}, Adam lr {}, optimizer reset per task: {}, {net}, head init {:?}{limits}; evaluated on {}; synaptic {}{burn}, backend {}, {} threads{machine}",
        if method.is_empty() { String::new() } else { format!("{method}; ") },
        c.tasks,
        c.train.epochs,
        c.train.batch_size,
        c.train.lr,
        c.train.reset_optimizer,
        c.head_init,
        format!("{:?}", c.eval_on).to_lowercase(),
        r.version,
        r.backend,
        r.threads,
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
    let t = matched
        .iter()
        .map(|&(i, p)| stats[i].mean_seen.len().max(p.mean_seen.len()))
        .max()
        .unwrap_or(0);
    if matched.iter().any(|(_, p)| !p.mean_seen.is_empty()) {
        s += "Mean accuracy on the tasks seen, after each task (ours: mean ± SEM over seeds):\n\n";
        s += "| setting | measured on |";
        for k in 1..=t {
            s += &format!(" {k} |");
        }
        s += "\n|---|---|";
        s += &"---:|".repeat(t);
        s += "\n";
        for &(i, p) in &matched {
            let ours: Vec<String> = (0..t)
                .map(|k| stats[i].mean_seen.get(k).map_or("–".into(), |x| pm(x, 4)))
                .collect();
            s += &format!(
                "| {} (ours) | {eval_on} | {} |\n",
                set.groups[i].label,
                ours.join(" | ")
            );
            if !p.mean_seen.is_empty() {
                let theirs: Vec<String> = (0..t)
                    .map(|k| p.mean_seen.get(k).map_or("–".into(), |x| format!("{x:.4}")))
                    .collect();
                s += &format!(
                    "| {} (paper) | {} | {} |\n",
                    p.label,
                    p.measured_on,
                    theirs.join(" | ")
                );
            }
        }
        s += "\n";
    }
    s += "Accuracy on each task after the last task, and its mean (ACC):\n\n";
    let t = matched
        .iter()
        .map(|&(i, p)| stats[i].final_per_task.len().max(p.final_per_task.len()))
        .max()
        .unwrap_or(0);
    s += "| setting | measured on |";
    for k in 1..=t {
        s += &format!(" T{k} |");
    }
    s += " ACC |\n|---|---|";
    s += &"---:|".repeat(t + 1);
    s += "\n";
    for &(i, p) in &matched {
        let ours: Vec<String> = (0..t)
            .map(|k| {
                stats[i]
                    .final_per_task
                    .get(k)
                    .map_or("–".into(), |x| pm(x, 4))
            })
            .collect();
        s += &format!(
            "| {} (ours) | {eval_on} | {} | **{}** |\n",
            set.groups[i].label,
            ours.join(" | "),
            pm(&stats[i].average_accuracy, 4)
        );
        let theirs: Vec<String> = (0..t)
            .map(|k| {
                p.final_per_task
                    .get(k)
                    .map_or("–".into(), |x| format!("{x:.3}"))
            })
            .collect();
        s += &format!(
            "| {} (paper) | {} | {} | **{:.4}** |\n",
            p.label,
            p.measured_on,
            theirs.join(" | "),
            p.final_mean
        );
    }
    let sources: Vec<&str> = {
        let mut v: Vec<&str> = matched.iter().map(|(_, p)| p.source).collect();
        v.dedup();
        v
    };
    s += &format!("\nPaper: {}.\n", sources.join("; "));
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

/// Draws every figure of `sets` into `out/figures/` and writes `out/report.md` and
/// `out/report.json`.
pub fn write_report(
    sets: &[FigureSet],
    out: &Path,
    opts: &ReportOptions,
) -> Result<Written, ReportError> {
    let fig_dir = out.join("figures");
    std::fs::create_dir_all(&fig_dir)
        .map_err(|e| ReportError(format!("cannot create {}: {e}", fig_dir.display())))?;
    let io =
        |p: &Path, e: std::io::Error| ReportError(format!("cannot write {}: {e}", p.display()));
    let mut figures: Vec<PathBuf> = Vec::new();
    let mut md = String::from("# synaptic report\n\n");
    let runs: usize = sets
        .iter()
        .flat_map(|s| s.groups.iter())
        .map(|g| g.runs.len())
        .sum();
    let srcs: Vec<String> = opts.sources.iter().map(|s| format!("`{s}`")).collect();
    md += &format!(
        "{runs} runs from {}; written by synaptic {}{}.\n\n",
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
           FWT: mean accuracy on each task before training it, minus the untrained network's.\n\n";
    let mut comparisons = String::new();
    let mut json_sets = Vec::new();
    for set in sets {
        let stem = set.stem();
        let eval_on = set.eval_on();
        let title = set.title();
        let stats: Vec<GroupStats> = set.groups.iter().map(Group::stats).collect();
        let papers: Vec<Option<&PaperSetting>> = set.groups.iter().map(paper_for).collect();
        md += &format!("## {title}\n\n");
        // (a) mean accuracy on the tasks seen.
        let mut series = Vec::new();
        for (i, (g, st)) in set.groups.iter().zip(&stats).enumerate() {
            series.push(Series {
                label: g.label.clone(),
                points: st
                    .mean_seen
                    .iter()
                    .enumerate()
                    .map(|(k, s)| ((k + 1) as f64, s.mean, s.sem))
                    .collect(),
                color: i,
                kind: LineKind::Solid,
            });
        }
        for (i, p) in papers.iter().enumerate() {
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
        let t_max = series
            .iter()
            .map(|s| s.points.len())
            .max()
            .unwrap_or(1)
            .max(1);
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
        let base = fig_dir.join(format!("{stem}-mean-seen"));
        let [png, svg] = write_figure(&chart, &base).map_err(|e| io(&base, e))?;
        md += &format!(
            "![{title}: mean accuracy on the tasks seen]({})\n\n*(a) Mean accuracy on the tasks learned so far, after each task; one line per setting, band ± SEM over seeds{}.* [SVG]({})\n\n",
            relative(&png, out),
            if papers.iter().any(|p| p.is_some_and(|p| !p.mean_seen.is_empty())) {
                "; dashed: the paper's curve for the same setting"
            } else {
                ""
            },
            relative(&svg, out)
        );
        figures.extend([png, svg]);
        // (b) accuracy per task after the last task.
        let t_final = stats
            .iter()
            .map(|s| s.final_per_task.len())
            .max()
            .unwrap_or(0);
        let groups: Vec<BarGroup> = set
            .groups
            .iter()
            .zip(&stats)
            .zip(&papers)
            .enumerate()
            .map(|(i, ((g, st), p))| BarGroup {
                label: g.label.clone(),
                values: (0..t_final)
                    .map(|j| st.final_per_task.get(j).map(|s| (s.mean, s.sem)))
                    .collect(),
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
        let base = fig_dir.join(format!("{stem}-final-per-task"));
        let [png, svg] = write_figure(&bars, &base).map_err(|e| io(&base, e))?;
        md += &format!(
            "![{title}: accuracy per task after the last task]({})\n\n*(b) Accuracy on each task after training the last one; error bars ± SEM over seeds{}.* [SVG]({})\n\n",
            relative(&png, out),
            if bars.groups.iter().any(|g| g.reference.iter().any(Option::is_some)) {
                "; black ticks: the paper's value"
            } else {
                ""
            },
            relative(&svg, out)
        );
        figures.extend([png, svg]);
        if let Some(first) = set.groups.first().and_then(|g| g.runs.first()) {
            let names: Vec<String> = first
                .task_names
                .iter()
                .enumerate()
                .map(|(j, n)| format!("T{} = {n}", j + 1))
                .collect();
            if !names.is_empty() {
                md += &format!("Tasks: {}.\n\n", names.join(", "));
            }
        }
        // (d) the table.
        md += "| setting | n | ACC | BWT | forgetting | FWT | train s |\n";
        md += "|---|---:|---:|---:|---:|---:|---:|\n";
        for (g, st) in set.groups.iter().zip(&stats) {
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
        let cmp = comparison(set, &stats, &eval_on);
        if !cmp.is_empty() {
            md += &format!("### Ours vs the paper\n\n{cmp}\n");
            comparisons += &format!("{title}\n\n{cmp}\n");
        }
        md += "### Settings\n\n";
        for g in &set.groups {
            let seeds: Vec<String> = g.runs.iter().map(|r| r.seed.to_string()).collect();
            md += &format!(
                "- **{}** ({} runs, seeds {}): {}\n",
                g.label,
                g.runs.len(),
                seeds.join(", "),
                settings_line(g)
            );
        }
        md += "\n### Accuracy matrices\n\n";
        md += "R[i][j]: accuracy on task j (columns) after training task i (rows); faded cells are tasks not trained yet.\n\n";
        for (i, g) in set.groups.iter().enumerate() {
            md += &format!("**{}**\n\n", g.label);
            for r in &g.runs {
                let t = r.accuracy_matrix.len();
                let range = heat_range(&r.accuracy_matrix);
                let heat = HeatMap {
                    title: format!(
                        "{} · seed {} · accuracy matrix ({eval_on}; colour {:.2}–{:.2})",
                        g.label, r.seed, range.0, range.1
                    ),
                    row_label: "after training task".into(),
                    col_label: "accuracy on task".into(),
                    rows: (1..=t).map(|k| format!("T{k}")).collect(),
                    cols: (1..=r.accuracy_matrix.first().map_or(0, Vec::len))
                        .map(|k| format!("T{k}"))
                        .collect(),
                    values: r
                        .accuracy_matrix
                        .iter()
                        .map(|row| row.iter().map(|&v| Some(v)).collect())
                        .collect(),
                    faded: r
                        .accuracy_matrix
                        .iter()
                        .enumerate()
                        .map(|(a, row)| (0..row.len()).map(|b| b > a).collect())
                        .collect(),
                    size: HeatMap::size_for(t, t),
                    range,
                    scale: ColorScale::Sequential,
                };
                let base = fig_dir.join(format!(
                    "{stem}-matrix-{}-{}-seed-{}",
                    i + 1,
                    slug(&g.label),
                    r.seed
                ));
                let [png, svg] = write_figure(&heat, &base).map_err(|e| io(&base, e))?;
                md += &format!(
                    "<a href=\"{svg}\"><img src=\"{png}\" width=\"32%\" alt=\"{} seed {} accuracy matrix\"></a>\n",
                    g.label,
                    r.seed,
                    png = relative(&png, out),
                    svg = relative(&svg, out),
                );
                figures.extend([png, svg]);
            }
            md += "\n";
        }
        md += "### Runs\n\n| setting | seed | ACC | BWT | forgetting | train s | result |\n|---|---:|---:|---:|---:|---:|---|\n";
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
        json_sets.push(SetJson {
            benchmark: set.benchmark.clone(),
            scenario: set.scenario.clone(),
            title,
            eval_on: eval_on.clone(),
            groups: set
                .groups
                .iter()
                .zip(stats)
                .zip(&papers)
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
                .collect(),
        });
    }
    let markdown = out.join("report.md");
    write_atomic(&markdown, md.as_bytes()).map_err(|e| io(&markdown, e))?;
    let json = out.join("report.json");
    let doc = ReportJson {
        version: env!("CARGO_PKG_VERSION").into(),
        command: opts.command.clone(),
        sources: opts.sources.clone(),
        sets: json_sets,
    };
    let bytes = serde_json::to_vec_pretty(&doc).map_err(|e| ReportError(e.to_string()))?;
    write_atomic(&json, &bytes).map_err(|e| io(&json, e))?;
    Ok(Written {
        markdown,
        json,
        figures,
        comparison: comparisons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_range_starts_at_a_round_number_below_the_data() {
        assert_eq!(accuracy_range([0.93, 0.99]), (0.9, 1.005));
        assert_eq!(accuracy_range([0.5]), (0.45, 1.005));
        assert_eq!(accuracy_range([-0.2, f64::NAN]), (0.0, 1.005));
        assert_eq!(accuracy_range([1.0]), (0.95, 1.005));
    }
}
