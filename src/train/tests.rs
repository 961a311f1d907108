use std::path::Path;
use std::sync::Arc;

use crate::model::Classifier;

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::*;
use crate::backend::CpuAutodiff as B;
use crate::data::{load_idx_dataset, Dataset, ImageSet};
use crate::model::{HeadInit, Mlp, MlpConfig, WeightInit};
use crate::regularizer::{SiConfig, SynapticIntelligence};
use crate::scenario::{Benchmark, EvalOn, Scenario, StreamOptions, Task, TaskStream};
use crate::test_support::OwnInit;

fn cfg(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 16,
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        reset_optimizer: true,
        seed: 0,
        eval_batch_size: 64,
        prob_clip: 0.0,
    }
}

/// Images whose pixels depend on the label, so that the toy tasks are learnable.
fn learnable_toy(n: usize) -> Arc<Dataset> {
    let set = |n: usize, salt: usize| {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let images = (0..n)
            .flat_map(|i| {
                let l = labels[i] as usize;
                (0..16).map(move |k| {
                    let on = k == l || k == (l + 7) % 16;
                    if on {
                        200 + ((i * 7 + k + salt) % 50) as u8
                    } else {
                        ((i * 13 + k * 3 + salt) % 60) as u8
                    }
                })
            })
            .collect();
        ImageSet {
            images,
            labels,
            n,
            pixels_per_image: 16,
            rows: 4,
            cols: 4,
        }
    };
    Arc::new(Dataset {
        train: set(n, 0),
        test: set(n / 2, 1),
        dir: "toy".into(),
    })
}

/// The first two split-MNIST tasks over the learnable toy data.
fn two_split_tasks(scenario: Scenario, n: usize) -> TaskStream {
    TaskStream::benchmark(
        Benchmark::SplitMnist,
        scenario,
        learnable_toy(n),
        0,
        StreamOptions {
            tasks: 2,
            ..Default::default()
        },
    )
}

fn mlp(outputs: usize) -> Mlp<B> {
    use rand::SeedableRng;
    MlpConfig {
        inputs: 16,
        hidden: vec![32],
        outputs,
        head_init: HeadInit::Default,
        init: WeightInit::Default,
    }
    .init::<B>(&Default::default())
    .map(&mut OwnInit(rand_chacha::ChaCha8Rng::seed_from_u64(0)))
}

#[test]
fn masked_heads_get_no_importance_in_split_tasks() {
    let stream = two_split_tasks(Scenario::Task, 400);
    let mut si = SynapticIntelligence::<B>::new(SiConfig::new(1.0, 1e-3));
    let (_m, out) = train_stream(
        mlp(10),
        &stream,
        Some(&mut si),
        &cfg(3),
        &Default::default(),
        &mut Silent,
    )
    .unwrap();
    assert!(out.accuracy_matrix[1][1] > 0.9, "{:?}", out.accuracy_matrix);
    let snap = si.snapshot();
    let head_w = snap.iter().find(|p| p.path == "layers.1.weight").unwrap();
    let head_b = snap.iter().find(|p| p.path == "layers.1.bias").unwrap();
    // weight is [32, 10], row-major: column = output unit.
    for (k, v) in head_w.importance.iter().enumerate() {
        let unit = k % 10;
        if unit >= 4 {
            assert_eq!(*v, 0.0, "masked unit {unit} got importance");
        }
    }
    assert!(head_w
        .importance
        .iter()
        .enumerate()
        .any(|(k, &v)| k % 10 < 4 && v > 0.0));
    assert!(head_b.importance[4..].iter().all(|&v| v == 0.0));
    assert!(head_b.importance[..4].iter().any(|&v| v > 0.0));
    // The masked units never moved either: compare with the same seed's fresh model.
    let mut fresh = SynapticIntelligence::<B>::new(SiConfig::new(1.0, 1e-3));
    crate::regularizer::Regularizer::init(&mut fresh, &mlp(10));
    let fresh = fresh.snapshot();
    let fresh_b = fresh.iter().find(|p| p.path == "layers.1.bias").unwrap();
    assert_eq!(head_b.anchor[4..], fresh_b.anchor[4..]);
    assert_ne!(head_b.anchor[..4], fresh_b.anchor[..4]);

    // Task 1's head (units 0, 1) keeps exactly the importance it had after task 1: task 2
    // neither computes a gradient for it nor moves it. Same seed, one task only:
    let one = TaskStream {
        tasks: stream.tasks[..1].to_vec(),
        ..stream.clone()
    };
    let mut si1 = SynapticIntelligence::<B>::new(SiConfig::new(1.0, 1e-3));
    train_stream(
        mlp(10),
        &one,
        Some(&mut si1),
        &cfg(3),
        &Default::default(),
        &mut Silent,
    )
    .unwrap();
    let snap1 = si1.snapshot();
    let w1 = snap1.iter().find(|p| p.path == "layers.1.weight").unwrap();
    for (k, (&a, &b)) in head_w.importance.iter().zip(&w1.importance).enumerate() {
        if k % 10 < 2 {
            assert_eq!(a, b, "task 1's head unit {} changed", k % 10);
        }
    }
    assert!(w1
        .importance
        .iter()
        .enumerate()
        .any(|(k, &v)| k % 10 < 2 && v > 0.0));
}

/// A module shaped nothing like the MLP: a convolution (4-D weight) and a nested struct
/// holding a linear layer and a free-standing 1-D parameter.
#[derive(Module, Debug)]
struct ConvNet<B: Backend> {
    conv: Conv2d<B>,
    head: Head<B>,
}

#[derive(Module, Debug)]
struct Head<B: Backend> {
    lin: Linear<B>,
    scale: Param<Tensor<B, 1>>,
}

impl<B: Backend> crate::model::Classifier<B> for ConvNet<B> {
    fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let h = self.conv.forward(x.reshape([n, 1, 4, 4]));
        let h = burn::tensor::activation::relu(h).reshape([n, 2 * 3 * 3]);
        self.head.lin.forward(h) * self.head.scale.val().unsqueeze_dim(0)
    }
}

#[test]
fn si_walks_any_module_generically() {
    let dev = Default::default();
    B::seed(&dev, 1);
    let net = ConvNet::<B> {
        conv: Conv2dConfig::new([1, 2], [2, 2]).init(&dev),
        head: Head {
            lin: LinearConfig::new(18, 10).init(&dev),
            scale: Param::from_tensor(Tensor::ones([10], &dev)),
        },
    };
    let n_params = net.num_params();
    let stream = two_split_tasks(Scenario::Task, 400);
    let mut si = SynapticIntelligence::<B>::new(SiConfig::new(1.0, 1e-3));
    let (net, out) = train_stream(net, &stream, Some(&mut si), &cfg(2), &dev, &mut Silent).unwrap();
    let snap = si.snapshot();
    let paths: Vec<&str> = snap.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "conv.weight",
            "conv.bias",
            "head.lin.weight",
            "head.lin.bias",
            "head.scale"
        ]
    );
    assert_eq!(
        snap.iter().map(|p| p.importance.len()).sum::<usize>(),
        n_params
    );
    for p in &snap {
        assert!(
            p.importance.iter().any(|&v| v > 0.0),
            "{} has no importance",
            p.path
        );
    }
    // Task 2 pulled against task 1's anchor; after its end the anchor moved to the weights.
    assert!(out.final_penalty[1] > 0.0);
    assert_eq!(crate::regularizer::Regularizer::penalty(&si, &net), 0.0);
}

fn mnist() -> Option<Arc<Dataset>> {
    // The repository ships MNIST, so in a checkout this never skips.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    if !dir.join("train-images-idx3-ubyte.gz").exists() {
        eprintln!("skipped: {} is absent", dir.display());
        return None;
    }
    Some(Arc::new(load_idx_dataset(&dir, 10).unwrap()))
}

/// Task 2 shows task 1's images with the two labels swapped, on one shared head: whatever
/// task 2 learns destroys task 1, so forgetting is certain without consolidation.
fn relabel_stream(data: Arc<Dataset>) -> TaskStream {
    let pick = |set: &ImageSet, n: usize| -> Vec<u32> {
        (0..set.len() as u32)
            .filter(|&i| set.labels[i as usize] < 2)
            .take(n)
            .collect()
    };
    let train = pick(&data.train, 600);
    let eval = pick(&data.test, 400);
    let mut map = vec![None; 10];
    map[0] = Some(0);
    map[1] = Some(1);
    let t1 = Task {
        name: "0/1".into(),
        train: train.clone(),
        eval: eval.clone(),
        label_map: map.clone(),
        outputs: vec![0, 1],
        permutation: None,
        images: None,
    };
    map.swap(0, 1);
    let t2 = Task {
        name: "0/1 swapped".into(),
        label_map: map,
        ..t1.clone()
    };
    TaskStream {
        dataset: data,
        tasks: vec![t1, t2],
        scenario: Scenario::Domain,
        outputs: 2,
        eval_on: EvalOn::Test,
    }
}

#[test]
fn si_with_large_c_keeps_a_task_that_finetune_forgets() {
    let Some(data) = mnist() else { return };
    let stream = relabel_stream(data);
    let mut tc = cfg(5);
    tc.batch_size = 32;
    tc.lr = 3e-3;
    let model = relabel_model;
    let (_, ft) = train_stream(
        model(),
        &stream,
        None,
        &tc,
        &Default::default(),
        &mut Silent,
    )
    .unwrap();
    let mut si = SynapticIntelligence::<B>::new(SiConfig::new(1000.0, 1e-3));
    let (_, s) = train_stream(
        model(),
        &stream,
        Some(&mut si),
        &tc,
        &Default::default(),
        &mut Silent,
    )
    .unwrap();
    eprintln!(
        "finetune {:?}\nsi {:?}",
        ft.accuracy_matrix, s.accuracy_matrix
    );
    assert!(ft.accuracy_matrix[0][0] > 0.95 && s.accuracy_matrix[0][0] > 0.95);
    assert!(
        ft.accuracy_matrix[1][0] < 0.2,
        "finetune kept task 1: {:?}",
        ft.accuracy_matrix
    );
    assert!(
        s.accuracy_matrix[1][0] > 0.8,
        "SI lost task 1: {:?}",
        s.accuracy_matrix
    );
}

#[test]
fn masked_cross_entropy_matches_hand_value() {
    let dev = Default::default();
    let logits =
        Tensor::<crate::backend::Cpu, 2>::from_data([[1.0f32, 2.0, 3.0], [0.0, 0.0, 5.0]], &dev);
    let y = Tensor::<crate::backend::Cpu, 1, burn::tensor::Int>::from_data([1i64, 0], &dev);
    let mask = output_mask::<crate::backend::Cpu>(3, Some(&[0, 1]), &dev);
    let got: f64 = masked_cross_entropy(logits, y, mask.as_ref())
        .into_scalar()
        .elem();
    // Row 1: softmax over (1,2) -> -log(e²/(e+e²)); row 2: over (0,0) -> log 2.
    let r1 = -(2.0f64.exp() / (1.0f64.exp() + 2.0f64.exp())).ln();
    let want = (r1 + 2.0f64.ln()) / 2.0;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn keras_clipped_loss_matches_hand_values_and_gives_saturated_examples_no_gradient() {
    let dev = Default::default();
    // Row 1 is confidently right (p = 1/(1 + 2e^-6) = 0.9951, clipped to 0.99 by a clip of 0.01);
    // row 2 is wrong-ish and inside the clip, so its loss and gradient are the exact ones.
    let logits =
        Tensor::<B, 2>::from_data([[6.0f32, 0.0, 0.0], [1.0, 2.0, 0.5]], &dev).require_grad();
    let y = Tensor::<B, 1, burn::tensor::Int>::from_data([0i64, 0], &dev);
    let clip = 0.01;
    let loss = training_loss(logits.clone(), y.clone(), None, clip);
    let got: f64 = loss.clone().into_scalar().elem();
    let z = [1.0f64, 2.0, 0.5];
    let sum: f64 = z.iter().map(|v| v.exp()).sum();
    let p2 = z.map(|v| v.exp() / sum);
    let r1 = -(0.99f64).ln();
    let want = (r1 - p2[0].ln()) / 2.0;
    assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    let grads = loss.backward();
    let g = logits
        .grad(&grads)
        .unwrap()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    assert_eq!(
        &g[..3],
        &[0.0, 0.0, 0.0],
        "a clipped example must give no gradient"
    );
    // Inside the clip: the cross-entropy's gradient (p − onehot) / batch.
    for (k, &gk) in g[3..].iter().enumerate() {
        let want = (p2[k] - if k == 0 { 1.0 } else { 0.0 }) / 2.0;
        assert!(
            (f64::from(gk) - want).abs() < 1e-6,
            "logit {k}: {gk} vs {want}"
        );
    }
    // Off (0), the exact loss: bit for bit the cross-entropy the loop always used.
    let exact: f64 = training_loss(logits.clone(), y.clone(), None, 0.0)
        .into_scalar()
        .elem();
    let ce: f64 = masked_cross_entropy(logits, y, None).into_scalar().elem();
    assert_eq!(exact.to_bits(), ce.to_bits());
}

#[test]
fn resetting_adam_changes_the_second_task() {
    let stream = two_split_tasks(Scenario::Domain, 400);
    let run = |reset: bool| {
        let mut c = cfg(2);
        c.reset_optimizer = reset;
        train_stream(mlp(2), &stream, None, &c, &Default::default(), &mut Silent)
            .unwrap()
            .1
    };
    let (a, b) = (run(true), run(false));
    // Identical first task, different second task: the flag reaches the optimizer.
    assert_eq!(a.epoch_loss[0], b.epoch_loss[0]);
    assert_ne!(a.epoch_loss[1], b.epoch_loss[1]);
}

#[test]
fn empty_tasks_are_an_error_not_a_zero() {
    let mut stream = two_split_tasks(Scenario::Task, 100);
    stream.tasks[1].eval.clear();
    let e = train_stream(
        mlp(10),
        &stream,
        None,
        &cfg(1),
        &Default::default(),
        &mut Silent,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("task 2 (digits 2,3) has no evaluation examples"),
        "{e}"
    );
}

/// An MLP for the relabel stream, initialised independently of other tests.
fn relabel_model() -> Mlp<B> {
    use rand::SeedableRng;
    MlpConfig {
        inputs: 784,
        hidden: vec![64],
        outputs: 2,
        head_init: HeadInit::Default,
        init: WeightInit::Default,
    }
    .init::<B>(&Default::default())
    .map(&mut OwnInit(rand_chacha::ChaCha8Rng::seed_from_u64(3)))
}

fn relabel_cfg() -> TrainConfig {
    let mut tc = cfg(5);
    tc.batch_size = 32;
    tc.lr = 3e-3;
    tc
}

#[test]
fn every_penalty_is_active_after_the_first_task_and_keeps_what_finetune_forgets() {
    // The classic bug: a regulariser whose penalty never reaches the loss trains exactly like
    // finetune. On the relabel stream finetune loses task 1 for certain; each method with a
    // strong penalty must keep it, and report a non-zero penalty during task 2.
    use crate::regularizer::{Consolidator, EwcConfig, FisherEstimator, Regularizer, L2};
    let Some(data) = mnist() else { return };
    let stream = relabel_stream(data);
    let tc = relabel_cfg();
    let (_, ft) = train_stream(
        relabel_model(),
        &stream,
        None,
        &tc,
        &Default::default(),
        &mut Silent,
    )
    .unwrap();
    assert!(
        ft.accuracy_matrix[1][0] < 0.2,
        "finetune kept task 1: {:?}",
        ft.accuracy_matrix
    );
    let ewc = |gamma| EwcConfig {
        lambda: 1e8,
        gamma,
        estimator: FisherEstimator::Exact,
        samples: 200,
        seed: 0,
    };
    type Reg = Box<dyn Regularizer<B, Mlp<B>>>;
    let methods: Vec<(&str, Reg)> = vec![
        ("ewc", Box::new(Consolidator::<B, _>::ewc(ewc(None)))),
        (
            "online-ewc",
            Box::new(Consolidator::<B, _>::ewc(ewc(Some(0.9)))),
        ),
        ("mas", Box::new(Consolidator::<B, _>::mas(100.0, 200))),
        ("l2", Box::new(Consolidator::<B, L2>::l2(100.0))),
    ];
    for (name, mut r) in methods {
        let (_, out) = train_stream(
            relabel_model(),
            &stream,
            Some(r.as_mut()),
            &tc,
            &Default::default(),
            &mut Silent,
        )
        .unwrap();
        eprintln!(
            "{name}: {:?} penalty {:?}",
            out.accuracy_matrix, out.final_penalty
        );
        assert_eq!(
            out.final_penalty[0], 0.0,
            "{name}: no penalty during the first task"
        );
        assert!(
            out.final_penalty[1] > 0.0,
            "{name}: penalty inactive in task 2"
        );
        assert!(
            out.accuracy_matrix[0][0] > 0.95,
            "{name}: {:?}",
            out.accuracy_matrix
        );
        assert!(
            out.accuracy_matrix[1][0] > 0.8,
            "{name} lost task 1: {:?}",
            out.accuracy_matrix
        );
    }
}

/// Records the steps per epoch the loop announces for each task.
#[derive(Default)]
struct Steps(Vec<usize>);
impl Observer for Steps {
    fn task_start(&mut self, _task: usize, _name: &str, steps: usize, _epochs: usize) {
        self.0.push(steps);
    }
}

#[test]
fn joint_trains_on_the_union_with_each_examples_own_head() {
    let stream = two_split_tasks(Scenario::Task, 400);
    let (n1, n2) = (stream.tasks[0].train.len(), stream.tasks[1].train.len());
    let c = cfg(3);
    let mut steps = Steps::default();
    let mut first = Some(mlp(10));
    let mut init = || first.take().unwrap();
    let (_, out) = train_stream_mode(
        &mut init,
        Mode::Joint,
        &stream,
        None,
        &c,
        &Default::default(),
        &mut steps,
    )
    .unwrap();
    assert_eq!(steps.0, vec![n1.div_ceil(16), (n1 + n2).div_ceil(16)]);
    // Task 1 is still trained in stage 2, under its own two outputs: it stays learned.
    assert!(
        out.accuracy_matrix[1][0] > 0.9 && out.accuracy_matrix[1][1] > 0.9,
        "{:?}",
        out.accuracy_matrix
    );
    // Per-example masks: each row opens its own task's outputs.
    let m = row_masks::<crate::backend::Cpu>(
        10,
        &[Some(vec![0, 1]), Some(vec![2, 3])],
        &Default::default(),
    )
    .unwrap();
    let v: Vec<f32> = m.into_data().to_vec().unwrap();
    let open: Vec<Vec<usize>> = v
        .chunks(10)
        .map(|r| (0..10).filter(|&k| r[k] == 0.0).collect())
        .collect();
    assert_eq!(open, vec![vec![0, 1], vec![2, 3]]);
    assert!(row_masks::<crate::backend::Cpu>(10, &[None, None], &Default::default()).is_none());
}

#[test]
fn scratch_starts_each_task_from_a_fresh_network_and_never_forgets() {
    let Some(data) = mnist() else { return };
    let stream = relabel_stream(data);
    let tc = relabel_cfg();
    let (_, ft) = train_stream(
        relabel_model(),
        &stream,
        None,
        &tc,
        &Default::default(),
        &mut Silent,
    )
    .unwrap();
    let mut init = relabel_model;
    let (_, sc) = train_stream_mode(
        &mut init,
        Mode::Scratch,
        &stream,
        None,
        &tc,
        &Default::default(),
        &mut Silent,
    )
    .unwrap();
    eprintln!(
        "finetune {:?} {:?}\nscratch {:?} {:?}",
        ft.accuracy_matrix, ft.epoch_loss, sc.accuracy_matrix, sc.epoch_loss
    );
    // A fresh network meets the swapped labels at chance loss (ln 2); a continued one is
    // confidently wrong and starts far higher.
    assert!(sc.epoch_loss[1][0] < 0.7 && ft.epoch_loss[1][0] > 1.0);
    // Each task keeps its own network: R[1][0] is R[0][0], nothing is forgotten.
    assert_eq!(sc.accuracy_matrix[1][0], sc.accuracy_matrix[0][0]);
    assert!(sc.accuracy_matrix[1][1] > 0.95);
    let m = crate::metrics::compute(&sc.accuracy_matrix, &sc.initial_accuracy);
    assert_eq!((m.backward_transfer, m.forgetting), (0.0, 0.0));
}

// ---- checkpoints and resume -------------------------------------------------------------

/// Three split tasks over the learnable toy data.
fn three_split_tasks() -> TaskStream {
    TaskStream::benchmark(
        Benchmark::SplitMnist,
        Scenario::Task,
        learnable_toy(200),
        0,
        StreamOptions {
            tasks: 3,
            ..Default::default()
        },
    )
}

type Reg = Option<Box<dyn Regularizer<B, Mlp<B>>>>;

fn resume_regularizer(method: &str) -> Reg {
    use crate::regularizer::{Consolidator, EwcConfig, FisherEstimator};
    match method {
        "si" => Some(Box::new(SynapticIntelligence::<B>::new(SiConfig::new(
            1.0, 1e-3,
        )))),
        "ewc" | "online-ewc" => Some(Box::new(Consolidator::<B, _>::ewc(EwcConfig {
            lambda: 100.0,
            gamma: (method == "online-ewc").then_some(0.9),
            estimator: FisherEstimator::Sampled,
            samples: 8,
            seed: 0,
        }))),
        "mas" => Some(Box::new(Consolidator::<B, _>::mas(10.0, 8))),
        "l2" => Some(Box::new(Consolidator::<B, crate::regularizer::L2>::l2(
            10.0,
        ))),
        _ => None,
    }
}

/// Stops after the `after`-th epoch checkpoint.
struct StopAtEpoch {
    inner: crate::checkpoint::FileCheckpoints,
    after: usize,
    seen: usize,
}

impl CheckpointSink<B, Mlp<B>> for StopAtEpoch {
    fn every_epochs(&self) -> Option<usize> {
        Some(1)
    }
    fn save(
        &mut self,
        state: TrainState<'_, B, Mlp<B>>,
        reason: SaveReason,
    ) -> Result<bool, crate::checkpoint::CheckpointError> {
        let go = CheckpointSink::<B, Mlp<B>>::save(&mut self.inner, state, reason)?;
        if reason == SaveReason::Epoch {
            self.seen += 1;
            if self.seen == self.after {
                return Ok(false);
            }
        }
        Ok(go)
    }
}

/// Stops (as Ctrl-C does) after `after` optimizer steps.
struct StopAtStep {
    after: usize,
    seen: usize,
}

impl Observer for StopAtStep {
    fn step(&mut self, _loss: f64) -> bool {
        self.seen += 1;
        self.seen < self.after
    }
}

fn run_once(
    model: Mlp<B>,
    method: &str,
    sink: Option<&mut dyn CheckpointSink<B, Mlp<B>>>,
    resume: Option<Resumed<B, Mlp<B>>>,
    observer: &mut dyn Observer,
) -> Result<TrainOutcome, TrainError> {
    let stream = three_split_tasks();
    let mut reg = resume_regularizer(method);
    let mut first = Some(model);
    let mut init = move || first.take().expect("sequential training builds one model");
    let mode = if method == "joint" {
        Mode::Joint
    } else {
        Mode::Sequential
    };
    let c = cfg(3);
    Loop {
        init: &mut init,
        mode,
        stream: &stream,
        regularizer: reg
            .as_deref_mut()
            .map(|r| r as &mut dyn Regularizer<B, Mlp<B>>),
        cfg: &c,
        device: &Default::default(),
        observer,
        sink: sink.map(|s| s as _),
        hooks: Vec::new(),
    }
    .run(resume)
    .map(|(_, o)| o)
}

fn same_numbers(a: &TrainOutcome, b: &TrainOutcome, what: &str) {
    assert_eq!(a.accuracy_matrix, b.accuracy_matrix, "{what}: accuracy");
    assert_eq!(a.initial_accuracy, b.initial_accuracy, "{what}: initial");
    assert_eq!(a.epoch_loss, b.epoch_loss, "{what}: epoch losses");
    assert_eq!(a.final_penalty, b.final_penalty, "{what}: penalties");
    assert_eq!(a.steps, b.steps, "{what}: steps");
}

/// Runs `method` uninterrupted, then stopped (after task 1; at an epoch boundary of task 2;
/// mid-epoch in task 2) and resumed from the checkpoint on disk: the numbers must be identical.
fn resume_matches_uninterrupted(method: &str) {
    let model = mlp(10);
    // burn initialises parameters lazily: materialise them once, so that clones share them.
    crate::regularizer::param_paths::<B, _>(&model);
    let full = run_once(model.clone(), method, None, None, &mut Silent).unwrap();
    let fresh = || {
        MlpConfig {
            inputs: 16,
            hidden: vec![32],
            outputs: 10,
            head_init: HeadInit::Default,
            init: WeightInit::Default,
        }
        .init::<B>(&Default::default())
    };
    let resume_from = |dir: &Path, what: &str| {
        let r = crate::checkpoint::load::<B, Mlp<B>>(dir, fresh(), &Default::default())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let mut sink = crate::checkpoint::FileCheckpoints::new(dir).unwrap();
        let out = run_once(fresh(), method, Some(&mut sink), Some(r), &mut Silent).unwrap();
        same_numbers(&full, &out, &format!("{method}, {what}"));
    };

    // After task 1, through the task checkpoint.
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = crate::checkpoint::FileCheckpoints::new(tmp.path())
        .unwrap()
        .stop_after_task(Some(1));
    let e = run_once(model.clone(), method, Some(&mut sink), None, &mut Silent).unwrap_err();
    assert!(matches!(e, TrainError::Interrupted), "{e}");
    let m = crate::checkpoint::read_manifest(tmp.path()).unwrap();
    assert_eq!((m.task, m.epoch, m.step), (1, 0, 0));
    resume_from(tmp.path(), "after task 1");

    // At an epoch boundary of task 2 (after its first epoch: epochs are 3, task 1 gives two
    // epoch checkpoints, the third is task 2's first).
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = StopAtEpoch {
        inner: crate::checkpoint::FileCheckpoints::new(tmp.path()).unwrap(),
        after: 3,
        seen: 0,
    };
    let e = run_once(model.clone(), method, Some(&mut sink), None, &mut Silent).unwrap_err();
    assert!(matches!(e, TrainError::Interrupted), "{e}");
    let m = crate::checkpoint::read_manifest(tmp.path()).unwrap();
    assert_eq!((m.task, m.epoch, m.step), (1, 1, 0));
    resume_from(tmp.path(), "at an epoch boundary of task 2");

    // Mid-epoch in task 2 (as Ctrl-C does): 40 examples per task, batch 16, 3 steps per epoch.
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = crate::checkpoint::FileCheckpoints::new(tmp.path()).unwrap();
    let mut stop = StopAtStep {
        after: 9 + 4,
        seen: 0,
    };
    let e = run_once(model.clone(), method, Some(&mut sink), None, &mut stop).unwrap_err();
    assert!(matches!(e, TrainError::Interrupted), "{e}");
    let m = crate::checkpoint::read_manifest(tmp.path()).unwrap();
    // Joint trains task 2 on both tasks' 80 examples: 5 steps per epoch.
    let want = if method == "joint" {
        (1, 0, 4)
    } else {
        (1, 1, 1)
    };
    assert_eq!(
        (m.task, m.epoch, m.step, m.reason.as_str()),
        (want.0, want.1, want.2, "interrupt")
    );
    resume_from(tmp.path(), "mid-epoch in task 2");
}

#[test]
fn resumed_si_run_matches_the_uninterrupted_one() {
    resume_matches_uninterrupted("si");
}

#[test]
fn resumed_ewc_run_matches_the_uninterrupted_one() {
    resume_matches_uninterrupted("ewc");
}

#[test]
fn resumed_finetune_run_matches_the_uninterrupted_one() {
    resume_matches_uninterrupted("finetune");
}

#[test]
fn resumed_online_ewc_mas_l2_and_joint_runs_match_the_uninterrupted_ones() {
    for method in ["online-ewc", "mas", "l2", "joint"] {
        resume_matches_uninterrupted(method);
    }
}

#[test]
fn missing_or_corrupt_manifest_is_a_one_line_error() {
    let tmp = tempfile::tempdir().unwrap();
    let load = |dir: &Path| {
        crate::checkpoint::load::<B, Mlp<B>>(dir, mlp(10), &Default::default())
            .err()
            .expect("no checkpoint to load")
            .to_string()
    };
    let e = load(tmp.path());
    assert!(
        e.contains("cannot read checkpoint manifest") && !e.contains('\n'),
        "{e}"
    );
    std::fs::write(tmp.path().join("checkpoint.json"), b"{ not json").unwrap();
    let e = load(tmp.path());
    assert!(e.contains("is corrupt") && !e.contains('\n'), "{e}");
    // A file that does not match its checksum.
    let mut sink = crate::checkpoint::FileCheckpoints::new(tmp.path())
        .unwrap()
        .stop_after_task(Some(1));
    let _ = run_once(mlp(10), "si", Some(&mut sink), None, &mut Silent).unwrap_err();
    let m = crate::checkpoint::read_manifest(tmp.path()).unwrap();
    let f = &m
        .files
        .iter()
        .find(|f| f.role == "regularizer")
        .unwrap()
        .name;
    std::fs::write(tmp.path().join(f), b"SYNREG01garbage").unwrap();
    let e = load(tmp.path());
    assert!(e.contains("SHA-256") && !e.contains('\n'), "{e}");
}

/// A linear classifier plus `sqrt(relu(a)·x₀)` on every logit: finite forward everywhere, but
/// ∂/∂a = x₀ / (2·sqrt(a·x₀)) is 0/0 = NaN on inputs whose first pixel is 0.
#[derive(Module, Debug)]
struct SqrtNet<B: Backend> {
    lin: Linear<B>,
    a: Param<Tensor<B, 1>>,
}

impl<B: Backend> Classifier<B> for SqrtNet<B> {
    fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let x0 = x.clone().slice([0..n, 0..1]);
        let a = burn::tensor::activation::relu(self.a.val()).reshape([1, 1]);
        self.lin.forward(x) + (x0 * a).sqrt()
    }
}

#[test]
fn a_nan_gradient_with_a_finite_loss_stops_the_run_naming_the_parameter_and_keeps_the_checkpoint() {
    // Task 1's images have a bright first pixel, task 2's a dark one: the NaN appears in task 2.
    let mut data = (*learnable_toy(200)).clone();
    for set in [&mut data.train, &mut data.test] {
        for i in 0..set.n {
            let v = if set.labels[i] < 2 { 120 } else { 0 };
            set.images[i * set.pixels_per_image] = v;
        }
    }
    let stream = TaskStream::benchmark(
        Benchmark::SplitMnist,
        Scenario::Task,
        Arc::new(data),
        0,
        StreamOptions {
            tasks: 2,
            ..Default::default()
        },
    );
    let dev = Default::default();
    let net = SqrtNet::<B> {
        lin: LinearConfig::new(16, 10).init(&dev),
        a: Param::from_tensor(Tensor::ones([1], &dev)),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut sink = crate::checkpoint::FileCheckpoints::new(dir.path()).unwrap();
    let mut first = Some(net);
    let mut init = || first.take().unwrap();
    let c = cfg(2);
    let e = Loop {
        init: &mut init,
        mode: Mode::Sequential,
        stream: &stream,
        regularizer: None,
        cfg: &c,
        device: &dev,
        observer: &mut Silent,
        sink: Some(&mut sink),
        hooks: Vec::new(),
    }
    .run(None)
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            TrainError::NonFiniteGradient {
                task: 2,
                epoch: 1,
                step: 1,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains("'a'") && !msg.contains('\n'), "{msg}");
    // The checkpoint written after task 1 is the latest, complete and readable.
    let m = crate::checkpoint::read_manifest(dir.path()).unwrap();
    assert_eq!((m.task, m.reason.as_str()), (1, "task"));
}

/// Trains `stream` with SI (c = `c`) once through the fused step and once through burn's
/// optimizer and the regulariser's hooks; returns both outcomes and SI snapshots.
fn fused_and_unfused(
    c: f64,
    grad: crate::regularizer::SiGrad,
    reset: bool,
) -> [(
    TrainOutcome,
    Vec<crate::regularizer::ParamImportance>,
    Vec<f32>,
); 2] {
    let stream = two_split_tasks(Scenario::Task, 200);
    let mut cfg = cfg(2);
    cfg.reset_optimizer = reset;
    [true, false].map(|on| {
        fused::set_enabled(Some(on));
        let mut si_cfg = SiConfig::new(c, 1e-3);
        si_cfg.grad = grad;
        let mut si = SynapticIntelligence::<B>::new(si_cfg);
        let (m, out) = train_stream(
            mlp(10),
            &stream,
            Some(&mut si),
            &cfg,
            &Default::default(),
            &mut Silent,
        )
        .unwrap();
        fused::set_enabled(None);
        let mut weights = Vec::new();
        crate::regularizer::walk_params::<B, _, _>(&m, None, |p, _| {
            weights.extend(p.value.into_data().to_vec::<f32>().unwrap());
            None
        });
        (out, si.snapshot(), weights)
    })
}

#[test]
fn the_fused_step_gives_the_same_numbers_as_burns_adam_and_the_hooks() {
    use crate::regularizer::SiGrad;
    for (c, grad, reset) in [
        (1.0, SiGrad::Task, true),
        (0.5, SiGrad::Total, false),
        (0.0, SiGrad::Task, true),
    ] {
        let [(fo, fs, fw), (uo, us, uw)] = fused_and_unfused(c, grad, reset);
        let first_diff = fw
            .iter()
            .zip(&uw)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(
            first_diff,
            None,
            "weights differ (c {c}, {grad:?}): {:?}",
            first_diff.map(|i| (fw[i], uw[i]))
        );
        assert_eq!(fo.accuracy_matrix, uo.accuracy_matrix);
        assert_eq!(fo.epoch_loss, uo.epoch_loss);
        assert_eq!(fo.final_penalty, uo.final_penalty);
        for (a, b) in fs.iter().zip(&us) {
            assert_eq!(a.omega, b.omega, "ω of {}", a.path);
            assert_eq!(a.importance, b.importance, "Ω of {}", a.path);
            assert_eq!(a.anchor, b.anchor, "θ̃ of {}", a.path);
        }
        // The penalty was active in task 2 (c > 0) and SI measured something.
        if c > 0.0 {
            assert!(fo.final_penalty[1] > 0.0);
        }
        assert!(fs.iter().any(|p| p.importance.iter().any(|&v| v > 0.0)));
    }
}

#[test]
fn the_fused_step_matches_with_several_penalty_terms_offline_ewc() {
    use crate::regularizer::{Consolidator, Ewc, EwcConfig, FisherEstimator};
    let stream = TaskStream::benchmark(
        Benchmark::SplitMnist,
        Scenario::Task,
        learnable_toy(300),
        0,
        StreamOptions {
            tasks: 3,
            ..Default::default()
        },
    );
    let [(fo, fw), (uo, uw)] = [true, false].map(|on| {
        fused::set_enabled(Some(on));
        let mut ewc = Consolidator::<B, Ewc<B>>::ewc(EwcConfig {
            lambda: 100.0,
            gamma: None,
            estimator: FisherEstimator::Empirical,
            samples: 20,
            seed: 0,
        });
        let (m, out) = train_stream(
            mlp(10),
            &stream,
            Some(&mut ewc),
            &cfg(2),
            &Default::default(),
            &mut Silent,
        )
        .unwrap();
        fused::set_enabled(None);
        let mut w = Vec::new();
        crate::regularizer::walk_params::<B, _, _>(&m, None, |p, _| {
            w.extend(p.value.into_data().to_vec::<f32>().unwrap());
            None
        });
        (out, w)
    });
    // Task 3 trained under two (Ω, θ*) terms: the general (not the straight-loop) update.
    assert!(fo.final_penalty[2] > 0.0, "{:?}", fo.final_penalty);
    assert!(fw.iter().zip(&uw).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert_eq!(fo.accuracy_matrix, uo.accuracy_matrix);
    assert_eq!(fo.final_penalty, uo.final_penalty);
}

/// Records what the loop reports to an observer that samples every `every` steps.
#[derive(Default)]
struct Sampler {
    every: usize,
    starts: Vec<(usize, bool)>,
    losses: Vec<f64>,
    samples: Vec<StepSample>,
}

impl Observer for Sampler {
    fn start(&mut self, at: &Position, resumed: bool) {
        self.starts.push((at.outcome.steps, resumed));
    }
    fn step(&mut self, loss: f64) -> bool {
        self.losses.push(loss);
        true
    }
    fn sample_every(&self) -> Option<usize> {
        Some(self.every)
    }
    fn sample(&mut self, s: &StepSample) {
        self.samples.push(s.clone());
    }
}

#[test]
fn samples_come_every_n_steps_change_no_number_and_resume_where_they_stopped() {
    let model = mlp(10);
    crate::regularizer::param_paths::<B, _>(&model);
    let full = run_once(model.clone(), "si", None, None, &mut Silent).unwrap();
    let mut all = Sampler {
        every: 2,
        ..Default::default()
    };
    let out = run_once(model.clone(), "si", None, None, &mut all).unwrap();
    same_numbers(&full, &out, "si sampled every 2 steps");
    assert_eq!(all.starts, [(0, false)]);
    let steps: Vec<usize> = all.samples.iter().map(|s| s.step).collect();
    assert_eq!(
        steps,
        (1..=out.steps / 2).map(|k| 2 * k).collect::<Vec<_>>()
    );
    for s in &all.samples {
        // The sampled loss is that step's; SI's penalty is there, zero on the first task only.
        assert_eq!(s.loss, all.losses[s.step - 1]);
        let p = s.penalty.expect("si has a penalty");
        assert_eq!(p == 0.0, s.step <= 9, "step {}: {p}", s.step);
    }
    // Without a regulariser there is no penalty to sample.
    let mut plain = Sampler {
        every: 4,
        ..Default::default()
    };
    run_once(model.clone(), "finetune", None, None, &mut plain).unwrap();
    assert!(!plain.samples.is_empty() && plain.samples.iter().all(|s| s.penalty.is_none()));

    // Stopped mid-epoch at step 13 and resumed: the observer hears of the position, and the
    // samples after it complete the uninterrupted run's, bit for bit.
    let tmp = tempfile::tempdir().unwrap();
    let mut sink = crate::checkpoint::FileCheckpoints::new(tmp.path()).unwrap();
    let mut stop = StopAtStep { after: 13, seen: 0 };
    let mut before = Sampler {
        every: 2,
        ..Default::default()
    };
    let mut both = Tee {
        first: &mut stop,
        second: &mut before,
    };
    assert_eq!(both.sample_every(), Some(2));
    let e = run_once(model.clone(), "si", Some(&mut sink), None, &mut both).unwrap_err();
    assert!(matches!(e, TrainError::Interrupted), "{e}");
    let fresh = MlpConfig {
        inputs: 16,
        hidden: vec![32],
        outputs: 10,
        head_init: HeadInit::Default,
        init: WeightInit::Default,
    }
    .init::<B>(&Default::default());
    let r = crate::checkpoint::load::<B, Mlp<B>>(tmp.path(), fresh.clone(), &Default::default())
        .unwrap();
    let mut after = Sampler {
        every: 2,
        ..Default::default()
    };
    let out = run_once(fresh, "si", Some(&mut sink), Some(r), &mut after).unwrap();
    same_numbers(&full, &out, "si resumed with samples");
    assert_eq!(after.starts, [(13, true)]);
    assert_eq!(after.samples.first().map(|s| s.step), Some(14));
    let joined: Vec<StepSample> = before.samples.into_iter().chain(after.samples).collect();
    assert_eq!(joined, all.samples);
}

#[test]
fn a_tee_gives_each_observer_its_own_sampling_interval() {
    let (mut a, mut b) = (
        Sampler {
            every: 4,
            ..Default::default()
        },
        Sampler {
            every: 6,
            ..Default::default()
        },
    );
    let mut both = Tee {
        first: &mut a,
        second: &mut b,
    };
    assert_eq!(both.sample_every(), Some(2));
    for step in (2..=12).step_by(2) {
        both.sample(&StepSample {
            step,
            loss: 0.0,
            penalty: None,
        });
    }
    assert!(both.step(1.0));
    let steps = |s: &Sampler| s.samples.iter().map(|s| s.step).collect::<Vec<_>>();
    assert_eq!(steps(&a), [4, 8, 12]);
    assert_eq!(steps(&b), [6, 12]);
    assert_eq!((a.losses.len(), b.losses.len()), (1, 1));
    let mut one = Tee {
        first: &mut Silent,
        second: &mut a,
    };
    assert_eq!(one.sample_every(), Some(4));
    assert!(one.step(0.5));
}
