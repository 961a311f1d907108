//! The `joint` reference point as a method: training on the union of the tasks seen so far (the usual upper bound).

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::Mode;
use super::{BoxedRegularizer, BuildContext, Method, TrainModel};
use crate::scenario::Benchmark;

/// The `joint` reference point.
pub struct Joint;

/// `joint` has no options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointOptions {}

impl Method for Joint {
    type Options = JointOptions;
    const NAME: &'static str = "joint";
    const LABEL: &'static str = "joint";
    const ABOUT: &'static str =
        "training on the union of the tasks seen so far (the usual upper bound)";

    fn defaults(_benchmark: Benchmark) -> JointOptions {
        JointOptions {}
    }

    fn mode() -> Mode {
        Mode::Joint
    }

    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        _options: &JointOptions,
        _ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        None
    }
}
