//! Importance-based consolidation: the hooks a regulariser needs from the training loop, and a
//! generic walk over the float parameters of any burn module.

pub mod si;

use burn::module::{AutodiffModule, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;

pub use si::{SiConfig, SynapticIntelligence};

/// Inner (non-autodiff) backend of an autodiff backend.
pub type Inner<B> = <B as AutodiffBackend>::InnerBackend;

/// A numerical failure found by a regulariser.
#[derive(Debug, thiserror::Error)]
#[error("{what} of parameter '{param}' is not finite (NaN or inf) at the end of task {task}: lower --lr or --c, or raise --xi")]
pub struct NonFinite {
    /// Which quantity went bad (e.g. "importance Ω").
    pub what: &'static str,
    /// Module path of the parameter, e.g. `layers.2.weight`.
    pub param: String,
    /// 1-based task number.
    pub task: usize,
}

/// Hooks a consolidation method gets from the training loop; generic over the model type.
pub trait Regularizer<B: AutodiffBackend, M: AutodiffModule<B>> {
    /// Called once with the freshly initialised model, before the first task.
    fn init(&mut self, model: &M);
    /// Receives the task-loss gradients of one minibatch (pre-step weights) and returns the
    /// gradients the optimizer should apply.
    fn before_step(&mut self, model: &M, grads: GradientsParams) -> GradientsParams;
    /// Called with the model the optimizer just produced.
    fn after_step(&mut self, model: &M);
    /// Called after the last step of task `task` (0-based).
    fn end_task(&mut self, model: &M, task: usize) -> Result<(), NonFinite>;
    /// Value of the penalty term at the current weights.
    fn penalty(&self, model: &M) -> f64;
}

/// One float parameter as seen by a walk: its module path, id and flattened values.
pub struct ParamView<'a, I: burn::tensor::backend::Backend> {
    /// Dotted module path, e.g. `layers.0.weight`.
    pub path: &'a str,
    /// burn's stable parameter id.
    pub id: ParamId,
    /// The parameter's values, flattened, without autodiff tracking.
    pub value: Tensor<I, 1>,
    /// Whether the parameter is trained (requires a gradient).
    pub trainable: bool,
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
