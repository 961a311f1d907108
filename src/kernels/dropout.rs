//! Dropout masks drawn from a counter-based generator: element `i`'s draw depends only on the
//! seed and `i`, so masks are filled in parallel and do not depend on `--threads`. burn's
//! dropout samples one Bernoulli value at a time through its generic sampler under a lock
//! (about a tenth of the CIFAR step in `perf`).

use rayon::prelude::*;

/// Elements per parallel task.
const BLOCK: usize = 1 << 14;

/// SplitMix64's finaliser: a bijection of `u64` whose outputs pass as independent uniform bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `n` multipliers for inverted dropout with drop probability `drop` (in `[0, 1)`): each is
/// `1 / (1 - drop)` with probability `1 - drop` (to 2⁻²⁴), else 0.
pub fn keep_mask(n: usize, seed: u64, drop: f64) -> Vec<f32> {
    assert!(
        (0.0..1.0).contains(&drop),
        "drop probability outside [0, 1)"
    );
    let keep = 1.0 - drop;
    let threshold = (keep * (1u64 << 24) as f64).round() as u64;
    let scale = (1.0 / keep) as f32;
    let base = mix(seed);
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(BLOCK)
        .enumerate()
        .for_each(|(b, chunk)| {
            let start = (b * BLOCK) as u64;
            for (j, v) in chunk.iter_mut().enumerate() {
                let h =
                    mix(base.wrapping_add((start + j as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
                *v = if (h >> 40) < threshold { scale } else { 0.0 };
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_the_right_share_scaled_and_depend_only_on_the_seed() {
        let n = 1 << 20;
        for drop in [0.25, 0.5] {
            let m = keep_mask(n, 7, drop);
            let scale = (1.0 / (1.0 - drop)) as f32;
            assert!(m.iter().all(|&v| v == 0.0 || v == scale));
            let kept = m.iter().filter(|&&v| v > 0.0).count() as f64 / n as f64;
            // Binomial sd is at most 0.0005 here: 0.003 is six of them.
            assert!(
                (kept - (1.0 - drop)).abs() < 0.003,
                "kept {kept} at drop {drop}"
            );
            assert_eq!(m, keep_mask(n, 7, drop));
            let other = keep_mask(n, 8, drop);
            let same = m.iter().zip(&other).filter(|(a, b)| a == b).count() as f64 / n as f64;
            // Independent masks agree on keep² + drop² of the elements.
            let want = (1.0 - drop).powi(2) + drop * drop;
            assert!((same - want).abs() < 0.003, "seeds 7 and 8 agree on {same}");
        }
        assert!(keep_mask(1000, 1, 0.0).iter().all(|&v| v == 1.0));
    }

    #[test]
    fn neighbouring_elements_are_independent() {
        // Pairs (i, i+1) both kept should be keep² of the pairs, as for independent draws.
        let m = keep_mask(1 << 20, 3, 0.5);
        let both = m.windows(2).filter(|w| w[0] > 0.0 && w[1] > 0.0).count() as f64;
        let share = both / (m.len() - 1) as f64;
        assert!((share - 0.25).abs() < 0.003, "{share}");
    }

    #[test]
    fn a_mask_is_the_same_whatever_the_pool_size() {
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = one.install(|| keep_mask(100_000, 11, 0.25));
        assert_eq!(a, keep_mask(100_000, 11, 0.25));
    }
}
