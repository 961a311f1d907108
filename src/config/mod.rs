//! A run's full configuration: the benchmark's protocol and the method's defaults, overridden by a
//! preset, a TOML file, then command-line flags; validated before any work starts.
//!
//! Every layer is a flat table of config keys ([`Settings`]), the layout of config files and of
//! `result.json`. A key belongs either to the run (epochs, seed, …) or to the chosen method's
//! options (see [`crate::method`]); a key of another method is an error naming the methods that
//! use it (or, for `compare`, which hands one set of flags to several methods, dropped).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backend::BackendKind;
use crate::log::LiveLogs;
use crate::method::{MethodConfig, MethodError, Registry};
use crate::model::{HeadInit, WeightInit};
use crate::names::UnknownName;
use crate::scenario::{
    Angles, Benchmark, ClassOrder, DataShape, EvalOn, ModelKind, Protocol, ProtocolError, Scenario,
    TaskSettings, Transform,
};
use crate::train::{Mode, TrainConfig};
use crate::user_data::{ImageSize, UserDataset};

pub mod preset;

/// Config keys and values: one layer of settings (a config file, a preset table, the flags).
pub type Settings = serde_json::Map<String, Value>;

/// Keys that choose what the other keys apply to.
const CHOOSERS: [&str; 3] = ["benchmark", "method", "preset"];

pub use crate::method::shared::{check_positive, readable, OptionError, F32_RANGE};

/// Every setting of a run, fully resolved; recorded verbatim in `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Benchmark task stream.
    pub benchmark: Benchmark,
    /// Continual-learning scenario.
    pub scenario: Scenario,
    /// Where the method's options came from: a shipped preset name, a file, or "none".
    pub preset: String,
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
    /// The network (unset: the benchmark's own, the MLP or the paper's CNN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelKind>,
    /// Order in which a split benchmark hands its classes to tasks (default: label order).
    #[serde(default, skip_serializing_if = "ClassOrder::is_labels")]
    pub class_order: ClassOrder,
    /// Classes per task of a split benchmark (unset: the benchmark's own); the last task takes
    /// what is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes_per_task: Option<usize>,
    /// Angles of a rotated benchmark's tasks (default: evenly spread over [0°, 180°)).
    #[serde(default, skip_serializing_if = "Angles::is_evenly")]
    pub angles: Angles,
    /// What the tasks of a user's data do to their inputs: none (a split) or rotate.
    #[serde(default, skip_serializing_if = "Transform::is_none")]
    pub transform: Transform,
    /// The size every image of a user's data is resized to (unset: every image must have the
    /// first one's size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<ImageSize>,
    /// A user's data (benchmark `user`): where it is and what it holds, recorded when the run
    /// is configured and checked whenever the data is read again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<UserDataset>,
    /// Output-layer initialisation.
    pub head_init: HeadInit,
    /// Initialisation of the other layers: burn's default or Keras's Glorot (the official code's).
    #[serde(default, skip_serializing_if = "WeightInit::is_default")]
    pub init: WeightInit,
    /// Compute backend.
    pub backend: BackendKind,
    /// CPU threads (0: one per core).
    pub threads: usize,
    /// `run --save-importance`: SI's importance, the Fisher and MAS's importance saved at the
    /// end of every task under `OUT/importance/` (no effect on training).
    #[serde(default)]
    pub save_importance: bool,
    /// Examples per task those importances are measured on (unset: the method's own number,
    /// else the benchmark's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance_samples: Option<usize>,
    /// Live logs (`log`, `log_every`): TensorBoard event files and a CSV under `OUT/logs/` (no
    /// effect on training, and no part of the run's identity: see [`LiveLogs`]).
    #[serde(flatten)]
    pub logs: LiveLogs,
    /// The method and its options (`method = "si"`, `c = …`), in the same table; last, so that
    /// it receives the keys no other field takes.
    #[serde(flatten)]
    pub method: MethodConfig,
}

/// A configuration problem, reported as one line; settings are named by their config keys.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value out of its range.
    #[error(transparent)]
    Option(#[from] OptionError),
    /// A name that is none of a setting's accepted values.
    #[error(transparent)]
    Name(#[from] UnknownName),
    /// An unknown method or options its method rejects.
    #[error(transparent)]
    Method(#[from] MethodError),
    /// A known option of another method.
    #[error("{key} ({origin}) has no effect with method {method}: it is {help} (used by {})", users.join(", "))]
    NoEffect {
        /// The option's key.
        key: String,
        /// Where it was set, e.g. "on the command line".
        origin: &'static str,
        /// The run's method.
        method: &'static str,
        /// What the option is.
        help: &'static str,
        /// The methods that take it.
        users: Vec<&'static str>,
    },
    /// Hidden widths given for a benchmark that trains the fixed CNN.
    #[error(
        "hidden has no effect on {benchmark}: it trains the paper's CNN, whose widths are fixed"
    )]
    HiddenOnCnn {
        /// The benchmark's name.
        benchmark: &'static str,
    },
    /// Tasks the benchmark's settings cannot make.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// Benchmark `user` without its data.
    #[error(
        "benchmark user trains on your own data: pass its folder or .npz file as --dataset-dir"
    )]
    NoUserData,
    /// A setting of a user's data given to a built-in benchmark.
    #[error(
        "{key} has no effect on {benchmark}: it is for your own data (benchmark user); drop it"
    )]
    NotUserData {
        /// The setting.
        key: &'static str,
        /// The benchmark's name.
        benchmark: &'static str,
    },
    /// Images too small for the CNN's convolutions and pools.
    #[error("model cnn needs images of at least {min}x{min} pixels (its two valid convolutions and two pools shrink them), but the data's are {cols}x{rows}: use model mlp")]
    TooSmallForCnn {
        /// Image height.
        rows: usize,
        /// Image width.
        cols: usize,
        /// The smallest side.
        min: usize,
    },
    /// A sampling interval for live logs that are not written.
    #[error(
        "log_every has no effect without log: set log to tensorboard and/or csv, or drop log_every"
    )]
    LogEveryWithoutLog,
    /// The CUDA backend asked of a build without it.
    #[error("backend cuda: this binary was built without CUDA: rebuild with `CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda`, or use backend cpu")]
    NoCuda,
    /// No benchmark chosen.
    #[error("no benchmark given: set benchmark to split-mnist, permuted-mnist, split-cifar, …")]
    NoBenchmark,
    /// A problem inside a document (a config file, a preset), named by `origin`.
    #[error("{origin}: {error}")]
    In {
        /// The document, e.g. `config file run.toml`.
        origin: String,
        /// The problem.
        error: Box<ConfigError>,
    },
    /// A file, syntax or type problem, as one line.
    #[error("{0}")]
    Invalid(String),
}

fn bad(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// Deserializes `T` from a table; the error names the key at fault.
fn from_settings<T: DeserializeOwned>(s: &Settings) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(s.clone())).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        if path == "." || path.is_empty() {
            inner
        } else {
            format!("{path}: {inner}")
        }
    })
}

/// A value serialized as a table.
fn to_settings<T: Serialize>(v: &T) -> Settings {
    match serde_json::to_value(v) {
        Ok(Value::Object(m)) => m,
        _ => Settings::new(),
    }
}

impl RunConfig {
    /// Floating-point operations of one training step, roughly (6 × batch × weights for the
    /// MLP: forward, and backward for activations and weights); infinite for the CNN, whose
    /// convolutions always carry enough work to split.
    pub fn step_flops(&self) -> f64 {
        if self.model_kind() == ModelKind::Cnn {
            return f64::INFINITY;
        }
        // Sized before the data is loaded (the thread pool must exist first), so from the
        // dataset's shape and the head the stream will build.
        let mut sizes = vec![self.data_shape().pixels()];
        sizes.extend(&self.hidden);
        sizes.push(self.outputs());
        let weights: usize = sizes.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
        6.0 * self.train.batch_size as f64 * weights as f64
    }

    /// The network this run trains: `model` if set, else the benchmark's own.
    pub fn model_kind(&self) -> ModelKind {
        self.model.unwrap_or(self.benchmark.model())
    }

    /// The shape of the data the run reads, known before it loads: the published size of a
    /// built-in dataset, the recorded one of a user's (all zeros for benchmark `user` without
    /// its record, which [`RunConfig::validate`] refuses).
    pub fn data_shape(&self) -> DataShape {
        match (&self.user_data, DataShape::of(self.benchmark.data())) {
            (Some(u), None) => u.shape(),
            (_, Some(s)) => s,
            (None, None) => DataShape {
                channels: 0,
                rows: 0,
                cols: 0,
                labels: 0,
                train: 0,
                test: 0,
            },
        }
    }

    /// How the tasks are asked for: class order, classes per task, angles.
    pub fn task_settings(&self) -> TaskSettings {
        TaskSettings {
            class_order: self.class_order.clone(),
            classes_per_task: self.classes_per_task,
            angles: self.angles.clone(),
            transform: self.transform,
            class_names: (self.user_data.as_ref())
                .map(|u| u.classes.clone())
                .unwrap_or_default(),
        }
    }

    /// The run's tasks: the benchmark's protocol with this run's class order, task size and
    /// angles (random ones drawn from the seed).
    pub fn protocol(&self) -> Result<Protocol, ProtocolError> {
        Protocol::new(
            self.benchmark,
            &self.task_settings(),
            &self.data_shape(),
            self.train.seed,
        )
    }

    /// Output units of the model (0 for settings whose tasks do not resolve, which
    /// [`RunConfig::validate`] refuses).
    pub fn outputs(&self) -> usize {
        self.protocol()
            .map_or(0, |p| p.outputs(self.scenario, self.tasks))
    }

    /// The CPU threads this run computes with (see [`crate::backend::compute_threads`]).
    pub fn compute_threads(&self) -> usize {
        crate::backend::compute_threads(self.threads, self.step_flops())
    }

    /// How the loop walks the tasks for this run's method.
    pub fn mode(&self) -> Mode {
        Registry::builtin()
            .get(self.method.name())
            .map_or(Mode::Sequential, |m| m.mode())
    }

    /// The examples per task `--save-importance` measures on.
    pub fn importance_samples(&self, registry: &Registry) -> usize {
        self.importance_samples
            .or_else(|| {
                registry
                    .get(self.method.name())
                    .and_then(|m| m.samples(self.method.options()))
            })
            .unwrap_or_else(|| crate::method::shared::default_samples(self.benchmark))
    }

    /// The benchmark's protocol (the paper's, before any preset) with `method`.
    pub fn defaults(benchmark: Benchmark, method: MethodConfig) -> Self {
        let (epochs, batch, hidden, reset) = match benchmark {
            // A user's data takes split MNIST's protocol, rotated or not.
            Benchmark::SplitMnist | Benchmark::SplitFashionMnist | Benchmark::User => {
                (10, 64, vec![256, 256], true)
            }
            // Rotated MNIST takes permuted MNIST's protocol: both transform the inputs of one
            // 10-class problem per task.
            Benchmark::PermutedMnist
            | Benchmark::PermutedFashionMnist
            | Benchmark::RotatedMnist => (20, 256, vec![2000, 2000], false),
            // The CNN has no hidden-width setting.
            Benchmark::SplitCifar10 | Benchmark::SplitCifar => (60, 256, vec![], true),
        };
        RunConfig {
            benchmark,
            scenario: benchmark.default_scenario(),
            preset: "none".into(),
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
                prob_clip: 0.0,
            },
            tasks: benchmark.full_tasks(),
            train_limit: 0,
            test_limit: 0,
            eval_on: EvalOn::Test,
            hidden,
            model: None,
            class_order: ClassOrder::Labels,
            classes_per_task: None,
            angles: Angles::Evenly,
            transform: Transform::None,
            image_size: None,
            user_data: None,
            head_init: HeadInit::Default,
            init: WeightInit::Default,
            backend: BackendKind::Cpu,
            threads: 0,
            save_importance: false,
            importance_samples: None,
            logs: LiveLogs::default(),
            method,
        }
    }

    /// The run-level keys (every key but the method's).
    pub fn run_keys() -> Vec<String> {
        let cfg = Self::defaults(Benchmark::SplitMnist, no_method());
        let mut keys: Vec<String> = to_settings(&cfg).keys().cloned().collect();
        keys.retain(|k| k != "method");
        // Left out of stored configs while unset, so named here.
        keys.extend(
            [
                "importance_samples",
                "log",
                "log_every",
                "model",
                "class_order",
                "classes_per_task",
                "angles",
                "transform",
                "image_size",
                "user_data",
                "init",
                "prob_clip",
            ]
            .map(String::from),
        );
        keys
    }

    /// Resolves defaults ← preset ← `file` ← `flags` with synaptic's own methods and validates
    /// the result. Options of other methods are errors.
    pub fn resolve(file: Option<&Settings>, flags: &Settings) -> Result<Self, ConfigError> {
        Self::resolve_in(Registry::builtin(), file, flags, true)
    }

    /// As [`RunConfig::resolve`] over the methods of `registry`; with `strict` false, options
    /// that do not apply to the method are dropped instead (`compare` passes one set of flags to
    /// several methods).
    pub fn resolve_in(
        registry: &Registry,
        file: Option<&Settings>,
        flags: &Settings,
        strict: bool,
    ) -> Result<Self, ConfigError> {
        let pick = |key: &str| -> Result<Option<String>, ConfigError> {
            match flags.get(key).or_else(|| file.and_then(|f| f.get(key))) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(bad(format!("{key} must be a name in quotes, got {v}"))),
            }
        };
        let benchmark: Benchmark = pick("benchmark")?
            .ok_or(ConfigError::NoBenchmark)?
            .parse()?;
        let method_name = pick("method")?.unwrap_or_else(|| "si".into());
        let method = registry.find(&method_name)?;
        let preset_name = pick("preset")?.unwrap_or_else(|| preset::DEFAULT.into());
        let preset = preset::load(registry, &preset_name, benchmark, method.name())?;

        let own = method.keys();
        let run_keys = Self::run_keys();
        let mut options = method.defaults(benchmark);
        let mut run = to_settings(&Self::defaults(
            benchmark,
            registry.defaults(method.name(), benchmark)?,
        ));
        run.retain(|k, _| run_keys.contains(k));
        run.insert("preset".into(), Value::String(preset_name));
        let layers = [
            (preset.as_ref(), "from the preset"),
            (file, "in the config file"),
            (Some(flags), "on the command line"),
        ];
        let mut given: Vec<String> = Vec::new();
        for (layer, source) in layers {
            let Some(layer) = layer else { continue };
            for (k, v) in layer {
                if CHOOSERS.contains(&k.as_str()) {
                    continue;
                }
                given.push(k.clone());
                if own.contains(&k.as_str()) {
                    options.insert(k.clone(), v.clone());
                } else if run_keys.contains(k) {
                    run.insert(k.clone(), v.clone());
                } else if let Some(spec) = registry.flags().into_iter().find(|f| f.key == k) {
                    if strict {
                        return Err(ConfigError::NoEffect {
                            key: k.clone(),
                            origin: source,
                            method: method.name(),
                            help: spec.help,
                            users: registry.users(k),
                        });
                    }
                } else {
                    return Err(bad(format!("unknown setting '{k}' ({source})")));
                }
            }
        }
        Self::checked(registry, method.name(), options, run, Some(&given))
    }

    /// The config of `method` with `options` and the run-level settings `run`, parsed and
    /// checked: the last step of [`RunConfig::resolve_in`] (which passes the keys some layer
    /// `given`, so that the others follow them) and of [`RunConfig::from_stored`].
    fn checked(
        registry: &Registry,
        method: &str,
        options: Settings,
        mut run: Settings,
        given: Option<&[String]>,
    ) -> Result<Self, ConfigError> {
        let method_cfg = registry.config(method, options)?;
        run.insert("method".into(), Value::String(method.into()));
        run.extend(method_cfg.options().clone());
        let mut cfg: RunConfig = from_settings(&run).map_err(bad)?;
        cfg.method = method_cfg;
        if let Some(given) = given {
            cfg.follow(given);
        }
        cfg.normalize();
        cfg.validate()?;
        Ok(cfg)
    }

    /// Fills the settings no layer gave from the ones given: every task of the protocol the
    /// class settings make, and the hidden widths of the network chosen (none for the CNN,
    /// split MNIST's for an MLP on a benchmark whose own network is the CNN).
    fn follow(&mut self, given: &[String]) {
        let given = |k: &str| given.iter().any(|g| g == k);
        if !given("tasks") {
            if let Ok(p) = self.protocol() {
                self.tasks = p.len();
            }
        }
        // Rotated tasks of a user's data are domain-incremental, as rotated MNIST is.
        if !given("scenario") && self.transform == Transform::Rotate {
            self.scenario = Scenario::Domain;
        }
        if !given("hidden") {
            self.hidden = match self.model_kind() {
                ModelKind::Cnn => vec![],
                ModelKind::Mlp if self.benchmark.model() == ModelKind::Cnn => vec![256, 256],
                ModelKind::Mlp => std::mem::take(&mut self.hidden),
            };
        }
    }

    /// Writes settings that ask for the benchmark's own choice as unset, so that a config
    /// that spells out a default equals (and reports like) one that leaves it out.
    fn normalize(&mut self) {
        if self.model == Some(self.benchmark.model()) {
            self.model = None;
        }
        if self.benchmark.split()
            && self.classes_per_task == Some(self.benchmark.classes_per_task())
        {
            self.classes_per_task = None;
        }
        let labels = self.data_shape().labels;
        if let ClassOrder::Given(v) = &self.class_order {
            if v.len() == labels && v.iter().enumerate().all(|(k, &c)| k == c) {
                self.class_order = ClassOrder::Labels;
            }
        }
    }

    /// A config stored as one flat table (`run-config.json`'s `config`, `result.json`'s), read
    /// back and checked as a fresh one is: every key known and of its type, every value in range.
    /// No layer fills a gap (a missing setting is an error, bar those newer than the file, which
    /// take their defaults as when deserialising). Options of another method are dropped, as
    /// files written before methods had their own option structs carry them all.
    pub fn from_stored(registry: &Registry, table: &Settings) -> Result<Self, ConfigError> {
        let method = match table.get("method") {
            Some(Value::String(s)) => registry.find(s)?,
            Some(v) => return Err(bad(format!("method must be a name in quotes, got {v}"))),
            None => return Err(bad("method: missing")),
        };
        let own = method.keys();
        let run_keys = Self::run_keys();
        let (mut options, mut run) = (Settings::new(), Settings::new());
        for (k, v) in table {
            let kept = own.contains(&k.as_str()) || run_keys.contains(k);
            // A resolved config stores "every example" as a limit of 0, which a hand-written
            // setting may not say.
            let every =
                ["train_limit", "test_limit"].contains(&k.as_str()) && v.as_u64() == Some(0);
            if kept && !every {
                // As for a config file: the error names the key of a wrong type.
                check_setting(registry, k, v)?;
            }
            if own.contains(&k.as_str()) {
                options.insert(k.clone(), v.clone());
            } else if run_keys.contains(k) {
                run.insert(k.clone(), v.clone());
            } else if k != "method" && registry.users(k).is_empty() {
                return Err(bad(format!("unknown setting '{k}'")));
            }
        }
        Self::checked(registry, method.name(), options, run, None)
    }

    /// Hex SHA-256 of the config's canonical JSON, `threads` aside (it may change on resume and
    /// changes no number): what a checkpoint records to recognise its run's settings.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut canonical = self.clone();
        canonical.threads = 0;
        // Through a `Value`, so that keys are in one order however the config was built.
        let json = serde_json::to_value(&canonical)
            .and_then(|v| serde_json::to_vec(&v))
            .unwrap_or_default();
        Sha256::digest(&json)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The method's options in one short phrase, e.g. `c=1 ξ=0.001` (for logs).
    pub fn method_summary(&self) -> String {
        let Some(m) = Registry::builtin().get(self.method.name()) else {
            return String::new();
        };
        let mut s = m.summary(self.method.options());
        if m.regularized() {
            s += &format!(" (preset {})", self.preset);
        }
        s.trim().to_string()
    }

    /// Checks every run-level number for range (the method's options were checked when
    /// parsed); the message names the option and the accepted range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.benchmark == Benchmark::User {
            if self.user_data.is_none() {
                return Err(ConfigError::NoUserData);
            }
        } else {
            let key = if self.user_data.is_some() {
                Some("user_data")
            } else if self.image_size.is_some() {
                Some("image_size")
            } else {
                None
            };
            if let Some(key) = key {
                return Err(ConfigError::NotUserData {
                    key,
                    benchmark: self.benchmark.name(),
                });
            }
        }
        let full = self.protocol()?.len();
        check_positive("lr", self.train.lr)?;
        check_positive("epsilon", self.train.epsilon)?;
        if !(0.0..0.5).contains(&self.train.prob_clip) {
            return Err(OptionError::new(
                "prob_clip",
                readable(self.train.prob_clip),
                "in [0, 0.5) (0: off; Keras's is 1e-7)",
            )
            .into());
        }
        for (name, b) in [("beta1", self.train.beta1), ("beta2", self.train.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(OptionError::new(name, readable(b), "in [0, 1)").into());
            }
        }
        let in_range = |name: &str, v: usize, max: usize| {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err(OptionError::new(name, v, format!("between 1 and {max}")))
            }
        };
        in_range("epochs", self.train.epochs, 100_000)?;
        in_range("batch_size", self.train.batch_size, 1 << 20)?;
        in_range("eval_batch_size", self.train.eval_batch_size, 1 << 20)?;
        if let Some(n) = self.importance_samples {
            in_range("importance_samples", n, 1_000_000)?;
        }
        in_range("log_every", self.logs.log_every, 1_000_000_000)?;
        if !self.logs.any() && self.logs.log_every != crate::log::DEFAULT_EVERY {
            return Err(ConfigError::LogEveryWithoutLog);
        }
        if self.tasks == 0 || self.tasks > full {
            let with = match self.classes_per_task {
                Some(k) => format!(" with classes_per_task = {k}"),
                None => String::new(),
            };
            return Err(OptionError::new(
                "tasks",
                self.tasks,
                format!("between 1 and {full} for {}{with}", self.benchmark.name()),
            )
            .into());
        }
        for &w in &self.hidden {
            in_range("hidden", w, 1 << 16)?;
        }
        if self.model_kind() == ModelKind::Cnn {
            if !self.hidden.is_empty() {
                return Err(ConfigError::HiddenOnCnn {
                    benchmark: self.benchmark.name(),
                });
            }
            let shape = self.data_shape();
            let min = crate::model::CNN_MIN_SIDE;
            if shape.rows < min || shape.cols < min {
                return Err(ConfigError::TooSmallForCnn {
                    rows: shape.rows,
                    cols: shape.cols,
                    min,
                });
            }
        }
        if self.threads > 1024 {
            return Err(OptionError::new(
                "threads",
                self.threads,
                "at most 1024 (0: one per core)",
            )
            .into());
        }
        if self.backend == BackendKind::Cuda && !cfg!(feature = "cuda") {
            return Err(ConfigError::NoCuda);
        }
        Ok(())
    }
}

/// A method without options, to fill a config whose method does not matter.
fn no_method() -> MethodConfig {
    MethodConfig::of::<crate::method::finetune::Finetune>(
        &crate::method::finetune::FinetuneOptions {},
    )
}

/// Checks one setting's key and type against `registry` (its range is checked on resolving).
fn check_setting(registry: &Registry, key: &str, value: &Value) -> Result<(), ConfigError> {
    if CHOOSERS.contains(&key) {
        return match value {
            Value::String(_) => Ok(()),
            v => Err(bad(format!("{key} must be a name in quotes, got {v}"))),
        };
    }
    // In the resolved config 0 stands for "every example"; written by hand it is a mistake.
    if ["train_limit", "test_limit"].contains(&key) && value.as_u64() == Some(0) {
        return Err(
            OptionError::new(key, 0, "at least 1 (leave it out to use every example)").into(),
        );
    }
    if RunConfig::run_keys().iter().any(|k| k == key) {
        let mut table = to_settings(&RunConfig::defaults(Benchmark::SplitMnist, no_method()));
        table.insert(key.into(), value.clone());
        return from_settings::<RunConfig>(&table)
            .map(|_| ())
            .map_err(|e| bad(named(key, e)));
    }
    let users = registry.users(key);
    let Some(m) = users.first().and_then(|n| registry.get(n)) else {
        return Err(bad(format!("unknown key '{key}'")));
    };
    let mut table = m.defaults(Benchmark::SplitMnist);
    table.insert(key.into(), value.clone());
    match registry.config(m.name(), table) {
        Ok(_) => Ok(()),
        Err(MethodError::Option(e)) => Err(e.into()),
        Err(e) => Err(bad(named(key, e.to_string()))),
    }
}

/// `key: message`, unless the message already starts with the key.
fn named(key: &str, msg: String) -> String {
    if msg.starts_with(key) {
        msg
    } else {
        format!("{key}: {msg}")
    }
}

/// Parses a TOML document of settings: keys known to the run or to some method, values of the
/// right type. `origin` names the document in errors.
pub fn parse_settings(text: &str, origin: &str) -> Result<Settings, ConfigError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| bad(format!("{origin}: {}", toml_message(&e, text))))?;
    let settings = to_settings(&table);
    if settings.contains_key("user_data") {
        return Err(bad(format!(
            "{origin}: user_data is recorded from the data read, not set by hand: drop it and pass the data as --dataset-dir"
        )));
    }
    for (k, v) in &settings {
        check_setting(Registry::builtin(), k, v).map_err(|e| ConfigError::In {
            origin: origin.into(),
            error: Box::new(e),
        })?;
    }
    Ok(settings)
}

/// Reads a TOML config file of settings; unknown keys and wrong types are errors.
pub fn read_config_file(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("cannot read config file {}: {e}", path.display())))?;
    parse_settings(&text, &format!("config file {}", path.display()))
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
mod tests;
