//! `synaptic compare` (several methods × seeds, tabulated) and `synaptic sweep` (a
//! hyperparameter grid × seeds on the validation split). Both run a grid of ordinary runs, one
//! folder each, locked and checkpointed as `run` does; they skip the runs whose `result.json` is
//! already there with the same config and continue an unfinished one from its checkpoint, so an
//! interrupted grid resumes where it stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use clap::Args;

use super::{
    check_memory, check_out, interrupt_flag, lock_run, resume_point, train_in, Interrupted,
    RunFlags, SavedRun,
};
use crate::checkpoint::{read_manifest, CheckpointError, Manifest};
use crate::config::{RunConfig, Settings};
use crate::data::Dataset;
use crate::grid::plan::config_difference;
use crate::grid::{Cell, Collected, GridKind, GridPlan};
use crate::method::{OptionKind, Registry};
use crate::report::summary::{label, GridValue, Setting};
use crate::report::RunResult;
use crate::run_dir::RunDir;

/// Most seeds a grid may ask for.
const MAX_SEEDS: usize = 1000;
/// Most runs (points × seeds) a grid may hold.
const MAX_RUNS: usize = 10_000;

#[derive(Args, Debug)]
pub(super) struct CompareArgs {
    /// Methods to compare, comma-separated (e.g. si,ewc,l2,finetune); options of other methods
    /// are ignored for each.
    #[arg(long, value_delimiter = ',', required = true)]
    methods: Vec<String>,
    /// Seeds per method: --seed (default 0) and the ones after it.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    #[command(flatten)]
    pub(super) flags: RunFlags,
    /// Folder for grid.json, <method>/seed-<s>/ runs, summary.json and summary.md (rerun to
    /// resume).
    #[arg(long)]
    pub(super) out: PathBuf,
    /// Cells trained at once, each in its own process (default: as many as the cores allow
    /// given each cell's compute threads); the numbers do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(super) jobs: Option<u64>,
}

#[derive(Args, Debug)]
pub(super) struct SweepArgs {
    /// Method to tune (default si): si, ewc, online-ewc, mas and l2 have options to vary; any
    /// method can vary lr, epochs and batch_size.
    #[arg(long)]
    method: Option<String>,
    /// A hyperparameter and its values, NAME=v1,v2,… (repeatable; every combination runs).
    /// NAME: a numeric option of the method (si: c, xi, si_cap; ewc: lambda, fisher_samples;
    /// online-ewc: also gamma; …) or lr, epochs, batch_size.
    #[arg(long, required = true)]
    grid: Vec<String>,
    /// Seeds per grid point: --seed (default 0) and the ones after it.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    #[command(flatten)]
    pub(super) flags: RunFlags,
    /// Folder for grid.json, NAME=v/seed-<s>/ runs, sweep.json and sweep.md (rerun to resume).
    #[arg(long)]
    pub(super) out: PathBuf,
    /// Cells trained at once, each in its own process (default: as many as the cores allow
    /// given each cell's compute threads); the numbers do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(super) jobs: Option<u64>,
}

/// One run of a grid.
pub(super) struct Job {
    /// What progress lines call it, e.g. `l2 seed 1`.
    pub(super) label: String,
    pub(super) cfg: RunConfig,
    pub(super) dir: PathBuf,
}

/// The command line as typed, for the reports.
pub(super) fn command_line() -> String {
    // The program as `synaptic`, not the build path it was started from.
    // A planned grid's summary quotes the command that runs it in one go.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let skip = if args.len() > 2 && args[0] == "grid" && args[1] == "plan" {
        2
    } else {
        0
    };
    std::iter::once("synaptic".to_string())
        .chain(args.into_iter().skip(skip))
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c));
            if plain {
                a
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `count` consecutive seeds from `--seed`, else the config file's seed, else 0.
pub(super) fn seed_list(
    flags: &RunFlags,
    file: Option<&Settings>,
    count: usize,
) -> anyhow::Result<Vec<u64>> {
    if !(1..=MAX_SEEDS).contains(&count) {
        bail!("--seeds must be between 1 and {MAX_SEEDS}, got {count}");
    }
    let from_file = file.and_then(|f| f.get("seed")).and_then(|v| v.as_u64());
    let base = flags.seed.or(from_file).unwrap_or(0);
    (0..count as u64)
        .map(|i| {
            base.checked_add(i)
                .ok_or_else(|| anyhow!("--seed {base} plus {count} seeds passes the largest seed"))
        })
        .collect()
}

/// The config a finished run in `dir` recorded, normalised as `cfg` would be by a round trip
/// through `result.json`, so that floats compare exactly.
pub(super) fn as_stored(cfg: &RunConfig) -> anyhow::Result<RunConfig> {
    Ok(crate::grid::plan::as_stored(cfg))
}

/// The first setting where `want` and `have` differ (threads and live logs aside), as
/// `name: A there, B now`.
pub(super) fn first_difference(want: &RunConfig, have: &RunConfig) -> String {
    crate::grid::plan::first_difference(want, have)
}

/// Refuses `cell`'s folder if the run there (`have`, its config) is not `cell`'s (threads aside).
fn same_config(dir: &Path, cell: &Cell, have: &RunConfig) -> anyhow::Result<()> {
    if let Some(why) = config_difference(&cell.config, have) {
        bail!(
            "{} holds a run with a different config ({why}): use another --out or delete that folder",
            dir.display()
        );
    }
    Ok(())
}

/// The latest checkpoint of an unfinished run of `cell` in its folder `dir`, or `None` when
/// there is none to continue (an empty folder, or a start that never reached a checkpoint); an
/// error if the folder holds an unfinished run of another config.
fn checkpoint_of(dir: &Path, cell: &Cell) -> anyhow::Result<Option<Manifest>> {
    let path = RunDir::new(dir).config();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    };
    let saved: SavedRun = serde_json::from_slice(&bytes).map_err(|e| {
        anyhow!(
            "{} is corrupt ({e}): use another --out or delete {}",
            path.display(),
            dir.display()
        )
    })?;
    same_config(dir, cell, &saved.config)?;
    match read_manifest(&RunDir::new(dir).checkpoints()) {
        Ok(m) => Ok(Some(m)),
        Err(CheckpointError::NoManifest { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The plan of `jobs` (folders under `out`), of `kind`, reading `data_dir`.
pub(super) fn plan_of(kind: GridKind, jobs: Vec<Job>, out: &Path, data_dir: PathBuf) -> GridPlan {
    let cells = jobs
        .into_iter()
        .map(|j| Cell {
            dir: j
                .dir
                .strip_prefix(out)
                .map(Path::to_path_buf)
                .unwrap_or(j.dir),
            label: j.label,
            config: j.cfg,
        })
        .collect();
    // Absolute, so that a cell started from another folder (a scheduler's) reads the same data.
    let data_dir = std::path::absolute(&data_dir).unwrap_or(data_dir);
    GridPlan::new(kind, command_line(), data_dir, cells)
}

/// Writes `plan` into `out` (refusing a different plan there) and, unless `plan_only`, runs its
/// unfinished cells (`jobs` at once; `None`: as many as the cores allow) and writes the summary.
pub(super) fn plan_and_run(
    plan: &GridPlan,
    out: &Path,
    jobs: Option<usize>,
    quiet: bool,
    plan_only: bool,
    max_memory: Option<u64>,
) -> anyhow::Result<Option<Collected>> {
    // Before the folder is made: a grid too large for the machine leaves nothing behind. Only
    // runs still to train need the memory.
    if !plan_only {
        for cell in &plan.cells {
            if !RunDir::new(out.join(&cell.dir)).result().exists() {
                check_memory(&cell.config, max_memory).with_context(|| cell.label.clone())?;
            }
        }
    }
    check_out(out)?;
    plan.check(out)?;
    // Every folder is checked before anything trains, so a clash cannot strike mid-grid.
    for cell in &plan.cells {
        plan.finished(out, cell)?;
    }
    plan.write(out)?;
    if plan_only {
        if !quiet {
            eprintln!(
                "planned {} cells in {}: run them with `synaptic grid run {}` (or one by one: `synaptic grid commands {}`)",
                plan.cells.len(),
                GridPlan::path(out).display(),
                out.display(),
                out.display()
            );
        }
        return Ok(None);
    }
    let all: Vec<usize> = (0..plan.cells.len()).collect();
    run_cells(plan, out, &all, jobs, quiet, None)?;
    Ok(Some(crate::grid::collect(plan, out)?))
}

/// Runs the cells `which` of `plan` (grid folder `out`) that have not finished: in this process
/// one after the other, or with `jobs` > 1 as that many child processes at once. `tag` replaces
/// the `[k/n]` of the progress lines (a child names its place in its parent's grid).
pub(super) fn run_cells(
    plan: &GridPlan,
    out: &Path,
    which: &[usize],
    jobs: Option<usize>,
    quiet: bool,
    tag: Option<&str>,
) -> anyhow::Result<()> {
    let mut pending = Vec::new();
    for &k in which {
        if plan.finished(out, &plan.cells[k])?.is_none() {
            pending.push(k);
        }
    }
    let threads = plan.cells.first().map_or(1, |c| c.config.compute_threads());
    let jobs = jobs
        .unwrap_or_else(|| super::grid::default_jobs(threads))
        .min(pending.len().max(1));
    if jobs > 1 {
        return super::grid::run_children(plan, out, &pending, jobs, quiet);
    }
    let total = which.len();
    let mut data: Option<Arc<Dataset>> = None;
    let stop = interrupt_flag();
    for (i, &k) in which.iter().enumerate() {
        let cell = &plan.cells[k];
        let tag = tag.map_or_else(|| format!("[{}/{total}]", i + 1), str::to_string);
        if !pending.contains(&k) {
            if !quiet {
                eprintln!("{tag} skip {}: already done", cell.label);
            }
            continue;
        }
        if stop.load(Ordering::SeqCst) {
            return Err(interrupted().into());
        }
        let dataset = match &data {
            Some(d) => d.clone(),
            None => {
                crate::backend::init_cpu_threads(cell.config.compute_threads());
                let d = super::user::dataset_for(&cell.config, &plan.data_dir, quiet)?;
                data = Some(d.clone());
                d
            }
        };
        run_job(plan, out, cell, dataset, &tag, quiet)?;
    }
    Ok(())
}

/// How to continue an interrupted grid: the same command again.
pub(super) fn interrupted() -> Interrupted {
    Interrupted(format!(
        "continue with the same command: {}",
        command_line()
    ))
}

/// Trains `cell` in its folder under the folder's lock, as `run` would: afresh, or from the
/// checkpoint of an interrupted run of the same config; a run another process finished
/// meanwhile is read back.
fn run_job(
    plan: &GridPlan,
    out: &Path,
    cell: &Cell,
    data: Arc<Dataset>,
    tag: &str,
    quiet: bool,
) -> anyhow::Result<RunResult> {
    let dir = out.join(&cell.dir);
    std::fs::create_dir_all(&dir).map_err(|e| anyhow!("cannot create {}: {e}", dir.display()))?;
    let _lock = lock_run(&dir, quiet).with_context(|| cell.label.clone())?;
    if let Some(r) = plan.finished(out, cell)? {
        if !quiet {
            eprintln!("{tag} skip {}: already done", cell.label);
        }
        return Ok(r);
    }
    let resume = checkpoint_of(&dir, cell)?;
    if !quiet {
        match &resume {
            Some(m) => eprintln!(
                "{tag} {}: resuming {}",
                cell.label,
                resume_point(m, cell.config.tasks)
            ),
            None => eprintln!("{tag} {}", cell.label),
        }
    }
    let saved = SavedRun::new(cell.config.clone(), plan.data_dir.clone(), None);
    let started = Instant::now();
    train_in(&dir, &saved, data, quiet, started, resume.is_some()).map_err(|e| {
        if e.downcast_ref::<Interrupted>().is_some() {
            interrupted().into()
        } else {
            e.context(cell.label.clone())
        }
    })
}

/// Prints what [`crate::grid::collect`] wrote (unless `quiet`).
pub(super) fn show(c: &Collected, out: &Path, quiet: bool) {
    if quiet {
        return;
    }
    match c {
        Collected::Summary(md) | Collected::Sweep(md) => {
            print!("{md}");
            println!("wrote {}", c.markdown_path(out).display());
        }
        Collected::Report(written) => {
            for n in &written.notes {
                eprintln!("warning: {n}");
            }
            println!("{}", written.comparison.trim_end());
            println!();
            println!(
                "wrote {} ({} as PNG and SVG)",
                written.markdown.display(),
                crate::plural::plural(written.figures.len() / 2, "figure")
            );
        }
    }
}

/// The `--methods` list, parsed; unknown names and repeats are errors.
fn parse_methods(registry: &Registry, names: &[String]) -> anyhow::Result<Vec<&'static str>> {
    let mut methods: Vec<&'static str> = Vec::new();
    for name in names {
        let m = registry
            .find(name.trim())
            .map_err(|e| anyhow!("--methods: {e}"))?
            .name();
        if methods.contains(&m) {
            bail!("--methods lists {m} twice");
        }
        methods.push(m);
    }
    if methods.is_empty() {
        bail!("--methods is empty: name at least one method, e.g. --methods si,finetune");
    }
    Ok(methods)
}

pub(super) fn cmd_compare(args: CompareArgs) -> anyhow::Result<()> {
    let plan = plan_compare(&args)?;
    let c = plan_and_run(
        &plan,
        &args.out,
        jobs(args.jobs),
        args.flags.quiet,
        false,
        args.flags.max_memory,
    )?;
    c.iter().for_each(|c| show(c, &args.out, args.flags.quiet));
    Ok(())
}

/// `--jobs` as a count.
pub(super) fn jobs(n: Option<u64>) -> Option<usize> {
    n.map(|n| n as usize)
}

/// The plan of a `compare`: every method × seed, resolved before anything trains, so that a
/// bad option fails at once.
pub(super) fn plan_compare(args: &CompareArgs) -> anyhow::Result<GridPlan> {
    let registry = Registry::builtin();
    let methods = parse_methods(registry, &args.methods)?;
    let file = args.flags.config_file()?;
    let seeds = seed_list(&args.flags, file.as_ref(), args.seeds)?;
    let mut base = args.flags.settings();
    super::user::prepare(&args.flags, file.as_ref(), &mut base)?;
    // A flag that every listed method ignores is a mistake, not a setting.
    for key in base.keys() {
        let users = registry.users(key);
        if !users.is_empty() && !methods.iter().any(|m| users.contains(m)) {
            bail!(
                "--{} has no effect on any of --methods {}: drop it",
                key.replace('_', "-"),
                methods.join(",")
            );
        }
    }
    // Every config is resolved before anything trains, so a bad option fails at once.
    let mut jobs = Vec::new();
    for &m in &methods {
        for &s in &seeds {
            let mut o = base.clone();
            o.insert("method".into(), m.into());
            o.insert("seed".into(), s.into());
            let cfg = RunConfig::resolve_in(registry, file.as_ref(), &o, false)
                .with_context(|| m.to_string())?;
            jobs.push(Job {
                label: format!("{m} seed {s}"),
                cfg,
                dir: args.out.join(m).join(format!("seed-{s}")),
            });
        }
    }
    let kind = GridKind::Compare {
        methods: methods.iter().map(|m| m.to_string()).collect(),
        seeds,
    };
    let data_dir = data_dir_of(&args.flags, &jobs[0].cfg);
    Ok(plan_of(kind, jobs, &args.out, data_dir))
}

/// The folder (or file) a grid's cells read: a user's data where it was found.
pub(super) fn data_dir_of(flags: &RunFlags, cfg: &RunConfig) -> PathBuf {
    match &cfg.user_data {
        Some(u) => u.path.clone(),
        None => flags.data_dir(cfg.benchmark),
    }
}

/// A grid point whose config does not resolve; the CLI names the `--grid` entry at fault
/// rather than the flag of the same name, which the user did not give.
#[derive(Debug, thiserror::Error)]
#[error("--grid {point}: {error}")]
pub(super) struct GridError {
    /// The point, e.g. `lambda=-1`.
    pub(super) point: String,
    /// The keys the grid sets at this point.
    pub(super) keys: Vec<&'static str>,
    /// Why it does not resolve.
    pub(super) error: crate::config::ConfigError,
}

/// A hyperparameter `sweep --grid` can vary: its config key and whether it is a whole number.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Param {
    key: &'static str,
    integer: bool,
}

/// Run options a sweep may vary besides the method's own numbers.
const RUN_PARAMS: [Param; 3] = [
    Param {
        key: "lr",
        integer: false,
    },
    Param {
        key: "epochs",
        integer: true,
    },
    Param {
        key: "batch_size",
        integer: true,
    },
];

/// What `--grid` may name for `method`: its numeric options, then [`RUN_PARAMS`].
fn sweepable(registry: &Registry, method: &str) -> anyhow::Result<Vec<Param>> {
    let m = registry.find(method)?;
    let own = m.flags().into_iter().filter_map(|f| match f.kind {
        OptionKind::Float => Some(Param {
            key: f.key,
            integer: false,
        }),
        OptionKind::Count => Some(Param {
            key: f.key,
            integer: true,
        }),
        _ => None,
    });
    Ok(own.chain(RUN_PARAMS).collect())
}

impl GridValue {
    fn json(self) -> serde_json::Value {
        match self {
            GridValue::Int(n) => n.into(),
            GridValue::Float(x) => x.into(),
        }
    }
}

/// Parses the `--grid` arguments into (parameter, values), in order.
fn parse_grid(args: &[String], params: &[Param]) -> anyhow::Result<Vec<(Param, Vec<GridValue>)>> {
    let names: Vec<&str> = params.iter().map(|p| p.key).collect();
    let mut grid: Vec<(Param, Vec<GridValue>)> = Vec::new();
    for arg in args {
        let Some((name, values)) = arg.split_once('=') else {
            bail!("--grid {arg}: want NAME=v1,v2,…, e.g. --grid lambda=1,10,100");
        };
        let key = name.trim().replace('-', "_");
        let Some(&p) = params.iter().find(|p| p.key == key) else {
            bail!(
                "--grid: unknown hyperparameter '{}': use one of {}",
                name.trim(),
                names.join(", ")
            );
        };
        if grid.iter().any(|(q, _)| *q == p) {
            bail!(
                "--grid names {} twice: list all its values in one --grid",
                p.key
            );
        }
        let mut vs: Vec<GridValue> = Vec::new();
        for v in values.split(',').map(str::trim) {
            let parsed = if p.integer {
                v.parse::<usize>().ok().map(GridValue::Int)
            } else {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .map(GridValue::Float)
            };
            let Some(parsed) = parsed else {
                let kind = if p.integer {
                    "a whole number"
                } else {
                    "a finite number"
                };
                bail!("--grid {}: '{v}' is not {kind}", p.key);
            };
            if vs.contains(&parsed) {
                bail!("--grid {} lists {parsed} twice", p.key);
            }
            vs.push(parsed);
        }
        grid.push((p, vs));
    }
    Ok(grid)
}

/// Every combination of the grid's values, the first parameter varying slowest.
fn grid_points(grid: &[(Param, Vec<GridValue>)]) -> Vec<Vec<(Param, GridValue)>> {
    let mut points: Vec<Vec<(Param, GridValue)>> = vec![Vec::new()];
    for (p, values) in grid {
        points = points
            .iter()
            .flat_map(|pt| {
                values.iter().map(move |&v| {
                    let mut next = pt.clone();
                    next.push((*p, v));
                    next
                })
            })
            .collect();
    }
    points
}

pub(super) fn cmd_sweep(args: SweepArgs) -> anyhow::Result<()> {
    let plan = plan_sweep(&args)?;
    let c = plan_and_run(
        &plan,
        &args.out,
        jobs(args.jobs),
        args.flags.quiet,
        false,
        args.flags.max_memory,
    )?;
    c.iter().for_each(|c| show(c, &args.out, args.flags.quiet));
    Ok(())
}

/// The plan of a `sweep`: every grid point × seed on the validation split.
pub(super) fn plan_sweep(args: &SweepArgs) -> anyhow::Result<GridPlan> {
    const WHY: &str = "sweep measures on the validation split (10% of each task's training data, held out of training), never on the test set";
    if args
        .flags
        .eval_on
        .as_deref()
        .is_some_and(|e| e != "validation")
    {
        bail!("{WHY}; drop --eval-on");
    }
    let file = args.flags.config_file()?;
    let file_eval = file.as_ref().and_then(|f| f.get("eval_on"));
    if let Some(e) = file_eval.map(|v| v.as_str().unwrap_or("?")) {
        if e != "validation" {
            bail!("{WHY}; drop eval_on from the config file");
        }
    }
    let registry = Registry::builtin();
    let method = args
        .method
        .clone()
        .or_else(|| {
            let m = file.as_ref().and_then(|f| f.get("method"));
            m.and_then(|v| v.as_str()).map(str::to_string)
        })
        .unwrap_or_else(|| "si".into());
    let sweepable = sweepable(registry, &method)?;
    for arg in &args.grid {
        let key = arg.split('=').next().unwrap_or("").trim().replace('-', "_");
        let users = registry.users(&key);
        if !users.is_empty() && !users.contains(&method.as_str()) {
            bail!(
                "--grid {key}: --{} is an option of {}, not of {method}",
                key.replace('_', "-"),
                users.join(", ")
            );
        }
    }
    let grid = parse_grid(&args.grid, &sweepable)?;
    let seeds = seed_list(&args.flags, file.as_ref(), args.seeds)?;
    let mut base = args.flags.settings();
    super::user::prepare(&args.flags, file.as_ref(), &mut base)?;
    base.insert("method".into(), method.clone().into());
    base.insert("eval_on".into(), "validation".into());
    for (p, _) in &grid {
        if base.contains_key(p.key) {
            let flag = p.key.replace('_', "-");
            bail!("--{flag} and --grid {} are both given: drop one", p.key);
        }
    }
    let points = grid_points(&grid);
    let runs = points.len().checked_mul(seeds.len());
    if runs.is_none_or(|n| n > MAX_RUNS) {
        bail!(
            "the grid has {} points × {} seeds, more than {MAX_RUNS} runs: make it smaller",
            points.len(),
            seeds.len()
        );
    }
    let mut jobs = Vec::new();
    let mut settings: Vec<Vec<Setting>> = Vec::new();
    for point in &points {
        let set: Vec<Setting> = point
            .iter()
            .map(|&(p, value)| Setting {
                name: p.key.into(),
                value,
            })
            .collect();
        let name = label(&set);
        for &s in &seeds {
            let mut o = base.clone();
            o.insert("seed".into(), s.into());
            for &(p, v) in point {
                o.insert(p.key.into(), v.json());
            }
            let cfg = RunConfig::resolve(file.as_ref(), &o).map_err(|error| GridError {
                point: name.clone(),
                keys: point.iter().map(|(p, _)| p.key).collect(),
                error,
            })?;
            jobs.push(Job {
                label: format!("{name} seed {s}"),
                cfg,
                dir: args.out.join(&name).join(format!("seed-{s}")),
            });
        }
        settings.push(set);
    }
    let kind = GridKind::Sweep {
        method: jobs[0].cfg.method.name().to_string(),
        names: grid.iter().map(|(p, _)| p.key.to_string()).collect(),
        points: settings,
        seeds,
    };
    let data_dir = data_dir_of(&args.flags, &jobs[0].cfg);
    Ok(plan_of(kind, jobs, &args.out, data_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    fn si_params() -> Vec<Param> {
        sweepable(Registry::builtin(), "si").unwrap()
    }

    #[test]
    fn grid_parses_names_with_dashes_and_makes_every_combination() {
        let g = parse_grid(
            &strings(&["si-cap=0.001,0.01", "epochs=1,2,3"]),
            &si_params(),
        )
        .unwrap();
        assert_eq!(g[0].0.key, "si_cap");
        assert_eq!(
            g[1].1,
            vec![GridValue::Int(1), GridValue::Int(2), GridValue::Int(3)]
        );
        let pts = grid_points(&g);
        assert_eq!(pts.len(), 6);
        assert_eq!(
            (pts[1][0].0.key, pts[1][0].1),
            ("si_cap", GridValue::Float(0.001))
        );
        assert_eq!(
            (pts[1][1].0.key, pts[1][1].1),
            ("epochs", GridValue::Int(2))
        );
        // Each method offers its own numbers, then the run's.
        let keys = |m: &str| -> Vec<&str> {
            sweepable(Registry::builtin(), m)
                .unwrap()
                .iter()
                .map(|p| p.key)
                .collect()
        };
        assert_eq!(
            keys("si"),
            ["c", "xi", "si_cap", "lr", "epochs", "batch_size"]
        );
        assert_eq!(
            keys("online-ewc"),
            [
                "lambda",
                "gamma",
                "fisher_samples",
                "lr",
                "epochs",
                "batch_size"
            ]
        );
        assert_eq!(keys("finetune"), ["lr", "epochs", "batch_size"]);
    }

    #[test]
    fn bad_grids_are_one_line_errors() {
        for (arg, needle) in [
            (
                &["nosuch=1"][..],
                "unknown hyperparameter 'nosuch': use one of c, xi, si_cap, lr",
            ),
            (&["lambda=1"], "unknown hyperparameter 'lambda'"),
            (&["c"], "want NAME=v1,v2"),
            (&["c=1,x"], "'x' is not a finite number"),
            (&["c=1,inf"], "'inf' is not a finite number"),
            (&["epochs=1.5"], "'1.5' is not a whole number"),
            (&["c="], "'' is not"),
            (&["c=1,1.0"], "lists 1 twice"),
            (&["c=1", "c=2"], "names c twice"),
        ] {
            let e = parse_grid(&strings(arg), &si_params())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle) && !e.contains('\n'), "{arg:?}: {e}");
        }
    }

    #[test]
    fn methods_are_checked_and_repeats_rejected() {
        let r = Registry::builtin();
        assert_eq!(
            parse_methods(r, &strings(&["si", "l2"])).unwrap(),
            vec!["si", "l2"]
        );
        let e = parse_methods(r, &strings(&["si", "bogus"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown method 'bogus'"), "{e}");
        let e = parse_methods(r, &strings(&["l2", "si", "l2"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("l2 twice"), "{e}");
    }

    #[test]
    fn stored_configs_compare_exactly_after_a_round_trip() {
        use crate::scenario::Benchmark;
        let b = Benchmark::SplitMnist;
        let mut cfg = RunConfig::defaults(b, Registry::builtin().defaults("l2", b).unwrap());
        cfg.method.set("lambda", (0.1 + 0.2).into());
        cfg.train.lr = 1.0 / 3.0;
        let text = serde_json::to_string_pretty(&cfg).unwrap();
        let back: RunConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(as_stored(&cfg).unwrap(), back);
        let mut other = cfg.clone();
        other.method.set("lambda", 5.0.into());
        assert_eq!(
            first_difference(&other, &cfg),
            "lambda: 0.30000000000000004 there, 5.0 now"
        );
        other.method.set("lambda", (0.1 + 0.2).into());
        other.threads = 7;
        assert_eq!(first_difference(&other, &cfg), "settings differ");
    }
}
