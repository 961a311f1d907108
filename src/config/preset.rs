//! Presets: each method's hyperparameters per benchmark, as TOML files with one table per method
//! (`[si]`, `[ewc]`, …). The shipped ones (`presets/<benchmark>.toml`, built into the binary)
//! were chosen by a validation sweep (README, "Presets"); `--preset FILE` reads another in the
//! same layout, `--preset none` keeps the built-in defaults.

use std::collections::BTreeMap;
use std::path::Path;

use super::{bad, toml_message, ConfigError, Method, Overrides};
use crate::scenario::Benchmark;

/// The preset used when none is named.
pub const DEFAULT: &str = "tuned";

/// The shipped preset text of a benchmark. Fashion-MNIST uses MNIST's (not tuned for it).
pub fn shipped(benchmark: Benchmark) -> &'static str {
    match benchmark {
        Benchmark::SplitMnist | Benchmark::SplitFashionMnist => {
            include_str!("../../presets/split-mnist.toml")
        }
        Benchmark::PermutedMnist | Benchmark::PermutedFashionMnist => {
            include_str!("../../presets/permuted-mnist.toml")
        }
        Benchmark::SplitCifar10 | Benchmark::SplitCifar => {
            include_str!("../../presets/split-cifar.toml")
        }
    }
}

/// Parses a preset file's text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str) -> Result<BTreeMap<String, Overrides>, ConfigError> {
    let tables: BTreeMap<String, Overrides> = toml::from_str(text)
        .map_err(|e| bad(format!("preset {origin}: {}", toml_message(&e, text))))?;
    for (name, o) in &tables {
        name.parse::<Method>()
            .map_err(|e| bad(format!("preset {origin}: table [{name}]: {e}")))?;
        if o.method.is_some() || o.benchmark.is_some() || o.preset.is_some() {
            return Err(bad(format!(
                "preset {origin}: table [{name}] may not set method, benchmark or preset"
            )));
        }
    }
    Ok(tables)
}

/// The overrides preset `name` holds for `method` on `benchmark` (`None`: no entry, or "none").
pub fn load(
    name: &str,
    benchmark: Benchmark,
    method: Method,
) -> Result<Option<Overrides>, ConfigError> {
    let tables = match name {
        "none" => return Ok(None),
        DEFAULT => parse(shipped(benchmark), &format!("'{DEFAULT}' for {}", benchmark.name()))?,
        path if path.ends_with(".toml") || Path::new(path).exists() => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read preset file {path}: {e}")))?;
            parse(&text, path)?
        }
        other => {
            return Err(bad(format!(
                "unknown preset '{other}': use {DEFAULT} (shipped), none (built-in defaults) or a path to a TOML file"
            )))
        }
    };
    Ok(tables.get(method.name()).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_presets_parse_and_name_known_methods() {
        for b in Benchmark::ALL {
            let t = parse(shipped(b), "shipped").unwrap();
            assert!(t.contains_key("si"), "{} lacks [si]", b.name());
            if b.model() == crate::scenario::ModelKind::Mlp {
                for m in ["ewc", "online-ewc", "mas", "l2"] {
                    assert!(t.contains_key(m), "{} lacks [{m}]", b.name());
                }
            }
        }
    }

    #[test]
    fn bad_presets_are_one_line_errors() {
        let e = parse("[sii]\nc = 1\n", "x.toml").unwrap_err().to_string();
        assert!(e.contains("[sii]") && e.contains("unknown method"), "{e}");
        let e = parse("[si]\nc = \"big\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && !e.contains('\n'), "{e}");
        let e = parse("[si]\nc =", "x.toml").unwrap_err().to_string();
        assert!(e.contains("line 2, column 4"), "{e}");
        let e = load("fancy", Benchmark::SplitMnist, Method::Si)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown preset 'fancy'"), "{e}");
        assert!(load("none", Benchmark::SplitMnist, Method::Si)
            .unwrap()
            .is_none());
    }
}
