//! The command line: argument parsing, progress display and exit codes. Work is done by the library.

mod progress;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use crate::backend::BackendKind;
use crate::config::{read_config_file, Overrides, RunConfig};
use crate::data::{load_idx_dataset, resolve_data_dir};
use crate::experiment;
use crate::report::{write_run, RunResult};

/// Exit code for bad input (arguments, data, config).
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser, Debug)]
#[command(
    name = "synaptic",
    version,
    about = "Continual learning with Synaptic Intelligence on burn"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train one method on one benchmark, task after task, and write result.json.
    Run(RunArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Benchmark: split-mnist or permuted-mnist.
    #[arg(long)]
    benchmark: Option<String>,
    /// Method: si or finetune.
    #[arg(long)]
    method: Option<String>,
    /// SI strength c (default: 1 on split-mnist, 0.1 on permuted-mnist).
    #[arg(long, allow_negative_numbers = true)]
    c: Option<f64>,
    /// SI damping ξ (default: 1e-3 on split-mnist, 0.1 on permuted-mnist).
    #[arg(long, allow_negative_numbers = true)]
    xi: Option<f64>,
    /// Epochs per task (default: 10 split, 20 permuted).
    #[arg(long)]
    epochs: Option<usize>,
    /// Minibatch size (default: 64 split, 256 permuted).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate (default 1e-3).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Reset Adam's state at each task start: true or false (default: true split, false permuted).
    #[arg(long)]
    reset_optimizer: Option<bool>,
    /// Seed for initialisation, minibatch order and permutations (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Scenario: task, domain or class (default: task split, domain permuted).
    #[arg(long)]
    scenario: Option<String>,
    /// Run only the first N tasks.
    #[arg(long)]
    tasks: Option<usize>,
    /// Use at most N training examples per task.
    #[arg(long)]
    train_limit: Option<usize>,
    /// Use at most N evaluation examples per task.
    #[arg(long)]
    test_limit: Option<usize>,
    /// Measure accuracy on the test set (default) or on the training set (the paper's split-MNIST figure).
    #[arg(long)]
    eval_on: Option<String>,
    /// Hidden widths, comma-separated (default: 256,256 split, 2000,2000 permuted).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Output layer initialisation: default (burn's) or zero (the official SI code).
    #[arg(long)]
    head_init: Option<String>,
    /// Compute backend: cpu or cuda.
    #[arg(long)]
    backend: Option<String>,
    /// CPU threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Folder with the IDX files (default: $SYNAPTIC_DATA, else the shipped data/mnist).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TOML file of settings; command-line flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder for result.json and accuracy.csv.
    #[arg(long)]
    out: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

impl RunArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            benchmark: self.benchmark.clone(),
            scenario: self.scenario.clone(),
            method: self.method.clone(),
            c: self.c,
            xi: self.xi,
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            reset_optimizer: self.reset_optimizer,
            seed: self.seed,
            tasks: self.tasks,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            eval_on: self.eval_on.clone(),
            hidden: self.hidden.clone(),
            head_init: self.head_init.clone(),
            backend: self.backend.clone(),
            threads: self.threads,
            ..Default::default()
        }
    }
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let started = Instant::now();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            // clap's message is several lines (usage, tips); keep the one that names the problem.
            let text = e.render().to_string();
            let para: Vec<&str> = text
                .lines()
                .skip_while(|l| l.trim().is_empty())
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let msg = para.join(" ");
            let msg = msg.trim_start_matches("error: ");
            eprintln!("error: {msg} (see `synaptic --help`)");
            return EXIT_USAGE;
        }
    };
    let result = match cli.command {
        Command::Run(args) => cmd_run(args, started),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            EXIT_USAGE
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cmd_run(args: RunArgs, started: Instant) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(p) => Some(read_config_file(p)?),
        None => None,
    };
    let cfg = RunConfig::resolve(file.as_ref(), &args.overrides())?;
    crate::backend::init_cpu_threads(cfg.threads);
    // Checked before training, so that an hour of work is not lost to a bad --out.
    crate::report::check_writable(&args.out).map_err(|e| {
        anyhow::anyhow!(
            "cannot write to --out folder {}: {e}; pass a writable folder",
            args.out.display()
        )
    })?;
    let data_dir = resolve_data_dir(args.data_dir.as_deref());
    let dataset = Arc::new(load_idx_dataset(&data_dir, 10)?);
    let mut obs = progress::Progress::new(&cfg, args.quiet);
    obs.header(&cfg, &data_dir);
    let result = match cfg.backend {
        BackendKind::Cpu => experiment::run::<crate::backend::CpuAutodiff>(
            &cfg,
            dataset,
            &Default::default(),
            &mut obs,
            started,
        )?,
        BackendKind::Cuda => run_cuda(&cfg, dataset, &mut obs, started)?,
    };
    obs.finish();
    write_run(&args.out, &result).map_err(|e| {
        anyhow::anyhow!(
            "cannot write results to {}: {e}; pass a writable --out folder",
            args.out.display()
        )
    })?;
    if !args.quiet {
        summary(&result, &args.out);
    }
    Ok(())
}

#[cfg(feature = "cuda")]
fn run_cuda(
    cfg: &RunConfig,
    dataset: Arc<crate::data::Dataset>,
    obs: &mut progress::Progress,
    started: Instant,
) -> anyhow::Result<RunResult> {
    Ok(experiment::run::<crate::backend::CudaAutodiff>(
        cfg,
        dataset,
        &Default::default(),
        obs,
        started,
    )?)
}

#[cfg(not(feature = "cuda"))]
fn run_cuda(
    _: &RunConfig,
    _: Arc<crate::data::Dataset>,
    _: &mut progress::Progress,
    _: Instant,
) -> anyhow::Result<RunResult> {
    anyhow::bail!(
        "this binary was built without CUDA: rebuild with `CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda`, or use --backend cpu"
    )
}

fn summary(r: &RunResult, out: &std::path::Path) {
    let last = r.accuracy_matrix.last().cloned().unwrap_or_default();
    let per_task: Vec<String> = last.iter().map(|a| format!("{a:.4}")).collect();
    println!(
        "{} {} ({} scenario, seed {}): ACC {:.4}  BWT {:+.4}  forgetting {:.4}  FWT {:+.4}  train {:.1}s  total {:.1}s",
        r.benchmark,
        r.method,
        r.scenario,
        r.seed,
        r.average_accuracy,
        r.backward_transfer,
        r.forgetting,
        r.forward_transfer,
        r.train_seconds,
        r.total_seconds
    );
    println!("final accuracy per task: [{}]", per_task.join(", "));
    println!("wrote {}", out.join("result.json").display());
}
