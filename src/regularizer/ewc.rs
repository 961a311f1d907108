//! Elastic weight consolidation (Kirkpatrick et al. 2017) and its online form (Schwarz et al.
//! 2018). Importance is the diagonal Fisher information at the end of each task,
//! built from per-example gradients of log p(y|x).
//!
//! Offline EWC keeps one penalty term per past task, (λ/2)·Σ_t F_t(θ − θ*_t)²; online EWC keeps
//! one, F ← γF + F_t with the latest anchor.

use crate::names::UnknownName;
use burn::module::{AutodiffModule, ParamId};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::per_sample::{accumulate, mean, Sums};
use super::{Combine, Consolidator, Estimator, Inner, RegularizerState, StateError, TaskSamples};
use crate::model::Classifier;

/// How the label in log p(y|x) is chosen for the Fisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum FisherEstimator {
    /// Every label, weighted by the model's probability: the true Fisher.
    #[default]
    Exact,
    /// One label drawn from the model's distribution per example (unbiased, cheaper).
    Sampled,
    /// The example's true label (the "empirical Fisher").
    Empirical,
}

impl std::str::FromStr for FisherEstimator {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "exact" => Ok(Self::Exact),
            "sampled" => Ok(Self::Sampled),
            "empirical" => Ok(Self::Empirical),
            _ => Err(UnknownName::new(
                "fisher",
                s,
                &["exact", "sampled", "empirical"],
            )),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for FisherEstimator {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

/// EWC's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EwcConfig {
    /// Penalty strength λ in (λ/2)·ΣF(θ − θ*)².
    pub lambda: f64,
    /// Online EWC's decay γ; `None` is offline EWC (one term per task).
    pub gamma: Option<f64>,
    /// Fisher estimator.
    pub estimator: FisherEstimator,
    /// Examples per task the Fisher is averaged over.
    pub samples: usize,
    /// Seed of the label draws of [`FisherEstimator::Sampled`].
    pub seed: u64,
}

/// EWC's estimator: the diagonal Fisher of each finished task.
pub struct Ewc<B: AutodiffBackend> {
    cfg: EwcConfig,
    fisher: Sums<B>,
    tasks: u64,
}

impl<B: AutodiffBackend> Consolidator<B, Ewc<B>> {
    /// EWC (offline, or online when `cfg.gamma` is set) as a regulariser.
    pub fn ewc(cfg: EwcConfig) -> Self {
        Self::with_estimator(
            Ewc {
                cfg,
                fisher: Sums::<B>::new(),
                tasks: 0,
            },
            cfg.lambda / 2.0,
        )
    }
}

/// Log-probabilities `[1, outputs]` of one example, over the competing outputs only.
pub(crate) fn log_probs<B: AutodiffBackend, M: Classifier<B>>(
    model: &M,
    x: Tensor<B, 2>,
    active: Option<&[usize]>,
) -> Tensor<B, 2> {
    let device = x.device();
    let logits = model.logits(x);
    let outputs = logits.dims()[1];
    let logits = match crate::model::output_mask::<B>(outputs, active, &device) {
        Some(m) => logits + m,
        None => logits,
    };
    log_softmax(logits, 1)
}

fn pick<B: AutodiffBackend>(logp: Tensor<B, 2>, class: usize) -> Tensor<B, 1> {
    logp.slice([0..1, class..class + 1]).reshape([1])
}

/// The diagonal Fisher of `model` on the first `n` examples of `samples`:
/// mean over examples of E_y[(∂ log p(y|x)/∂θ)²], with y chosen by `estimator`.
pub fn fisher_diagonal<B, M>(
    model: &M,
    samples: &dyn TaskSamples<B>,
    estimator: FisherEstimator,
    n: usize,
    rng: &mut impl Rng,
) -> std::collections::HashMap<ParamId, Tensor<Inner<B>, 1>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B>,
{
    let n = n.min(samples.len());
    let active = samples.active_outputs();
    let mut acc = Sums::<B>::new();
    let sq = |g: Tensor<Inner<B>, 1>| g.clone() * g;
    for i in 0..n {
        let (x, y) = samples.batch(&[i]);
        let logp = log_probs(model, x.clone(), active);
        match estimator {
            FisherEstimator::Empirical => {
                let label: i64 = y.into_scalar().elem();
                accumulate(model, pick(logp, label as usize), &mut acc, sq);
            }
            FisherEstimator::Sampled => {
                let p: Vec<f64> = probabilities(&logp);
                let u: f64 = rng.gen();
                let mut cum = 0.0;
                let mut label = p.iter().rposition(|&v| v > 0.0).unwrap_or(0);
                for (c, &pc) in p.iter().enumerate() {
                    cum += pc;
                    if u < cum {
                        label = c;
                        break;
                    }
                }
                accumulate(model, pick(logp, label), &mut acc, sq);
            }
            FisherEstimator::Exact => {
                let p = probabilities(&logp);
                // One backward pass per label; the first reuses this forward pass.
                let mut graph = Some(logp);
                for (c, &pc) in p.iter().enumerate() {
                    if pc <= 0.0 {
                        continue;
                    }
                    let lp = graph
                        .take()
                        .unwrap_or_else(|| log_probs(model, x.clone(), active));
                    accumulate(model, pick(lp, c), &mut acc, |g| {
                        (g.clone() * g).mul_scalar(pc)
                    });
                }
            }
        }
    }
    mean::<B>(acc, n)
}

fn probabilities<B: AutodiffBackend>(logp: &Tensor<B, 2>) -> Vec<f64> {
    logp.clone()
        .inner()
        .exp()
        .into_data()
        .convert::<f64>()
        .to_vec()
        .expect("f64 data")
}

impl<B, M> Estimator<B, M> for Ewc<B>
where
    B: AutodiffBackend,
    M: AutodiffModule<B> + Classifier<B>,
{
    fn quantity(&self) -> &'static str {
        "Fisher information"
    }

    fn combine(&self) -> Combine {
        match self.cfg.gamma {
            Some(g) => Combine::Decay(g),
            None => Combine::PerTask,
        }
    }

    fn samples_wanted(&self) -> usize {
        self.cfg.samples
    }

    fn save_state(&self, _params: &[(ParamId, &str)], out: &mut RegularizerState) {
        out.counters.insert("ewc.tasks".into(), self.tasks);
    }

    fn load_state(
        &mut self,
        _params: &[(ParamId, &str, &Tensor<Inner<B>, 1>)],
        state: &RegularizerState,
    ) -> Result<(), StateError> {
        self.tasks = state.counter("ewc.tasks")?;
        Ok(())
    }

    fn prepare(&mut self, model: &M, samples: &dyn TaskSamples<B>) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.cfg.seed ^ (self.tasks << 32));
        self.tasks += 1;
        self.fisher = fisher_diagonal(
            model,
            samples,
            self.cfg.estimator,
            self.cfg.samples,
            &mut rng,
        );
    }

    fn task_importance(
        &mut self,
        id: ParamId,
        value: &Tensor<Inner<B>, 1>,
        _moved: &Tensor<Inner<B>, 1>,
    ) -> Tensor<Inner<B>, 1> {
        // A parameter no example's loss reached has zero Fisher.
        self.fisher
            .remove(&id)
            .unwrap_or_else(|| value.zeros_like())
    }
}
