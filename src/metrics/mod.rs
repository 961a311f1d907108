//! Continual-learning metrics computed from one accuracy matrix: ACC, BWT, forgetting, FWT.
//!
//! `r[i][j]` is the accuracy on task `j` after finishing training on task `i`; every task is
//! evaluated after every task, so the matrix is square.

use serde::{Deserialize, Serialize};

/// Every metric of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Mean accuracy over all tasks after the last task.
    pub average_accuracy: f64,
    /// Mean accuracy over the tasks seen so far, after each task (the paper's curves).
    pub mean_seen_accuracy: Vec<f64>,
    /// Backward transfer: mean change of old tasks' accuracy from just-learned to the end.
    pub backward_transfer: f64,
    /// Mean drop from each old task's best accuracy to its final accuracy.
    pub forgetting: f64,
    /// Forward transfer: accuracy on a task before training on it, minus a fresh model's.
    pub forward_transfer: f64,
}

fn mean(xs: impl IntoIterator<Item = f64>) -> f64 {
    let (s, n) = xs
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

/// `ACC = mean_j R[T-1][j]`.
pub fn average_accuracy(r: &[Vec<f64>]) -> f64 {
    r.last().map_or(0.0, |row| mean(row.iter().copied()))
}

/// `a_i = mean_{j<=i} R[i][j]`.
pub fn mean_seen_accuracy(r: &[Vec<f64>]) -> Vec<f64> {
    r.iter()
        .enumerate()
        .map(|(i, row)| mean(row[..=i].iter().copied()))
        .collect()
}

/// `BWT = mean_{j<T-1} (R[T-1][j] - R[j][j])`; 0 for a single task.
pub fn backward_transfer(r: &[Vec<f64>]) -> f64 {
    let t = r.len();
    if t < 2 {
        return 0.0;
    }
    mean((0..t - 1).map(|j| r[t - 1][j] - r[j][j]))
}

/// `Forgetting = mean_{j<T-1} (max_{l<T-1} R[l][j] - R[T-1][j])`; 0 for a single task.
pub fn forgetting(r: &[Vec<f64>]) -> f64 {
    let t = r.len();
    if t < 2 {
        return 0.0;
    }
    mean((0..t - 1).map(|j| {
        let best = (0..t - 1)
            .map(|l| r[l][j])
            .fold(f64::NEG_INFINITY, f64::max);
        best - r[t - 1][j]
    }))
}

/// `FWT = mean_{j>0} (R[j-1][j] - b_j)`, with `b` the fresh model's accuracy per task.
pub fn forward_transfer(r: &[Vec<f64>], b: &[f64]) -> f64 {
    let t = r.len();
    if t < 2 {
        return 0.0;
    }
    mean((1..t).map(|j| r[j - 1][j] - b[j]))
}

/// Every metric at once; `r` must be square and `b` as long as `r`.
pub fn compute(r: &[Vec<f64>], b: &[f64]) -> Metrics {
    debug_assert!(r.iter().all(|row| row.len() == r.len()));
    debug_assert_eq!(b.len(), r.len());
    Metrics {
        average_accuracy: average_accuracy(r),
        mean_seen_accuracy: mean_seen_accuracy(r),
        backward_transfer: backward_transfer(r),
        forgetting: forgetting(r),
        forward_transfer: forward_transfer(r, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    // Rows: after task 0, 1, 2. Hand-computed values below.
    fn matrix() -> Vec<Vec<f64>> {
        vec![
            vec![0.9, 0.1, 0.2],
            vec![0.7, 0.8, 0.3],
            vec![0.6, 0.5, 1.0],
        ]
    }

    #[test]
    fn average_accuracy_is_mean_of_last_row() {
        close(average_accuracy(&matrix()), (0.6 + 0.5 + 1.0) / 3.0);
    }

    #[test]
    fn mean_seen_uses_lower_triangle() {
        let a = mean_seen_accuracy(&matrix());
        close(a[0], 0.9);
        close(a[1], (0.7 + 0.8) / 2.0);
        close(a[2], (0.6 + 0.5 + 1.0) / 3.0);
    }

    #[test]
    fn backward_transfer_by_hand() {
        // ((0.6-0.9) + (0.5-0.8)) / 2 = -0.3
        close(backward_transfer(&matrix()), -0.3);
    }

    #[test]
    fn forgetting_uses_best_earlier_accuracy() {
        // task 0: best over rows 0..1 is 0.9 -> 0.3; task 1: best is 0.8 -> 0.3.
        close(forgetting(&matrix()), 0.3);
        // A task whose best is not on the diagonal: forgetting > -BWT.
        let r = vec![
            vec![0.5, 0.0, 0.0],
            vec![0.9, 0.7, 0.0],
            vec![0.6, 0.7, 0.8],
        ];
        // task 0: max(0.5, 0.9) - 0.6 = 0.3; task 1: 0.7 - 0.7 = 0 -> 0.15
        close(forgetting(&r), 0.15);
        // BWT: ((0.6-0.5) + (0.7-0.7)) / 2 = 0.05
        close(backward_transfer(&r), 0.05);
    }

    #[test]
    fn forward_transfer_against_fresh_model() {
        let b = [0.5, 0.05, 0.25];
        // ((0.1-0.05) + (0.3-0.25)) / 2 = 0.05
        close(forward_transfer(&matrix(), &b), 0.05);
    }

    #[test]
    fn single_task_has_no_transfer() {
        let r = vec![vec![0.75]];
        let m = compute(&r, &[0.1]);
        close(m.average_accuracy, 0.75);
        close(m.backward_transfer, 0.0);
        close(m.forgetting, 0.0);
        close(m.forward_transfer, 0.0);
        assert_eq!(m.mean_seen_accuracy, vec![0.75]);
    }

    #[test]
    fn perfect_retention_has_zero_forgetting() {
        let r = vec![vec![1.0, 0.5], vec![1.0, 1.0]];
        let m = compute(&r, &[0.5, 0.5]);
        close(m.forgetting, 0.0);
        close(m.backward_transfer, 0.0);
        close(m.forward_transfer, 0.0);
    }
}
