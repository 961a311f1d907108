//! Synaptic Intelligence (Zenke, Poole & Ganguli 2017), as the official code computes it.
//!
//! Per step: ω ← ω − g·Δθ with g the task-loss gradient at the pre-step weights and Δθ the
//! optimizer's real update. Penalty c·ΣΩ(θ−θ̃)², whose gradient 2cΩ(θ−θ̃) is added to g in closed
//! form. At a task end, in order: Ω ← max(0, Ω + ω/((θ−θ̃)² + ξ)); θ̃ ← θ; ω ← 0.
//!
//! The switches of [`SiConfig`] reproduce the other implementations (README, "SI variants").

use crate::names::UnknownName;
use std::collections::HashMap;

use burn::module::{AutodiffModule, ParamId};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::state::host;
use super::{Combine, Consolidator, Estimator, Inner, RegularizerState, StateError};

/// Which gradient enters the path integral ω.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum SiGrad {
    /// The task loss alone (the paper and the official code).
    #[default]
    Task,
    /// The penalised loss the optimizer follows (van de Ven, Avalanche, numenta).
    Total,
}

impl std::str::FromStr for SiGrad {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "task" => Ok(Self::Task),
            "total" => Ok(Self::Total),
            _ => Err(UnknownName::new("si_grad", s, &["task", "total"])),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for SiGrad {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

/// The lower clamp on the cumulative importance Ω.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum SiClamp {
    /// Ω ← max(0, Ω + …) (the official code's `tf.nn.relu`).
    #[default]
    Relu,
    /// No clamp: Ω may go negative (van de Ven, mammoth, FACIL).
    None,
}

impl std::str::FromStr for SiClamp {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "relu" => Ok(Self::Relu),
            "none" => Ok(Self::None),
            _ => Err(UnknownName::new("si_clamp", s, &["relu", "none"])),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for SiClamp {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

/// SI's hyperparameters and variant switches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SiConfig {
    /// Penalty strength c (dimensionless; the paper's λ).
    pub c: f64,
    /// Damping ξ in the importance denominator (units of θ²).
    pub xi: f64,
    /// Gradient used in ω.
    pub grad: SiGrad,
    /// Lower clamp on Ω.
    pub clamp: SiClamp,
    /// Penalty (c/2)·ΣΩ(θ−θ̃)² instead of c·ΣΩ(θ−θ̃)² (Avalanche).
    pub half: bool,
    /// Upper cap on Ω (Avalanche: 1e-3).
    pub cap: Option<f64>,
}

impl SiConfig {
    /// The paper's SI with strength `c` and damping `xi`; every switch at its default.
    pub fn new(c: f64, xi: f64) -> Self {
        Self {
            c,
            xi,
            grad: SiGrad::Task,
            clamp: SiClamp::Relu,
            half: false,
            cap: None,
        }
    }
}

/// SI's estimator: the per-step path integral ω, turned into importance at each task end.
pub struct Si<B: AutodiffBackend> {
    cfg: SiConfig,
    omega: HashMap<ParamId, Tensor<Inner<B>, 1>>,
    /// g and θ of the step in flight, between `before_step` and `after_step`.
    step: HashMap<ParamId, StepInFlight<B>>,
}

/// The gradient used for ω and the pre-step weights of one parameter.
type StepInFlight<B> = (Tensor<Inner<B>, 1>, Tensor<Inner<B>, 1>);

impl<B: AutodiffBackend> Si<B> {
    /// Takes the path integral ω of `id` out (e.g. for an in-place update), with whether it
    /// integrates the total gradient (true) or the task-loss gradient (false).
    pub fn take_omega(&mut self, id: ParamId) -> Option<(Tensor<Inner<B>, 1>, bool)> {
        let om = self.omega.remove(&id)?;
        Some((om, self.cfg.grad == SiGrad::Total))
    }

    /// Puts back what [`Si::take_omega`] took.
    pub fn put_omega(&mut self, id: ParamId, omega: Tensor<Inner<B>, 1>) {
        self.omega.insert(id, omega);
    }
}

/// SI as a regulariser: the [`Si`] estimator in a [`Consolidator`].
pub type SynapticIntelligence<B> = Consolidator<B, Si<B>>;

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

impl<B: AutodiffBackend> Consolidator<B, Si<B>> {
    /// SI with the given settings; call [`super::Regularizer::init`] with the model first.
    pub fn new(cfg: SiConfig) -> Self {
        let scale = if cfg.half { cfg.c / 2.0 } else { cfg.c };
        Self::with_estimator(
            Si {
                cfg,
                omega: HashMap::new(),
                step: HashMap::new(),
            },
            scale,
        )
    }

    /// The hyperparameters.
    pub fn config(&self) -> SiConfig {
        self.estimator.cfg
    }

    /// Copies ω, Ω and θ̃ of every parameter to host memory (visit order).
    pub fn snapshot(&self) -> Vec<ParamImportance> {
        self.states()
            .map(|(id, s)| {
                let zeros = || vec![0.0; s.reference.dims()[0]];
                ParamImportance {
                    path: s.path.clone(),
                    omega: self.estimator.omega.get(&id).map_or_else(zeros, host),
                    importance: s.terms.first().map_or_else(zeros, |(o, _)| host(o)),
                    anchor: host(&s.reference),
                }
            })
            .collect()
    }
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> Estimator<B, M> for Si<B> {
    fn quantity(&self) -> &'static str {
        "importance Ω"
    }

    fn combine(&self) -> Combine {
        Combine::Sum {
            min: (self.cfg.clamp == SiClamp::Relu).then_some(0.0),
            max: self.cfg.cap,
        }
    }

    fn tracks_path(&self) -> bool {
        true
    }

    fn init_param(&mut self, id: ParamId, value: &Tensor<Inner<B>, 1>) {
        self.omega.insert(id, value.zeros_like());
        self.step.remove(&id);
    }

    fn before_step(
        &mut self,
        id: ParamId,
        value: &Tensor<Inner<B>, 1>,
        task_grad: &Tensor<Inner<B>, 1>,
        total_grad: &Tensor<Inner<B>, 1>,
    ) {
        let g = match self.cfg.grad {
            SiGrad::Task => task_grad,
            SiGrad::Total => total_grad,
        };
        self.step.insert(id, (g.clone(), value.clone()));
    }

    fn after_step(&mut self, id: ParamId, value: &Tensor<Inner<B>, 1>) {
        if let Some((g, before)) = self.step.remove(&id) {
            let delta = value.clone() - before;
            if let Some(om) = self.omega.get_mut(&id) {
                *om = om.clone() - g * delta;
            }
        }
    }

    fn save_state(&self, params: &[(ParamId, &str)], out: &mut RegularizerState) {
        // Checkpoints are taken between steps, when no step is in flight.
        for (id, path) in params {
            if let Some(om) = self.omega.get(id) {
                out.put(format!("si.omega:{path}"), om);
            }
        }
    }

    fn load_state(
        &mut self,
        params: &[(ParamId, &str, &Tensor<Inner<B>, 1>)],
        state: &RegularizerState,
    ) -> Result<(), StateError> {
        self.step.clear();
        for (id, path, value) in params {
            let n = value.dims()[0];
            let om = state.get(&format!("si.omega:{path}"), n, &value.device())?;
            self.omega.insert(*id, om);
        }
        Ok(())
    }

    fn task_importance(
        &mut self,
        id: ParamId,
        value: &Tensor<Inner<B>, 1>,
        moved: &Tensor<Inner<B>, 1>,
    ) -> Tensor<Inner<B>, 1> {
        let omega = self
            .omega
            .insert(id, value.zeros_like())
            .unwrap_or_else(|| value.zeros_like());
        let denom = moved.clone() * moved.clone() + self.cfg.xi;
        omega / denom
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::CpuAutodiff as B;
    use crate::regularizer::{NoSamples, Regularizer};
    use burn::module::{Module, Param};
    use burn::optim::{GradientsParams, Optimizer, SgdConfig};
    use burn::tensor::backend::Backend;
    use burn::tensor::{Tensor, TensorData};

    type Inner = <B as AutodiffBackend>::InnerBackend;

    /// Two parameters in one `[1, 2]` tensor.
    #[derive(Module, Debug)]
    struct Two<B: Backend> {
        w: Param<Tensor<B, 2>>,
    }

    fn two(w: [f32; 2]) -> Two<B> {
        let dev = Default::default();
        Two {
            w: Param::from_tensor(Tensor::from_data(TensorData::new(w.to_vec(), [1, 2]), &dev)),
        }
    }

    fn with_w(m: &Two<B>, w: [f64; 2]) -> Two<B> {
        let dev = Default::default();
        let t = Tensor::from_data(
            TensorData::new(vec![w[0] as f32, w[1] as f32], [1, 2]),
            &dev,
        );
        Two {
            w: Param::initialized(m.w.id, t.require_grad()),
        }
    }

    fn w_of(m: &Two<B>) -> [f64; 2] {
        let v: Vec<f32> = m.w.val().into_data().to_vec().unwrap();
        [v[0] as f64, v[1] as f64]
    }

    /// L(w) = ½ (w − w*)ᵀ H (w − w*), as a burn graph.
    fn quad_loss(m: &Two<B>, h: [[f64; 2]; 2], target: [f64; 2]) -> Tensor<B, 1> {
        let dev = Default::default();
        let hm: Vec<f32> = h.iter().flatten().map(|&v| v as f32).collect();
        let hm = Tensor::<B, 2>::from_data(TensorData::new(hm, [2, 2]), &dev);
        let t = Tensor::<B, 2>::from_data(
            TensorData::new(vec![target[0] as f32, target[1] as f32], [1, 2]),
            &dev,
        );
        let d = m.w.val() - t;
        (d.clone().matmul(hm) * d).sum().mul_scalar(0.5)
    }

    fn quad_value(w: [f64; 2], h: [[f64; 2]; 2], t: [f64; 2]) -> f64 {
        let d = [w[0] - t[0], w[1] - t[1]];
        0.5 * (d[0] * (h[0][0] * d[0] + h[0][1] * d[1]) + d[1] * (h[1][0] * d[0] + h[1][1] * d[1]))
    }

    /// Runs `steps` of plain gradient descent on the quadratic with SI's hooks around each step.
    fn descend(
        si: &mut SynapticIntelligence<B>,
        mut m: Two<B>,
        h: [[f64; 2]; 2],
        t: [f64; 2],
        lr: f64,
        steps: usize,
    ) -> Two<B> {
        let mut opt = SgdConfig::new().init::<B, Two<B>>();
        for _ in 0..steps {
            let loss = quad_loss(&m, h, t);
            let g = GradientsParams::from_grads(loss.backward(), &m);
            let g = Regularizer::before_step(si, &m, g);
            m = opt.step(lr, m, g);
            Regularizer::after_step(si, &m);
        }
        m
    }

    fn si(c: f64, xi: f64, m: &Two<B>) -> SynapticIntelligence<B> {
        let mut s = SynapticIntelligence::<B>::new(SiConfig::new(c, xi));
        Regularizer::init(&mut s, m);
        s
    }

    #[test]
    fn omega_sums_to_the_loss_drop_on_a_quadratic() {
        // Coupled quadratic: only the sum of ω is the loss drop (the path integral of a
        // conservative field); step 2e-4 keeps the first-order error below ½·η·λmax ≈ 4e-4.
        let (h, t) = ([[3.0, 1.0], [1.0, 2.0]], [1.0, -2.0]);
        let m0 = two([0.0, 0.0]);
        let mut s = si(1.0, 1e-3, &m0);
        let m1 = descend(&mut s, m0, h, t, 2e-4, 5000);
        let drop = quad_value([0.0, 0.0], h, t) - quad_value(w_of(&m1), h, t);
        let omega: f64 = s.snapshot()[0].omega.iter().map(|&v| v as f64).sum();
        assert!(
            drop > 1.0,
            "the descent must make real progress, drop {drop}"
        );
        assert!(
            ((omega - drop) / drop).abs() < 1e-3,
            "Σω = {omega}, loss drop = {drop}"
        );
    }

    #[test]
    fn omega_per_parameter_on_a_separable_quadratic() {
        let (h, t) = ([[4.0, 0.0], [0.0, 1.0]], [1.0, -2.0]);
        let m0 = two([0.0, 0.0]);
        let mut s = si(1.0, 1e-3, &m0);
        let m1 = descend(&mut s, m0, h, t, 1e-4, 5000);
        let w = w_of(&m1);
        let snap = s.snapshot();
        for k in 0..2 {
            let drop_k = 0.5 * h[k][k] * (t[k] * t[k] - (w[k] - t[k]).powi(2));
            let om = snap[0].omega[k] as f64;
            assert!(
                ((om - drop_k) / drop_k).abs() < 1e-3,
                "ω_{k} = {om}, drop {drop_k}"
            );
        }
    }

    #[test]
    fn task_end_updates_importance_then_anchor_then_resets_omega_and_clamps_at_zero() {
        let xi = 0.1;
        let m0 = two([0.0, 0.0]);
        let mut s = si(1.0, xi, &m0);
        // A linear loss has a known constant gradient g = (2, 3).
        let lin = |m: &Two<B>| {
            let dev = Default::default();
            let g = Tensor::<B, 2>::from_data(TensorData::new(vec![2.0f32, 3.0], [1, 2]), &dev);
            (m.w.val() * g).sum()
        };
        let manual_step = |s: &mut SynapticIntelligence<B>, m: &Two<B>, to: [f64; 2]| {
            let grads = GradientsParams::from_grads(lin(m).backward(), m);
            let _ = Regularizer::before_step(s, m, grads);
            let next = with_w(m, to);
            Regularizer::after_step(s, &next);
            next
        };
        // Task 1: Δ = (-0.5, +0.25) gives ω = -g·Δ = (1.0, -0.75).
        let m1 = manual_step(&mut s, &m0, [-0.5, 0.25]);
        let snap = s.snapshot();
        assert!((snap[0].omega[0] - 1.0).abs() < 1e-6 && (snap[0].omega[1] + 0.75).abs() < 1e-6);
        Regularizer::end_task(&mut s, &m1, 0, &NoSamples).unwrap();
        let snap = s.snapshot();
        // Ω uses the old anchor (denominator Δ² + ξ = 0.35, not ξ alone): 1/0.35.
        let om0 = 1.0 / (0.25 + xi);
        assert!(
            (snap[0].importance[0] as f64 - om0).abs() < 1e-5,
            "{:?}",
            snap[0]
        );
        // Negative contribution clamped: Ω_1 = max(0, -0.75/0.1625) = 0.
        assert_eq!(snap[0].importance[1], 0.0);
        assert_eq!(snap[0].anchor, vec![-0.5, 0.25]);
        assert_eq!(snap[0].omega, vec![0.0, 0.0]);
        // Task 2: moving param 0 by +0.3 against the gradient gives ω = -0.6, and
        // Ω + ω/(0.09 + ξ) = 2.857 - 3.158 < 0: the cumulative Ω is clamped to 0.
        let m2 = manual_step(&mut s, &m1, [-0.2, 0.25]);
        Regularizer::end_task(&mut s, &m2, 1, &NoSamples).unwrap();
        let snap = s.snapshot();
        assert_eq!(snap[0].importance[0], 0.0, "{:?}", snap[0]);
        // Without the clamp it would have been negative: the test can tell the difference.
        assert!(om0 - 0.6 / (0.09 + xi) < -0.1);
    }

    #[test]
    fn penalty_gradient_is_two_c_omega_times_displacement() {
        let c = 0.7;
        let (h, t) = ([[3.0, 1.0], [1.0, 2.0]], [1.0, -2.0]);
        let m0 = two([0.0, 0.0]);
        let mut s = si(c, 1e-3, &m0);
        let m1 = descend(&mut s, m0, h, t, 1e-2, 200);
        Regularizer::end_task(&mut s, &m1, 0, &NoSamples).unwrap();
        // Move away on a second task so that θ ≠ θ̃.
        let (h2, t2) = ([[1.0, 0.0], [0.0, 1.0]], [-3.0, 4.0]);
        let m2 = descend(&mut s, m1, h2, t2, 1e-2, 50);
        let snap = s.snapshot()[0].clone();
        let w = w_of(&m2);
        assert!(snap.importance.iter().all(|&v| v > 0.0), "{snap:?}");

        let loss = quad_loss(&m2, h2, t2);
        let task = GradientsParams::from_grads(loss.backward(), &m2);
        let g_task: Vec<f32> = task
            .get::<Inner, 2>(m2.w.id)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        let total = Regularizer::before_step(&mut s, &m2, task);
        let g_total: Vec<f32> = total
            .get::<Inner, 2>(m2.w.id)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        let mut penalty = 0.0;
        for k in 0..2 {
            let d = w[k] - snap.anchor[k] as f64;
            let want = 2.0 * c * snap.importance[k] as f64 * d;
            let got = (g_total[k] - g_task[k]) as f64;
            assert!(
                (got - want).abs() < 1e-4 * want.abs().max(1.0),
                "k={k}: {got} vs {want}"
            );
            penalty += c * snap.importance[k] as f64 * d * d;
        }
        let p = Regularizer::penalty(&s, &m2);
        assert!((p - penalty).abs() < 1e-4 * penalty, "{p} vs {penalty}");

        // The closed form agrees with autodiff of c·ΣΩ(θ−θ̃)² (no ½).
        let dev = Default::default();
        let om = Tensor::<B, 2>::from_data(TensorData::new(snap.importance.clone(), [1, 2]), &dev);
        let an = Tensor::<B, 2>::from_data(TensorData::new(snap.anchor.clone(), [1, 2]), &dev);
        let d = m2.w.val() - an;
        let pen = (d.clone() * d * om).sum().mul_scalar(c);
        let auto = GradientsParams::from_grads(pen.backward(), &m2);
        let auto: Vec<f32> = auto
            .get::<Inner, 2>(m2.w.id)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        for k in 0..2 {
            let closed = (g_total[k] - g_task[k]) as f64;
            assert!((auto[k] as f64 - closed).abs() < 1e-4 * closed.abs().max(1.0));
        }
    }

    #[test]
    fn omega_uses_the_task_gradient_at_the_pre_step_weights_even_under_a_penalty() {
        let c = 0.5;
        let (h, t) = ([[3.0, 1.0], [1.0, 2.0]], [1.0, -2.0]);
        let m0 = two([0.0, 0.0]);
        let mut s = si(c, 0.1, &m0);
        let m1 = descend(&mut s, m0, h, t, 1e-2, 100);
        Regularizer::end_task(&mut s, &m1, 0, &NoSamples).unwrap();
        let snap = s.snapshot()[0].clone();
        assert!(snap.importance.iter().all(|&v| v > 0.0));
        // Away from the anchor, so that the penalty gradient is large, then one big step.
        let anchor = [snap.anchor[0] as f64, snap.anchor[1] as f64];
        let before = [anchor[0] + 0.3, anchor[1] - 0.2];
        let step = [0.5, 0.4];
        let after = [before[0] + step[0], before[1] + step[1]];
        let mb = with_w(&m1, before);
        let grads = GradientsParams::from_grads(quad_loss(&mb, h, t).backward(), &mb);
        let _ = Regularizer::before_step(&mut s, &mb, grads);
        Regularizer::after_step(&mut s, &with_w(&mb, after));
        let omega = s.snapshot()[0].omega.clone();

        let grad_at = |w: [f64; 2]| {
            let d = [w[0] - t[0], w[1] - t[1]];
            [
                h[0][0] * d[0] + h[0][1] * d[1],
                h[1][0] * d[0] + h[1][1] * d[1],
            ]
        };
        let g_task = grad_at(before);
        let g_post = grad_at(after);
        for k in 0..2 {
            let pen = 2.0 * c * snap.importance[k] as f64 * (before[k] - anchor[k]);
            let want = -g_task[k] * step[k];
            let with_penalty = -(g_task[k] + pen) * step[k];
            let post_step = -g_post[k] * step[k];
            let got = omega[k] as f64;
            assert!((got - want).abs() < 1e-5, "ω_{k} = {got}, want {want}");
            // The wrong choices give clearly different numbers, so this test can tell them apart.
            assert!((with_penalty - want).abs() > 1e-2 && (post_step - want).abs() > 1e-2);
        }
    }

    #[test]
    fn no_penalty_and_untouched_gradients_before_the_first_task_ends() {
        let m = two([0.5, -0.5]);
        let mut s = si(5.0, 1e-3, &m);
        let loss = quad_loss(&m, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]);
        let g = GradientsParams::from_grads(loss.backward(), &m);
        let before: Vec<f32> = g
            .get::<Inner, 2>(m.w.id)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        let g = Regularizer::before_step(&mut s, &m, g);
        let after: Vec<f32> = g
            .get::<Inner, 2>(m.w.id)
            .unwrap()
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(before, after);
        assert_eq!(Regularizer::penalty(&s, &m), 0.0);
    }

    #[test]
    fn non_finite_importance_is_an_error_naming_the_parameter() {
        let m0 = two([0.0, 0.0]);
        let mut s = si(1.0, 1e-3, &m0);
        let lin = |m: &Two<B>| (m.w.val() * f32::INFINITY).sum();
        let grads = GradientsParams::from_grads(lin(&m0).backward(), &m0);
        let _ = Regularizer::before_step(&mut s, &m0, grads);
        let m1 = with_w(&m0, [0.1, 0.1]);
        Regularizer::after_step(&mut s, &m1);
        let e = Regularizer::end_task(&mut s, &m1, 0, &NoSamples).unwrap_err();
        assert_eq!(e.param, "w");
        assert!(e.to_string().contains("task 1"));
    }

    fn si_with(cfg: SiConfig, m: &Two<B>) -> SynapticIntelligence<B> {
        let mut s = SynapticIntelligence::<B>::new(cfg);
        Regularizer::init(&mut s, m);
        s
    }

    /// One task of a linear loss with gradient (2, 3) and a single step to `to`, then task end.
    fn one_linear_task(
        s: &mut SynapticIntelligence<B>,
        m: &Two<B>,
        to: [f64; 2],
        task: usize,
    ) -> Two<B> {
        let dev = Default::default();
        let g = Tensor::<B, 2>::from_data(TensorData::new(vec![2.0f32, 3.0], [1, 2]), &dev);
        let grads = GradientsParams::from_grads((m.w.val() * g).sum().backward(), m);
        let _ = Regularizer::before_step(s, m, grads);
        let next = with_w(m, to);
        Regularizer::after_step(s, &next);
        Regularizer::end_task(s, &next, task, &NoSamples).unwrap();
        next
    }

    #[test]
    fn clamp_and_cap_switches_change_the_consolidated_importance() {
        let xi = 0.1;
        let m0 = two([0.0, 0.0]);
        // ω = −g·Δ = (1.0, −0.75); denominators Δ² + ξ = (0.35, 0.1625).
        let run = |cfg: SiConfig| {
            let mut s = si_with(cfg, &m0);
            one_linear_task(&mut s, &m0, [-0.5, 0.25], 0);
            s.snapshot()[0].importance.clone()
        };
        let paper = run(SiConfig::new(1.0, xi));
        assert!(
            (paper[0] as f64 - 1.0 / 0.35).abs() < 1e-5 && paper[1] == 0.0,
            "{paper:?}"
        );
        let unclamped = run(SiConfig {
            clamp: SiClamp::None,
            ..SiConfig::new(1.0, xi)
        });
        assert!(
            (unclamped[1] as f64 + 0.75 / 0.1625).abs() < 1e-4,
            "{unclamped:?}"
        );
        let capped = run(SiConfig {
            cap: Some(1.0),
            ..SiConfig::new(1.0, xi)
        });
        assert_eq!(capped[0], 1.0, "{capped:?}");
        assert_eq!(capped[1], 0.0);
    }

    #[test]
    fn half_switch_halves_the_penalty_and_total_grad_switch_uses_the_penalised_gradient() {
        let (c, xi) = (0.5, 0.1);
        let (h, t) = ([[3.0, 1.0], [1.0, 2.0]], [1.0, -2.0]);
        let m0 = two([0.0, 0.0]);
        let mut results = Vec::new();
        for cfg in [
            SiConfig::new(c, xi),
            SiConfig {
                half: true,
                ..SiConfig::new(c, xi)
            },
            SiConfig {
                grad: SiGrad::Total,
                ..SiConfig::new(c, xi)
            },
        ] {
            let mut s = si_with(cfg, &m0);
            let m1 = descend(&mut s, m0.clone(), h, t, 1e-2, 100);
            Regularizer::end_task(&mut s, &m1, 0, &NoSamples).unwrap();
            let snap = s.snapshot()[0].clone();
            let anchor = [snap.anchor[0] as f64, snap.anchor[1] as f64];
            let before = [anchor[0] + 0.3, anchor[1] - 0.2];
            let step = [0.5, 0.4];
            let mb = with_w(&m1, before);
            let task = GradientsParams::from_grads(quad_loss(&mb, h, t).backward(), &mb);
            let g_task: Vec<f32> = task
                .get::<Inner, 2>(mb.w.id)
                .unwrap()
                .into_data()
                .to_vec()
                .unwrap();
            let total = Regularizer::before_step(&mut s, &mb, task);
            let g_total: Vec<f32> = total
                .get::<Inner, 2>(mb.w.id)
                .unwrap()
                .into_data()
                .to_vec()
                .unwrap();
            let penalty = Regularizer::penalty(&s, &mb);
            Regularizer::after_step(
                &mut s,
                &with_w(&mb, [before[0] + step[0], before[1] + step[1]]),
            );
            let omega = s.snapshot()[0].omega.clone();
            results.push((
                snap.importance,
                g_task,
                g_total,
                penalty,
                omega,
                step,
                before,
                anchor,
            ));
        }
        let (om, g_task, g_full, p_full, omega_task, step, before, anchor) = results[0].clone();
        for k in 0..2 {
            // --si-half: gradient c·Ω(θ−θ̃) instead of 2c·Ω(θ−θ̃).
            let pull_full = (g_full[k] - g_task[k]) as f64;
            let pull_half = (results[1].2[k] - results[1].1[k]) as f64;
            let want = 2.0 * c * om[k] as f64 * (before[k] - anchor[k]);
            assert!((pull_full - want).abs() < 1e-4 * want.abs().max(1e-3));
            assert!((pull_half - want / 2.0).abs() < 1e-4 * want.abs().max(1e-3));
            // --si-grad total: ω = −(g + penalty gradient)·Δθ; task: ω = −g·Δθ.
            let w_task = -(g_task[k] as f64) * step[k];
            let w_total = -(g_full[k] as f64) * step[k];
            assert!((omega_task[k] as f64 - w_task).abs() < 1e-5);
            assert!((results[2].4[k] as f64 - w_total).abs() < 1e-5);
            assert!((w_task - w_total).abs() > 1e-2);
        }
        assert!((results[1].3 - p_full / 2.0).abs() < 1e-6 * p_full);
    }
}
