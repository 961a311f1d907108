//! Live logs of a run, for watching it while it trains: TensorBoard event files and a CSV of the
//! same scalars, written by [`RunLog`], an [`Observer`] of the training loop (which itself knows
//! nothing of files).
//!
//! Scalars, each at the run's optimizer step count (so that every curve shares one x axis, and a
//! task boundary falls every `steps per epoch × epochs` steps):
//! `train/loss` and `train/penalty` every `log_every` steps, `train/epoch_loss` after every
//! epoch, `accuracy/task_NN` for every task and `accuracy/mean_seen` (over the tasks trained so
//! far) after every task, and `metrics/acc`, `metrics/bwt`, `metrics/forgetting` and
//! `metrics/fwt` after the last task. The run's settings go in as text (tag `config`, step 0).
//!
//! A resumed run keeps, of the files already there, only what lies at or before its checkpoint,
//! and writes the rest into a new event file, so that no step appears twice.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::names::UnknownName;
use crate::train::{EpochReport, Observer, Position, StepSample};

pub mod csv;
pub mod proto;
pub mod tensorboard;
pub mod tfrecord;

use proto::{Data, Value};

/// File name of the CSV inside a run's log folder.
pub const CSV_FILE: &str = "scalars.csv";
/// Steps between two samples of the training loss unless `log_every` says otherwise.
pub const DEFAULT_EVERY: usize = 50;

/// A live-log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// TensorBoard event files.
    Tensorboard,
    /// `scalars.csv`.
    Csv,
}

impl std::str::FromStr for LogFormat {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        match s.trim() {
            "tensorboard" => Ok(Self::Tensorboard),
            "csv" => Ok(Self::Csv),
            other => Err(UnknownName::new(
                "log format",
                other,
                &["tensorboard", "csv"],
            )),
        }
    }
}

/// Which live logs a run writes: config keys `log` (formats) and `log_every`.
///
/// Logs watch a run without changing what it computes, so they are no part of its identity:
/// two configs that differ only here compare equal (a grid finished without logs is still done
/// when rerun with them, and an interrupted one resumes with or without them).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LiveLogs {
    /// The formats written (none: no logs). A config file may give a list or one
    /// comma-separated string.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "formats"
    )]
    pub log: Vec<LogFormat>,
    /// Optimizer steps between two samples of the training loss and penalty.
    #[serde(default = "default_every", skip_serializing_if = "is_default_every")]
    pub log_every: usize,
}

impl Default for LiveLogs {
    fn default() -> Self {
        LiveLogs {
            log: Vec::new(),
            log_every: DEFAULT_EVERY,
        }
    }
}

impl PartialEq for LiveLogs {
    /// Always: see the type's documentation.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl LiveLogs {
    /// Whether any log is written.
    pub fn any(&self) -> bool {
        !self.log.is_empty()
    }

    /// Whether `format` is written.
    pub fn has(&self, format: LogFormat) -> bool {
        self.log.contains(&format)
    }
}

fn default_every() -> usize {
    DEFAULT_EVERY
}

fn is_default_every(n: &usize) -> bool {
    *n == DEFAULT_EVERY
}

/// Formats from a list of names or one comma-separated string; repeats count once.
fn formats<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<LogFormat>, D::Error> {
    struct Names;
    impl<'de> serde::de::Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of log formats (tensorboard, csv) or one comma-separated string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Vec<String>, E> {
            Ok(s.split(',').map(str::to_string).collect())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(s) = a.next_element::<String>()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    let mut out: Vec<LogFormat> = Vec::new();
    for name in d.deserialize_any(Names)? {
        let f: LogFormat = name.parse().map_err(serde::de::Error::custom)?;
        if !out.contains(&f) {
            out.push(f);
        }
    }
    Ok(out)
}

/// Why a live log could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file or folder could not be written.
    #[error("cannot write live log {}: {error}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// A file or folder could not be read.
    #[error("cannot read live log {}: {error}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// What the file system said.
        error: std::io::Error,
    },
    /// A file does not hold what it should.
    #[error("live log {} is corrupt: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Writes a run's live logs into one folder as the loop reports; see the module documentation
/// for what it writes. A write that fails stops the logging (never the run); [`RunLog::finish`]
/// returns that error.
pub struct RunLog {
    dir: PathBuf,
    logs: LiveLogs,
    config_text: String,
    events: Option<tensorboard::EventWriter>,
    csv: Option<csv::CsvWriter>,
    /// The untrained model's accuracy and the accuracy matrix so far, for the final metrics.
    initial: Vec<f64>,
    rows: Vec<Vec<f64>>,
    /// Optimizer steps of the run so far.
    steps: usize,
    error: Option<LogError>,
}

impl RunLog {
    /// Logs `logs`' formats into `dir` (created now); `config`, the run's settings, goes in as
    /// text. Nothing is written or removed until the loop starts.
    pub fn create(dir: &Path, logs: &LiveLogs, config: &impl Serialize) -> Result<Self, LogError> {
        std::fs::create_dir_all(dir).map_err(|error| LogError::Write {
            path: dir.to_path_buf(),
            error,
        })?;
        Ok(RunLog {
            dir: dir.to_path_buf(),
            logs: logs.clone(),
            config_text: config_markdown(config),
            events: None,
            csv: None,
            initial: Vec::new(),
            rows: Vec::new(),
            steps: 0,
            error: None,
        })
    }

    /// Ends the logs: the first write that failed, if one did.
    pub fn finish(self) -> Result<(), LogError> {
        self.error.map_or(Ok(()), Err)
    }

    /// A fresh run clears older logs of the folder; a resumed one keeps what lies at or before
    /// its position. Then a new event file and the CSV are opened.
    fn open(&mut self, resumed: bool) -> Result<(), LogError> {
        let at = self.steps as i64;
        let mut has_config = false;
        for path in tensorboard::event_files(&self.dir)? {
            if resumed {
                has_config |= tensorboard::truncate_after(&path, at)?.contains(CONFIG_TAG);
            } else {
                remove(&path)?;
            }
        }
        let csv_path = self.dir.join(CSV_FILE);
        if resumed {
            csv::truncate_after(&csv_path, at)?;
        } else if csv_path.exists() {
            remove(&csv_path)?;
        }
        if self.logs.has(LogFormat::Tensorboard) {
            let mut w = tensorboard::EventWriter::create(&self.dir)?;
            if !has_config {
                let text = Value {
                    tag: CONFIG_TAG.into(),
                    data: Data::Text(self.config_text.clone()),
                };
                w.values(0, tensorboard::now(), vec![text])?;
            }
            self.events = Some(w);
        }
        if self.logs.has(LogFormat::Csv) {
            self.csv = Some(csv::CsvWriter::append(&csv_path)?);
        }
        Ok(())
    }

    /// Writes `values` at `step` into every open log; the first failure stops the logging.
    fn record(&mut self, step: usize, values: Vec<(String, f64)>) {
        if self.error.is_some() {
            return;
        }
        let wall = tensorboard::now();
        let step = step as i64;
        let mut result = Ok(());
        if let Some(w) = &mut self.events {
            let vs = values
                .iter()
                .map(|(tag, v)| Value {
                    tag: tag.clone(),
                    data: Data::Scalar(*v as f32),
                })
                .collect();
            result = w.values(step, wall, vs);
        }
        if let (Ok(()), Some(c)) = (&result, &mut self.csv) {
            result = c.rows(step, wall, &values);
        }
        if let Err(e) = result {
            self.stop(e);
        }
    }

    fn stop(&mut self, e: LogError) {
        self.events = None;
        self.csv = None;
        self.error.get_or_insert(e);
    }
}

/// Tag of the run's settings.
const CONFIG_TAG: &str = "config";

fn remove(path: &Path) -> Result<(), LogError> {
    std::fs::remove_file(path).map_err(|error| LogError::Write {
        path: path.to_path_buf(),
        error,
    })
}

/// The tag of task `j`'s accuracy (0-based `j` of `tasks`), numbered from 1 and zero-padded so
/// that TensorBoard lists them in order.
fn task_tag(j: usize, tasks: usize) -> String {
    let width = tasks.to_string().len().max(2);
    format!("accuracy/task_{:0width$}", j + 1)
}

/// The settings as a markdown table for TensorBoard's text plugin.
fn config_markdown(config: &impl Serialize) -> String {
    let mut text = format!(
        "synaptic {} run settings\n\n| setting | value |\n|---|---|\n",
        env!("CARGO_PKG_VERSION")
    );
    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(config) {
        for (k, v) in m {
            let v = match v {
                serde_json::Value::String(s) => s,
                v => v.to_string(),
            };
            text.push_str(&format!("| {k} | {v} |\n"));
        }
    }
    text
}

impl Observer for RunLog {
    fn start(&mut self, at: &Position, resumed: bool) {
        self.steps = at.outcome.steps;
        self.initial = at.outcome.initial_accuracy.clone();
        self.rows = at.outcome.accuracy_matrix.clone();
        if let Err(e) = self.open(resumed) {
            self.stop(e);
        }
    }

    fn step(&mut self, _loss: f64) -> bool {
        self.steps += 1;
        true
    }

    fn sample_every(&self) -> Option<usize> {
        Some(self.logs.log_every)
    }

    fn sample(&mut self, s: &StepSample) {
        let mut values = vec![("train/loss".to_string(), s.loss)];
        if let Some(p) = s.penalty {
            values.push(("train/penalty".into(), p));
        }
        self.record(s.step, values);
    }

    fn epoch_end(&mut self, r: &EpochReport) {
        self.record(self.steps, vec![("train/epoch_loss".into(), r.loss)]);
    }

    fn task_end(&mut self, task: usize, accuracies: &[f64]) {
        let tasks = accuracies.len();
        let mut values: Vec<(String, f64)> = accuracies
            .iter()
            .enumerate()
            .map(|(j, &a)| (task_tag(j, tasks), a))
            .collect();
        let seen = &accuracies[..=task.min(tasks.saturating_sub(1))];
        values.push((
            "accuracy/mean_seen".into(),
            seen.iter().sum::<f64>() / seen.len().max(1) as f64,
        ));
        self.rows.push(accuracies.to_vec());
        if task + 1 == tasks && self.rows.len() == tasks && self.initial.len() == tasks {
            let m = crate::metrics::compute(&self.rows, &self.initial);
            values.extend([
                ("metrics/acc".to_string(), m.average_accuracy),
                ("metrics/bwt".into(), m.backward_transfer),
                ("metrics/forgetting".into(), m.forgetting),
                ("metrics/fwt".into(), m.forward_transfer),
            ]);
        }
        self.record(self.steps, values);
    }
}

#[cfg(test)]
mod tests;
