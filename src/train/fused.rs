//! The fused CPU optimizer step: the penalty's pull, Adam and SI's path integral in one pass over
//! each parameter's memory, in place, on the `flex` backend.
//!
//! Why: on split MNIST a step is ~0.1 GFLOP of matrix products, and the generic path spends as
//! long again on ~25 element-wise tensor operations per parameter (Adam's moments, the pull
//! `2cΩ(θ − θ̃)`, the weight snapshot and `ω −= g·Δθ`), each allocating and sweeping the
//! parameter. Here they are one loop. The arithmetic is burn's Adam (`AdaptiveMomentum`) and
//! the regularisers' hooks, operation for operation in the same order and precision, so a run
//! gives the same numbers bit for bit with or without fusion (tested). Adam's state stays in
//! burn's own record format, so checkpoints do not change.

use std::any::{Any, TypeId};
use std::collections::HashMap;

use burn::module::{AutodiffModule, ModuleMapper, Param, ParamId};
use burn::optim::{AdamState, GradientsParams};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::step::BadGradient;
use crate::regularizer::{walk_params, Consolidator, Ewc, Inner, Mas, Regularizer, Si, L2};

/// One (Ω, θ̃) term of the penalty, flattened.
pub type Term<I> = (Tensor<I, 1>, Tensor<I, 1>);

/// What the fused optimizer step needs from a regulariser, one parameter at a time. Its
/// arithmetic must equal `before_step` → optimizer → `after_step` exactly.
pub trait FusedHooks<I: Backend> {
    /// The factor 2·scale and the (Ω, θ̃) pairs whose pull `2·scale·Ω(θ − θ̃)` joins the gradient
    /// of parameter `id` this step (none: no pull).
    fn pull(&self, id: ParamId) -> (f32, Vec<Term<I>>);
    /// Takes the path integral ω of `id` out for an in-place update, with whether it integrates
    /// the total gradient (true) or the task-loss gradient (false); `None`: no path integral.
    fn take_path(&mut self, id: ParamId) -> Option<(Tensor<I, 1>, bool)>;
    /// Puts back what [`FusedHooks::take_path`] took, updated.
    fn put_path(&mut self, id: ParamId, omega: Tensor<I, 1>);
}

/// The per-step work of an estimator that the fused pass can do: SI's path integral, or none
/// (EWC, MAS and L2 measure at a task's end only).
pub trait PathWork<B: AutodiffBackend>: 'static {
    /// ω of `id`, taken out, and whether it integrates the total gradient.
    fn take(&mut self, _id: ParamId) -> Option<(Tensor<Inner<B>, 1>, bool)> {
        None
    }
    /// Puts back what [`PathWork::take`] took.
    fn put(&mut self, _id: ParamId, _omega: Tensor<Inner<B>, 1>) {}
}

impl<B: AutodiffBackend> PathWork<B> for Si<B> {
    fn take(&mut self, id: ParamId) -> Option<(Tensor<Inner<B>, 1>, bool)> {
        self.take_omega(id)
    }
    fn put(&mut self, id: ParamId, omega: Tensor<Inner<B>, 1>) {
        self.put_omega(id, omega);
    }
}
impl<B: AutodiffBackend> PathWork<B> for Ewc<B> {}
impl<B: AutodiffBackend> PathWork<B> for Mas<B> {}
impl<B: AutodiffBackend> PathWork<B> for L2 {}

/// A built-in consolidator seen by the fused step.
struct View<'a, B: AutodiffBackend, E> {
    cons: &'a mut Consolidator<B, E>,
}

impl<B: AutodiffBackend, E: PathWork<B>> FusedHooks<Inner<B>> for View<'_, B, E> {
    fn pull(&self, id: ParamId) -> (f32, Vec<Term<Inner<B>>>) {
        let slot = self.cons.param(id).unwrap_or_else(|| {
            panic!("the regulariser was initialised with a different model: call init() with this model")
        });
        let scale = self.cons.scale();
        if slot.excluded || self.cons.tasks_done() == 0 || scale == 0.0 {
            return (0.0, Vec::new());
        }
        // The same f64 → f32 rounding as `mul_scalar(2·scale)` in `before_step`.
        ((2.0 * scale) as f32, slot.terms.clone())
    }

    fn take_path(&mut self, id: ParamId) -> Option<(Tensor<Inner<B>, 1>, bool)> {
        if self.cons.param(id).is_none_or(|s| s.excluded) {
            return None;
        }
        self.cons.estimator.take(id)
    }

    fn put_path(&mut self, id: ParamId, omega: Tensor<Inner<B>, 1>) {
        self.cons.estimator.put(id, omega);
    }
}

fn view<B: AutodiffBackend, E: PathWork<B>>(
    any: &mut dyn Any,
) -> Option<Box<dyn FusedHooks<Inner<B>> + '_>> {
    let cons = any.downcast_mut::<Consolidator<B, E>>()?;
    Some(Box::new(View { cons }))
}

/// The fused hooks of `reg` when it is one of synaptic's consolidators (SI, EWC, online EWC, MAS,
/// L2), whose per-step work the fused pass knows; `None` for any other regulariser, which then
/// takes burn's step with its own hooks.
pub fn hooks<B, M>(reg: &mut dyn Regularizer<B, M>) -> Option<Box<dyn FusedHooks<Inner<B>> + '_>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let any: &mut dyn Any = reg;
    if any.is::<Consolidator<B, Si<B>>>() {
        view::<B, Si<B>>(any)
    } else if any.is::<Consolidator<B, Ewc<B>>>() {
        view::<B, Ewc<B>>(any)
    } else if any.is::<Consolidator<B, Mas<B>>>() {
        view::<B, Mas<B>>(any)
    } else if any.is::<Consolidator<B, L2>>() {
        view::<B, L2>(any)
    } else {
        None
    }
}

/// Adam's saved state, keyed by parameter (burn's `OptimizerAdaptor` record).
pub type Records<B, M> = super::AdamRecord<B, M>;

/// Adam's hyperparameters as burn's Adam uses them (f32).
#[derive(Debug, Clone, Copy)]
pub struct AdamConsts {
    /// β₁.
    pub beta_1: f32,
    /// β₂.
    pub beta_2: f32,
    /// ε.
    pub epsilon: f32,
}

/// Whether the fused step can run on backend `B` (its inner backend is `flex` with f32).
pub fn available<B: AutodiffBackend>() -> bool {
    TypeId::of::<Inner<B>>() == TypeId::of::<Flex>()
}

thread_local! {
    static OVERRIDE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether the training loop on this thread uses the fused step where [`available`]: yes,
/// unless `SYNAPTIC_UNFUSED` is set (for benchmarks) or [`set_enabled`] said otherwise.
pub fn enabled() -> bool {
    OVERRIDE
        .with(|o| o.get())
        .unwrap_or_else(|| std::env::var_os("SYNAPTIC_UNFUSED").is_none())
}

/// Turns the fused step on or off for training loops run on this thread (`None`: the default).
pub fn set_enabled(on: Option<bool>) {
    OVERRIDE.with(|o| o.set(on));
}

/// One optimizer step on `model`: gradient `g + Σ 2·scale·Ω(θ − θ̃)`, Adam, then `ω −= ĝ·Δθ`
/// (ĝ: the task or the total gradient), every parameter in place. Checks every gradient for
/// NaN/inf before changing anything: the error names the first bad parameter.
///
/// Call only where [`available`] is true.
pub fn step<B, M>(
    model: M,
    grads: GradientsParams,
    records: &mut Records<B, M>,
    adam: AdamConsts,
    lr: f64,
    hooks: Option<&mut (dyn FusedHooks<Inner<B>> + '_)>,
) -> Result<M, BadGradient>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let mut grads = grads;
    // Gradients out of burn's container, checked before anything moves.
    let mut flat: HashMap<ParamId, FlexTensor> = HashMap::new();
    let mut bad: Option<String> = None;
    walk_params::<B, M, _>(&model, Some(&mut grads), |p, g| {
        if let Some(g) = g {
            let g = contiguous(to_flex(g));
            if bad.is_none() && !all_finite(g_slice(&g)) {
                bad = Some(p.path.to_string());
            }
            flat.insert(p.id, g);
        }
        None
    });
    if let Some(path) = bad {
        return Err(BadGradient { param: path });
    }
    drop(grads);
    let mut mapper = Mapper::<B, M> {
        grads: flat,
        records,
        adam,
        lr: lr as f32,
        hooks,
    };
    Ok(model.map(&mut mapper))
}

struct Mapper<'a, 'h, B: AutodiffBackend, M: AutodiffModule<B>> {
    grads: HashMap<ParamId, FlexTensor>,
    records: &'a mut Records<B, M>,
    adam: AdamConsts,
    lr: f32,
    hooks: Option<&'a mut (dyn FusedHooks<Inner<B>> + 'h)>,
}

impl<B: AutodiffBackend, M: AutodiffModule<B>> ModuleMapper<B> for Mapper<'_, '_, B, M> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let (pull_scale, pull) = match self.hooks.as_deref() {
            Some(h) => h.pull(id),
            None => (0.0, Vec::new()),
        };
        let grad = self.grads.remove(&id);
        let require_grad = tensor.is_require_grad();
        // burn's adaptor skips a parameter without a gradient; the regulariser still pulls a
        // trainable one (its task gradient is then zero and ω does not move).
        if grad.is_none() && (pull.is_empty() || !require_grad) {
            return Param::from_mapped_value(id, tensor, mapper);
        }
        let value = tensor.inner();
        let shape = value.shape();
        let n = shape.num_elements();
        let mut theta = contiguous(to_flex(value));
        let had_grad = grad.is_some();
        let grad = grad.unwrap_or_else(|| zeros(burn::tensor::Shape::new([n])));
        let (time, mut m, mut v) = match self.records.remove(&id) {
            Some(r) => {
                let s: AdamState<Inner<B>, D> = r.into_state();
                let mo = s.momentum;
                (
                    mo.time,
                    contiguous(to_flex(mo.moment_1)),
                    contiguous(to_flex(mo.moment_2)),
                )
            }
            // No state yet: zero moments give exactly burn's first-step values.
            None => (0, zeros(shape.clone()), zeros(shape.clone())),
        };
        let time = time + 1;
        // As in the hooks: ω moves only for a parameter the task loss reached.
        let mut omega = match self.hooks.as_deref_mut() {
            Some(h) if had_grad => h
                .take_path(id)
                .map(|(t, total)| (contiguous(to_flex(t)), total)),
            _ => None,
        };
        let pulls: Vec<(FlexTensor, FlexTensor)> = pull
            .into_iter()
            .map(|(o, a)| (contiguous(to_flex(o)), contiguous(to_flex(a))))
            .collect();
        let k = Consts::new(self.adam, time, self.lr, pull_scale);
        {
            let pull_s: Vec<(&[f32], &[f32])> = pulls
                .iter()
                .map(|(o, a)| (g_slice(o), g_slice(a)))
                .collect();
            let omega_s = omega.as_mut().map(|(t, total)| (mut_slice(t), *total));
            update(
                mut_slice(&mut theta),
                g_slice(&grad),
                mut_slice(&mut m),
                mut_slice(&mut v),
                &pull_s,
                omega_s,
                &k,
            );
        }
        if let (Some(h), Some((om, _))) = (self.hooks.as_deref_mut(), omega) {
            h.put_path(id, from_flex::<Inner<B>, 1>(om));
        }
        let state = AdamState {
            momentum: burn::optim::AdaptiveMomentumState {
                time,
                moment_1: from_flex::<Inner<B>, D>(m),
                moment_2: from_flex::<Inner<B>, D>(v),
                max_moment_2: None,
            },
        };
        self.records
            .insert(id, burn::optim::record::AdaptorRecord::from_state(state));
        let theta: Tensor<Inner<B>, D> = from_flex(theta);
        let mut tensor = Tensor::from_inner(theta);
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

/// The per-step constants, computed in f32 as burn's `AdaptiveMomentum` computes them.
struct Consts {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    /// √(1 − β₂ᵗ) / (1 − β₁ᵗ).
    combined: f32,
    /// ε·√(1 − β₂ᵗ).
    epsilon: f32,
    lr: f32,
    pull_scale: f32,
}

impl Consts {
    fn new(a: AdamConsts, time: usize, lr: f32, pull_scale: f32) -> Self {
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - a.beta_2.powi(t)).sqrt();
        Self {
            beta_1: a.beta_1,
            beta_2: a.beta_2,
            factor_1: 1.0 - a.beta_1,
            factor_2: 1.0 - a.beta_2,
            combined: bias_correction2_sqrt / (1.0 - a.beta_1.powi(t)),
            epsilon: a.epsilon * bias_correction2_sqrt,
            lr,
            pull_scale,
        }
    }
}

/// Elements per parallel chunk: below this a parameter is updated on one thread.
const CHUNK: usize = 1 << 16;

/// The fused update over whole slices, split across threads for large parameters.
fn update(
    theta: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    pull: &[(&[f32], &[f32])],
    omega: Option<(&mut [f32], bool)>,
    k: &Consts,
) {
    let n = theta.len();
    assert!(g.len() == n && m.len() == n && v.len() == n);
    assert!(pull.iter().all(|(o, a)| o.len() == n && a.len() == n));
    let (mut omega, total) = match omega {
        Some((o, t)) => {
            assert_eq!(o.len(), n);
            (Some(o), t)
        }
        None => (None, false),
    };
    if n <= CHUNK {
        update_range(theta, g, m, v, pull, 0, omega.as_deref_mut(), total, k);
        return;
    }
    let om_chunks: Vec<Option<&mut [f32]>> = match omega {
        Some(o) => o.chunks_mut(CHUNK).map(Some).collect(),
        None => (0..n.div_ceil(CHUNK)).map(|_| None).collect(),
    };
    theta
        .par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .zip(om_chunks.into_par_iter())
        .enumerate()
        .for_each(|(i, (((th, mm), vv), om))| {
            let lo = i * CHUNK;
            let g = &g[lo..lo + th.len()];
            update_range(th, g, mm, vv, pull, lo, om, total, k);
        });
}

/// The update of elements `lo..lo + theta.len()` (the pulls are indexed from `lo`): the common
/// shapes (no pull or one (Ω, θ̃) term; with or without ω) run as straight loops the compiler
/// vectorises, on AVX-512 or AVX2 where the CPU has them; anything else runs [`update_general`].
#[allow(clippy::too_many_arguments)]
fn update_range(
    theta: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    pull: &[(&[f32], &[f32])],
    lo: usize,
    omega: Option<&mut [f32]>,
    total: bool,
    k: &Consts,
) {
    let n = theta.len();
    let term = match pull {
        [] => None,
        [(o, a)] => Some((&o[lo..lo + n], &a[lo..lo + n])),
        _ => return update_general(theta, g, m, v, pull, lo, omega, total, k),
    };
    let args = Straight {
        theta,
        g: &g[..n],
        m: &mut m[..n],
        v: &mut v[..n],
        term,
        omega: omega.map(|o| &mut o[..n]),
        total,
    };
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { straight_avx512(args, k) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { straight_avx2(args, k) };
        }
    }
    straight(args, k)
}

/// The slices of one straight-loop update, all of the same length.
struct Straight<'a> {
    theta: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    term: Option<(&'a [f32], &'a [f32])>,
    omega: Option<&'a mut [f32]>,
    total: bool,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn straight_avx512(s: Straight<'_>, k: &Consts) {
    straight(s, k)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn straight_avx2(s: Straight<'_>, k: &Consts) {
    straight(s, k)
}

#[inline(always)]
fn straight(s: Straight<'_>, k: &Consts) {
    match (s.term, s.omega) {
        (None, None) => lanes::<false, false, false>(s.theta, s.g, s.m, s.v, &[], &[], &mut [], k),
        (None, Some(om)) => {
            if s.total {
                lanes::<false, true, true>(s.theta, s.g, s.m, s.v, &[], &[], om, k)
            } else {
                lanes::<false, true, false>(s.theta, s.g, s.m, s.v, &[], &[], om, k)
            }
        }
        (Some((o, a)), None) => {
            lanes::<true, false, false>(s.theta, s.g, s.m, s.v, o, a, &mut [], k)
        }
        (Some((o, a)), Some(om)) => {
            if s.total {
                lanes::<true, true, true>(s.theta, s.g, s.m, s.v, o, a, om, k)
            } else {
                lanes::<true, true, false>(s.theta, s.g, s.m, s.v, o, a, om, k)
            }
        }
    }
}

/// One straight loop: `PULL` adds one (Ω, θ̃) term, `OMEGA` updates ω with the total (`TOTAL`)
/// or the task gradient. The same operations in the same order as [`update_general`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lanes<const PULL: bool, const OMEGA: bool, const TOTAL: bool>(
    theta: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    o: &[f32],
    a: &[f32],
    om: &mut [f32],
    k: &Consts,
) {
    let n = theta.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let (o, a) = if PULL { (&o[..n], &a[..n]) } else { (o, a) };
    let om = if OMEGA { &mut om[..n] } else { om };
    for i in 0..n {
        let th = theta[i];
        let gi = g[i];
        let gt = if PULL {
            gi + ((th - a[i]) * o[i]) * k.pull_scale
        } else {
            gi
        };
        let mi = m[i] * k.beta_1 + gt * k.factor_1;
        let vi = v[i] * k.beta_2 + (gt * gt) * k.factor_2;
        m[i] = mi;
        v[i] = vi;
        let new = th - ((mi * k.combined) / (vi.sqrt() + k.epsilon)) * k.lr;
        theta[i] = new;
        if OMEGA {
            let gs = if TOTAL { gt } else { gi };
            om[i] -= gs * (new - th);
        }
    }
}

/// The update for any number of penalty terms (offline EWC keeps one per task).
#[allow(clippy::too_many_arguments)]
fn update_general(
    theta: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    pull: &[(&[f32], &[f32])],
    lo: usize,
    omega: Option<&mut [f32]>,
    total: bool,
    k: &Consts,
) {
    let n = theta.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let mut omega = omega.map(|o| &mut o[..n]);
    for i in 0..n {
        let th = theta[i];
        let gi = g[i];
        // `before_step`: q = Σ_terms ((θ − θ̃)·Ω)·2s, summed left to right, then g + q.
        let gt = if pull.is_empty() {
            gi
        } else {
            let mut q: Option<f32> = None;
            for (o, a) in pull {
                let t = ((th - a[lo + i]) * o[lo + i]) * k.pull_scale;
                q = Some(match q {
                    Some(s) => s + t,
                    None => t,
                });
            }
            gi + q.unwrap_or(0.0)
        };
        // burn's AdaptiveMomentum::transform, then Adam::step.
        let mi = m[i] * k.beta_1 + gt * k.factor_1;
        let vi = v[i] * k.beta_2 + (gt * gt) * k.factor_2;
        m[i] = mi;
        v[i] = vi;
        let delta = ((mi * k.combined) / (vi.sqrt() + k.epsilon)) * k.lr;
        let new = th - delta;
        theta[i] = new;
        // SI's `after_step`: ω ← ω − ĝ·(θ_new − θ_old).
        if let Some(om) = omega.as_deref_mut() {
            let gs = if total { gt } else { gi };
            om[i] -= gs * (new - th);
        }
    }
}

/// Whether no element is NaN or ±inf (exponent bits all ones), as a loop without early exit
/// that the compiler vectorises.
fn all_finite(x: &[f32]) -> bool {
    #[inline(always)]
    fn scan(x: &[f32]) -> bool {
        x.iter().fold(0u32, |acc, v| {
            acc | ((v.to_bits() & 0x7f80_0000) == 0x7f80_0000) as u32
        }) == 0
    }
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn scan_avx2(x: &[f32]) -> bool {
        scan(x)
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { scan_avx2(x) };
    }
    scan(x)
}

fn zeros(shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::zeros(shape, DType::F32)
}

/// A copy in plain row-major order with no offset, unless it already is one.
fn contiguous(t: FlexTensor) -> FlexTensor {
    let n = t.layout().shape().num_elements();
    match t.layout().contiguous_offsets() {
        Some((0, end)) if end == n && t.bytes().len() == n * 4 => t,
        _ => t.to_contiguous(),
    }
}

fn g_slice(t: &FlexTensor) -> &[f32] {
    t.storage::<f32>()
}

fn mut_slice(t: &mut FlexTensor) -> &mut [f32] {
    t.storage_mut::<f32>()
}

fn to_flex<I: Backend, const D: usize>(t: Tensor<I, D>) -> FlexTensor {
    let prim = t.into_primitive().tensor();
    let boxed: Box<dyn Any> = Box::new(prim);
    let t = *boxed
        .downcast::<FlexTensor>()
        .expect("fused step on a backend other than flex: check train::fused::available first");
    assert_eq!(
        t.dtype(),
        DType::F32,
        "the fused step works on f32 parameters"
    );
    t
}

fn from_flex<I: Backend, const D: usize>(t: FlexTensor) -> Tensor<I, D> {
    let boxed: Box<dyn Any> = Box::new(t);
    let prim = *boxed
        .downcast::<I::FloatTensorPrimitive>()
        .expect("fused step on a backend other than flex");
    Tensor::from_primitive(TensorPrimitive::Float(prim))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_consolidators_are_fused_and_other_regularisers_are_not() {
        use crate::backend::CpuAutodiff as B;
        use crate::model::Mlp;
        use crate::regularizer::{EwcConfig, FisherEstimator, SiConfig};
        type M = Mlp<B>;
        let fused = |r: &mut dyn Regularizer<B, M>| hooks::<B, M>(r).is_some();
        let ewc = EwcConfig {
            lambda: 1.0,
            gamma: None,
            estimator: FisherEstimator::Exact,
            samples: 10,
            seed: 0,
        };
        assert!(fused(&mut Consolidator::<B, _>::new(SiConfig::new(
            1.0, 0.1
        ))));
        assert!(fused(&mut Consolidator::<B, _>::ewc(ewc)));
        assert!(fused(&mut Consolidator::<B, _>::mas(1.0, 10)));
        assert!(fused(&mut Consolidator::<B, L2>::l2(1.0)));
        // A consolidator of an estimator the fused pass does not know keeps burn's step.
        struct Other;
        impl crate::regularizer::Estimator<B, M> for Other {
            fn quantity(&self) -> &'static str {
                "other"
            }
            fn combine(&self) -> crate::regularizer::Combine {
                crate::regularizer::Combine::Replace
            }
            fn task_importance(
                &mut self,
                _id: ParamId,
                value: &Tensor<Inner<B>, 1>,
                _moved: &Tensor<Inner<B>, 1>,
            ) -> Tensor<Inner<B>, 1> {
                value.ones_like()
            }
        }
        assert!(!fused(&mut Consolidator::<B, _>::with_estimator(
            Other, 1.0
        )));
    }

    #[test]
    fn all_finite_finds_nan_and_both_infinities_anywhere() {
        let mut x = vec![1.5f32; 1000];
        assert!(all_finite(&x));
        x[0] = f32::MAX;
        x[1] = -0.0;
        x[2] = f32::MIN_POSITIVE / 2.0; // subnormal
        assert!(all_finite(&x));
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for at in [0, 517, 999] {
                let mut y = x.clone();
                y[at] = bad;
                assert!(!all_finite(&y), "{bad} at {at}");
            }
        }
    }

    /// The straight loops against the general one, element by element, for every shape.
    #[test]
    fn straight_loops_equal_the_general_update() {
        let n = 3 * CHUNK + 17;
        let f = |k: usize, s: f32| -> Vec<f32> {
            (0..n)
                .map(|i| (((i * 7 + k) % 101) as f32 - 50.0) * s)
                .collect()
        };
        let (o, a) = (
            f(1, 0.01).iter().map(|x| x.abs()).collect::<Vec<_>>(),
            f(2, 0.003),
        );
        for terms in 0..=1 {
            for with_omega in [false, true] {
                for total in [false, true] {
                    let k = Consts::new(
                        AdamConsts {
                            beta_1: 0.9,
                            beta_2: 0.999,
                            epsilon: 1e-8,
                        },
                        3,
                        1e-3,
                        0.7,
                    );
                    let run = |general: bool| {
                        let (mut th, g, mut m, mut v, mut om) =
                            (f(3, 0.002), f(4, 0.05), f(5, 0.001), f(6, 1e-4), f(7, 0.1));
                        for x in v.iter_mut() {
                            *x = x.abs();
                        }
                        let pull: Vec<(&[f32], &[f32])> =
                            (0..terms).map(|_| (&o[..], &a[..])).collect();
                        let omega = with_omega.then_some(&mut om[..]);
                        if general {
                            update_general(&mut th, &g, &mut m, &mut v, &pull, 0, omega, total, &k);
                        } else {
                            update(
                                &mut th,
                                &g,
                                &mut m,
                                &mut v,
                                &pull,
                                omega.map(|o| (o, total)),
                                &k,
                            );
                        }
                        (th, m, v, om)
                    };
                    let (s, gnl) = (run(false), run(true));
                    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&s.0), bits(&gnl.0), "θ, {terms} terms, ω {with_omega}");
                    assert_eq!(bits(&s.1), bits(&gnl.1));
                    assert_eq!(bits(&s.2), bits(&gnl.2));
                    assert_eq!(bits(&s.3), bits(&gnl.3));
                    assert_ne!(bits(&s.0), bits(&f(3, 0.002)), "θ moved");
                }
            }
        }
    }
}
