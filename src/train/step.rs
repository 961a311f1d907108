//! How one optimizer step is executed, chosen once per run: burn's Adam with the regulariser's
//! hooks around it, or the fused CPU step ([`super::fused`]) that does the same arithmetic in one
//! pass. Both give the same numbers bit for bit; the loop sees only [`StepExec`].

use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{ElementConversion, Tensor};

use super::fused::{self, AdamConsts};
use super::{AdamOptim, AdamRecord, TrainConfig};
use crate::model::TrainModel;
use crate::regularizer::{walk_params, Regularizer};

/// A gradient that is NaN or infinite, found before the step changed anything.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("gradient of parameter '{param}' is not finite (NaN or inf)")]
pub struct BadGradient {
    /// Module path of the first such parameter.
    pub param: String,
}

/// Executes optimizer steps and owns Adam's state.
pub trait StepExec<B: AutodiffBackend, M: TrainModel<B>> {
    /// One step on `model` with the task-loss gradients `grads` (and the regulariser's hooks);
    /// the error names the first parameter whose gradient is not finite, before any change.
    fn step(
        &mut self,
        model: M,
        grads: GradientsParams,
        reg: Option<&mut dyn Regularizer<B, M>>,
    ) -> Result<M, BadGradient>;
    /// Forgets Adam's moments and step count (a task start with `reset_optimizer`, a fresh
    /// network).
    fn reset(&mut self);
    /// Adam's state, for a checkpoint.
    fn record(&self) -> AdamRecord<B, M>;
    /// Restores Adam's state from a checkpoint.
    fn load(&mut self, record: AdamRecord<B, M>);
}

/// Adam as the loop configures it.
fn adam(cfg: &TrainConfig) -> AdamConfig {
    AdamConfig::new()
        .with_beta_1(cfg.beta1 as f32)
        .with_beta_2(cfg.beta2 as f32)
        .with_epsilon(cfg.epsilon as f32)
}

/// The step executor for a run: fused where the backend and the regulariser allow it.
pub fn for_run<B, M>(
    cfg: &TrainConfig,
    reg: Option<&mut dyn Regularizer<B, M>>,
) -> Box<dyn StepExec<B, M>>
where
    B: AutodiffBackend,
    M: TrainModel<B>,
{
    let fusable = fused::available::<B>()
        && fused::enabled()
        && reg.is_none_or(|r| fused::hooks::<B, M>(r).is_some());
    if fusable {
        Box::new(FusedStep::<B, M> {
            records: adam(cfg).init::<B, M>().to_record(),
            consts: AdamConsts {
                beta_1: cfg.beta1 as f32,
                beta_2: cfg.beta2 as f32,
                epsilon: cfg.epsilon as f32,
            },
            lr: cfg.lr,
            fresh: adam(cfg),
        })
    } else {
        Box::new(GenericStep::<B, M> {
            optim: adam(cfg).init::<B, M>(),
            lr: cfg.lr,
            fresh: adam(cfg),
        })
    }
}

/// burn's Adam, with the regulariser's `before_step` and `after_step` around it.
pub struct GenericStep<B: AutodiffBackend, M: TrainModel<B>> {
    optim: AdamOptim<B, M>,
    lr: f64,
    fresh: AdamConfig,
}

impl<B: AutodiffBackend, M: TrainModel<B>> StepExec<B, M> for GenericStep<B, M> {
    fn step(
        &mut self,
        model: M,
        mut grads: GradientsParams,
        mut reg: Option<&mut dyn Regularizer<B, M>>,
    ) -> Result<M, BadGradient> {
        if let Some(param) = non_finite_gradient::<B, M>(&model, &mut grads) {
            return Err(BadGradient { param });
        }
        let grads = match reg.as_deref_mut() {
            Some(r) => r.before_step(&model, grads),
            None => grads,
        };
        let model = self.optim.step(self.lr, model, grads);
        if let Some(r) = reg {
            r.after_step(&model);
        }
        Ok(model)
    }

    fn reset(&mut self) {
        self.optim = self.fresh.init::<B, M>();
    }

    fn record(&self) -> AdamRecord<B, M> {
        self.optim.to_record()
    }

    fn load(&mut self, record: AdamRecord<B, M>) {
        self.optim = self.fresh.init::<B, M>().load_record(record);
    }
}

/// The fused CPU step; Adam's records stay here between steps, uniquely owned, so that the
/// moments are updated in place.
pub struct FusedStep<B: AutodiffBackend, M: TrainModel<B>> {
    records: AdamRecord<B, M>,
    consts: AdamConsts,
    lr: f64,
    fresh: AdamConfig,
}

impl<B: AutodiffBackend, M: TrainModel<B>> StepExec<B, M> for FusedStep<B, M> {
    fn step(
        &mut self,
        model: M,
        grads: GradientsParams,
        reg: Option<&mut dyn Regularizer<B, M>>,
    ) -> Result<M, BadGradient> {
        let mut hooks = reg.and_then(|r| fused::hooks::<B, M>(r));
        fused::step::<B, M>(
            model,
            grads,
            &mut self.records,
            self.consts,
            self.lr,
            hooks.as_deref_mut(),
        )
    }

    fn reset(&mut self) {
        self.records = self.fresh.init::<B, M>().to_record();
    }

    fn record(&self) -> AdamRecord<B, M> {
        self.records.clone()
    }

    fn load(&mut self, record: AdamRecord<B, M>) {
        self.records = record;
    }
}

/// The path of the first parameter whose gradient holds a NaN or inf, if any. One reduction per
/// parameter and a single read-back in the common, finite case.
fn non_finite_gradient<B, M>(model: &M, grads: &mut GradientsParams) -> Option<String>
where
    B: AutodiffBackend,
    M: TrainModel<B>,
{
    let mut sums: Vec<(String, Tensor<B::InnerBackend, 1>)> = Vec::new();
    walk_params::<B, M, _>(model, Some(grads), |p, g| {
        if let Some(g) = g {
            sums.push((p.path.to_string(), g.sum()));
        }
        None
    });
    let total = sums.iter().map(|(_, s)| s.clone()).reduce(|a, b| a + b)?;
    let total: f64 = total.into_scalar().elem();
    if total.is_finite() {
        return None;
    }
    // A sum can overflow without any element being bad: look at each parameter.
    sums.into_iter().find_map(|(path, s)| {
        let v: f64 = s.into_scalar().elem();
        (!v.is_finite()).then_some(path)
    })
}
