//! The continual training loop: Adam over a task stream, a regulariser's hooks around each step,
//! and evaluation of every task after every task.

use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::model::Classifier;
use crate::regularizer::{NonFinite, Regularizer, RegularizerState, TaskSamples};
use crate::scenario::TaskStream;

/// Optimisation settings of a continual run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over each task's training examples.
    pub epochs: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub epsilon: f64,
    /// Start each task with a fresh Adam state (moments and step count).
    pub reset_optimizer: bool,
    /// Seed of the minibatch order.
    pub seed: u64,
    /// Minibatch size for evaluation (no effect on results).
    pub eval_batch_size: usize,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The training loss became NaN or infinite.
    #[error("loss is not finite (NaN or inf) at task {task}, epoch {epoch}, step {step}: lower --lr or --c")]
    NonFiniteLoss {
        /// 1-based task.
        task: usize,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
    },
    /// A gradient of the task loss became NaN or infinite while the loss itself was finite.
    #[error("gradient of parameter '{param}' is not finite (NaN or inf) at task {task}, epoch {epoch}, step {step}: lower --lr, or look for a square root or log of zero in the model")]
    NonFiniteGradient {
        /// Module path of the parameter.
        param: String,
        /// 1-based task.
        task: usize,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
    },
    /// A regulariser's state became NaN or infinite.
    #[error(transparent)]
    Regularizer(#[from] NonFinite),
    /// A task has no training or no evaluation examples.
    #[error("task {task} ({name}) has no {what} examples: the dataset lacks its labels; check --data-dir, --train-limit and --test-limit")]
    EmptyTask {
        /// 1-based task.
        task: usize,
        /// Task name.
        name: String,
        /// "training" or "evaluation".
        what: &'static str,
    },
    /// The run's configuration does not fit the model (e.g. an `--exclude` matching nothing).
    #[error("{0}")]
    Config(String),
    /// The observer or the checkpoint sink asked to stop.
    #[error("interrupted")]
    Interrupted,
    /// A checkpoint could not be written or read.
    #[error("{0}")]
    Checkpoint(String),
}

/// Everything the loop measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    /// `R[i][j]`: accuracy on task j after training task i.
    pub accuracy_matrix: Vec<Vec<f64>>,
    /// Accuracy of the freshly initialised model on each task (for forward transfer).
    pub initial_accuracy: Vec<f64>,
    /// Mean training loss (task loss, without penalty) of each epoch, per task.
    pub epoch_loss: Vec<Vec<f64>>,
    /// Penalty value at the end of each task's training.
    pub final_penalty: Vec<f64>,
    /// Seconds spent in training steps (no evaluation).
    pub train_seconds: f64,
    /// Seconds spent evaluating.
    pub eval_seconds: f64,
    /// Optimizer steps taken.
    pub steps: usize,
}

/// Per-epoch report for progress display.
#[derive(Debug, Clone)]
pub struct EpochReport {
    /// 0-based task.
    pub task: usize,
    /// Number of tasks.
    pub tasks: usize,
    /// 0-based epoch.
    pub epoch: usize,
    /// Epochs per task.
    pub epochs: usize,
    /// Mean task loss over the epoch.
    pub loss: f64,
    /// Penalty at the end of the epoch.
    pub penalty: f64,
    /// Optimizer steps per second in this epoch.
    pub steps_per_second: f64,
}

/// Receives progress from the loop; every method has a do-nothing default.
pub trait Observer {
    /// A task starts: `steps` minibatches per epoch.
    fn task_start(&mut self, _task: usize, _name: &str, _steps: usize, _epochs: usize) {}
    /// One optimizer step finished with this task loss; return false to stop the run.
    fn step(&mut self, _loss: f64) -> bool {
        true
    }
    /// An epoch finished.
    fn epoch_end(&mut self, _report: &EpochReport) {}
    /// The regulariser starts measuring the finished task's importance on `samples` examples
    /// (EWC's Fisher, MAS), which can take a while on large networks.
    fn importance_start(&mut self, _task: usize, _samples: usize) {}
    /// A task finished and every task was evaluated.
    fn task_end(&mut self, _task: usize, _accuracies: &[f64]) {}
}

/// An observer that shows nothing.
pub struct Silent;
impl Observer for Silent {}

/// The Adam optimizer the loop trains with.
pub type AdamOptim<B, M> = OptimizerAdaptor<Adam, M, B>;

/// Adam's saved state (moments and step count per parameter).
pub type AdamRecord<B, M> = <AdamOptim<B, M> as Optimizer<M, B>>::Record;

/// Where a run stands, between two optimizer steps: enough, with the model, Adam's state, the
/// regulariser's state and the minibatch generator, to continue exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    /// 0-based task in progress (the number of tasks once the run is done).
    pub task: usize,
    /// 0-based epoch in progress within `task`.
    pub epoch: usize,
    /// Steps of that epoch already taken.
    pub step: usize,
    /// The task's (task, example) order as it stands: the epoch's shuffled order when `step > 0`,
    /// the last epoch's order (which the next shuffle permutes) at an epoch boundary; `None` at a
    /// task boundary.
    pub order: Option<Vec<(usize, u32)>>,
    /// Sum of the task losses of the steps taken in this epoch.
    pub loss_sum: f64,
    /// Mean losses of this task's finished epochs.
    pub task_losses: Vec<f64>,
    /// Everything measured in the finished tasks (and the steps and seconds so far).
    pub outcome: TrainOutcome,
}

/// Why the loop hands its state to a [`CheckpointSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveReason {
    /// A task finished and was evaluated.
    Task,
    /// `every_epochs` epochs of a task finished.
    Epoch,
    /// The observer asked to stop; the position is mid-epoch.
    Interrupt,
}

/// The state of the loop at a [`Position`], lent to a [`CheckpointSink`].
pub struct TrainState<'a, B: AutodiffBackend, M: AutodiffModule<B>> {
    /// The model.
    pub model: &'a M,
    /// Adam.
    pub optim: &'a AdamOptim<B, M>,
    /// The regulariser's state (`None` without a regulariser).
    pub regularizer: Option<RegularizerState>,
    /// The minibatch-order generator.
    pub rng: &'a ChaCha8Rng,
    /// Where the run stands.
    pub position: &'a Position,
}

/// Receives the loop's state to save it: at every task end, every `every_epochs` epochs and when
/// the observer asks to stop.
pub trait CheckpointSink<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// Save also after every this many epochs inside a task.
    fn every_epochs(&self) -> Option<usize> {
        None
    }
    /// Saves `state`; `Ok(false)` stops the run (as an interrupt) after the save.
    fn save(&mut self, state: TrainState<'_, B, M>, reason: SaveReason) -> Result<bool, String>;
}

/// A run restored from a checkpoint, to continue with [`train_stream_resumable`].
pub struct Resumed<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// The model at the position.
    pub model: M,
    /// Adam's state.
    pub optim: AdamRecord<B, M>,
    /// The regulariser's state.
    pub regularizer: Option<RegularizerState>,
    /// The minibatch-order generator.
    pub rng: ChaCha8Rng,
    /// Where the run stands.
    pub position: Position,
}

/// Seed of the backend generator (dropout) for one step, so that a resumed run draws the same
/// dropout masks as an uninterrupted one.
fn step_seed(seed: u64, task: usize, epoch: usize, step: usize) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for v in [task as u64, epoch as u64, step as u64] {
        h = (h ^ v).wrapping_mul(0x1000_0000_01B3).rotate_left(29);
    }
    h
}

/// Mean cross-entropy of `logits` against `targets`, with inactive outputs masked out.
pub fn masked_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    mask: Option<&Tensor<B, 2>>,
) -> Tensor<B, 1> {
    let logits = match mask {
        Some(m) => logits + m.clone(),
        None => logits,
    };
    let n = targets.dims()[0];
    log_softmax(logits, 1)
        .gather(1, targets.reshape([n, 1]))
        .mean()
        .neg()
}

/// A `[1, outputs]` additive mask: 0 on `active` units, a large negative number elsewhere.
///
/// Masked units get exactly zero softmax weight, hence zero gradient, as with the official
/// code's −1e32 fill; a finite value keeps 0·mask products free of NaN.
pub fn output_mask<B: Backend>(
    outputs: usize,
    active: Option<&[usize]>,
    device: &B::Device,
) -> Option<Tensor<B, 2>> {
    let active = active?;
    let mut m = vec![-1e30f32; outputs];
    for &k in active {
        m[k] = 0.0;
    }
    Some(Tensor::from_data(TensorData::new(m, [1, outputs]), device))
}

/// Accuracy of `model` on the evaluation examples of task `j`, competing over `active` outputs.
pub fn evaluate<B: Backend, M: Classifier<B>>(
    model: &M,
    stream: &TaskStream,
    j: usize,
    active: Option<&[usize]>,
    batch: usize,
    device: &B::Device,
) -> f64 {
    let idx = &stream.tasks[j].eval;
    if idx.is_empty() {
        return 0.0;
    }
    let mask = output_mask::<B>(stream.outputs, active, device);
    let mut correct = 0i64;
    for chunk in idx.chunks(batch.max(1)) {
        let (x, y) = stream.eval_batch::<B>(j, chunk, device);
        let mut logits = model.logits(x);
        if let Some(m) = &mask {
            logits = logits + m.clone();
        }
        let pred = logits.argmax(1).reshape([chunk.len()]);
        let hits: i64 = pred.equal(y).int().sum().into_scalar().elem();
        correct += hits;
    }
    correct as f64 / idx.len() as f64
}

fn evaluate_all<B, M>(
    model: &M,
    stream: &TaskStream,
    after: Option<usize>,
    batch: usize,
    device: &B::Device,
) -> Vec<f64>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    M::InnerModule: Classifier<B::InnerBackend>,
{
    let inner = model.valid();
    (0..stream.tasks.len())
        .map(|j| {
            let active = match after {
                Some(i) => stream.eval_outputs(i, j),
                // A fresh model is scored the way task j is scored right after it is learned.
                None => stream.eval_outputs(j, j),
            };
            evaluate::<B::InnerBackend, _>(&inner, stream, j, active.as_deref(), batch, device)
        })
        .collect()
}

/// How the tasks of a stream are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One task after the other, on the same network (finetune and every regulariser).
    #[default]
    Sequential,
    /// At task t, train on the union of tasks 0..=t (the usual upper bound).
    Joint,
    /// A fresh network (and optimizer) for each task: one network per task. `R[i][j]` for j < i
    /// is task j's own network's accuracy `R[j][j]`, so nothing is ever forgotten.
    Scratch,
}

/// The examples of one finished task handed to [`Regularizer::end_task`].
struct StreamSamples<'a, B: Backend> {
    stream: &'a TaskStream,
    task: usize,
    idx: Vec<u32>,
    active: Option<Vec<usize>>,
    device: B::Device,
}

impl<B: Backend> TaskSamples<B> for StreamSamples<'_, B> {
    fn len(&self) -> usize {
        self.idx.len()
    }
    fn batch(&self, idx: &[usize]) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        let rows: Vec<u32> = idx.iter().map(|&i| self.idx[i]).collect();
        self.stream.train_batch::<B>(self.task, &rows, &self.device)
    }
    fn active_outputs(&self) -> Option<&[usize]> {
        self.active.as_deref()
    }
}

/// An `[n, outputs]` additive mask with a different set of active outputs per row.
fn row_masks<B: Backend>(
    outputs: usize,
    rows: &[Option<Vec<usize>>],
    device: &B::Device,
) -> Option<Tensor<B, 2>> {
    if rows.iter().all(Option::is_none) {
        return None;
    }
    let mut m = vec![0.0f32; rows.len() * outputs];
    for (r, active) in rows.iter().enumerate() {
        if let Some(active) = active {
            let row = &mut m[r * outputs..(r + 1) * outputs];
            row.fill(-1e30);
            for &k in active {
                row[k] = 0.0;
            }
        }
    }
    Some(Tensor::from_data(
        TensorData::new(m, [rows.len(), outputs]),
        device,
    ))
}

/// Trains `model` on every task of `stream` in order and evaluates every task after each one.
pub fn train_stream<B, M>(
    model: M,
    stream: &TaskStream,
    regularizer: Option<&mut dyn Regularizer<B, M>>,
    cfg: &TrainConfig,
    device: &B::Device,
    observer: &mut dyn Observer,
) -> Result<(M, TrainOutcome), TrainError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B>,
    M::InnerModule: Classifier<B::InnerBackend>,
{
    let mut first = Some(model);
    let mut init = move || first.take().expect("sequential training builds one model");
    train_stream_mode(
        &mut init,
        Mode::Sequential,
        stream,
        regularizer,
        cfg,
        device,
        observer,
    )
}

/// Trains over `stream` in `mode`; `init` builds a fresh network (called once, and again before
/// each task in [`Mode::Scratch`]).
pub fn train_stream_mode<B, M>(
    init: &mut dyn FnMut() -> M,
    mode: Mode,
    stream: &TaskStream,
    regularizer: Option<&mut dyn Regularizer<B, M>>,
    cfg: &TrainConfig,
    device: &B::Device,
    observer: &mut dyn Observer,
) -> Result<(M, TrainOutcome), TrainError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B>,
    M::InnerModule: Classifier<B::InnerBackend>,
{
    train_stream_resumable(
        init,
        mode,
        stream,
        regularizer,
        cfg,
        device,
        observer,
        None,
        None,
    )
}

/// [`train_stream_mode`] with checkpoints: `sink` receives the state after every task (and every
/// `every_epochs` epochs, and when the observer asks to stop); `resume` continues from a saved
/// state exactly as the uninterrupted run would have (same numbers, bit for bit).
///
/// In [`Mode::Scratch`] the backend is re-seeded with `seed ^ task` before each task's fresh
/// network, and before every step with a seed of (seed, task, epoch, step) so that dropout masks
/// do not depend on where a run was resumed.
#[allow(clippy::too_many_arguments)]
pub fn train_stream_resumable<B, M>(
    init: &mut dyn FnMut() -> M,
    mode: Mode,
    stream: &TaskStream,
    mut regularizer: Option<&mut dyn Regularizer<B, M>>,
    cfg: &TrainConfig,
    device: &B::Device,
    observer: &mut dyn Observer,
    mut sink: Option<&mut dyn CheckpointSink<B, M>>,
    resume: Option<Resumed<B, M>>,
) -> Result<(M, TrainOutcome), TrainError>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B>,
    M::InnerModule: Classifier<B::InnerBackend>,
{
    for (t, task) in stream.tasks.iter().enumerate() {
        for (what, idx) in [("training", &task.train), ("evaluation", &task.eval)] {
            if idx.is_empty() {
                return Err(TrainError::EmptyTask {
                    task: t + 1,
                    name: task.name.clone(),
                    what,
                });
            }
        }
    }
    let adam = AdamConfig::new()
        .with_beta_1(cfg.beta1 as f32)
        .with_beta_2(cfg.beta2 as f32)
        .with_epsilon(cfg.epsilon as f32);
    let consts = fused::AdamConsts {
        beta_1: cfg.beta1 as f32,
        beta_2: cfg.beta2 as f32,
        epsilon: cfg.epsilon as f32,
    };
    // The fused step gives the same numbers as burn's path, faster.
    let fused = fused::available::<B>() && fused::enabled();
    let n_tasks = stream.tasks.len();
    let (mut model, mut optim, mut rng, mut out, mut at) = match resume {
        Some(r) => {
            if r.position.task > n_tasks {
                return Err(TrainError::Checkpoint(format!(
                    "the checkpoint is at task {} of a {n_tasks}-task run",
                    r.position.task + 1
                )));
            }
            if let Some(reg) = regularizer.as_deref_mut() {
                let st = r.regularizer.as_ref().ok_or_else(|| {
                    TrainError::Checkpoint("the checkpoint has no regulariser state".into())
                })?;
                reg.load_state(&r.model, st)
                    .map_err(|e| TrainError::Checkpoint(format!("checkpoint: {e}")))?;
            }
            let optim = adam.init::<B, M>().load_record(r.optim);
            let out = r.position.outcome.clone();
            (r.model, optim, r.rng, out, Some(r.position))
        }
        None => {
            let model = init();
            if let Some(r) = regularizer.as_deref_mut() {
                r.init(&model);
            }
            let mut out = TrainOutcome {
                accuracy_matrix: Vec::new(),
                initial_accuracy: Vec::new(),
                epoch_loss: Vec::new(),
                final_penalty: Vec::new(),
                train_seconds: 0.0,
                eval_seconds: 0.0,
                steps: 0,
            };
            let t_eval = Instant::now();
            out.initial_accuracy = evaluate_all(&model, stream, None, cfg.eval_batch_size, device);
            out.eval_seconds += t_eval.elapsed().as_secs_f64();
            let optim = adam.init::<B, M>();
            (model, optim, ChaCha8Rng::seed_from_u64(cfg.seed), out, None)
        }
    };
    let start_task = at.as_ref().map_or(0, |p| p.task);
    // Hands the state to the sink; Ok(false) means stop.
    macro_rules! save {
        ($pos:expr, $reason:expr) => {
            match sink.as_deref_mut() {
                Some(s) => {
                    let position = $pos;
                    s.save(
                        TrainState {
                            model: &model,
                            optim: &optim,
                            regularizer: regularizer.as_deref().map(|r| r.state()),
                            rng: &rng,
                            position: &position,
                        },
                        $reason,
                    )
                    .map_err(TrainError::Checkpoint)?
                }
                None => true,
            }
        };
    }

    for t in start_task..n_tasks {
        // A position inside this task (not at its start) continues it as it was.
        let inside = at.take().filter(|p| p.order.is_some());
        if inside.is_none() && t > 0 && mode == Mode::Scratch {
            B::seed(device, cfg.seed ^ t as u64);
            model = init();
            // burn initialises parameters lazily: draw them now, from this seed.
            crate::regularizer::param_paths::<B, M>(&model);
            optim = adam.init::<B, M>();
            if let Some(r) = regularizer.as_deref_mut() {
                r.init(&model);
            }
        } else if inside.is_none() && t > 0 && cfg.reset_optimizer {
            optim = adam.init::<B, M>();
        }
        let task = &stream.tasks[t];
        let (start_epoch, start_step, start_loss, mut losses, mut order) = match inside {
            Some(p) => (
                p.epoch,
                p.step,
                p.loss_sum,
                p.task_losses,
                p.order.expect("filtered on order"),
            ),
            // (task, index) of every training example of this stage.
            None => (
                0,
                0,
                0.0,
                Vec::new(),
                match mode {
                    Mode::Joint => (0..=t)
                        .flat_map(|k| stream.tasks[k].train.iter().map(move |&i| (k, i)))
                        .collect(),
                    _ => task.train.iter().map(|&i| (t, i)).collect(),
                },
            ),
        };
        let mixed = mode == Mode::Joint && t > 0;
        let mask = output_mask::<B>(stream.outputs, stream.train_outputs(t).as_deref(), device);
        let heads: Vec<Option<Vec<usize>>> = (0..=t).map(|k| stream.joint_outputs(t, k)).collect();
        let steps = order.len().div_ceil(cfg.batch_size);
        observer.task_start(t, &task.name, steps, cfg.epochs);
        let mut idx: Vec<u32> = Vec::with_capacity(cfg.batch_size);
        for epoch in start_epoch..cfg.epochs {
            let t0 = Instant::now();
            let (skip, mut loss_sum) = if epoch == start_epoch && start_step > 0 {
                (start_step, start_loss)
            } else {
                order.shuffle(&mut rng);
                (0, 0.0)
            };
            for step in skip..steps {
                let pairs =
                    &order[step * cfg.batch_size..((step + 1) * cfg.batch_size).min(order.len())];
                B::seed(device, step_seed(cfg.seed, t, epoch, step));
                let (logits, y, row_mask) = if mixed {
                    let (x, y) = stream.mixed_train_batch::<B>(pairs, device);
                    let rows: Vec<_> = pairs.iter().map(|&(k, _)| heads[k].clone()).collect();
                    (
                        model.logits(x),
                        y,
                        row_masks::<B>(stream.outputs, &rows, device),
                    )
                } else {
                    idx.clear();
                    idx.extend(pairs.iter().map(|&(_, i)| i));
                    let (x, y) = stream.train_batch::<B>(t, &idx, device);
                    (model.logits(x), y, None)
                };
                let loss = masked_cross_entropy(logits, y, row_mask.as_ref().or(mask.as_ref()));
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let loss: f64 = loss.into_scalar().elem();
                if !loss.is_finite() {
                    return Err(TrainError::NonFiniteLoss {
                        task: t + 1,
                        epoch: epoch + 1,
                        step: step + 1,
                    });
                }
                let non_finite = |param| TrainError::NonFiniteGradient {
                    param,
                    task: t + 1,
                    epoch: epoch + 1,
                    step: step + 1,
                };
                let fusable = fused
                    && regularizer
                        .as_deref_mut()
                        .is_none_or(|r| r.fused().is_some());
                if fusable {
                    let mut records = fused::take_records(&mut optim, || adam.init::<B, M>());
                    let mut hooks = regularizer.as_deref_mut().and_then(|r| r.fused());
                    let hooks = hooks.as_deref_mut();
                    model = fused::step::<B, M>(model, grads, &mut records, consts, cfg.lr, hooks)
                        .map_err(non_finite)?;
                    optim = adam.init::<B, M>().load_record(records);
                    loss_sum += loss;
                } else {
                    let mut grads = grads;
                    if let Some(param) = non_finite_gradient::<B, M>(&model, &mut grads) {
                        return Err(non_finite(param));
                    }
                    loss_sum += loss;
                    let grads = match regularizer.as_deref_mut() {
                        Some(r) => r.before_step(&model, grads),
                        None => grads,
                    };
                    model = optim.step(cfg.lr, model, grads);
                    if let Some(r) = regularizer.as_deref_mut() {
                        r.after_step(&model);
                    }
                }
                out.steps += 1;
                if !observer.step(loss) {
                    out.train_seconds += t0.elapsed().as_secs_f64();
                    save!(
                        Position {
                            task: t,
                            epoch,
                            step: step + 1,
                            order: Some(order.clone()),
                            loss_sum,
                            task_losses: losses.clone(),
                            outcome: out.clone(),
                        },
                        SaveReason::Interrupt
                    );
                    return Err(TrainError::Interrupted);
                }
            }
            let secs = t0.elapsed().as_secs_f64();
            out.train_seconds += secs;
            let penalty = regularizer.as_deref().map_or(0.0, |r| r.penalty(&model));
            let loss = loss_sum / steps.max(1) as f64;
            losses.push(loss);
            observer.epoch_end(&EpochReport {
                task: t,
                tasks: n_tasks,
                epoch,
                epochs: cfg.epochs,
                loss,
                penalty,
                steps_per_second: (steps - skip) as f64 / secs.max(1e-9),
            });
            let every = sink.as_deref().and_then(|s| s.every_epochs());
            if let Some(n) = every.filter(|&n| n > 0) {
                if (epoch + 1) % n == 0 && epoch + 1 < cfg.epochs {
                    let go = save!(
                        Position {
                            task: t,
                            epoch: epoch + 1,
                            step: 0,
                            order: Some(order.clone()),
                            loss_sum: 0.0,
                            task_losses: losses.clone(),
                            outcome: out.clone(),
                        },
                        SaveReason::Epoch
                    );
                    if !go {
                        return Err(TrainError::Interrupted);
                    }
                }
            }
        }
        out.final_penalty
            .push(regularizer.as_deref().map_or(0.0, |r| r.penalty(&model)));
        if let Some(r) = regularizer.as_deref_mut() {
            let t0 = Instant::now();
            let samples = task_samples::<B>(stream, t, r.samples_wanted(), cfg.seed, device);
            if !samples.idx.is_empty() {
                observer.importance_start(t, samples.idx.len());
            }
            r.end_task(&model, t, &samples)?;
            // Measuring importance (EWC's Fisher, MAS) is part of the method's training cost.
            out.train_seconds += t0.elapsed().as_secs_f64();
        }
        out.epoch_loss.push(losses);
        let t_eval = Instant::now();
        let mut row = evaluate_all(&model, stream, Some(t), cfg.eval_batch_size, device);
        out.eval_seconds += t_eval.elapsed().as_secs_f64();
        if mode == Mode::Scratch {
            // Each earlier task keeps its own network.
            for (j, r) in row.iter_mut().enumerate().take(t) {
                *r = out.accuracy_matrix[j][j];
            }
        }
        observer.task_end(t, &row);
        out.accuracy_matrix.push(row);
        let go = save!(
            Position {
                task: t + 1,
                epoch: 0,
                step: 0,
                order: None,
                loss_sum: 0.0,
                task_losses: Vec::new(),
                outcome: out.clone(),
            },
            SaveReason::Task
        );
        // After the last task there is nothing left to interrupt: the run finishes.
        if !go && t + 1 < n_tasks {
            return Err(TrainError::Interrupted);
        }
    }
    Ok((model, out))
}

/// The path of the first parameter whose gradient holds a NaN or inf, if any. One reduction per
/// parameter and a single read-back in the common, finite case.
fn non_finite_gradient<B, M>(model: &M, grads: &mut GradientsParams) -> Option<String>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut sums: Vec<(String, Tensor<B::InnerBackend, 1>)> = Vec::new();
    crate::regularizer::walk_params::<B, M, _>(model, Some(grads), |p, g| {
        if let Some(g) = g {
            sums.push((p.path.to_string(), g.sum()));
        }
        None
    });
    let total = sums.iter().map(|(_, s)| s.clone()).reduce(|a, b| a + b)?;
    let total: f64 = total.into_scalar().elem();
    if total.is_finite() {
        return None;
    }
    // A sum can overflow without any element being bad: look at each parameter.
    sums.into_iter().find_map(|(path, s)| {
        let v: f64 = s.into_scalar().elem();
        (!v.is_finite()).then_some(path)
    })
}

/// A random subset of `n` training examples of task `t`, drawn from its own seeded generator so
/// that measuring importance does not change the minibatch order.
fn task_samples<'a, B: Backend>(
    stream: &'a TaskStream,
    t: usize,
    n: usize,
    seed: u64,
    device: &B::Device,
) -> StreamSamples<'a, B> {
    let mut idx = Vec::new();
    if n > 0 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5151_0000 ^ t as u64);
        idx = stream.tasks[t].train.clone();
        idx.shuffle(&mut rng);
        idx.truncate(n);
    }
    StreamSamples {
        stream,
        task: t,
        idx,
        active: stream.train_outputs(t),
        device: device.clone(),
    }
}

pub mod fused;

#[cfg(test)]
mod tests;
