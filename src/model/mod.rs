//! Models: the MLP of the paper's MNIST experiments, and the `Classifier` trait the trainer uses.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Any burn module that maps a batch of flat inputs to one logit per output unit.
pub trait Classifier<B: Backend>: Module<B> {
    /// Logits of shape `[batch, outputs]` for inputs of shape `[batch, features]`.
    fn logits(&self, x: Tensor<B, 2>) -> Tensor<B, 2>;
}

/// How the output layer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HeadInit {
    /// burn's default (Kaiming-uniform, as PyTorch's `nn.Linear`).
    #[default]
    Default,
    /// Weights and bias at zero, as the official SI code (Keras `zeros` kernel, zero bias).
    Zero,
}

impl std::str::FromStr for HeadInit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(Self::Default),
            "zero" => Ok(Self::Zero),
            _ => Err(format!("unknown head init '{s}': use default or zero")),
        }
    }
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
                let mut cfg = LinearConfig::new(w[0], w[1]);
                if i == last && self.head_init == HeadInit::Zero {
                    cfg = cfg.with_initializer(Initializer::Zeros);
                }
                cfg.init(device)
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
    fn zero_head_outputs_zero_logits() {
        let dev = Default::default();
        let cfg = MlpConfig {
            inputs: 4,
            hidden: vec![8],
            outputs: 3,
            head_init: HeadInit::Zero,
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
