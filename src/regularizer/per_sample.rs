//! Per-example gradients, one backward pass per example: the correct way to build a diagonal
//! Fisher or MAS importance (a squared minibatch-mean gradient is a different, biased quantity).

use std::collections::HashMap;

use burn::module::{AutodiffModule, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;

use super::{walk_params, Inner};

/// Per-parameter sums, keyed by parameter id.
pub(crate) type Sums<B> = HashMap<ParamId, Tensor<Inner<B>, 1>>;

/// Backpropagates `loss` (of one example) and adds `f(gradient)` of every parameter to `acc`.
pub(crate) fn accumulate<B, M, F>(model: &M, loss: Tensor<B, 1>, acc: &mut Sums<B>, f: F)
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    F: Fn(Tensor<Inner<B>, 1>) -> Tensor<Inner<B>, 1>,
{
    let mut grads = GradientsParams::from_grads(loss.backward(), model);
    walk_params::<B, M, _>(model, Some(&mut grads), |p, g| {
        if let Some(g) = g {
            let v = f(g);
            match acc.get_mut(&p.id) {
                Some(a) => *a = a.clone() + v,
                None => {
                    acc.insert(p.id, v);
                }
            }
        }
        None
    });
}

/// Divides every sum by `n` (no-op for `n == 0`).
pub(crate) fn mean<B: AutodiffBackend>(acc: Sums<B>, n: usize) -> Sums<B> {
    if n == 0 {
        return acc;
    }
    acc.into_iter()
        .map(|(k, v)| (k, v.div_scalar(n as f64)))
        .collect()
}
