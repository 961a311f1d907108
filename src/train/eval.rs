//! The loss the loop trains on and the accuracy it measures.

use burn::module::AutodiffModule;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};

use crate::model::{output_mask, Classifier};
use crate::scenario::TaskStream;

/// Mean cross-entropy of `logits` against `targets`, with inactive outputs masked out.
pub fn masked_cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    mask: Option<&Tensor<B, 2>>,
) -> Tensor<B, 1> {
    at_targets(log_softmax(masked(logits, mask), 1), targets)
        .mean()
        .neg()
}

/// The loss a step trains on: the cross-entropy, or with `prob_clip` > 0 Keras's, whose clip of
/// the target's probability to [p, 1 − p] gives confidently right examples no gradient at all.
pub fn training_loss<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    mask: Option<&Tensor<B, 2>>,
    prob_clip: f64,
) -> Tensor<B, 1> {
    if prob_clip == 0.0 {
        return masked_cross_entropy(logits, targets, mask);
    }
    at_targets(softmax(masked(logits, mask), 1), targets)
        .clamp(prob_clip, 1.0 - prob_clip)
        .log()
        .mean()
        .neg()
}

fn masked<B: Backend>(logits: Tensor<B, 2>, mask: Option<&Tensor<B, 2>>) -> Tensor<B, 2> {
    match mask {
        Some(m) => logits + m.clone(),
        None => logits,
    }
}

/// Each row's value at its target class, as an n × 1 column.
fn at_targets<B: Backend>(values: Tensor<B, 2>, targets: Tensor<B, 1, Int>) -> Tensor<B, 2> {
    let n = targets.dims()[0];
    values.gather(1, targets.reshape([n, 1]))
}

/// Accuracy of `model` on the evaluation examples of task `j`, competing over `active` outputs.
pub fn evaluate<B: Backend, M: Classifier<B>>(
    model: &M,
    stream: &TaskStream,
    j: usize,
    active: Option<&[usize]>,
    batch: usize,
    device: &B::Device,
) -> f64 {
    let idx = &stream.tasks[j].eval;
    if idx.is_empty() {
        return 0.0;
    }
    let mask = output_mask::<B>(stream.outputs, active, device);
    let mut correct = 0i64;
    for chunk in idx.chunks(batch.max(1)) {
        let (x, y) = stream.eval_batch::<B>(j, chunk, device);
        let mut logits = model.logits(x);
        if let Some(m) = &mask {
            logits = logits + m.clone();
        }
        let pred = logits.argmax(1).reshape([chunk.len()]);
        let hits: i64 = pred.equal(y).int().sum().into_scalar().elem();
        correct += hits;
    }
    correct as f64 / idx.len() as f64
}

/// One row of the accuracy matrix: every task of `stream` scored on the inner (non-autodiff)
/// model after training task `after` (`None`: the untrained model, each task scored the way it
/// is right after being learned).
pub fn evaluate_all<B, M>(
    model: &M,
    stream: &TaskStream,
    after: Option<usize>,
    batch: usize,
    device: &B::Device,
) -> Vec<f64>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    M::InnerModule: Classifier<B::InnerBackend>,
{
    let inner = model.valid();
    (0..stream.tasks.len())
        .map(|j| {
            let active = match after {
                Some(i) => stream.eval_outputs(i, j),
                None => stream.eval_outputs(j, j),
            };
            evaluate::<B::InnerBackend, _>(&inner, stream, j, active.as_deref(), batch, device)
        })
        .collect()
}
