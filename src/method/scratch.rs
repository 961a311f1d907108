//! The `scratch` reference point as a method: a fresh network and optimizer for each task (nothing is forgotten, nothing transfers).

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::Mode;
use super::{BoxedRegularizer, BuildContext, Method, TrainModel};
use crate::scenario::Benchmark;

/// The `scratch` reference point.
pub struct Scratch;

/// `scratch` has no options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScratchOptions {}

impl Method for Scratch {
    type Options = ScratchOptions;
    const NAME: &'static str = "scratch";
    const LABEL: &'static str = "scratch";
    const ABOUT: &'static str =
        "a fresh network and optimizer for each task (nothing is forgotten, nothing transfers)";

    fn defaults(_benchmark: Benchmark) -> ScratchOptions {
        ScratchOptions {}
    }

    fn mode() -> Mode {
        Mode::Scratch
    }

    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        _options: &ScratchOptions,
        _ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        None
    }
}
