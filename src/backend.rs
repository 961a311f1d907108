//! Backend choice in one place, so that a backend switch or a burn upgrade touches one file.

use burn::backend::Autodiff;

/// The CPU backend (burn's `flex`).
pub type Cpu = burn_flex::Flex;
/// The CPU backend with automatic differentiation, for training.
pub type CpuAutodiff = Autodiff<Cpu>;

/// CUDA backend (burn's `cuda`), built only with the `cuda` cargo feature.
#[cfg(feature = "cuda")]
pub type Cuda = burn::backend::Cuda;
/// CUDA backend with automatic differentiation.
#[cfg(feature = "cuda")]
pub type CudaAutodiff = Autodiff<Cuda>;

/// Backends a run can ask for with `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn `flex` on the CPU.
    #[default]
    Cpu,
    /// burn CUDA on an NVIDIA GPU (cargo feature `cuda`).
    Cuda,
}

impl std::str::FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" | "flex" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "wgpu" => Err("backend 'wgpu' is not built into this binary: use cpu or cuda".into()),
            _ => Err(format!("unknown backend '{s}': use cpu or cuda")),
        }
    }
}

impl BackendKind {
    /// Name used in logs and result files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu (burn flex)",
            Self::Cuda => "cuda (burn cuda)",
        }
    }
}
