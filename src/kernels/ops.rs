//! The kernels as burn operations on the CPU backend, with and without autodiff: a model calls
//! [`conv3x3_relu`] and gets `None` on any other backend (it then uses burn's own layers).

use std::any::{Any, TypeId};

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Distribution, Tensor, TensorData, TensorPrimitive};
use burn_flex::{Flex, FlexTensor};

use super::conv::Conv3x3;
use super::pool::{max_pool2x2 as pool_fwd, max_pool2x2_backward as pool_bwd};

type Ad = Autodiff<Flex>;
type AdTensor = <Ad as burn::tensor::backend::BackendTypes>::FloatTensorPrimitive;

/// Moves a value between two types that are the same type (checked by the caller's `TypeId`s).
fn cast<T: 'static, U: 'static>(t: T) -> U {
    let boxed: Box<dyn Any> = Box::new(t);
    *boxed.downcast::<U>().expect("TypeId checked by the caller")
}

fn primitive<B: Backend, const D: usize>(t: Tensor<B, D>) -> B::FloatTensorPrimitive {
    t.into_primitive().tensor()
}

fn tensor<B: Backend, const D: usize>(p: B::FloatTensorPrimitive) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(p))
}

/// A contiguous f32 copy-free view where possible (a copy only for strided tensors).
fn contiguous(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.storage::<f32>()
}

fn flex(values: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Whether `B` is the CPU backend with autodiff: where training runs on our kernels.
pub fn is_cpu_autodiff<B: Backend>() -> bool {
    TypeId::of::<B>() == TypeId::of::<Ad>()
}

/// Inverted dropout of `x` with drop probability `drop`, the mask from
/// [`super::dropout::keep_mask`]. Its seed is one draw from burn's generator, which the trainer
/// seeds at every step, so runs repeat exactly.
pub fn dropout<B: Backend, const D: usize>(x: Tensor<B, D>, drop: f64) -> Tensor<B, D> {
    let dev = x.device();
    let r: Vec<f32> = Tensor::<B, 1>::random([2], Distribution::Default, &dev)
        .into_data()
        .to_vec()
        .expect("a float tensor reads as f32");
    let seed = (u64::from(r[0].to_bits()) << 32) | u64::from(r[1].to_bits());
    let shape = x.shape();
    let mask = super::dropout::keep_mask(shape.num_elements(), seed, drop);
    x * Tensor::from_data(TensorData::new(mask, shape), &dev)
}

/// The shape of `conv` on an `[n, c, h, w]` input, if the weight is a 3x3 kernel over `c`
/// channels and every tensor is f32.
fn shape_of(
    x: &FlexTensor,
    w: &FlexTensor,
    b: &FlexTensor,
    pad: usize,
) -> Option<(usize, Conv3x3)> {
    let xd = x.layout().shape().as_slice().to_vec();
    let wd = w.layout().shape().as_slice().to_vec();
    let f32s = [x, w, b].iter().all(|t| t.dtype() == DType::F32);
    if !f32s || xd.len() != 4 || wd.len() != 4 || wd[1] != xd[1] || wd[2..] != [3, 3] {
        return None;
    }
    let s = Conv3x3 {
        cin: xd[1],
        cout: wd[0],
        h: xd[2],
        w: xd[3],
        pad,
    };
    (b.layout().shape().num_elements() == s.cout && s.h + 2 * pad >= 3 && s.w + 2 * pad >= 3)
        .then_some((xd[0], s))
}

/// `relu(conv2d(x, weight, bias))` for a 3x3, stride-1 kernel with `pad` zeros on each side,
/// computed by [`Conv3x3`] when `B` is the CPU backend (plain or autodiff); `None` on any other
/// backend or shape, so that the caller falls back to burn's layers.
pub fn conv3x3_relu<B: Backend>(
    x: &Tensor<B, 4>,
    weight: &Tensor<B, 4>,
    bias: &Tensor<B, 1>,
    pad: usize,
) -> Option<Tensor<B, 4>> {
    let b = TypeId::of::<B>();
    if b == TypeId::of::<Flex>() {
        let (x, w, bias): (FlexTensor, FlexTensor, FlexTensor) = (
            cast(primitive(x.clone())),
            cast(primitive(weight.clone())),
            cast(primitive(bias.clone())),
        );
        let (y, _) = forward(&x, &w, &bias, pad)?;
        Some(tensor::<B, 4>(cast(y)))
    } else if b == TypeId::of::<Ad>() {
        let (x, w, bias): (AdTensor, AdTensor, AdTensor) = (
            cast(primitive(x.clone())),
            cast(primitive(weight.clone())),
            cast(primitive(bias.clone())),
        );
        let (y, (n, s, xc, wc)) = forward(&x.primitive, &w.primitive, &bias.primitive, pad)?;
        let nodes = [x.node.clone(), w.node.clone(), bias.node.clone()];
        let out = match ConvRelu
            .prepare::<NoCheckpointing>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(
                ConvState {
                    n,
                    shape: s,
                    x: xc,
                    w: wc,
                    y: y.clone(),
                },
                y,
            ),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        Some(tensor::<B, 4>(cast(out)))
    } else {
        None
    }
}

/// 2x2, stride-2 max pooling (burn's `MaxPool2d` with kernel and stride 2, no padding) by
/// [`super::pool`] when `B` is the CPU backend (plain or autodiff); `None` otherwise.
pub fn max_pool2x2<B: Backend>(x: &Tensor<B, 4>) -> Option<Tensor<B, 4>> {
    let b = TypeId::of::<B>();
    if b == TypeId::of::<Flex>() {
        let x: FlexTensor = cast(primitive(x.clone()));
        let (y, _) = pool(&x)?;
        Some(tensor::<B, 4>(cast(y)))
    } else if b == TypeId::of::<Ad>() {
        let x: AdTensor = cast(primitive(x.clone()));
        let (y, state) = pool(&x.primitive)?;
        let out = match MaxPool
            .prepare::<NoCheckpointing>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(state, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        Some(tensor::<B, 4>(cast(out)))
    } else {
        None
    }
}

fn pool(x: &FlexTensor) -> Option<(FlexTensor, PoolState)> {
    let d = x.layout().shape().as_slice().to_vec();
    if x.dtype() != DType::F32 || d.len() != 4 {
        return None;
    }
    let x = contiguous(x);
    let (y, arg) = pool_fwd(slice(&x), d[0] * d[1], d[2], d[3]);
    let y = flex(y, vec![d[0], d[1], d[2] / 2, d[3] / 2]);
    Some((
        y,
        PoolState {
            dims: [d[0], d[1], d[2], d[3]],
            winners: std::sync::Arc::new(arg),
        },
    ))
}

/// The backward step of [`max_pool2x2`] under autodiff.
#[derive(Debug)]
struct MaxPool;

/// The input's shape and each window's winner.
#[derive(Debug, Clone)]
struct PoolState {
    dims: [usize; 4],
    winners: std::sync::Arc<Vec<u8>>,
}

impl Backward<Flex, 1> for MaxPool {
    type State = PoolState;

    fn backward(self, ops: Ops<PoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = contiguous(&grads.consume::<Flex>(&ops.node));
        if let Some(node) = node {
            let [n, c, h, w] = ops.state.dims;
            let dx = pool_bwd(slice(&dy), &ops.state.winners, n * c, h, w);
            grads.register::<Flex>(node.id, flex(dx, vec![n, c, h, w]));
        }
    }
}

type Inputs = (usize, Conv3x3, FlexTensor, FlexTensor);

fn forward(
    x: &FlexTensor,
    w: &FlexTensor,
    b: &FlexTensor,
    pad: usize,
) -> Option<(FlexTensor, Inputs)> {
    let (n, s) = shape_of(x, w, b, pad)?;
    let (x, w, b) = (contiguous(x), contiguous(w), contiguous(b));
    let y = s.forward(n, slice(&x), slice(&w), slice(&b), true);
    let y = flex(y, vec![n, s.cout, s.oh(), s.ow()]);
    Some((y, (n, s, x, w)))
}

/// The backward step of [`conv3x3_relu`] under autodiff.
#[derive(Debug)]
struct ConvRelu;

/// What the backward step needs: the input, the weight and the output (for the ReLU's mask).
#[derive(Debug, Clone)]
struct ConvState {
    n: usize,
    shape: Conv3x3,
    x: FlexTensor,
    w: FlexTensor,
    y: FlexTensor,
}

impl Backward<Flex, 3> for ConvRelu {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = contiguous(&grads.consume::<Flex>(&ops.node));
        let ConvState {
            n,
            shape: s,
            x,
            w,
            y,
        } = ops.state;
        let g = s.backward(
            n,
            slice(&x),
            slice(&w),
            Some(slice(&y)),
            slice(&dy),
            node_x.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, g.dx) {
            grads.register::<Flex>(node.id, flex(dx, vec![n, s.cin, s.h, s.w]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, flex(g.dw, vec![s.cout, s.cin, 3, 3]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, flex(g.db, vec![s.cout]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::{Conv2d, Conv2dConfig};
    use burn::nn::PaddingConfig2d;
    use burn::tensor::activation::relu;
    use burn::tensor::Distribution;

    fn burn_conv<B: Backend>(cin: usize, cout: usize, pad: usize, dev: &B::Device) -> Conv2d<B> {
        let padding = if pad == 1 {
            PaddingConfig2d::Same
        } else {
            PaddingConfig2d::Valid
        };
        Conv2dConfig::new([cin, cout], [3, 3])
            .with_padding(padding)
            .init(dev)
    }

    fn assert_close<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>, what: &str) {
        assert_eq!(a.dims(), b.dims(), "{what}: shape");
        let a: Vec<f32> = a.into_data().to_vec().unwrap();
        let b: Vec<f32> = b.into_data().to_vec().unwrap();
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 2e-5 * scale,
                "{what}[{i}]: {x} vs burn's {y} (scale {scale})"
            );
        }
    }

    #[test]
    fn forward_matches_burns_conv_and_relu_on_the_cpu_backend() {
        let dev = Default::default();
        for (n, cin, cout, h, w, pad) in [
            (3, 3, 8, 9, 7, 1),
            (2, 5, 4, 6, 6, 0),
            (1, 1, 2, 3, 4, 0),
            (2, 3, 32, 32, 32, 1),
            (2, 32, 32, 32, 32, 0),
            (3, 32, 64, 15, 15, 1),
            (2, 64, 64, 15, 15, 0),
        ] {
            let conv = burn_conv::<Flex>(cin, cout, pad, &dev);
            let x = Tensor::<Flex, 4>::random([n, cin, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let bias = conv.bias.as_ref().unwrap().val();
            let ours = conv3x3_relu(&x, &conv.weight.val(), &bias, pad).unwrap();
            assert_close(ours, relu(conv.forward(x)), "forward");
        }
    }

    #[test]
    fn gradients_match_burns_autodiff_for_input_weight_and_bias() {
        let dev = Default::default();
        for (n, cin, cout, h, w, pad) in [(11, 3, 8, 9, 7, 1), (9, 5, 4, 6, 6, 0)] {
            let conv = burn_conv::<Ad>(cin, cout, pad, &dev);
            let x = Tensor::<Ad, 4>::random([n, cin, h, w], Distribution::Normal(0.0, 1.0), &dev)
                .require_grad();
            let dy = Tensor::<Ad, 4>::random(
                [n, cout, h + 2 * pad - 2, w + 2 * pad - 2],
                Distribution::Normal(0.0, 1.0),
                &dev,
            );
            let bias = conv.bias.as_ref().unwrap().val();
            let ours = conv3x3_relu(&x, &conv.weight.val(), &bias, pad).unwrap();
            let theirs = relu(conv.forward(x.clone()));
            let go = (ours * dy.clone()).sum().backward();
            let gt = (theirs * dy).sum().backward();
            let grad = |t: &Tensor<Ad, 4>, g| t.grad(g).unwrap();
            assert_close(grad(&x, &go), grad(&x, &gt), "dx");
            assert_close(
                conv.weight.val().grad(&go).unwrap(),
                conv.weight.val().grad(&gt).unwrap(),
                "dw",
            );
            assert_close(bias.grad(&go).unwrap(), bias.grad(&gt).unwrap(), "db");
        }
    }

    #[test]
    fn an_untracked_input_gets_no_gradient_but_the_parameters_do() {
        let dev = Default::default();
        let conv = burn_conv::<Ad>(2, 3, 1, &dev);
        let x = Tensor::<Ad, 4>::random([4, 2, 5, 5], Distribution::Normal(0.0, 1.0), &dev);
        let bias = conv.bias.as_ref().unwrap().val();
        let g = conv3x3_relu(&x, &conv.weight.val(), &bias, 1)
            .unwrap()
            .sum()
            .backward();
        assert!(x.grad(&g).is_none());
        assert!(conv.weight.val().grad(&g).is_some());
        assert!(bias.grad(&g).is_some());
    }

    #[test]
    fn max_pool_matches_burns_in_values_and_gradients_ties_included() {
        use burn::nn::pool::MaxPool2dConfig;
        let dev = Default::default();
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        for (n, c, h, w) in [(3, 5, 30, 30), (2, 4, 13, 13), (1, 2, 7, 4)] {
            // ReLU'd normals: many windows of zeros, where the first zero must win.
            let x = relu(Tensor::<Ad, 4>::random(
                [n, c, h, w],
                Distribution::Normal(0.0, 1.0),
                &dev,
            ))
            .detach()
            .require_grad();
            let dy =
                Tensor::<Ad, 4>::random([n, c, h / 2, w / 2], Distribution::Normal(0.0, 1.0), &dev);
            let ours = max_pool2x2(&x).unwrap();
            let theirs = pool.forward(x.clone());
            assert_eq!(ours.to_data(), theirs.to_data());
            let go = (ours * dy.clone()).sum().backward();
            let gt = (theirs * dy).sum().backward();
            assert_eq!(
                x.grad(&go).unwrap().to_data(),
                x.grad(&gt).unwrap().to_data()
            );
        }
    }

    #[test]
    fn other_shapes_fall_back_to_burn() {
        let dev = Default::default();
        let w = Tensor::<Flex, 4>::zeros([2, 3, 5, 5], &dev);
        let x = Tensor::<Flex, 4>::zeros([1, 3, 8, 8], &dev);
        let b = Tensor::<Flex, 1>::zeros([2], &dev);
        assert!(conv3x3_relu(&x, &w, &b, 1).is_none());
    }
}
