//! A run's full configuration: benchmark defaults (SPEC §2, §4), overridden by a TOML file, then by
//! command-line flags; validated before any work starts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::backend::BackendKind;
use crate::model::HeadInit;
use crate::scenario::{Benchmark, EvalOn, Scenario};
use crate::train::TrainConfig;

/// Training method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Synaptic Intelligence.
    Si,
    /// Plain sequential training (c = 0).
    Finetune,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "si" => Ok(Self::Si),
            "finetune" => Ok(Self::Finetune),
            _ => Err(format!("unknown method '{s}': use si or finetune")),
        }
    }
}

impl Method {
    /// Name as used on the command line and in result files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Si => "si",
            Self::Finetune => "finetune",
        }
    }
}

/// Every setting of a run, fully resolved; recorded verbatim in `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// Benchmark task stream.
    pub benchmark: Benchmark,
    /// Continual-learning scenario.
    pub scenario: Scenario,
    /// Training method.
    pub method: Method,
    /// SI strength c (0 for finetune).
    pub c: f64,
    /// SI damping ξ.
    pub xi: f64,
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
}

/// Overrides from a TOML file or the command line; absent fields keep the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Overrides {
    pub benchmark: Option<String>,
    pub scenario: Option<String>,
    pub method: Option<String>,
    pub c: Option<f64>,
    pub xi: Option<f64>,
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

impl RunConfig {
    /// The paper's protocol for `benchmark` with `method` (SPEC §2 and §4).
    pub fn defaults(benchmark: Benchmark, method: Method) -> Self {
        let (c, xi, epochs, batch, hidden, reset) = match benchmark {
            Benchmark::SplitMnist => (1.0, 1e-3, 10, 64, vec![256, 256], true),
            Benchmark::PermutedMnist => (0.1, 0.1, 20, 256, vec![2000, 2000], false),
        };
        RunConfig {
            benchmark,
            scenario: benchmark.default_scenario(),
            method,
            c: if method == Method::Finetune { 0.0 } else { c },
            xi,
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
        }
    }

    /// Resolves defaults ← `file` ← `flags` and validates the result.
    pub fn resolve(file: Option<&Overrides>, flags: &Overrides) -> Result<Self, ConfigError> {
        let pick = |f: fn(&Overrides) -> Option<String>| f(flags).or_else(|| file.and_then(f));
        let benchmark: Benchmark = pick(|o| o.benchmark.clone())
            .ok_or_else(|| {
                bad("no benchmark given: pass --benchmark split-mnist or permuted-mnist")
            })?
            .parse()
            .map_err(bad)?;
        let method: Method = pick(|o| o.method.clone())
            .unwrap_or_else(|| "si".into())
            .parse()
            .map_err(bad)?;
        let mut cfg = Self::defaults(benchmark, method);
        for o in file.into_iter().chain(std::iter::once(flags)) {
            cfg.apply(o)?;
        }
        if method == Method::Finetune {
            cfg.c = 0.0;
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
        set!(c, xi, train_limit, test_limit, hidden, threads);
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
        let msg = e.message().replace('\n', " ");
        bad(format!("config file {}: {msg}", path.display()))
    })
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
        let file: Overrides = toml::from_str("epochs = 3\nc = 0.5\nmethod = \"finetune\"").unwrap();
        let mut f = flags("split-mnist");
        f.epochs = Some(2);
        let cfg = RunConfig::resolve(Some(&file), &f).unwrap();
        assert_eq!(cfg.train.epochs, 2);
        assert_eq!(cfg.method, Method::Finetune);
        assert_eq!(cfg.c, 0.0);
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
        let e = RunConfig::resolve(None, &flags("split-cifar"))
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
    }
}
