//! Importance-based consolidation: the hooks a regulariser needs from the training
//! loop, one generic store of per-parameter importances and anchors ([`Consolidator`]), and the
//! estimators that fill it: SI, EWC, online EWC, MAS and L2.
//!
//! A method is an [`Estimator`]: how importance is measured (along the path, from curvature at
//! the end of a task, or not at all) and how a new task's importance combines with the old.
//! Anchors, the penalty, its closed-form gradient, `--exclude` and the NaN checks live once, in
//! [`Consolidator`]. The training loop only sees the [`Regularizer`] hooks.

pub mod consolidator;
pub mod ewc;
pub mod l2;
pub mod mas;
mod per_sample;
pub mod si;
pub mod state;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

pub use consolidator::{Combine, Consolidator, Estimator, ParamState};
pub use ewc::{Ewc, EwcConfig, FisherEstimator};
pub use l2::L2;
pub use mas::Mas;
pub use si::{ParamImportance, Si, SiClamp, SiConfig, SiGrad, SynapticIntelligence};
pub use state::{RegularizerState, StateError};

/// Inner (non-autodiff) backend of an autodiff backend.
pub type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// A numerical failure found by a regulariser.
#[derive(Debug, thiserror::Error)]
#[error("{what} of parameter '{param}' is not finite (NaN or inf) at the end of task {task}: lower lr or the penalty strength, or raise xi")]
pub struct NonFinite {
    /// Which quantity went bad (e.g. "importance Ω").
    pub what: &'static str,
    /// Module path of the parameter, e.g. `layers.2.weight`.
    pub param: String,
    /// 1-based task number.
    pub task: usize,
}

/// Examples of the task that just ended, for estimators that measure importance on data
/// (EWC's Fisher, MAS). Indices run over `0..len()`, already in a random order.
pub trait TaskSamples<B: Backend> {
    /// Number of examples available.
    fn len(&self) -> usize;
    /// Whether there are no examples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Inputs `[n, features]` and output-unit targets `[n]` of the examples `idx`.
    fn batch(&self, idx: &[usize]) -> (Tensor<B, 2>, Tensor<B, 1, Int>);
    /// Output units that compete in this task (`None`: all of them).
    fn active_outputs(&self) -> Option<&[usize]>;
}

/// No examples: enough for estimators that need no data at the end of a task (SI, L2).
pub struct NoSamples;

impl<B: Backend> TaskSamples<B> for NoSamples {
    fn len(&self) -> usize {
        0
    }
    fn batch(&self, _idx: &[usize]) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        panic!("NoSamples holds no examples: pass the task's data to end_task for EWC or MAS")
    }
    fn active_outputs(&self) -> Option<&[usize]> {
        None
    }
}

/// Hooks a consolidation method gets from the training loop; generic over the model type. (`Any`
/// lets the fused CPU step recognise the built-in consolidators it can run in one pass.)
pub trait Regularizer<B: AutodiffBackend, M: AutodiffModule<B>>: std::any::Any {
    /// Called once with the freshly initialised model, before the first task.
    fn init(&mut self, model: &M);
    /// Receives the task-loss gradients of one minibatch (pre-step weights) and returns the
    /// gradients the optimizer should apply.
    fn before_step(&mut self, model: &M, grads: GradientsParams) -> GradientsParams;
    /// Called with the model the optimizer just produced.
    fn after_step(&mut self, model: &M);
    /// How many examples of a finished task [`Regularizer::end_task`] wants (0: none).
    fn samples_wanted(&self) -> usize {
        0
    }
    /// Called after the last step of task `task` (0-based) with examples of that task.
    fn end_task(
        &mut self,
        model: &M,
        task: usize,
        samples: &dyn TaskSamples<B>,
    ) -> Result<(), NonFinite>;
    /// Value of the penalty term at the current weights.
    fn penalty(&self, model: &M) -> f64;
    /// Everything needed to continue exactly from here (for checkpoints); between steps.
    fn state(&self) -> RegularizerState {
        RegularizerState::default()
    }
    /// Restores a [`Regularizer::state`] for `model` (instead of [`Regularizer::init`]).
    fn load_state(&mut self, _model: &M, _state: &RegularizerState) -> Result<(), StateError> {
        Ok(())
    }
}

/// One float parameter as seen by a walk: its module path, id and flattened values.
pub struct ParamView<'a, I: Backend> {
    /// Dotted module path, e.g. `layers.0.weight`.
    pub path: &'a str,
    /// burn's stable parameter id.
    pub id: ParamId,
    /// The parameter's values, flattened, without autodiff tracking.
    pub value: Tensor<I, 1>,
    /// Whether the parameter is trained (requires a gradient).
    pub trainable: bool,
}

/// Module paths of every float parameter of `model`, in visit order.
pub fn param_paths<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M) -> Vec<String> {
    let mut out = Vec::new();
    walk_params::<B, M, _>(model, None, |p, _| {
        out.push(p.path.to_string());
        None
    });
    out
}

/// Whether `path` matches the glob `pattern` (`*` matches any run of characters, `?` one).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < s.len() {
        if i < p.len() && (p[i] == '?' || p[i] == s[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

/// An `exclude` pattern that matches no parameter of the model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("exclude pattern '{pattern}' matches no parameter; the model's parameters are: {}", params.join(", "))]
pub struct ExcludeError {
    /// The pattern.
    pub pattern: String,
    /// Every parameter path of the model, so the user can write a pattern that matches.
    pub params: Vec<String>,
}

/// Checks that every `exclude` pattern matches at least one parameter of `model`.
pub fn check_exclude<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    patterns: &[String],
) -> Result<(), ExcludeError> {
    let paths = param_paths::<B, M>(model);
    for pat in patterns {
        if !paths.iter().any(|p| glob_match(pat, p)) {
            return Err(ExcludeError {
                pattern: pat.clone(),
                params: paths,
            });
        }
    }
    Ok(())
}

/// Calls `f` for every float parameter of `model`, in visit order. If `grads` is given, `f`
/// also receives that parameter's flattened gradient and may return a replacement for it;
/// returning `None` leaves the gradient as it was.
pub fn walk_params<B, M, F>(model: &M, grads: Option<&mut GradientsParams>, f: F)
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    F: FnMut(ParamView<'_, Inner<B>>, Option<Tensor<Inner<B>, 1>>) -> Option<Tensor<Inner<B>, 1>>,
{
    let mut w = Walker::<B, F> {
        f,
        grads,
        path: Vec::new(),
        _b: std::marker::PhantomData,
    };
    model.visit(&mut w);
}

struct Walker<'g, B: AutodiffBackend, F> {
    f: F,
    grads: Option<&'g mut GradientsParams>,
    path: Vec<String>,
    _b: std::marker::PhantomData<B>,
}

impl<B, F> ModuleVisitor<B> for Walker<'_, B, F>
where
    B: AutodiffBackend,
    F: FnMut(ParamView<'_, Inner<B>>, Option<Tensor<Inner<B>, 1>>) -> Option<Tensor<Inner<B>, 1>>,
{
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let tracked = param.val();
        let trainable = tracked.is_require_grad();
        let value = tracked.inner();
        let shape = value.dims();
        let n: usize = shape.iter().product();
        let grad = self
            .grads
            .as_mut()
            .and_then(|g| g.remove::<Inner<B>, D>(param.id))
            .map(|g| g.reshape([n]));
        // burn's derive announces every field, parameters included, so this ends in `.weight`.
        let path = self.path.join(".");
        let view = ParamView {
            path: &path,
            id: param.id,
            value: value.reshape([n]),
            trainable,
        };
        // A clone is a reference, not a copy; it puts the gradient back if `f` keeps it.
        let out = (self.f)(view, grad.clone()).or(grad);
        if let (Some(g), Some(new)) = (self.grads.as_mut(), out) {
            g.register::<Inner<B>, D>(param.id, new.reshape(shape));
        }
    }
}

#[cfg(test)]
mod tests;
