// SPDX-License-Identifier: GPL-2.0
//! Turning the workers' reports and the device's counters into a verdict,
//! and the one-line summary that states it.

use std::fmt;
use std::time::Duration;

use circbuf::Stats;

use crate::ledger::reconcile;
use crate::verdict::{check_totals, Totals, Violations};
use crate::worker::{Mode, Report, Role};

/// Sums the reports per side and collects everything the workers saw go
/// wrong; in records mode also reconciles every record written with every
/// record read.
pub fn assess_reports(mode: Mode, writers: u32, reports: &[Report]) -> (Totals, Violations) {
    let mut totals = Totals::default();
    let mut violations = Violations::default();
    let mut written = vec![0u64; writers as usize];
    let mut received = Vec::new();
    for report in reports {
        match report.role {
            Role::Writer => {
                totals.writes += report.ops;
                totals.bytes_written += report.bytes;
                if let Some(slot) = written.get_mut(report.id as usize) {
                    *slot = report.records;
                }
            }
            Role::Reader => {
                totals.reads += report.ops;
                totals.bytes_read += report.bytes;
                received.extend(report.received.clone());
            }
        }
        violations.extend(report.violations.clone());
    }
    if mode == Mode::Records {
        violations.extend(reconcile(&written, &received));
    }
    (totals, violations)
}

/// The full verdict: [`assess_reports`] plus the comparison of the totals
/// with the device's counters before and after the run.
pub fn assess(
    mode: Mode,
    writers: u32,
    reports: &[Report],
    before: &Stats,
    after: &Stats,
) -> (Totals, Violations) {
    let (totals, mut violations) = assess_reports(mode, writers, reports);
    violations.extend(check_totals(&totals, before, after));
    (totals, violations)
}

/// The facts the summary line reports.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Records or stream.
    pub mode: Mode,
    /// Number of writers.
    pub writers: u32,
    /// Number of readers.
    pub readers: u32,
    /// Bytes per record, in records mode.
    pub record_size: Option<usize>,
    /// Bytes that went through the device (read).
    pub bytes: u64,
    /// Read and write calls that moved data.
    pub ops: u64,
    /// Wall time from start until every worker finished.
    pub elapsed: Duration,
    /// True when no violation was found.
    pub passed: bool,
    /// The seed that reproduces the run.
    pub seed: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Records => "records",
            Mode::Stream => "stream",
        };
        write!(
            f,
            "stress: mode={mode} writers={} readers={}",
            self.writers, self.readers
        )?;
        if let Some(size) = self.record_size {
            write!(f, " record-size={size}")?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::ReaderLedger;
    use crate::record::RecordId;
    use crate::verdict::{counters, Violation};

    fn writer(id: u32, records: u64) -> Report {
        let mut r = Report::new(Role::Writer, id);
        r.ops = records;
        r.records = records;
        r.bytes = records * 64;
        r
    }

    fn reader(id: u32, writers: u32, got: &[(u32, u64)]) -> Report {
        let mut ledger = ReaderLedger::new(id, writers);
        for &(writer, seq) in got {
            ledger.accept(RecordId { writer, seq }).unwrap();
        }
        let mut r = Report::new(Role::Reader, id);
        r.ops = got.len() as u64;
        r.records = got.len() as u64;
        r.bytes = got.len() as u64 * 64;
        r.received = Some(ledger.into_received());
        r
    }

    #[test]
    fn a_clean_run_passes() {
        let reports = [
            reader(0, 2, &[(0, 0), (1, 0), (0, 2)]),
            reader(1, 2, &[(0, 1), (1, 1)]),
            writer(0, 3),
            writer(1, 2),
        ];
        let (totals, v) = assess(
            Mode::Records,
            2,
            &reports,
            &Stats::default(),
            &counters(5, 5, 320, 320),
        );
        assert!(v.is_empty(), "{:?}", v.kept());
        assert_eq!(totals.bytes_read, 320);
        assert_eq!(totals.writes, 5);
    }

    #[test]
    fn a_lost_record_fails_twice_over() {
        let reports = [reader(0, 1, &[(0, 0), (0, 2)]), writer(0, 3)];
        let (_, v) = assess(
            Mode::Records,
            1,
            &reports,
            &Stats::default(),
            &counters(2, 3, 128, 192),
        );
        assert_eq!(
            v.kept()[0],
            Violation::Lost {
                writer: 0,
                first: 1,
                count: 1
            }
        );
        assert!(v
            .kept()
            .iter()
            .any(|x| x.to_string().starts_with("bytes read by the readers = 128")));
    }

    #[test]
    fn device_counters_must_agree_with_the_workers() {
        let reports = [reader(0, 1, &[(0, 0)]), writer(0, 1)];
        let (_, v) = assess(
            Mode::Records,
            1,
            &reports,
            &Stats::default(),
            &counters(1, 1, 64, 128),
        );
        assert_eq!(v.total(), 1);
        assert!(v.kept()[0]
            .to_string()
            .contains("bytes_written delta = 128"));
    }

    #[test]
    fn worker_violations_are_kept_and_stream_mode_skips_the_ledger() {
        let mut w = Report::new(Role::Writer, 0);
        w.ops = 1;
        w.bytes = 10;
        let mut r = Report::new(Role::Reader, 0);
        r.ops = 1;
        r.bytes = 10;
        r.violations.push(Violation::StreamMismatch {
            offset: 3,
            expected: 1,
            found: 2,
        });
        let (_, v) = assess_reports(Mode::Stream, 1, &[w, r]);
        assert_eq!(v.total(), 1);
    }

    #[test]
    fn summary_is_one_line_with_every_fact() {
        let s = Summary {
            mode: Mode::Records,
            writers: 4,
            readers: 2,
            record_size: Some(64),
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
        let failed = Summary {
            mode: Mode::Stream,
            record_size: None,
            passed: false,
            ..s
        };
        let text = failed.to_string();
        assert!(
            text.contains("mode=stream") && !text.contains("record-size"),
            "{text}"
        );
        assert!(text.contains("verdict=FAIL"), "{text}");
        assert!(!text.contains('\n'));
    }
}
