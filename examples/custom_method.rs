//! A new continual-learning method defined outside synaptic, run through synaptic's own task loop,
//! metrics, result files and report.
//!
//! The method, "gradient magnitude", scores each parameter by the mean absolute task-loss
//! gradient it saw while a task trained, and anchors the important ones with the same quadratic
//! penalty SI uses: λ·ΣΩ(θ − θ̃)². It is one [`Method`] (its options, defaults, how it builds its
//! regulariser) plus one [`Estimator`] (what it measures); `Registry::register` makes it a method
//! like the built-in ones.
//!
//! Run: cargo run --release --example custom_method [OUT]   (default OUT: runs/custom-method)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::ParamId;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use synaptic::backend::CpuAutodiff;
use synaptic::config::{RunConfig, Settings};
use synaptic::method::shared::{check_exclude, check_strength, EXCLUDE, LAMBDA};
use synaptic::method::{
    BoxedRegularizer, BuildContext, Method, OptionError, OptionSpec, Registry, TrainModel,
};
use synaptic::regularizer::{Combine, Consolidator, Estimator, Inner};
use synaptic::report::RunResult;
use synaptic::scenario::Benchmark;

/// The method: its name, options and regulariser.
pub struct GradMagnitude;

/// Its options, keyed as in config files; `deny_unknown_fields` keeps other methods' out.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradMagnitudeOptions {
    /// Penalty strength λ.
    pub lambda: f64,
    /// Parameters left out of the penalty.
    pub exclude: Vec<String>,
}

impl Method for GradMagnitude {
    type Options = GradMagnitudeOptions;
    const NAME: &'static str = "grad-magnitude";
    const LABEL: &'static str = "|g|";
    const ABOUT: &'static str = "importance = mean |task-loss gradient| along the task's path";

    fn flags() -> Vec<OptionSpec> {
        vec![LAMBDA, EXCLUDE]
    }

    fn defaults(_benchmark: Benchmark) -> GradMagnitudeOptions {
        GradMagnitudeOptions {
            lambda: 100.0,
            exclude: Vec::new(),
        }
    }

    fn check(o: &GradMagnitudeOptions) -> Result<(), OptionError> {
        check_strength("lambda", o.lambda)?;
        check_exclude(&o.exclude)
    }

    fn summary(o: &GradMagnitudeOptions) -> String {
        format!("λ={}", o.lambda)
    }

    fn regularized() -> bool {
        true
    }

    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        o: &GradMagnitudeOptions,
        _ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        let estimator = MeanAbsGradient::<B> {
            sums: HashMap::new(),
            steps: HashMap::new(),
        };
        Some(Box::new(
            Consolidator::with_estimator(estimator, o.lambda).with_exclude(o.exclude.clone()),
        ))
    }
}

/// What the method measures: Σ|g| per parameter over the task's steps, and the step count.
/// (Its running sums are not checkpointed: a run resumed mid-task restarts them.)
pub struct MeanAbsGradient<B: AutodiffBackend> {
    sums: HashMap<ParamId, Tensor<Inner<B>, 1>>,
    steps: HashMap<ParamId, usize>,
}

impl<B: AutodiffBackend, M> Estimator<B, M> for MeanAbsGradient<B> {
    fn quantity(&self) -> &'static str {
        "mean |gradient|"
    }

    fn combine(&self) -> Combine {
        Combine::Sum {
            min: None,
            max: None,
        }
    }

    fn tracks_path(&self) -> bool {
        true
    }

    fn before_step(
        &mut self,
        id: ParamId,
        _value: &Tensor<Inner<B>, 1>,
        task_grad: &Tensor<Inner<B>, 1>,
        _total_grad: &Tensor<Inner<B>, 1>,
    ) {
        let g = task_grad.clone().abs();
        let sum = match self.sums.remove(&id) {
            Some(s) => s + g,
            None => g,
        };
        self.sums.insert(id, sum);
        *self.steps.entry(id).or_default() += 1;
    }

    fn task_importance(
        &mut self,
        id: ParamId,
        value: &Tensor<Inner<B>, 1>,
        _moved: &Tensor<Inner<B>, 1>,
    ) -> Tensor<Inner<B>, 1> {
        let steps = self.steps.remove(&id).unwrap_or(0).max(1);
        match self.sums.remove(&id) {
            Some(s) => s / steps as f32,
            None => value.zeros_like(),
        }
    }
}

/// Trains `method` on a short split-MNIST protocol from `data` into `out`/`method`, with the
/// methods of `registry`; returns the result that was written there.
pub fn run_one(
    registry: &Registry,
    method: &str,
    data: &Path,
    out: &Path,
) -> Result<RunResult, Box<dyn std::error::Error>> {
    let mut flags = Settings::new();
    for (k, v) in [
        ("benchmark", serde_json::json!("split-mnist")),
        ("method", serde_json::json!(method)),
        ("tasks", serde_json::json!(3)),
        ("epochs", serde_json::json!(1)),
        ("train_limit", serde_json::json!(2000)),
        ("test_limit", serde_json::json!(500)),
        ("threads", serde_json::json!(1)),
    ] {
        flags.insert(k.into(), v);
    }
    let cfg = RunConfig::resolve_in(registry, None, &flags, true)?;
    let dataset = Arc::new(synaptic::data::load_for(cfg.benchmark.data(), data)?);
    let result = synaptic::experiment::run_saving::<CpuAutodiff>(
        registry,
        &cfg,
        dataset,
        &Default::default(),
        &mut synaptic::train::Silent,
        Instant::now(),
        None,
        None,
    )?;
    synaptic::report::write_run(&out.join(method), &result)?;
    Ok(result)
}

/// Runs the new method and fine-tuning side by side and writes the usual report over both.
pub fn run_example(data: &Path, out: &Path) -> Result<Vec<RunResult>, Box<dyn std::error::Error>> {
    let mut registry = Registry::standard();
    registry.register::<GradMagnitude>();
    let mut results = Vec::new();
    for method in ["grad-magnitude", "finetune"] {
        results.push(run_one(&registry, method, data, out)?);
    }
    let found = synaptic::report::collect::find_results(&[out.to_path_buf()])?;
    let sets = synaptic::report::collect::group_runs(found);
    let opts = synaptic::report::markdown::ReportOptions {
        sources: vec![out.display().to_string()],
        command: Some("cargo run --release --example custom_method".into()),
    };
    synaptic::report::markdown::write_report(&sets, out, &opts)?;
    Ok(results)
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("runs/custom-method"), PathBuf::from);
    let data = synaptic::data::shipped_data_dir();
    for r in run_example(&data, &out)? {
        println!(
            "{:>15}: ACC {:.4}  forgetting {:.4}  final row {:?}",
            r.method,
            r.average_accuracy,
            r.forgetting,
            r.accuracy_matrix.last().unwrap()
        );
    }
    println!("wrote {}", out.join("report.md").display());
    Ok(())
}
