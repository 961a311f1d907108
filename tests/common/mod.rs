//! Helpers the end-to-end test files share.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `synaptic` binary under test.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_synaptic"))
}

/// The shipped real MNIST beside the checkout, or `None` (with a printed skip reason).
pub fn mnist() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if dir.join("train-images-idx3-ubyte.gz").exists() {
        Some(dir)
    } else {
        eprintln!("skipped: real MNIST not found at {}", dir.display());
        None
    }
}

/// A process's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
