//! The L2 baseline as a method: every parameter equally important, anchored at the end of the
//! last task; penalty (λ/2)·Σ(θ − θ̃)².

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::shared::{self, EXCLUDE, LAMBDA};
use super::{BoxedRegularizer, BuildContext, Method, OptionError, OptionSpec, TrainModel};
use crate::regularizer::Consolidator;
use crate::scenario::Benchmark;

/// Plain L2 pull toward the last task's weights.
pub struct L2;

/// L2's options, keyed as in config files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2Options {
    /// Penalty strength λ.
    pub lambda: f64,
    /// Globs over parameter paths left out of the penalty.
    pub exclude: Vec<String>,
}

impl Method for L2 {
    type Options = L2Options;
    const NAME: &'static str = "l2";
    const LABEL: &'static str = "L2";
    const ABOUT: &'static str = "L2: every parameter pulled toward the last task's weights alike";

    fn flags() -> Vec<OptionSpec> {
        vec![LAMBDA, EXCLUDE]
    }

    fn defaults(_benchmark: Benchmark) -> L2Options {
        L2Options {
            lambda: 1.0,
            exclude: Vec::new(),
        }
    }

    fn tuned(benchmark: Benchmark) -> Option<&'static str> {
        if benchmark.transformed() {
            // Best of 1e-3..1 (0.8885), on the shortened permuted protocol.
            Some("lambda = 0.01\n")
        } else if benchmark.model() == crate::scenario::ModelKind::Mlp {
            // Best of 1e-3..10 (0.9800).
            Some("lambda = 0.1\n")
        } else {
            None
        }
    }

    fn check(o: &L2Options) -> Result<(), OptionError> {
        shared::check_strength("lambda", o.lambda)?;
        shared::check_exclude(&o.exclude)
    }

    fn summary(o: &L2Options) -> String {
        format!("λ={}", o.lambda) + &shared::exclude_summary(&o.exclude)
    }

    fn regularized() -> bool {
        true
    }

    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        o: &L2Options,
        _ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        Some(Box::new(
            Consolidator::<B, crate::regularizer::L2>::l2(o.lambda).with_exclude(o.exclude.clone()),
        ))
    }
}
