//! Task streams: which examples, labels and output units each task of a benchmark uses.
//!
//! A [`TaskStream`] is independent of any model: it owns the dataset and, per task, the example
//! indices, the label-to-output map, the output units that belong to the task and an optional
//! pixel permutation. The trainer turns it into minibatches one at a time, so images stay u8.

use crate::names::UnknownName;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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
}

/// The network a benchmark trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A ReLU MLP on flat pixels.
    Mlp,
    /// The paper's CIFAR CNN.
    Cnn,
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
    pub const ALL: [Benchmark; 6] = [
        Self::SplitMnist,
        Self::PermutedMnist,
        Self::SplitFashionMnist,
        Self::PermutedFashionMnist,
        Self::SplitCifar10,
        Self::SplitCifar,
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
        }
    }

    /// Whether tasks are pixel permutations of one 10-class problem.
    pub fn permuted(self) -> bool {
        matches!(self, Self::PermutedMnist | Self::PermutedFashionMnist)
    }

    /// The data the benchmark reads.
    pub fn data(self) -> DataKind {
        match self {
            Self::SplitMnist | Self::PermutedMnist => DataKind::Mnist,
            Self::SplitFashionMnist | Self::PermutedFashionMnist => DataKind::FashionMnist,
            Self::SplitCifar10 => DataKind::Cifar10,
            Self::SplitCifar => DataKind::Cifar10And100,
        }
    }

    /// The network the benchmark trains.
    pub fn model(self) -> ModelKind {
        match self.data() {
            DataKind::Cifar10 | DataKind::Cifar10And100 => ModelKind::Cnn,
            _ => ModelKind::Mlp,
        }
    }

    /// Input features of the benchmark's own dataset: 28x28 pixels for (Fashion-)MNIST,
    /// 3x32x32 for CIFAR.
    pub fn inputs(self) -> usize {
        match self.data() {
            DataKind::Mnist | DataKind::FashionMnist => 28 * 28,
            DataKind::Cifar10 | DataKind::Cifar10And100 => crate::data::cifar::PIXELS,
        }
    }

    /// Output units of the model for `tasks` tasks in `scenario`: one task's classes in the
    /// domain scenario, else every class of the tasks the head is sized for.
    pub fn outputs(self, scenario: Scenario, tasks: usize) -> usize {
        match scenario {
            Scenario::Domain => self.classes(0).len(),
            // Split CIFAR: 10 units for CIFAR-10 and 10 per CIFAR-100 task (60 in all).
            _ => (0..self.head_tasks(tasks))
                .map(|t| self.classes(t).len())
                .sum(),
        }
    }

    /// Number of tasks of the full protocol.
    pub fn full_tasks(self) -> usize {
        match self {
            Self::PermutedMnist | Self::PermutedFashionMnist => 10,
            Self::SplitCifar => 6,
            _ => 5,
        }
    }

    /// The scenario of the paper's protocol.
    pub fn default_scenario(self) -> Scenario {
        if self.permuted() {
            Scenario::Domain
        } else {
            Scenario::Task
        }
    }

    /// Classes of task `t`, as dataset labels.
    pub fn classes(self, t: usize) -> Vec<u8> {
        match self {
            Self::PermutedMnist | Self::PermutedFashionMnist => (0..10).collect(),
            Self::SplitCifar if t == 0 => (0..10).collect(),
            Self::SplitCifar => (0..10).map(|k| (10 * t + k) as u8).collect(),
            _ => vec![2 * t as u8, 2 * t as u8 + 1],
        }
    }

    /// Labels of the dataset (the size of a label map).
    pub fn num_labels(self) -> usize {
        match self {
            Self::SplitCifar => 110,
            _ => 10,
        }
    }

    /// Tasks the output layer is sized for in the task and class scenarios: the full protocol's
    /// (split benchmarks keep the paper's head when fewer tasks run), or the tasks run.
    fn head_tasks(self, run: usize) -> usize {
        if self.permuted() {
            run
        } else {
            run.max(self.full_tasks())
        }
    }

    fn task_name(self, t: usize, classes: &[u8]) -> String {
        match self {
            Self::PermutedMnist | Self::PermutedFashionMnist if t == 0 => "unpermuted".into(),
            Self::PermutedMnist | Self::PermutedFashionMnist => format!("permutation {t}"),
            Self::SplitMnist => format!("digits {},{}", classes[0], classes[1]),
            Self::SplitCifar if t == 0 => "CIFAR-10".into(),
            Self::SplitCifar => format!("CIFAR-100 classes {}-{}", 10 * (t - 1), 10 * t - 1),
            _ => format!("classes {},{}", classes[0], classes[1]),
        }
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
    /// Builds a benchmark's stream in a scenario; permutations are drawn from `seed`.
    pub fn benchmark(
        benchmark: Benchmark,
        scenario: Scenario,
        dataset: Arc<Dataset>,
        seed: u64,
        opts: StreamOptions,
    ) -> Self {
        let n_tasks = if opts.tasks == 0 {
            benchmark.full_tasks()
        } else {
            opts.tasks.min(benchmark.full_tasks())
        };
        let mut tasks = Vec::with_capacity(n_tasks);
        // Permutations come from their own generator so that they do not depend on batch order.
        let mut perm_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_9E37_79B9_7F4A);
        let pixels = dataset.train.pixels_per_image;
        let mut base = 0;
        for t in 0..n_tasks {
            let classes = benchmark.classes(t);
            let (train_all, eval_all) = match opts.eval_on {
                EvalOn::Test => (
                    indices_of(&dataset.train, &classes),
                    indices_of(&dataset.test, &classes),
                ),
                EvalOn::Train => {
                    // Score the examples actually trained on, not the whole class.
                    let tr = truncate(indices_of(&dataset.train, &classes), opts.train_limit);
                    (tr.clone(), tr)
                }
                EvalOn::Validation => hold_out(indices_of(&dataset.train, &classes), t),
            };
            let permutation = match benchmark.permuted() {
                true if t > 0 => {
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
            let mut label_map = vec![None; benchmark.num_labels()];
            for (k, &c) in classes.iter().enumerate() {
                label_map[c as usize] = Some((first + k) as u32);
            }
            tasks.push(Task {
                name: benchmark.task_name(t, &classes),
                train: truncate(train_all, opts.train_limit),
                eval: truncate(eval_all, opts.eval_limit),
                label_map,
                outputs: (first..first + classes.len()).collect(),
                permutation,
            });
            base += classes.len();
        }
        // The head covers at least the tasks run (head_tasks(n) >= n), so it holds every unit
        // given out above.
        let outputs = benchmark.outputs(scenario, n_tasks);
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
        make_batch(&self.dataset.train, &self.tasks[t], idx, device)
    }

    /// A minibatch of task `t`'s evaluation examples `idx`.
    pub fn eval_batch<B: Backend>(
        &self,
        t: usize,
        idx: &[u32],
        device: &B::Device,
    ) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        make_batch(self.eval_set(), &self.tasks[t], idx, device)
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
            push_example(set, &self.tasks[t], i, &mut x, &mut y);
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

/// Converts the u8 images of one minibatch to f32 (÷255), applying the task's permutation.
fn make_batch<B: Backend>(
    set: &ImageSet,
    task: &Task,
    idx: &[u32],
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
    let p = set.pixels_per_image;
    let mut x = Vec::with_capacity(idx.len() * p);
    let mut y = Vec::with_capacity(idx.len());
    for &i in idx {
        push_example(set, task, i, &mut x, &mut y);
    }
    let n = idx.len();
    (
        Tensor::from_data(TensorData::new(x, [n, p]), device),
        Tensor::from_data(TensorData::new(y, [n]), device),
    )
}

fn push_example(set: &ImageSet, task: &Task, i: u32, x: &mut Vec<f32>, y: &mut Vec<i64>) {
    const SCALE: f32 = 1.0 / 255.0;
    let img = set.image(i as usize);
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
