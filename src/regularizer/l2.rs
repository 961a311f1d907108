//! The L2 baseline: every parameter equally important, Ω ≡ 1, anchored at the end of
//! the last task; penalty (λ/2)·Σ(θ − θ̃)².

use burn::module::ParamId;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;

use super::{Combine, Consolidator, Estimator, Inner};

/// L2's estimator: constant importance.
pub struct L2;

impl<B: AutodiffBackend> Consolidator<B, L2> {
    /// L2 with strength `lambda`.
    pub fn l2(lambda: f64) -> Self {
        Self::with_estimator(L2, lambda / 2.0)
    }
}

impl<B: AutodiffBackend, M> Estimator<B, M> for L2 {
    fn quantity(&self) -> &'static str {
        "L2 importance"
    }

    fn combine(&self) -> Combine {
        Combine::Replace
    }

    fn task_importance(
        &mut self,
        _id: ParamId,
        value: &Tensor<Inner<B>, 1>,
        _moved: &Tensor<Inner<B>, 1>,
    ) -> Tensor<Inner<B>, 1> {
        value.ones_like()
    }
}
