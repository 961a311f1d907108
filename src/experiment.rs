//! One benchmark run from a resolved [`RunConfig`]: stream, model, method, training, metrics.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use burn::tensor::backend::AutodiffBackend;

use crate::checkpoint::FileCheckpoints;
use crate::config::RunConfig;
use crate::data::Dataset;
use crate::method::{BuildContext, Registry, TrainModel};
use crate::metrics;
use crate::model::{Cnn, CnnConfig, Mlp, MlpConfig};
use crate::regularizer::{check_exclude, Regularizer};
use crate::report::RunResult;
use crate::run_clock::RunClock;
use crate::scenario::{ModelKind, StreamOptions, TaskStream};
use crate::train::{CheckpointSink, Loop, Observer, TaskHook, TrainError, TrainOutcome};

/// Where and how a run checkpoints (see [`crate::checkpoint`]).
pub struct Checkpointing {
    /// The checkpoint sink (folder, cadence, stop hooks).
    pub sink: FileCheckpoints,
    /// Continue from the latest checkpoint in the sink's folder instead of starting afresh; one
    /// taken with other settings (its manifest records the config's digest) is refused.
    pub resume: bool,
    /// The folder holding `checkpoint.json`.
    pub dir: std::path::PathBuf,
}

/// Builds the task stream a config describes.
pub fn build_stream(cfg: &RunConfig, dataset: Arc<Dataset>) -> Result<TaskStream, TrainError> {
    let protocol = cfg
        .protocol()
        .map_err(|e| TrainError::Config(e.to_string()))?;
    Ok(TaskStream::new(
        &protocol,
        cfg.scenario,
        dataset,
        cfg.train.seed,
        StreamOptions {
            tasks: cfg.tasks,
            train_limit: cfg.train_limit,
            eval_limit: cfg.test_limit,
            eval_on: cfg.eval_on,
        },
    ))
}

/// Runs `cfg` on backend `B`; `started` is when the process began (for `total_seconds`, to
/// which a resumed run adds the seconds of its earlier processes).
pub fn run<B: AutodiffBackend>(
    cfg: &RunConfig,
    dataset: Arc<Dataset>,
    device: &B::Device,
    observer: &mut dyn Observer,
    started: Instant,
) -> Result<RunResult, TrainError> {
    run_checkpointed::<B>(cfg, dataset, device, observer, started, None)
}

/// [`run`] with checkpoints, and resuming from the latest one when `ckpt.resume`.
pub fn run_checkpointed<B: AutodiffBackend>(
    cfg: &RunConfig,
    dataset: Arc<Dataset>,
    device: &B::Device,
    observer: &mut dyn Observer,
    started: Instant,
    ckpt: Option<&mut Checkpointing>,
) -> Result<RunResult, TrainError> {
    run_saving::<B>(
        Registry::builtin(),
        cfg,
        dataset,
        device,
        observer,
        started,
        ckpt,
        None,
    )
}

/// [`run_checkpointed`] that also saves importances into `importance` (the run's
/// `OUT/importance`) when `cfg.save_importance` (see [`crate::analysis::record`]), with the
/// methods of `registry`.
#[allow(clippy::too_many_arguments)]
pub fn run_saving<B: AutodiffBackend>(
    registry: &Registry,
    cfg: &RunConfig,
    dataset: Arc<Dataset>,
    device: &B::Device,
    observer: &mut dyn Observer,
    started: Instant,
    mut ckpt: Option<&mut Checkpointing>,
    importance: Option<&Path>,
) -> Result<RunResult, TrainError> {
    if let Some(c) = ckpt.as_deref_mut() {
        // Every manifest records the settings it belongs to; a resume must bring the same.
        let digest = cfg.digest();
        if c.resume {
            crate::checkpoint::read_manifest_for(&c.dir, &digest)?;
        }
        c.sink.set_config_digest(digest);
    }
    let resuming = ckpt.as_deref().is_some_and(|c| c.resume);
    let clock = run_clock(ckpt.as_deref_mut(), started)?;
    let importance = importance_dir(cfg, importance, resuming)?;
    let stream = build_stream(cfg, dataset.clone())?;
    B::seed(device, cfg.train.seed);
    let out = train_per_model::<B>(registry, cfg, &stream, device, observer, ckpt, importance)?;
    Ok(run_result::<B>(cfg, &stream, &dataset, device, out, &clock))
}

/// The run's clock: continued from the checkpoint when resuming (so that `total_seconds` and
/// `started_unix` cover every process of the run), and recorded in every checkpoint.
fn run_clock(ckpt: Option<&mut Checkpointing>, started: Instant) -> Result<RunClock, TrainError> {
    let Some(c) = ckpt else {
        return Ok(RunClock::starting(started));
    };
    let record = if c.resume {
        crate::checkpoint::read_clock(&c.dir)?
    } else {
        None
    };
    let clock = match record {
        Some(r) => RunClock::continuing(started, r),
        None => RunClock::starting(started),
    };
    c.sink.set_clock(clock);
    Ok(clock)
}

/// The folder to save importances into, created (and emptied unless `resuming`), or `None`
/// when `cfg` saves none.
fn importance_dir<'a>(
    cfg: &RunConfig,
    importance: Option<&'a Path>,
    resuming: bool,
) -> Result<Option<&'a Path>, TrainError> {
    match (cfg.save_importance, importance) {
        (false, _) => Ok(None),
        (true, Some(dir)) => {
            // A fresh run must not mix its files with an older run's.
            if !resuming && dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| {
                    TrainError::Config(format!("cannot remove old {}: {e}", dir.display()))
                })?;
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| TrainError::Config(format!("cannot create {}: {e}", dir.display())))?;
            Ok(Some(dir))
        }
        (true, None) => Err(TrainError::Config(
            "save_importance needs a folder to save into: pass the run's folder as `importance`"
                .into(),
        )),
    }
}

/// Builds the network the benchmark's [`ModelKind`] calls for and trains it over `stream`.
#[allow(clippy::too_many_arguments)]
fn train_per_model<B: AutodiffBackend>(
    registry: &Registry,
    cfg: &RunConfig,
    stream: &TaskStream,
    device: &B::Device,
    observer: &mut dyn Observer,
    ckpt: Option<&mut Checkpointing>,
    importance: Option<&Path>,
) -> Result<TrainOutcome, TrainError> {
    match cfg.model_kind() {
        ModelKind::Mlp => {
            let net = MlpConfig {
                inputs: stream.inputs(),
                hidden: cfg.hidden.clone(),
                outputs: stream.outputs,
                head_init: cfg.head_init,
                init: cfg.init,
            };
            let mut init = || net.init(device);
            train_model::<B, Mlp<B>>(
                registry, cfg, stream, &mut init, device, observer, ckpt, importance,
            )
        }
        ModelKind::Cnn => {
            let set = &stream.dataset.train;
            let net = CnnConfig {
                // Channel-major images: the planes of rows x cols pixels each.
                channels: set.pixels_per_image / (set.rows * set.cols),
                height: set.rows,
                width: set.cols,
                outputs: stream.outputs,
                head_init: cfg.head_init,
                init: cfg.init,
            };
            let mut init = || net.init(device);
            train_model::<B, Cnn<B>>(
                registry, cfg, stream, &mut init, device, observer, ckpt, importance,
            )
        }
    }
}

/// The run's record: its config, the training outcome, its metrics and where it ran.
fn run_result<B: AutodiffBackend>(
    cfg: &RunConfig,
    stream: &TaskStream,
    dataset: &Dataset,
    device: &B::Device,
    out: TrainOutcome,
    clock: &RunClock,
) -> RunResult {
    let m = metrics::compute(&out.accuracy_matrix, &out.initial_accuracy);
    RunResult {
        version: env!("CARGO_PKG_VERSION").to_string(),
        benchmark: cfg.benchmark.name().to_string(),
        scenario: cfg.scenario.to_string(),
        method: cfg.method.name().to_string(),
        seed: cfg.train.seed,
        // Live logs are no part of what was computed.
        config: RunConfig {
            logs: Default::default(),
            ..cfg.clone()
        },
        task_names: stream.tasks.iter().map(|t| t.name.clone()).collect(),
        layout: cfg
            .protocol()
            .map(|p| p.layout(stream.tasks.len()))
            .unwrap_or_default(),
        accuracy_matrix: out.accuracy_matrix,
        initial_accuracy: out.initial_accuracy,
        average_accuracy: m.average_accuracy,
        mean_seen_accuracy: m.mean_seen_accuracy,
        backward_transfer: m.backward_transfer,
        forgetting: m.forgetting,
        forward_transfer: m.forward_transfer,
        epoch_loss: out.epoch_loss,
        final_penalty: out.final_penalty,
        train_seconds: out.train_seconds,
        eval_seconds: out.eval_seconds,
        total_seconds: clock.total_seconds(),
        steps: out.steps,
        backend: format!("{} ({})", cfg.backend.name(), B::name(device)),
        threads: rayon_threads(),
        data_dir: dataset.dir.display().to_string(),
        started_unix: clock.started_unix(),
        burn_version: crate::report::BURN_VERSION.to_string(),
        machine: crate::report::Machine::current(),
    }
}

/// Trains a model built by `init` with the method of `cfg` over `stream`.
#[allow(clippy::too_many_arguments)]
fn train_model<B, M>(
    registry: &Registry,
    cfg: &RunConfig,
    stream: &TaskStream,
    init: &mut dyn FnMut() -> M,
    device: &B::Device,
    observer: &mut dyn Observer,
    ckpt: Option<&mut Checkpointing>,
    importance: Option<&Path>,
) -> Result<TrainOutcome, TrainError>
where
    B: AutodiffBackend,
    M: TrainModel<B>,
{
    let mut first = Some(init());
    let exclude: Vec<String> = cfg
        .method
        .get("exclude")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    if !exclude.is_empty() {
        check_exclude::<B, M>(first.as_ref().unwrap(), &exclude)?;
    }
    let ctx = BuildContext {
        seed: cfg.train.seed,
    };
    let mut reg = registry.regularizer::<B, M>(&cfg.method, &ctx)?;
    let mode = registry.find(cfg.method.name())?.mode();
    let mut recorder = None;
    if let Some(dir) = importance {
        let names = stream.tasks.iter().map(|t| t.name.clone()).collect();
        let (r, rec) = crate::analysis::record::attach(cfg, registry, reg.take(), names, dir);
        reg = r;
        recorder = Some(rec);
    }
    let resumed = match ckpt.as_deref() {
        Some(c) if c.resume => {
            // A fresh model of the same shape receives the saved parameters.
            let fresh = first.take().unwrap_or_else(&mut *init);
            Some(crate::checkpoint::load::<B, M>(&c.dir, fresh, device)?)
        }
        _ => None,
    };
    let mut model_for = move || first.take().unwrap_or_else(&mut *init);
    let run = Loop {
        init: &mut model_for,
        mode,
        stream,
        regularizer: reg.as_deref_mut().map(|r| r as &mut dyn Regularizer<B, M>),
        cfg: &cfg.train,
        device,
        observer,
        sink: ckpt.map(|c| &mut c.sink as &mut dyn CheckpointSink<B, M>),
        hooks: recorder
            .iter_mut()
            .map(|r| r as &mut dyn TaskHook<B, M>)
            .collect(),
    };
    let (_model, out) = run.run(resumed)?;
    Ok(out)
}

/// Threads the CPU backend computes with.
pub fn rayon_threads() -> usize {
    rayon::current_num_threads()
}
