//! Online EWC (Schwarz et al. 2018) as a method: one Fisher, decayed, F ← γF + F_t, and one
//! anchor, the latest weights.

use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use super::ewc::check_fisher;
use super::shared::{self, EXCLUDE, FISHER, FISHER_SAMPLES, LAMBDA};
use super::{
    BoxedRegularizer, BuildContext, Method, OptionError, OptionKind, OptionSpec, TrainModel,
};
use crate::regularizer::{Consolidator, EwcConfig, FisherEstimator};
use crate::scenario::Benchmark;

/// Online EWC.
pub struct OnlineEwc;

/// Online EWC's options, keyed as in config files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineEwcOptions {
    /// Penalty strength λ.
    pub lambda: f64,
    /// Decay γ of the old Fisher, in (0, 1].
    pub gamma: f64,
    /// Fisher estimator.
    pub fisher: FisherEstimator,
    /// Examples per task the Fisher is averaged over.
    pub fisher_samples: usize,
    /// Globs over parameter paths left out of the penalty.
    pub exclude: Vec<String>,
}

impl Method for OnlineEwc {
    type Options = OnlineEwcOptions;
    const NAME: &'static str = "online-ewc";
    const LABEL: &'static str = "online EWC";
    const ABOUT: &'static str = "online EWC: one decayed Fisher, F ← γF + F_t, and one anchor";

    fn flags() -> Vec<OptionSpec> {
        vec![
            LAMBDA,
            OptionSpec {
                key: "gamma",
                help: "online EWC's decay γ of the old Fisher, in (0, 1] (1: it never decays)",
                kind: OptionKind::Float,
            },
            FISHER,
            FISHER_SAMPLES,
            EXCLUDE,
        ]
    }

    fn defaults(benchmark: Benchmark) -> OnlineEwcOptions {
        OnlineEwcOptions {
            lambda: 1.0,
            gamma: 1.0,
            fisher: FisherEstimator::Exact,
            fisher_samples: shared::default_samples(benchmark),
            exclude: Vec::new(),
        }
    }

    fn tuned(benchmark: Benchmark) -> Option<&'static str> {
        if benchmark.transformed() {
            // Best of 10..1e5 (0.9363), on the shortened permuted protocol.
            Some("lambda = 1e4\ngamma = 1.0\nfisher = \"sampled\"\nfisher_samples = 500\n")
        } else if benchmark.model() == crate::scenario::ModelKind::Mlp {
            // Best of 1e2..1e9 (0.9929); 1e5..1e8 all within 0.0015.
            Some("lambda = 1e6\ngamma = 1.0\nfisher = \"exact\"\nfisher_samples = 1000\n")
        } else {
            None
        }
    }

    fn check(o: &OnlineEwcOptions) -> Result<(), OptionError> {
        if !(o.gamma > 0.0 && o.gamma <= 1.0) {
            return Err(OptionError::new(
                "gamma",
                shared::readable(o.gamma),
                "in (0, 1] (1: the Fisher never decays)",
            ));
        }
        check_fisher(o.lambda, o.fisher_samples, &o.exclude)
    }

    fn summary(o: &OnlineEwcOptions) -> String {
        format!("λ={} fisher={:?}×{}", o.lambda, o.fisher, o.fisher_samples).to_lowercase()
            + &format!(" γ={}", o.gamma)
            + &shared::exclude_summary(&o.exclude)
    }

    fn regularized() -> bool {
        true
    }

    fn samples(o: &OnlineEwcOptions) -> Option<usize> {
        Some(o.fisher_samples)
    }

    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        o: &OnlineEwcOptions,
        ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        let cfg = EwcConfig {
            lambda: o.lambda,
            gamma: Some(o.gamma),
            estimator: o.fisher,
            samples: o.fisher_samples,
            seed: ctx.seed,
        };
        Some(Box::new(
            Consolidator::<B, _>::ewc(cfg).with_exclude(o.exclude.clone()),
        ))
    }
}
