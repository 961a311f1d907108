//! `synaptic analyze importance --run DIR [--out OUT]`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `synaptic analyze …`.
#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    #[command(subcommand)]
    what: Analysis,
}

#[derive(Subcommand, Debug)]
enum Analysis {
    /// Compare SI's importance with the diagonal Fisher and MAS per layer (Pearson, Spearman,
    /// log-log scatter plots, correlation between tasks), from a run saved with
    /// `synaptic run --save-importance`.
    Importance {
        /// The run folder (its --out).
        #[arg(long)]
        run: PathBuf,
        /// Folder for importance.md, importance.json and the figures (default: RUN/analysis).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long)]
        quiet: bool,
    },
}

pub fn cmd_analyze(args: AnalyzeArgs) -> anyhow::Result<()> {
    match args.what {
        Analysis::Importance { run, out, quiet } => {
            let out = out.unwrap_or_else(|| crate::run_dir::RunDir::new(&run).analysis());
            let a = crate::analysis::analyze_run(&run, &out)
                .map_err(|e| anyhow::anyhow!(flagged(e)))?;
            if !quiet {
                println!(
                    "{} {} (seed {}), {}: Spearman ρ per layer, mean over tasks",
                    a.run.benchmark,
                    a.run.method,
                    a.run.seed,
                    crate::plural::plural(a.run.tasks.len(), "task")
                );
                print!("{}", crate::analysis::importance::summary_table(&a));
                println!(
                    "wrote {} (tables), importance.json and {}",
                    out.join("importance.md").display(),
                    crate::plural::plural(a.figures.len(), "figure")
                );
            }
            Ok(())
        }
    }
}

/// The library's analysis error as the one line this command prints, naming its flags.
fn flagged(e: crate::analysis::AnalysisError) -> String {
    use crate::analysis::AnalysisError;
    match e {
        AnalysisError::NoRun(run) => format!("--run {} does not exist", run.display()),
        AnalysisError::NoImportances { run, index } => format!(
            "{} holds no saved importances ({} is missing): run it with synaptic run --save-importance",
            run.display(),
            index.display()
        ),
        AnalysisError::CreateDir { path, error } => {
            format!(
                "cannot create --out {}: {error}; pass a writable folder",
                path.display()
            )
        }
        AnalysisError::NonFinite { path, entry, value } => format!(
            "{} holds {value} at entry {entry}: its importances are unusable (the analysis would silently leave that task out); train the run again with synaptic run --save-importance",
            path.display()
        ),
        other => other.to_string(),
    }
}
