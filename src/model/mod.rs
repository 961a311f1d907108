//! Models: the [`Classifier`] trait the trainer uses (flat inputs in, logits out), the [`Mlp`] of
//! the paper's MNIST experiments and the [`Cnn`] of its split CIFAR-10/100 experiment; [`HeadInit`]
//! chooses how either's output layer starts, [`WeightInit`] how the other layers do.

use crate::names::UnknownName;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

pub mod mask;
pub use mask::{output_mask, row_masks};

/// A model every method can train: a burn module with logits, whose inner module has them too.
pub trait TrainModel<B: burn::tensor::backend::AutodiffBackend>:
    burn::module::AutodiffModule<B, InnerModule: Classifier<B::InnerBackend>> + Classifier<B> + 'static
{
}

impl<B, M> TrainModel<B> for M
where
    B: burn::tensor::backend::AutodiffBackend,
    M: burn::module::AutodiffModule<B> + Classifier<B> + 'static,
    M::InnerModule: Classifier<B::InnerBackend>,
{
}

/// Any burn module that maps a batch of flat inputs to one logit per output unit.
pub trait Classifier<B: Backend>: Module<B> {
    /// Logits of shape `[batch, outputs]` for inputs of shape `[batch, features]`.
    fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2>;
}

/// How the output layer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum HeadInit {
    /// burn's default (Kaiming-uniform, as PyTorch's `nn.Linear`).
    #[default]
    Default,
    /// Weights and bias at zero, as the official SI code (Keras `zeros` kernel, zero bias).
    Zero,
}

impl std::str::FromStr for HeadInit {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "default" => Ok(Self::Default),
            "zero" => Ok(Self::Zero),
            _ => Err(UnknownName::new("head init", s, &["default", "zero"])),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for HeadInit {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

/// How the weights and biases of every layer start (the output layer's unless [`HeadInit::Zero`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[serde(try_from = "String")]
pub enum WeightInit {
    /// burn's default, as PyTorch's `nn.Linear`/`nn.Conv2d`: weights and biases uniform in
    /// ±1/√fan_in.
    #[default]
    Default,
    /// Keras's defaults, so the official SI code's: Glorot-uniform weights (±√(6/(fan_in +
    /// fan_out))) and zero biases.
    Glorot,
}

impl WeightInit {
    /// Whether this is the default (left out of stored configs, which stay as they were).
    pub fn is_default(&self) -> bool {
        *self == Self::Default
    }

    /// The initializer of a layer's weights (burn's own default when `None`).
    fn weights(self) -> Option<Initializer> {
        match self {
            Self::Default => None,
            Self::Glorot => Some(Initializer::XavierUniform { gain: 1.0 }),
        }
    }
}

impl std::str::FromStr for WeightInit {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s {
            "default" => Ok(Self::Default),
            "glorot" => Ok(Self::Glorot),
            _ => Err(UnknownName::new("init", s, &["default", "glorot"])),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for WeightInit {
    type Error = UnknownName;
    fn try_from(s: String) -> Result<Self, UnknownName> {
        s.parse()
    }
}

/// A dense layer initialised as `init` says (Glorot: zero bias, as Keras).
fn linear<B: Backend>(mut cfg: LinearConfig, init: WeightInit, device: &B::Device) -> Linear<B> {
    if let Some(w) = init.weights() {
        cfg = cfg.with_initializer(w);
    }
    let mut layer = cfg.init(device);
    if init == WeightInit::Glorot {
        layer.bias = layer.bias.map(|b| b.map(|t| t.zeros_like()));
    }
    layer
}

/// A multilayer perceptron with ReLU between layers.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    layers: Vec<Linear<B>>,
}

/// Shape and initialisation of an [`Mlp`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Input features (784 for MNIST).
    pub inputs: usize,
    /// Hidden layer widths, input side first.
    pub hidden: Vec<usize>,
    /// Output units.
    pub outputs: usize,
    /// Initialisation of the output layer.
    pub head_init: HeadInit,
    /// Initialisation of the other layers (and of the output layer unless it starts at zero).
    pub init: WeightInit,
}

impl MlpConfig {
    /// Builds the network on `device`, drawing weights from the backend's seeded generator.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Mlp<B> {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        widths.push(self.outputs);
        let last = widths.len() - 2;
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let cfg = LinearConfig::new(w[0], w[1]);
                if i == last && self.head_init == HeadInit::Zero {
                    return cfg.with_initializer(Initializer::Zeros).init(device);
                }
                linear(cfg, self.init, device)
            })
            .collect();
        Mlp { layers }
    }
}

impl<B: Backend> Classifier<B> for Mlp<B> {
    fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let n = self.layers.len();
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i + 1 < n {
                h = relu(h);
            }
        }
        h
    }
}

/// The split-CIFAR network of the paper (the Keras CIFAR-10 example): conv32 3x3 same, conv32
/// 3x3 valid, max-pool 2, dropout .25, conv64 same, conv64 valid, max-pool 2, dropout .25, dense
/// 512, dropout .5, dense head; ReLU after every conv and the dense layer.
#[derive(Module, Debug)]
pub struct Cnn<B: Backend> {
    conv1: Conv2d<B>,
    conv2: Conv2d<B>,
    conv3: Conv2d<B>,
    conv4: Conv2d<B>,
    pool: MaxPool2d,
    drop_conv: Dropout,
    dense: Linear<B>,
    drop_dense: Dropout,
    head: Linear<B>,
    channels: usize,
    height: usize,
    width: usize,
    /// Use burn's convolution and pooling layers even where our kernels apply (for comparing;
    /// `SYNAPTIC_BURN_KERNELS` set in the environment does it for a whole run).
    burn_convs: bool,
}

/// The smallest image side the [`Cnn`] takes: its valid convolutions and pools leave 1 pixel.
pub const CNN_MIN_SIDE: usize = 10;

/// A side of the [`Cnn`]'s feature maps before its dense layer, for an input side `s`:
/// same (s) → valid (s−2) → pool (⌊(s−2)/2⌋) → same → valid (−2) → pool (⌊/2⌋); 32 → 6, 28 → 5.
pub fn cnn_side_after(s: usize) -> usize {
    (s.saturating_sub(2) / 2).saturating_sub(2) / 2
}

/// Shape and initialisation of a [`Cnn`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    /// Input channels (3 for CIFAR), stored channel-major.
    pub channels: usize,
    /// Input height (32 for CIFAR).
    pub height: usize,
    /// Input width (32 for CIFAR).
    pub width: usize,
    /// Output units (60 for split CIFAR-10/100).
    pub outputs: usize,
    /// Initialisation of the output layer.
    pub head_init: HeadInit,
    /// Initialisation of the other layers (and of the output layer unless it starts at zero).
    pub init: WeightInit,
}

impl CnnConfig {
    /// Builds the network on `device`, drawing weights from the backend's seeded generator.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Cnn<B> {
        let conv = |i: usize, o: usize, pad: PaddingConfig2d| {
            let mut cfg = Conv2dConfig::new([i, o], [3, 3]).with_padding(pad);
            if let Some(w) = self.init.weights() {
                cfg = cfg.with_initializer(w);
            }
            let mut layer = cfg.init(device);
            if self.init == WeightInit::Glorot {
                layer.bias = layer.bias.map(|b| b.map(|t| t.zeros_like()));
            }
            layer
        };
        let (h, w) = (cnn_side_after(self.height), cnn_side_after(self.width));
        let head = LinearConfig::new(512, self.outputs);
        let head = |device: &B::Device| match self.head_init {
            HeadInit::Zero => head.with_initializer(Initializer::Zeros).init(device),
            HeadInit::Default => linear(head.clone(), self.init, device),
        };
        Cnn {
            conv1: conv(self.channels, 32, PaddingConfig2d::Same),
            conv2: conv(32, 32, PaddingConfig2d::Valid),
            conv3: conv(32, 64, PaddingConfig2d::Same),
            conv4: conv(64, 64, PaddingConfig2d::Valid),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            drop_conv: DropoutConfig::new(0.25).init(),
            dense: linear(LinearConfig::new(64 * h * w, 512), self.init, device),
            drop_dense: DropoutConfig::new(0.5).init(),
            head: head(device),
            channels: self.channels,
            height: self.height,
            width: self.width,
            burn_convs: std::env::var_os("SYNAPTIC_BURN_KERNELS").is_some(),
        }
    }
}

impl<B: Backend> Cnn<B> {
    /// The same network computed with burn's layers instead of our CPU kernels.
    pub fn with_burn_convs(self) -> Self {
        Self {
            burn_convs: true,
            ..self
        }
    }

    /// `relu(conv(x))`: our kernel on the CPU backend (kernels::ops), else burn's layer.
    fn conv_relu(&self, conv: &Conv2d<B>, pad: usize, x: Tensor<B, 4>) -> Tensor<B, 4> {
        if let (false, Some(bias)) = (self.burn_convs, &conv.bias) {
            if let Some(y) =
                crate::kernels::ops::conv3x3_relu(&x, &conv.weight.val(), &bias.val(), pad)
            {
                return y;
            }
        }
        relu(conv.forward(x))
    }

    /// Dropout in training: our mask generator on the CPU backend (with burn's convolutions too,
    /// so that `SYNAPTIC_BURN_KERNELS` compares the convolutions under the same masks), else
    /// burn's layer.
    fn dropout<const D: usize>(&self, d: &Dropout, x: Tensor<B, D>) -> Tensor<B, D> {
        // The same conditions as burn's `Dropout::forward` (identity without autodiff or at 0).
        let ours = d.prob > 0.0
            && crate::kernels::ops::is_cpu_autodiff::<B>()
            && B::ad_enabled(&x.device());
        match ours {
            true => crate::kernels::ops::dropout(x, d.prob),
            false => d.forward(x),
        }
    }

    /// 2x2 max pooling: our kernel on the CPU backend, else burn's layer.
    fn pool(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        match self.burn_convs {
            false => crate::kernels::ops::max_pool2x2(&x).unwrap_or_else(|| self.pool.forward(x)),
            true => self.pool.forward(x),
        }
    }
}

impl<B: Backend> Classifier<B> for Cnn<B> {
    /// Inputs are flat `[batch, channels·height·width]`, channel-major as CIFAR stores them.
    fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let n = x.dims()[0];
        let x = x.reshape([n, self.channels, self.height, self.width]);
        let x = self.conv_relu(&self.conv1, 1, x);
        let x = self.conv_relu(&self.conv2, 0, x);
        let x = self.dropout(&self.drop_conv, self.pool(x));
        let x = self.conv_relu(&self.conv3, 1, x);
        let x = self.conv_relu(&self.conv4, 0, x);
        let x = self.dropout(&self.drop_conv, self.pool(x));
        let x: Tensor<B, 2> = x.flatten(1, 3);
        let x = self.dropout(&self.drop_dense, relu(self.dense.forward(x)));
        self.head.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Cpu;

    #[test]
    fn mlp_shapes_and_parameter_count() {
        let dev = Default::default();
        let cfg = MlpConfig {
            inputs: 784,
            hidden: vec![256, 256],
            outputs: 10,
            head_init: HeadInit::Default,
            init: WeightInit::Default,
        };
        let m: Mlp<Cpu> = cfg.init(&dev);
        assert_eq!(
            m.num_params(),
            784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10
        );
        let y = m.logits(Tensor::zeros([3, 784], &dev));
        assert_eq!(y.dims(), [3, 10]);
    }

    #[test]
    fn cnn_has_the_papers_shape_and_parameter_count() {
        let dev = Default::default();
        let cfg = CnnConfig {
            channels: 3,
            height: 32,
            width: 32,
            outputs: 60,
            head_init: HeadInit::Default,
            init: WeightInit::Default,
        };
        let m: Cnn<Cpu> = cfg.init(&dev);
        // 896 + 9,248 + 18,496 + 36,928 (convs) + 1,180,160 (2304→512) + 30,780 (512→60).
        assert_eq!(m.num_params(), 1_276_508);
        let y = m.logits(Tensor::zeros([2, 3 * 32 * 32], &dev));
        assert_eq!(y.dims(), [2, 60]);
        let z: Cnn<Cpu> = CnnConfig {
            head_init: HeadInit::Zero,
            init: WeightInit::Default,
            ..cfg
        }
        .init(&dev);
        let v: Vec<f32> = z
            .logits(Tensor::ones([1, 3 * 32 * 32], &dev))
            .into_data()
            .to_vec()
            .unwrap();
        assert!(v.iter().all(|&x| x == 0.0));
    }

    /// Largest |a - b| relative to the largest |b|.
    fn rel_diff(a: Vec<f32>, b: Vec<f32>) -> f32 {
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "an all-zero reference compares nothing");
        a.iter()
            .zip(&b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale
    }

    #[test]
    fn cnn_on_our_kernels_matches_burns_layers_in_logits_and_gradients() {
        use crate::backend::CpuAutodiff as Ad;
        use burn::module::AutodiffModule;
        let dev = Default::default();
        let cfg = CnnConfig {
            channels: 3,
            height: 32,
            width: 32,
            outputs: 10,
            head_init: HeadInit::Default,
            init: WeightInit::Default,
        };
        // burn's random numbers come from one process-wide generator that tests running in
        // parallel also draw from (a seed set here can be taken by another test), so the
        // parameters, the input and the dropout masks must not: parameters and input come from
        // a generator of this test's own, and dropout, burn's own op on both sides, is off.
        use rand::{Rng, SeedableRng};
        let own = crate::test_support::OwnInit(rand_chacha::ChaCha8Rng::seed_from_u64(5));
        let mut ours: Cnn<Ad> = cfg.init(&dev).map(&mut { own });
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        ours.drop_conv = DropoutConfig::new(0.0).init();
        ours.drop_dense = DropoutConfig::new(0.0).init();
        let pixels: Vec<f32> = (0..5 * 3 * 32 * 32)
            .map(|_| rng.gen_range(0.0..1.0))
            .collect();
        let x = Tensor::<Ad, 2>::from_data(
            burn::tensor::TensorData::new(pixels, [5, 3 * 32 * 32]),
            &dev,
        );
        let burns = ours.clone().with_burn_convs();
        // Inference (no dropout) on the inner backend.
        let (a, b) = (ours.valid(), burns.valid());
        let xi = x.clone().inner();
        let d = rel_diff(
            a.logits(xi.clone()).into_data().to_vec().unwrap(),
            b.logits(xi).into_data().to_vec().unwrap(),
        );
        assert!(d < 1e-5, "logits differ by {d}");
        // Training mode (autodiff), every parameter's gradient.
        let grads = |m: &Cnn<Ad>| m.logits(x.clone()).powi_scalar(2).sum().backward();
        let (ga, gb) = (grads(&ours), grads(&burns));
        let pairs: Vec<(Tensor<Ad, 4>, &str)> = vec![
            (ours.conv1.weight.val(), "conv1"),
            (ours.conv2.weight.val(), "conv2"),
            (ours.conv3.weight.val(), "conv3"),
            (ours.conv4.weight.val(), "conv4"),
        ];
        for (w, name) in pairs {
            let (p, q) = (w.grad(&ga).unwrap(), w.grad(&gb).unwrap());
            let d = rel_diff(
                p.into_data().to_vec().unwrap(),
                q.into_data().to_vec().unwrap(),
            );
            assert!(d < 1e-4, "{name} weight gradient differs by {d}");
        }
        let (p, q) = (
            ours.dense.weight.val().grad(&ga).unwrap(),
            ours.dense.weight.val().grad(&gb).unwrap(),
        );
        let d = rel_diff(
            p.into_data().to_vec().unwrap(),
            q.into_data().to_vec().unwrap(),
        );
        assert!(d < 1e-4, "dense weight gradient differs by {d}");
    }

    #[test]
    fn the_cnn_sizes_its_dense_layer_from_any_input_shape() {
        let dev = Default::default();
        assert_eq!(
            (cnn_side_after(32), cnn_side_after(28), cnn_side_after(16)),
            (6, 5, 2)
        );
        assert_eq!(cnn_side_after(CNN_MIN_SIDE), 1);
        assert_eq!(cnn_side_after(CNN_MIN_SIDE - 1), 0);
        // One grey 16x20 image: feature maps 2x3 before the dense layer.
        let cfg = CnnConfig {
            channels: 1,
            height: 16,
            width: 20,
            outputs: 4,
            head_init: HeadInit::Default,
            init: WeightInit::Default,
        };
        let m: Cnn<Cpu> = cfg.init(&dev);
        let convs = (9 + 1) * 32 + (32 * 9 + 1) * 32 + (32 * 9 + 1) * 64 + (64 * 9 + 1) * 64;
        assert_eq!(m.num_params(), convs + (64 * 2 * 3 + 1) * 512 + 513 * 4);
        let y = m.logits(Tensor::zeros([2, 16 * 20], &dev));
        assert_eq!(y.dims(), [2, 4]);
    }

    #[test]
    fn glorot_init_draws_keras_bounds_and_zero_biases() {
        let dev = Default::default();
        let cfg = |init| MlpConfig {
            inputs: 784,
            hidden: vec![2000],
            outputs: 10,
            head_init: HeadInit::Default,
            init,
        };
        let values = |t: Tensor<Cpu, 2>| -> Vec<f32> { t.into_data().to_vec().unwrap() };
        let g: Mlp<Cpu> = cfg(WeightInit::Glorot).init(&dev);
        // Keras's glorot_uniform: U(±sqrt(6 / (fan_in + fan_out))); 784→2000 gives 0.046424.
        let limit = (6.0f64 / (784.0 + 2000.0)).sqrt() as f32;
        let w = values(g.layers[0].weight.val());
        let max = w.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(
            max <= limit && max > 0.99 * limit,
            "max |w| {max} vs {limit}"
        );
        let head = values(g.layers[1].weight.val());
        let head_limit = (6.0f64 / 2010.0).sqrt() as f32;
        let head_max = head.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(head_max <= head_limit && head_max > 0.95 * head_limit);
        for l in &g.layers {
            let b: Vec<f32> = l.bias.as_ref().unwrap().val().into_data().to_vec().unwrap();
            assert!(b.iter().all(|&x| x == 0.0));
        }
        // burn's default is PyTorch's U(±1/sqrt(fan_in)) = ±0.035714 here, with non-zero biases:
        // a different scale, so the switch is not a no-op.
        let d: Mlp<Cpu> = cfg(WeightInit::Default).init(&dev);
        let dw = values(d.layers[0].weight.val());
        let dmax = dw.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(dmax <= 1.0 / 28.0 && dmax > 0.99 / 28.0, "max |w| {dmax}");
        let db: Vec<f32> = d.layers[0]
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .to_vec()
            .unwrap();
        assert!(db.iter().any(|&x| x != 0.0));
        // The CNN's convolutions: fan_in = cin·9, fan_out = cout·9 (Keras's receptive-field rule).
        let c: Cnn<Cpu> = CnnConfig {
            channels: 3,
            height: 32,
            width: 32,
            outputs: 10,
            head_init: HeadInit::Default,
            init: WeightInit::Glorot,
        }
        .init(&dev);
        let cw: Vec<f32> = c.conv2.weight.val().into_data().to_vec().unwrap();
        let climit = (6.0f64 / (32.0 * 9.0 + 32.0 * 9.0)).sqrt() as f32;
        let cmax = cw.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(
            cmax <= climit && cmax > 0.99 * climit,
            "conv max {cmax} vs {climit}"
        );
        let cb: Vec<f32> = c
            .conv2
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .to_vec()
            .unwrap();
        assert!(cb.iter().all(|&x| x == 0.0));
        assert_eq!("glorot".parse::<WeightInit>().unwrap(), WeightInit::Glorot);
        assert!("he".parse::<WeightInit>().is_err());
    }

    #[test]
    fn zero_head_outputs_zero_logits() {
        let dev = Default::default();
        let cfg = MlpConfig {
            inputs: 4,
            hidden: vec![8],
            outputs: 3,
            head_init: HeadInit::Zero,
            init: WeightInit::Default,
        };
        let m: Mlp<Cpu> = cfg.init(&dev);
        let y = m.logits(Tensor::ones([2, 4], &dev));
        let v: Vec<f32> = y.into_data().to_vec().unwrap();
        assert!(v.iter().all(|&x| x == 0.0));
        // The hidden layer is not zero: only the head is.
        let first: Vec<f32> = m.layers[0].weight.val().into_data().to_vec().unwrap();
        assert!(first.iter().any(|&x| x != 0.0));
    }
}
