//! The machinery every importance method shares: per-parameter importances Ω and anchors θ̃, the
//! quadratic penalty `scale · Σ_k Σ_terms Ω_k (θ_k − θ̃_k)²`, its closed-form gradient, parameter
//! exclusion and the finiteness checks. What differs between methods is an [`Estimator`].

use std::collections::HashMap;

use burn::module::{AutodiffModule, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Tensor};

use super::{
    glob_match, walk_params, Inner, NonFinite, Regularizer, RegularizerState, StateError,
    TaskSamples,
};

/// How the importance measured on a finished task joins the stored importance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Combine {
    /// Ω ← Ω + Ω_t, then clamped to `[min, max]` where given (SI, MAS); one anchor.
    Sum {
        /// Lower clamp (SI's ReLU: 0).
        min: Option<f64>,
        /// Upper clamp (Avalanche's cap).
        max: Option<f64>,
    },
    /// Ω ← γ·Ω + Ω_t (online EWC); one anchor.
    Decay(f64),
    /// Ω ← Ω_t (L2, where Ω_t ≡ 1); one anchor.
    Replace,
    /// One (Ω_t, θ*_t) penalty term per finished task (offline EWC).
    PerTask,
}

/// What a method measures: importance along the path (per-step hooks) or at a task's end.
///
/// Every hook receives one parameter at a time, flattened; excluded parameters never reach it.
pub trait Estimator<B: AutodiffBackend, M> {
    /// Name of the importance, for error messages (e.g. "Fisher information").
    fn quantity(&self) -> &'static str;
    /// How task importances accumulate.
    fn combine(&self) -> Combine;
    /// Examples of a finished task that [`Estimator::prepare`] needs (0: none).
    fn samples_wanted(&self) -> usize {
        0
    }
    /// Whether the per-step hooks are needed (SI); false skips them entirely.
    fn tracks_path(&self) -> bool {
        false
    }
    /// A parameter is registered, with its initial value.
    fn init_param(&mut self, _id: ParamId, _value: &Tensor<Inner<B>, 1>) {}
    /// Before an optimizer step: pre-step weights, the task-loss gradient and the gradient the
    /// optimizer will apply (task gradient plus penalty gradient).
    fn before_step(
        &mut self,
        _id: ParamId,
        _value: &Tensor<Inner<B>, 1>,
        _task_grad: &Tensor<Inner<B>, 1>,
        _total_grad: &Tensor<Inner<B>, 1>,
    ) {
    }
    /// After the optimizer step, with the new weights.
    fn after_step(&mut self, _id: ParamId, _value: &Tensor<Inner<B>, 1>) {}
    /// Whole-model measurements on the finished task's examples, before
    /// [`Estimator::task_importance`] is asked for each parameter.
    fn prepare(&mut self, _model: &M, _samples: &dyn TaskSamples<B>) {}
    /// Adds the estimator's own state (e.g. SI's ω) to a checkpoint; `params` lists every
    /// non-excluded parameter's id and path.
    fn save_state(&self, _params: &[(ParamId, &str)], _out: &mut RegularizerState) {}
    /// Restores what [`Estimator::save_state`] wrote, after `init_param` ran for every
    /// non-excluded parameter of the model being resumed.
    fn load_state(
        &mut self,
        _params: &[(ParamId, &str, &Tensor<Inner<B>, 1>)],
        _state: &RegularizerState,
    ) -> Result<(), StateError> {
        Ok(())
    }
    /// Importance of one parameter for the finished task; `moved` is θ − θ̃ over that task.
    fn task_importance(
        &mut self,
        id: ParamId,
        value: &Tensor<Inner<B>, 1>,
        moved: &Tensor<Inner<B>, 1>,
    ) -> Tensor<Inner<B>, 1>;
}

/// The stored state of one parameter.
#[derive(Debug, Clone)]
pub struct ParamState<I: Backend> {
    /// Module path, e.g. `layers.2.weight`.
    pub path: String,
    /// Left out of every penalty by `--exclude`.
    pub excluded: bool,
    /// θ̃: the weights at the end of the last task (the initial weights before the first).
    pub reference: Tensor<I, 1>,
    /// (Ω, anchor) pairs of the penalty: one for single-anchor methods, one per task for EWC.
    pub terms: Vec<(Tensor<I, 1>, Tensor<I, 1>)>,
}

/// A regulariser made of an [`Estimator`] and the shared importance store.
pub struct Consolidator<B: AutodiffBackend, E> {
    /// The method-specific part.
    pub estimator: E,
    scale: f64,
    exclude: Vec<String>,
    slots: HashMap<ParamId, ParamState<Inner<B>>>,
    order: Vec<ParamId>,
    tasks_done: usize,
}

impl<B: AutodiffBackend, E> Consolidator<B, E> {
    /// A store whose penalty is `scale · Σ Ω (θ − θ̃)²` (so its gradient is `2·scale·Ω(θ − θ̃)`).
    pub fn with_estimator(estimator: E, scale: f64) -> Self {
        Self {
            estimator,
            scale,
            exclude: Vec::new(),
            slots: HashMap::new(),
            order: Vec::new(),
            tasks_done: 0,
        }
    }

    /// Leaves parameters whose path matches any of these globs out of the penalty.
    pub fn with_exclude(mut self, patterns: Vec<String>) -> Self {
        self.exclude = patterns;
        self
    }

    /// The penalty's factor in front of `Σ Ω (θ − θ̃)²`.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Number of finished tasks consolidated so far.
    pub fn tasks_done(&self) -> usize {
        self.tasks_done
    }

    /// The stored state of parameter `id` (`None`: not a parameter of the model it was
    /// initialised with).
    pub fn param(&self, id: ParamId) -> Option<&ParamState<Inner<B>>> {
        self.slots.get(&id)
    }

    /// The stored state of every parameter, in visit order.
    pub fn states(&self) -> impl Iterator<Item = (ParamId, &ParamState<Inner<B>>)> {
        self.order.iter().map(|id| (*id, &self.slots[id]))
    }

    fn slot_missing() -> ! {
        panic!(
            "the regulariser was initialised with a different model: call init() with this model"
        )
    }
}

fn all_finite<I: Backend>(t: &Tensor<I, 1>) -> bool {
    let bad = t.clone().is_nan().any().into_scalar().elem::<bool>()
        || t.clone().is_inf().any().into_scalar().elem::<bool>();
    !bad
}

impl<B, M, E> Regularizer<B, M> for Consolidator<B, E>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    E: Estimator<B, M> + 'static,
{
    fn init(&mut self, model: &M) {
        self.slots.clear();
        self.order.clear();
        self.tasks_done = 0;
        let (slots, order, est, exclude) = (
            &mut self.slots,
            &mut self.order,
            &mut self.estimator,
            &self.exclude,
        );
        walk_params::<B, M, _>(model, None, |p, _| {
            let excluded = exclude.iter().any(|pat| glob_match(pat, p.path));
            if !excluded {
                est.init_param(p.id, &p.value);
            }
            slots.insert(
                p.id,
                ParamState {
                    path: p.path.to_string(),
                    excluded,
                    reference: p.value,
                    terms: Vec::new(),
                },
            );
            order.push(p.id);
            None
        });
    }

    fn before_step(&mut self, model: &M, mut grads: GradientsParams) -> GradientsParams {
        let penalise = self.tasks_done > 0 && self.scale != 0.0;
        let track = self.estimator.tracks_path();
        if !penalise && !track {
            return grads;
        }
        let two_s = 2.0 * self.scale;
        let (slots, est) = (&self.slots, &mut self.estimator);
        walk_params::<B, M, _>(model, Some(&mut grads), |p, g| {
            let slot = slots.get(&p.id).unwrap_or_else(|| Self::slot_missing());
            if slot.excluded {
                return None;
            }
            let pull = || {
                if !penalise {
                    return None;
                }
                slot.terms
                    .iter()
                    .fold(None, |acc: Option<Tensor<_, 1>>, (o, a)| {
                        let t = ((p.value.clone() - a.clone()) * o.clone()).mul_scalar(two_s);
                        Some(match acc {
                            Some(s) => s + t,
                            None => t,
                        })
                    })
            };
            match g {
                Some(g) => {
                    let total = pull().map(|q| g.clone() + q);
                    if track {
                        // The task-loss gradient alone is still `g` here.
                        est.before_step(p.id, &p.value, &g, total.as_ref().unwrap_or(&g));
                    }
                    total
                }
                // A trainable parameter the task loss did not reach (an unused branch) still
                // feels its anchor.
                None if p.trainable => pull(),
                None => None,
            }
        });
        grads
    }

    fn after_step(&mut self, model: &M) {
        if !self.estimator.tracks_path() {
            return;
        }
        let (slots, est) = (&self.slots, &mut self.estimator);
        walk_params::<B, M, _>(model, None, |p, _| {
            if !slots[&p.id].excluded {
                est.after_step(p.id, &p.value);
            }
            None
        });
    }

    fn samples_wanted(&self) -> usize {
        self.estimator.samples_wanted()
    }

    fn end_task(
        &mut self,
        model: &M,
        task: usize,
        samples: &dyn TaskSamples<B>,
    ) -> Result<(), NonFinite> {
        self.estimator.prepare(model, samples);
        let combine = self.estimator.combine();
        let what = self.estimator.quantity();
        let (slots, est) = (&mut self.slots, &mut self.estimator);
        let mut bad: Option<String> = None;
        walk_params::<B, M, _>(model, None, |p, _| {
            let slot = slots.get_mut(&p.id).unwrap_or_else(|| Self::slot_missing());
            if bad.is_some() {
                return None;
            }
            if slot.excluded {
                slot.reference = p.value;
                return None;
            }
            let moved = p.value.clone() - slot.reference.clone();
            let new = est.task_importance(p.id, &p.value, &moved);
            let old = slot.terms.first().map(|(o, _)| o.clone());
            let combined = match (combine, old) {
                (Combine::Sum { .. }, Some(o)) => o + new,
                (Combine::Decay(gamma), Some(o)) => o.mul_scalar(gamma) + new,
                _ => new,
            };
            // Checked before any clamp, which would turn NaN and −inf into numbers.
            if !all_finite(&combined) {
                bad = Some(slot.path.clone());
                return None;
            }
            let combined = match combine {
                Combine::Sum { min, max } => {
                    let c = match min {
                        Some(m) => combined.clamp_min(m),
                        None => combined,
                    };
                    match max {
                        Some(m) => c.clamp_max(m),
                        None => c,
                    }
                }
                _ => combined,
            };
            match combine {
                Combine::PerTask => slot.terms.push((combined, p.value.clone())),
                _ => slot.terms = vec![(combined, p.value.clone())],
            }
            slot.reference = p.value;
            None
        });
        if let Some(param) = bad {
            return Err(NonFinite {
                what,
                param,
                task: task + 1,
            });
        }
        self.tasks_done += 1;
        Ok(())
    }

    fn penalty(&self, model: &M) -> f64 {
        if self.tasks_done == 0 || self.scale == 0.0 {
            return 0.0;
        }
        let mut total = 0.0f64;
        walk_params::<B, M, _>(model, None, |p, _| {
            let s = &self.slots[&p.id];
            if s.excluded {
                return None;
            }
            for (o, a) in &s.terms {
                let d = p.value.clone() - a.clone();
                let v: f64 = (d.clone() * d * o.clone()).sum().into_scalar().elem();
                total += v;
            }
            None
        });
        self.scale * total
    }

    fn state(&self) -> RegularizerState {
        let mut st = RegularizerState::default();
        st.counters
            .insert("tasks_done".into(), self.tasks_done as u64);
        let mut params = Vec::new();
        for id in &self.order {
            let s = &self.slots[id];
            st.put(format!("reference:{}", s.path), &s.reference);
            st.counters
                .insert(format!("terms:{}", s.path), s.terms.len() as u64);
            for (k, (o, a)) in s.terms.iter().enumerate() {
                st.put(format!("importance{k}:{}", s.path), o);
                st.put(format!("anchor{k}:{}", s.path), a);
            }
            if !s.excluded {
                params.push((*id, s.path.as_str()));
            }
        }
        self.estimator.save_state(&params, &mut st);
        st
    }

    fn load_state(&mut self, model: &M, state: &RegularizerState) -> Result<(), StateError> {
        Regularizer::<B, M>::init(self, model);
        let mut err: Option<StateError> = None;
        let mut values = Vec::new();
        for id in &self.order {
            let slot = self.slots.get_mut(id).expect("slot of a walked parameter");
            let n = slot.reference.dims()[0];
            let device = slot.reference.device();
            let result = (|| {
                let path = &slot.path;
                slot.reference = state.get(&format!("reference:{path}"), n, &device)?;
                let terms = state.counter(&format!("terms:{path}"))?;
                slot.terms = (0..terms)
                    .map(|k| {
                        Ok((
                            state.get(&format!("importance{k}:{path}"), n, &device)?,
                            state.get(&format!("anchor{k}:{path}"), n, &device)?,
                        ))
                    })
                    .collect::<Result<_, StateError>>()?;
                Ok::<(), StateError>(())
            })();
            if let Err(e) = result {
                err.get_or_insert(e);
            }
        }
        if let Some(e) = err {
            return Err(e);
        }
        walk_params::<B, M, _>(model, None, |p, _| {
            values.push((p.id, p.path.to_string(), p.value));
            None
        });
        let params: Vec<(ParamId, &str, &Tensor<Inner<B>, 1>)> = values
            .iter()
            .filter(|(id, _, _)| !self.slots[id].excluded)
            .map(|(id, path, v)| (*id, path.as_str(), v))
            .collect();
        self.estimator.load_state(&params, state)?;
        self.tasks_done = state.counter("tasks_done")? as usize;
        Ok(())
    }
}
