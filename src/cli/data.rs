//! `synaptic data fetch|verify`: getting a dataset and checking it; the work is in
//! [`crate::data::fetch`].

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::data::fetch::{fetch_dataset, verify_dataset, DatasetName, FetchOptions, MIRROR_ENV};

/// The `data` subcommand.
#[derive(Args, Debug)]
pub(super) struct DataArgs {
    #[command(subcommand)]
    action: DataAction,
}

#[derive(Subcommand, Debug)]
enum DataAction {
    /// Download datasets from their canonical mirror (or $SYNAPTIC_MIRROR), check their published
    /// checksums and unpack them; a broken download resumes, one already there is not repeated.
    Fetch(FetchArgs),
    /// Load datasets and check every checksum that can be checked.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
struct FetchArgs {
    /// One or more of mnist, fashion-mnist, cifar10 and cifar100 (e.g. `cifar10 cifar100`).
    #[arg(required = true, value_name = "DATASET")]
    datasets: Vec<String>,
    /// Folder to put it in. Default: its folder in the cache ($SYNAPTIC_CACHE, else
    /// $XDG_CACHE_HOME/synaptic, else ~/.cache/synaptic): mnist, fashion-mnist or cifar.
    #[arg(long, visible_alias = "dataset-dir")]
    data_dir: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// One or more of mnist, fashion-mnist, cifar10 and cifar100.
    #[arg(required = true, value_name = "DATASET")]
    datasets: Vec<String>,
    /// Folder to check. Default: where the benchmarks read it (MNIST: $SYNAPTIC_DATA, else the
    /// shipped data/mnist; the others: their folder in the cache).
    #[arg(long, visible_alias = "dataset-dir")]
    data_dir: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

/// Runs `synaptic data ...`.
pub(super) fn cmd_data(args: DataArgs) -> anyhow::Result<()> {
    match args.action {
        DataAction::Fetch(a) => {
            let names = dataset_names(&a.datasets, a.data_dir.as_deref())?;
            let mirror = std::env::var(MIRROR_ENV)
                .ok()
                .filter(|m| !m.trim().is_empty());
            let opts = FetchOptions {
                quiet: a.quiet,
                progress: super::progress::DownloadBar::factory(),
                ..FetchOptions::default()
            };
            for name in names {
                let dest = name.fetch_dir(a.data_dir.as_deref());
                let outcome = fetch_dataset(name, &dest, mirror.as_deref(), &opts)?;
                if !a.quiet {
                    println!("{}", outcome.verified);
                }
            }
        }
        DataAction::Verify(a) => {
            for name in dataset_names(&a.datasets, a.data_dir.as_deref())? {
                let verified = verify_dataset(name, &name.data_dir(a.data_dir.as_deref()))?;
                if !a.quiet {
                    println!("{verified}");
                }
            }
        }
    }
    Ok(())
}

/// The datasets named, each once, in order; all are checked before any work starts.
fn dataset_names(args: &[String], dir: Option<&Path>) -> anyhow::Result<Vec<DatasetName>> {
    let mut names: Vec<DatasetName> = Vec::new();
    for a in args {
        let n: DatasetName = a.parse()?;
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let idx = [DatasetName::Mnist, DatasetName::FashionMnist];
    if dir.is_some() && idx.iter().all(|n| names.contains(n)) {
        anyhow::bail!(
            "mnist and fashion-mnist use the same file names, so one --data-dir cannot hold both: name them in two commands with two folders (or leave --data-dir out to use the cache)"
        );
    }
    Ok(names)
}
