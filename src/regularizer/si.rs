//! Synaptic Intelligence (Zenke, Poole & Ganguli 2017), as the official code computes it (SPEC §2).
//!
//! Per step: ω ← ω − g·Δθ with g the task-loss gradient at the pre-step weights and Δθ the
//! optimizer's real update. Penalty c·ΣΩ(θ−θ̃)², whose gradient 2cΩ(θ−θ̃) is added to g in closed
//! form. At a task end, in order: Ω ← max(0, Ω + ω/((θ−θ̃)² + ξ)); θ̃ ← θ; ω ← 0.

use std::collections::HashMap;

use burn::module::{AutodiffModule, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{walk_params, Inner, NonFinite, Regularizer};

/// SI's hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiConfig {
    /// Penalty strength c (dimensionless; the paper's λ).
    pub c: f64,
    /// Damping ξ in the importance denominator (units of θ²).
    pub xi: f64,
}

struct Slot<I: Backend> {
    path: String,
    /// ω: path integral of the current task.
    omega: Tensor<I, 1>,
    /// Ω: consolidated importance.
    importance: Tensor<I, 1>,
    /// θ̃: weights at the end of the previous task.
    anchor: Tensor<I, 1>,
    /// g and θ of the step in flight, between `before_step` and `after_step`.
    step: Option<(Tensor<I, 1>, Tensor<I, 1>)>,
}

/// One parameter's SI state, copied out for inspection and reports.
#[derive(Debug, Clone)]
pub struct ParamImportance {
    /// Module path of the parameter.
    pub path: String,
    /// ω of the task in progress.
    pub omega: Vec<f32>,
    /// Ω, the consolidated importance.
    pub importance: Vec<f32>,
    /// θ̃, the anchor.
    pub anchor: Vec<f32>,
}

/// SI state for one model: ω, Ω and θ̃ for each float parameter, keyed by burn's `ParamId`.
pub struct SynapticIntelligence<B: AutodiffBackend> {
    cfg: SiConfig,
    slots: HashMap<ParamId, Slot<Inner<B>>>,
    order: Vec<ParamId>,
    /// False until the first task ends: Ω is zero, so the penalty gradient can be skipped.
    consolidated: bool,
}

impl<B: AutodiffBackend> SynapticIntelligence<B> {
    /// SI with the given c and ξ; call [`Regularizer::init`] with the model before training.
    pub fn new(cfg: SiConfig) -> Self {
        Self {
            cfg,
            slots: HashMap::new(),
            order: Vec::new(),
            consolidated: false,
        }
    }

    /// The hyperparameters.
    pub fn config(&self) -> SiConfig {
        self.cfg
    }

    /// Copies ω, Ω and θ̃ of every parameter to host memory (visit order).
    pub fn snapshot(&self) -> Vec<ParamImportance> {
        let host = |t: &Tensor<Inner<B>, 1>| -> Vec<f32> {
            t.clone()
                .into_data()
                .convert::<f32>()
                .to_vec()
                .expect("f32 data")
        };
        self.order
            .iter()
            .map(|id| {
                let s = &self.slots[id];
                ParamImportance {
                    path: s.path.clone(),
                    omega: host(&s.omega),
                    importance: host(&s.importance),
                    anchor: host(&s.anchor),
                }
            })
            .collect()
    }

    fn slot(&mut self, id: ParamId) -> &mut Slot<Inner<B>> {
        self.slots
            .get_mut(&id)
            .expect("SI was initialised with a different model: call init() with this model")
    }
}

fn all_finite<I: Backend>(t: &Tensor<I, 1>) -> bool {
    let s: f64 = t.clone().abs().sum().into_scalar().elem();
    s.is_finite()
}

use burn::tensor::ElementConversion;

impl<B: AutodiffBackend, M: AutodiffModule<B>> Regularizer<B, M> for SynapticIntelligence<B> {
    fn init(&mut self, model: &M) {
        self.slots.clear();
        self.order.clear();
        self.consolidated = false;
        let (slots, order) = (&mut self.slots, &mut self.order);
        walk_params::<B, M, _>(model, None, |p, _| {
            let zeros = p.value.zeros_like();
            slots.insert(
                p.id,
                Slot {
                    path: p.path.to_string(),
                    omega: zeros.clone(),
                    importance: zeros,
                    anchor: p.value,
                    step: None,
                },
            );
            order.push(p.id);
            None
        });
    }

    fn before_step(&mut self, model: &M, mut grads: GradientsParams) -> GradientsParams {
        let two_c = 2.0 * self.cfg.c;
        let penalise = self.consolidated && self.cfg.c != 0.0;
        walk_params::<B, M, _>(model, Some(&mut grads), |p, g| {
            let g = g?;
            let slot = self.slot(p.id);
            let total = if penalise {
                let pull = (p.value.clone() - slot.anchor.clone()) * slot.importance.clone();
                Some(g.clone() + pull.mul_scalar(two_c))
            } else {
                None
            };
            // ω needs the task-loss gradient alone, which `g` still is here.
            slot.step = Some((g, p.value));
            total
        });
        grads
    }

    fn after_step(&mut self, model: &M) {
        walk_params::<B, M, _>(model, None, |p, _| {
            let slot = self.slot(p.id);
            if let Some((g, before)) = slot.step.take() {
                let delta = p.value - before;
                slot.omega = slot.omega.clone() - g * delta;
            }
            None
        });
    }

    fn end_task(&mut self, model: &M, task: usize) -> Result<(), NonFinite> {
        let xi = self.cfg.xi;
        let mut bad = None;
        walk_params::<B, M, _>(model, None, |p, _| {
            let slot = self.slot(p.id);
            if bad.is_some() {
                return None;
            }
            if !all_finite(&slot.omega) {
                bad = Some(("path integral ω", slot.path.clone()));
                return None;
            }
            let moved = p.value.clone() - slot.anchor.clone();
            let denom = moved.clone() * moved + xi;
            let updated = (slot.importance.clone() + slot.omega.clone() / denom).clamp_min(0.0);
            if !all_finite(&updated) {
                bad = Some(("importance Ω", slot.path.clone()));
                return None;
            }
            slot.importance = updated;
            slot.anchor = p.value;
            slot.omega = slot.omega.zeros_like();
            None
        });
        if let Some((what, param)) = bad {
            return Err(NonFinite {
                what,
                param,
                task: task + 1,
            });
        }
        self.consolidated = true;
        Ok(())
    }

    fn penalty(&self, model: &M) -> f64 {
        if !self.consolidated {
            return 0.0;
        }
        let mut total = 0.0f64;
        walk_params::<B, M, _>(model, None, |p, _| {
            let s = &self.slots[&p.id];
            let d = p.value - s.anchor.clone();
            let v: f64 = (d.clone() * d * s.importance.clone())
                .sum()
                .into_scalar()
                .elem();
            total += v;
            None
        });
        self.cfg.c * total
    }
}
