//! Helpers shared by the unit tests of several modules.

use burn::module::Param;
use burn::tensor::Tensor;

use crate::backend::CpuAutodiff as B;

/// Replaces every float parameter with values from its own generator: tests run in parallel
/// threads and burn's backend generator is global, so `B::seed` + `init` in one test can draw
/// numbers another test seeded; these weights do not depend on what runs beside them.
pub(crate) struct OwnInit(pub rand_chacha::ChaCha8Rng);

impl burn::module::ModuleMapper<B> for OwnInit {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        use rand::Rng;
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let n: usize = dims.iter().product();
        // PyTorch's nn.Linear bound for weights [in, out]; a small one for biases.
        let k = if D == 2 {
            1.0 / (dims[0] as f32).sqrt()
        } else {
            0.05
        };
        let vals: Vec<f32> = (0..n).map(|_| self.0.gen_range(-k..k)).collect();
        let fresh =
            Tensor::<B, D>::from_data(burn::tensor::TensorData::new(vals, dims), &tensor.device());
        let fresh = if tensor.is_require_grad() {
            fresh.require_grad()
        } else {
            fresh
        };
        Param::from_mapped_value(id, fresh, mapper)
    }
}
