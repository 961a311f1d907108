//! The continual training loop: Adam over a task stream, a regulariser's hooks around each step,
//! and evaluation of every task after every task.

use std::path::PathBuf;
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::method::MethodError;
pub use crate::method::Mode;
use crate::model::{output_mask, row_masks, TrainModel};
use crate::regularizer::{
    ExcludeError, NonFinite, Regularizer, RegularizerState, StateError, TaskSamples,
};
use crate::scenario::TaskStream;

pub mod eval;
pub mod fused;
pub mod step;

pub use eval::{evaluate, evaluate_all, masked_cross_entropy, training_loss};
use step::StepExec;

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
    /// Clip of the target class's softmax probability to [p, 1 − p] before the log, as Keras
    /// 2.0's `categorical_crossentropy` does (1e-7 there, so the official SI code's); 0: the
    /// exact cross-entropy.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prob_clip: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// Why a task-end hook failed (e.g. could not write its files).
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// Why a checkpoint could not be written, read or resumed from.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A part of the state could not be encoded.
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// The part: "the model", "Adam's state", "the position", "the manifest".
        what: &'static str,
        /// The encoder's message.
        message: String,
    },
    /// A file of the checkpoint folder could not be written.
    #[error("cannot write checkpoint {}: {error}", dir.display())]
    Write {
        /// The checkpoint folder.
        dir: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// The manifest could not be read: no complete checkpoint.
    #[error("cannot read checkpoint manifest {}: {error}; the run has no complete checkpoint", path.display())]
    NoManifest {
        /// The manifest's path.
        path: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// The manifest does not parse.
    #[error("checkpoint manifest {} is corrupt ({message}); the checkpoint cannot be resumed", path.display())]
    CorruptManifest {
        /// The manifest's path.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The manifest is of another layout version.
    #[error("checkpoint manifest {} has format {found}, this synaptic reads {reads}", path.display())]
    Format {
        /// The manifest's path.
        path: PathBuf,
        /// Its version.
        found: u32,
        /// The version this build reads.
        reads: u32,
    },
    /// A file the manifest names could not be read.
    #[error("cannot read checkpoint file {}: {error}", path.display())]
    ReadFile {
        /// The file's path.
        path: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// A file differs from its hash in the manifest.
    #[error("checkpoint file {} does not match its SHA-256 in {manifest}: it is corrupt", path.display())]
    Checksum {
        /// The file's path.
        path: PathBuf,
        /// The manifest's file name.
        manifest: &'static str,
    },
    /// The manifest names no file of a role the run needs.
    #[error("checkpoint {} lacks its {role} file", dir.display())]
    MissingPart {
        /// The checkpoint folder.
        dir: PathBuf,
        /// `model`, `adam` or `state`.
        role: &'static str,
    },
    /// A file was read but its content does not decode.
    #[error("checkpoint {what} in {} is unreadable ({message}) although its SHA-256 matches the manifest: the checkpoint is damaged or not this run's; start the run again", dir.display())]
    Unreadable {
        /// The part: "model", "Adam state", "regulariser state", "state".
        what: &'static str,
        /// The checkpoint folder.
        dir: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// The checkpoint's position lies past the run's last task.
    #[error("the checkpoint is at task {task} of a {tasks}-task run")]
    PastEnd {
        /// 1-based task of the position.
        task: usize,
        /// Tasks of the run.
        tasks: usize,
    },
    /// The run has a regulariser but the checkpoint no state for it.
    #[error("the checkpoint has no regulariser state")]
    NoRegularizerState,
    /// The regulariser rejected its saved state.
    #[error("checkpoint: {0}")]
    Regularizer(StateError),
    /// A file name in the manifest that is not a plain name inside the checkpoint folder.
    #[error("checkpoint manifest {} names file {name:?}, which is not a plain file name inside its folder: the manifest is corrupt or forged; start the run again", path.display())]
    UnsafeName {
        /// The manifest's path.
        path: PathBuf,
        /// The name as the manifest gives it.
        name: String,
    },
    /// The run's config is not the one the checkpoint was taken with.
    #[error("the run's settings differ from those checkpoint {} was taken with (config sha256 {}… there, {}… now): resume with the settings the run started with", manifest.display(), recorded.get(..12).unwrap_or(recorded), now.get(..12).unwrap_or(now))]
    ConfigChanged {
        /// The manifest's path.
        manifest: PathBuf,
        /// The config digest the manifest records.
        recorded: String,
        /// The digest of the config given now.
        now: String,
    },
    /// A checkpoint sink defined outside this crate failed.
    #[error("{0}")]
    Sink(String),
}

/// Why a run stopped early. Remedies name the settings by their config keys (`lr`, `c`).
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The training loss became NaN or infinite.
    #[error(
        "loss is not finite (NaN or inf) at task {task}, epoch {epoch}, step {step}: lower lr or c"
    )]
    NonFiniteLoss {
        /// 1-based task.
        task: usize,
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
    },
    /// A gradient of the task loss became NaN or infinite while the loss itself was finite.
    #[error("gradient of parameter '{param}' is not finite (NaN or inf) at task {task}, epoch {epoch}, step {step}: lower lr, or look for a square root or log of zero in the model")]
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
    #[error("task {task} ({name}) has no {what} examples: the dataset lacks its labels; check data_dir, train_limit and test_limit")]
    EmptyTask {
        /// 1-based task.
        task: usize,
        /// Task name.
        name: String,
        /// "training" or "evaluation".
        what: &'static str,
    },
    /// An `exclude` pattern matches no parameter of the model.
    #[error(transparent)]
    Exclude(#[from] ExcludeError),
    /// The method's options do not build a regulariser.
    #[error(transparent)]
    Method(#[from] MethodError),
    /// The run's folders for its files could not be prepared.
    #[error("{0}")]
    Config(String),
    /// A task-end hook failed.
    #[error("{0}")]
    Hook(HookError),
    /// The observer or the checkpoint sink asked to stop.
    #[error("interrupted")]
    Interrupted,
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
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

/// The loss, and the penalty where the run has a regulariser, after one optimizer step: what the
/// loop reports every [`Observer::sample_every`] steps.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSample {
    /// Optimizer steps of the run so far, this one included (1-based, counted over all tasks).
    pub step: usize,
    /// The step's task loss (without penalty).
    pub loss: f64,
    /// The regulariser's penalty after the step (`None` without a regulariser).
    pub penalty: Option<f64>,
}

/// Receives progress from the loop; every method has a do-nothing default.
pub trait Observer {
    /// The loop starts at `at`: a fresh run's zero position (its outcome holds the untrained
    /// model's accuracy) or, when `resumed`, the checkpoint's; later calls report only what
    /// follows it.
    fn start(&mut self, _at: &Position, _resumed: bool) {}
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
    /// Steps between two [`Observer::sample`] calls, counted over the run (`None`, the default:
    /// never; the loop computes the penalty for a sample only when asked).
    fn sample_every(&self) -> Option<usize> {
        None
    }
    /// After every step whose run-wide number is a multiple of `sample_every`, before `step`.
    fn sample(&mut self, _sample: &StepSample) {}
}

/// Two observers as one: each call goes to both, `first` first; the run stops when either asks.
pub struct Tee<'a> {
    /// Called first.
    pub first: &'a mut dyn Observer,
    /// Called second.
    pub second: &'a mut dyn Observer,
}

impl Observer for Tee<'_> {
    fn start(&mut self, at: &Position, resumed: bool) {
        self.first.start(at, resumed);
        self.second.start(at, resumed);
    }
    fn task_start(&mut self, task: usize, name: &str, steps: usize, epochs: usize) {
        self.first.task_start(task, name, steps, epochs);
        self.second.task_start(task, name, steps, epochs);
    }
    fn step(&mut self, loss: f64) -> bool {
        // Both see every step, whatever the first one answers.
        let a = self.first.step(loss);
        let b = self.second.step(loss);
        a && b
    }
    fn epoch_end(&mut self, report: &EpochReport) {
        self.first.epoch_end(report);
        self.second.epoch_end(report);
    }
    fn importance_start(&mut self, task: usize, samples: usize) {
        self.first.importance_start(task, samples);
        self.second.importance_start(task, samples);
    }
    fn task_end(&mut self, task: usize, accuracies: &[f64]) {
        self.first.task_end(task, accuracies);
        self.second.task_end(task, accuracies);
    }
    fn sample_every(&self) -> Option<usize> {
        match (self.first.sample_every(), self.second.sample_every()) {
            (Some(a), Some(b)) => Some(gcd(a, b)),
            (a, b) => a.or(b),
        }
    }
    fn sample(&mut self, sample: &StepSample) {
        for o in [&mut *self.first, &mut *self.second] {
            if o.sample_every()
                .is_some_and(|n| sample.step.is_multiple_of(n))
            {
                o.sample(sample);
            }
        }
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Sees the model at every task's end, around the regulariser's own end-of-task update: for
/// measurements that need the trained network (e.g. `--save-importance`'s recorder).
pub trait TaskHook<B: AutodiffBackend, M> {
    /// Examples of the finished task the hook wants (the loop draws the larger of this and the
    /// regulariser's number; each uses the first of them it needs).
    fn samples_wanted(&self) -> usize {
        0
    }
    /// Before the regulariser's `end_task` for task `task` (0-based).
    fn before_end_task(&mut self, _model: &M, _task: usize, _reg: Option<&dyn Regularizer<B, M>>) {}
    /// After it, with the task's examples; an error stops the run.
    fn after_end_task(
        &mut self,
        model: &M,
        task: usize,
        samples: &dyn TaskSamples<B>,
        reg: Option<&dyn Regularizer<B, M>>,
    ) -> Result<(), HookError>;
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

impl Position {
    /// Where a fresh run starts: task 0, nothing trained; `outcome` holds what was measured
    /// before training (the untrained model's accuracy).
    pub fn zero(outcome: TrainOutcome) -> Self {
        Position {
            task: 0,
            epoch: 0,
            step: 0,
            order: None,
            loss_sum: 0.0,
            task_losses: Vec::new(),
            outcome,
        }
    }
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
    /// Adam's state.
    pub optim: AdamRecord<B, M>,
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
    fn save(
        &mut self,
        state: TrainState<'_, B, M>,
        reason: SaveReason,
    ) -> Result<bool, CheckpointError>;
}

/// A run restored from a checkpoint, to continue with [`Loop::run`].
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
    M: TrainModel<B>,
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
    M: TrainModel<B>,
{
    Loop {
        init,
        mode,
        stream,
        regularizer: regularizer.map(|r| r as _),
        cfg,
        device,
        observer,
        sink: None,
        hooks: Vec::new(),
    }
    .run(None)
}

/// Everything a continual run needs: how to build the network, the tasks, the method's
/// regulariser, the settings, and where progress and checkpoints go. [`Loop::run`] trains; with
/// a sink it checkpoints after every task (and every `every_epochs` epochs, and when the
/// observer asks to stop), and from a [`Resumed`] state it continues exactly as the
/// uninterrupted run would have (same numbers, bit for bit).
///
/// In [`Mode::Scratch`] the backend is re-seeded with `seed ^ task` before each task's fresh
/// network, and before every step with a seed of (seed, task, epoch, step) so that dropout masks
/// do not depend on where a run was resumed.
pub struct Loop<'a, 'd, B: AutodiffBackend, M: TrainModel<B>> {
    /// Builds a fresh network (once, and before each task in [`Mode::Scratch`]).
    pub init: &'a mut (dyn FnMut() -> M + 'd),
    /// How the tasks are walked.
    pub mode: Mode,
    /// The tasks.
    pub stream: &'a TaskStream,
    /// The method's regulariser, if it has one.
    pub regularizer: Option<&'a mut dyn Regularizer<B, M>>,
    /// Epochs, batch size, Adam, seed.
    pub cfg: &'a TrainConfig,
    /// Where tensors live.
    pub device: &'a B::Device,
    /// Progress, and the stop request.
    pub observer: &'a mut (dyn Observer + 'd),
    /// Where checkpoints go, if anywhere.
    pub sink: Option<&'a mut (dyn CheckpointSink<B, M> + 'd)>,
    /// Called at every task's end with the trained model.
    pub hooks: Vec<&'a mut (dyn TaskHook<B, M> + 'd)>,
}

/// The task in progress: its example order and where its epochs stand.
struct Stage {
    t: usize,
    start_epoch: usize,
    start_step: usize,
    start_loss: f64,
    losses: Vec<f64>,
    /// (task, example) of every training example of this stage, in this epoch's order.
    order: Vec<(usize, u32)>,
}

/// The loop's mutable state between steps.
struct Run<B: AutodiffBackend, M: TrainModel<B>> {
    /// The network; out only while a step consumes it.
    model: Option<M>,
    exec: Box<dyn StepExec<B, M>>,
    rng: ChaCha8Rng,
    out: TrainOutcome,
}

impl<B: AutodiffBackend, M: TrainModel<B>> Loop<'_, '_, B, M> {
    /// Trains every task (from `resume`'s position if given) and returns the final network and
    /// what was measured.
    pub fn run(mut self, resume: Option<Resumed<B, M>>) -> Result<(M, TrainOutcome), TrainError> {
        self.check_tasks()?;
        let (mut run, mut at) = self.start(resume)?;
        match &at {
            Some(p) => self.observer.start(p, true),
            None => self.observer.start(&Position::zero(run.out.clone()), false),
        }
        let start_task = at.as_ref().map_or(0, |p| p.task);
        for t in start_task..self.stream.tasks.len() {
            // A position inside this task (not at its start) continues it as it was.
            let inside = at.take().filter(|p| p.order.is_some());
            let mut stage = self.begin_task(&mut run, t, inside);
            for epoch in stage.start_epoch..self.cfg.epochs {
                self.epoch(&mut run, &mut stage, epoch)?;
            }
            self.end_task(&mut run, stage)?;
        }
        Ok((
            run.model.expect("the network is back after every step"),
            run.out,
        ))
    }

    /// Every task must have training and evaluation examples.
    fn check_tasks(&self) -> Result<(), TrainError> {
        for (t, task) in self.stream.tasks.iter().enumerate() {
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
        Ok(())
    }

    /// A fresh start (network, regulariser, the untrained model's accuracy) or the state of a
    /// checkpoint.
    fn start(
        &mut self,
        resume: Option<Resumed<B, M>>,
    ) -> Result<(Run<B, M>, Option<Position>), TrainError> {
        let n_tasks = self.stream.tasks.len();
        match resume {
            Some(r) => {
                if r.position.task > n_tasks {
                    return Err(CheckpointError::PastEnd {
                        task: r.position.task + 1,
                        tasks: n_tasks,
                    }
                    .into());
                }
                if let Some(reg) = self.regularizer.as_deref_mut() {
                    let st = r
                        .regularizer
                        .as_ref()
                        .ok_or(CheckpointError::NoRegularizerState)?;
                    reg.load_state(&r.model, st)
                        .map_err(CheckpointError::Regularizer)?;
                }
                let mut exec = step::for_run(self.cfg, self.regularizer.as_deref_mut());
                exec.load(r.optim);
                let run = Run {
                    model: Some(r.model),
                    exec,
                    rng: r.rng,
                    out: r.position.outcome.clone(),
                };
                Ok((run, Some(r.position)))
            }
            None => {
                let model = (self.init)();
                if let Some(r) = self.regularizer.as_deref_mut() {
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
                out.initial_accuracy = self.evaluate(&model, None);
                out.eval_seconds += t_eval.elapsed().as_secs_f64();
                let exec = step::for_run(self.cfg, self.regularizer.as_deref_mut());
                let rng = ChaCha8Rng::seed_from_u64(self.cfg.seed);
                Ok((
                    Run {
                        model: Some(model),
                        exec,
                        rng,
                        out,
                    },
                    None,
                ))
            }
        }
    }

    /// Sets task `t` up: a fresh network for scratch, a fresh optimizer where asked, and the
    /// examples of the stage (the union of the tasks so far for joint), or the saved stage.
    fn begin_task(&mut self, run: &mut Run<B, M>, t: usize, inside: Option<Position>) -> Stage {
        if inside.is_none() && t > 0 && self.mode == Mode::Scratch {
            B::seed(self.device, self.cfg.seed ^ t as u64);
            let model = (self.init)();
            // burn initialises parameters lazily: draw them now, from this seed.
            crate::regularizer::param_paths::<B, M>(&model);
            run.exec.reset();
            if let Some(r) = self.regularizer.as_deref_mut() {
                r.init(&model);
            }
            run.model = Some(model);
        } else if inside.is_none() && t > 0 && self.cfg.reset_optimizer {
            run.exec.reset();
        }
        let stage = match inside {
            Some(p) => Stage {
                t,
                start_epoch: p.epoch,
                start_step: p.step,
                start_loss: p.loss_sum,
                losses: p.task_losses,
                order: p.order.expect("filtered on order"),
            },
            None => Stage {
                t,
                start_epoch: 0,
                start_step: 0,
                start_loss: 0.0,
                losses: Vec::new(),
                order: match self.mode {
                    Mode::Joint => (0..=t)
                        .flat_map(|k| self.stream.tasks[k].train.iter().map(move |&i| (k, i)))
                        .collect(),
                    _ => self.stream.tasks[t].train.iter().map(|&i| (t, i)).collect(),
                },
            },
        };
        let steps = stage.order.len().div_ceil(self.cfg.batch_size);
        let task = &self.stream.tasks[t];
        self.observer
            .task_start(t, &task.name, steps, self.cfg.epochs);
        stage
    }

    /// One epoch of task `stage.t`: shuffle (unless resuming inside it), step through the
    /// minibatches, report, and checkpoint on the sink's schedule.
    fn epoch(
        &mut self,
        run: &mut Run<B, M>,
        stage: &mut Stage,
        epoch: usize,
    ) -> Result<(), TrainError> {
        let (t, cfg) = (stage.t, self.cfg);
        let steps = stage.order.len().div_ceil(cfg.batch_size);
        let t0 = Instant::now();
        let (skip, mut loss_sum) = if epoch == stage.start_epoch && stage.start_step > 0 {
            (stage.start_step, stage.start_loss)
        } else {
            stage.order.shuffle(&mut run.rng);
            (0, 0.0)
        };
        let batches = Batches::new(self.stream, self.mode, t, self.device);
        let sample_every = self.observer.sample_every().filter(|&n| n > 0);
        for step in skip..steps {
            let end = ((step + 1) * cfg.batch_size).min(stage.order.len());
            let pairs = &stage.order[step * cfg.batch_size..end];
            B::seed(self.device, step_seed(cfg.seed, t, epoch, step));
            let model = run
                .model
                .take()
                .expect("the network is back after every step");
            let (x, y, mask) = batches.get(pairs);
            let loss = training_loss(model.logits(x), y, mask.as_ref(), cfg.prob_clip);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let loss: f64 = loss.into_scalar().elem();
            if !loss.is_finite() {
                return Err(TrainError::NonFiniteLoss {
                    task: t + 1,
                    epoch: epoch + 1,
                    step: step + 1,
                });
            }
            let model = run
                .exec
                .step(model, grads, self.regularizer.as_deref_mut())
                .map_err(|e| TrainError::NonFiniteGradient {
                    param: e.param,
                    task: t + 1,
                    epoch: epoch + 1,
                    step: step + 1,
                })?;
            run.model = Some(model);
            loss_sum += loss;
            run.out.steps += 1;
            if sample_every.is_some_and(|n| run.out.steps.is_multiple_of(n)) {
                let penalty = self.regularizer.as_deref().map(|r| r.penalty(run.model()));
                self.observer.sample(&StepSample {
                    step: run.out.steps,
                    loss,
                    penalty,
                });
            }
            if !self.observer.step(loss) {
                run.out.train_seconds += t0.elapsed().as_secs_f64();
                let position = Position {
                    task: t,
                    epoch,
                    step: step + 1,
                    order: Some(stage.order.clone()),
                    loss_sum,
                    task_losses: stage.losses.clone(),
                    outcome: run.out.clone(),
                };
                self.save(run, &position, SaveReason::Interrupt)?;
                return Err(TrainError::Interrupted);
            }
        }
        let secs = t0.elapsed().as_secs_f64();
        run.out.train_seconds += secs;
        let penalty = self.penalty(run.model());
        let loss = loss_sum / steps.max(1) as f64;
        stage.losses.push(loss);
        self.observer.epoch_end(&EpochReport {
            task: t,
            tasks: self.stream.tasks.len(),
            epoch,
            epochs: cfg.epochs,
            loss,
            penalty,
            steps_per_second: (steps - skip) as f64 / secs.max(1e-9),
        });
        let every = self.sink.as_deref().and_then(|s| s.every_epochs());
        if let Some(n) = every.filter(|&n| n > 0) {
            if (epoch + 1).is_multiple_of(n) && epoch + 1 < cfg.epochs {
                let position = Position {
                    task: t,
                    epoch: epoch + 1,
                    step: 0,
                    order: Some(stage.order.clone()),
                    loss_sum: 0.0,
                    task_losses: stage.losses.clone(),
                    outcome: run.out.clone(),
                };
                if !self.save(run, &position, SaveReason::Epoch)? {
                    return Err(TrainError::Interrupted);
                }
            }
        }
        Ok(())
    }

    /// Closes task `stage.t`: the penalty, the method's importance on the task's examples, a
    /// row of the accuracy matrix, and a checkpoint.
    fn end_task(&mut self, run: &mut Run<B, M>, stage: Stage) -> Result<(), TrainError> {
        let t = stage.t;
        let penalty = self.penalty(run.model());
        run.out.final_penalty.push(penalty);
        if self.regularizer.is_some() || !self.hooks.is_empty() {
            let t0 = Instant::now();
            let wanted = self
                .hooks
                .iter()
                .map(|h| h.samples_wanted())
                .chain(self.regularizer.as_deref().map(|r| r.samples_wanted()))
                .max()
                .unwrap_or(0);
            let samples = task_samples::<B>(self.stream, t, wanted, self.cfg.seed, self.device);
            if !samples.idx.is_empty() {
                self.observer.importance_start(t, samples.idx.len());
            }
            let model = run.model();
            for h in self.hooks.iter_mut() {
                h.before_end_task(model, t, self.regularizer.as_deref().map(|r| r as _));
            }
            if let Some(r) = self.regularizer.as_deref_mut() {
                r.end_task(model, t, &samples)?;
            }
            for h in self.hooks.iter_mut() {
                h.after_end_task(
                    model,
                    t,
                    &samples,
                    self.regularizer.as_deref().map(|r| r as _),
                )
                .map_err(TrainError::Hook)?;
            }
            // Measuring importance (EWC's Fisher, MAS) is part of the method's training cost.
            run.out.train_seconds += t0.elapsed().as_secs_f64();
        }
        run.out.epoch_loss.push(stage.losses);
        let t_eval = Instant::now();
        let mut row = self.evaluate(run.model(), Some(t));
        run.out.eval_seconds += t_eval.elapsed().as_secs_f64();
        if self.mode == Mode::Scratch {
            // Each earlier task keeps its own network.
            for (j, r) in row.iter_mut().enumerate().take(t) {
                *r = run.out.accuracy_matrix[j][j];
            }
        }
        self.observer.task_end(t, &row);
        run.out.accuracy_matrix.push(row);
        let position = Position {
            task: t + 1,
            epoch: 0,
            step: 0,
            order: None,
            loss_sum: 0.0,
            task_losses: Vec::new(),
            outcome: run.out.clone(),
        };
        let go = self.save(run, &position, SaveReason::Task)?;
        // After the last task there is nothing left to interrupt: the run finishes.
        if !go && t + 1 < self.stream.tasks.len() {
            return Err(TrainError::Interrupted);
        }
        Ok(())
    }

    fn penalty(&self, model: &M) -> f64 {
        self.regularizer
            .as_deref()
            .map_or(0.0, |r| r.penalty(model))
    }

    fn evaluate(&self, model: &M, after: Option<usize>) -> Vec<f64> {
        evaluate_all(
            model,
            self.stream,
            after,
            self.cfg.eval_batch_size,
            self.device,
        )
    }

    /// Hands the state at `position` to the sink (if any); `Ok(false)` means stop.
    fn save(
        &mut self,
        run: &Run<B, M>,
        position: &Position,
        reason: SaveReason,
    ) -> Result<bool, TrainError> {
        let Some(sink) = self.sink.as_deref_mut() else {
            return Ok(true);
        };
        let state = TrainState {
            model: run.model(),
            optim: run.exec.record(),
            regularizer: self.regularizer.as_deref().map(|r| r.state()),
            rng: &run.rng,
            position,
        };
        Ok(sink.save(state, reason)?)
    }
}

impl<B: AutodiffBackend, M: TrainModel<B>> Run<B, M> {
    fn model(&self) -> &M {
        self.model
            .as_ref()
            .expect("the network is back after every step")
    }
}

/// Builds the minibatches of one task's stage: its own head, or for joint training after the
/// first task each example under its own task's head.
struct Batches<'a, B: AutodiffBackend> {
    stream: &'a TaskStream,
    t: usize,
    mixed: bool,
    mask: Option<Tensor<B, 2>>,
    heads: Vec<Option<Vec<usize>>>,
    device: &'a B::Device,
}

impl<'a, B: AutodiffBackend> Batches<'a, B> {
    fn new(stream: &'a TaskStream, mode: Mode, t: usize, device: &'a B::Device) -> Self {
        Batches {
            stream,
            t,
            mixed: mode == Mode::Joint && t > 0,
            mask: output_mask::<B>(stream.outputs, stream.train_outputs(t).as_deref(), device),
            heads: (0..=t).map(|k| stream.joint_outputs(t, k)).collect(),
            device,
        }
    }

    /// Inputs, targets and the additive output mask of the examples `pairs`.
    fn get(
        &self,
        pairs: &[(usize, u32)],
    ) -> (Tensor<B, 2>, Tensor<B, 1, Int>, Option<Tensor<B, 2>>) {
        if self.mixed {
            let (x, y) = self.stream.mixed_train_batch::<B>(pairs, self.device);
            let rows: Vec<_> = pairs.iter().map(|&(k, _)| self.heads[k].clone()).collect();
            let mask = row_masks::<B>(self.stream.outputs, &rows, self.device);
            (x, y, mask.or_else(|| self.mask.clone()))
        } else {
            let idx: Vec<u32> = pairs.iter().map(|&(_, i)| i).collect();
            let (x, y) = self.stream.train_batch::<B>(self.t, &idx, self.device);
            (x, y, self.mask.clone())
        }
    }
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

#[cfg(test)]
mod tests;
