//! The one-line messages the CLI prints for the library's typed errors. The library names a
//! setting by its config key (`lr`, `si_cap`); here the remedy names the flag that sets it
//! (`--lr`, `--si-cap`).

use std::error::Error;
use std::path::Path;

use clap::CommandFactory;

use crate::checkpoint::CheckpointError;
use crate::config::{ConfigError, OptionError};
use crate::method::MethodError;
use crate::regularizer::{ExcludeError, NonFinite, StateError};
use crate::train::TrainError;

/// The flag that sets config key `key` (`si_cap` → `--si-cap`); a key no flag sets (it is
/// only read from config files) stays as it is.
pub(super) fn flag(key: &str) -> String {
    // `--fisher-samples` also sizes the importance measurement.
    let key = if key == "importance_samples" {
        "fisher_samples"
    } else {
        key
    };
    let long = key.replace('_', "-");
    let cmd = super::Cli::command();
    let known = cmd.find_subcommand("run").is_some_and(|c| {
        c.get_arguments()
            .any(|a| a.get_long() == Some(long.as_str()))
    });
    if known {
        format!("--{long}")
    } else {
        key.to_string()
    }
}

/// `e` as one message, its causes joined by ": ", with typed library errors in flag terms.
pub(super) fn describe(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        match in_flags(cause) {
            // A typed error's text already covers its causes.
            Some(text) => {
                parts.push(text);
                break;
            }
            // Many errors show their source in their own text (`cannot read X: <os error>`):
            // the source then is not repeated.
            None => {
                let text = cause.to_string();
                if !parts.last().is_some_and(|p| p.contains(&text)) {
                    parts.push(text);
                }
            }
        }
    }
    parts.join(": ")
}

/// The CLI's wording of a library error that names settings, if `e` is one.
fn in_flags(e: &(dyn Error + 'static)) -> Option<String> {
    if let Some(e) = e.downcast_ref::<TrainError>() {
        return train(e);
    }
    if let Some(e) = e.downcast_ref::<ConfigError>() {
        return config(e);
    }
    if let Some(e) = e.downcast_ref::<MethodError>() {
        return method(e);
    }
    if let Some(e) = e.downcast_ref::<OptionError>() {
        return Some(option(e));
    }
    if let Some(e) = e.downcast_ref::<CheckpointError>() {
        return checkpoint(e);
    }
    if let Some(e) = e.downcast_ref::<StateError>() {
        return state(e);
    }
    if let Some(e) = e.downcast_ref::<NonFinite>() {
        return Some(non_finite(e));
    }
    let data =
        e.downcast_ref::<crate::data::DataError>()
            .or_else(
                || match e.downcast_ref::<crate::data::fetch::FetchError>() {
                    Some(crate::data::fetch::FetchError::Data(d)) => Some(d),
                    _ => None,
                },
            );
    if let Some(e) = data {
        // The library speaks of "a data folder"; here it is a flag.
        return Some(format!("{e} (the data folder is {} DIR)", flag("data_dir")));
    }
    if let Some(e @ crate::data::fetch::FetchError::Io { .. }) =
        e.downcast_ref::<crate::data::fetch::FetchError>()
    {
        return Some(format!("{e} (the data folder is {} DIR)", flag("data_dir")));
    }
    if let Some(e) = e.downcast_ref::<super::compare::GridError>() {
        return Some(grid(e));
    }
    if let Some(e) = e.downcast_ref::<crate::memory::TooLarge>() {
        return Some(too_large(e));
    }
    e.downcast_ref::<ExcludeError>().map(exclude)
}

/// A grid point's error: a setting the grid gave is named as its `--grid` entry, not as the
/// flag of the same name.
fn grid(e: &super::compare::GridError) -> String {
    let ours = |key: &str| e.keys.contains(&key);
    let option = match &e.error {
        ConfigError::Option(o) | ConfigError::Method(MethodError::Option(o)) => Some(o),
        _ => None,
    };
    let text = match (&e.error, option) {
        (_, Some(o)) if ours(&o.key) => format!(
            "{} must be {}, got {}: change the values of --grid {}",
            o.key, o.allowed, o.value, o.key
        ),
        (
            ConfigError::NoEffect {
                key,
                method,
                help,
                users,
                ..
            },
            _,
        ) if ours(key) => format!(
            "{key} has no effect with {} {method}: it is {help} (used by {})",
            flag("method"),
            users.join(", ")
        ),
        (other, _) => config(other).unwrap_or_else(|| other.to_string()),
    };
    format!("--grid {}: {text}", e.point)
}

fn too_large(e: &crate::memory::TooLarge) -> String {
    let smaller = match e.model {
        crate::scenario::ModelKind::Cnn => flag("batch_size"),
        crate::scenario::ModelKind::Mlp => format!("{} or {}", flag("hidden"), flag("batch_size")),
    };
    let more = match e.limit.source {
        crate::memory::LimitSource::Given => format!("a larger {}", flag("max_memory")),
        _ => format!("{} SIZE if the estimate is too high", flag("max_memory")),
    };
    format!("{}: use a smaller {smaller}, or pass {more}", e.problem())
}

fn train(e: &TrainError) -> Option<String> {
    Some(match e {
        TrainError::NonFiniteLoss { task, epoch, step } => format!(
            "loss is not finite (NaN or inf) at task {task}, epoch {epoch}, step {step}: lower {} or {}",
            flag("lr"),
            flag("c")
        ),
        TrainError::NonFiniteGradient {
            param,
            task,
            epoch,
            step,
        } => format!(
            "gradient of parameter '{param}' is not finite (NaN or inf) at task {task}, epoch {epoch}, step {step}: lower {}, or look for a square root or log of zero in the model",
            flag("lr")
        ),
        TrainError::EmptyTask { task, name, what } => format!(
            "task {task} ({name}) has no {what} examples: the dataset lacks its labels; check {}, {} and {}",
            flag("data_dir"),
            flag("train_limit"),
            flag("test_limit")
        ),
        TrainError::Regularizer(e) => non_finite(e),
        TrainError::Exclude(e) => exclude(e),
        TrainError::Checkpoint(e) => return checkpoint(e),
        TrainError::Method(e) => return method(e),
        _ => return None,
    })
}

fn config(e: &ConfigError) -> Option<String> {
    Some(match e {
        ConfigError::Option(e) => option(e),
        ConfigError::Method(e) => return method(e),
        ConfigError::NoEffect {
            key,
            origin,
            method,
            help,
            users,
        } => format!(
            "{} ({origin}) has no effect with {} {method}: it is {help} (used by {})",
            flag(key),
            flag("method"),
            users.join(", ")
        ),
        ConfigError::HiddenOnCnn { benchmark } => format!(
            "{} has no effect on {benchmark}: it trains the paper's CNN, whose widths are fixed",
            flag("hidden")
        ),
        ConfigError::Protocol(e) => {
            // The library's message starts with the setting's key.
            let text = e.to_string();
            let key = ["classes_per_task", "class_order", "angles", "transform"]
                .into_iter()
                .find(|k| text.starts_with(k));
            match key {
                Some(k) => format!("{}{}", flag(k), &text[k.len()..]),
                None => text,
            }
        }
        ConfigError::NoUserData => format!(
            "{} user trains on your own data: pass its folder or .npz file as --dataset-dir",
            flag("benchmark")
        ),
        ConfigError::NotUserData { key, benchmark } => format!(
            "{} has no effect on {benchmark}: it is for your own data (passed as --dataset-dir without {}); drop it",
            flag(key),
            flag("benchmark")
        ),
        ConfigError::TooSmallForCnn { rows, cols, min } => format!(
            "{m} cnn needs images of at least {min}x{min} pixels (its two valid convolutions and two pools shrink them), but the data's are {cols}x{rows}: use {m} mlp",
            m = flag("model")
        ),
        ConfigError::NoCuda => format!(
            "{b} cuda: this binary was built without CUDA: rebuild with `CUDARC_CUDA_VERSION=13000 cargo build --release --features cuda`, or use {b} cpu",
            b = flag("backend")
        ),
        ConfigError::LogEveryWithoutLog => format!(
            "{} has no effect without {}: add {} tensorboard (or csv), or drop {}",
            flag("log_every"),
            flag("log"),
            flag("log"),
            flag("log_every")
        ),
        ConfigError::NoBenchmark => format!(
            "no benchmark given: pass {} split-mnist, permuted-mnist, split-cifar, …",
            flag("benchmark")
        ),
        ConfigError::In { origin, error } => {
            format!("{origin}: {}", config(error).unwrap_or_else(|| error.to_string()))
        }
        ConfigError::Invalid(_) | ConfigError::Name(_) => return None,
    })
}

fn method(e: &MethodError) -> Option<String> {
    match e {
        MethodError::Option(e) => Some(option(e)),
        _ => None,
    }
}

fn option(e: &OptionError) -> String {
    format!("{} must be {}, got {}", flag(&e.key), e.allowed, e.value)
}

fn non_finite(e: &NonFinite) -> String {
    format!(
        "{} of parameter '{}' is not finite (NaN or inf) at the end of task {}: lower {} or the penalty strength, or raise {}",
        e.what,
        e.param,
        e.task,
        flag("lr"),
        flag("xi")
    )
}

fn exclude(e: &ExcludeError) -> String {
    format!(
        "{} '{}' matches no parameter; the model's parameters are: {}",
        flag("exclude"),
        e.pattern,
        e.params.join(", ")
    )
}

fn checkpoint(e: &CheckpointError) -> Option<String> {
    match e {
        CheckpointError::Regularizer(s) => state(s).map(|s| format!("checkpoint: {s}")),
        // The settings a resume brings are the run folder's run-config.json.
        CheckpointError::ConfigChanged { manifest, .. } => {
            let run = manifest
                .parent()
                .and_then(Path::parent)
                .unwrap_or(Path::new("."));
            Some(format!(
                "{} was changed after the run started: its settings differ from those recorded in {}; restore it or start a new run with --overwrite",
                crate::run_dir::RunDir::new(run).config().display(),
                manifest.display()
            ))
        }
        CheckpointError::Unreadable { .. } => {
            Some(format!("{e} ({} replaces it)", flag("overwrite")))
        }
        _ => None,
    }
}

fn state(e: &StateError) -> Option<String> {
    match e {
        StateError::NoImportanceObserver => Some(format!(
            "the checkpoint holds no importance observer: it was saved by a run without {}",
            flag("save_importance")
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_its_errors_text_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read x: {0}")]
        struct Outer(#[source] std::io::Error);
        let io = std::io::Error::other("Not a directory (os error 20)");
        let e = anyhow::Error::from(Outer(io));
        assert_eq!(describe(&e), "cannot read x: Not a directory (os error 20)");
        // A fetch error that is a data error reads as the data error, naming the flag.
        let e = anyhow::Error::from(crate::data::fetch::FetchError::Data(
            crate::data::DataError::NotAFolder {
                path: "f".into(),
                what: "a file",
            },
        ));
        assert_eq!(
            describe(&e),
            "f: a file, not a folder; pass the folder that holds the data files (the data folder is --data-dir DIR)"
        );
    }

    #[test]
    fn keys_become_flags() {
        assert_eq!(flag("si_cap"), "--si-cap");
        assert_eq!(flag("lr"), "--lr");
        assert_eq!(flag("importance_samples"), "--fisher-samples");
    }

    #[test]
    fn config_errors_name_flags() {
        let e = anyhow::Error::from(ConfigError::from(OptionError::new(
            "batch_size",
            0,
            "between 1 and 1048576",
        )));
        assert_eq!(
            e.to_string(),
            "batch_size must be between 1 and 1048576, got 0"
        );
        assert_eq!(
            describe(&e),
            "--batch-size must be between 1 and 1048576, got 0"
        );
        let e = anyhow::Error::from(ConfigError::In {
            origin: "config file a.toml".into(),
            error: Box::new(ConfigError::Method(MethodError::Option(OptionError::new(
                "c", -1, "positive",
            )))),
        });
        assert_eq!(
            describe(&e),
            "config file a.toml: --c must be positive, got -1"
        );
    }

    #[test]
    fn train_errors_name_flags_and_keep_context() {
        let e = anyhow::Error::from(TrainError::NonFiniteLoss {
            task: 1,
            epoch: 2,
            step: 3,
        });
        assert!(!e.to_string().contains("--"), "{e}");
        assert_eq!(
            describe(&e),
            "loss is not finite (NaN or inf) at task 1, epoch 2, step 3: lower --lr or --c"
        );
        let e = anyhow::Error::from(TrainError::Regularizer(NonFinite {
            what: "importance Ω",
            param: "l.weight".into(),
            task: 2,
        }))
        .context("si");
        let d = describe(&e);
        assert!(
            d.starts_with("si: importance Ω of parameter 'l.weight'"),
            "{d}"
        );
        assert!(d.contains("lower --lr") && d.contains("raise --xi"), "{d}");
        let e = anyhow::Error::from(TrainError::Exclude(ExcludeError {
            pattern: "head.*".into(),
            params: vec!["l.weight".into(), "l.bias".into()],
        }));
        assert_eq!(
            describe(&e),
            "--exclude 'head.*' matches no parameter; the model's parameters are: l.weight, l.bias"
        );
        let e = anyhow::Error::from(TrainError::Checkpoint(CheckpointError::Regularizer(
            StateError::NoImportanceObserver,
        )));
        assert!(describe(&e).ends_with("without --save-importance"), "{e}");
        let e = anyhow::Error::from(TrainError::Checkpoint(CheckpointError::ConfigChanged {
            manifest: Path::new("out").join("checkpoints").join("checkpoint.json"),
            recorded: "a".repeat(64),
            now: "b".repeat(64),
        }));
        assert_eq!(
            describe(&e),
            format!(
                "{} was changed after the run started: its settings differ from those recorded in {}; restore it or start a new run with --overwrite",
                Path::new("out").join("run-config.json").display(),
                Path::new("out").join("checkpoints").join("checkpoint.json").display()
            )
        );
        // Errors without settings in them read as their own text.
        let e = anyhow::anyhow!("plain").context("outer");
        assert_eq!(describe(&e), format!("{e:#}"));
    }
}
