//! A run's full configuration: benchmark defaults (the paper's protocol), overridden by a TOML file, then by
//! command-line flags; validated before any work starts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::model::HeadInit;
use crate::regularizer::{FisherEstimator, SiClamp, SiGrad};
use crate::scenario::{Benchmark, EvalOn, ModelKind, Scenario};
use crate::train::{Mode, TrainConfig};

pub mod preset;

/// Training method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Synaptic Intelligence.
    Si,
    /// Elastic weight consolidation, one penalty per past task.
    Ewc,
    /// Online EWC: one decayed Fisher, one anchor.
    OnlineEwc,
    /// Memory aware synapses.
    Mas,
    /// Plain L2 pull toward the last task's weights.
    L2,
    /// Plain sequential training (no penalty).
    Finetune,
    /// Training on the union of the tasks seen so far (upper bound).
    Joint,
    /// A fresh network for each task.
    Scratch,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Method::ALL
            .iter()
            .copied()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                format!("unknown method '{s}': use one of {}", names.join(", "))
            })
    }
}

impl Method {
    /// Every method, in the order tables list them.
    pub const ALL: [Method; 8] = [
        Self::Si,
        Self::Ewc,
        Self::OnlineEwc,
        Self::Mas,
        Self::L2,
        Self::Finetune,
        Self::Joint,
        Self::Scratch,
    ];

    /// Name as used on the command line and in result files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Si => "si",
            Self::Ewc => "ewc",
            Self::OnlineEwc => "online-ewc",
            Self::Mas => "mas",
            Self::L2 => "l2",
            Self::Finetune => "finetune",
            Self::Joint => "joint",
            Self::Scratch => "scratch",
        }
    }

    /// How the trainer walks the tasks for this method.
    pub fn mode(self) -> Mode {
        match self {
            Self::Joint => Mode::Joint,
            Self::Scratch => Mode::Scratch,
            _ => Mode::Sequential,
        }
    }

    /// Whether the method has a penalty (and so a strength, and `--exclude`).
    pub fn regularized(self) -> bool {
        matches!(
            self,
            Self::Si | Self::Ewc | Self::OnlineEwc | Self::Mas | Self::L2
        )
    }

    /// Whether the method's strength is λ (`--lambda`) rather than SI's c.
    pub fn uses_lambda(self) -> bool {
        matches!(self, Self::Ewc | Self::OnlineEwc | Self::Mas | Self::L2)
    }
}

/// Options that belong to some methods only: (option, methods it applies to, what it is).
const METHOD_OPTIONS: &[(&str, &[Method], &str)] = &[
    ("c", &[Method::Si], "SI's strength; the others use --lambda"),
    ("xi", &[Method::Si], "SI's damping"),
    ("si-grad", &[Method::Si], "an SI switch"),
    ("si-clamp", &[Method::Si], "an SI switch"),
    ("si-half", &[Method::Si], "an SI switch"),
    ("si-cap", &[Method::Si], "an SI switch"),
    (
        "lambda",
        &[Method::Ewc, Method::OnlineEwc, Method::Mas, Method::L2],
        "the strength of ewc, online-ewc, mas and l2; SI's is --c",
    ),
    ("gamma", &[Method::OnlineEwc], "online EWC's decay"),
    (
        "fisher",
        &[Method::Ewc, Method::OnlineEwc],
        "EWC's Fisher estimator",
    ),
    (
        "fisher-samples",
        &[Method::Ewc, Method::OnlineEwc, Method::Mas],
        "the examples EWC's Fisher and MAS's importance are measured on",
    ),
    (
        "exclude",
        &[
            Method::Si,
            Method::Ewc,
            Method::OnlineEwc,
            Method::Mas,
            Method::L2,
        ],
        "parameters left out of the penalty",
    ),
];

/// Every setting of a run, fully resolved; recorded verbatim in `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Benchmark task stream.
    pub benchmark: Benchmark,
    /// Continual-learning scenario.
    pub scenario: Scenario,
    /// Training method.
    pub method: Method,
    /// Where the method's hyperparameters came from: a shipped preset name, a file, or "none".
    pub preset: String,
    /// SI strength c (0 for the other methods).
    pub c: f64,
    /// SI damping ξ.
    pub xi: f64,
    /// SI: gradient in the path integral ω (task = the paper).
    pub si_grad: SiGrad,
    /// SI: lower clamp on Ω (relu = the official code).
    pub si_clamp: SiClamp,
    /// SI: penalty (c/2)·ΣΩ(θ−θ̃)² instead of c·ΣΩ(θ−θ̃)².
    pub si_half: bool,
    /// SI: upper cap on Ω (none = the paper).
    pub si_cap: Option<f64>,
    /// Strength λ of EWC, online EWC, MAS and L2 (0 for the other methods).
    pub lambda: f64,
    /// Online EWC's decay γ of the old Fisher.
    pub gamma: f64,
    /// EWC's Fisher estimator.
    pub fisher: FisherEstimator,
    /// Examples per task for EWC's Fisher and MAS's importance.
    pub fisher_samples: usize,
    /// Globs over parameter paths left out of the penalty (e.g. `layers.2.*`, the head).
    pub exclude: Vec<String>,
    /// Optimisation: epochs, batch size, Adam, reset, seed (flattened into the same table).
    #[serde(flatten)]
    pub train: TrainConfig,
    /// Number of tasks run (the benchmark's full count unless limited).
    pub tasks: usize,
    /// Training examples per task (0: all).
    pub train_limit: usize,
    /// Evaluation examples per task (0: all).
    pub test_limit: usize,
    /// Split the accuracy matrix is measured on.
    pub eval_on: EvalOn,
    /// Hidden layer widths of the MLP.
    pub hidden: Vec<usize>,
    /// Output-layer initialisation.
    pub head_init: HeadInit,
    /// Compute backend.
    pub backend: BackendKind,
    /// CPU threads (0: one per core).
    pub threads: usize,
    /// `run --save-importance`: SI's importance, the Fisher and MAS's importance saved at the
    /// end of every task under `OUT/importance/` (no effect on training).
    #[serde(default)]
    pub save_importance: bool,
}

/// Overrides from a TOML file or the command line; absent fields keep the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Overrides {
    pub benchmark: Option<String>,
    pub scenario: Option<String>,
    pub method: Option<String>,
    pub preset: Option<String>,
    pub c: Option<f64>,
    pub xi: Option<f64>,
    pub si_grad: Option<String>,
    pub si_clamp: Option<String>,
    pub si_half: Option<bool>,
    pub si_cap: Option<f64>,
    pub lambda: Option<f64>,
    pub gamma: Option<f64>,
    pub fisher: Option<String>,
    pub fisher_samples: Option<usize>,
    pub exclude: Option<Vec<String>>,
    pub epochs: Option<usize>,
    pub batch_size: Option<usize>,
    pub lr: Option<f64>,
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    pub epsilon: Option<f64>,
    pub reset_optimizer: Option<bool>,
    pub seed: Option<u64>,
    pub tasks: Option<usize>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub eval_on: Option<String>,
    pub hidden: Option<Vec<usize>>,
    pub head_init: Option<String>,
    pub backend: Option<String>,
    pub threads: Option<usize>,
    pub eval_batch_size: Option<usize>,
}

/// A configuration problem, reported as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError(msg.into())
}

impl Overrides {
    /// The method-specific options set here, by command-line name.
    fn method_options(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let set: [(&'static str, bool); 11] = [
            ("c", self.c.is_some()),
            ("xi", self.xi.is_some()),
            ("si-grad", self.si_grad.is_some()),
            ("si-clamp", self.si_clamp.is_some()),
            ("si-half", self.si_half.is_some()),
            ("si-cap", self.si_cap.is_some()),
            ("lambda", self.lambda.is_some()),
            ("gamma", self.gamma.is_some()),
            ("fisher", self.fisher.is_some()),
            ("fisher-samples", self.fisher_samples.is_some()),
            ("exclude", self.exclude.is_some()),
        ];
        for (name, on) in set {
            if on {
                v.push(name);
            }
        }
        v
    }

    /// Clears the method-specific options that do not apply to `method`.
    pub fn drop_foreign(&mut self, method: Method) {
        for name in self.method_options() {
            if !applies(name, method) {
                match name {
                    "c" => self.c = None,
                    "xi" => self.xi = None,
                    "si-grad" => self.si_grad = None,
                    "si-clamp" => self.si_clamp = None,
                    "si-half" => self.si_half = None,
                    "si-cap" => self.si_cap = None,
                    "lambda" => self.lambda = None,
                    "gamma" => self.gamma = None,
                    "fisher" => self.fisher = None,
                    "fisher-samples" => self.fisher_samples = None,
                    _ => self.exclude = None,
                }
            }
        }
    }
}

fn applies(option: &str, method: Method) -> bool {
    METHOD_OPTIONS
        .iter()
        .find(|(n, _, _)| *n == option)
        .is_none_or(|(_, ms, _)| ms.contains(&method))
}

/// Errors out on an option that `method` does not use, naming what the option is for.
fn check_applicable(o: &Overrides, method: Method, source: &str) -> Result<(), ConfigError> {
    for name in o.method_options() {
        if !applies(name, method) {
            let (_, ms, what) = METHOD_OPTIONS.iter().find(|(n, _, _)| *n == name).unwrap();
            let users: Vec<&str> = ms.iter().map(|m| m.name()).collect();
            return Err(bad(format!(
                "--{name} ({source}) has no effect with --method {}: it is {what} (used by {})",
                method.name(),
                users.join(", ")
            )));
        }
    }
    Ok(())
}

impl RunConfig {
    /// Floating-point operations of one training step, roughly (6 × batch × weights for the
    /// MLP: forward, and backward for activations and weights); infinite for the CNN, whose
    /// convolutions always carry enough work to split.
    pub fn step_flops(&self) -> f64 {
        if self.benchmark.model() == ModelKind::Cnn {
            return f64::INFINITY;
        }
        // 28x28 images; the 10-unit head of the MNIST benchmarks.
        let mut sizes = vec![784usize];
        sizes.extend(&self.hidden);
        sizes.push(10);
        let weights: usize = sizes.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
        6.0 * self.train.batch_size as f64 * weights as f64
    }

    /// The CPU threads this run computes with (see [`crate::backend::compute_threads`]).
    pub fn compute_threads(&self) -> usize {
        crate::backend::compute_threads(self.threads, self.step_flops())
    }

    /// The paper's protocol for `benchmark` with `method` (hyperparameters and network), before any preset.
    pub fn defaults(benchmark: Benchmark, method: Method) -> Self {
        let (c, xi, epochs, batch, hidden, reset) = match benchmark {
            Benchmark::SplitMnist | Benchmark::SplitFashionMnist => {
                (1.0, 1e-3, 10, 64, vec![256, 256], true)
            }
            Benchmark::PermutedMnist | Benchmark::PermutedFashionMnist => {
                (0.1, 0.1, 20, 256, vec![2000, 2000], false)
            }
            // The CNN has no hidden-width setting.
            Benchmark::SplitCifar10 | Benchmark::SplitCifar => (0.1, 1e-3, 60, 256, vec![], true),
        };
        RunConfig {
            benchmark,
            scenario: benchmark.default_scenario(),
            method,
            preset: "none".into(),
            c: if method == Method::Si { c } else { 0.0 },
            xi,
            si_grad: SiGrad::Task,
            si_clamp: SiClamp::Relu,
            si_half: false,
            si_cap: None,
            lambda: if method.uses_lambda() { 1.0 } else { 0.0 },
            gamma: 1.0,
            fisher: FisherEstimator::Exact,
            fisher_samples: if benchmark.permuted() || benchmark.model() == ModelKind::Cnn {
                500
            } else {
                1000
            },
            exclude: Vec::new(),
            train: TrainConfig {
                epochs,
                batch_size: batch,
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                // PyTorch's default, which the peer uses (burn's own default is 1e-5).
                epsilon: 1e-8,
                reset_optimizer: reset,
                seed: 0,
                eval_batch_size: 1000,
            },
            tasks: benchmark.full_tasks(),
            train_limit: 0,
            test_limit: 0,
            eval_on: EvalOn::Test,
            hidden,
            head_init: HeadInit::Default,
            backend: BackendKind::Cpu,
            threads: 0,
            save_importance: false,
        }
    }

    /// Resolves defaults ← preset ← `file` ← `flags` and validates the result. Options of other
    /// methods are errors.
    pub fn resolve(file: Option<&Overrides>, flags: &Overrides) -> Result<Self, ConfigError> {
        Self::resolve_with(file, flags, true)
    }

    /// As [`RunConfig::resolve`]; with `strict` false, options that do not apply to the method
    /// are ignored instead (`compare` passes one set of flags to several methods).
    pub fn resolve_with(
        file: Option<&Overrides>,
        flags: &Overrides,
        strict: bool,
    ) -> Result<Self, ConfigError> {
        let pick = |f: fn(&Overrides) -> Option<String>| f(flags).or_else(|| file.and_then(f));
        let benchmark: Benchmark = pick(|o| o.benchmark.clone())
            .ok_or_else(|| {
                bad("no benchmark given: pass --benchmark split-mnist, permuted-mnist, split-cifar, …")
            })?
            .parse()
            .map_err(bad)?;
        let method: Method = pick(|o| o.method.clone())
            .unwrap_or_else(|| "si".into())
            .parse()
            .map_err(bad)?;
        let preset_name = pick(|o| o.preset.clone()).unwrap_or_else(|| preset::DEFAULT.into());
        let preset = preset::load(&preset_name, benchmark, method)?;
        let mut cfg = Self::defaults(benchmark, method);
        cfg.preset = preset_name;
        let mut sources: Vec<(Overrides, &str)> = Vec::new();
        if let Some(p) = preset {
            check_applicable(&p, method, "from the preset")?;
            sources.push((p, "preset"));
        }
        for (o, source) in [
            (file, "in the config file"),
            (Some(flags), "on the command line"),
        ] {
            let Some(o) = o else { continue };
            let mut o = o.clone();
            if strict {
                check_applicable(&o, method, source)?;
            } else {
                o.drop_foreign(method);
            }
            sources.push((o, source));
        }
        for (o, _) in &sources {
            cfg.apply(o)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn apply(&mut self, o: &Overrides) -> Result<(), ConfigError> {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = o.$f.clone() { self.$f = v; } )* };
        }
        macro_rules! set_train {
            ($($f:ident),*) => { $( if let Some(v) = o.$f.clone() { self.train.$f = v; } )* };
        }
        set!(
            c,
            xi,
            si_half,
            lambda,
            gamma,
            fisher_samples,
            exclude,
            train_limit,
            test_limit,
            hidden,
            threads
        );
        if let Some(v) = o.si_cap {
            self.si_cap = Some(v);
        }
        set_train!(
            epochs,
            batch_size,
            lr,
            beta1,
            beta2,
            epsilon,
            reset_optimizer,
            seed
        );
        set_train!(eval_batch_size);
        if let Some(t) = o.tasks {
            self.tasks = t;
        }
        if let Some(s) = &o.scenario {
            self.scenario = s.parse().map_err(bad)?;
        }
        if let Some(s) = &o.si_grad {
            self.si_grad = s.parse().map_err(bad)?;
        }
        if let Some(s) = &o.si_clamp {
            self.si_clamp = s.parse().map_err(bad)?;
        }
        if let Some(s) = &o.fisher {
            self.fisher = s.parse().map_err(bad)?;
        }
        if let Some(s) = &o.eval_on {
            self.eval_on = s.parse().map_err(bad)?;
        }
        if let Some(s) = &o.head_init {
            self.head_init = s.parse().map_err(bad)?;
        }
        if let Some(s) = &o.backend {
            self.backend = s.parse().map_err(bad)?;
        }
        Ok(())
    }

    /// The method's hyperparameters in one short phrase, e.g. `c=1 ξ=0.001` (for logs).
    pub fn method_summary(&self) -> String {
        let mut s = match self.method {
            Method::Si => {
                let mut s = format!("c={} ξ={}", self.c, self.xi);
                if self.si_grad != SiGrad::Task {
                    s += " si-grad=total";
                }
                if self.si_clamp != SiClamp::Relu {
                    s += " si-clamp=none";
                }
                if self.si_half {
                    s += " si-half";
                }
                if let Some(cap) = self.si_cap {
                    s += &format!(" si-cap={cap}");
                }
                s
            }
            Method::Ewc | Method::OnlineEwc => {
                let mut s = format!(
                    "λ={} fisher={:?}×{}",
                    self.lambda, self.fisher, self.fisher_samples
                )
                .to_lowercase();
                if self.method == Method::OnlineEwc {
                    s += &format!(" γ={}", self.gamma);
                }
                s
            }
            Method::Mas => format!("λ={} samples={}", self.lambda, self.fisher_samples),
            Method::L2 => format!("λ={}", self.lambda),
            Method::Finetune | Method::Joint | Method::Scratch => String::new(),
        };
        if !self.exclude.is_empty() {
            s += &format!(" exclude={}", self.exclude.join(","));
        }
        if self.method.regularized() {
            s += &format!(" (preset {})", self.preset);
        }
        s.trim().to_string()
    }

    /// Checks every number for range; the message names the option and the accepted range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let full = self.benchmark.full_tasks();
        // Training runs in f32: a value outside its normal range would turn into 0 or inf.
        let (lo, hi) = (f32::MIN_POSITIVE as f64, f32::MAX as f64 / 4.0);
        let positive = |name: &str, v: f64| {
            if v.is_finite() && (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(bad(format!(
                    "--{name} must be a positive number between {lo:e} and {hi:e}, got {v}"
                )))
            }
        };
        if !(self.c == 0.0 || positive("c", self.c).is_ok()) {
            return Err(bad(format!(
                "--c must be 0 or a positive number between {lo:e} and {hi:e}, got {}",
                self.c
            )));
        }
        positive("xi", self.xi)?;
        if !(self.lambda == 0.0 || positive("lambda", self.lambda).is_ok()) {
            return Err(bad(format!(
                "--lambda must be 0 or a positive number between {lo:e} and {hi:e}, got {}",
                self.lambda
            )));
        }
        if !(self.gamma > 0.0 && self.gamma <= 1.0) {
            return Err(bad(format!(
                "--gamma must be in (0, 1] (1: the Fisher never decays), got {}",
                self.gamma
            )));
        }
        if let Some(cap) = self.si_cap {
            positive("si-cap", cap)?;
        }
        if self.exclude.iter().any(|p| p.trim().is_empty()) {
            return Err(bad("--exclude patterns must not be empty"));
        }
        positive("lr", self.train.lr)?;
        positive("epsilon", self.train.epsilon)?;
        for (name, b) in [("beta1", self.train.beta1), ("beta2", self.train.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(bad(format!("--{name} must be in [0, 1), got {b}")));
            }
        }
        let in_range = |name: &str, v: usize, max: usize| {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err(bad(format!(
                    "--{name} must be between 1 and {max}, got {v}"
                )))
            }
        };
        in_range("epochs", self.train.epochs, 100_000)?;
        in_range("fisher-samples", self.fisher_samples, 1_000_000)?;
        in_range("batch-size", self.train.batch_size, 1 << 20)?;
        in_range("eval_batch_size", self.train.eval_batch_size, 1 << 20)?;
        if self.tasks == 0 || self.tasks > full {
            return Err(bad(format!(
                "--tasks must be between 1 and {full} for {}, got {}",
                self.benchmark.name(),
                self.tasks
            )));
        }
        for &w in &self.hidden {
            in_range("hidden", w, 1 << 16)?;
        }
        if self.benchmark.model() == ModelKind::Cnn && !self.hidden.is_empty() {
            return Err(bad(format!(
                "--hidden has no effect on {}: it trains the paper's CNN, whose widths are fixed",
                self.benchmark.name()
            )));
        }
        if self.threads > 1024 {
            return Err(bad(format!(
                "--threads must be at most 1024 (0: one per core), got {}",
                self.threads
            )));
        }
        if self.backend == BackendKind::Cuda && !cfg!(feature = "cuda") {
            return Err(bad(
                "--backend cuda: this binary was built without CUDA: rebuild with `CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda`, or use --backend cpu",
            ));
        }
        Ok(())
    }
}

/// Reads a TOML config file of [`Overrides`]; unknown keys and wrong types are errors.
pub fn read_config_file(path: &Path) -> Result<Overrides, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let msg = toml_message(&e, &text);
        bad(format!("config file {}: {msg}", path.display()))
    })
}

/// A TOML error as one line. toml leaves the message empty for some inputs (a document ending
/// in `key =`), so then it says where the parse stopped instead.
fn toml_message(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().replace('\n', " ");
    if !msg.trim().is_empty() {
        return msg;
    }
    let at = e.span().map_or(text.len(), |s| s.start);
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("invalid TOML at line {line}, column {column} (a value is missing or cut short)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(benchmark: &str) -> Overrides {
        Overrides {
            benchmark: Some(benchmark.into()),
            ..Default::default()
        }
    }

    #[test]
    fn benchmark_defaults_follow_the_paper() {
        let s = RunConfig::resolve(None, &flags("split-mnist")).unwrap();
        assert_eq!(
            (s.c, s.xi, s.train.epochs, s.train.batch_size),
            (1.0, 1e-3, 10, 64)
        );
        assert!(s.train.reset_optimizer);
        assert_eq!(s.hidden, vec![256, 256]);
        assert_eq!(s.scenario, Scenario::Task);
        let p = RunConfig::resolve(None, &flags("permuted-mnist")).unwrap();
        assert_eq!(
            (p.c, p.xi, p.train.epochs, p.train.batch_size),
            (0.1, 0.1, 20, 256)
        );
        assert!(!p.train.reset_optimizer);
        assert_eq!(p.hidden, vec![2000, 2000]);
        assert_eq!(p.scenario, Scenario::Domain);
    }

    #[test]
    fn flags_override_file_and_finetune_has_no_penalty() {
        let file: Overrides = toml::from_str("epochs = 3\nmethod = \"finetune\"").unwrap();
        let mut f = flags("split-mnist");
        f.epochs = Some(2);
        let cfg = RunConfig::resolve(Some(&file), &f).unwrap();
        assert_eq!(cfg.train.epochs, 2);
        assert_eq!(cfg.method, Method::Finetune);
        assert_eq!((cfg.c, cfg.lambda), (0.0, 0.0));
    }

    #[test]
    fn options_of_other_methods_are_errors_or_dropped_for_compare() {
        let mut f = flags("split-mnist");
        f.method = Some("ewc".into());
        f.c = Some(0.5);
        let e = RunConfig::resolve(None, &f).unwrap_err().to_string();
        assert!(
            e.contains("--c") && e.contains("--method ewc") && e.contains("--lambda"),
            "{e}"
        );
        // `compare` hands one set of flags to every method: foreign ones are ignored there.
        let cfg = RunConfig::resolve_with(None, &f, false).unwrap();
        assert_eq!(cfg.c, 0.0);
        f.method = Some("si".into());
        f.lambda = Some(3.0);
        let e = RunConfig::resolve(None, &f).unwrap_err().to_string();
        assert!(
            e.contains("--lambda") && e.contains("ewc, online-ewc, mas, l2"),
            "{e}"
        );
        f.lambda = None;
        f.gamma = Some(0.5);
        assert!(RunConfig::resolve(None, &f).is_err());
    }

    #[test]
    fn presets_sit_between_defaults_and_flags() {
        let mut f = flags("split-mnist");
        f.method = Some("ewc".into());
        let tuned = RunConfig::resolve(None, &f).unwrap();
        let table = preset::parse(preset::shipped(Benchmark::SplitMnist), "shipped").unwrap();
        assert_eq!(Some(tuned.lambda), table["ewc"].lambda);
        assert_eq!(tuned.preset, "tuned");
        f.lambda = Some(12345.0);
        assert_eq!(RunConfig::resolve(None, &f).unwrap().lambda, 12345.0);
        f.lambda = None;
        f.preset = Some("none".into());
        let none = RunConfig::resolve(None, &f).unwrap();
        assert_eq!(
            none.lambda,
            RunConfig::defaults(Benchmark::SplitMnist, Method::Ewc).lambda
        );
        // A preset file of the user's own.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.toml");
        std::fs::write(&p, "[ewc]\nlambda = 7.0\ngamma = 0.5\n").unwrap();
        f.preset = Some(p.display().to_string());
        let e = RunConfig::resolve(None, &f).unwrap_err().to_string();
        assert!(e.contains("--gamma") && e.contains("preset"), "{e}");
        std::fs::write(&p, "[ewc]\nlambda = 7.0\n").unwrap();
        assert_eq!(RunConfig::resolve(None, &f).unwrap().lambda, 7.0);
    }

    #[test]
    fn out_of_range_values_are_rejected_with_the_option_name() {
        for (edit, needle) in [
            (
                Overrides {
                    c: Some(-1.0),
                    ..flags("split-mnist")
                },
                "--c",
            ),
            (
                Overrides {
                    xi: Some(0.0),
                    ..flags("split-mnist")
                },
                "--xi",
            ),
            (
                Overrides {
                    epochs: Some(0),
                    ..flags("split-mnist")
                },
                "--epochs",
            ),
            (
                Overrides {
                    batch_size: Some(0),
                    ..flags("split-mnist")
                },
                "--batch-size",
            ),
            (
                Overrides {
                    tasks: Some(6),
                    ..flags("split-mnist")
                },
                "--tasks",
            ),
            (
                Overrides {
                    lr: Some(f64::NAN),
                    ..flags("split-mnist")
                },
                "--lr",
            ),
        ] {
            let e = RunConfig::resolve(None, &edit).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        let e = RunConfig::resolve(None, &flags("split-imagenet"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown benchmark"), "{e}");
    }

    #[test]
    fn config_file_rejects_unknown_keys_and_wrong_types() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "epochz = 3\n").unwrap();
        let e = read_config_file(&p).unwrap_err().to_string();
        assert!(e.contains("epochz") && !e.contains('\n'), "{e}");
        std::fs::write(&p, "epochs = \"three\"\n").unwrap();
        let e = read_config_file(&p).unwrap_err().to_string();
        assert!(e.contains("c.toml") && !e.contains('\n'), "{e}");
        // toml gives no message for a document that ends in `key =`: found by tests/fuzz.rs.
        std::fs::write(&p, "epochs = 3\nseed =").unwrap();
        let e = read_config_file(&p).unwrap_err().to_string();
        assert!(
            e.ends_with("invalid TOML at line 2, column 7 (a value is missing or cut short)"),
            "{e}"
        );
    }
}
