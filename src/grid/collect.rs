//! The summary files of a finished grid, the same whether `compare`/`sweep`/`reproduce` ran it
//! or its cells ran anywhere and `grid collect` gathers them: `summary.json`/`.md` (compare),
//! `sweep.json`/`.md` (sweep), `report.md`/`.json` and figures (reproduce).

use std::path::{Path, PathBuf};

use crate::fsutil::write_atomic;
use crate::report::collect::{find_results, group_runs};
use crate::report::markdown::{write_report, ReportOptions, Written};
use crate::report::summary::{Summary, Sweep, SweepPoint};
use crate::report::RunResult;

use super::plan::{GridError, GridKind, GridPlan};

/// What [`collect`] wrote.
#[derive(Debug)]
pub enum Collected {
    /// `summary.json` and `summary.md` (its markdown here).
    Summary(String),
    /// `sweep.json` and `sweep.md` (its markdown here).
    Sweep(String),
    /// `report.md`, `report.json` and the figures.
    Report(Written),
}

impl Collected {
    /// The markdown file written.
    pub fn markdown_path(&self, dir: &Path) -> PathBuf {
        match self {
            Collected::Summary(_) => dir.join("summary.md"),
            Collected::Sweep(_) => dir.join("sweep.md"),
            Collected::Report(w) => w.markdown.clone(),
        }
    }
}

/// Every cell's result, in plan order; [`GridError::Unfinished`] if one is missing.
pub fn results(plan: &GridPlan, dir: &Path) -> Result<Vec<RunResult>, GridError> {
    let mut out = Vec::with_capacity(plan.cells.len());
    let mut missing = None;
    for cell in &plan.cells {
        match plan.finished(dir, cell)? {
            Some(r) => out.push(r),
            None => {
                missing.get_or_insert_with(|| cell.label.clone());
            }
        }
    }
    match missing {
        None => Ok(out),
        Some(first) => Err(GridError::Unfinished {
            dir: dir.to_path_buf(),
            done: out.len(),
            total: plan.cells.len(),
            first,
        }),
    }
}

/// Writes the summary files of the finished grid in `dir` (planned as `plan`).
pub fn collect(plan: &GridPlan, dir: &Path) -> Result<Collected, GridError> {
    let results = results(plan, dir)?;
    match &plan.kind {
        GridKind::Compare { seeds, .. } => {
            let groups: Vec<Vec<RunResult>> =
                results.chunks(seeds.len()).map(<[_]>::to_vec).collect();
            let summary = Summary::new(&groups, seeds, &plan.command);
            let md = summary.to_markdown();
            write_pair(dir, "summary", &summary, &md)?;
            Ok(Collected::Summary(md))
        }
        GridKind::Sweep {
            method,
            names,
            points,
            seeds,
        } => {
            let sweep_points: Vec<SweepPoint> = points
                .iter()
                .zip(results.chunks(seeds.len()))
                .map(|(set, runs)| SweepPoint::new(set.clone(), &runs.iter().collect::<Vec<_>>()))
                .collect();
            let sweep = Sweep::new(
                method,
                &results,
                names.clone(),
                sweep_points,
                seeds,
                &plan.command,
            );
            let md = sweep.to_markdown();
            write_pair(dir, "sweep", &sweep, &md)?;
            Ok(Collected::Sweep(md))
        }
        GridKind::Reproduce { .. } => {
            let dirs = [dir.to_path_buf()];
            let sets = group_runs(find_results(&dirs)?);
            let opts = ReportOptions {
                sources: vec![dir.display().to_string()],
                command: Some(plan.command.clone()),
            };
            Ok(Collected::Report(write_report(&sets, dir, &opts)?))
        }
    }
}

/// Writes `name.json` and `name.md` into `dir` atomically.
fn write_pair(
    dir: &Path,
    name: &str,
    json: &impl serde::Serialize,
    md: &str,
) -> Result<(), GridError> {
    let bytes = serde_json::to_vec_pretty(json).expect("a summary serialises");
    for (file, bytes) in [
        (format!("{name}.json"), &bytes[..]),
        (format!("{name}.md"), md.as_bytes()),
    ] {
        let path = dir.join(file);
        write_atomic(&path, bytes).map_err(|error| GridError::Io {
            action: "write",
            path,
            error,
        })?;
    }
    Ok(())
}
