//! Memory aware synapses (Aljundi et al. 2018): Ω += mean over examples of
//! |∂‖f(x)‖²₂/∂θ|, with f the logits of the outputs that compete in the task; penalty
//! λ·ΣΩ(θ − θ̃)². Needs no labels.

use burn::module::{AutodiffModule, ParamId};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use super::per_sample::{accumulate, mean, Sums};
use super::{Combine, Consolidator, Estimator, Inner, TaskSamples};
use crate::model::Classifier;

/// MAS's estimator.
pub struct Mas<B: AutodiffBackend> {
    samples: usize,
    importance: Sums<B>,
}

impl<B: AutodiffBackend> Consolidator<B, Mas<B>> {
    /// MAS with strength `lambda`, importance averaged over `samples` examples per task.
    pub fn mas(lambda: f64, samples: usize) -> Self {
        Self::with_estimator(
            Mas {
                samples,
                importance: Sums::<B>::new(),
            },
            lambda,
        )
    }
}

/// Mean over the first `n` examples of |∂‖f(x)‖²/∂θ| for every parameter.
pub fn mas_importance<B, M>(
    model: &M,
    samples: &dyn TaskSamples<B>,
    n: usize,
) -> std::collections::HashMap<ParamId, Tensor<Inner<B>, 1>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B>,
{
    let n = n.min(samples.len());
    let mut acc = Sums::<B>::new();
    for i in 0..n {
        let (x, _) = samples.batch(&[i]);
        let device = x.device();
        let out = model.logits(x);
        let outputs = out.dims()[1];
        let out = match samples.active_outputs() {
            Some(active) => {
                let mut keep = vec![0.0f32; outputs];
                for &k in active {
                    keep[k] = 1.0;
                }
                out * Tensor::<B, 2>::from_data(TensorData::new(keep, [1, outputs]), &device)
            }
            None => out,
        };
        let norm = (out.clone() * out).sum();
        accumulate(model, norm, &mut acc, |g| g.abs());
    }
    mean::<B>(acc, n)
}

impl<B, M> Estimator<B, M> for Mas<B>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B>,
{
    fn quantity(&self) -> &'static str {
        "MAS importance"
    }

    fn combine(&self) -> Combine {
        Combine::Sum {
            min: None,
            max: None,
        }
    }

    fn samples_wanted(&self) -> usize {
        self.samples
    }

    fn prepare(&mut self, model: &M, samples: &dyn TaskSamples<B>) {
        self.importance = mas_importance(model, samples, self.samples);
    }

    fn task_importance(
        &mut self,
        id: ParamId,
        value: &Tensor<Inner<B>, 1>,
        _moved: &Tensor<Inner<B>, 1>,
    ) -> Tensor<Inner<B>, 1> {
        self.importance
            .remove(&id)
            .unwrap_or_else(|| value.zeros_like())
    }
}
