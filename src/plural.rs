//! Counts in messages and reports (`1 run`, `2 runs`), so that no text says "1 runs".

/// `n` and `noun`, with an `s` unless `n` is 1: `plural(1, "epoch")` is `1 epoch`,
/// `plural(3, "epoch")` is `3 epochs`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(plural(1, "run"), "1 run");
        assert_eq!(plural(0, "run"), "0 runs");
        assert_eq!(plural(2, "thread"), "2 threads");
        assert_eq!(plural(11, "epoch"), "11 epochs");
    }
}
