//! Memory aware synapses (Aljundi et al. 2018) as a method: importance from the gradient of the
//! squared logits' norm on the finished task's examples; penalty λ·ΣΩ(θ − θ̃)².

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::shared::{self, EXCLUDE, FISHER_SAMPLES, LAMBDA};
use super::{BoxedRegularizer, BuildContext, Method, OptionError, OptionSpec, TrainModel};
use crate::regularizer::Consolidator;
use crate::scenario::Benchmark;

/// Memory aware synapses.
pub struct Mas;

/// MAS's options, keyed as in config files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasOptions {
    /// Penalty strength λ.
    pub lambda: f64,
    /// Examples per task the importance is averaged over.
    pub fisher_samples: usize,
    /// Globs over parameter paths left out of the penalty.
    pub exclude: Vec<String>,
}

impl Method for Mas {
    type Options = MasOptions;
    const NAME: &'static str = "mas";
    const LABEL: &'static str = "MAS";
    const ABOUT: &'static str =
        "memory aware synapses: importance from the output norm's gradient, no labels needed";

    fn flags() -> Vec<OptionSpec> {
        vec![LAMBDA, FISHER_SAMPLES, EXCLUDE]
    }

    fn defaults(benchmark: Benchmark) -> MasOptions {
        MasOptions {
            lambda: 1.0,
            fisher_samples: shared::default_samples(benchmark),
            exclude: Vec::new(),
        }
    }

    fn tuned(benchmark: Benchmark) -> Option<&'static str> {
        if benchmark.transformed() {
            // Best of 1e-3..1 (0.9360), on the shortened permuted protocol.
            Some("lambda = 0.1\nfisher_samples = 500\n")
        } else if benchmark.model() == crate::scenario::ModelKind::Mlp {
            // Best of 1e-4..1e2 (0.9907).
            Some("lambda = 0.01\nfisher_samples = 1000\n")
        } else {
            None
        }
    }

    fn check(o: &MasOptions) -> Result<(), OptionError> {
        shared::check_strength("lambda", o.lambda)?;
        shared::check_samples(o.fisher_samples)?;
        shared::check_exclude(&o.exclude)
    }

    fn summary(o: &MasOptions) -> String {
        format!("λ={} samples={}", o.lambda, o.fisher_samples)
            + &shared::exclude_summary(&o.exclude)
    }

    fn regularized() -> bool {
        true
    }

    fn samples(o: &MasOptions) -> Option<usize> {
        Some(o.fisher_samples)
    }

    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        o: &MasOptions,
        _ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        Some(Box::new(
            Consolidator::<B, _>::mas(o.lambda, o.fisher_samples).with_exclude(o.exclude.clone()),
        ))
    }
}
