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
