//! Our CPU kernels for the hot loops burn's CPU backend does slowly (the CNN's convolutions, their
//! gradients, its max pooling and its dropout masks), each tested against burn's own result or
//! the definition: pure slice kernels ([`conv`], [`pool`], [`dropout`], and a bounds-checked
//! `gemm` wrapper) and their wrapping as burn operations with autodiff ([`ops`]).

pub mod conv;
pub mod dropout;
pub(crate) mod gemm;
pub mod ops;
pub mod pool;
