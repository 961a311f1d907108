use serde_json::json;

use super::*;
use crate::backend::CpuAutodiff;
use crate::model::{Mlp, MlpConfig};

#[test]
fn the_builtin_list_is_in_table_order_and_each_method_knows_itself() {
    let r = Registry::builtin();
    assert_eq!(
        r.names(),
        [
            "si",
            "ewc",
            "online-ewc",
            "mas",
            "l2",
            "finetune",
            "joint",
            "scratch"
        ]
    );
    assert_eq!(r.label("online-ewc"), "online EWC");
    assert_eq!(r.label("mine"), "mine");
    assert_eq!(r.rank("l2"), 4);
    assert_eq!(r.rank("mine"), 8);
    assert_eq!(r.users("lambda"), ["ewc", "online-ewc", "mas", "l2"]);
    assert_eq!(r.users("gamma"), ["online-ewc"]);
    assert_eq!(r.users("exclude"), ["si", "ewc", "online-ewc", "mas", "l2"]);
    assert_eq!(r.get("joint").unwrap().mode(), Mode::Joint);
    assert_eq!(r.get("scratch").unwrap().mode(), Mode::Scratch);
    assert!(r.get("mas").unwrap().regularized() && !r.get("finetune").unwrap().regularized());
    // One spec per key, whatever number of methods share it.
    let flags = r.flags();
    let keys: Vec<&str> = flags.iter().map(|f| f.key).collect();
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(keys.len(), unique.len());
    assert_eq!(keys.iter().filter(|k| **k == "lambda").count(), 1);
}

#[test]
fn an_option_of_another_method_does_not_parse() {
    let r = Registry::builtin();
    let mut o = r.get("si").unwrap().defaults(Benchmark::SplitMnist);
    o.insert("lambda".into(), json!(3.0));
    let e = r.config("si", o).unwrap_err().to_string();
    assert!(e.contains("lambda"), "{e}");
    let mut o = r.get("ewc").unwrap().defaults(Benchmark::SplitMnist);
    o.insert("lambda".into(), json!("big"));
    assert!(r.config("ewc", o).is_err());
    let o = r.get("finetune").unwrap().defaults(Benchmark::SplitMnist);
    assert!(r.config("finetune", o).unwrap().options().is_empty());
}

#[test]
fn a_config_serialises_flat_and_reads_back_equal() {
    let r = Registry::builtin();
    let cfg = r.defaults("online-ewc", Benchmark::PermutedMnist).unwrap();
    let v = serde_json::to_value(&cfg).unwrap();
    assert_eq!(v["method"], "online-ewc");
    assert_eq!(v["gamma"], 1.0);
    assert_eq!(v["fisher_samples"], 500);
    let back: MethodConfig = serde_json::from_value(v).unwrap();
    assert_eq!(back, cfg);
    assert_eq!(cfg.number("lambda"), Some(1.0));
    assert!(cfg.typed::<si::Si>().is_none());
    let o = cfg.typed::<online_ewc::OnlineEwc>().unwrap();
    assert_eq!(o.gamma, 1.0);
}

/// A method from outside the built-in list: registers, builds, and is told apart by name.
struct Loud;

impl Method for Loud {
    type Options = l2::L2Options;
    const NAME: &'static str = "loud";
    const LABEL: &'static str = "Loud";
    const ABOUT: &'static str = "L2 under another name";
    fn flags() -> Vec<OptionSpec> {
        vec![shared::LAMBDA, shared::EXCLUDE]
    }
    fn defaults(b: Benchmark) -> l2::L2Options {
        l2::L2::defaults(b)
    }
    fn regularizer<B: AutodiffBackend, M: TrainModel<B>>(
        o: &l2::L2Options,
        ctx: &BuildContext,
    ) -> BoxedRegularizer<B, M> {
        l2::L2::regularizer::<B, M>(o, ctx)
    }
}

#[test]
fn a_registered_method_builds_its_regulariser_for_the_library_networks() {
    let mut r = Registry::standard();
    r.register::<Loud>();
    assert_eq!(r.names().last(), Some(&"loud"));
    let cfg = r.defaults("loud", Benchmark::SplitMnist).unwrap();
    let ctx = BuildContext { seed: 0 };
    let reg = r
        .regularizer::<CpuAutodiff, Mlp<CpuAutodiff>>(&cfg, &ctx)
        .unwrap();
    assert!(reg.is_some());
    let none = r
        .regularizer::<CpuAutodiff, Mlp<CpuAutodiff>>(
            &r.defaults("finetune", Benchmark::SplitMnist).unwrap(),
            &ctx,
        )
        .unwrap();
    assert!(none.is_none());
    // The built-in registry does not know it.
    let e = Registry::builtin()
        .regularizer::<CpuAutodiff, Mlp<CpuAutodiff>>(&cfg, &ctx)
        .err()
        .unwrap();
    assert!(e.to_string().contains("unknown method 'loud'"), "{e}");
    let _ = MlpConfig {
        inputs: 4,
        hidden: vec![3],
        outputs: 2,
        head_init: crate::model::HeadInit::Default,
        init: crate::model::WeightInit::Default,
    };
}
