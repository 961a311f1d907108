//! Task streams: which examples, labels and output units each task of a benchmark uses.
//!
//! A [`TaskStream`] is independent of any model: it owns the dataset and, per task, the example
//! indices, the label-to-output map, the output units that belong to the task and an optional
//! pixel permutation or its own rotated copies of its images. The trainer turns it into
//! minibatches one at a time, so images stay u8. A [`Protocol`] says, before any data is read,
//! which classes and which input transform each task of a benchmark has ([`split`]: class
//! orders and tasks of K classes; [`rotate`]: angles and the rotation itself).

pub mod rotate;
pub mod split;

use crate::names::UnknownName;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use rotate::{Angles, Rotation};
pub use split::{ClassOrder, SplitError};

// Re-exported: scenarios name the data they read, the data module owns what it can read.
pub use crate::data::DataKind;
use crate::data::{Dataset, ImageSet};

/// Which continual-learning scenario a stream follows (van de Ven & Tolias 2019).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum Scenario {
    /// Multi-head: only the current task's output units compete (masking), in training and test.
    Task,
    /// One shared head over task-local labels.
    Domain,
    /// One head over all classes seen so far.
    Class,
}

impl std::str::FromStr for Scenario {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "task" => Ok(Self::Task),
            "domain" => Ok(Self::Domain),
            "class" => Ok(Self::Class),
            _ => Err(UnknownName::new(
                "scenario",
                s,
                &["task", "domain", "class"],
            )),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for Scenario {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Task => "task",
            Self::Domain => "domain",
            Self::Class => "class",
        })
    }
}

/// The built-in benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[serde(try_from = "String")]
pub enum Benchmark {
    /// Five two-digit tasks {0,1},{2,3},..,{8,9}.
    SplitMnist,
    /// Ten tasks; task 1 unpermuted, each later task a fixed pixel permutation.
    PermutedMnist,
    /// Split MNIST's protocol on Fashion-MNIST.
    SplitFashionMnist,
    /// Permuted MNIST's protocol on Fashion-MNIST.
    PermutedFashionMnist,
    /// Five two-class tasks of CIFAR-10, with the paper's CNN.
    SplitCifar10,
    /// The paper's split CIFAR-10/100: all of CIFAR-10, then CIFAR-100 classes 0-9, .., 40-49.
    SplitCifar,
    /// Ten tasks of all ten digits, task t rotated by a fixed angle (t·18° by default).
    RotatedMnist,
    /// A user's own data (an image folder or NumPy arrays): tasks of its classes (two each by
    /// default), or with `transform = rotate` rotated tasks of all of them.
    User,
}

/// What a user's data tasks do to their inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum Transform {
    /// Nothing: tasks are classes (a split).
    #[default]
    None,
    /// Every task holds every class, rotated by its own angle.
    Rotate,
}

impl Transform {
    /// Whether this is the default (left out of stored configs).
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }
}

impl std::str::FromStr for Transform {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "none" => Ok(Self::None),
            "rotate" => Ok(Self::Rotate),
            _ => Err(UnknownName::new("transform", s, &["none", "rotate"])),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for Transform {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

/// The network a benchmark trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum ModelKind {
    /// A ReLU MLP on flat pixels.
    Mlp,
    /// The paper's CIFAR CNN.
    Cnn,
}

impl std::str::FromStr for ModelKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "mlp" => Ok(Self::Mlp),
            "cnn" => Ok(Self::Cnn),
            _ => Err(UnknownName::new("model", s, &["mlp", "cnn"])),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for ModelKind {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Mlp => "mlp",
            Self::Cnn => "cnn",
        })
    }
}

/// What a dataset's images and labels look like: known for the published datasets before they
/// load, read off a loaded one otherwise. Networks and memory estimates are sized from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataShape {
    /// Colour channels (1 grey, 3 RGB), stored channel-major.
    pub channels: usize,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Labels (the size of a label map): classes 0..labels.
    pub labels: usize,
    /// Training examples.
    pub train: usize,
    /// Test examples.
    pub test: usize,
}

impl DataShape {
    /// The published size of a built-in dataset; `None` for a user's data, whose shape is
    /// known once read (and then recorded in the run's config).
    pub fn of(kind: DataKind) -> Option<Self> {
        let (channels, side, labels, train, test) = match kind {
            DataKind::Mnist | DataKind::FashionMnist => (1, 28, 10, 60_000, 10_000),
            DataKind::Cifar10 => (3, 32, 10, 50_000, 10_000),
            // CIFAR-100's fine labels follow CIFAR-10's as 10..110.
            DataKind::Cifar10And100 => (3, 32, 110, 100_000, 20_000),
            DataKind::User => return None,
        };
        Some(DataShape {
            channels,
            rows: side,
            cols: side,
            labels,
            train,
            test,
        })
    }

    /// The shape of a loaded dataset with `labels` labels.
    pub fn of_set(d: &Dataset, labels: usize) -> Self {
        let s = &d.train;
        DataShape {
            channels: s.pixels_per_image / (s.rows * s.cols).max(1),
            rows: s.rows,
            cols: s.cols,
            labels,
            train: d.train.len(),
            test: d.test.len(),
        }
    }

    /// Values per image: channels × rows × cols.
    pub fn pixels(&self) -> usize {
        self.channels * self.rows * self.cols
    }
}

impl std::str::FromStr for Benchmark {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        Benchmark::ALL
            .iter()
            .copied()
            .find(|b| b.name() == s)
            .ok_or_else(|| {
                let names: Vec<&'static str> = Benchmark::ALL.iter().map(|b| b.name()).collect();
                UnknownName::new("benchmark", s, &names)
            })
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for Benchmark {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

impl Benchmark {
    /// Every benchmark.
    pub const ALL: [Benchmark; 8] = [
        Self::SplitMnist,
        Self::PermutedMnist,
        Self::SplitFashionMnist,
        Self::PermutedFashionMnist,
        Self::SplitCifar10,
        Self::SplitCifar,
        Self::RotatedMnist,
        Self::User,
    ];

    /// Name as used on the command line and in result files.
    pub fn name(self) -> &'static str {
        match self {
            Self::SplitMnist => "split-mnist",
            Self::PermutedMnist => "permuted-mnist",
            Self::SplitFashionMnist => "split-fashion-mnist",
            Self::PermutedFashionMnist => "permuted-fashion-mnist",
            Self::SplitCifar10 => "split-cifar10",
            Self::SplitCifar => "split-cifar",
            Self::RotatedMnist => "rotated-mnist",
            Self::User => "user",
        }
    }

    /// Whether tasks are pixel permutations of one 10-class problem.
    pub fn permuted(self) -> bool {
        matches!(self, Self::PermutedMnist | Self::PermutedFashionMnist)
    }

    /// Whether tasks are rotations of one 10-class problem.
    pub fn rotated(self) -> bool {
        self == Self::RotatedMnist
    }

    /// Whether every task holds every class and tasks differ by an input transform (a pixel
    /// permutation or a rotation): the domain-incremental benchmarks, which share a protocol.
    pub fn transformed(self) -> bool {
        self.permuted() || self.rotated()
    }

    /// Whether tasks are classes cut from one dataset in a class order (`class_order` and
    /// `classes_per_task` apply); a user's data is split unless rotated.
    pub fn split(self) -> bool {
        matches!(
            self,
            Self::SplitMnist | Self::SplitFashionMnist | Self::SplitCifar10
        )
    }

    /// The data the benchmark reads.
    pub fn data(self) -> DataKind {
        match self {
            Self::SplitMnist | Self::PermutedMnist | Self::RotatedMnist => DataKind::Mnist,
            Self::SplitFashionMnist | Self::PermutedFashionMnist => DataKind::FashionMnist,
            Self::SplitCifar10 => DataKind::Cifar10,
            Self::SplitCifar => DataKind::Cifar10And100,
            Self::User => DataKind::User,
        }
    }

    /// The network the benchmark trains.
    pub fn model(self) -> ModelKind {
        match self.data() {
            DataKind::Cifar10 | DataKind::Cifar10And100 => ModelKind::Cnn,
            _ => ModelKind::Mlp,
        }
    }

    /// Number of tasks of the full protocol.
    pub fn full_tasks(self) -> usize {
        match self {
            Self::PermutedMnist | Self::PermutedFashionMnist | Self::RotatedMnist => 10,
            Self::SplitCifar => 6,
            _ => 5,
        }
    }

    /// Classes per task of the published protocol (split benchmarks).
    pub fn classes_per_task(self) -> usize {
        match self {
            Self::SplitCifar => 10,
            _ => 2,
        }
    }

    /// The scenario of the paper's protocol.
    pub fn default_scenario(self) -> Scenario {
        if self.transformed() {
            Scenario::Domain
        } else {
            Scenario::Task
        }
    }
}

/// How a run asks for its tasks to be made: the settings a [`Protocol`] resolves.
#[derive(Debug, Clone, Default)]
pub struct TaskSettings {
    /// Order in which a split benchmark hands its classes to tasks.
    pub class_order: ClassOrder,
    /// Classes per task of a split benchmark (unset: the benchmark's own).
    pub classes_per_task: Option<usize>,
    /// Angles of a rotated benchmark's tasks.
    pub angles: Angles,
    /// What a user's data tasks do to their inputs.
    pub transform: Transform,
    /// Names of the classes (label order) for task names; empty: the label numbers.
    pub class_names: Vec<String>,
}

/// What a task does to its inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputTransform {
    /// Nothing.
    None,
    /// A fixed pixel permutation, drawn from the seed when the stream is built.
    Permute,
    /// A rotation by this many degrees, counter-clockwise.
    Rotate(f64),
}

/// One task of a protocol: its name, classes and input transform.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPlan {
    /// Human-readable name, e.g. "digits 2,3" or "rotation 36°".
    pub name: String,
    /// Its classes, as dataset labels.
    pub classes: Vec<u8>,
    /// What it does to its inputs.
    pub input: InputTransform,
}

/// A benchmark's tasks as a run's settings resolve them, known before any data is read: which
/// classes and which input transform each task of the full protocol has.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    /// Every task of the full protocol, in training order.
    pub tasks: Vec<TaskPlan>,
    /// Labels of the dataset (the size of a label map).
    pub labels: usize,
    /// A split benchmark's class order, resolved (`None` for the others).
    pub class_order: Option<Vec<usize>>,
    /// Whether every task holds every class (permuted, rotated): the head of the task and
    /// class scenarios then grows with the tasks run rather than covering the full protocol.
    shared_classes: bool,
}

/// Which classes (and angles) the tasks of a run have, as resolved: recorded in `result.json`
/// and `run-config.json` (absent from files written before they were recorded).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskLayout {
    /// A split benchmark's class order: label order, the one given, or the one drawn from the seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_order: Option<Vec<usize>>,
    /// Each task's classes (dataset labels), in training order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_classes: Vec<Vec<usize>>,
    /// Each task's rotation in degrees, counter-clockwise (rotated benchmarks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_angles: Option<Vec<f64>>,
}

/// Settings a benchmark cannot follow.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// A class order that is no permutation, or a task size out of range.
    #[error(transparent)]
    Split(#[from] SplitError),
    /// A setting of split benchmarks given to another.
    #[error("{key} has no effect on {benchmark}: {why}; drop it")]
    NoEffect {
        /// The setting.
        key: &'static str,
        /// The benchmark's name.
        benchmark: &'static str,
        /// Why.
        why: &'static str,
    },
    /// Bad angles.
    #[error("{0}")]
    Angles(String),
}

impl Protocol {
    /// `benchmark`'s tasks with `settings`, on data of `shape`; random orders and angles are
    /// drawn from `seed`, each from its own generator.
    pub fn new(
        benchmark: Benchmark,
        settings: &TaskSettings,
        shape: &DataShape,
        seed: u64,
    ) -> Result<Self, ProtocolError> {
        let no_effect = |key, why| ProtocolError::NoEffect {
            key,
            benchmark: benchmark.name(),
            why,
        };
        let user = benchmark == Benchmark::User;
        if !user && !settings.transform.is_none() {
            return Err(no_effect(
                "transform",
                "it is for your own data (rotated-mnist rotates MNIST)",
            ));
        }
        let rotated = benchmark.rotated() || (user && settings.transform == Transform::Rotate);
        let split = benchmark.split() || (user && !rotated);
        let split_keys = !settings.class_order.is_labels() || settings.classes_per_task.is_some();
        if !split && split_keys {
            let key = if settings.class_order.is_labels() {
                "classes_per_task"
            } else {
                "class_order"
            };
            return Err(no_effect(
                key,
                if benchmark == Benchmark::SplitCifar {
                    "its tasks are the paper's fixed CIFAR-10 task then five CIFAR-100 tasks (use split-cifar10 for other orders and sizes)"
                } else {
                    "every task holds every class"
                },
            ));
        }
        if !rotated && !settings.angles.is_evenly() {
            return Err(no_effect("angles", "its tasks are not rotations"));
        }
        settings.angles.check().map_err(ProtocolError::Angles)?;
        let all: Vec<u8> = (0..shape.labels.min(256)).map(|c| c as u8).collect();
        let plan = |name: String, classes: Vec<u8>, input| TaskPlan {
            name,
            classes,
            input,
        };
        let mut class_order = None;
        let tasks = if benchmark.permuted() {
            (0..benchmark.full_tasks())
                .map(|t| match t {
                    0 => plan("unpermuted".into(), all.clone(), InputTransform::None),
                    t => plan(
                        format!("permutation {t}"),
                        all.clone(),
                        InputTransform::Permute,
                    ),
                })
                .collect()
        } else if rotated {
            let n = settings.angles.tasks(Benchmark::RotatedMnist.full_tasks());
            (settings.angles.resolve(n, seed).into_iter())
                .map(|a| {
                    let name = format!("rotation {}", rotate::degrees(a));
                    plan(name, all.clone(), InputTransform::Rotate(a))
                })
                .collect()
        } else if split {
            let order = settings.class_order.resolve(all.len(), seed)?;
            let per_task = settings
                .classes_per_task
                .unwrap_or(benchmark.classes_per_task());
            let groups = split::cut(&order, per_task)?;
            class_order = Some(order);
            let what = if benchmark == Benchmark::SplitMnist {
                "digits"
            } else {
                "classes"
            };
            let name = |c: usize| match settings.class_names.get(c) {
                Some(n) => n.clone(),
                None => c.to_string(),
            };
            groups
                .into_iter()
                .map(|g| {
                    let names: Vec<String> = g.iter().map(|&c| name(c)).collect();
                    let classes = g.iter().map(|&c| c as u8).collect();
                    plan(
                        format!("{what} {}", names.join(",")),
                        classes,
                        InputTransform::None,
                    )
                })
                .collect()
        } else {
            // Split CIFAR-10/100: the paper's fixed tasks.
            (0..benchmark.full_tasks())
                .map(|t| match t {
                    0 => plan("CIFAR-10".into(), (0..10).collect(), InputTransform::None),
                    t => plan(
                        format!("CIFAR-100 classes {}-{}", 10 * (t - 1), 10 * t - 1),
                        (0..10).map(|k| (10 * t + k) as u8).collect(),
                        InputTransform::None,
                    ),
                })
                .collect()
        };
        Ok(Protocol {
            tasks,
            labels: shape.labels,
            class_order,
            shared_classes: benchmark.permuted() || rotated,
        })
    }

    /// A benchmark's published protocol (label order, its own task size) on data of `shape`.
    pub fn of(benchmark: Benchmark, shape: &DataShape) -> Self {
        Self::new(benchmark, &TaskSettings::default(), shape, 0)
            .expect("a benchmark's published protocol resolves")
    }

    /// Tasks of the full protocol.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether the protocol has no task (never: every protocol has at least one).
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Output units of the model when `run` tasks run in `scenario`: in the domain scenario the
    /// most classes a task has (tasks share task-local units), otherwise every class of the
    /// tasks the head is sized for: the full protocol for split benchmarks (the paper's head
    /// stays when fewer tasks run), the tasks run when every task holds every class.
    pub fn outputs(&self, scenario: Scenario, run: usize) -> usize {
        let head = if self.shared_classes {
            run.min(self.len())
        } else {
            self.len()
        };
        match scenario {
            Scenario::Domain => self
                .tasks
                .iter()
                .map(|t| t.classes.len())
                .max()
                .unwrap_or(0),
            _ => self.tasks[..head].iter().map(|t| t.classes.len()).sum(),
        }
    }

    /// Classes of each task, as lists (for result files).
    pub fn task_classes(&self, run: usize) -> Vec<Vec<usize>> {
        (self.tasks.iter().take(run))
            .map(|t| t.classes.iter().map(|&c| c as usize).collect())
            .collect()
    }

    /// What result files record of the first `run` tasks: the class order, each task's
    /// classes and, for rotations, each task's angle.
    pub fn layout(&self, run: usize) -> TaskLayout {
        let angles: Vec<f64> = (self.tasks.iter().take(run))
            .filter_map(|t| match t.input {
                InputTransform::Rotate(a) => Some(a),
                _ => None,
            })
            .collect();
        TaskLayout {
            class_order: self.class_order.clone(),
            task_classes: self.task_classes(run),
            task_angles: (!angles.is_empty()).then_some(angles),
        }
    }

    /// A line on how the classes were cut when that is not the published split, e.g.
    /// `class order 2,3,0,1,…; 3 classes per task, the last task 1`; `None` otherwise.
    pub fn split_note(&self, run: usize) -> Option<String> {
        let order = self.class_order.as_ref()?;
        let sizes: Vec<usize> = self
            .tasks
            .iter()
            .take(run)
            .map(|t| t.classes.len())
            .collect();
        let (first, last) = (*sizes.first()?, *sizes.last()?);
        let labels = order.iter().enumerate().all(|(k, &c)| k == c);
        let mut parts = Vec::new();
        if !labels {
            parts.push(format!("class order {}", split::join(order)));
        }
        let per = match first {
            1 => "1 class".to_string(),
            n => format!("{n} classes"),
        };
        if last != first {
            parts.push(format!("{per} per task, the last task {last}"));
        } else if first != 2 {
            parts.push(format!("{per} per task"));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Which split the accuracy matrix is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum EvalOn {
    /// The held-out test set (default).
    #[default]
    Test,
    /// The training examples of each task (the paper's split-MNIST figure).
    Train,
    /// A validation split: 10% of each task's training examples, held out of training (for
    /// choosing hyperparameters without touching the test set).
    Validation,
}

impl std::str::FromStr for EvalOn {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "test" => Ok(Self::Test),
            "train" => Ok(Self::Train),
            "validation" => Ok(Self::Validation),
            _ => Err(UnknownName::new(
                "evaluation split",
                s,
                &["test", "train", "validation"],
            )),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for EvalOn {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

/// One task of a stream.
#[derive(Debug, Clone)]
pub struct Task {
    /// Human-readable name, e.g. "digits 2,3".
    pub name: String,
    /// Indices into the dataset's training set.
    pub train: Vec<u32>,
    /// Indices of the examples the task is evaluated on (test set, or training set with `EvalOn::Train`).
    pub eval: Vec<u32>,
    /// Output unit for each dataset label; `None` for labels that are not part of this task.
    pub label_map: Vec<Option<u32>>,
    /// The output units that belong to this task.
    pub outputs: Vec<usize>,
    /// Input pixel `k` of this task is source pixel `permutation[k]`.
    pub permutation: Option<Arc<Vec<u32>>>,
    /// The task's own copies of the images it uses (rotated), made once when the stream is
    /// built; `None`: the dataset's images.
    pub images: Option<Arc<TaskImages>>,
}

/// A task's own copies of the training and evaluation images it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskImages {
    train: Copies,
    eval: Copies,
}

/// Images of some examples of one split, found by their index in the dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Copies {
    /// Dataset indices, ascending.
    index: Vec<u32>,
    /// Their images, in that order.
    pixels: Vec<u8>,
    /// Values per image.
    size: usize,
}

impl Copies {
    /// `f` applied to the images `idx` of `set` (each once), images in parallel: each copy
    /// depends on its own image only, so the result does not depend on the threads.
    fn of(set: &ImageSet, idx: &[u32], f: impl Fn(&[u8], &mut [u8]) + Sync) -> Self {
        use rayon::prelude::*;
        let mut index = idx.to_vec();
        index.sort_unstable();
        index.dedup();
        let size = set.pixels_per_image;
        let mut pixels = vec![0; index.len() * size];
        pixels
            .par_chunks_mut(size.max(1))
            .zip(index.par_iter())
            .for_each(|(out, &i)| f(set.image(i as usize), out));
        Copies {
            index,
            pixels,
            size,
        }
    }

    /// The copy of dataset image `i`.
    fn get(&self, i: u32) -> &[u8] {
        let k = self
            .index
            .binary_search(&i)
            .expect("a task's copies hold every example it lists");
        &self.pixels[k * self.size..(k + 1) * self.size]
    }
}

impl TaskImages {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.train.pixels.len() + self.eval.pixels.len()
    }
}

/// A sequence of tasks over one dataset, with its scenario and output layout.
#[derive(Debug, Clone)]
pub struct TaskStream {
    /// The data every task draws from.
    pub dataset: Arc<Dataset>,
    /// The tasks in training order.
    pub tasks: Vec<Task>,
    /// The scenario, which decides which output units compete.
    pub scenario: Scenario,
    /// Output units of the model.
    pub outputs: usize,
    /// Split used for evaluation.
    pub eval_on: EvalOn,
}

/// Limits for building a stream from a benchmark.
#[derive(Debug, Clone, Copy, Default)]
pub struct StreamOptions {
    /// Keep only the first N tasks (0: all).
    pub tasks: usize,
    /// Keep at most N training examples per task (0: all).
    pub train_limit: usize,
    /// Keep at most N evaluation examples per task (0: all).
    pub eval_limit: usize,
    /// Evaluate on the training or the test set.
    pub eval_on: EvalOn,
}

fn truncate(mut v: Vec<u32>, limit: usize) -> Vec<u32> {
    if limit > 0 && v.len() > limit {
        v.truncate(limit);
    }
    v
}

/// Splits a task's training indices into (training, validation): a tenth (at least one) is
/// held out, chosen by a fixed generator so that every seed and method sees the same split.
fn hold_out(all: Vec<u32>, t: usize) -> (Vec<u32>, Vec<u32>) {
    let k = (all.len() / 10).max(1).min(all.len());
    let mut shuffled = all.clone();
    shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(0x7A11_DA7E ^ t as u64));
    let mut val = shuffled[..k].to_vec();
    val.sort_unstable();
    let train = all
        .into_iter()
        .filter(|i| val.binary_search(i).is_err())
        .collect();
    (train, val)
}

fn indices_of(set: &ImageSet, classes: &[u8]) -> Vec<u32> {
    (0..set.len() as u32)
        .filter(|&i| classes.contains(&set.labels[i as usize]))
        .collect()
}

impl TaskStream {
    /// Builds a benchmark's published stream in a scenario; permutations are drawn from `seed`.
    pub fn benchmark(
        benchmark: Benchmark,
        scenario: Scenario,
        dataset: Arc<Dataset>,
        seed: u64,
        opts: StreamOptions,
    ) -> Self {
        // A user's data has no published shape: the labels the loaded data has.
        let shape = DataShape::of(benchmark.data()).unwrap_or_else(|| {
            let labels = dataset
                .train
                .labels
                .iter()
                .max()
                .map_or(0, |&l| l as usize + 1);
            DataShape::of_set(&dataset, labels)
        });
        Self::new(
            &Protocol::of(benchmark, &shape),
            scenario,
            dataset,
            seed,
            opts,
        )
    }

    /// Builds the stream of `protocol` in a scenario: each task's examples, label map and
    /// output units; permutations drawn from `seed`, rotated images made once per task.
    pub fn new(
        protocol: &Protocol,
        scenario: Scenario,
        dataset: Arc<Dataset>,
        seed: u64,
        opts: StreamOptions,
    ) -> Self {
        let n_tasks = if opts.tasks == 0 {
            protocol.len()
        } else {
            opts.tasks.min(protocol.len())
        };
        let mut tasks = Vec::with_capacity(n_tasks);
        // Permutations come from their own generator so that they do not depend on batch order.
        let mut perm_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_9E37_79B9_7F4A);
        let pixels = dataset.train.pixels_per_image;
        let mut base = 0;
        for (t, plan) in protocol.tasks.iter().take(n_tasks).enumerate() {
            let classes = &plan.classes;
            let (train_all, eval_all) = match opts.eval_on {
                EvalOn::Test => (
                    indices_of(&dataset.train, classes),
                    indices_of(&dataset.test, classes),
                ),
                EvalOn::Train => {
                    // Score the examples actually trained on, not the whole class.
                    let tr = truncate(indices_of(&dataset.train, classes), opts.train_limit);
                    (tr.clone(), tr)
                }
                EvalOn::Validation => hold_out(indices_of(&dataset.train, classes), t),
            };
            let permutation = match plan.input {
                InputTransform::Permute => {
                    let mut p: Vec<u32> = (0..pixels as u32).collect();
                    p.shuffle(&mut perm_rng);
                    Some(Arc::new(p))
                }
                _ => None,
            };
            // Task- and class-incremental streams give every task its own output units; the
            // domain scenario maps every task onto the same task-local units.
            let first = if scenario == Scenario::Domain {
                0
            } else {
                base
            };
            let mut label_map = vec![None; protocol.labels];
            for (k, &c) in classes.iter().enumerate() {
                label_map[c as usize] = Some((first + k) as u32);
            }
            let train = truncate(train_all, opts.train_limit);
            let eval = truncate(eval_all, opts.eval_limit);
            let images = match plan.input {
                // A whole turn is the identity: no copies.
                InputTransform::Rotate(a) if a.rem_euclid(360.0) != 0.0 => {
                    let set = &dataset.train;
                    let r = Rotation::new(set.rows, set.cols, a);
                    let eval_set = match opts.eval_on {
                        EvalOn::Test => &dataset.test,
                        EvalOn::Train | EvalOn::Validation => &dataset.train,
                    };
                    Some(Arc::new(TaskImages {
                        train: Copies::of(set, &train, |i, o| r.apply_into(i, o)),
                        eval: Copies::of(eval_set, &eval, |i, o| r.apply_into(i, o)),
                    }))
                }
                _ => None,
            };
            tasks.push(Task {
                name: plan.name.clone(),
                train,
                eval,
                label_map,
                outputs: (first..first + classes.len()).collect(),
                permutation,
                images,
            });
            base += classes.len();
        }
        // The head covers at least the tasks run, so it holds every unit given out above.
        let outputs = protocol.outputs(scenario, n_tasks);
        debug_assert!(scenario == Scenario::Domain || outputs >= base);
        TaskStream {
            dataset,
            tasks,
            scenario,
            outputs,
            eval_on: opts.eval_on,
        }
    }

    /// Number of input features.
    pub fn inputs(&self) -> usize {
        self.dataset.train.pixels_per_image
    }

    /// Output units that compete while training on task `t`; `None` means all of them.
    pub fn train_outputs(&self, t: usize) -> Option<Vec<usize>> {
        match self.scenario {
            Scenario::Task => Some(self.tasks[t].outputs.clone()),
            Scenario::Domain => None,
            Scenario::Class => Some(self.outputs_up_to(t)),
        }
    }

    /// Output units that compete when task `j` is evaluated after training on task `i`.
    pub fn eval_outputs(&self, i: usize, j: usize) -> Option<Vec<usize>> {
        match self.scenario {
            Scenario::Task => Some(self.tasks[j].outputs.clone()),
            Scenario::Domain => None,
            Scenario::Class => Some(self.outputs_up_to(i.max(j))),
        }
    }

    fn outputs_up_to(&self, t: usize) -> Vec<usize> {
        self.tasks[..=t]
            .iter()
            .flat_map(|k| k.outputs.iter().copied())
            .collect()
    }

    fn eval_set(&self) -> &ImageSet {
        match self.eval_on {
            EvalOn::Test => &self.dataset.test,
            EvalOn::Train | EvalOn::Validation => &self.dataset.train,
        }
    }

    /// A minibatch of task `t`'s training examples `idx`, as pixels in `[0, 1]` and output targets.
    pub fn train_batch<B: Backend>(
        &self,
        t: usize,
        idx: &[u32],
        device: &B::Device,
    ) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        make_batch(
            &self.dataset.train,
            &self.tasks[t],
            Split::Train,
            idx,
            device,
        )
    }

    /// A minibatch of task `t`'s evaluation examples `idx`.
    pub fn eval_batch<B: Backend>(
        &self,
        t: usize,
        idx: &[u32],
        device: &B::Device,
    ) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        make_batch(self.eval_set(), &self.tasks[t], Split::Eval, idx, device)
    }

    /// A minibatch mixing training examples of several tasks: `(task, index)` pairs, each
    /// example converted with its own task's permutation and label map (joint training).
    pub fn mixed_train_batch<B: Backend>(
        &self,
        pairs: &[(usize, u32)],
        device: &B::Device,
    ) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        let set = &self.dataset.train;
        let p = set.pixels_per_image;
        let mut x = Vec::with_capacity(pairs.len() * p);
        let mut y = Vec::with_capacity(pairs.len());
        for &(t, i) in pairs {
            push_example(set, &self.tasks[t], Split::Train, i, &mut x, &mut y);
        }
        let n = pairs.len();
        (
            Tensor::from_data(TensorData::new(x, [n, p]), device),
            Tensor::from_data(TensorData::new(y, [n]), device),
        )
    }

    /// Output units that compete for an example of task `k` while training jointly on tasks
    /// `0..=t`: task `k`'s own head in the task scenario, the current set otherwise.
    pub fn joint_outputs(&self, t: usize, k: usize) -> Option<Vec<usize>> {
        match self.scenario {
            Scenario::Task => Some(self.tasks[k].outputs.clone()),
            _ => self.train_outputs(t),
        }
    }
}

/// Which of a task's example lists an index belongs to.
#[derive(Debug, Clone, Copy)]
enum Split {
    Train,
    Eval,
}

/// Converts the u8 images of one minibatch to f32 (÷255), applying the task's permutation.
fn make_batch<B: Backend>(
    set: &ImageSet,
    task: &Task,
    split: Split,
    idx: &[u32],
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
    let p = set.pixels_per_image;
    let mut x = Vec::with_capacity(idx.len() * p);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        push_example(set, task, split, i, &mut x, &mut y);
    }
    let n = idx.len();
    (
        Tensor::from_data(TensorData::new(x, [n, p]), device),
        Tensor::from_data(TensorData::new(y, [n]), device),
    )
}

fn push_example(
    set: &ImageSet,
    task: &Task,
    split: Split,
    i: u32,
    x: &mut Vec<f32>,
    y: &mut Vec<i64>,
) {
    const SCALE: f32 = 1.0 / 255.0;
    let img = match (&task.images, split) {
        (Some(c), Split::Train) => c.train.get(i),
        (Some(c), Split::Eval) => c.eval.get(i),
        (None, _) => set.image(i as usize),
    };
    match &task.permutation {
        Some(perm) => x.extend(perm.iter().map(|&k| img[k as usize] as f32 * SCALE)),
        None => x.extend(img.iter().map(|&v| v as f32 * SCALE)),
    }
    let label = set.labels[i as usize] as usize;
    let target = task.label_map[label].expect("task index lists only the task's labels");
    y.push(target as i64);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::backend::Cpu;

    /// A tiny dataset: 2x2 images whose pixels encode the example index, labels cycling 0..9.
    pub(crate) fn toy_dataset(n_train: usize, n_test: usize) -> Arc<Dataset> {
        let set = |n: usize| ImageSet {
            images: (0..n * 4).map(|v| (v % 251) as u8).collect(),
            labels: (0..n).map(|i| (i % 10) as u8).collect(),
            n,
            pixels_per_image: 4,
            rows: 2,
            cols: 2,
        };
        Arc::new(Dataset {
            train: set(n_train),
            test: set(n_test),
            dir: "toy".into(),
        })
    }

    #[test]
    fn validation_split_is_held_out_of_training_and_fixed() {
        let mk = |seed| {
            TaskStream::benchmark(
                Benchmark::SplitMnist,
                Scenario::Task,
                toy_dataset(200, 50),
                seed,
                StreamOptions {
                    eval_on: EvalOn::Validation,
                    ..Default::default()
                },
            )
        };
        let (a, b) = (mk(0), mk(7));
        for (ta, tb) in a.tasks.iter().zip(&b.tasks) {
            assert_eq!(ta.eval.len(), 4);
            assert_eq!(ta.train.len(), 36);
            assert!(ta.eval.iter().all(|i| !ta.train.contains(i)));
            // The same split for every seed, so a sweep compares like with like.
            assert_eq!(ta.eval, tb.eval);
        }
        // Validation examples are training-set images.
        let (x, _) = a.eval_batch::<Cpu>(0, &a.tasks[0].eval[..1], &Default::default());
        let i = a.tasks[0].eval[0] as usize;
        let v: Vec<f32> = x.into_data().to_vec().unwrap();
        assert_eq!(v[0], a.dataset.train.image(i)[0] as f32 / 255.0);
    }

    /// A toy dataset with the 110 labels of split CIFAR-10/100.
    fn toy_cifar(n: usize) -> Arc<Dataset> {
        let set = |n: usize| ImageSet {
            images: vec![7; n * 3],
            labels: (0..n).map(|i| (i % 110) as u8).collect(),
            n,
            pixels_per_image: 3,
            rows: 1,
            cols: 1,
        };
        Arc::new(Dataset {
            train: set(n),
            test: set(n),
            dir: "toy".into(),
        })
    }

    #[test]
    fn split_cifar_has_cifar10_then_five_cifar100_tasks_on_a_60_unit_head() {
        let mk = |scenario, tasks| {
            TaskStream::benchmark(
                Benchmark::SplitCifar,
                scenario,
                toy_cifar(1100),
                0,
                StreamOptions {
                    tasks,
                    ..Default::default()
                },
            )
        };
        let s = mk(Scenario::Task, 0);
        assert_eq!((s.tasks.len(), s.outputs), (6, 60));
        assert_eq!(s.tasks[0].name, "CIFAR-10");
        assert_eq!(s.tasks[0].outputs, (0..10).collect::<Vec<_>>());
        assert_eq!(s.tasks[2].name, "CIFAR-100 classes 10-19");
        // CIFAR-100 fine class 10 is dataset label 20, output 20.
        assert_eq!(s.tasks[2].label_map[20], Some(20));
        assert!(s.tasks[2]
            .train
            .iter()
            .all(|&i| (20..30).contains(&s.dataset.train.labels[i as usize])));
        // The paper's head keeps 60 units even when fewer tasks run.
        assert_eq!(mk(Scenario::Task, 2).outputs, 60);
        let d = mk(Scenario::Domain, 0);
        assert_eq!(d.outputs, 10);
        assert_eq!(d.tasks[4].label_map[43], Some(3));
        // Class-incremental: the competing outputs grow by ten per task.
        let c = mk(Scenario::Class, 0);
        for t in 0..6 {
            assert_eq!(c.train_outputs(t).unwrap().len(), 10 * (t + 1));
        }
        let c10 = TaskStream::benchmark(
            Benchmark::SplitCifar10,
            Scenario::Task,
            toy_dataset(100, 50),
            0,
            StreamOptions::default(),
        );
        assert_eq!(
            (c10.tasks.len(), c10.outputs, c10.tasks[4].outputs.clone()),
            (5, 10, vec![8, 9])
        );
    }

    /// A stream of `benchmark` with `settings` over `data`, every task.
    fn stream_of(
        benchmark: Benchmark,
        settings: TaskSettings,
        scenario: Scenario,
        data: Arc<Dataset>,
    ) -> TaskStream {
        let shape = DataShape::of(benchmark.data()).unwrap();
        let p = Protocol::new(benchmark, &settings, &shape, 0).unwrap();
        TaskStream::new(&p, scenario, data, 0, StreamOptions::default())
    }

    #[test]
    fn a_class_order_decides_which_digits_each_task_trains_on() {
        let order = ClassOrder::Given(vec![2, 3, 0, 1, 9, 8, 7, 6, 5, 4]);
        let settings = TaskSettings {
            class_order: order,
            ..Default::default()
        };
        let s = stream_of(
            Benchmark::SplitMnist,
            settings.clone(),
            Scenario::Task,
            toy_dataset(100, 50),
        );
        let names: Vec<&str> = s.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "digits 2,3",
                "digits 0,1",
                "digits 9,8",
                "digits 7,6",
                "digits 5,4"
            ]
        );
        // Task 1 trains on digits 2 and 3 only, on the first two output units.
        assert!(s.tasks[0]
            .train
            .iter()
            .all(|&i| [2, 3].contains(&s.dataset.train.labels[i as usize])));
        assert_eq!(s.tasks[0].train.len(), 20);
        assert_eq!(
            (s.tasks[0].label_map[2], s.tasks[0].label_map[3]),
            (Some(0), Some(1))
        );
        assert_eq!(s.tasks[2].label_map[9], Some(4));
        assert_eq!(s.tasks[0].outputs, vec![0, 1]);
        assert_eq!(s.outputs, 10);
        let dev = Default::default();
        let (_, y) = s.train_batch::<Cpu>(0, &s.tasks[0].train[..2], &dev);
        let y: Vec<i64> = y.into_data().convert::<i64>().to_vec().unwrap();
        let labels: Vec<u8> = (s.tasks[0].train[..2].iter())
            .map(|&i| s.dataset.train.labels[i as usize])
            .collect();
        assert_eq!(y, labels.iter().map(|&l| l as i64 - 2).collect::<Vec<_>>());
        // Class-incremental: units follow the order, so task 2 (digits 0,1) adds units 2 and 3.
        let c = stream_of(
            Benchmark::SplitMnist,
            settings,
            Scenario::Class,
            toy_dataset(100, 50),
        );
        assert_eq!(c.tasks[1].label_map[0], Some(2));
        assert_eq!(c.train_outputs(1), Some(vec![0, 1, 2, 3]));
    }

    #[test]
    fn three_classes_per_task_leave_a_smaller_last_task_in_every_scenario() {
        let settings = TaskSettings {
            classes_per_task: Some(3),
            ..Default::default()
        };
        let mk = |scenario| {
            stream_of(
                Benchmark::SplitCifar10,
                settings.clone(),
                scenario,
                toy_dataset(100, 50),
            )
        };
        let t = mk(Scenario::Task);
        assert_eq!((t.tasks.len(), t.outputs), (4, 10));
        assert_eq!(t.tasks[3].name, "classes 9");
        assert_eq!(t.tasks[3].outputs, vec![9]);
        assert_eq!(t.tasks[1].outputs, vec![3, 4, 5]);
        assert_eq!(t.tasks[3].train.len(), 10);
        let d = mk(Scenario::Domain);
        assert_eq!(d.outputs, 3);
        assert_eq!(d.tasks[3].label_map[9], Some(0));
        assert_eq!(d.tasks[2].outputs, vec![0, 1, 2]);
        let c = mk(Scenario::Class);
        assert_eq!(c.outputs, 10);
        assert_eq!(c.eval_outputs(3, 0), Some((0..10).collect()));
        assert_eq!(c.train_outputs(1), Some((0..6).collect()));
    }

    #[test]
    fn rotated_tasks_see_their_images_turned_once_per_task() {
        // 2x2 images whose four pixels are 4i..4i+3: a quarter turn counter-clockwise makes
        // [a b; c d] into [b d; a c].
        let d = toy_dataset(40, 20);
        let settings = TaskSettings {
            angles: Angles::Given(vec![0.0, 90.0, 180.0]),
            ..Default::default()
        };
        let p = Protocol::new(
            Benchmark::RotatedMnist,
            &settings,
            &DataShape::of(DataKind::Mnist).unwrap(),
            0,
        )
        .unwrap();
        assert_eq!(p.len(), 3);
        let names: Vec<&str> = p.tasks.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["rotation 0°", "rotation 90°", "rotation 180°"]);
        let s = TaskStream::new(
            &p,
            Scenario::Domain,
            d.clone(),
            0,
            StreamOptions {
                train_limit: 7,
                eval_limit: 5,
                ..Default::default()
            },
        );
        assert_eq!(s.outputs, 10);
        assert!(s.tasks[0].images.is_none());
        let held = s.tasks[1].images.as_ref().unwrap();
        assert_eq!(held.bytes(), (7 + 5) * 4);
        let dev = Default::default();
        let pixels = |x: Tensor<Cpu, 2>| -> Vec<u8> {
            let v: Vec<f32> = x.into_data().to_vec().unwrap();
            v.iter().map(|p| (p * 255.0).round() as u8).collect()
        };
        let (x0, y0) = s.train_batch::<Cpu>(0, &[3], &dev);
        let (x1, y1) = s.train_batch::<Cpu>(1, &[3], &dev);
        let (x2, _) = s.train_batch::<Cpu>(2, &[3], &dev);
        assert_eq!(pixels(x0), d.train.image(3));
        let [a, b, c, e] = <[u8; 4]>::try_from(d.train.image(3)).unwrap();
        assert_eq!(pixels(x1), vec![b, e, a, c]);
        assert_eq!(pixels(x2), vec![e, c, b, a]);
        // Labels are the digits themselves in the domain scenario.
        let ys: Vec<i64> = y0.into_data().convert::<i64>().to_vec().unwrap();
        let ys1: Vec<i64> = y1.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!((ys, ys1), (vec![3], vec![3]));
        // Evaluation reads the test images, turned alike.
        let i = s.tasks[1].eval[4];
        let (xe, _) = s.eval_batch::<Cpu>(1, &[i], &dev);
        let [a, b, c, e] = <[u8; 4]>::try_from(d.test.image(i as usize)).unwrap();
        assert_eq!(pixels(xe), vec![b, e, a, c]);
        // Joint training mixes tasks, each example with its own task's rotation.
        let (xm, _) = s.mixed_train_batch::<Cpu>(&[(0, 3), (1, 3)], &dev);
        let [a, b, c, e] = <[u8; 4]>::try_from(d.train.image(3)).unwrap();
        assert_eq!(pixels(xm), vec![a, b, c, e, b, e, a, c]);
        // Task and class scenarios: ten units per task run.
        let t = TaskStream::new(&p, Scenario::Task, d, 0, StreamOptions::default());
        assert_eq!((t.outputs, t.tasks[2].outputs[0]), (30, 20));
    }

    #[test]
    fn settings_a_benchmark_cannot_follow_are_refused() {
        let shape = DataShape::of(DataKind::Mnist).unwrap();
        let order = TaskSettings {
            class_order: ClassOrder::Random,
            ..Default::default()
        };
        let e = Protocol::new(Benchmark::PermutedMnist, &order, &shape, 0).unwrap_err();
        assert_eq!(
            e.to_string(),
            "class_order has no effect on permuted-mnist: every task holds every class; drop it"
        );
        let k = TaskSettings {
            classes_per_task: Some(5),
            ..Default::default()
        };
        let e = Protocol::new(
            Benchmark::SplitCifar,
            &k,
            &DataShape::of(DataKind::Cifar10And100).unwrap(),
            0,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("classes_per_task has no effect on split-cifar"),
            "{e}"
        );
        let angles = TaskSettings {
            angles: Angles::Random,
            ..Default::default()
        };
        let e = Protocol::new(Benchmark::SplitMnist, &angles, &shape, 0).unwrap_err();
        assert!(matches!(e, ProtocolError::NoEffect { key: "angles", .. }));
        // The published protocols are what they were.
        let p = Protocol::of(Benchmark::SplitMnist, &shape);
        assert_eq!(p.task_classes(5)[4], vec![8, 9]);
        assert_eq!(p.split_note(5), None);
        assert_eq!(
            Protocol::of(
                Benchmark::SplitCifar,
                &DataShape::of(DataKind::Cifar10And100).unwrap()
            )
            .outputs(Scenario::Task, 2),
            60
        );
        assert_eq!(
            Protocol::of(Benchmark::PermutedMnist, &shape).outputs(Scenario::Task, 3),
            30
        );
        let k3 = Protocol::new(Benchmark::SplitMnist, &k_of(3), &shape, 0).unwrap();
        assert_eq!(
            k3.split_note(4).unwrap(),
            "3 classes per task, the last task 1"
        );
        let both = TaskSettings {
            class_order: ClassOrder::Given(vec![1, 0, 2, 3, 4, 5, 6, 7, 8, 9]),
            classes_per_task: Some(5),
            ..Default::default()
        };
        let p = Protocol::new(Benchmark::SplitMnist, &both, &shape, 0).unwrap();
        assert_eq!(
            p.split_note(2).unwrap(),
            "class order 1,0,2,3,4,5,6,7,8,9; 5 classes per task"
        );
    }

    fn k_of(k: usize) -> TaskSettings {
        TaskSettings {
            classes_per_task: Some(k),
            ..Default::default()
        }
    }

    #[test]
    fn split_tasks_hold_only_their_digits() {
        let s = TaskStream::benchmark(
            Benchmark::SplitMnist,
            Scenario::Task,
            toy_dataset(100, 50),
            0,
            StreamOptions::default(),
        );
        assert_eq!(s.tasks.len(), 5);
        assert_eq!(s.outputs, 10);
        for (t, task) in s.tasks.iter().enumerate() {
            assert_eq!(task.train.len(), 20);
            assert_eq!(task.eval.len(), 10);
            for &i in &task.train {
                let l = s.dataset.train.labels[i as usize] as usize;
                assert!(l == 2 * t || l == 2 * t + 1);
            }
            assert_eq!(task.outputs, vec![2 * t, 2 * t + 1]);
            assert_eq!(s.train_outputs(t), Some(vec![2 * t, 2 * t + 1]));
        }
    }

    #[test]
    fn domain_maps_to_task_local_labels_and_class_grows() {
        let d = toy_dataset(100, 50);
        let dom = TaskStream::benchmark(
            Benchmark::SplitMnist,
            Scenario::Domain,
            d.clone(),
            0,
            StreamOptions::default(),
        );
        assert_eq!(dom.outputs, 2);
        assert_eq!(dom.tasks[3].label_map[6], Some(0));
        assert_eq!(dom.tasks[3].label_map[7], Some(1));
        assert_eq!(dom.train_outputs(3), None);
        let cls = TaskStream::benchmark(
            Benchmark::SplitMnist,
            Scenario::Class,
            d,
            0,
            StreamOptions::default(),
        );
        assert_eq!(cls.train_outputs(0), Some(vec![0, 1]));
        assert_eq!(cls.train_outputs(2), Some((0..6).collect()));
        assert_eq!(cls.eval_outputs(1, 0), Some((0..4).collect()));
    }

    #[test]
    fn permutations_are_seeded_and_first_task_is_plain() {
        let set = || ImageSet {
            images: vec![0; 784],
            labels: vec![3],
            n: 1,
            pixels_per_image: 784,
            rows: 28,
            cols: 28,
        };
        let d = Arc::new(Dataset {
            train: set(),
            test: set(),
            dir: "toy".into(),
        });
        let mk = |seed| {
            TaskStream::benchmark(
                Benchmark::PermutedMnist,
                Scenario::Domain,
                d.clone(),
                seed,
                StreamOptions {
                    tasks: 3,
                    ..Default::default()
                },
            )
        };
        let (a, b, c) = (mk(1), mk(1), mk(2));
        assert!(a.tasks[0].permutation.is_none());
        let pa: Vec<_> = a.tasks.iter().map(|t| t.permutation.clone()).collect();
        let pb: Vec<_> = b.tasks.iter().map(|t| t.permutation.clone()).collect();
        assert_eq!(pa, pb);
        let mut sorted = (*a.tasks[1].permutation.clone().unwrap()).clone();
        sorted.sort();
        assert_eq!(sorted, (0..784).collect::<Vec<u32>>());
        // 784! permutations: a repeat would mean the seed or the task index is ignored.
        assert_ne!(a.tasks[1].permutation, c.tasks[1].permutation);
        assert_ne!(a.tasks[1].permutation, a.tasks[2].permutation);
    }

    #[test]
    fn batches_scale_pixels_and_apply_permutation() {
        let d = toy_dataset(20, 10);
        let mut s = TaskStream::benchmark(
            Benchmark::PermutedMnist,
            Scenario::Domain,
            d,
            0,
            StreamOptions {
                tasks: 2,
                ..Default::default()
            },
        );
        s.tasks[1].permutation = Some(Arc::new(vec![3, 2, 1, 0]));
        let dev = Default::default();
        let (x, y) = s.train_batch::<Cpu>(1, &[1, 2], &dev);
        let x: Vec<f32> = x.into_data().to_vec().unwrap();
        // Example 1 holds bytes 4..8, example 2 bytes 8..12, reversed by the permutation.
        let want: Vec<f32> = [7, 6, 5, 4, 11, 10, 9, 8]
            .iter()
            .map(|&v| v as f32 / 255.0)
            .collect();
        assert_eq!(x.len(), want.len());
        for (a, b) in x.iter().zip(&want) {
            assert!((a - b).abs() < 1e-7, "{x:?} != {want:?}");
        }
        let y: Vec<i64> = y.into_data().convert::<i64>().to_vec().unwrap();
        assert_eq!(y, vec![1, 2]);
    }

    #[test]
    fn limits_truncate_examples_and_tasks() {
        let s = TaskStream::benchmark(
            Benchmark::SplitMnist,
            Scenario::Task,
            toy_dataset(100, 50),
            0,
            StreamOptions {
                tasks: 2,
                train_limit: 7,
                eval_limit: 3,
                eval_on: EvalOn::Test,
            },
        );
        assert_eq!(s.tasks.len(), 2);
        assert!(s
            .tasks
            .iter()
            .all(|t| t.train.len() == 7 && t.eval.len() == 3));
    }

    #[test]
    fn eval_on_train_scores_the_examples_trained_on() {
        let s = TaskStream::benchmark(
            Benchmark::SplitMnist,
            Scenario::Task,
            toy_dataset(100, 50),
            0,
            StreamOptions {
                tasks: 2,
                train_limit: 7,
                eval_limit: 0,
                eval_on: EvalOn::Train,
            },
        );
        for t in &s.tasks {
            assert_eq!(t.eval, t.train);
            assert_eq!(t.eval.len(), 7);
        }
    }
}
