//! `synaptic report DIR... [--out OUT]`: figures and `report.md` from the `result.json` files
//! under the given folders (the work is in `crate::report::{collect, markdown}`).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;

use crate::report::collect::{find_results, group_runs};
use crate::report::markdown::{write_report, ReportOptions, Written};

#[derive(Args, Debug)]
pub(super) struct ReportArgs {
    /// Folders to read: run folders, compare/reproduce folders, or folders holding them (every
    /// result.json below them is read).
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,
    /// Folder for report.md, report.json and figures/ (default: the first DIR).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

/// Reads, groups, draws and writes; returns what was written.
pub(super) fn report(
    dirs: &[PathBuf],
    out: &Path,
    command: Option<String>,
) -> anyhow::Result<Written> {
    let found = find_results(dirs)?;
    let sets = group_runs(found);
    super::check_out(out)?;
    let opts = ReportOptions {
        sources: dirs.iter().map(|d| d.display().to_string()).collect(),
        command,
    };
    Ok(write_report(&sets, out, &opts)?)
}

pub(super) fn cmd_report(args: ReportArgs) -> anyhow::Result<()> {
    let out = args
        .out
        .clone()
        .or_else(|| args.dirs.first().cloned())
        .ok_or_else(|| anyhow!("name at least one folder"))?;
    let out = if out.is_file() {
        // `report DIR/result.json`: the report goes beside it.
        out.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        out
    };
    let written = report(&args.dirs, &out, Some(super::compare::command_line()))?;
    if !args.quiet {
        if !written.comparison.is_empty() {
            println!("{}", written.comparison.trim_end());
            println!();
        }
        println!(
            "wrote {} ({} figures as PNG and SVG in {})",
            written.markdown.display(),
            written.figures.len() / 2,
            out.join("figures").display()
        );
    }
    Ok(())
}
