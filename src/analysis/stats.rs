//! Correlations between importance vectors: Pearson, Spearman (average ranks for ties) and
//! Pearson of log10 values over the entries where both are positive.
//!
//! A correlation is undefined when either vector is constant (or has fewer than two entries):
//! those return `None`, never NaN and never a panic.

use serde::{Deserialize, Serialize};

/// Pearson's r of `x` and `y` (same length), accumulated in f64; `None` when it is undefined
/// (fewer than two pairs, a constant vector, or a non-finite value).
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    assert_eq!(x.len(), y.len(), "pearson: vectors of different lengths");
    let n = x.len();
    if n < 2 || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx <= 0.0 || syy <= 0.0 {
        return None;
    }
    Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// 1-based ranks of `x`; tied values share the mean of the ranks they span.
pub fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && x[idx[j]] == x[idx[i]] {
            j += 1;
        }
        // Positions i..j (0-based) hold ranks i+1..=j: their mean is (i + 1 + j) / 2.
        let mean = (i + 1 + j) as f64 / 2.0;
        for &k in &idx[i..j] {
            r[k] = mean;
        }
        i = j;
    }
    r
}

/// Spearman's ρ: Pearson's r of the ranks (ties get average ranks); `None` when undefined.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    pearson(&ranks(x), &ranks(y))
}

/// Pearson's r of log10 values over the pairs where both are positive, with how many pairs
/// were used and how many were left out (a zero or negative value in either vector).
pub fn log_pearson(x: &[f64], y: &[f64]) -> (Option<f64>, usize, usize) {
    let (lx, ly): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(y)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0)
        .map(|(a, b)| (a.log10(), b.log10()))
        .unzip();
    let used = lx.len();
    (pearson(&lx, &ly), used, x.len() - used)
}

/// The correlations of one pair of importance vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// Number of entries.
    pub n: usize,
    /// Pearson's r (`null` when undefined).
    pub pearson: Option<f64>,
    /// Spearman's ρ with average ranks for ties (`null` when undefined).
    pub spearman: Option<f64>,
    /// Pearson's r of log10 values over the pairs where both are positive.
    pub pearson_log10: Option<f64>,
    /// Pairs used by `pearson_log10`.
    pub log_pairs: usize,
    /// Pairs left out of `pearson_log10` (zero or negative in either vector).
    pub log_dropped: usize,
    /// Least-squares slope of log10 y on log10 x over the same pairs (2 would mean y ∝ x²,
    /// e.g. SI ∝ √Fisher).
    pub log_slope: Option<f64>,
}

/// All three correlations of `x` and `y`.
pub fn correlate(x: &[f64], y: &[f64]) -> Correlation {
    let (pearson_log10, log_pairs, log_dropped) = log_pearson(x, y);
    Correlation {
        n: x.len(),
        pearson: pearson(x, y),
        spearman: spearman(x, y),
        pearson_log10,
        log_pairs,
        log_dropped,
        log_slope: log_slope(x, y),
    }
}

/// Least-squares slope of log10 `y` on log10 `x` over the pairs where both are positive;
/// `None` when the log x values are constant or fewer than two.
pub fn log_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    let (lx, ly): (Vec<f64>, Vec<f64>) = x
        .iter()
        .zip(y)
        .filter(|(a, b)| **a > 0.0 && **b > 0.0 && a.is_finite() && b.is_finite())
        .map(|(a, b)| (a.log10(), b.log10()))
        .unzip();
    let n = lx.len();
    if n < 2 {
        return None;
    }
    let mx = lx.iter().sum::<f64>() / n as f64;
    let my = ly.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (a, b) in lx.iter().zip(&ly) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("defined");
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn pearson_matches_a_hand_computed_example() {
        // x = 1,2,3,4; y = 2,4,5,9. Means 2.5 and 5. Deviations (−1.5,−.5,.5,1.5) and
        // (−3,−1,0,4): Sxy = 4.5+0.5+0+6 = 11, Sxx = 5, Syy = 26. r = 11/√130.
        close(
            pearson(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 5.0, 9.0]),
            11.0 / 130f64.sqrt(),
        );
        close(pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
    }

    #[test]
    fn spearman_uses_average_ranks_for_ties() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
        assert_eq!(ranks(&[0.0, 0.0, 0.0]), vec![2.0, 2.0, 2.0]);
        // x ranks (1,2,3,4); y = (1,3,3,2) ranks (1, 3.5, 3.5, 2). Deviations from 2.5:
        // x (−1.5,−.5,.5,1.5), y (−1.5,1,1,−.5). Sxy = 2.25−.5+.5−.75 = 1.5,
        // Sxx = 5, Syy = 2.25+1+1+.25 = 4.5. ρ = 1.5/√22.5.
        close(
            spearman(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 3.0, 2.0]),
            1.5 / 22.5f64.sqrt(),
        );
        // Monotone but non-linear: ρ = 1 while r < 1.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y: Vec<f64> = x.iter().map(|v: &f64| v.powi(4)).collect();
        close(spearman(&x, &y), 1.0);
        assert!(pearson(&x, &y).unwrap() < 0.99);
    }

    #[test]
    fn constant_or_short_vectors_have_no_correlation() {
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[0.0, 0.0, 0.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0], &[2.0]), None);
        assert_eq!(pearson(&[], &[]), None);
        assert_eq!(pearson(&[1.0, f64::NAN], &[1.0, 2.0]), None);
        let c = correlate(&[0.0, 0.0], &[1.0, 2.0]);
        assert_eq!((c.pearson, c.spearman, c.pearson_log10), (None, None, None));
        assert_eq!((c.log_pairs, c.log_dropped), (0, 2));
    }

    #[test]
    fn log_pearson_skips_non_positive_pairs_and_counts_them() {
        // Kept pairs: (1,10), (10,1000), (100,100000): logs (0,1,2) vs (1,3,5): r = 1.
        let x = [1.0, 0.0, 10.0, 100.0, -3.0];
        let y = [10.0, 5.0, 1000.0, 100000.0, 2.0];
        let (r, used, dropped) = log_pearson(&x, &y);
        close(r, 1.0);
        assert_eq!((used, dropped), (3, 2));
        // log y = 2·log x + 1 on the kept pairs.
        close(log_slope(&x, &y), 2.0);
        assert_eq!(log_slope(&[1.0, 1.0], &[2.0, 3.0]), None);
    }
}
