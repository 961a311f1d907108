//! Our CPU kernels for the hot loops burn's CPU backend does slowly (the CNN's convolutions, their
//! gradients and its max pooling), each tested against burn's own result: pure slice kernels ([`conv`],
//! [`pool`], and a bounds-checked `gemm` wrapper) and their wrapping as burn operations with autodiff ([`ops`]).

pub mod conv;
pub(crate) mod gemm;
pub mod ops;
pub mod pool;
