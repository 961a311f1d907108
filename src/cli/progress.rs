//! Progress display: an indicatif bar on a terminal, one plain line per epoch otherwise; and
//! the byte bar of `synaptic data fetch`.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::RunConfig;
use crate::data::fetch::{DownloadProgress, ProgressFactory};
use crate::train::{EpochReport, Observer};

/// Shows a user's images decoding: a bar on a terminal; otherwise a line when it starts and
/// one when it is done (large folders take a while, and a log should say why).
pub struct DecodeProgress {
    bar: Option<ProgressBar>,
    quiet: bool,
    path: String,
    started: std::time::Instant,
    /// Images in all, once the loader has said.
    total: std::sync::atomic::AtomicUsize,
}

impl DecodeProgress {
    /// Progress of reading `path`; silent when `quiet`.
    pub fn new(path: &std::path::Path, quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let b = ProgressBar::new(0);
            b.set_style(
                ProgressStyle::with_template(
                    "decoding {msg} [{bar:30}] {pos}/{len} images {per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_message(path.display().to_string());
            b
        });
        DecodeProgress {
            bar,
            quiet,
            path: path.display().to_string(),
            started: std::time::Instant::now(),
            total: std::sync::atomic::AtomicUsize::new(usize::MAX),
        }
    }

    /// `done` of `total` images decoded (the loader calls this as it goes).
    pub fn update(&self, done: usize, total: usize) {
        use std::sync::atomic::Ordering;
        let first = self.total.swap(total, Ordering::Relaxed) == usize::MAX;
        match &self.bar {
            Some(b) => {
                b.set_length(total as u64);
                b.set_position(done as u64);
            }
            None if first && !self.quiet => {
                eprintln!("decoding {} images of {}", total, self.path)
            }
            None => {}
        }
    }

    /// Clears the bar, or says how long decoding took.
    pub fn finish(&self) {
        use std::sync::atomic::Ordering;
        match &self.bar {
            Some(b) => b.finish_and_clear(),
            None => {
                let total = self.total.load(Ordering::Relaxed);
                if !self.quiet && total != usize::MAX {
                    eprintln!(
                        "decoded {total} images in {:.1}s",
                        self.started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}

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
                    "{prefix} [{bar:30}] {pos}/{len} steps {rate} eta {eta} {msg}",
                )
                .expect("valid template")
                .with_key(
                    "rate",
                    |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&rate_text(s.per_sec()));
                    },
                )
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
        // A split that is not the published one, or rotations: what each task holds.
        if let Ok(p) = cfg.protocol() {
            if let Some(note) = p.split_note(cfg.tasks) {
                eprintln!("tasks: {note}");
            }
            if let Some(a) = p.layout(cfg.tasks).task_angles {
                let a: Vec<String> = a
                    .into_iter()
                    .map(crate::scenario::rotate::degrees)
                    .collect();
                eprintln!("tasks: rotations {}", a.join(", "));
            }
        }
    }

    /// Adds the loss of step `self.done` (1-based within the task) to the epoch's mean; every
    /// 20 steps and at an epoch's last step, the bar's message: the epoch's mean loss so far,
    /// which at the epoch's end is the number its epoch line prints.
    fn bar_message(&mut self, loss: f64) -> Option<String> {
        let in_epoch = (self.done - 1) % self.steps_per_epoch;
        if in_epoch == 0 {
            self.loss_sum = 0.0;
            self.loss_n = 0;
        }
        self.loss_sum += loss;
        self.loss_n += 1;
        let last = in_epoch + 1 == self.steps_per_epoch;
        (self.loss_n.is_multiple_of(20) || last).then(|| {
            let epoch = (self.done - 1) / self.steps_per_epoch + 1;
            format!(
                "epoch {epoch}/{} loss {}",
                self.epochs,
                loss_text(self.loss_sum / self.loss_n as f64)
            )
        })
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
        if self.bar.is_some() {
            self.done += 1;
            let msg = self.bar_message(loss);
            if let Some(b) = &self.bar {
                if let Some(msg) = msg {
                    b.set_message(msg);
                }
                b.inc(1);
            }
        }
        true
    }

    fn epoch_end(&mut self, r: &EpochReport) {
        let line = format!(
            "task {}/{} ({}) epoch {}/{}: loss {} penalty {:.3e} {}",
            r.task + 1,
            r.tasks,
            self.task_name,
            r.epoch + 1,
            r.epochs,
            loss_text(r.loss),
            r.penalty,
            rate_text(r.steps_per_second)
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

/// A loss as the bar and the epoch lines show it: four decimals, or four significant digits
/// below 0.001 (so that a small loss never reads 0.0000).
pub(super) fn loss_text(loss: f64) -> String {
    if loss == 0.0 || !loss.is_finite() || loss.abs() >= 1e-3 {
        format!("{loss:.4}")
    } else {
        format!("{loss:.3e}")
    }
}

/// Steps per second with the digits that mean something: `590 steps/s`, `4.2 steps/s`,
/// `0.51 steps/s`.
pub(super) fn rate_text(per_sec: f64) -> String {
    if !per_sec.is_finite() {
        "- steps/s".into()
    } else if per_sec >= 10.0 {
        format!("{per_sec:.0} steps/s")
    } else if per_sec >= 1.0 {
        format!("{per_sec:.1} steps/s")
    } else {
        format!("{per_sec:.2} steps/s")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn losses_and_rates_read_with_meaningful_digits() {
        assert_eq!(loss_text(0.0258), "0.0258");
        assert_eq!(loss_text(1.234567), "1.2346");
        // A small loss keeps its digits instead of reading 0.0000.
        assert_eq!(loss_text(0.0000412), "4.120e-5");
        assert_eq!(loss_text(0.0006), "6.000e-4");
        assert_eq!(loss_text(0.0), "0.0000");
        assert_eq!(rate_text(589.9723), "590 steps/s");
        assert_eq!(rate_text(4.2345), "4.2 steps/s");
        assert_eq!(rate_text(0.5123), "0.51 steps/s");
        assert_eq!(rate_text(f64::INFINITY), "- steps/s");
    }

    #[test]
    fn the_bar_shows_the_epochs_mean_loss_which_its_epoch_line_shows_at_the_end() {
        let mut p = Progress {
            bar: None,
            quiet: true,
            tasks: 1,
            task_name: String::new(),
            loss_sum: 0.0,
            loss_n: 0,
            steps_per_epoch: 1,
            epochs: 1,
            done: 0,
        };
        Observer::task_start(&mut p, 0, "t", 30, 2);
        // Epoch 1: a large loss first, then tiny ones (the last 20 alone would read 0.0000).
        let losses: Vec<f64> = (0..30)
            .map(|i| if i == 0 { 0.0174 } else { 1e-6 })
            .collect();
        let mut shown = Vec::new();
        for &l in &losses {
            p.done += 1;
            shown.extend(p.bar_message(l));
        }
        let mean = losses.iter().sum::<f64>() / 30.0;
        assert_eq!(
            shown,
            [
                format!("epoch 1/2 loss {}", loss_text((0.0174 + 19e-6) / 20.0)),
                format!("epoch 1/2 loss {}", loss_text(mean)),
            ]
        );
        assert_eq!(loss_text(mean), "5.810e-4");
        // Epoch 2 starts a new mean.
        p.done += 1;
        assert_eq!(p.bar_message(0.5), None);
        assert_eq!(p.loss_n, 1);
    }
}
