//! The `finetune` reference point as a method: plain sequential training, no penalty (the lower bound).

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::Mode;
use super::{BoxedRegularizer, BuildContext, Method, TrainModel};
use crate::scenario::Benchmark;

/// The `finetune` reference point.
pub struct Finetune;

/// `finetune` has no options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneOptions {}

impl Method for Finetune {
    type Options = FinetuneOptions;
    const NAME: &'static str = "finetune";
    const LABEL: &'static str = "finetune";
    const ABOUT: &'static str = "plain sequential training, no penalty (the lower bound)";

    fn defaults(_benchmark: Benchmark) -> FinetuneOptions {
        FinetuneOptions {}
    }

    fn mode() -> Mode {
        Mode::Sequential
    }

    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        _options: &FinetuneOptions,
        _ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        None
    }
}
