//! Synaptic Intelligence as a method: its options (c, ξ and the switches that reproduce other
//! implementations), their defaults per benchmark, the shipped tuned values, and its regulariser.

use serde::{Deserialize, Serialize};

use super::shared::{self, EXCLUDE};
use super::{
    BoxedRegularizer, BuildContext, Method, OptionError, OptionKind, OptionSpec, TrainModel,
};
use crate::regularizer::{Consolidator, SiClamp, SiConfig, SiGrad};
use crate::scenario::Benchmark;
use burn::tensor::backend::AutodiffBackend;

/// Synaptic Intelligence (Zenke, Poole & Ganguli 2017).
pub struct Si;

/// SI's options, keyed as in config files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiOptions {
    /// Penalty strength c; the penalty is c·ΣΩ(θ−θ̃)², no ½.
    pub c: f64,
    /// Damping ξ in Ω's denominator.
    pub xi: f64,
    /// Gradient in the path integral ω (task = the paper).
    pub si_grad: SiGrad,
    /// Lower clamp on Ω (relu = the official code).
    pub si_clamp: SiClamp,
    /// Penalty (c/2)·ΣΩ(θ−θ̃)² instead of c·ΣΩ(θ−θ̃)².
    pub si_half: bool,
    /// Upper cap on Ω (none = the paper).
    pub si_cap: Option<f64>,
    /// Globs over parameter paths left out of the penalty.
    pub exclude: Vec<String>,
}

impl SiOptions {
    /// The regulariser's settings.
    pub fn si_config(&self) -> SiConfig {
        SiConfig {
            c: self.c,
            xi: self.xi,
            grad: self.si_grad,
            clamp: self.si_clamp,
            half: self.si_half,
            cap: self.si_cap,
        }
    }
}

impl Method for Si {
    type Options = SiOptions;
    const NAME: &'static str = "si";
    const LABEL: &'static str = "SI";
    const ABOUT: &'static str =
        "Synaptic Intelligence: importance from the path integral of the training trajectory";

    fn flags() -> Vec<OptionSpec> {
        vec![
            OptionSpec {
                key: "c",
                help: "SI's strength c (default: 1 on split (Fashion-)MNIST, 0.1 on permuted and CIFAR); the others use --lambda",
                kind: OptionKind::Float,
            },
            OptionSpec {
                key: "xi",
                help: "SI's damping ξ (default: 1e-3 on split benchmarks, 0.1 on permuted)",
                kind: OptionKind::Float,
            },
            OptionSpec {
                key: "si_grad",
                help: "an SI switch: the gradient in ω, task (the paper) or total (van de Ven, Avalanche)",
                kind: OptionKind::Choice(&["task", "total"]),
            },
            OptionSpec {
                key: "si_clamp",
                help: "an SI switch: the clamp on Ω, relu (the official code) or none (van de Ven, mammoth, FACIL)",
                kind: OptionKind::Choice(&["relu", "none"]),
            },
            OptionSpec {
                key: "si_half",
                help: "an SI switch: penalty (c/2)·ΣΩ(θ−θ̃)² as in Avalanche (the paper has no ½)",
                kind: OptionKind::Switch,
            },
            OptionSpec {
                key: "si_cap",
                help: "an SI switch: upper cap on Ω (Avalanche uses 1e-3)",
                kind: OptionKind::Float,
            },
            EXCLUDE,
        ]
    }

    fn defaults(benchmark: Benchmark) -> SiOptions {
        // The paper's values per protocol.
        let (c, xi) = if benchmark.transformed() {
            (0.1, 0.1)
        } else if benchmark.model() == crate::scenario::ModelKind::Cnn {
            (0.1, 1e-3)
        } else {
            (1.0, 1e-3)
        };
        SiOptions {
            c,
            xi,
            si_grad: SiGrad::Task,
            si_clamp: SiClamp::Relu,
            si_half: false,
            si_cap: None,
            exclude: Vec::new(),
        }
    }

    fn tuned(benchmark: Benchmark) -> Option<&'static str> {
        Some(if benchmark.transformed() {
            // The paper's values (c chosen by the paper on a held-out validation set with the
            // full protocol). The shortened sweep cannot rank c: its path integrals are about
            // 60x shorter, the penalty stays below 1% of the loss for c <= 1, and c = 0.01, 0.1,
            // 1 all score 0.806-0.809.
            "c = 0.1\nxi = 0.1\n"
        } else if benchmark.model() == crate::scenario::ModelKind::Cnn {
            // The paper's values (it chose c on a validation set); no CIFAR sweep fits a 2-core CPU.
            "c = 0.1\nxi = 1e-3\n"
        } else {
            // The paper's values. The sweep put c = 0.3, 1, 3, 10 within 0.0023 of each other
            // (0.9920 at 0.3, 0.9897 at 1): seed noise, so the paper's protocol stays the default.
            "c = 1.0\nxi = 1e-3\n"
        })
    }

    fn check(o: &SiOptions) -> Result<(), OptionError> {
        shared::check_strength("c", o.c)?;
        shared::check_positive("xi", o.xi)?;
        if let Some(cap) = o.si_cap {
            shared::check_positive("si_cap", cap)?;
        }
        shared::check_exclude(&o.exclude)
    }

    fn summary(o: &SiOptions) -> String {
        let mut s = format!("c={} ξ={}", o.c, o.xi);
        if o.si_grad != SiGrad::Task {
            s += " si-grad=total";
        }
        if o.si_clamp != SiClamp::Relu {
            s += " si-clamp=none";
        }
        if o.si_half {
            s += " si-half";
        }
        if let Some(cap) = o.si_cap {
            s += &format!(" si-cap={cap}");
        }
        s + &shared::exclude_summary(&o.exclude)
    }

    fn regularized() -> bool {
        true
    }

    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        o: &SiOptions,
        _ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        Some(Box::new(
            Consolidator::<B, _>::new(o.si_config()).with_exclude(o.exclude.clone()),
        ))
    }
}
