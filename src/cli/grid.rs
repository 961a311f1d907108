//! `synaptic grid plan|run|status|collect|commands|slurm`: a grid planned once (`grid.json`) and
//! executed anywhere — all cores of this machine (`grid run`, `--jobs`), any scheduler that
//! runs command lines (`grid commands`), or a Slurm job array (`grid slurm`). Each cell runs as
//! `run` does (locked, checkpointed, resumed), so every path gives the same numbers.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use clap::{Args, Subcommand};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::compare::{self, interrupted, plan_and_run, run_cells, show, CompareArgs, SweepArgs};
use super::reproduce::{self, ReproduceArgs};
use super::{interrupt_flag, EXIT_INTERRUPTED};
use crate::grid::{cell_state, CellState, GridPlan};

#[derive(Args, Debug)]
pub(super) struct GridArgs {
    #[command(subcommand)]
    command: GridCommand,
}

#[derive(Subcommand, Debug)]
enum GridCommand {
    /// Write the cells of a compare, sweep or reproduce (same arguments) into --out/grid.json
    /// without running them.
    Plan(Box<PlanArgs>),
    /// Run one cell (--cell K) or every unfinished cell of the grid in DIR; a finished cell is
    /// skipped, an interrupted one resumed from its checkpoint.
    Run(RunCellArgs),
    /// Show each cell's state: finished, running (and who runs it), interrupted, pending.
    Status(DirArg),
    /// Write the grid's summary files (what compare, sweep or reproduce writes) once every cell
    /// has finished.
    Collect(CollectArgs),
    /// Print one command line per cell (for GNU parallel, xargs -P, a scheduler's job list).
    Commands(DirArg),
    /// Write DIR/slurm/array.sbatch, a Slurm job array of the cells (requeued and resumed when
    /// preempted or out of time); --submit submits it.
    Slurm(SlurmArgs),
}

#[derive(Args, Debug)]
struct PlanArgs {
    #[command(subcommand)]
    what: PlanWhat,
}

#[derive(Subcommand, Debug)]
enum PlanWhat {
    /// The grid of `synaptic compare`.
    Compare(CompareArgs),
    /// The grid of `synaptic sweep`.
    Sweep(SweepArgs),
    /// The grid of `synaptic reproduce`.
    Reproduce(ReproduceArgs),
}

#[derive(Args, Debug)]
struct DirArg {
    /// The grid folder (holding grid.json).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

#[derive(Args, Debug)]
struct RunCellArgs {
    /// The grid folder (holding grid.json).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Run only this cell (0-based, as `grid status` numbers them).
    #[arg(long, value_name = "K")]
    cell: Option<usize>,
    /// Cells trained at once without --cell, each in its own process (default: as many as the
    /// cores allow given each cell's compute threads).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
    /// The cell's place in a parent's grid, e.g. `[3/8]`, for its progress lines.
    #[arg(long, hide = true)]
    tag: Option<String>,
}

#[derive(Args, Debug)]
struct CollectArgs {
    /// The grid folder (holding grid.json).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Print nothing but errors.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct SlurmArgs {
    /// The grid folder (holding grid.json).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Slurm partition (default: the cluster's default).
    #[arg(long)]
    partition: Option<String>,
    /// CPUs per cell (default: the cells' compute threads).
    #[arg(long, value_name = "C")]
    cpus_per_task: Option<usize>,
    /// Cells running at once (default: all).
    #[arg(long, value_name = "K")]
    max_parallel: Option<usize>,
    /// Time limit per cell, in Slurm's format (e.g. 2:00:00); a cell out of time checkpoints
    /// and is requeued.
    #[arg(long, value_name = "T")]
    time: Option<String>,
    /// Submit the script with sbatch and print the job id.
    #[arg(long)]
    submit: bool,
}

pub(super) fn cmd_grid(args: GridArgs) -> anyhow::Result<()> {
    match args.command {
        GridCommand::Plan(p) => match p.what {
            PlanWhat::Compare(a) => {
                let plan = compare::plan_compare(&a)?;
                plan_and_run(&plan, &a.out, None, a.flags.quiet, true, None).map(drop)
            }
            PlanWhat::Sweep(a) => {
                let plan = compare::plan_sweep(&a)?;
                plan_and_run(&plan, &a.out, None, a.flags.quiet, true, None).map(drop)
            }
            PlanWhat::Reproduce(a) => {
                let (plan, out) = reproduce::plan_reproduce(&a)?;
                plan_and_run(&plan, &out, None, a.quiet, true, None).map(drop)
            }
        },
        GridCommand::Run(a) => {
            let plan = GridPlan::read(&a.dir)?;
            let which: Vec<usize> = match a.cell {
                Some(k) => {
                    plan.cell(k)?;
                    vec![k]
                }
                None => (0..plan.cells.len()).collect(),
            };
            if let Some(k) = a.cell {
                if plan.finished(&a.dir, &plan.cells[k])?.is_some() {
                    if !a.quiet {
                        eprintln!(
                            "already finished: cell {k} ({}) of {}",
                            plan.cells[k].label,
                            a.dir.display()
                        );
                    }
                    return Ok(());
                }
            }
            let tag = a.tag.as_deref();
            run_cells(&plan, &a.dir, &which, compare::jobs(a.jobs), a.quiet, tag)
        }
        GridCommand::Status(a) => status(&a.dir),
        GridCommand::Collect(a) => {
            let plan = GridPlan::read(&a.dir)?;
            let c = crate::grid::collect(&plan, &a.dir)?;
            show(&c, &a.dir, a.quiet);
            Ok(())
        }
        GridCommand::Commands(a) => {
            let plan = GridPlan::read(&a.dir)?;
            let (exe, dir) = (exe()?, absolute(&a.dir));
            for k in 0..plan.cells.len() {
                println!(
                    "{} grid run {} --cell {k}",
                    quote(&exe.display().to_string()),
                    quote(&dir.display().to_string())
                );
            }
            Ok(())
        }
        GridCommand::Slurm(a) => slurm(&a),
    }
}

/// Cells at once by default: the cores over one cell's compute threads, at least one.
pub(super) fn default_jobs(threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / threads.max(1)).max(1)
}

/// This program, as children and scripts start it.
fn exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().map_err(|e| anyhow!("cannot find the synaptic program's path: {e}"))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// `s` quoted for a POSIX shell where it needs quoting.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=,:+@%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `grid status DIR`: counts, then one line per cell.
fn status(dir: &Path) -> anyhow::Result<()> {
    let plan = GridPlan::read(dir)?;
    let states: Vec<CellState> = plan.cells.iter().map(|c| cell_state(dir, c)).collect();
    let count = |w: &str| states.iter().filter(|s| s.word() == w).count();
    println!(
        "{} ({} grid, {} cells): {} finished, {} running, {} interrupted, {} pending",
        dir.display(),
        plan.kind.command(),
        plan.cells.len(),
        count("finished"),
        count("running"),
        count("interrupted"),
        count("pending")
    );
    let width = plan.cells.iter().map(|c| c.label.len()).max().unwrap_or(0);
    for (k, (cell, state)) in plan.cells.iter().zip(&states).enumerate() {
        let tasks = cell.config.tasks;
        let detail = match state {
            CellState::Finished => format!("{tasks}/{tasks} tasks"),
            CellState::Running { holder, tasks_done } => {
                format!("{tasks_done}/{tasks} tasks, {holder}")
            }
            CellState::Interrupted { tasks_done } => {
                format!("{tasks_done}/{tasks} tasks, resumes from its checkpoint")
            }
            CellState::Pending => format!("0/{tasks} tasks"),
        };
        println!(
            "{k:>4}  {:<width$}  {:<11}  {detail}",
            cell.label,
            state.word()
        );
    }
    Ok(())
}

/// A running child: its cell and process.
struct Running {
    cell: usize,
    child: Child,
    bar: Option<ProgressBar>,
    last_error: Option<String>,
}

/// Runs the cells `pending` of `plan` as child processes (`grid run DIR --cell K`), `jobs` at
/// once, showing one line per running cell and an overall bar; a Ctrl-C or SIGTERM is passed on
/// to the children (each checkpoints), then the grid stops with the rerun hint.
pub(super) fn run_children(
    plan: &GridPlan,
    dir: &Path,
    pending: &[usize],
    jobs: usize,
    quiet: bool,
) -> anyhow::Result<()> {
    let exe = exe()?;
    let stop = interrupt_flag();
    let multi = (!quiet && std::io::stderr().is_terminal()).then(MultiProgress::new);
    let overall = multi.as_ref().map(|m| {
        let b = m.add(ProgressBar::new(pending.len() as u64));
        b.set_style(
            ProgressStyle::with_template("grid {bar:30} {pos}/{len} cells  {elapsed_precise}")
                .expect("a valid template"),
        );
        b
    });
    if !quiet {
        eprintln!(
            "{} cells to run, {jobs} at once (one process each) in {}",
            pending.len(),
            dir.display()
        );
    }
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    let mut queue = pending.iter().copied();
    let total = plan.cells.len();
    let mut running: HashMap<u32, Running> = HashMap::new();
    let mut forwarded = false;
    let mut failed: Vec<String> = Vec::new();
    let mut was_interrupted = false;
    loop {
        let stopping = stop.load(Ordering::SeqCst) || !failed.is_empty();
        while !stopping && running.len() < jobs {
            let Some(k) = queue.next() else { break };
            let mut cmd = Command::new(&exe);
            cmd.arg("grid")
                .arg("run")
                .arg(dir)
                .arg("--cell")
                .arg(k.to_string())
                .arg("--tag")
                .arg(format!("[{}/{total}]", k + 1))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            if quiet {
                cmd.arg("--quiet");
            }
            #[cfg(unix)]
            {
                // Its own process group: a Ctrl-C at the terminal reaches the children once,
                // through this process, not twice (a second one would skip their checkpoint).
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
            }
            let mut child = cmd
                .spawn()
                .map_err(|e| anyhow!("cannot start {}: {e}", exe.display()))?;
            let err = child.stderr.take().expect("piped");
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if tx.send((k, line)).is_err() {
                        break;
                    }
                }
            });
            let bar = multi.as_ref().map(|m| {
                let b = m.insert_from_back(1, ProgressBar::new_spinner());
                b.set_style(ProgressStyle::with_template("  {prefix}: {wide_msg}").expect("valid"));
                b.set_prefix(plan.cells[k].label.clone());
                b.set_message("starting");
                b
            });
            running.insert(
                child.id(),
                Running {
                    cell: k,
                    child,
                    bar,
                    last_error: None,
                },
            );
        }
        if running.is_empty() {
            break;
        }
        if stop.load(Ordering::SeqCst) && !forwarded {
            forwarded = true;
            for pid in running.keys() {
                terminate(*pid);
            }
        }
        // Wait at most 100 ms, then take only what is queued: children printing steadily must
        // not keep this loop from forwarding a stop or noticing an ended child.
        let first = rx.recv_timeout(Duration::from_millis(100)).ok();
        for (k, line) in first
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()))
        {
            let Some(r) = running.values_mut().find(|r| r.cell == k) else {
                continue;
            };
            if line.starts_with("error: ") {
                r.last_error = Some(line.clone());
            }
            match (&r.bar, quiet) {
                (Some(b), _) => b.set_message(line),
                (None, false) => eprintln!("[{}] {line}", plan.cells[k].label),
                (None, true) => {
                    if line.starts_with("error: ") {
                        eprintln!("[{}] {line}", plan.cells[k].label)
                    }
                }
            }
        }
        let mut ended = Vec::new();
        for (&pid, r) in running.iter_mut() {
            if let Some(status) = r.child.try_wait()? {
                ended.push((pid, status.code()));
            }
        }
        for (pid, code) in ended {
            let mut r = running.remove(&pid).expect("listed");
            // The rest of its output.
            while let Ok((k, line)) = rx.try_recv() {
                if line.starts_with("error: ") {
                    if let Some(o) = running.values_mut().find(|o| o.cell == k) {
                        o.last_error = Some(line);
                    } else if k == r.cell {
                        r.last_error = Some(line);
                    }
                }
            }
            let label = &plan.cells[r.cell].label;
            if let Some(b) = &r.bar {
                b.finish_and_clear();
            }
            match code {
                Some(0) => {
                    if let Some(o) = &overall {
                        o.inc(1);
                        o.println(format!("finished {label}"));
                    } else if !quiet {
                        eprintln!("[{label}] finished");
                    }
                }
                Some(EXIT_INTERRUPTED) => was_interrupted = true,
                _ => failed.push(format!(
                    "cell {} ({label}) failed: {}",
                    r.cell,
                    r.last_error
                        .as_deref()
                        .map_or("see its output above".to_string(), |e| e
                            .trim_start_matches("error: ")
                            .to_string())
                )),
            }
        }
    }
    if let Some(o) = overall {
        o.finish_and_clear();
    }
    if let Some(first) = failed.first() {
        bail!("{first}");
    }
    if was_interrupted || stop.load(Ordering::SeqCst) {
        return Err(interrupted().into());
    }
    Ok(())
}

/// Asks the child `pid` to checkpoint and stop (SIGTERM).
fn terminate(pid: u32) {
    #[cfg(unix)]
    // SAFETY: kill only sends a signal; the pid is a child this process has not yet reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// `grid slurm DIR`: writes DIR/slurm/array.sbatch and, with --submit, submits it.
fn slurm(a: &SlurmArgs) -> anyhow::Result<()> {
    let plan = GridPlan::read(&a.dir)?;
    let n = plan.cells.len();
    if n == 0 {
        bail!("{} plans no cells", a.dir.display());
    }
    let dir = absolute(&a.dir);
    let cpus = a
        .cpus_per_task
        .unwrap_or_else(|| plan.cells[0].config.compute_threads());
    if cpus == 0 || a.max_parallel == Some(0) {
        bail!("--cpus-per-task and --max-parallel must be at least 1");
    }
    let script = sbatch_script(&exe()?, &dir, n, cpus, a);
    let folder = dir.join("slurm");
    std::fs::create_dir_all(&folder)
        .map_err(|e| anyhow!("cannot create {}: {e}", folder.display()))?;
    let path = folder.join("array.sbatch");
    crate::fsutil::write_atomic(&path, script.as_bytes())
        .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    if !a.submit {
        println!(
            "wrote {}: submit it with `sbatch {}` (cell logs: {}/cell-K.out)",
            path.display(),
            quote(&path.display().to_string()),
            folder.display()
        );
        return Ok(());
    }
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(|e| {
            anyhow!(
                "cannot run sbatch ({e}): is Slurm installed here? the script is {}",
                path.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "sbatch refused {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    println!("{id}");
    Ok(())
}

/// The sbatch script of an array of `n` cells of the grid in `dir`.
fn sbatch_script(exe: &Path, dir: &Path, n: usize, cpus: usize, a: &SlurmArgs) -> String {
    let logs = dir.join("slurm");
    let limit = a.max_parallel.map(|k| format!("%{k}")).unwrap_or_default();
    let mut head = vec![
        "#!/bin/bash".to_string(),
        "#SBATCH --job-name=synaptic-grid".to_string(),
        format!("#SBATCH --array=0-{}{limit}", n - 1),
        format!("#SBATCH --cpus-per-task={cpus}"),
        "#SBATCH --ntasks=1".to_string(),
        // Preempted or out of time: requeued, and the cell resumes from its checkpoint.
        "#SBATCH --requeue".to_string(),
        "#SBATCH --open-mode=append".to_string(),
        format!("#SBATCH --output={}/cell-%a.out", logs.display()),
        // SIGTERM to this script 90 s before the time limit, time enough to checkpoint.
        "#SBATCH --signal=B:TERM@90".to_string(),
    ];
    if let Some(p) = &a.partition {
        head.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(t) = &a.time {
        head.push(format!("#SBATCH --time={t}"));
    }
    format!(
        r#"{head}

# Written by `synaptic grid slurm`: cell $SLURM_ARRAY_TASK_ID of the grid {dir}.
# A SIGTERM (preemption, the time limit, scancel --batch --signal=TERM) is passed to the cell,
# which checkpoints and exits 130; the task is then requeued and resumes from the checkpoint.
# A finished cell is skipped; a cell another process runs is refused (its lock).
set -u
echo "cell $SLURM_ARRAY_TASK_ID on $(hostname) (restart ${{SLURM_RESTART_COUNT:-0}}), $(date -u +%FT%TZ)"
{exe} grid run {qdir} --cell "$SLURM_ARRAY_TASK_ID" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
wait "$child"
rc=$?
# A trapped signal ends `wait` early: wait for the cell itself.
while kill -0 "$child" 2>/dev/null; do
    wait "$child"
    rc=$?
done
if [ "$rc" -eq {code} ]; then
    echo "cell $SLURM_ARRAY_TASK_ID interrupted after a checkpoint: requeueing"
    scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}"
fi
exit "$rc"
"#,
        head = head.join("\n"),
        dir = dir.display(),
        exe = quote(&exe.display().to_string()),
        qdir = quote(&dir.display().to_string()),
        code = EXIT_INTERRUPTED,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sbatch_script_is_an_array_that_requeues_an_interrupted_cell() {
        let a = SlurmArgs {
            dir: "g".into(),
            partition: Some("debug".into()),
            cpus_per_task: None,
            max_parallel: Some(2),
            time: Some("0:10:00".into()),
            submit: false,
        };
        let s = sbatch_script(Path::new("/bin/syn aptic"), Path::new("/w/g"), 4, 1, &a);
        for line in [
            "#SBATCH --array=0-3%2",
            "#SBATCH --cpus-per-task=1",
            "#SBATCH --requeue",
            "#SBATCH --output=/w/g/slurm/cell-%a.out",
            "#SBATCH --partition=debug",
            "#SBATCH --time=0:10:00",
            "#SBATCH --signal=B:TERM@90",
            "'/bin/syn aptic' grid run /w/g --cell \"$SLURM_ARRAY_TASK_ID\" &",
            "if [ \"$rc\" -eq 130 ]; then",
            "    scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line:?} in:\n{s}");
        }
        assert!(s.starts_with("#!/bin/bash\n"));
    }

    #[test]
    fn words_are_quoted_only_when_a_shell_needs_it() {
        assert_eq!(quote("/a/b-c_1.x"), "/a/b-c_1.x");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
