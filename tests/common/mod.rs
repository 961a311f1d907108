//! Helpers the end-to-end test files share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `synaptic` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synaptic"))
}

/// Real MNIST: the copy the repository ships (`data/mnist`), else the one beside the checkout;
/// `None` (with a printed skip reason) only when neither is there.
pub fn mnist() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [root.join("data/mnist"), root.join("../shared/data/mnist")];
    let found = dirs
        .iter()
        .find(|d| d.join("train-images-idx3-ubyte.gz").exists());
    if found.is_none() {
        eprintln!("skipped: real MNIST not found at {}", dirs[0].display());
    }
    found.cloned()
}

/// A process's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A JSON file, parsed.
#[allow(dead_code)]
pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Asserts success; returns stderr.
#[allow(dead_code)]
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", stderr(o));
    stderr(o)
}

/// Exit code 2, one `error:` line holding `needle`, no result.
#[allow(dead_code)]
pub fn refused(o: &Output, needle: &str, out: &Path) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "missing '{needle}' in: {err}"
    );
    assert!(!out.join("result.json").exists());
}
