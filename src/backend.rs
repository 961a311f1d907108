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
#[serde(try_from = "String")]
pub enum BackendKind {
    /// burn `flex` on the CPU.
    #[default]
    Cpu,
    /// burn CUDA on an NVIDIA GPU (cargo feature `cuda`).
    Cuda,
}

impl std::str::FromStr for BackendKind {
    type Err = crate::names::UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" | "flex" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            // burn's wgpu backend is not compiled in: the same answer as any other name.
            _ => Err(crate::names::UnknownName::new(
                "backend",
                s,
                &["cpu", "cuda"],
            )),
        }
    }
}

/// Parsed as from the command line, so that a config file's bad value gets the same message.
impl TryFrom<String> for BackendKind {
    type Error = crate::names::UnknownName;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
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

/// Makes the calling thread flush subnormal floats to zero (x86-64 FTZ and DAZ).
///
/// Adam's moments of rarely active weights (MNIST's border pixels) decay geometrically into the
/// subnormal range after a few hundred steps, where x86 arithmetic is many times slower: without
/// this, a permuted-MNIST run slowed from 9 to 4 steps/s within its first task. Values below
/// 1.2e-38 become 0, as on GPUs; results change at that level only.
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: reads and writes this thread's MXCSR only, setting bits 15 (FTZ) and 6 (DAZ);
    // both are defined for every x86-64 CPU and change no other state.
    unsafe {
        let mut csr: u32 = 0;
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
        csr |= 0x8040;
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly));
    }
}

/// Training steps of fewer floating-point operations than this compute on one thread: splitting
/// products this small across threads costs more in wake-ups than it gains (measured on 2 cores:
/// split MNIST's 0.1 GFLOP step 16.3 s on one thread vs 20.1 s on two; 0.26 GFLOP (256-wide
/// → 512-wide) still faster on one; 0.7 GFLOP (1000-wide) and permuted MNIST's 8.6 GFLOP
/// faster on two). burn-flex decides per product only by size; this is the per-run version.
pub const SMALL_STEP_FLOPS: f64 = 5e8;

/// The CPU threads a run computes with: `requested` (0: one per core), or 1 for a model whose
/// training step costs under [`SMALL_STEP_FLOPS`].
pub fn compute_threads(requested: usize, step_flops: f64) -> usize {
    let all = if requested == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        requested
    };
    if step_flops < SMALL_STEP_FLOPS {
        1
    } else {
        all
    }
}

/// Sets up the CPU compute threads: `threads` workers (0: one per core), each flushing subnormals.
///
/// Call once, before any tensor work; a second call leaves the first pool in place.
pub fn init_cpu_threads(threads: usize) {
    flush_denormals();
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .start_handler(|_| flush_denormals())
        .build_global();
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_steps_compute_on_one_thread_and_large_ones_on_all_requested() {
        use super::compute_threads;
        assert_eq!(compute_threads(2, 1.03e8), 1);
        assert_eq!(compute_threads(8, 4.9e8), 1);
        assert_eq!(compute_threads(2, 5e8), 2);
        assert_eq!(compute_threads(2, 8.6e9), 2);
        assert_eq!(compute_threads(3, f64::INFINITY), 3);
        assert!(compute_threads(0, 1e12) >= 1);
    }

    #[cfg(target_arch = "x86_64")]
    fn mxcsr() -> u32 {
        let mut csr: u32 = 0;
        // SAFETY: stores this thread's MXCSR into a local.
        unsafe { std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack)) };
        csr
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn subnormals_flush_to_zero_after_the_call() {
        let (before, after, csr) = std::thread::spawn(|| {
            // Start from IEEE behaviour whatever the thread inherited.
            let csr = mxcsr() & !0x8040;
            // SAFETY: loads a valid MXCSR value (the current one with FTZ and DAZ cleared).
            unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly)) };
            // black_box on both sides pins the multiply between the MXCSR writes: LLVM does not
            // model MXCSR and would otherwise move plain arithmetic across them.
            let product = || {
                std::hint::black_box(
                    std::hint::black_box(1e-30f32) * std::hint::black_box(1e-10f32),
                )
            };
            let before = product();
            super::flush_denormals();
            (before, product(), mxcsr())
        })
        .join()
        .unwrap();
        assert!(before > 0.0 && before.is_subnormal(), "{before:e}");
        assert_eq!(after, 0.0);
        assert_eq!(csr & 0x8040, 0x8040);
    }
}
