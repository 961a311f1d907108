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

#[test]
fn class_settings_resolve_follow_the_tasks_and_normalise() {
    let run = |s: Settings| RunConfig::resolve(None, &s);
    // Three classes per task: four tasks, the last with one class; tasks follow unless given.
    let k3 = run(with(flags("split-mnist"), "classes_per_task", json!(3))).unwrap();
    assert_eq!((k3.tasks, k3.classes_per_task), (4, Some(3)));
    let p = k3.protocol().unwrap();
    assert_eq!(p.tasks[3].classes, vec![9]);
    assert_eq!(p.tasks[0].name, "digits 0,1,2");
    // The head: every class in the task scenario, one task's most in the domain scenario.
    assert_eq!(k3.outputs(), 10);
    let dom = run(with(
        with(flags("split-mnist"), "classes_per_task", json!(3)),
        "scenario",
        json!("domain"),
    ))
    .unwrap();
    assert_eq!(dom.outputs(), 3);
    let e = run(with(
        with(flags("split-mnist"), "classes_per_task", json!(3)),
        "tasks",
        json!(5),
    ))
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "tasks must be between 1 and 4 for split-mnist with classes_per_task = 3, got 5"
    );
    // The benchmark's own values are stored as unset, so such a config equals the default one.
    let plain = run(flags("split-mnist")).unwrap();
    let spelled = with(flags("split-mnist"), "classes_per_task", json!(2));
    let spelled = with(spelled, "class_order", json!("0,1,2,3,4,5,6,7,8,9"));
    assert_eq!(run(spelled).unwrap(), plain);
    // A given order, from the flag's text or a file's list.
    let given = run(with(
        flags("split-cifar10"),
        "class_order",
        json!("2,3,0,1,4,5,6,7,8,9"),
    ))
    .unwrap();
    assert_eq!(
        given.class_order,
        ClassOrder::Given(vec![2, 3, 0, 1, 4, 5, 6, 7, 8, 9])
    );
    assert_eq!(given.protocol().unwrap().tasks[0].name, "classes 2,3");
    let file = parse_settings("class_order = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]\n", "f").unwrap();
    let from_file = RunConfig::resolve(Some(&file), &flags("split-mnist")).unwrap();
    assert_eq!(from_file.protocol().unwrap().tasks[0].classes, vec![9, 8]);
}

#[test]
fn a_random_class_order_is_drawn_from_the_seed_and_stored_as_random() {
    let f = |seed: u64| {
        let s = with(flags("split-mnist"), "class_order", json!("random"));
        RunConfig::resolve(None, &with(s, "seed", json!(seed))).unwrap()
    };
    let (a, b) = (f(3), f(4));
    let order = |c: &RunConfig| c.protocol().unwrap().class_order.unwrap();
    assert_eq!(order(&a), order(&f(3)));
    assert_ne!(order(&a), order(&b));
    let mut sorted = order(&a);
    sorted.sort_unstable();
    assert_eq!(sorted, (0..10).collect::<Vec<_>>());
    // The config keeps the setting, not the draw: seeds of one setting group together.
    assert_eq!(stored(&a)["class_order"], json!("random"));
    let back = RunConfig::from_stored(Registry::builtin(), &stored(&a)).unwrap();
    assert_eq!((back.digest(), order(&back)), (a.digest(), order(&a)));
}

#[test]
fn bad_class_settings_are_one_line_errors() {
    for (bench, key, v, needle) in [
        (
            "split-mnist",
            "class_order",
            json!("1,1,2,3,4,5,6,7,8,9"),
            "class_order lists class 1 twice",
        ),
        (
            "split-mnist",
            "class_order",
            json!("0,1,2,3,4,5,6,7,8,10"),
            "class_order names class 10, but the data has classes 0-9 only",
        ),
        (
            "split-mnist",
            "class_order",
            json!("0,1,2"),
            "class_order leaves out classes 3,4,5,6,7,8,9",
        ),
        (
            "split-mnist",
            "class_order",
            json!("0,x"),
            "'0,x' is not a class order",
        ),
        (
            "split-mnist",
            "classes_per_task",
            json!(11),
            "classes_per_task = 11 is out of range: between 1 and 10",
        ),
        (
            "permuted-mnist",
            "class_order",
            json!("random"),
            "class_order has no effect on permuted-mnist: every task holds every class",
        ),
        (
            "split-cifar",
            "classes_per_task",
            json!(5),
            "classes_per_task has no effect on split-cifar: its tasks are the paper's fixed",
        ),
        (
            "split-mnist",
            "angles",
            json!("random"),
            "angles has no effect on split-mnist",
        ),
        (
            "rotated-mnist",
            "angles",
            json!("0,500"),
            "angles: 500 is not an angle",
        ),
        ("split-mnist", "model", json!("rnn"), "unknown model 'rnn'"),
    ] {
        let e = RunConfig::resolve(None, &with(flags(bench), key, v))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle) && !e.contains('\n'), "{key}: {e}");
    }
    let e = RunConfig::resolve(
        None,
        &with(
            with(flags("split-mnist"), "model", json!("cnn")),
            "hidden",
            json!([10]),
        ),
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::HiddenOnCnn { .. }), "{e}");
}

#[test]
fn the_model_follows_its_setting_and_hidden_widths_follow_the_model() {
    let run = |s: Settings| RunConfig::resolve(None, &s).unwrap();
    let cnn = run(with(flags("split-mnist"), "model", json!("cnn")));
    assert_eq!((cnn.model_kind(), cnn.hidden.len()), (ModelKind::Cnn, 0));
    assert_eq!(cnn.step_flops(), f64::INFINITY);
    let mlp = run(with(flags("split-cifar10"), "model", json!("mlp")));
    assert_eq!(
        (mlp.model_kind(), mlp.hidden.clone()),
        (ModelKind::Mlp, vec![256, 256])
    );
    // Naming the benchmark's own network is the default.
    assert_eq!(
        run(with(flags("split-mnist"), "model", json!("mlp"))),
        run(flags("split-mnist"))
    );
}

#[test]
fn rotated_mnist_takes_the_permuted_protocol_and_its_angles() {
    let r = RunConfig::resolve(None, &flags("rotated-mnist")).unwrap();
    assert_eq!(
        (r.scenario, r.tasks, r.hidden.clone(), r.train.epochs),
        (Scenario::Domain, 10, vec![2000, 2000], 20)
    );
    assert_eq!(si(&r).c, 0.1);
    let p = r.protocol().unwrap();
    assert_eq!(p.tasks[1].name, "rotation 18°");
    assert_eq!(p.layout(10).task_angles.unwrap()[9], 162.0);
    // A list of angles sets the number of tasks.
    let three = with(flags("rotated-mnist"), "angles", json!("0,-45,90"));
    let three = RunConfig::resolve(None, &three).unwrap();
    assert_eq!(three.tasks, 3);
    assert_eq!(stored(&three)["angles"], json!([0.0, -45.0, 90.0]));
    assert_eq!(
        RunConfig::from_stored(Registry::builtin(), &stored(&three)).unwrap(),
        three
    );
    // The task and class scenarios give each task its ten units.
    let task = with(flags("rotated-mnist"), "scenario", json!("task"));
    let task = RunConfig::resolve(None, &with(task, "tasks", json!(4))).unwrap();
    assert_eq!(task.outputs(), 40);
}

#[test]
fn configs_without_the_task_settings_store_and_digest_as_before() {
    // Stored files and checkpoint digests of runs from before these settings stay valid: the
    // defaults are not written, and a table without them reads back as the defaults.
    let cfg = RunConfig::resolve(None, &flags("split-mnist")).unwrap();
    let table = stored(&cfg);
    for key in ["class_order", "classes_per_task", "angles", "model"] {
        assert!(!table.contains_key(key), "{key}");
        assert!(RunConfig::run_keys().iter().any(|k| k == key), "{key}");
    }
    let back = RunConfig::from_stored(Registry::builtin(), &table).unwrap();
    assert_eq!(back, cfg);
    // A stored setting is re-validated like a flag.
    let bad = with(table, "class_order", json!([0, 0, 1, 2, 3, 4, 5, 6, 7, 8]));
    let e = RunConfig::from_stored(Registry::builtin(), &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("class_order lists class 0 twice"), "{e}");
}

/// Settings of benchmark `user` with a record of 3 classes of 3x12x10 images.
fn user_flags() -> Settings {
    let record = json!({
        "path": "/data/shapes", "format": "image-folder", "classes": ["a", "b", "c"],
        "channels": 3, "rows": 10, "cols": 12, "train": 90, "test": 30
    });
    with(flags("user"), "user_data", record)
}

#[test]
fn user_data_sizes_the_network_and_resolves_as_a_split_or_rotations() {
    let cfg = RunConfig::resolve(None, &user_flags()).unwrap();
    assert_eq!(
        (cfg.scenario, cfg.tasks, cfg.hidden.clone()),
        (Scenario::Task, 2, vec![256, 256])
    );
    assert_eq!(cfg.data_shape().pixels(), 360);
    let p = cfg.protocol().unwrap();
    assert_eq!(p.tasks[0].name, "classes a,b");
    assert_eq!(p.tasks[1].classes, vec![2]);
    // Split MNIST's protocol and method values.
    assert_eq!(
        (cfg.train.epochs, cfg.train.batch_size, si(&cfg).c),
        (10, 64, 1.0)
    );
    let weights = 361 * 256 + 257 * 256 + 257 * 3;
    assert_eq!(cfg.step_flops(), (6 * 64 * weights) as f64);
    // Rotated: every class per task, domain scenario unless given.
    let rot = RunConfig::resolve(None, &with(user_flags(), "transform", json!("rotate"))).unwrap();
    assert_eq!(
        (rot.scenario, rot.tasks, rot.outputs()),
        (Scenario::Domain, 10, 3)
    );
    let task = with(
        with(user_flags(), "transform", json!("rotate")),
        "scenario",
        json!("task"),
    );
    assert_eq!(
        RunConfig::resolve(None, &task).unwrap().scenario,
        Scenario::Task
    );
    // The record round-trips with the config, and is re-checked.
    let back = RunConfig::from_stored(Registry::builtin(), &stored(&rot)).unwrap();
    assert_eq!(back, rot);
    let e = RunConfig::resolve(None, &flags("user")).unwrap_err();
    assert!(matches!(e, ConfigError::NoUserData), "{e}");
    let e = RunConfig::resolve(
        None,
        &with(flags("split-mnist"), "image_size", json!("8x8")),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("image_size has no effect on split-mnist"),
        "{e}"
    );
    let e = parse_settings("user_data = { path = \"/x\" }\n", "config file c.toml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("user_data is recorded from the data read"),
        "{e}"
    );
    let e = RunConfig::resolve(
        None,
        &with(flags("split-mnist"), "transform", json!("rotate")),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("transform has no effect on split-mnist"),
        "{e}"
    );
}
