//! The error of the name enums' `FromStr` (scenario, benchmark, head init, the regularisers'
//! switches): the offending value and the accepted ones.

/// A name that is none of the accepted values of a setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{got}': use {}", choices(accepted))]
pub struct UnknownName {
    /// What was named, e.g. `scenario`, `si_grad`.
    pub what: &'static str,
    /// The value given.
    pub got: String,
    /// The accepted values.
    pub accepted: Vec<&'static str>,
}

impl UnknownName {
    /// `got` is not one of `accepted` for `what`.
    pub fn new(what: &'static str, got: &str, accepted: &[&'static str]) -> Self {
        Self {
            what,
            got: got.into(),
            accepted: accepted.to_vec(),
        }
    }
}

/// `a, b or c` for a short list, `one of a, b, c, d` for a long one.
fn choices(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] if names.len() <= 3 => format!("{} or {last}", rest.join(", ")),
        _ => format!("one of {}", names.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_accepted_names() {
        let e = UnknownName::new("scenario", "x", &["task", "domain", "class"]);
        assert_eq!(
            e.to_string(),
            "unknown scenario 'x': use task, domain or class"
        );
        let e = UnknownName::new("benchmark", "y", &["a", "b", "c", "d"]);
        assert_eq!(
            e.to_string(),
            "unknown benchmark 'y': use one of a, b, c, d"
        );
    }
}
