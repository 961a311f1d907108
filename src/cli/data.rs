//! `synaptic data fetch|verify`: getting a dataset and checking it; the work is in
//! [`crate::data::fetch`].

use std::path::PathBuf;

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
    /// Download a dataset from its canonical mirror (or $SYNAPTIC_MIRROR), check its published
    /// checksums and unpack it; a broken download resumes, one already there is not repeated.
    Fetch(FetchArgs),
    /// Load a dataset and check every checksum that can be checked.
    Verify(VerifyArgs),
}

#[derive(Args, Debug)]
struct FetchArgs {
    /// mnist, fashion-mnist, cifar10 or cifar100.
    dataset: String,
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
    /// mnist, fashion-mnist, cifar10 or cifar100.
    dataset: String,
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
            let name: DatasetName = a.dataset.parse()?;
            let dest = name.fetch_dir(a.data_dir.as_deref());
            let mirror = std::env::var(MIRROR_ENV)
                .ok()
                .filter(|m| !m.trim().is_empty());
            let opts = FetchOptions {
                quiet: a.quiet,
                progress: super::progress::DownloadBar::factory(),
                ..FetchOptions::default()
            };
            let outcome = fetch_dataset(name, &dest, mirror.as_deref(), &opts)?;
            if !a.quiet {
                println!("{}", outcome.verified);
            }
        }
        DataAction::Verify(a) => {
            let name: DatasetName = a.dataset.parse()?;
            let verified = verify_dataset(name, &name.data_dir(a.data_dir.as_deref()))?;
            if !a.quiet {
                println!("{verified}");
            }
        }
    }
    Ok(())
}
