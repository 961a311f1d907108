//! Axis ticks: round numbers, few enough to read on any range, each label with as many decimals
//! as its step needs (so that ticks on a narrow range do not crowd or repeat a label), and
//! log axes labelled at powers of ten down to the smallest value.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;

/// The most labelled ticks an axis gets.
pub const MAX_TICKS: usize = 11;

/// The step of round ticks (1, 2 or 5 × 10^k, at least `min_step`) that puts at most `max` ticks
/// in `[lo, hi]`; `None` for an empty or non-finite range.
fn step(lo: f64, hi: f64, max: usize, min_step: f64) -> Option<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) {
        return None;
    }
    let max = max.max(2);
    let mut mag = 10f64.powf((span / max as f64).log10().floor());
    // Each round multiplies by ten: a finite span is covered long before 700 rounds.
    for _ in 0..700 {
        if !(mag > 0.0 && mag.is_finite()) {
            return None;
        }
        for m in [1.0, 2.0, 5.0] {
            let s = m * mag;
            let (a, b) = whole_range(lo, hi, s);
            if s >= min_step && b - a < max as i64 {
                return Some(s);
            }
        }
        mag *= 10.0;
    }
    None
}

/// The whole `k` with `k·step` in `[lo, hi]`, forgiving rounding (0.95 / 0.01 = 94.999…).
fn whole_range(lo: f64, hi: f64, step: f64) -> (i64, i64) {
    (
        (lo / step - 1e-9).ceil() as i64,
        (hi / step + 1e-9).floor() as i64,
    )
}

/// Positions `k·step` within `[lo, hi]` (computed from whole `k`, so that no error accumulates).
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let (a, b) = whole_range(lo, hi, step);
    (a..=b).map(|k| k as f64 * step).collect()
}

/// Round tick positions within `[lo, hi]`, at most `max`, and their step (the range itself when
/// it is empty).
pub fn linear(lo: f64, hi: f64, max: usize) -> (Vec<f64>, f64) {
    match step(lo, hi, max, 0.0) {
        Some(s) => (multiples(lo, hi, s), s),
        None => (vec![lo], 1.0),
    }
}

/// Whole-number tick positions within `[lo, hi]` (a step of 1, 2, 5, 10, …), at most `max`.
pub fn integers(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    match step(lo, hi, max, 1.0) {
        Some(s) => multiples(lo, hi, s),
        None => vec![lo.round()],
    }
}

/// Exponents of the powers of ten labelled on a log axis from `10^lo` to `10^hi`: from `lo` up,
/// every one, or every 2nd, 5th, 10th, … so that at most `max` are (the lowest decade is always
/// labelled, however far down it is).
pub fn decades(lo: i32, hi: i32, max: usize) -> Vec<i32> {
    let s = step(lo as f64, hi as f64, max, 1.0).map_or(1, |s| s as i32);
    (lo..=hi.max(lo)).step_by(s.max(1) as usize).collect()
}

/// The label of tick `v` on an axis whose ticks are `step` apart: just enough decimals to tell
/// neighbours apart; scientific notation for very small or very large steps.
pub fn label(v: f64, step: f64) -> String {
    let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
    if step > 0.0 && !(1e-4..1e6).contains(&step) {
        if v == 0.0 {
            return "0".into();
        }
        let digits = (v.abs().log10().floor() - step.log10().floor()).clamp(0.0, 15.0) as usize;
        return format!("{v:.digits$e}");
    }
    let digits = if step >= 1.0 {
        0
    } else {
        (-step.log10() - 1e-9).ceil() as usize
    };
    format!("{v:.digits$}")
}

/// The label of the power of ten `10^e`: `0.01`, `1`, `1000` near 1, `1e-20` far from it.
pub fn power_label(e: i32) -> String {
    if (-2..=3).contains(&e) {
        label(10f64.powi(e), 10f64.powi(e.min(0)))
    } else {
        format!("1e{e}")
    }
}

/// A linear axis with tick positions of our choosing (plotters' own choice ignores how many
/// decimals its labels need, and its log axis drops every tick below 2.2e-16).
pub struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

/// The axis over `[lo, hi]` with ticks at `ticks`.
pub fn with_ticks(lo: f64, hi: f64, ticks: Vec<f64>) -> Ticked {
    Ticked {
        inner: (lo..hi).into(),
        ticks,
    }
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // The ticks are the bold lines; no light ones between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.inner.range()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_ranges_get_few_distinct_labels() {
        // 0.95–1.005 (an accuracy axis): 0.95, 0.96, … 1.00 with two decimals, none repeated.
        let (t, s) = linear(0.95, 1.005, MAX_TICKS);
        let labels: Vec<String> = t.iter().map(|&v| label(v, s)).collect();
        assert!(t.len() <= MAX_TICKS && t.len() >= 3, "{labels:?}");
        let mut d = labels.clone();
        d.dedup();
        assert_eq!(d, labels, "a label repeats");
        assert_eq!(labels.first().map(String::as_str), Some("0.95"));
        assert_eq!(labels.last().map(String::as_str), Some("1.00"));
        // A range of one millionth: still distinct, in scientific notation.
        let (t, s) = linear(0.5, 0.500001, MAX_TICKS);
        let labels: Vec<String> = t.iter().map(|&v| label(v, s)).collect();
        let mut d = labels.clone();
        d.dedup();
        assert!(t.len() >= 3 && d == labels, "{labels:?}");
        assert_eq!(label(0.30000000000000004, 0.1), "0.3");
        assert_eq!(label(-1e-17, 0.1), "0.0");
        // An empty range: one tick, no endless loop.
        assert_eq!(linear(0.7, 0.7, MAX_TICKS).0, vec![0.7]);
    }

    #[test]
    fn whole_number_axes_thin_out_but_stay_whole() {
        assert_eq!(integers(0.8, 5.2, MAX_TICKS), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let t = integers(0.8, 600.2, MAX_TICKS);
        assert!(t.len() <= MAX_TICKS, "{t:?}");
        assert!(t
            .iter()
            .all(|v| v.fract() == 0.0 && (1.0..=600.0).contains(v)));
        assert_eq!(t[..2], [100.0, 200.0]);
    }

    #[test]
    fn log_axes_are_labelled_down_to_the_lowest_decade() {
        assert_eq!(decades(-4, -1, MAX_TICKS), vec![-4, -3, -2, -1]);
        let d = decades(-20, -2, MAX_TICKS);
        assert!(d.len() <= MAX_TICKS, "{d:?}");
        assert_eq!((d[0], d[d.len() - 1]), (-20, -2));
        assert_eq!(decades(-21, -3, MAX_TICKS)[0], -21);
        assert_eq!(power_label(-20), "1e-20");
        assert_eq!(power_label(-2), "0.01");
        assert_eq!(power_label(0), "1");
        assert_eq!(power_label(3), "1000");
        assert_eq!(power_label(5), "1e5");
    }
}
