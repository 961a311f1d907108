//! The live logs' CSV: one row per scalar, `tag,step,value,wall_time`, appended and flushed as
//! the run goes. Values are written in full (f64) precision.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::LogError;

/// The header line.
pub const HEADER: &str = "tag,step,value,wall_time";

/// One row of the CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The scalar's tag, as in the event files.
    pub tag: String,
    /// Optimizer steps of the run when it was measured.
    pub step: i64,
    /// The value.
    pub value: f64,
    /// Seconds since the Unix epoch.
    pub wall_time: f64,
}

impl Row {
    /// Parses one line (without its newline); `None` if it is not a row.
    fn parse(line: &str) -> Option<Row> {
        let mut parts = line.split(',');
        let row = Row {
            tag: parts.next()?.to_string(),
            step: parts.next()?.parse().ok()?,
            value: parts.next()?.parse().ok()?,
            wall_time: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(row)
    }
}

/// Appends rows to the CSV.
pub struct CsvWriter {
    path: PathBuf,
    file: BufWriter<File>,
}

impl CsvWriter {
    /// Opens `path` for appending, writing the header first if the file is new or empty.
    pub fn append(path: &Path) -> Result<Self, LogError> {
        let write = |error| LogError::Write {
            path: path.to_path_buf(),
            error,
        };
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(write)?;
        let empty = file.metadata().map_err(write)?.len() == 0;
        let mut w = CsvWriter {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
        };
        if empty {
            w.line(HEADER)?;
        }
        Ok(w)
    }

    /// Appends one row per `(tag, value)` at `step`, and flushes.
    pub fn rows(
        &mut self,
        step: i64,
        wall_time: f64,
        values: &[(String, f64)],
    ) -> Result<(), LogError> {
        let text: String = values
            .iter()
            .map(|(tag, v)| format!("{tag},{step},{v},{wall_time}\n"))
            .collect();
        self.line(text.trim_end_matches('\n'))
    }

    fn line(&mut self, text: &str) -> Result<(), LogError> {
        writeln!(self.file, "{text}")
            .and_then(|()| self.file.flush())
            .map_err(|error| LogError::Write {
                path: self.path.clone(),
                error,
            })
    }
}

/// The rows of the CSV at `path`; a line that is not a row (other than the header) is an error.
pub fn read_rows(path: &Path) -> Result<Vec<Row>, LogError> {
    let text = std::fs::read_to_string(path).map_err(|error| LogError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    text.lines()
        .skip(1)
        .enumerate()
        .map(|(i, l)| {
            Row::parse(l).ok_or_else(|| LogError::Corrupt {
                path: path.to_path_buf(),
                message: format!("line {} is not tag,step,value,wall_time: '{l}'", i + 2),
            })
        })
        .collect()
}

/// Keeps in the CSV at `path` only the rows at or before `step` (and drops a cut last line),
/// rewriting it atomically when something goes; a missing file stays missing.
pub fn truncate_after(path: &Path, step: i64) -> Result<(), LogError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(LogError::Read {
                path: path.to_path_buf(),
                error,
            })
        }
    };
    let mut out = format!("{HEADER}\n");
    // Only whole lines: a writer killed mid-line leaves one without its newline.
    for line in text.split_inclusive('\n').skip(1) {
        let Some(body) = line.strip_suffix('\n') else {
            continue;
        };
        if Row::parse(body).is_some_and(|r| r.step <= step) {
            out.push_str(line);
        }
    }
    if out != text {
        crate::fsutil::write_atomic(path, out.as_bytes()).map_err(|error| LogError::Write {
            path: path.to_path_buf(),
            error,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_append_in_full_precision_and_truncate_to_a_step() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("scalars.csv");
        let mut w = CsvWriter::append(&path).unwrap();
        let third = 1.0 / 3.0;
        w.rows(2, 100.5, &[("a".into(), third), ("b".into(), -0.0)])
            .unwrap();
        w.rows(4, 101.0, &[("a".into(), 1e-300)]).unwrap();
        drop(w);
        // Reopened: no second header.
        let mut w = CsvWriter::append(&path).unwrap();
        w.rows(6, 102.0, &[("a".into(), f64::NAN)]).unwrap();
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().next(), Some(HEADER));
        assert_eq!(text.lines().filter(|l| *l == HEADER).count(), 1);
        let rows = read_rows(&path).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[0],
            Row {
                tag: "a".into(),
                step: 2,
                value: third,
                wall_time: 100.5
            }
        );
        assert_eq!(rows[2].value, 1e-300);
        assert!(rows[3].value.is_nan());

        // A cut last line, then a resume at step 2.
        std::fs::write(&path, format!("{text}a,8,0.5")).unwrap();
        assert!(read_rows(&path).is_err());
        truncate_after(&path, 2).unwrap();
        let rows = read_rows(&path).unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.tag.as_str(), r.step))
                .collect::<Vec<_>>(),
            [("a", 2), ("b", 2)]
        );
        // A missing file is not an error.
        truncate_after(&tmp.path().join("none.csv"), 2).unwrap();
        assert!(!tmp.path().join("none.csv").exists());
    }
}
