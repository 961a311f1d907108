//! A run's wall clock over every process that worked on it. A resumed run's `total_seconds`
//! adds the seconds of the earlier processes (each up to its last checkpoint, which the
//! checkpoint records) to this one's, and its `started_unix` is the first process's start.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What a checkpoint keeps of the clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClockRecord {
    /// Unix time (seconds) the run's first process started.
    pub started_unix: u64,
    /// Wall seconds of the run up to the checkpoint, over all its processes.
    pub seconds: f64,
}

/// The clock of a run in this process.
#[derive(Debug, Clone, Copy)]
pub struct RunClock {
    since: Instant,
    started_unix: u64,
    earlier: f64,
}

impl RunClock {
    /// A run that started with this process, at `since`.
    pub fn starting(since: Instant) -> Self {
        let started_unix = SystemTime::now()
            .checked_sub(since.elapsed())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        RunClock {
            since,
            started_unix,
            earlier: 0.0,
        }
    }

    /// The run `record` describes, continued by a process that started at `since`.
    pub fn continuing(since: Instant, record: ClockRecord) -> Self {
        RunClock {
            since,
            started_unix: record.started_unix,
            earlier: record.seconds,
        }
    }

    /// The clock as a checkpoint keeps it, now.
    pub fn record(&self) -> ClockRecord {
        ClockRecord {
            started_unix: self.started_unix,
            seconds: self.total_seconds(),
        }
    }

    /// Wall seconds of the run so far, over all its processes.
    pub fn total_seconds(&self) -> f64 {
        self.earlier + self.since.elapsed().as_secs_f64()
    }

    /// Unix time (seconds) the run's first process started.
    pub fn started_unix(&self) -> u64 {
        self.started_unix
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_continued_clock_keeps_the_first_start_and_adds_the_earlier_seconds() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let since = Instant::now() - Duration::from_secs(5);
        let fresh = RunClock::starting(since);
        assert!((now - 6..=now - 4).contains(&fresh.started_unix()));
        assert!(fresh.total_seconds() >= 5.0);

        let record = ClockRecord {
            started_unix: 1_000,
            seconds: 3_600.0,
        };
        let c = RunClock::continuing(since, record);
        assert_eq!(c.started_unix(), 1_000);
        let total = c.total_seconds();
        assert!((3_605.0..3_700.0).contains(&total), "{total}");
        assert_eq!(c.record().started_unix, 1_000);
        assert!(c.record().seconds >= total);
    }
}
