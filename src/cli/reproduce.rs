//! `synaptic reproduce split-mnist|permuted-mnist|split-cifar`: the paper's settings of one
//! benchmark (SI at each c the paper reports, c = 0 being its fine-tuning baseline, and training
//! from scratch where the paper has it), over seeds, as a resumable grid of ordinary runs (the
//! same machinery as `compare`), then `report` with the paper's numbers beside ours.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;

use super::compare::{jobs as job_count, plan_and_run, plan_of, seed_list, show, Job};
use super::RunFlags;
use crate::config::RunConfig;
use crate::grid::{GridKind, GridPlan};

#[derive(Args, Debug)]
pub(super) struct ReproduceArgs {
    /// The paper's experiment: split-mnist (c = 0, 1), permuted-mnist (c = 0, 0.01, 0.02, 0.1)
    /// or split-cifar (c = 0, 0.01, 0.1 and from scratch).
    #[arg(value_name = "BENCHMARK")]
    benchmark: String,
    /// Seeds per setting: --seed (default 0) and the ones after it.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// First seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Folder for grid.json, <setting>/seed-<s>/ runs, report.md, report.json and figures/ (rerun to
    /// resume). Default: runs/reproduce/BENCHMARK.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Measure accuracy on the test set (default) or the training set (what the paper's
    /// split-MNIST figure shows).
    #[arg(long)]
    eval_on: Option<String>,
    /// CPU threads at most (default: one per core), as for `run`.
    #[arg(long)]
    threads: Option<usize>,
    /// Folder with the benchmark's data (as for `run`).
    #[arg(long, visible_alias = "dataset-dir")]
    data_dir: Option<PathBuf>,
    /// Shortened protocol, to try the pipeline: only the first N tasks (the report marks
    /// every shortening as not the paper's protocol).
    #[arg(long)]
    tasks: Option<usize>,
    /// Shortened protocol: epochs per task.
    #[arg(long)]
    epochs: Option<usize>,
    /// Shortened protocol: at most N training examples per task (N ≥ 1).
    #[arg(long, value_name = "N", value_parser = super::example_limit)]
    train_limit: Option<usize>,
    /// Shortened protocol: at most N evaluation examples per task (N ≥ 1).
    #[arg(long, value_name = "N", value_parser = super::example_limit)]
    test_limit: Option<usize>,
    /// Live logs of every run, as for `run`: tensorboard and/or csv.
    #[arg(long, value_delimiter = ',', value_name = "FORMATS")]
    log: Option<Vec<String>>,
    /// Steps between two training-loss samples in the live logs (default 50).
    #[arg(long, value_name = "N")]
    log_every: Option<usize>,
    /// Refuse runs whose estimated memory exceeds SIZE (as for `run`).
    #[arg(long, value_name = "SIZE", value_parser = crate::memory::parse_size)]
    max_memory: Option<u64>,
    /// Cells trained at once, each in its own process (default: as many as the cores allow
    /// given each cell's compute threads); the numbers do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(super) jobs: Option<u64>,
    /// Print nothing but errors.
    #[arg(long)]
    pub(super) quiet: bool,
}

/// One of the paper's settings: a method, SI's c for `si`, and the folder name.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct PaperRun {
    pub(super) method: &'static str,
    pub(super) c: Option<f64>,
}

impl PaperRun {
    fn si(c: f64) -> Self {
        PaperRun {
            method: "si",
            c: Some(c),
        }
    }

    /// Folder name and progress label, e.g. `si-c=0.01` or `scratch`.
    pub(super) fn name(&self) -> String {
        match self.c {
            Some(c) => format!("{}-c={c}", self.method),
            None => self.method.to_string(),
        }
    }
}

/// The settings the paper reports for `benchmark` (si-spec.md §5), in its order.
pub(super) fn paper_runs(benchmark: &str) -> anyhow::Result<Vec<PaperRun>> {
    Ok(match benchmark {
        "split-mnist" => vec![PaperRun::si(0.0), PaperRun::si(1.0)],
        "permuted-mnist" => [0.0, 0.01, 0.02, 0.1].map(PaperRun::si).to_vec(),
        "split-cifar" => vec![
            PaperRun::si(0.0),
            PaperRun::si(0.01),
            PaperRun::si(0.1),
            PaperRun {
                method: "scratch",
                c: None,
            },
        ],
        other => bail!(
            "reproduce knows the paper's experiments split-mnist, permuted-mnist and split-cifar, not '{other}': use `synaptic compare` for other benchmarks"
        ),
    })
}

/// The jobs of the grid: every setting × seed, resolved from the paper's protocol (the
/// benchmark's built-in defaults, no tuned preset) with c pinned.
pub(super) fn jobs(
    flags: &RunFlags,
    runs: &[PaperRun],
    seeds: &[u64],
    out: &std::path::Path,
) -> anyhow::Result<Vec<Job>> {
    let mut base = flags.settings();
    // The paper's ξ, epochs, batch size, … are the built-in defaults; a tuned preset may differ.
    base.insert("preset".into(), "none".into());
    let mut jobs = Vec::new();
    for run in runs {
        for &s in seeds {
            let mut o = base.clone();
            o.insert("method".into(), run.method.into());
            if let Some(c) = run.c {
                o.insert("c".into(), c.into());
            }
            o.insert("seed".into(), s.into());
            let cfg = RunConfig::resolve(None, &o).with_context(|| run.name())?;
            jobs.push(Job {
                label: format!("{} seed {s}", run.name()),
                cfg,
                dir: out.join(run.name()).join(format!("seed-{s}")),
            });
        }
    }
    Ok(jobs)
}

pub(super) fn cmd_reproduce(args: ReproduceArgs) -> anyhow::Result<()> {
    let (plan, out) = plan_reproduce(&args)?;
    let c = plan_and_run(
        &plan,
        &out,
        job_count(args.jobs),
        args.quiet,
        false,
        args.max_memory,
    )?;
    c.iter().for_each(|c| show(c, &out, args.quiet));
    Ok(())
}

/// The plan of a `reproduce` and its folder.
pub(super) fn plan_reproduce(
    args: &ReproduceArgs,
) -> anyhow::Result<(GridPlan, std::path::PathBuf)> {
    let runs = paper_runs(&args.benchmark)?;
    if let Some(e) = args.eval_on.as_deref() {
        if e != "test" && e != "train" {
            bail!("--eval-on for reproduce is test or train (the paper reports those), got '{e}'");
        }
    }
    let flags = RunFlags {
        benchmark: Some(args.benchmark.clone()),
        seed: args.seed,
        eval_on: args.eval_on.clone(),
        threads: args.threads,
        data_dir: args.data_dir.clone(),
        tasks: args.tasks,
        epochs: args.epochs,
        train_limit: args.train_limit,
        test_limit: args.test_limit,
        log: args.log.clone(),
        log_every: args.log_every,
        quiet: args.quiet,
        max_memory: args.max_memory,
        ..Default::default()
    };
    let seeds = seed_list(&flags, None, args.seeds)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("runs/reproduce").join(&args.benchmark));
    let jobs = jobs(&flags, &runs, &seeds, &out)?;
    let kind = GridKind::Reproduce {
        benchmark: args.benchmark.clone(),
        seeds,
    };
    let data_dir = flags.data_dir(jobs[0].cfg.benchmark);
    Ok((plan_of(kind, jobs, &out, data_dir), out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_the_papers_settings_with_c_pinned_and_paper_defaults() {
        let names = |b: &str| -> Vec<String> {
            paper_runs(b).unwrap().iter().map(PaperRun::name).collect()
        };
        assert_eq!(names("split-mnist"), ["si-c=0", "si-c=1"]);
        assert_eq!(
            names("permuted-mnist"),
            ["si-c=0", "si-c=0.01", "si-c=0.02", "si-c=0.1"]
        );
        assert_eq!(
            names("split-cifar"),
            ["si-c=0", "si-c=0.01", "si-c=0.1", "scratch"]
        );
        let e = paper_runs("split-cifar10").unwrap_err().to_string();
        assert!(e.contains("not 'split-cifar10'"), "{e}");

        let out = std::path::Path::new("o");
        for (b, xi, epochs) in [
            ("split-mnist", 1e-3, 10),
            ("permuted-mnist", 0.1, 20),
            ("split-cifar", 1e-3, 60),
        ] {
            let flags = RunFlags {
                benchmark: Some(b.into()),
                ..Default::default()
            };
            let runs = paper_runs(b).unwrap();
            let js = jobs(&flags, &runs, &[4, 5], out).unwrap();
            assert_eq!(js.len(), runs.len() * 2);
            for (j, run) in js.iter().zip(runs.iter().flat_map(|r| [r, r])) {
                assert_eq!(j.cfg.method.name(), run.method);
                assert_eq!(j.cfg.method.number("c"), run.c, "{b} {}", j.label);
                if run.method == "si" {
                    assert_eq!(j.cfg.method.number("xi"), Some(xi));
                }
                assert_eq!(j.cfg.train.epochs, epochs);
                assert_eq!(j.cfg.preset, "none");
                assert_eq!(j.cfg.scenario, j.cfg.benchmark.default_scenario());
            }
            assert_eq!(js[1].dir, out.join(runs[0].name()).join("seed-5"));
            assert_eq!(js[1].label, format!("{} seed 5", runs[0].name()));
        }
        // A shortened protocol reaches every run.
        let flags = RunFlags {
            benchmark: Some("permuted-mnist".into()),
            tasks: Some(2),
            epochs: Some(1),
            ..Default::default()
        };
        let js = jobs(&flags, &paper_runs("permuted-mnist").unwrap(), &[0], out).unwrap();
        assert!(js
            .iter()
            .all(|j| j.cfg.tasks == 2 && j.cfg.train.epochs == 1));
    }
}
