//! The command line: argument parsing, progress display and exit codes. Work is done by the library.

mod analyze;
mod compare;
mod data;
mod errors;
mod grid;
mod progress;
mod report;
mod reproduce;
mod user;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::checkpoint::{read_manifest_for, FileCheckpoints};
use crate::config::{read_config_file, RunConfig, Settings};
use crate::data::{resolve_dir_for, Dataset};
use crate::experiment;
use crate::experiment::Checkpointing;
use crate::method::{OptionKind, Registry};
use crate::report::{write_run, RunResult};
use crate::run_dir::RunDir;
use crate::run_lock::RunLock;
use crate::scenario::Benchmark;
use crate::train::{EpochReport, Observer};

/// Exit code for bad input (arguments, data, config).
pub const EXIT_USAGE: i32 = 2;
/// Exit code of a run stopped by Ctrl-C (or SIGTERM) after saving a checkpoint.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Test hook: stop like an interrupt once this task (1-based) is checkpointed.
pub const STOP_AFTER_TASK_ENV: &str = "SYNAPTIC_STOP_AFTER_TASK";

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
    #[command(override_usage = RUN_USAGE)]
    Run(RunArgs),
    /// Run several methods over several seeds and tabulate mean ± sd (resumable).
    #[command(
        override_usage = "synaptic compare --benchmark <BENCHMARK> --methods <METHODS> --out <OUT> [OPTIONS]"
    )]
    Compare(compare::CompareArgs),
    /// Search a method's hyperparameters on a validation split over several seeds (resumable).
    #[command(
        override_usage = "synaptic sweep --benchmark <BENCHMARK> --grid <NAME=V1,V2,..> --out <OUT> [OPTIONS]"
    )]
    Sweep(compare::SweepArgs),
    /// Get datasets (`fetch`) or check them (`verify`): mnist, fashion-mnist, cifar10, cifar100.
    Data(data::DataArgs),
    /// Figures (PNG, SVG) and report.md from the result.json files under the given folders.
    Report(report::ReportArgs),
    /// Run the paper's settings of a benchmark over seeds (resumable), then `report` them beside
    /// the paper's numbers.
    Reproduce(reproduce::ReproduceArgs),
    /// Analyse a finished run: `importance` compares SI's importance with the Fisher and MAS.
    Analyze(analyze::AnalyzeArgs),
    /// Plan a compare, sweep or reproduce grid once and run it anywhere: on all cores, one
    /// cell per command line, or as a Slurm job array (plan, run, status, collect, commands,
    /// slurm).
    Grid(grid::GridArgs),
    /// Print the shipped `tuned` preset of a benchmark: each method's values as a preset file.
    Presets(PresetsArgs),
}

/// `run`'s usage: what it requires (clap's own would show only `[OPTIONS]`, as --benchmark may
/// come from --config and --out is not needed with --resume).
const RUN_USAGE: &str = "synaptic run --benchmark <BENCHMARK> --out <OUT> [OPTIONS]
       synaptic run --config <FILE> --out <OUT> [OPTIONS]
       synaptic run --resume <DIR> [--threads <N>] [--quiet] [--max-memory <SIZE>]";

#[derive(Args, Debug)]
struct PresetsArgs {
    /// Benchmark, e.g. split-mnist.
    #[arg(value_name = "BENCHMARK")]
    benchmark: String,
}

fn cmd_presets(args: PresetsArgs) -> anyhow::Result<()> {
    let b: Benchmark = args.benchmark.parse()?;
    println!(
        "# The shipped 'tuned' preset for {} (synaptic {}); --preset FILE reads this layout.\n",
        b.name(),
        env!("CARGO_PKG_VERSION")
    );
    print!("{}", crate::config::preset::shipped(Registry::builtin(), b));
    Ok(())
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Method: si, ewc, online-ewc, mas, l2, finetune, joint or scratch.
    #[arg(long)]
    method: Option<String>,
    #[command(flatten)]
    flags: RunFlags,
    /// Folder for result.json, accuracy.csv, run-config.json and checkpoints/.
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in DIR from its latest checkpoint (only --quiet and --threads may go
    /// with it); a finished run is left as it is.
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Also checkpoint every N epochs inside a task (a checkpoint follows every task anyway).
    #[arg(long, value_name = "N")]
    checkpoint_every: Option<usize>,
    /// Replace the run already in --out: a different or unfinished one (refused without this
    /// flag) or this very run finished (left as it is without this flag).
    #[arg(long)]
    overwrite: bool,
    /// At the end of every task, save SI's importance, the diagonal Fisher and MAS's importance
    /// (on --fisher-samples examples) under OUT/importance/ for `synaptic analyze importance`.
    #[arg(long)]
    save_importance: bool,
}

/// `OUT/run-config.json`: what `--resume` needs to continue a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedRun {
    /// The resolved configuration.
    config: RunConfig,
    /// The data folder read.
    data_dir: PathBuf,
    /// `--checkpoint-every`.
    checkpoint_every: Option<usize>,
    /// The tasks' classes (and angles) as the config resolves them, for the reader: a random
    /// order is drawn again from the config on resume.
    #[serde(flatten)]
    layout: crate::scenario::TaskLayout,
}

impl SavedRun {
    /// What `run-config.json` records of `config` reading `data_dir`.
    fn new(config: RunConfig, data_dir: PathBuf, checkpoint_every: Option<usize>) -> Self {
        let layout = config
            .protocol()
            .map(|p| p.layout(config.tasks))
            .unwrap_or_default();
        SavedRun {
            config,
            data_dir,
            checkpoint_every,
            layout,
        }
    }
}

impl SavedRun {
    /// Reads `run-config.json` (at `path`), its config checked as a fresh run's is.
    fn read(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| {
            anyhow::anyhow!(
                "cannot read {}: {e}; --resume needs the folder of a run started by synaptic run --out",
                path.display()
            )
        })?;
        let corrupt = |e: &dyn std::fmt::Display| {
            anyhow::anyhow!(
                "{} is corrupt: {e}; restore it or start a new run with --overwrite",
                path.display()
            )
        };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| corrupt(&e))?;
        let table = value
            .get("config")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| corrupt(&"it holds no \"config\" table"))?;
        // A hand-edited file must pass what the flags of a fresh run pass.
        let config = RunConfig::from_stored(Registry::builtin(), table).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e}; restore it or start a new run with --overwrite",
                path.display()
            )
        })?;
        let mut saved: SavedRun = serde_json::from_value(value).map_err(|e| corrupt(&e))?;
        saved.config = config;
        Ok(saved)
    }
}

/// The run stopped (after saving a checkpoint, or before training began); the text says how to
/// continue.
#[derive(Debug)]
struct Interrupted(String);

impl Interrupted {
    /// A `run` into `dir`: continued by `run --resume`.
    fn run(dir: &Path) -> Self {
        Interrupted(format!(
            "resume with synaptic run --resume {}",
            dir.display()
        ))
    }
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted: {}", self.0)
    }
}

impl std::error::Error for Interrupted {}

/// The settings of a run, shared by `run`, `compare` and `sweep`: the run's own options here,
/// every method's options as generated flags ([`MethodFlags`]).
#[derive(Args, Debug, Clone, Default, Serialize)]
struct RunFlags {
    /// Benchmark: split-mnist, permuted-mnist, rotated-mnist, split-fashion-mnist,
    /// permuted-fashion-mnist, split-cifar or split-cifar10.
    #[arg(long)]
    benchmark: Option<String>,
    /// Hyperparameter preset: tuned (shipped, default), none (built-in defaults) or a TOML file.
    #[arg(long)]
    preset: Option<String>,
    #[command(flatten)]
    #[serde(flatten)]
    method_flags: MethodFlags,
    /// Epochs per task (default: 10 split MNIST, 20 permuted, 60 CIFAR).
    #[arg(long)]
    epochs: Option<usize>,
    /// Minibatch size (default: 64 split MNIST, 256 permuted and CIFAR).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate (default 1e-3).
    #[arg(long, allow_negative_numbers = true)]
    lr: Option<f64>,
    /// Reset Adam's state at each task start: true or false (default: true split, false permuted).
    #[arg(long)]
    reset_optimizer: Option<bool>,
    /// Seed for initialisation, minibatch order and permutations (default 0; compare and sweep:
    /// the first of --seeds consecutive seeds).
    #[arg(long)]
    seed: Option<u64>,
    /// Scenario: task, domain or class (default: task split, domain permuted).
    #[arg(long)]
    scenario: Option<String>,
    /// Run only the first N tasks.
    #[arg(long)]
    tasks: Option<usize>,
    /// Use at most N training examples per task (N ≥ 1; leave it out to use them all).
    #[arg(long, value_name = "N", value_parser = example_limit)]
    train_limit: Option<usize>,
    /// Use at most N evaluation examples per task (N ≥ 1; leave it out to use them all).
    #[arg(long, value_name = "N", value_parser = example_limit)]
    test_limit: Option<usize>,
    /// Measure accuracy on the test set (default), the training set (the paper's split-MNIST
    /// figure) or a validation split (10% of each task's training data, held out).
    #[arg(long)]
    eval_on: Option<String>,
    /// Hidden widths of the MLP, comma-separated (default: 256,256 split, 2000,2000 permuted);
    /// not for CIFAR, whose CNN has fixed widths.
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Output layer initialisation: default (burn's) or zero (the official SI code).
    #[arg(long)]
    head_init: Option<String>,
    /// Initialisation of the other layers: default (burn's, as PyTorch's) or glorot
    /// (Glorot-uniform weights and zero biases: Keras's, the official SI code's).
    #[arg(long)]
    init: Option<String>,
    /// Clip the target class's softmax probability to [F, 1 − F] before the log, as Keras 2.0's
    /// categorical_crossentropy (1e-7, the official SI code's); default 0: the exact loss.
    #[arg(long, value_name = "F")]
    prob_clip: Option<f64>,
    /// Network: mlp or cnn (default: the benchmark's, the CNN for CIFAR, the MLP otherwise);
    /// either is sized from the data's images.
    #[arg(long)]
    model: Option<String>,
    /// Split benchmarks: the order in which classes go to tasks: a permutation of the classes
    /// (e.g. 3,7,1,0,…), random (drawn from --seed) or labels (default: 0,1 | 2,3 | …).
    #[arg(long, value_name = "ORDER")]
    class_order: Option<String>,
    /// Split benchmarks: classes per task (default 2); the last task takes what is left.
    #[arg(long, value_name = "K")]
    classes_per_task: Option<usize>,
    /// Your own data: what each task does to the images: none (tasks are classes, default) or
    /// rotate (every task holds every class, rotated by its angle; domain scenario by default).
    #[arg(long)]
    transform: Option<String>,
    /// Your own data: resize every image to WIDTHxHEIGHT (bilinear, e.g. 32x32); without it
    /// every image must have the size of the first.
    #[arg(long, value_name = "WxH")]
    image_size: Option<String>,
    /// Rotated benchmarks: each task's angle, counter-clockwise: evenly (t·180°/T, default),
    /// random (uniform in [0°, 180°) from --seed) or degrees, one task each (e.g. 0,45,90).
    #[arg(long, value_name = "ANGLES", allow_hyphen_values = true)]
    angles: Option<String>,
    /// Compute backend: cpu or cuda.
    #[arg(long)]
    backend: Option<String>,
    /// CPU threads at most (default: one per core); a model whose training step is under
    /// 0.5 GFLOP (split MNIST's MLP) computes on one, which is faster for products that small.
    #[arg(long)]
    threads: Option<usize>,
    /// Folder with the benchmark's data: MNIST-format IDX files, or the CIFAR binary files (or
    /// their official unpacked folders). Default: MNIST from $SYNAPTIC_DATA, else the shipped
    /// data/mnist; the others from the `synaptic data fetch` cache. `--dataset-dir` is the same
    /// option (any 10-class IDX dataset laid out like MNIST runs the split/permuted protocols).
    /// Your own data, without --benchmark: an image folder (train/<class>/*.png|jpg and
    /// test/<class>/*), a folder of x_train.npy, y_train.npy, x_test.npy, y_test.npy, or an
    /// .npz file holding them (benchmark user).
    #[arg(long, visible_alias = "dataset-dir")]
    #[serde(skip)]
    data_dir: Option<PathBuf>,
    /// TOML file of settings; command-line flags override it.
    #[arg(long)]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Live logs of every run under RUN/logs/, comma-separated: tensorboard (event files for
    /// `tensorboard --logdir`) and/or csv (scalars.csv).
    #[arg(long, value_delimiter = ',', value_name = "FORMATS")]
    log: Option<Vec<String>>,
    /// Steps between two samples of the training loss and penalty in the live logs (default 50).
    #[arg(long, value_name = "N")]
    log_every: Option<usize>,
    /// Print nothing but errors.
    #[arg(long)]
    #[serde(skip)]
    quiet: bool,
    /// Refuse a run whose estimated memory exceeds SIZE (e.g. 8G, 512M); default: the memory
    /// this machine has available (CPU backend).
    #[arg(long, value_name = "SIZE", value_parser = crate::memory::parse_size)]
    #[serde(skip)]
    pub(super) max_memory: Option<u64>,
}

/// `--train-limit`/`--test-limit`: a count of at least 1, since 0 examples cannot train or
/// score anything (the config's 0 means "all", which leaving the flag out already says).
pub(super) fn example_limit(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 examples cannot train or score: leave the flag out to use every example, or give at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}")),
    }
}

/// The options of every built-in method as flags (`--c`, `--lambda`, …), generated from the
/// methods' own option lists and collected as settings.
#[derive(Debug, Clone, Default)]
struct MethodFlags(Settings);

impl Serialize for MethodFlags {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl FromArgMatches for MethodFlags {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let mut s = Settings::new();
        for spec in Registry::builtin().flags() {
            let key = spec.key;
            let v = match spec.kind {
                OptionKind::Float => m.get_one::<f64>(key).map(|&v| serde_json::json!(v)),
                OptionKind::Count => m.get_one::<usize>(key).map(|&v| serde_json::json!(v)),
                OptionKind::Switch => m.get_flag(key).then_some(serde_json::Value::Bool(true)),
                OptionKind::Choice(_) => m.get_one::<String>(key).map(|v| serde_json::json!(v)),
                OptionKind::List => m
                    .get_many::<String>(key)
                    .map(|vs| serde_json::json!(vs.cloned().collect::<Vec<_>>())),
            };
            if let Some(v) = v {
                s.insert(key.to_string(), v);
            }
        }
        Ok(MethodFlags(s))
    }

    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl Args for MethodFlags {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let r = Registry::builtin();
        let mut cmd = cmd;
        for spec in r.flags() {
            let help = format!(
                "Method option: {} [{}].",
                spec.help,
                r.users(spec.key).join(", ")
            );
            // clap keeps flag names for the program's life; this runs once per subcommand.
            let flag: &'static str = Box::leak(spec.flag().into_boxed_str());
            let arg = clap::Arg::new(spec.key).long(flag).help(help);
            let arg = match spec.kind {
                OptionKind::Float => arg
                    .value_parser(clap::value_parser!(f64))
                    .allow_negative_numbers(true)
                    .value_name("F"),
                OptionKind::Count => arg.value_parser(clap::value_parser!(usize)).value_name("N"),
                OptionKind::Switch => arg.action(clap::ArgAction::SetTrue),
                OptionKind::Choice(words) => {
                    arg.value_parser(clap::builder::PossibleValuesParser::new(words))
                }
                OptionKind::List => arg.action(clap::ArgAction::Append).value_name("GLOB"),
            };
            cmd = cmd.arg(arg);
        }
        cmd
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl RunFlags {
    /// The flags given, as settings (no method chosen).
    fn settings(&self) -> Settings {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.retain(|_, v| !v.is_null());
                m
            }
            _ => Settings::new(),
        }
    }

    /// The `--config` file's settings, if one was named.
    fn config_file(&self) -> anyhow::Result<Option<Settings>> {
        Ok(match &self.config {
            Some(p) => Some(read_config_file(p)?),
            None => None,
        })
    }

    /// The data folder `benchmark` reads.
    fn data_dir(&self, benchmark: Benchmark) -> PathBuf {
        resolve_dir_for(benchmark.data(), self.data_dir.as_deref())
    }

    /// Refuses `cfg` if its estimated memory exceeds `--max-memory` or what the machine has.
    fn check_memory(&self, cfg: &RunConfig) -> Result<(), crate::memory::TooLarge> {
        check_memory(cfg, self.max_memory)
    }
}

/// Refuses `cfg` if its estimated memory exceeds `max_memory` (`--max-memory`) or, without it,
/// what the machine has.
fn check_memory(cfg: &RunConfig, max_memory: Option<u64>) -> Result<(), crate::memory::TooLarge> {
    match crate::memory::limit_for(cfg, max_memory) {
        Some(limit) => crate::memory::check(cfg, &limit).map(|_| ()),
        None => Ok(()),
    }
}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let started = Instant::now();
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Ok((Cli::from_arg_matches(&m)?, given_run_flags(&m))));
    let (cli, given) = match parsed {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return 0;
        }
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `synaptic` or `synaptic data` alone: the help, on stderr, as a usage error.
            let _ = e.print();
            return EXIT_USAGE;
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
        Command::Run(args) => cmd_run(args, &given, started),
        Command::Compare(args) => compare::cmd_compare(args),
        Command::Sweep(args) => compare::cmd_sweep(args),
        Command::Data(args) => data::cmd_data(args),
        Command::Report(args) => report::cmd_report(args),
        Command::Reproduce(args) => reproduce::cmd_reproduce(args),
        Command::Analyze(args) => analyze::cmd_analyze(args),
        Command::Presets(args) => cmd_presets(args),
        Command::Grid(args) => grid::cmd_grid(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) if e.downcast_ref::<Interrupted>().is_some() => {
            eprintln!("{e}");
            EXIT_INTERRUPTED
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&errors::describe(&e)));
            EXIT_USAGE
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `run` flags given on the command line (as `--name`).
fn given_run_flags(m: &clap::ArgMatches) -> Vec<String> {
    let Some(("run", sub)) = m.subcommand() else {
        return Vec::new();
    };
    // Only arguments: the ids also name the argument groups of flattened structs.
    let cmd = Cli::command();
    let args: Vec<String> = cmd
        .find_subcommand("run")
        .map(|c| c.get_arguments().map(|a| a.get_id().to_string()).collect())
        .unwrap_or_default();
    sub.ids()
        .filter(|id| args.iter().any(|a| a == id.as_str()))
        .filter(|id| sub.value_source(id.as_str()) == Some(ValueSource::CommandLine))
        .map(|id| format!("--{}", id.as_str().replace('_', "-")))
        .collect()
}

fn cmd_run(args: RunArgs, given: &[String], started: Instant) -> anyhow::Result<()> {
    if let Some(dir) = &args.resume {
        return cmd_resume(dir, &args, given, started);
    }
    let out = args
        .out
        .clone()
        .expect("clap requires --out without --resume");
    let file = args.flags.config_file()?;
    let mut flags = args.flags.settings();
    if let Some(m) = &args.method {
        flags.insert("method".into(), serde_json::json!(m));
    }
    // Your own data is read first: its record sizes the networks the config resolves.
    user::prepare(&args.flags, file.as_ref(), &mut flags)?;
    let registry = Registry::builtin();
    // --fisher-samples also sizes the importance measurement, whatever the method.
    let samples = match flags.get("fisher_samples") {
        Some(v) if args.save_importance => {
            let method = flags
                .get("method")
                .or_else(|| file.as_ref().and_then(|f| f.get("method")))
                .and_then(|v| v.as_str())
                .unwrap_or("si");
            let n = v.as_u64().map(|n| n as usize);
            if !registry.users("fisher_samples").contains(&method) {
                flags.remove("fisher_samples");
            }
            n
        }
        _ => None,
    };
    let mut cfg = RunConfig::resolve_in(registry, file.as_ref(), &flags, true)?;
    if args.save_importance {
        cfg.save_importance = true;
        cfg.importance_samples = samples;
        cfg.validate()?;
    }
    args.flags.check_memory(&cfg)?;
    crate::backend::init_cpu_threads(cfg.compute_threads());
    // Checked before training, so that an hour of work is not lost to a bad --out.
    check_out(&out)?;
    let _lock = lock_run(&out, args.flags.quiet)?;
    if check_previous(&out, &cfg, args.overwrite)? == Previous::Finished {
        if !args.flags.quiet {
            eprintln!(
                "already finished: {} holds this run; nothing to do (pass --overwrite to run it again)",
                RunDir::new(&out).result().display()
            );
        }
        return Ok(());
    }
    let data_dir = match &cfg.user_data {
        Some(u) => u.path.clone(),
        None => args.flags.data_dir(cfg.benchmark),
    };
    let dataset = user::dataset_for(&cfg, &data_dir, args.flags.quiet)?;
    let saved = SavedRun::new(cfg, data_dir, args.checkpoint_every);
    train_in(&out, &saved, dataset, args.flags.quiet, started, false)?;
    Ok(())
}

/// Trains `saved.config` into the run folder `out`, whose lock the caller holds, checkpointing
/// after every task (Ctrl-C: a checkpoint, then [`Interrupted`]): afresh (older checkpoints
/// removed, `run-config.json` written first) or, when `resume`, from the latest checkpoint.
fn train_in(
    out: &Path,
    saved: &SavedRun,
    dataset: Arc<Dataset>,
    quiet: bool,
    started: Instant,
    resume: bool,
) -> anyhow::Result<RunResult> {
    // A Ctrl-C while the data loaded: stop before changing anything.
    if interrupt_flag().load(Ordering::SeqCst) {
        return Err(Interrupted("before training began; run the same command again".into()).into());
    }
    if !resume {
        // A fresh run: older checkpoints must not be mistaken for this run's.
        let ckdir = RunDir::new(out).checkpoints();
        if ckdir.exists() {
            std::fs::remove_dir_all(&ckdir).map_err(|e| {
                anyhow::anyhow!("cannot remove old checkpoints {}: {e}", ckdir.display())
            })?;
        }
        let path = RunDir::new(out).config();
        crate::fsutil::write_atomic(&path, &serde_json::to_vec_pretty(saved)?)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let mut ckpt = checkpointing(out, saved, resume)?;
    execute_with(&saved.config, dataset, out, quiet, started, Some(&mut ckpt))
}

/// Takes the lock of the run folder `dir` (see [`RunLock`]) for as long as the guard lives,
/// saying so when it takes over the lock of a process that died. From here on Ctrl-C is this
/// program's: a second one, which exits at once, frees the folder first.
fn lock_run(dir: &Path, quiet: bool) -> anyhow::Result<RunLock> {
    let _ = interrupt_flag();
    let lock = RunLock::acquire(dir)?;
    if let Some(h) = lock.took_over() {
        if !quiet {
            eprintln!(
                "taking over the lock of {}: its holder, {h}, no longer runs",
                dir.display()
            );
        }
    }
    Ok(lock)
}

/// `synaptic run --resume DIR`: the run as DIR/run-config.json describes it, from the latest
/// checkpoint.
fn cmd_resume(
    dir: &Path,
    args: &RunArgs,
    given: &[String],
    started: Instant,
) -> anyhow::Result<()> {
    let foreign: Vec<&str> = given
        .iter()
        .map(String::as_str)
        .filter(|f| !["--resume", "--quiet", "--threads", "--max-memory"].contains(f))
        .collect();
    if !foreign.is_empty() {
        anyhow::bail!(
            "--resume continues the run with its saved settings: drop {} (only --quiet, --threads and --max-memory may go with --resume)",
            foreign.join(", ")
        );
    }
    let path = RunDir::new(dir).config();
    let mut saved = SavedRun::read(&path)?;
    let _lock = lock_run(dir, args.flags.quiet)?;
    let result = RunDir::new(dir).result();
    if result.exists() {
        if !args.flags.quiet {
            eprintln!(
                "already finished: {} holds this run; nothing to resume",
                result.display()
            );
        }
        return Ok(());
    }
    if let Some(t) = args.flags.threads {
        saved.config.threads = t;
    }
    let cfg = &saved.config;
    args.flags.check_memory(cfg)?;
    crate::backend::init_cpu_threads(cfg.compute_threads());
    let m = read_manifest_for(&RunDir::new(dir).checkpoints(), &cfg.digest())?;
    if !args.flags.quiet {
        eprintln!("resuming {} {}", dir.display(), resume_point(&m, cfg.tasks));
    }
    check_out(dir)?;
    let dataset = user::dataset_for(cfg, &saved.data_dir, args.flags.quiet)?;
    train_in(dir, &saved, dataset, args.flags.quiet, started, true)?;
    Ok(())
}

/// Where a checkpoint continues a run of `tasks` tasks, as `at task 2/3, epoch 1, …`.
fn resume_point(m: &crate::checkpoint::Manifest, tasks: usize) -> String {
    format!(
        "at task {}/{}, epoch {}, after {} of that epoch ({} checkpoint)",
        (m.task + 1).min(tasks.max(1)),
        tasks,
        m.epoch + 1,
        crate::plural::plural(m.step, "step"),
        m.reason
    )
}

/// Checkpoints into `out/checkpoints`, with Ctrl-C handling and the test hook.
fn checkpointing(out: &Path, saved: &SavedRun, resume: bool) -> anyhow::Result<Checkpointing> {
    // A process killed mid-write left its temporary files; this one now holds the folder.
    RunDir::new(out).remove_stale_temporaries();
    let dir = RunDir::new(out).checkpoints();
    let stop = match std::env::var(STOP_AFTER_TASK_ENV) {
        Ok(v) => Some(
            v.trim()
                .parse::<usize>()
                .map_err(|_| anyhow::anyhow!("{STOP_AFTER_TASK_ENV}={v} is not a task number"))?,
        ),
        Err(_) => None,
    };
    let sink = FileCheckpoints::new(&dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?
        .every_epochs(saved.checkpoint_every)
        .stop_after_task(stop)
        .interrupt_flag(interrupt_flag());
    Ok(Checkpointing { sink, resume, dir })
}

/// What a Ctrl-C asks for.
#[derive(Debug, PartialEq, Eq)]
enum Interrupt {
    /// The first: finish the step, save a checkpoint, exit.
    FinishStep,
    /// Any later one: exit now (every saved file is already complete).
    ExitNow,
}

/// Records a Ctrl-C in `flag` and says what to do about it.
fn on_interrupt(flag: &AtomicBool) -> Interrupt {
    if flag.swap(true, Ordering::SeqCst) {
        Interrupt::ExitNow
    } else {
        Interrupt::FinishStep
    }
}

/// Set by the first Ctrl-C (SIGINT or SIGTERM); a second one exits at once.
fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        let _ = ctrlc::set_handler(move || match on_interrupt(&f) {
            Interrupt::ExitNow => {
                crate::run_lock::release_all();
                eprintln!("interrupted again: exiting now (saved checkpoints are intact)");
                std::process::exit(EXIT_INTERRUPTED);
            }
            Interrupt::FinishStep => eprintln!(
                "interrupt: finishing the current step and saving a checkpoint (Ctrl-C again quits at once)"
            ),
        });
        flag
    })
    .clone()
}

/// What a fresh `run` finds in its `--out`.
#[derive(Debug, PartialEq, Eq)]
enum Previous {
    /// Nothing of this run (or it was removed for `--overwrite`): train.
    Nothing,
    /// This very run, finished: nothing to do.
    Finished,
}

/// Refuses an `--out` that holds a run with another config or this run unfinished, unless
/// `overwrite`, which removes the old run's top-level files (`result.json` first, so that a
/// kill midway cannot leave it beside the new run's checkpoints).
fn check_previous(out: &Path, cfg: &RunConfig, overwrite: bool) -> anyhow::Result<Previous> {
    let want = compare::as_stored(cfg)?;
    let differs = |have: &RunConfig| {
        let mut threadless = want.clone();
        threadless.threads = have.threads;
        (*have != threadless).then(|| compare::first_difference(&want, have))
    };
    let conflict = if let Ok(b) = std::fs::read(RunDir::new(out).config()) {
        match serde_json::from_slice::<SavedRun>(&b) {
            Ok(s) => differs(&s.config),
            Err(_) => Some("its run-config.json is unreadable".into()),
        }
    } else if let Ok(b) = std::fs::read(RunDir::new(out).result()) {
        match serde_json::from_slice::<RunResult>(&b) {
            Ok(r) => differs(&r.config),
            Err(_) => Some("its result.json is unreadable".into()),
        }
    } else if RunDir::new(out).checkpoints().exists() {
        Some("it holds checkpoints of an unknown run".into())
    } else {
        None
    };
    let finished = RunDir::new(out).result().exists();
    let unfinished = !finished && RunDir::new(out).checkpoint_manifest().exists();
    match conflict {
        None if overwrite => {}
        None if finished => return Ok(Previous::Finished),
        // Same settings, checkpoints, no result: hours of work that a rerun would throw away.
        None if unfinished => anyhow::bail!(
            "--out {0} holds an unfinished run with these settings: continue it with `synaptic run --resume {0}`, or pass --overwrite to start again",
            out.display()
        ),
        None => return Ok(Previous::Nothing),
        Some(why) if !overwrite => anyhow::bail!(
            "--out {} holds a different run ({why}): pass --overwrite to replace it, or another --out",
            out.display()
        ),
        Some(_) => {}
    }
    for p in RunDir::new(out).top_level_files() {
        if p.exists() {
            std::fs::remove_file(&p)
                .map_err(|e| anyhow::anyhow!("cannot remove {}: {e}", p.display()))?;
        }
    }
    Ok(Previous::Nothing)
}

/// Passes everything to `inner`; `step` also says stop once `flag` is set.
struct StopOnFlag<'a> {
    inner: &'a mut dyn Observer,
    flag: Arc<AtomicBool>,
}

impl Observer for StopOnFlag<'_> {
    fn task_start(&mut self, task: usize, name: &str, steps: usize, epochs: usize) {
        self.inner.task_start(task, name, steps, epochs)
    }
    fn step(&mut self, loss: f64) -> bool {
        self.inner.step(loss) && !self.flag.load(Ordering::SeqCst)
    }
    fn epoch_end(&mut self, report: &EpochReport) {
        self.inner.epoch_end(report)
    }
    fn importance_start(&mut self, task: usize, samples: usize) {
        self.inner.importance_start(task, samples)
    }
    fn task_end(&mut self, task: usize, accuracies: &[f64]) {
        self.inner.task_end(task, accuracies)
    }
    fn start(&mut self, at: &crate::train::Position, resumed: bool) {
        self.inner.start(at, resumed)
    }
    fn sample_every(&self) -> Option<usize> {
        self.inner.sample_every()
    }
    fn sample(&mut self, sample: &crate::train::StepSample) {
        self.inner.sample(sample)
    }
}

/// Proves `--out` writable (creating it), with a message that names the flag.
fn check_out(out: &Path) -> anyhow::Result<()> {
    crate::fsutil::check_writable(out).map_err(|e| {
        anyhow::anyhow!(
            "cannot write to --out folder {}: {e}; pass a writable folder",
            out.display()
        )
    })
}

/// Trains one resolved config on `dataset`, writes `result.json` and `accuracy.csv` into `out`
/// and, unless `quiet`, shows progress and a one-line summary; `started` counts toward
/// `total_seconds`. With checkpoints, Ctrl-C saves one and returns the [`Interrupted`] error.
fn execute_with(
    cfg: &RunConfig,
    dataset: Arc<Dataset>,
    out: &Path,
    quiet: bool,
    started: Instant,
    mut ckpt: Option<&mut Checkpointing>,
) -> anyhow::Result<RunResult> {
    let mut progress = progress::Progress::new(cfg, quiet);
    progress.header(cfg, &dataset.dir);
    let flag = match &ckpt {
        Some(_) => interrupt_flag(),
        None => Arc::new(AtomicBool::new(false)),
    };
    let mut logs = live_logs(cfg, out, quiet)?;
    let mut silent = crate::train::Silent;
    let mut both = crate::train::Tee {
        first: &mut progress,
        second: match &mut logs {
            Some(l) => l,
            None => &mut silent,
        },
    };
    let mut obs = StopOnFlag {
        inner: &mut both,
        flag,
    };
    let importance = RunDir::new(out).importance();
    let result = match cfg.backend {
        BackendKind::Cpu => experiment::run_saving::<crate::backend::CpuAutodiff>(
            Registry::builtin(),
            cfg,
            dataset,
            &Default::default(),
            &mut obs,
            started,
            ckpt.as_deref_mut(),
            Some(importance.as_path()),
        )
        .map_err(anyhow::Error::from),
        BackendKind::Cuda => run_cuda(
            cfg,
            dataset,
            &mut obs,
            started,
            ckpt.as_deref_mut(),
            &importance,
        ),
    };
    progress.finish();
    if let Some(Err(e)) = logs.map(crate::log::RunLog::finish) {
        // The run is what matters; its logs stop short.
        eprintln!("warning: live logs stopped early: {e}");
    }
    let result = match result {
        Err(e)
            if ckpt.is_some()
                && matches!(
                    e.downcast_ref::<crate::train::TrainError>(),
                    Some(crate::train::TrainError::Interrupted)
                ) =>
        {
            return Err(Interrupted::run(out).into());
        }
        r => r?,
    };
    write_run(out, &result).map_err(|e| {
        anyhow::anyhow!(
            "cannot write results to {}: {e}; pass a writable --out folder",
            out.display()
        )
    })?;
    if !quiet {
        summary(&result, out);
    }
    Ok(result)
}

/// The run's live logs under `out/logs/`, if its config asks for any.
fn live_logs(
    cfg: &RunConfig,
    out: &Path,
    quiet: bool,
) -> anyhow::Result<Option<crate::log::RunLog>> {
    if !cfg.logs.any() {
        return Ok(None);
    }
    let dir = RunDir::new(out).logs();
    let log = crate::log::RunLog::create(&dir, &cfg.logs, cfg)
        .map_err(|e| anyhow::anyhow!("{e}; pass a writable --out folder"))?;
    if !quiet {
        eprintln!("live logs: {}", dir.display());
    }
    Ok(Some(log))
}

#[cfg(feature = "cuda")]
fn run_cuda(
    cfg: &RunConfig,
    dataset: Arc<Dataset>,
    obs: &mut dyn Observer,
    started: Instant,
    ckpt: Option<&mut Checkpointing>,
    importance: &Path,
) -> anyhow::Result<RunResult> {
    cuda_driver_present()?;
    Ok(experiment::run_saving::<crate::backend::CudaAutodiff>(
        Registry::builtin(),
        cfg,
        dataset,
        &Default::default(),
        obs,
        started,
        ckpt,
        Some(importance),
    )?)
}

/// The NVIDIA driver library can be loaded (burn's CUDA runtime would panic without it).
#[cfg(feature = "cuda")]
fn cuda_driver_present() -> anyhow::Result<()> {
    // SAFETY: loading the driver library runs only its initialisers, which the CUDA runtime
    // would run anyway when it loads the same library a moment later.
    match unsafe { libloading::Library::new("libcuda.so.1") } {
        Ok(_) => Ok(()),
        Err(e) => anyhow::bail!(
            "--backend cuda: no NVIDIA driver found ({e}); run on a machine with an NVIDIA GPU and driver (libcuda.so.1 on the library path), or use --backend cpu"
        ),
    }
}

#[cfg(not(feature = "cuda"))]
fn run_cuda(
    _: &RunConfig,
    _: Arc<Dataset>,
    _: &mut dyn Observer,
    _: Instant,
    _: Option<&mut Checkpointing>,
    _: &Path,
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
    println!("wrote {}", RunDir::new(out).result().display());
}

#[cfg(test)]
mod interrupt_tests {
    use super::*;

    #[test]
    fn the_first_ctrl_c_finishes_the_step_and_the_second_exits_at_once() {
        let flag = AtomicBool::new(false);
        assert_eq!(on_interrupt(&flag), Interrupt::FinishStep);
        // The training loop sees the request through the same flag.
        assert!(flag.load(Ordering::SeqCst));
        assert_eq!(on_interrupt(&flag), Interrupt::ExitNow);
        assert_eq!(on_interrupt(&flag), Interrupt::ExitNow);
    }
}
