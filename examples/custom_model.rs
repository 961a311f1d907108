//! Adding Synaptic Intelligence to your own burn model and your own training loop.
//!
//! The model below is not one of synaptic's: a small network with a learned per-output
//! temperature. SI needs nothing from it but that it is a burn `Module`; it walks the
//! parameters itself. The loop is an ordinary burn loop with four SI calls added:
//! `init` once, `before_step`/`after_step` around every optimizer step, `end_task` after each task.
//!
//! Run: cargo run --release --example custom_model

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Int, Tensor, TensorData};
use synaptic::backend::CpuAutodiff;
use synaptic::regularizer::{NoSamples, Regularizer, SiConfig, SynapticIntelligence};

#[derive(Module, Debug)]
struct MyNet<B: Backend> {
    hidden: Linear<B>,
    out: Linear<B>,
    temperature: Param<Tensor<B, 1>>,
}

impl<B: Backend> MyNet<B> {
    fn new(device: &B::Device) -> Self {
        MyNet {
            hidden: LinearConfig::new(2, 32).init(device),
            out: LinearConfig::new(32, 2).init(device),
            temperature: Param::from_tensor(Tensor::ones([2], device)),
        }
    }
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.out.forward(relu(self.hidden.forward(x))) * self.temperature.val().unsqueeze_dim(0)
    }
}

/// Two-class points around `center`: class 1 lies on the positive side of `direction`.
fn task_data(center: [f32; 2], direction: [f32; 2], n: usize, seed: u32) -> (Vec<f32>, Vec<i64>) {
    let mut s = seed.wrapping_mul(2654435761).max(1);
    let mut rnd = || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s as f32 / u32::MAX as f32) * 2.0 - 1.0
    };
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b) = (rnd(), rnd());
        x.extend([a + center[0], b + center[1]]);
        y.push(((a * direction[0] + b * direction[1]) > 0.0) as i64);
    }
    (x, y)
}

type B = CpuAutodiff;

fn tensors(x: &[f32], y: &[i64]) -> (Tensor<B, 2>, Tensor<B, 1, Int>) {
    let dev = Default::default();
    let n = y.len();
    (
        Tensor::from_data(TensorData::new(x.to_vec(), [n, 2]), &dev),
        Tensor::from_data(TensorData::new(y.to_vec(), [n]), &dev),
    )
}

fn accuracy(model: &MyNet<B>, data: &(Vec<f32>, Vec<i64>)) -> f64 {
    let (x, y) = tensors(&data.0, &data.1);
    let pred = model.forward(x).argmax(1).reshape([data.1.len()]);
    let hits: i64 = pred.equal(y).int().sum().into_scalar().elem();
    hits as f64 / data.1.len() as f64
}

fn main() {
    let dev = Default::default();
    B::seed(&dev, 0);
    // Two tasks on the same inputs with boundaries at 90 degrees: they disagree on half of the
    // plane, so no weights solve both, and c sets the trade-off between keeping task 1 and
    // learning task 2 (c = 0 is plain fine-tuning).
    let tasks = [
        task_data([0.0, 0.0], [1.0, 0.0], 512, 1),
        task_data([0.0, 0.0], [0.0, 1.0], 512, 2),
    ];
    for c in [0.0, 1.0, 10.0, 100.0] {
        B::seed(&dev, 0);
        let mut model = MyNet::<B>::new(&dev);
        let mut optim = AdamConfig::new().with_epsilon(1e-8).init();
        let mut si = SynapticIntelligence::<B>::new(SiConfig::new(c, 1e-3));
        si.init(&model); // 1. anchor θ̃ at the initial weights
        for (t, (x, y)) in tasks.iter().enumerate() {
            for _epoch in 0..30 {
                for start in (0..y.len()).step_by(32) {
                    let (xb, yb) = tensors(&x[2 * start..2 * (start + 32)], &y[start..start + 32]);
                    let loss = log_softmax(model.forward(xb), 1)
                        .gather(1, yb.reshape([32, 1]))
                        .mean()
                        .neg();
                    let grads = GradientsParams::from_grads(loss.backward(), &model);
                    let grads = si.before_step(&model, grads); // 2. record g, add 2cΩ(θ−θ̃)
                    model = optim.step(1e-2, model, grads);
                    si.after_step(&model); // 3. ω −= g·Δθ
                }
            }
            si.end_task(&model, t, &NoSamples)
                .expect("finite importance"); // 4. consolidate Ω, move θ̃
        }
        println!(
            "c = {c}: accuracy after both tasks: task 1 {:.3}, task 2 {:.3}",
            accuracy(&model, &tasks[0]),
            accuracy(&model, &tasks[1])
        );
    }
}
