use serde_json::json;

use super::*;
use crate::method::si::SiOptions;
use crate::method::Registry;

fn flags(benchmark: &str) -> Settings {
    let mut s = Settings::new();
    s.insert("benchmark".into(), json!(benchmark));
    s
}

fn with(mut s: Settings, key: &str, v: Value) -> Settings {
    s.insert(key.into(), v);
    s
}

fn si(cfg: &RunConfig) -> SiOptions {
    cfg.method.typed::<crate::method::si::Si>().unwrap()
}

#[test]
fn benchmark_defaults_follow_the_paper() {
    let s = RunConfig::resolve(None, &flags("split-mnist")).unwrap();
    let o = si(&s);
    assert_eq!(
        (o.c, o.xi, s.train.epochs, s.train.batch_size),
        (1.0, 1e-3, 10, 64)
    );
    assert!(s.train.reset_optimizer);
    assert_eq!(s.hidden, vec![256, 256]);
    assert_eq!(s.scenario, Scenario::Task);
    let p = RunConfig::resolve(None, &flags("permuted-mnist")).unwrap();
    let o = si(&p);
    assert_eq!(
        (o.c, o.xi, p.train.epochs, p.train.batch_size),
        (0.1, 0.1, 20, 256)
    );
    assert!(!p.train.reset_optimizer);
    assert_eq!(p.hidden, vec![2000, 2000]);
    assert_eq!(p.scenario, Scenario::Domain);
}

#[test]
fn flags_override_file_and_finetune_has_no_penalty_options() {
    let file = parse_settings("epochs = 3\nmethod = \"finetune\"", "f").unwrap();
    let f = with(flags("split-mnist"), "epochs", json!(2));
    let cfg = RunConfig::resolve(Some(&file), &f).unwrap();
    assert_eq!(cfg.train.epochs, 2);
    assert_eq!(cfg.method.name(), "finetune");
    assert!(cfg.method.options().is_empty());
    assert_eq!(cfg.mode(), Mode::Sequential);
}

#[test]
fn options_of_other_methods_are_errors_or_dropped_for_compare() {
    let f = with(flags("split-mnist"), "method", json!("ewc"));
    let f = with(f, "c", json!(0.5));
    let e = RunConfig::resolve(None, &f).unwrap_err().to_string();
    assert!(
        e.starts_with("c (on the command line) has no effect with method ewc"),
        "{e}"
    );
    // `compare` hands one set of flags to every method: foreign ones are ignored there.
    let cfg = RunConfig::resolve_in(Registry::builtin(), None, &f, false).unwrap();
    assert!(cfg.method.get("c").is_none());
    let f = with(
        with(flags("split-mnist"), "method", json!("si")),
        "lambda",
        json!(3.0),
    );
    let e = RunConfig::resolve(None, &f).unwrap_err().to_string();
    assert!(
        e.starts_with("lambda (") && e.contains("ewc, online-ewc, mas, l2"),
        "{e}"
    );
    let f = with(flags("split-mnist"), "gamma", json!(0.5));
    assert!(RunConfig::resolve(None, &f).is_err());
    let f = with(flags("split-mnist"), "nonsense", json!(0.5));
    let e = RunConfig::resolve(None, &f).unwrap_err().to_string();
    assert!(e.contains("unknown setting 'nonsense'"), "{e}");
}

#[test]
fn presets_sit_between_defaults_and_flags() {
    let r = Registry::builtin();
    let f = with(flags("split-mnist"), "method", json!("ewc"));
    let tuned = RunConfig::resolve(None, &f).unwrap();
    let table = preset::parse(r, &preset::shipped(r, Benchmark::SplitMnist), "shipped").unwrap();
    assert_eq!(
        tuned.method.number("lambda"),
        table["ewc"]["lambda"].as_f64()
    );
    assert_eq!(tuned.preset, "tuned");
    let g = with(f.clone(), "lambda", json!(12345.0));
    assert_eq!(
        RunConfig::resolve(None, &g)
            .unwrap()
            .method
            .number("lambda"),
        Some(12345.0)
    );
    let g = with(f.clone(), "preset", json!("none"));
    let none = RunConfig::resolve(None, &g).unwrap();
    assert_eq!(none.method.number("lambda"), Some(1.0));
    // A preset file of the user's own.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("mine.toml");
    std::fs::write(&p, "[ewc]\nlambda = 7.0\ngamma = 0.5\n").unwrap();
    let g = with(f.clone(), "preset", json!(p.display().to_string()));
    let e = RunConfig::resolve(None, &g).unwrap_err().to_string();
    assert!(e.starts_with("gamma (from the preset)"), "{e}");
    std::fs::write(&p, "[ewc]\nlambda = 7\n").unwrap();
    assert_eq!(
        RunConfig::resolve(None, &g)
            .unwrap()
            .method
            .number("lambda"),
        Some(7.0)
    );
}

#[test]
fn out_of_range_values_are_rejected_with_the_option_name() {
    for (key, value, needle) in [
        ("c", json!(-1.0), "c must"),
        ("xi", json!(0.0), "xi must"),
        ("epochs", json!(0), "epochs must"),
        ("batch_size", json!(0), "batch_size must"),
        ("tasks", json!(6), "tasks must"),
        ("lr", json!(1e300), "lr must"),
        ("si_cap", json!(-2.0), "si_cap must"),
    ] {
        let e = RunConfig::resolve(None, &with(flags("split-mnist"), key, value))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{key}: {e}");
    }
    for (method, key, value, needle) in [
        ("online-ewc", "gamma", json!(1.5), "gamma must be in (0, 1]"),
        ("mas", "fisher_samples", json!(0), "fisher_samples must"),
        ("l2", "lambda", json!(-3), "lambda must"),
        ("ewc", "exclude", json!([" "]), "exclude must"),
    ] {
        let f = with(
            with(flags("split-mnist"), "method", json!(method)),
            key,
            value,
        );
        let e = RunConfig::resolve(None, &f).unwrap_err().to_string();
        assert!(e.contains(needle), "{method} {key}: {e}");
    }
    let e = RunConfig::resolve(None, &flags("split-imagenet"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown benchmark"), "{e}");
    let e = RunConfig::resolve(None, &with(flags("split-mnist"), "method", json!("sii")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown method 'sii'") && e.contains("online-ewc"),
        "{e}"
    );
    let e = RunConfig::resolve(
        None,
        &with(flags("split-mnist"), "scenario", json!("bogus")),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("scenario"), "{e}");
}

#[test]
fn config_file_rejects_unknown_keys_and_wrong_types() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.toml");
    std::fs::write(&p, "epochz = 3\n").unwrap();
    let e = read_config_file(&p).unwrap_err().to_string();
    assert!(e.contains("epochz") && !e.contains('\n'), "{e}");
    std::fs::write(&p, "epochs = \"three\"\n").unwrap();
    let e = read_config_file(&p).unwrap_err().to_string();
    assert!(
        e.contains("c.toml") && e.contains("epochs") && !e.contains('\n'),
        "{e}"
    );
    std::fs::write(&p, "c = \"big\"\n").unwrap();
    let e = read_config_file(&p).unwrap_err().to_string();
    assert!(
        e.contains("c.toml") && e.contains("c:") && !e.contains('\n'),
        "{e}"
    );
    // toml gives no message for a document that ends in `key =`: found by tests/fuzz.rs.
    std::fs::write(&p, "epochs = 3\nseed =").unwrap();
    let e = read_config_file(&p).unwrap_err().to_string();
    assert!(
        e.ends_with("invalid TOML at line 2, column 7 (a value is missing or cut short)"),
        "{e}"
    );
}

#[test]
fn results_written_before_methods_had_their_own_options_still_load() {
    // The flat layout of result.json before this change: every method's keys beside each other.
    let old = json!({
        "benchmark": "split-mnist", "scenario": "task", "method": "si", "preset": "tuned",
        "c": 1.0, "xi": 0.001, "si_grad": "task", "si_clamp": "relu", "si_half": false,
        "si_cap": null, "lambda": 0.0, "gamma": 1.0, "fisher": "exact", "fisher_samples": 1000,
        "exclude": [], "epochs": 10, "batch_size": 64, "lr": 0.001, "beta1": 0.9,
        "beta2": 0.999, "epsilon": 1e-8, "reset_optimizer": true, "seed": 3,
        "eval_batch_size": 1000, "tasks": 5, "train_limit": 0, "test_limit": 0,
        "eval_on": "test", "hidden": [256, 256], "head_init": "default", "backend": "cpu",
        "threads": 0
    });
    let cfg: RunConfig = serde_json::from_value(old).unwrap();
    let mut want = RunConfig::resolve(None, &with(flags("split-mnist"), "seed", json!(3))).unwrap();
    want.threads = 0;
    assert_eq!(cfg, want);
    // And the new layout holds only the method's own keys, reading back equal.
    let text = serde_json::to_string(&cfg).unwrap();
    assert!(
        !text.contains("lambda") && text.contains("\"si_cap\":null"),
        "{text}"
    );
    assert_eq!(serde_json::from_str::<RunConfig>(&text).unwrap(), cfg);
}

#[test]
fn step_flops_count_the_network_the_stream_builds() {
    let run = |s: Settings| RunConfig::resolve(None, &s).unwrap();
    // 6 x batch x weights, weights summed as (inputs + 1) x outputs per layer.
    let split = run(flags("split-mnist"));
    let weights = 785 * 256 + 257 * 256 + 257 * 10;
    assert_eq!(split.step_flops(), (6 * 64 * weights) as f64);
    assert_eq!(split.step_flops(), 103_419_648.0);
    // Domain: one task's two classes share the head.
    let domain = run(with(flags("split-mnist"), "scenario", json!("domain")));
    assert_eq!(domain.step_flops(), 102_630_144.0);
    let permuted = run(flags("permuted-mnist"));
    assert_eq!(permuted.step_flops(), 8_589_327_360.0);
    // Task scenario on permuted MNIST: ten units per task run.
    let permuted_task = run(with(
        with(flags("permuted-mnist"), "scenario", json!("task")),
        "tasks",
        json!(3),
    ));
    assert_eq!(permuted_task.step_flops(), 8_650_798_080.0);
    assert_eq!(run(flags("split-cifar")).step_flops(), f64::INFINITY);
    // Split MNIST's MLP stays on one thread; permuted MNIST's uses them all.
    assert_eq!(split.compute_threads(), 1);
    let all = with(flags("permuted-mnist"), "threads", json!(4));
    assert_eq!(run(all).compute_threads(), 4);
}

#[test]
fn live_logs_resolve_from_any_layer_and_leave_the_run_unchanged() {
    use crate::log::LogFormat;
    let file = parse_settings("log = \"csv\"\nlog_every = 7\n", "config file t.toml").unwrap();
    let s = RunConfig::resolve(Some(&file), &flags("split-mnist")).unwrap();
    assert_eq!(
        (s.logs.log.as_slice(), s.logs.log_every),
        (&[LogFormat::Csv][..], 7)
    );
    let f = with(flags("split-mnist"), "log", json!(["tensorboard", "csv"]));
    let s = RunConfig::resolve(Some(&file), &f).unwrap();
    assert_eq!(s.logs.log, [LogFormat::Tensorboard, LogFormat::Csv]);
    assert_eq!(s.logs.log_every, 7);
    // The same run with and without logs: equal, and the method takes none of the keys.
    let plain = RunConfig::resolve(None, &flags("split-mnist")).unwrap();
    assert_eq!(s, plain);
    assert_eq!(s.method, plain.method);
    assert!(serde_json::to_value(&plain).unwrap().get("log").is_none());
    let back: RunConfig = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(back.logs.log, s.logs.log);
    // A sampling interval without logs, and bad values, are errors.
    let e = RunConfig::resolve(None, &with(flags("split-mnist"), "log_every", json!(10)))
        .unwrap_err()
        .to_string();
    assert!(e.contains("log_every has no effect without log"), "{e}");
    let e = parse_settings("log = [\"csv\", \"x\"]\n", "config file t.toml")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown log format 'x'"), "{e}");
}

/// A resolved config as `run-config.json` stores it: one flat table.
fn stored(cfg: &RunConfig) -> Settings {
    let text = serde_json::to_string(cfg).unwrap();
    match serde_json::from_str(&text).unwrap() {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

#[test]
fn a_stored_config_reads_back_equal_with_the_same_digest() {
    for (bench, method) in [
        ("split-mnist", "si"),
        ("permuted-mnist", "ewc"),
        ("split-cifar", "mas"),
        ("split-mnist", "finetune"),
    ] {
        let f = with(flags(bench), "method", json!(method));
        let f = with(f, "lr", json!(0.0003));
        let cfg = RunConfig::resolve(None, &f).unwrap();
        let back = RunConfig::from_stored(Registry::builtin(), &stored(&cfg)).unwrap();
        assert_eq!(back, cfg, "{bench} {method}");
        assert_eq!(back.digest(), cfg.digest(), "{bench} {method}");
        // --threads may change on resume; nothing else may.
        let mut threads = back.clone();
        threads.threads = 7;
        assert_eq!(threads.digest(), cfg.digest());
        let mut epochs = back.clone();
        epochs.train.epochs += 1;
        assert_ne!(epochs.digest(), cfg.digest());
        assert_eq!(cfg.digest().len(), 64);
    }
}

#[test]
fn a_stored_config_is_checked_as_a_fresh_one() {
    let cfg = RunConfig::resolve(None, &flags("split-mnist")).unwrap();
    let reject = |key: &str, v: Value, needle: &str| {
        let table = with(stored(&cfg), key, v);
        let e = RunConfig::from_stored(Registry::builtin(), &table)
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{key}: {e}");
    };
    reject("c", json!(-5), "c must be");
    reject("lr", json!(-1), "lr must be");
    reject("epochs", json!(0), "epochs must be");
    reject("tasks", json!(9), "tasks must be");
    reject("hidden", json!([0]), "hidden must be");
    reject("batch_size", json!("64"), "batch_size");
    reject(
        "no_such_setting",
        json!(1),
        "unknown setting 'no_such_setting'",
    );
    reject("method", json!("nope"), "nope");
    let mut table = stored(&cfg);
    table.remove("epochs");
    assert!(RunConfig::from_stored(Registry::builtin(), &table).is_err());
    // Older files carry every method's keys: another method's option is dropped.
    let table = with(stored(&cfg), "lambda", json!(100.0));
    assert_eq!(
        RunConfig::from_stored(Registry::builtin(), &table).unwrap(),
        cfg
    );
}
