//! Progress display: an indicatif bar on a terminal, one plain line per epoch otherwise; and
//! the byte bar of `synaptic data fetch`.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::RunConfig;
use crate::data::fetch::{DownloadProgress, ProgressFactory};
use crate::train::{EpochReport, Observer};

/// Shows training progress on stderr.
pub struct Progress {
    bar: Option<ProgressBar>,
    quiet: bool,
    tasks: usize,
    task_name: String,
    loss_sum: f64,
    loss_n: usize,
    steps_per_epoch: usize,
    epochs: usize,
    done: usize,
}

impl Progress {
    /// A bar if stderr is a terminal and not `quiet`; plain lines otherwise.
    pub fn new(cfg: &RunConfig, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} steps {per_sec} eta {eta} {msg}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b
        });
        Progress {
            bar,
            quiet,
            tasks: cfg.tasks,
            task_name: String::new(),
            loss_sum: 0.0,
            loss_n: 0,
            steps_per_epoch: 1,
            epochs: 1,
            done: 0,
        }
    }

    /// One line saying what is about to run.
    pub fn header(&self, cfg: &RunConfig, data: &std::path::Path) {
        if self.quiet {
            return;
        }
        eprintln!(
            "synaptic {}: {} / {}{} / {} scenario, seed {}, {} x {}, batch {}, lr {}, data {}",
            env!("CARGO_PKG_VERSION"),
            cfg.benchmark.name(),
            cfg.method.name(),
            match cfg.method_summary() {
                s if s.is_empty() => s,
                s => format!(" {s}"),
            },
            cfg.scenario,
            cfg.train.seed,
            crate::plural::plural(cfg.tasks, "task"),
            crate::plural::plural(cfg.train.epochs, "epoch"),
            cfg.train.batch_size,
            cfg.train.lr,
            data.display()
        );
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn task_start(&mut self, task: usize, name: &str, steps: usize, epochs: usize) {
        self.task_name = name.to_string();
        self.steps_per_epoch = steps.max(1);
        self.loss_sum = 0.0;
        self.loss_n = 0;
        self.epochs = epochs;
        self.done = 0;
        if let Some(b) = &self.bar {
            b.set_length(steps.saturating_mul(epochs) as u64);
            b.set_position(0);
            b.reset_eta();
            b.set_prefix(format!("task {}/{} ({name})", task + 1, self.tasks));
        }
    }

    fn step(&mut self, loss: f64) -> bool {
        if let Some(b) = &self.bar {
            self.loss_sum += loss;
            self.loss_n += 1;
            self.done += 1;
            if self.loss_n == 20 {
                let epoch = (self.done - 1) / self.steps_per_epoch + 1;
                b.set_message(format!(
                    "epoch {epoch}/{} loss {:.4}",
                    self.epochs,
                    self.loss_sum / 20.0
                ));
                self.loss_sum = 0.0;
                self.loss_n = 0;
            }
            b.inc(1);
        }
        true
    }

    fn epoch_end(&mut self, r: &EpochReport) {
        let line = format!(
            "task {}/{} ({}) epoch {}/{}: loss {:.4} penalty {:.3e} {:.0} steps/s",
            r.task + 1,
            r.tasks,
            self.task_name,
            r.epoch + 1,
            r.epochs,
            r.loss,
            r.penalty,
            r.steps_per_second
        );
        match &self.bar {
            Some(b) => b.println(line),
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    fn importance_start(&mut self, task: usize, samples: usize) {
        let line = format!(
            "task {}/{} ({}): measuring importance on {}",
            task + 1,
            self.tasks,
            self.task_name,
            crate::plural::plural(samples, "example")
        );
        match &self.bar {
            Some(b) => {
                b.set_message("measuring importance".to_string());
                b.println(line)
            }
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }

    fn task_end(&mut self, task: usize, acc: &[f64]) {
        let seen: Vec<String> = acc[..=task].iter().map(|a| format!("{a:.4}")).collect();
        let mean = acc[..=task].iter().sum::<f64>() / (task + 1) as f64;
        let line = format!(
            "after task {}/{}: accuracy on tasks seen [{}], mean {mean:.4}",
            task + 1,
            self.tasks,
            seen.join(", ")
        );
        match &self.bar {
            Some(b) => b.println(line),
            None if !self.quiet => eprintln!("{line}"),
            None => {}
        }
    }
}

/// A download's byte bar on stderr; made only where stderr is a terminal.
pub(super) struct DownloadBar {
    name: String,
    // Made at the first request, once the file's size is known.
    bar: Option<ProgressBar>,
}

impl DownloadBar {
    /// What `synaptic data fetch` shows: a bar per file on a terminal, the library's lines
    /// otherwise.
    pub(super) fn factory() -> Option<ProgressFactory> {
        std::io::stderr().is_terminal().then(|| {
            Arc::new(|name: &str| {
                Box::new(DownloadBar {
                    name: name.to_string(),
                    bar: None,
                }) as Box<dyn DownloadProgress>
            }) as ProgressFactory
        })
    }
}

impl DownloadProgress for DownloadBar {
    fn start(&mut self, _url: &str, from: u64, total: Option<u64>) {
        let b = self.bar.get_or_insert_with(|| {
            let b = ProgressBar::new(total.unwrap_or(0));
            b.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_message(self.name.clone());
            b
        });
        b.set_length(total.unwrap_or(0));
        b.set_position(from);
    }

    fn advance(&mut self, pos: u64) {
        if let Some(b) = &self.bar {
            b.set_position(pos);
        }
    }

    fn note(&mut self, msg: &str) {
        match &self.bar {
            Some(b) => b.println(msg),
            None => eprintln!("{msg}"),
        }
    }

    fn finish(&mut self, bytes: u64) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        eprintln!("{}: {bytes} bytes downloaded", self.name);
    }

    fn abandon(&mut self) {
        if let Some(b) = &self.bar {
            b.abandon();
        }
    }
}
