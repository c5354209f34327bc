// SPDX-License-Identifier: GPL-2.0
//! The lines a run ends with: the one-line summary that states the verdict
//! (the last line on stdout, which scripts parse), and the watchdog's
//! complaint about a run that hung.

use std::fmt;
use std::time::Duration;

use circbuf::Stats;

use crate::board::Board;
use crate::launch::Role;
use crate::verify::Kind;

/// The facts the summary line reports.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    /// What was sent, through a device in which mode.
    pub kind: Kind,
    /// Number of writers.
    pub writers: u32,
    /// Number of readers.
    pub readers: u32,
    /// Records the device dropped (shown for overwrite runs).
    pub dropped_records: u64,
    /// Bytes that went through the device (read).
    pub bytes: u64,
    /// Read and write calls that moved data.
    pub ops: u64,
    /// Wall time from the start until every worker finished.
    pub elapsed: Duration,
    /// True when no violation was found.
    pub passed: bool,
    /// The seed that reproduces the run.
    pub seed: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.kind == Kind::Stream {
            "stream"
        } else {
            "records"
        };
        write!(f, "stress: mode={mode}")?;
        let overwrite = matches!(self.kind, Kind::Overwrite { .. });
        if overwrite {
            write!(f, " device-mode=overwrite")?;
        }
        write!(f, " writers={} readers={}", self.writers, self.readers)?;
        if let Some(size) = self.kind.record_size() {
            write!(f, " record-size={size}")?;
        }
        if overwrite {
            write!(f, " dropped-records={}", self.dropped_records)?;
        }
        let seconds = self.elapsed.as_secs_f64();
        write!(
            f,
            " bytes={} ops={} time={seconds:.2}s rate={:.2}MB/s verdict={} seed={}",
            self.bytes,
            self.ops,
            self.bytes as f64 / 1e6 / seconds.max(1e-3),
            if self.passed { "PASS" } else { "FAIL" },
            self.seed
        )
    }
}

/// The watchdog's complaint: how long the run has gone on, which workers
/// had not finished and how far they got, and the device's state.
pub fn watchdog_message(limit: Duration, duration: Duration, board: &Board, now: &Stats) -> String {
    let (limit, duration) = (limit.as_secs_f64(), duration.as_secs_f64());
    let mut text = format!(
        "watchdog: the run did not finish within {limit:.1} s \
         (writers stop after {duration:.1} s); still running:"
    );
    for (role, calls) in [(Role::Reader, "reads"), (Role::Writer, "writes")] {
        for id in (0..board.count(role)).filter(|&id| !board.tally(role, id).finished()) {
            let done = board.tally(role, id).get().0;
            text.push_str(&format!("\n  {role} {id}: after {done} {calls}"));
        }
    }
    let (used, available) = (now.used, now.available);
    let (readers, writers) = (now.readers, now.writers);
    text.push_str(&format!(
        "\n  device: used={used} available={available} readers={readers} writers={writers}"
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_is_one_line_with_every_fact() {
        let s = Summary {
            kind: Kind::Records { record_size: 64 },
            writers: 4,
            readers: 2,
            dropped_records: 0,
            bytes: 2_000_000,
            ops: 31_250,
            elapsed: Duration::from_secs(2),
            passed: true,
            seed: 17,
        };
        assert_eq!(
            s.to_string(),
            "stress: mode=records writers=4 readers=2 record-size=64 bytes=2000000 ops=31250 \
             time=2.00s rate=1.00MB/s verdict=PASS seed=17"
        );
        let text = Summary {
            kind: Kind::Stream,
            passed: false,
            ..s
        }
        .to_string();
        assert!(text.contains("mode=stream") && !text.contains("record-size"));
        assert!(text.contains("verdict=FAIL"), "{text}");
        let overwrite = Summary {
            kind: Kind::Overwrite { record_size: 64 },
            dropped_records: 1234,
            ..s
        };
        assert_eq!(
            overwrite.to_string(),
            "stress: mode=records device-mode=overwrite writers=4 readers=2 record-size=64 \
             dropped-records=1234 bytes=2000000 ops=31250 time=2.00s rate=1.00MB/s \
             verdict=PASS seed=17"
        );
    }

    #[test]
    fn watchdog_names_the_unfinished_and_the_device_state() {
        let board = Board::new(2, 1, 64).unwrap();
        board.tally(Role::Writer, 0).finish();
        board.tally(Role::Reader, 0).finish();
        board.tally(Role::Writer, 1).add(9, 576, 9);
        let now = Stats {
            used: 64,
            readers: 1,
            writers: 1,
            ..Stats::default()
        };
        assert_eq!(
            watchdog_message(
                Duration::from_secs(32),
                Duration::from_secs(2),
                &board,
                &now
            ),
            "watchdog: the run did not finish within 32.0 s (writers stop after 2.0 s); \
             still running:\n  writer 1: after 9 writes\n  \
             device: used=64 available=0 readers=1 writers=1"
        );
    }
}
