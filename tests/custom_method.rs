//! The example's method, defined outside the crate, runs through synaptic's task loop, metrics,
//! result files and report on a slice of real MNIST.

#[path = "../examples/custom_method.rs"]
mod custom_method;

#[allow(dead_code)]
mod common;

#[test]
fn a_method_defined_outside_the_crate_trains_writes_results_and_reports() {
    let Some(data) = common::mnist() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let rs = custom_method::run_example(&data, tmp.path()).unwrap();
    let (mine, plain) = (&rs[0], &rs[1]);
    assert_eq!(
        (mine.method.as_str(), plain.method.as_str()),
        ("grad-magnitude", "finetune")
    );
    // Its penalty is live after the first task and absent without a method.
    assert!(mine.final_penalty[1] > 0.0, "{:?}", mine.final_penalty);
    assert!(plain.final_penalty.iter().all(|&p| p == 0.0));
    assert_eq!(mine.accuracy_matrix.len(), 3);
    assert_ne!(mine.accuracy_matrix, plain.accuracy_matrix);
    // The result file records the method and its own options only.
    let text = std::fs::read_to_string(tmp.path().join("grad-magnitude/result.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["config"]["method"], "grad-magnitude");
    assert_eq!(v["config"]["lambda"], 100.0);
    assert!(v["config"].get("c").is_none());
    // The ordinary report reads it back beside the built-in method.
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert!(
        md.contains("grad-magnitude") && md.contains("finetune"),
        "{md}"
    );
}
