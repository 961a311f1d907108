//! Each estimator and penalty against numbers computed by hand or by brute force in f64.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::ewc::fisher_diagonal;
use super::mas::mas_importance;
use super::*;
use crate::backend::CpuAutodiff as B;
use crate::model::Classifier;

type I = Inner<B>;

#[test]
fn glob_matches_module_paths() {
    assert!(glob_match("layers.2.*", "layers.2.weight"));
    assert!(glob_match("layers.2.*", "layers.2.bias"));
    assert!(!glob_match("layers.2.*", "layers.1.weight"));
    assert!(glob_match("*.bias", "layers.0.bias"));
    assert!(!glob_match("*.bias", "layers.0.weight"));
    assert!(glob_match("layers.?.weight", "layers.1.weight"));
    assert!(glob_match("layers.0.weight", "layers.0.weight"));
    assert!(!glob_match("layers.0", "layers.0.weight"));
    assert!(glob_match("*", "anything"));
}

/// Two layers with a ReLU: the network of the Fisher test.
#[derive(Module, Debug)]
struct Net<B: Backend> {
    l1: Linear<B>,
    l2: Linear<B>,
}

impl<B: Backend> Classifier<B> for Net<B> {
    fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.l2
            .forward(burn::tensor::activation::relu(self.l1.forward(x)))
    }
}

/// One linear layer: MAS's closed form and the penalty tests.
#[derive(Module, Debug)]
struct Lin<B: Backend> {
    l: Linear<B>,
}

impl<B: Backend> Classifier<B> for Lin<B> {
    fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.l.forward(x)
    }
}

struct Samples {
    x: Vec<Vec<f64>>,
    y: Vec<usize>,
    active: Option<Vec<usize>>,
}

impl TaskSamples<B> for Samples {
    fn len(&self) -> usize {
        self.x.len()
    }
    fn batch(&self, idx: &[usize]) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
        let d = self.x[0].len();
        let xs: Vec<f32> = idx
            .iter()
            .flat_map(|&i| self.x[i].iter().map(|&v| v as f32))
            .collect();
        let ys: Vec<i64> = idx.iter().map(|&i| self.y[i] as i64).collect();
        let dev = Default::default();
        (
            Tensor::from_data(TensorData::new(xs, [idx.len(), d]), &dev),
            Tensor::from_data(TensorData::new(ys, [idx.len()]), &dev),
        )
    }
    fn active_outputs(&self) -> Option<&[usize]> {
        self.active.as_deref()
    }
}

fn random_samples(n: usize, d: usize, classes: usize, seed: u64) -> Samples {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Samples {
        x: (0..n)
            .map(|_| (0..d).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect(),
        y: (0..n).map(|_| rng.gen_range(0..classes)).collect(),
        active: None,
    }
}

/// `[d_in][d_out]` weights and the bias of a linear layer, in f64.
fn weights(l: &Linear<B>) -> (Vec<Vec<f64>>, Vec<f64>) {
    let [din, dout] = l.weight.val().dims();
    let w: Vec<f32> = l.weight.val().into_data().to_vec().unwrap();
    let b: Vec<f32> = l.bias.as_ref().unwrap().val().into_data().to_vec().unwrap();
    (
        (0..din)
            .map(|i| (0..dout).map(|j| w[i * dout + j] as f64).collect())
            .collect(),
        b.iter().map(|&v| v as f64).collect(),
    )
}

/// The same layer (same parameter ids) with new values.
fn with_weights(l: &Linear<B>, w: &[Vec<f64>], b: &[f64]) -> Linear<B> {
    let dev = Default::default();
    let (din, dout) = (w.len(), w[0].len());
    let flat: Vec<f32> = w.iter().flatten().map(|&v| v as f32).collect();
    let bias: Vec<f32> = b.iter().map(|&v| v as f32).collect();
    Linear {
        weight: Param::initialized(
            l.weight.id,
            Tensor::from_data(TensorData::new(flat, [din, dout]), &dev).require_grad(),
        ),
        bias: Some(Param::initialized(
            l.bias.as_ref().unwrap().id,
            Tensor::from_data(TensorData::new(bias, [dout]), &dev).require_grad(),
        )),
    }
}

fn host(t: &Tensor<I, 1>) -> Vec<f64> {
    t.clone().into_data().convert::<f64>().to_vec().unwrap()
}

fn matvec(x: &[f64], w: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    (0..b.len())
        .map(|j| b[j] + x.iter().zip(w).map(|(xi, row)| xi * row[j]).sum::<f64>())
        .collect()
}

/// Softmax over the active outputs (0 elsewhere), in f64.
fn softmax(z: &[f64], active: Option<&[usize]>) -> Vec<f64> {
    let on = |k: usize| active.is_none_or(|a| a.contains(&k));
    let m = (0..z.len())
        .filter(|&k| on(k))
        .map(|k| z[k])
        .fold(f64::MIN, f64::max);
    let e: Vec<f64> = (0..z.len())
        .map(|k| if on(k) { (z[k] - m).exp() } else { 0.0 })
        .collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Flattened squared-gradient contributions [W1, b1, W2, b2] of log p_c for one example.
fn net_grad_logp(
    x: &[f64],
    p1: &(Vec<Vec<f64>>, Vec<f64>),
    p2: &(Vec<Vec<f64>>, Vec<f64>),
    p: &[f64],
    c: usize,
) -> [Vec<f64>; 4] {
    let z1 = matvec(x, &p1.0, &p1.1);
    let h: Vec<f64> = z1.iter().map(|&v| v.max(0.0)).collect();
    let dz2: Vec<f64> = (0..p.len())
        .map(|k| if k == c { 1.0 } else { 0.0 } - p[k])
        .collect();
    let dw2: Vec<f64> = h
        .iter()
        .flat_map(|hi| dz2.iter().map(move |d| hi * d))
        .collect();
    let dh: Vec<f64> =
        p2.0.iter()
            .map(|row| row.iter().zip(&dz2).map(|(w, d)| w * d).sum())
            .collect();
    let dz1: Vec<f64> = dh
        .iter()
        .zip(&z1)
        .map(|(d, z)| if *z > 0.0 { *d } else { 0.0 })
        .collect();
    let dw1: Vec<f64> = x
        .iter()
        .flat_map(|xi| dz1.iter().map(move |d| xi * d))
        .collect();
    [dw1, dz1, dw2, dz2]
}

#[test]
fn fisher_estimators_match_an_f64_brute_force_on_a_two_layer_net() {
    let dev = Default::default();
    B::seed(&dev, 11);
    let net = Net::<B> {
        l1: LinearConfig::new(4, 5).init(&dev),
        l2: LinearConfig::new(5, 3).init(&dev),
    };
    let (p1, p2) = (weights(&net.l1), weights(&net.l2));
    let ids = [
        net.l1.weight.id,
        net.l1.bias.as_ref().unwrap().id,
        net.l2.weight.id,
        net.l2.bias.as_ref().unwrap().id,
    ];
    let mut results = Vec::new();
    for (estimator, active) in [
        (FisherEstimator::Exact, None),
        (FisherEstimator::Exact, Some(vec![0, 2])),
        (FisherEstimator::Sampled, None),
        (FisherEstimator::Empirical, None),
    ] {
        let mut samples = random_samples(7, 4, 3, 5);
        if let Some(a) = &active {
            samples.y = samples.y.iter().map(|&y| a[y % a.len()]).collect();
        }
        samples.active = active.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let got = fisher_diagonal::<B, Net<B>>(&net, &samples, estimator, 100, &mut rng);

        let mut want: [Vec<f64>; 4] = [vec![0.0; 20], vec![0.0; 5], vec![0.0; 15], vec![0.0; 3]];
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        for (x, &y) in samples.x.iter().zip(&samples.y) {
            let z2 = matvec(
                &matvec(x, &p1.0, &p1.1)
                    .iter()
                    .map(|v| v.max(0.0))
                    .collect::<Vec<_>>(),
                &p2.0,
                &p2.1,
            );
            let p = softmax(&z2, active.as_deref());
            let weighted: Vec<(usize, f64)> = match estimator {
                FisherEstimator::Exact => {
                    (0..3).filter(|&c| p[c] > 0.0).map(|c| (c, p[c])).collect()
                }
                FisherEstimator::Empirical => vec![(y, 1.0)],
                FisherEstimator::Sampled => {
                    let u: f64 = rng.gen();
                    let mut cum = 0.0;
                    let c = (0..3).find(|&c| {
                        cum += p[c];
                        u < cum
                    });
                    vec![(c.unwrap_or(2), 1.0)]
                }
            };
            for (c, wgt) in weighted {
                let g = net_grad_logp(x, &p1, &p2, &p, c);
                for (acc, gk) in want.iter_mut().zip(&g) {
                    for (a, v) in acc.iter_mut().zip(gk) {
                        *a += wgt * v * v / samples.x.len() as f64;
                    }
                }
            }
        }
        let scale = want.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 1e-3, "a degenerate test: Fisher {want:?}");
        for (k, id) in ids.iter().enumerate() {
            let g = host(&got[id]);
            assert_eq!(g.len(), want[k].len());
            for (a, b) in g.iter().zip(&want[k]) {
                assert!(
                    (a - b).abs() < 1e-5 * scale.max(1.0),
                    "{estimator:?} {active:?} param {k}: {a} vs {b}"
                );
            }
        }
        results.push(want);
    }
    // The estimators give different numbers here, so the test can tell them apart.
    let differ = |a: &[Vec<f64>; 4], b: &[Vec<f64>; 4]| {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .any(|(x, y)| (x - y).abs() > 1e-3)
    };
    assert!(differ(&results[0], &results[3]) && differ(&results[0], &results[2]));
    assert!(differ(&results[0], &results[1]));
}

fn lin(din: usize, dout: usize, seed: u64) -> Lin<B> {
    let dev = Default::default();
    B::seed(&dev, seed);
    Lin {
        l: LinearConfig::new(din, dout).init(&dev),
    }
}

/// MAS's importance of a linear layer in closed form: f = xW + b, ∂‖f‖²/∂W_ij = 2 f_j x_i.
fn mas_closed_form(m: &Lin<B>, s: &Samples) -> (Vec<f64>, Vec<f64>) {
    let (w, b) = weights(&m.l);
    let (din, dout) = (w.len(), b.len());
    let (mut ow, mut ob) = (vec![0.0; din * dout], vec![0.0; dout]);
    let n = s.x.len() as f64;
    for x in &s.x {
        let f = matvec(x, &w, &b);
        for j in 0..dout {
            let fj = if s.active.as_ref().is_none_or(|a| a.contains(&j)) {
                f[j]
            } else {
                0.0
            };
            ob[j] += (2.0 * fj).abs() / n;
            for i in 0..din {
                ow[i * dout + j] += (2.0 * fj * x[i]).abs() / n;
            }
        }
    }
    (ow, ob)
}

#[test]
fn mas_importance_matches_its_closed_form_on_a_linear_model() {
    let m = lin(3, 4, 2);
    for active in [None, Some(vec![1, 3])] {
        let mut s = random_samples(6, 3, 4, 9);
        s.active = active.clone();
        let got = mas_importance::<B, Lin<B>>(&m, &s, 100);
        let (ow, ob) = mas_closed_form(&m, &s);
        for (g, w) in [
            (host(&got[&m.l.weight.id]), ow),
            (host(&got[&m.l.bias.as_ref().unwrap().id]), ob),
        ] {
            for (a, b) in g.iter().zip(&w) {
                assert!((a - b).abs() < 1e-5, "{active:?}: {a} vs {b}");
            }
        }
        if active.is_some() {
            // Outputs outside the task get no importance at all.
            let b = host(&got[&m.l.bias.as_ref().unwrap().id]);
            assert_eq!((b[0], b[2]), (0.0, 0.0));
            assert!(b[1] > 0.0 && b[3] > 0.0);
        }
    }
}

/// Empirical Fisher of a linear softmax classifier in closed form:
/// ∂ log p_y/∂W_ij = x_i(δ_jy − p_j), ∂/∂b_j = δ_jy − p_j.
fn linear_fisher(m: &Lin<B>, s: &Samples) -> Vec<f64> {
    let (w, b) = weights(&m.l);
    let (din, dout) = (w.len(), b.len());
    let mut f = vec![0.0; din * dout + dout];
    let n = s.x.len() as f64;
    for (x, &y) in s.x.iter().zip(&s.y) {
        let p = softmax(&matvec(x, &w, &b), None);
        for j in 0..dout {
            let d = if j == y { 1.0 } else { 0.0 } - p[j];
            for i in 0..din {
                f[i * dout + j] += (x[i] * d).powi(2) / n;
            }
            f[din * dout + j] += d * d / n;
        }
    }
    f
}

fn flat_params(m: &Lin<B>) -> Vec<f64> {
    let (w, b) = weights(&m.l);
    w.into_iter().flatten().chain(b).collect()
}

fn set_flat(m: &Lin<B>, v: &[f64]) -> Lin<B> {
    let (din, dout) = (m.l.weight.val().dims()[0], m.l.weight.val().dims()[1]);
    let w: Vec<Vec<f64>> = (0..din)
        .map(|i| v[i * dout..(i + 1) * dout].to_vec())
        .collect();
    Lin {
        l: with_weights(&m.l, &w, &v[din * dout..]),
    }
}

/// Penalty and (total − task) gradient of `r` at `m`, flattened like [`flat_params`].
fn penalty_and_pull<R: Regularizer<B, Lin<B>>>(
    r: &mut R,
    m: &Lin<B>,
    s: &Samples,
) -> (f64, Vec<f64>) {
    let (x, _) = s.batch(&[0, 1]);
    let task = GradientsParams::from_grads(m.logits(x).sum().backward(), m);
    let g = |gp: &GradientsParams| -> Vec<f64> {
        let w: Vec<f64> = gp
            .get::<I, 2>(m.l.weight.id)
            .unwrap()
            .into_data()
            .convert::<f64>()
            .to_vec()
            .unwrap();
        let b: Vec<f64> = gp
            .get::<I, 1>(m.l.bias.as_ref().unwrap().id)
            .unwrap()
            .into_data()
            .convert::<f64>()
            .to_vec()
            .unwrap();
        w.into_iter().chain(b).collect()
    };
    let before = g(&task);
    let total = r.before_step(m, task);
    let after = g(&total);
    let pull = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    (r.penalty(m), pull)
}

fn assert_close(got: &[f64], want: &[f64], what: &str) {
    let scale = want.iter().fold(1e-12f64, |m, v| m.max(v.abs()));
    assert!(scale > 1e-6, "{what}: degenerate expectation {want:?}");
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() < 2e-4 * scale, "{what}: {got:?} vs {want:?}");
    }
}

/// Three weight settings of a 2→3 linear classifier: the ends of tasks 1 and 2, and "now".
fn three_points() -> (Lin<B>, Vec<f64>, Vec<f64>, Vec<f64>, Samples) {
    let m0 = lin(2, 3, 4);
    let th0 = flat_params(&m0);
    let th1: Vec<f64> = th0
        .iter()
        .enumerate()
        .map(|(k, v)| v + 0.1 * (k as f64 - 4.0))
        .collect();
    let th2: Vec<f64> = th1
        .iter()
        .enumerate()
        .map(|(k, v)| v - 0.07 * ((k * 5 % 7) as f64 - 3.0))
        .collect();
    let th3: Vec<f64> = th2
        .iter()
        .enumerate()
        .map(|(k, v)| v + 0.05 * ((k * 3 % 5) as f64 - 2.0))
        .collect();
    (m0, th1, th2, th3, random_samples(5, 2, 3, 8))
}

#[test]
fn ewc_keeps_one_penalty_per_task_and_online_ewc_decays_one_fisher() {
    let (m0, th1, th2, th3, s) = three_points();
    let lambda = 3.0;
    let (f1, f2) = (
        linear_fisher(&set_flat(&m0, &th1), &s),
        linear_fisher(&set_flat(&m0, &th2), &s),
    );
    for gamma in [None, Some(0.5)] {
        let mut r = Consolidator::<B, Ewc<B>>::ewc(EwcConfig {
            lambda,
            gamma,
            estimator: FisherEstimator::Empirical,
            samples: 5,
            seed: 0,
        });
        r.init(&m0);
        r.end_task(&set_flat(&m0, &th1), 0, &s).unwrap();
        r.end_task(&set_flat(&m0, &th2), 1, &s).unwrap();
        let (pen, pull) = penalty_and_pull(&mut r, &set_flat(&m0, &th3), &s);
        let n = th3.len();
        let (want_pen, want_pull): (f64, Vec<f64>) = match gamma {
            // (λ/2)·[ΣF1(θ−θ1)² + ΣF2(θ−θ2)²]; gradient λ·[F1(θ−θ1) + F2(θ−θ2)].
            None => (
                (0..n)
                    .map(|k| {
                        lambda / 2.0
                            * (f1[k] * (th3[k] - th1[k]).powi(2)
                                + f2[k] * (th3[k] - th2[k]).powi(2))
                    })
                    .sum(),
                (0..n)
                    .map(|k| lambda * (f1[k] * (th3[k] - th1[k]) + f2[k] * (th3[k] - th2[k])))
                    .collect(),
            ),
            // F = γF1 + F2 with the latest anchor θ2 only.
            Some(g) => (
                (0..n)
                    .map(|k| lambda / 2.0 * (g * f1[k] + f2[k]) * (th3[k] - th2[k]).powi(2))
                    .sum(),
                (0..n)
                    .map(|k| lambda * (g * f1[k] + f2[k]) * (th3[k] - th2[k]))
                    .collect(),
            ),
        };
        assert_close(&pull, &want_pull, &format!("gradient, γ {gamma:?}"));
        assert!(
            (pen - want_pen).abs() < 1e-4 * want_pen,
            "{pen} vs {want_pen}"
        );
        let terms = r.states().next().unwrap().1.terms.len();
        assert_eq!(terms, if gamma.is_some() { 1 } else { 2 });
    }
}

#[test]
fn mas_and_l2_penalties_match_hand_values() {
    let (m0, th1, th2, th3, s) = three_points();
    let n = th3.len();
    // MAS: Ω = Ω1 + Ω2, anchor θ2, penalty λ·ΣΩ(θ−θ2)², gradient 2λΩ(θ−θ2).
    let lambda = 0.7;
    let om = |th: &[f64]| {
        let (w, b) = mas_closed_form(&set_flat(&m0, th), &s);
        w.into_iter().chain(b).collect::<Vec<f64>>()
    };
    let (o1, o2) = (om(&th1), om(&th2));
    let mut r = Consolidator::<B, Mas<B>>::mas(lambda, 5);
    r.init(&m0);
    r.end_task(&set_flat(&m0, &th1), 0, &s).unwrap();
    r.end_task(&set_flat(&m0, &th2), 1, &s).unwrap();
    let (pen, pull) = penalty_and_pull(&mut r, &set_flat(&m0, &th3), &s);
    let want: Vec<f64> = (0..n)
        .map(|k| 2.0 * lambda * (o1[k] + o2[k]) * (th3[k] - th2[k]))
        .collect();
    assert_close(&pull, &want, "MAS gradient");
    let wp: f64 = (0..n)
        .map(|k| lambda * (o1[k] + o2[k]) * (th3[k] - th2[k]).powi(2))
        .sum();
    assert!((pen - wp).abs() < 1e-4 * wp, "{pen} vs {wp}");

    // L2: Ω ≡ 1 anchored at the last task end, penalty (λ/2)·Σ(θ−θ2)², gradient λ(θ−θ2).
    let lambda = 2.5;
    let mut r = Consolidator::<B, L2>::l2(lambda);
    r.init(&m0);
    r.end_task(&set_flat(&m0, &th1), 0, &NoSamples).unwrap();
    r.end_task(&set_flat(&m0, &th2), 1, &NoSamples).unwrap();
    let (pen, pull) = penalty_and_pull(&mut r, &set_flat(&m0, &th3), &s);
    let want: Vec<f64> = (0..n).map(|k| lambda * (th3[k] - th2[k])).collect();
    assert_close(&pull, &want, "L2 gradient");
    let wp: f64 = (0..n)
        .map(|k| lambda / 2.0 * (th3[k] - th2[k]).powi(2))
        .sum();
    assert!((pen - wp).abs() < 1e-4 * wp, "{pen} vs {wp}");
}

#[test]
fn exclude_leaves_matching_parameters_out_of_the_penalty() {
    let (m0, th1, _, th3, s) = three_points();
    let mut r = Consolidator::<B, L2>::l2(2.0).with_exclude(vec!["l.bias".into()]);
    r.init(&m0);
    r.end_task(&set_flat(&m0, &th1), 0, &NoSamples).unwrap();
    let (pen, pull) = penalty_and_pull(&mut r, &set_flat(&m0, &th3), &s);
    let nw = 6;
    for k in 0..nw {
        assert!((pull[k] - 2.0 * (th3[k] - th1[k])).abs() < 1e-5);
    }
    // The bias moved but feels nothing, and adds nothing to the penalty.
    for k in nw..th3.len() {
        assert!((th3[k] - th1[k]).abs() > 1e-3);
        assert_eq!(pull[k], 0.0);
    }
    let wp: f64 = (0..nw).map(|k| (th3[k] - th1[k]).powi(2)).sum();
    assert!((pen - wp).abs() < 1e-4 * wp);
    // A pattern that matches nothing is an error that lists the real paths.
    let e = check_exclude::<B, Lin<B>>(&m0, &["head.*".into()])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("head.*") && e.contains("l.weight, l.bias"),
        "{e}"
    );
    assert!(check_exclude::<B, Lin<B>>(&m0, &["l.*".into()]).is_ok());
}
