//! TensorBoard event files: `events.out.tfevents.<unix seconds>.<hostname>` in a run's log
//! folder, one TFRecord per event, flushed as the run goes so that a running TensorBoard sees
//! every point; and the reading back that a resumed run needs to drop what followed its
//! checkpoint.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::proto::{Body, Event, Value};
use super::tfrecord::{frame, records};
use super::LogError;

/// The format version TensorBoard expects in an event file's first event.
pub const FILE_VERSION: &str = "brain.Event:2";

/// Whether `name` is an event file by TensorBoard's rule (its name contains `tfevents`).
pub fn is_event_file(name: &str) -> bool {
    name.contains("tfevents")
}

/// The event files in `dir`, in TensorBoard's reading order (by name; the zero-padded time in
/// the name makes that the order they were written in).
pub fn event_files(dir: &Path) -> Result<Vec<PathBuf>, LogError> {
    let read = |error| LogError::Read {
        path: dir.to_path_buf(),
        error,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let entry = entry.map_err(read)?;
        let name = entry.file_name();
        if is_event_file(&name.to_string_lossy()) && entry.path().is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Seconds since the Unix epoch, now.
pub(super) fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// This machine's name for event file names (`localhost` if it cannot be found), made safe
/// as part of a file name.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into());
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Writes one event file.
pub struct EventWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl EventWriter {
    /// A new event file in `dir` (`events.out.tfevents.<unix seconds>.<hostname>`, with `.1`,
    /// `.2`, … appended when a file of that name exists), opened with the file-version event.
    pub fn create(dir: &Path) -> Result<Self, LogError> {
        let wall = now();
        let base = format!("events.out.tfevents.{:010}.{}", wall as u64, hostname());
        let mut k = 0;
        let (path, file) = loop {
            let name = match k {
                0 => base.clone(),
                k => format!("{base}.{k}"),
            };
            let path = dir.join(name);
            match File::create_new(&path) {
                Ok(f) => break (path, f),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && k < 1000 => k += 1,
                Err(error) => return Err(LogError::Write { path, error }),
            }
        };
        let mut w = EventWriter {
            path,
            file: BufWriter::new(file),
        };
        w.write(&Event {
            wall_time: wall,
            step: 0,
            body: Body::FileVersion(FILE_VERSION.into()),
        })?;
        Ok(w)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `values` as one event at `step`, and flushes.
    pub fn values(
        &mut self,
        step: i64,
        wall_time: f64,
        values: Vec<Value>,
    ) -> Result<(), LogError> {
        self.write(&Event {
            wall_time,
            step,
            body: Body::Summary(values),
        })
    }

    fn write(&mut self, event: &Event) -> Result<(), LogError> {
        let bytes = frame(&event.encode());
        self.file
            .write_all(&bytes)
            .and_then(|()| self.file.flush())
            .map_err(|error| LogError::Write {
                path: self.path.clone(),
                error,
            })
    }
}

/// Every event of the event file at `path`; a cut or corrupt record is an error.
pub fn read_events(path: &Path) -> Result<Vec<Event>, LogError> {
    let bytes = std::fs::read(path).map_err(|error| LogError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let (payloads, problem) = records(&bytes);
    if let Some(p) = problem {
        return Err(LogError::Corrupt {
            path: path.to_path_buf(),
            message: p.to_string(),
        });
    }
    payloads
        .into_iter()
        .map(|p| {
            Event::decode(p).map_err(|e| LogError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Keeps in the event file at `path` only the events at or before `step`: what a run resumed
/// at `step` will not write again. A cut or corrupt tail (a writer that was killed) goes too.
/// The file is rewritten atomically, and only when something is dropped; one left without
/// any summary is removed. Returns the tags it still holds (none once removed).
pub fn truncate_after(path: &Path, step: i64) -> Result<BTreeSet<String>, LogError> {
    let bytes = std::fs::read(path).map_err(|error| LogError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let (payloads, problem) = records(&bytes);
    let total = payloads.len();
    let mut kept = Vec::new();
    let mut tags = BTreeSet::new();
    for p in payloads {
        // A record whose CRC holds but whose content does not decode ends the readable part.
        let Ok(ev) = Event::decode(p) else { break };
        if ev.step > step {
            continue;
        }
        if let Body::Summary(values) = ev.body {
            tags.extend(values.into_iter().map(|v| v.tag));
        }
        kept.push(p);
    }
    let write = |error| LogError::Write {
        path: path.to_path_buf(),
        error,
    };
    if tags.is_empty() {
        std::fs::remove_file(path).map_err(write)?;
        return Ok(tags);
    }
    if kept.len() < total || problem.is_some() {
        let bytes: Vec<u8> = kept.iter().flat_map(|p| frame(p)).collect();
        crate::fsutil::write_atomic(path, &bytes).map_err(write)?;
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::proto::Data;

    fn scalar(tag: &str, x: f32) -> Value {
        Value {
            tag: tag.into(),
            data: Data::Scalar(x),
        }
    }

    #[test]
    fn an_event_file_is_named_by_convention_and_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(tmp.path()).unwrap();
        w.values(3, 10.0, vec![scalar("a", 1.5), scalar("b", -2.0)])
            .unwrap();
        w.values(6, 11.0, vec![scalar("a", 0.25)]).unwrap();
        let name = w.path().file_name().unwrap().to_string_lossy().into_owned();
        let parts: Vec<&str> = name.splitn(5, '.').collect();
        assert_eq!(parts[..3], ["events", "out", "tfevents"], "{name}");
        assert_eq!(parts[3].len(), 10, "{name}");
        assert!(parts[3].parse::<u64>().unwrap() > 1_600_000_000, "{name}");
        assert!(!parts[4].is_empty() && !parts[4].contains('/'), "{name}");
        // A second file in the same second gets its own name, sorting after the first.
        let w2 = EventWriter::create(tmp.path()).unwrap();
        assert_ne!(w2.path(), w.path());
        let files = event_files(tmp.path()).unwrap();
        assert_eq!(files.len(), 2);

        let evs = read_events(w.path()).unwrap();
        assert_eq!(evs.len(), 3);
        assert_eq!(evs[0].body, Body::FileVersion("brain.Event:2".into()));
        assert_eq!(evs[0].step, 0);
        assert_eq!(
            evs[1],
            Event {
                wall_time: 10.0,
                step: 3,
                body: Body::Summary(vec![scalar("a", 1.5), scalar("b", -2.0)]),
            }
        );
        assert_eq!(evs[2].step, 6);
    }

    #[test]
    fn truncation_keeps_the_steps_up_to_the_resume_point_and_drops_a_cut_tail() {
        let tmp = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(tmp.path()).unwrap();
        for step in [0, 2, 4, 6] {
            w.values(step, 1.0, vec![scalar("x", step as f32)]).unwrap();
        }
        let path = w.path().to_path_buf();
        drop(w);
        // A writer killed mid-record.
        let mut bytes = std::fs::read(&path).unwrap();
        let full = bytes.len();
        bytes.extend_from_slice(
            &frame(
                &Event {
                    wall_time: 1.0,
                    step: 8,
                    body: Body::Summary(vec![scalar("x", 8.0)]),
                }
                .encode(),
            )[..9],
        );
        std::fs::write(&path, &bytes).unwrap();
        assert!(read_events(&path).is_err());

        assert_eq!(
            truncate_after(&path, 4).unwrap(),
            BTreeSet::from(["x".to_string()])
        );
        let steps: Vec<i64> = read_events(&path).unwrap().iter().map(|e| e.step).collect();
        assert_eq!(steps, [0, 0, 2, 4]);
        assert!(std::fs::metadata(&path).unwrap().len() < full as u64);
        // Nothing to drop: the file stays as it is.
        let before = std::fs::read(&path).unwrap();
        assert!(!truncate_after(&path, 4).unwrap().is_empty());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        // Only the file-version event would be left: the file goes.
        let w = EventWriter::create(tmp.path()).unwrap();
        let empty = w.path().to_path_buf();
        drop(w);
        assert!(truncate_after(&empty, 4).unwrap().is_empty());
        assert!(!empty.exists());
    }
}
