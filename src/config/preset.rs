//! Presets: each method's options per benchmark, as TOML with one table per method (`[si]`,
//! `[ewc]`, …). The shipped one, `tuned`, is each method's own [`crate::method::Method::tuned`]
//! (chosen by a validation sweep; README, "Presets"); `--preset FILE` reads another in the same
//! layout, `--preset none` keeps the built-in defaults.

use std::collections::BTreeMap;
use std::path::Path;

use super::{bad, check_setting, toml_message, ConfigError, Settings, CHOOSERS};
use crate::method::Registry;
use crate::scenario::Benchmark;

/// The preset used when none is named.
pub const DEFAULT: &str = "tuned";

/// The shipped `tuned` preset of `benchmark` as TOML text, one table per method that has one.
pub fn shipped(registry: &Registry, benchmark: Benchmark) -> String {
    registry
        .all()
        .filter_map(|m| Some(format!("[{}]\n{}", m.name(), m.tuned(benchmark)?)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses a preset file's text; `origin` names it in errors.
pub fn parse(
    registry: &Registry,
    text: &str,
    origin: &str,
) -> Result<BTreeMap<String, Settings>, ConfigError> {
    let doc: toml::Table = toml::from_str(text)
        .map_err(|e| bad(format!("preset {origin}: {}", toml_message(&e, text))))?;
    let mut tables = BTreeMap::new();
    for (name, body) in doc {
        registry
            .find(&name)
            .map_err(|e| bad(format!("preset {origin}: table [{name}]: {e}")))?;
        let toml::Value::Table(body) = body else {
            return Err(bad(format!(
                "preset {origin}: [{name}] must be a table of settings"
            )));
        };
        let settings = super::to_settings(&body);
        for (k, v) in &settings {
            if CHOOSERS.contains(&k.as_str()) {
                return Err(bad(format!(
                    "preset {origin}: table [{name}] may not set method, benchmark or preset"
                )));
            }
            check_setting(registry, k, v).map_err(|e| ConfigError::In {
                origin: format!("preset {origin}: table [{name}]"),
                error: Box::new(e),
            })?;
        }
        tables.insert(name, settings);
    }
    Ok(tables)
}

/// The settings preset `name` holds for `method` on `benchmark` (`None`: no entry, or "none").
pub fn load(
    registry: &Registry,
    name: &str,
    benchmark: Benchmark,
    method: &str,
) -> Result<Option<Settings>, ConfigError> {
    let tables = match name {
        "none" => return Ok(None),
        DEFAULT => parse(
            registry,
            &shipped(registry, benchmark),
            &format!("'{DEFAULT}' for {}", benchmark.name()),
        )?,
        path if path.ends_with(".toml") || Path::new(path).exists() => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| bad(format!("cannot read preset file {path}: {e}")))?;
            parse(registry, &text, path)?
        }
        other => {
            return Err(bad(format!(
                "unknown preset '{other}': use {DEFAULT} (shipped), none (built-in defaults) or a path to a TOML file"
            )))
        }
    };
    Ok(tables.get(method).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_presets_parse_and_name_known_methods() {
        let r = Registry::builtin();
        for b in Benchmark::ALL {
            let t = parse(r, &shipped(r, b), "shipped").unwrap();
            assert!(t.contains_key("si"), "{} lacks [si]", b.name());
            if b.model() == crate::scenario::ModelKind::Mlp {
                for m in ["ewc", "online-ewc", "mas", "l2"] {
                    assert!(t.contains_key(m), "{} lacks [{m}]", b.name());
                }
            }
        }
        // The values the shipped preset files held before presets moved into the methods.
        let t = parse(r, &shipped(r, Benchmark::SplitMnist), "shipped").unwrap();
        assert_eq!(t["ewc"]["lambda"], 1e7);
        assert_eq!(t["online-ewc"]["lambda"], 1e6);
        assert_eq!(t["mas"]["lambda"], 0.01);
        assert_eq!(t["l2"]["lambda"], 0.1);
        let t = parse(r, &shipped(r, Benchmark::PermutedMnist), "shipped").unwrap();
        assert_eq!(t["ewc"]["fisher"], "sampled");
        assert_eq!(t["ewc"]["fisher_samples"], 500);
        assert_eq!(
            (t["si"]["c"].as_f64(), t["si"]["xi"].as_f64()),
            (Some(0.1), Some(0.1))
        );
        assert_eq!(t["l2"]["lambda"], 0.01);
    }

    #[test]
    fn bad_presets_are_one_line_errors() {
        let r = Registry::builtin();
        let e = parse(r, "[sii]\nc = 1\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[sii]") && e.contains("unknown method"), "{e}");
        let e = parse(r, "[si]\nc = \"big\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && !e.contains('\n'), "{e}");
        let e = parse(r, "[si]\nc =", "x.toml").unwrap_err().to_string();
        assert!(e.contains("line 2, column 4"), "{e}");
        let e = parse(r, "[si]\nmethod = \"ewc\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("may not set method"), "{e}");
        let e = load(r, "fancy", Benchmark::SplitMnist, "si")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown preset 'fancy'"), "{e}");
        assert!(load(r, "none", Benchmark::SplitMnist, "si")
            .unwrap()
            .is_none());
    }
}
