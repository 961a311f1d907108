//! `synaptic report DIR... [--out OUT]`: figures and `report.md` from the `result.json` files
//! under the given folders (the work is in `crate::report::{collect, markdown}`).

use std::path::{Path, PathBuf};

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
    // An explicit --out is a folder (a file there is refused by `check_out`, never written
    // beside); only the default, a first DIR that is a result.json, puts the report beside it.
    let out = match (&args.out, args.dirs.first()) {
        (Some(out), _) => out.clone(),
        (None, Some(first)) if first.is_file() => match first.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        },
        (None, Some(first)) => first.clone(),
        (None, None) => anyhow::bail!("name at least one folder"),
    };
    let written = report(&args.dirs, &out, Some(super::compare::command_line()))?;
    if !args.quiet {
        for n in &written.notes {
            eprintln!("warning: {n}");
        }
        if !written.comparison.is_empty() {
            println!("{}", written.comparison.trim_end());
            println!();
        }
        println!(
            "wrote {} ({} as PNG and SVG in {})",
            written.markdown.display(),
            crate::plural::plural(written.figures.len() / 2, "figure"),
            out.join("figures").display()
        );
    }
    Ok(())
}
