//! The memory a run needs, estimated from its resolved configuration before anything is
//! allocated ([`estimate`]), and the memory the machine offers ([`MemoryLimit::machine`]): a
//! config too large for the machine is refused with one line ([`check`]) instead of aborting
//! on a failed allocation.
//!
//! The estimate is the largest of four phases of a run, each counted in copies of the
//! parameters (f32) plus the activations alive in it, on top of the dataset and the process's
//! own overhead: a training step (weights, gradients, Adam's two moments, the new weights, the
//! method's state), a task end (the method measuring importance), a checkpoint (the saved
//! records and the regulariser's state, on the host and encoded) and an evaluation (the
//! evaluation batch's activations). The per-phase counts were measured (peak RSS) on the MLP
//! and the CNN and err on the high side by about 10%.

use crate::backend::BackendKind;
use crate::config::RunConfig;
use crate::model::cnn_side_after;
use crate::scenario::{InputTransform, ModelKind};

/// Bytes of one f32.
const F32: u64 = 4;
/// The process beside its tensors and data: code, allocator arenas, thread stacks.
const OVERHEAD: u64 = 48 << 20;

/// What a run needs at its peak, by part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Trainable numbers of the model.
    pub parameters: u64,
    /// How many parameter-sized f32 tensors are alive at the peak (weights, gradients, Adam's
    /// moments, the method's state, checkpoint copies).
    pub copies: u64,
    /// Bytes of those tensors: `parameters × copies × 4`.
    pub parameter_bytes: u64,
    /// Bytes of activations alive at the peak (a training or an evaluation batch).
    pub activation_bytes: u64,
    /// Bytes of the dataset held in memory (u8 pixels and labels).
    pub dataset_bytes: u64,
    /// The process's own bytes beside these.
    pub overhead_bytes: u64,
}

impl MemoryEstimate {
    /// Everything, in bytes.
    pub fn total(&self) -> u64 {
        self.parameter_bytes
            .saturating_add(self.activation_bytes)
            .saturating_add(self.dataset_bytes)
            .saturating_add(self.overhead_bytes)
    }
}

/// Parameter-sized tensors a method keeps, beyond the weights, gradients and Adam's moments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct MethodCopies {
    /// Held for the whole run (importances, anchors, SI's ω).
    live: u64,
    /// Held during a training step only (SI's pre-step weights).
    step: u64,
    /// Held while importance is measured at a task end.
    task_end: u64,
    /// Tensors per parameter in a checkpoint's regulariser state.
    saved: u64,
}

impl MethodCopies {
    fn add(self, o: Self) -> Self {
        Self {
            live: self.live + o.live,
            step: self.step + o.step,
            task_end: self.task_end + o.task_end,
            saved: self.saved + o.saved,
        }
    }
}

/// SI: Ω, θ̃ and ω; the pre-step weights in a step; saves θ̃, Ω, the anchor and ω.
const SI: MethodCopies = MethodCopies {
    live: 3,
    step: 1,
    task_end: 2,
    saved: 4,
};

/// What `method` keeps over a run of `tasks` tasks; a method synaptic does not know counts as
/// SI, the one that keeps the most per step.
fn method_copies(method: &str, tasks: u64, save_importance: bool) -> MethodCopies {
    let own = match method {
        "si" => SI,
        // One (Fisher, anchor) pair per finished task; the newest anchor is the reference.
        "ewc" => MethodCopies {
            live: 2 * tasks.max(1),
            step: 0,
            task_end: 3,
            saved: 1 + 2 * tasks.max(1),
        },
        // Ω and the anchor; measuring takes a per-example gradient, a sum and the new Ω.
        "online-ewc" | "mas" => MethodCopies {
            live: 2,
            step: 0,
            task_end: 3,
            saved: 3,
        },
        "l2" => MethodCopies {
            live: 2,
            step: 0,
            task_end: 1,
            saved: 3,
        },
        // A fresh network and Adam per task, built while the old one is still held.
        "scratch" => MethodCopies {
            task_end: 3,
            ..MethodCopies::default()
        },
        "finetune" | "joint" => MethodCopies::default(),
        _ => SI,
    };
    if !save_importance {
        return own;
    }
    // A passive SI beside any other method; the Fisher, MAS and their host copies at task ends.
    let observer = if method == "si" {
        MethodCopies::default()
    } else {
        SI
    };
    own.add(observer).add(MethodCopies {
        task_end: 4,
        ..MethodCopies::default()
    })
}

/// The MLP's layer widths, input first.
fn mlp_widths(cfg: &RunConfig) -> Vec<u64> {
    let mut w = vec![cfg.data_shape().pixels() as u64];
    w.extend(cfg.hidden.iter().map(|&h| h as u64));
    w.push(outputs(cfg));
    w
}

fn outputs(cfg: &RunConfig) -> u64 {
    cfg.outputs() as u64
}

/// Parameters of the model `cfg` trains (as [`crate::model::MlpConfig`] and
/// [`crate::model::CnnConfig`] build it).
pub fn parameters(cfg: &RunConfig) -> u64 {
    match cfg.model_kind() {
        ModelKind::Mlp => mlp_widths(cfg)
            .windows(2)
            .map(|w| (w[0] + 1).saturating_mul(w[1]))
            .fold(0u64, u64::saturating_add),
        ModelKind::Cnn => {
            let (c, h, w) = cnn_input(cfg);
            let (ah, aw) = (cnn_side_after(h as usize), cnn_side_after(w as usize));
            let conv = |i: u64, o: u64| (i * 9 + 1) * o;
            conv(c, 32)
                + conv(32, 32)
                + conv(32, 64)
                + conv(64, 64)
                + (64 * (ah * aw) as u64 + 1) * 512
                + 513 * outputs(cfg)
        }
    }
}

/// The CNN's input channels, height and width, from the data's shape.
fn cnn_input(cfg: &RunConfig) -> (u64, u64, u64) {
    let s = cfg.data_shape();
    (s.channels as u64, s.rows as u64, s.cols as u64)
}

/// f32 values per example alive in the forward pass of the CNN (inputs, every layer's output
/// and ReLU, the pools with their indices, the dropout masks).
fn cnn_forward_values(cfg: &RunConfig) -> u64 {
    let (c, h, w) = cnn_input(cfg);
    // Feature-map sides after the valid convolution and pool of each block.
    let valid = |s: u64| s.saturating_sub(2);
    let (ph, pw) = (valid(h) / 2, valid(w) / 2);
    let (qh, qw) = (valid(ph) / 2, valid(pw) / 2);
    let a1 = 32 * h * w;
    let a2 = 32 * valid(h) * valid(w);
    let p1 = 32 * ph * pw;
    let a3 = 64 * ph * pw;
    let a4 = 64 * valid(ph) * valid(pw);
    let p2 = 64 * qh * qw;
    c * h * w + 2 * (a1 + a2 + a3 + a4) + 3 * (p1 + p2 + 512) + outputs(cfg)
}

/// Bytes of activations of one training batch and of one evaluation batch.
fn activations(cfg: &RunConfig) -> (u64, u64) {
    let limit = |n: usize, cap: usize| if cap > 0 { n.min(cap) } else { n } as u64;
    let batch = limit(cfg.train.batch_size, cfg.train_limit);
    let eval_batch = limit(cfg.train.eval_batch_size, cfg.test_limit);
    let (train, eval) = match cfg.model_kind() {
        ModelKind::Mlp => {
            let w = mlp_widths(cfg);
            let (inputs, out) = (w[0], w[w.len() - 1]);
            let hidden: u64 = w[1..w.len() - 1].iter().sum();
            // Forward and backward: a layer's output, its ReLU and their gradients; the
            // softmax and its gradient at the head.
            (inputs + 3 * hidden + 8 * out, inputs + 2 * hidden + 3 * out)
        }
        ModelKind::Cnn => {
            let f = cnn_forward_values(cfg);
            // Measured (peak RSS against batch size): training holds 1.28× the forward values
            // per example (gradients replace activations as the backward pass goes),
            // evaluation 0.52× (each layer's input is freed once used); counted with a margin.
            (f + f / 2, 3 * f / 5)
        }
    };
    (
        batch.saturating_mul(train).saturating_mul(F32),
        eval_batch.saturating_mul(eval).saturating_mul(F32),
    )
}

/// Bytes of the dataset in memory (u8 pixels and a label per example), at the size its shape
/// gives, plus the rotated copies each rotated task keeps of the examples it uses (every
/// training and test example of its classes, at most the limits).
fn dataset_bytes(cfg: &RunConfig) -> u64 {
    let s = cfg.data_shape();
    let pixels = s.pixels() as u64;
    let data = (s.train + s.test) as u64 * (pixels + 1);
    let Ok(protocol) = cfg.protocol() else {
        return data;
    };
    let cap = |n: usize, limit: usize| if limit > 0 { n.min(limit) } else { n } as u64;
    let per_label = |n: usize| n.div_ceil(s.labels.max(1));
    let copies: u64 = (protocol.tasks.iter().take(cfg.tasks))
        .filter(|t| matches!(t.input, InputTransform::Rotate(a) if a.rem_euclid(360.0) != 0.0))
        .map(|t| {
            let k = t.classes.len();
            let eval = match cfg.eval_on {
                crate::scenario::EvalOn::Test => cap(per_label(s.test) * k, cfg.test_limit),
                _ => cap(per_label(s.train) * k, cfg.test_limit),
            };
            (cap(per_label(s.train) * k, cfg.train_limit) + eval) * pixels
        })
        .fold(0, u64::saturating_add);
    data.saturating_add(copies)
}

/// The memory `cfg` needs at its peak, with the benchmark's dataset at its published size.
pub fn estimate(cfg: &RunConfig) -> MemoryEstimate {
    let p = parameters(cfg);
    let m = method_copies(cfg.method.name(), cfg.tasks as u64, cfg.save_importance);
    let (train_act, eval_act) = activations(cfg);
    // Weights and Adam's two moments are always there.
    let base = 3 + m.live;
    let phases = [
        // Gradients, and the new weights (or the penalised gradient) in the step.
        (base + 2 + m.step, train_act),
        (base + m.task_end, 0),
        // The regulariser's state on the host, the model's and Adam's encoded records with
        // Adam's record copied while it is encoded, then the regulariser's encoded state.
        (base + m.saved + 3 + m.saved.max(2), 0),
        (base, eval_act),
    ];
    let bytes = |(copies, act): (u64, u64)| {
        p.saturating_mul(copies)
            .saturating_mul(F32)
            .saturating_add(act)
    };
    let (copies, act) = phases
        .into_iter()
        .max_by_key(|&ph| bytes(ph))
        .expect("four phases");
    MemoryEstimate {
        parameters: p,
        copies,
        parameter_bytes: p.saturating_mul(copies).saturating_mul(F32),
        activation_bytes: act,
        dataset_bytes: dataset_bytes(cfg),
        overhead_bytes: OVERHEAD,
    }
}

/// Where a memory limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitSource {
    /// Given by the user.
    Given,
    /// `MemAvailable` of `/proc/meminfo`.
    Available,
    /// `MemTotal` of `/proc/meminfo` (a kernel without `MemAvailable`).
    Total,
    /// The cgroup's `memory.max` less its `memory.current`.
    Cgroup,
}

/// The most memory a run may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Bytes.
    pub bytes: u64,
    /// Where the number comes from.
    pub source: LimitSource,
}

impl MemoryLimit {
    /// A limit the user gave.
    pub fn given(bytes: u64) -> Self {
        Self {
            bytes,
            source: LimitSource::Given,
        }
    }

    /// What this machine (or the cgroup the process runs in) has available now; `None` where
    /// that cannot be read (not Linux).
    pub fn machine() -> Option<Self> {
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
        let from_meminfo = meminfo.as_deref().and_then(parse_meminfo);
        let cgroup = cgroup_room(
            std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok(),
            std::fs::read_to_string("/sys/fs/cgroup/memory.current").ok(),
        );
        match (from_meminfo, cgroup) {
            (Some(m), Some(c)) if c < m.bytes => Some(Self {
                bytes: c,
                source: LimitSource::Cgroup,
            }),
            (Some(m), _) => Some(m),
            (None, Some(c)) => Some(Self {
                bytes: c,
                source: LimitSource::Cgroup,
            }),
            (None, None) => None,
        }
    }
}

/// `MemAvailable` (else `MemTotal`) of a `/proc/meminfo` text.
fn parse_meminfo(text: &str) -> Option<MemoryLimit> {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let rest = l.strip_prefix(name)?.strip_prefix(':')?;
            let kb: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
            Some(kb.saturating_mul(1024))
        })
    };
    field("MemAvailable")
        .map(|bytes| MemoryLimit {
            bytes,
            source: LimitSource::Available,
        })
        .or_else(|| {
            field("MemTotal").map(|bytes| MemoryLimit {
                bytes,
                source: LimitSource::Total,
            })
        })
}

/// Room left under a cgroup v2 `memory.max` (`max`: no limit).
fn cgroup_room(max: Option<String>, current: Option<String>) -> Option<u64> {
    let max: u64 = max?.trim().parse().ok()?;
    let current: u64 = current.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
    Some(max.saturating_sub(current))
}

/// A run that would not fit in memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: lower {}, or raise the limit",
    self.problem(), if *.model == ModelKind::Cnn { "batch_size" } else { "hidden or batch_size" }
)]
pub struct TooLarge {
    /// The estimate.
    pub estimate: MemoryEstimate,
    /// The limit it exceeds.
    pub limit: MemoryLimit,
    /// The model (the CNN's widths are fixed, the MLP's are a setting).
    pub model: ModelKind,
}

impl TooLarge {
    /// The message without its remedy: the estimate, what it is made of, and the limit.
    pub fn problem(&self) -> String {
        format!(
            "this run needs about {} of memory ({}), more than the {} {}",
            human(self.estimate.total()),
            breakdown(&self.estimate),
            human(self.limit.bytes),
            limit_phrase(self.limit.source)
        )
    }
}

/// What the estimate is made of, in a few words.
pub fn breakdown(e: &MemoryEstimate) -> String {
    let activations = match e.activation_bytes {
        0 => String::new(),
        b => format!("; activations {}", human(b)),
    };
    format!(
        "{} parameters held {} times over: {}{activations}; data {}",
        group_digits(e.parameters),
        e.copies,
        human(e.parameter_bytes),
        human(e.dataset_bytes)
    )
}

/// How a limit's source reads after its size.
pub fn limit_phrase(source: LimitSource) -> &'static str {
    match source {
        LimitSource::Given => "limit given",
        LimitSource::Available => "available on this machine (MemAvailable)",
        LimitSource::Total => "this machine has (MemTotal)",
        LimitSource::Cgroup => "left under this process's cgroup memory.max",
    }
}

/// Refuses `cfg` if its estimate exceeds `limit`.
pub fn check(cfg: &RunConfig, limit: &MemoryLimit) -> Result<MemoryEstimate, TooLarge> {
    let estimate = estimate(cfg);
    if estimate.total() > limit.bytes {
        return Err(TooLarge {
            estimate,
            limit: *limit,
            model: cfg.model_kind(),
        });
    }
    Ok(estimate)
}

/// The limit to hold `cfg` to: `given`, else (on the CPU, whose memory is the machine's) what
/// the machine has available; `None`: nothing to check against.
pub fn limit_for(cfg: &RunConfig, given: Option<u64>) -> Option<MemoryLimit> {
    match given {
        Some(b) => Some(MemoryLimit::given(b)),
        // A GPU's memory is not in /proc/meminfo.
        None if cfg.backend == BackendKind::Cpu => MemoryLimit::machine(),
        None => None,
    }
}

/// A byte count in binary units, three significant digits: `17.4 GiB`, `850 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else if v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else if v >= 10.0 {
        format!("{v:.1} {}", UNITS[unit])
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

/// `1234567` as `1,234,567`.
fn group_digits(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Parses a memory size: a number with an optional binary unit, `K`, `M`, `G` or `T` (also
/// written `KB`/`KiB`, any case), e.g. `8G`, `1.5G`, `512M`, `1073741824`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (num, shift) = match body.chars().last() {
        Some('k') => (&body[..body.len() - 1], 10),
        Some('m') => (&body[..body.len() - 1], 20),
        Some('g') => (&body[..body.len() - 1], 30),
        Some('t') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    let bad = || format!("'{t}' is not a memory size: write e.g. 8G, 1.5G or 512M");
    let v: f64 = num.trim().parse().map_err(|_| bad())?;
    let bytes = v * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RunConfig, Settings};
    use crate::model::{CnnConfig, HeadInit, MlpConfig};
    use burn::module::Module;

    type B = crate::backend::Cpu;

    fn cfg(pairs: &[(&str, serde_json::Value)]) -> RunConfig {
        let mut s = Settings::new();
        for (k, v) in pairs {
            s.insert((*k).into(), v.clone());
        }
        RunConfig::resolve(None, &s).unwrap()
    }

    #[test]
    fn a_small_mlp_counts_as_by_hand() {
        use serde_json::json;
        // 784-100-10, finetune, batch 64, evaluation batch 1000 (capped by 500 test examples).
        let c = cfg(&[
            ("benchmark", json!("split-mnist")),
            ("method", json!("finetune")),
            ("hidden", json!([100])),
            ("batch_size", json!(64)),
            ("test_limit", json!(500)),
        ]);
        let p = 785 * 100 + 101 * 10;
        assert_eq!(parameters(&c), p);
        let built = MlpConfig {
            inputs: 784,
            hidden: vec![100],
            outputs: 10,
            head_init: HeadInit::Default,
            init: crate::model::WeightInit::Default,
        }
        .init::<B>(&Default::default());
        assert_eq!(built.num_params() as u64, p);
        let e = estimate(&c);
        // Phases, in copies of the parameters + activation bytes:
        let train = (3 + 2) * p * 4 + 64 * (784 + 3 * 100 + 8 * 10) * 4;
        let checkpoint = (3 + 3 + 2) * p * 4;
        let eval = 3 * p * 4 + 500 * (784 + 2 * 100 + 3 * 10) * 4;
        assert_eq!(train, 1_888_184);
        assert_eq!(checkpoint, 2_544_320);
        assert_eq!(eval, 2_982_120);
        assert_eq!(e.parameter_bytes + e.activation_bytes, eval);
        assert_eq!(e.copies, 3);
        assert_eq!(e.dataset_bytes, 70_000 * 785);
        assert_eq!(e.total(), eval + 70_000 * 785 + (48 << 20));
    }

    #[test]
    fn si_holds_its_state_and_ewc_a_pair_per_task() {
        use serde_json::json;
        let c = |m: &str| {
            cfg(&[
                ("benchmark", json!("permuted-mnist")),
                ("method", json!(m)),
                ("hidden", json!([1000])),
                ("tasks", json!(3)),
            ])
        };
        let p = 785 * 1000 + 1001 * 10;
        for (m, copies) in [
            // checkpoint: weights + Adam (3), Ω θ̃ ω (3), saved 4 on the host, records 3, saved 4 encoded
            ("si", 3 + 3 + 4 + 3 + 4),
            // 3 tasks: 6 live, 7 saved twice
            ("ewc", 3 + 6 + 7 + 3 + 7),
            ("online-ewc", 3 + 2 + 3 + 3 + 3),
            ("finetune", 3 + 3 + 2),
        ] {
            let e = estimate(&c(m));
            assert_eq!((e.parameters, e.copies), (p, copies), "{m}");
            assert_eq!(e.activation_bytes, 0, "{m}: the checkpoint is the peak");
        }
    }

    #[test]
    fn the_cnn_counts_as_by_hand_and_as_built() {
        use serde_json::json;
        let c = cfg(&[("benchmark", json!("split-cifar")), ("method", json!("si"))]);
        // The README's count for the 60-unit head.
        assert_eq!(parameters(&c), 1_276_508);
        let built = CnnConfig {
            channels: 3,
            height: 32,
            width: 32,
            outputs: 60,
            head_init: HeadInit::Default,
            init: crate::model::WeightInit::Default,
        }
        .init::<B>(&Default::default());
        assert_eq!(built.num_params(), 1_276_508);
        // Forward values per example: input 3072; conv1 32·32·32 and conv2 32·30·30, conv3
        // 64·15·15 and conv4 64·13·13, each with its ReLU; pools 32·15·15, 64·6·6 and the dense
        // 512, each with a dropout mask and output; 60 logits.
        let f = 3072 + 2 * (32768 + 28800 + 14400 + 10816) + 3 * (7200 + 2304 + 512) + 60;
        assert_eq!(cnn_forward_values(&c), f);
        let e = estimate(&c);
        assert_eq!(f, 206_748);
        // Evaluating 1000 images is the peak: 3 + 3 copies and 0.6 of the forward values each.
        assert_eq!(e.copies, 6);
        assert_eq!(e.activation_bytes, 1000 * (3 * f / 5) * 4);
        assert_eq!(e.dataset_bytes, 120_000 * 3073);
        let c10 = cfg(&[("benchmark", json!("split-cifar10"))]);
        assert_eq!(parameters(&c10), 1_276_508 - 50 * 513);
    }

    #[test]
    fn networks_and_data_follow_the_shape_of_the_data() {
        use serde_json::json;
        // The CNN on grey 28x28 digits: 1 channel, feature maps 5x5 before the dense layer.
        let c = cfg(&[("benchmark", json!("split-mnist")), ("model", json!("cnn"))]);
        assert!(c.hidden.is_empty());
        let built = CnnConfig {
            channels: 1,
            height: 28,
            width: 28,
            outputs: 10,
            head_init: HeadInit::Default,
            init: crate::model::WeightInit::Default,
        }
        .init::<B>(&Default::default());
        assert_eq!(parameters(&c), built.num_params() as u64);
        assert_eq!(
            parameters(&c),
            320 + 9248 + 18496 + 36928 + (64 * 25 + 1) * 512 + 513 * 10
        );
        // Input 784; conv1 32·28·28, conv2 32·26·26, conv3 64·13·13, conv4 64·11·11 with their
        // ReLUs; pools 32·13·13 and 64·5·5, the dense 512, each with mask and output; 10 logits.
        let f = 784 + 2 * (25088 + 21632 + 10816 + 7744) + 3 * (5408 + 1600 + 512) + 10;
        assert_eq!(cnn_forward_values(&c), f);
        // The MLP on CIFAR's 3x32x32 inputs, split MNIST's widths unless given.
        let m = cfg(&[
            ("benchmark", json!("split-cifar10")),
            ("model", json!("mlp")),
        ]);
        assert_eq!(m.hidden, [256, 256]);
        assert_eq!(parameters(&m), 3073 * 256 + 257 * 256 + 257 * 10);
        assert_eq!(m.step_flops(), 6.0 * 256.0 * parameters(&m) as f64);
        // Rotated tasks hold rotated copies of their examples: 9 turned tasks (the first is
        // 0°), each with at most 100 training and 50 test images.
        let r = cfg(&[
            ("benchmark", json!("rotated-mnist")),
            ("train_limit", json!(100)),
            ("test_limit", json!(50)),
        ]);
        assert_eq!(estimate(&r).dataset_bytes, 70_000 * 785 + 9 * 150 * 784);
        let r3 = cfg(&[("benchmark", json!("rotated-mnist")), ("tasks", json!(3))]);
        assert_eq!(estimate(&r3).dataset_bytes, 70_000 * 785 + 2 * 70_000 * 784);
    }

    #[test]
    fn the_papers_protocols_fit_a_24_gb_machine_and_65536_wide_layers_do_not() {
        use serde_json::json;
        let gib = 1u64 << 30;
        let machine = MemoryLimit::given(24 * gib);
        let permuted = cfg(&[
            ("benchmark", json!("permuted-mnist")),
            ("method", json!("si")),
        ]);
        assert_eq!(permuted.hidden, [2000, 2000]);
        let e = check(&permuted, &machine).unwrap();
        // Measured peak 311-494 MB; the estimate stays near it.
        assert!(e.total() < gib, "{e:?}");
        for m in ["si", "ewc", "scratch"] {
            let cifar = cfg(&[("benchmark", json!("split-cifar")), ("method", json!(m))]);
            let e = check(&cifar, &machine).unwrap();
            // Measured peak 0.85 GB (one task, one epoch).
            assert!(e.total() < 2 * gib, "{m}: {e:?}");
        }
        let wide = cfg(&[
            ("benchmark", json!("split-mnist")),
            ("hidden", json!([65536, 65536])),
        ]);
        let err = check(&wide, &machine).unwrap_err();
        // One copy of the weights alone is 17 GB.
        assert!(err.estimate.parameter_bytes > 100 * gib, "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("this run needs about ") && msg.contains("4,347,"),
            "{msg}"
        );
        assert!(msg.contains("more than the 24.0 GiB limit given"), "{msg}");
        assert!(!msg.contains('\n'));
    }

    #[test]
    fn sizes_parse_in_binary_units() {
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("8gib"), Ok(8 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2kB"), Ok(2048));
        assert_eq!(parse_size("1000"), Ok(1000));
        for bad in ["", "G", "-1G", "0", "nanG", "8X", "1e30T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(human(17 << 30), "17.0 GiB");
        assert_eq!(human(850 << 20), "850 MiB");
        assert_eq!(human(3 << 29), "1.50 GiB");
        assert_eq!(human(12), "12 bytes");
        assert_eq!(group_digits(4_347_000_000), "4,347,000,000");
        assert_eq!(group_digits(999), "999");
    }

    #[test]
    fn the_machine_limit_reads_meminfo_and_the_cgroup() {
        let text = "MemTotal:       24683568 kB\nMemFree:         6427472 kB\nMemAvailable:   22312972 kB\n";
        let l = parse_meminfo(text).unwrap();
        assert_eq!(
            (l.bytes, l.source),
            (22_312_972 * 1024, LimitSource::Available)
        );
        let l = parse_meminfo("MemTotal: 1000 kB\n").unwrap();
        assert_eq!((l.bytes, l.source), (1_024_000, LimitSource::Total));
        assert_eq!(parse_meminfo("nothing"), None);
        assert_eq!(
            cgroup_room(Some("1000\n".into()), Some("400\n".into())),
            Some(600)
        );
        assert_eq!(cgroup_room(Some("max\n".into()), Some("400".into())), None);
        assert_eq!(cgroup_room(None, None), None);
    }
}
