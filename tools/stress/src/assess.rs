// SPDX-License-Identifier: GPL-2.0
//! Turning the workers' reports and the device's counters into a verdict,
//! and the one-line summary that states it.

use std::fmt;
use std::time::Duration;

use circbuf::{Mode as DeviceMode, Stats};

use crate::books::{check_totals, RunKind, Totals};
use crate::ledger::reconcile;
use crate::verdict::Violations;
use crate::worker::{Mode, Report, Role};

/// Sums the reports per side and collects everything the workers saw go
/// wrong; in records mode also reconciles every record written with every
/// record read. Records that never arrived are violations on a device in
/// block mode; in overwrite mode they are only counted, for [`check_totals`]
/// to hold against the device's drops.
pub fn assess_reports(kind: RunKind, writers: u32, reports: &[Report]) -> (Totals, Violations) {
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
                totals.records_read += report.records;
                received.extend(report.received.clone());
            }
        }
        violations.extend(report.violations.clone());
    }
    if kind.mode() == Mode::Records {
        let found = reconcile(&written, &received);
        violations.extend(found.violations);
        totals.records_lost = found.lost_records;
        if kind.device_mode() == DeviceMode::Block {
            violations.extend(found.losses);
        }
    }
    (totals, violations)
}

/// The full verdict: [`assess_reports`] plus the comparison of the totals
/// with the device's counters before and after the run.
pub fn assess(
    kind: RunKind,
    writers: u32,
    reports: &[Report],
    before: &Stats,
    after: &Stats,
) -> (Totals, Violations) {
    let (totals, mut violations) = assess_reports(kind, writers, reports);
    violations.extend(check_totals(kind, &totals, before, after));
    (totals, violations)
}

/// The facts the summary line reports.
#[derive(Clone, Debug)]
pub struct Summary {
    /// What was sent, through a device in which mode.
    pub kind: RunKind,
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
    /// Wall time from start until every worker finished.
    pub elapsed: Duration,
    /// True when no violation was found.
    pub passed: bool,
    /// The seed that reproduces the run.
    pub seed: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.kind.mode() {
            Mode::Records => "records",
            Mode::Stream => "stream",
        };
        write!(f, "stress: mode={mode}")?;
        let overwrite = self.kind.device_mode() == DeviceMode::Overwrite;
        if overwrite {
            write!(f, " device-mode={}", DeviceMode::Overwrite.name())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::books::counters;
    use crate::ledger::ReaderLedger;
    use crate::record::RecordId;
    use crate::verdict::Violation;

    const RECORDS: RunKind = RunKind::Records { record_size: 64 };
    const OVERWRITE: RunKind = RunKind::Overwrite { record_size: 64 };

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
            RECORDS,
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
            RECORDS,
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
            RECORDS,
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
        let (_, v) = assess_reports(RunKind::Stream, 1, &[w, r]);
        assert_eq!(v.total(), 1);
    }

    #[test]
    fn summary_is_one_line_with_every_fact() {
        let s = Summary {
            kind: RECORDS,
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
        let failed = Summary {
            kind: RunKind::Stream,
            passed: false,
            ..s.clone()
        };
        let text = failed.to_string();
        assert!(
            text.contains("mode=stream") && !text.contains("record-size"),
            "{text}"
        );
        assert!(text.contains("verdict=FAIL"), "{text}");
        assert!(!text.contains('\n'));
        let overwrite = Summary {
            kind: OVERWRITE,
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

    /// What a device in overwrite mode reports after `writes` 64-byte
    /// records were written, `read` read and the rest dropped.
    fn overwrite_after(writes: u64, read: u64) -> Stats {
        Stats {
            mode: 1,
            dropped_records: writes - read,
            dropped_bytes: (writes - read) * 64,
            ..counters(read, writes, read * 64, writes * 64)
        }
    }

    #[test]
    fn overwrite_runs_may_skip_the_records_the_device_dropped() {
        // Writer 0 wrote 0..=4 and writer 1 0..=2; the device dropped four
        // of the eight, and each reader got the others in order.
        let reports = [
            reader(0, 2, &[(0, 1), (1, 0), (0, 4)]),
            reader(1, 2, &[(1, 2)]),
            writer(0, 5),
            writer(1, 3),
        ];
        let (totals, v) = assess(
            OVERWRITE,
            2,
            &reports,
            &Stats::default(),
            &overwrite_after(8, 4),
        );
        assert!(v.is_empty(), "{:?}", v.kept());
        assert_eq!((totals.records_read, totals.records_lost), (4, 4));
    }

    #[test]
    fn overwrite_runs_still_catch_duplicates_reordering_and_unexplained_losses() {
        let mut out_of_order = ReaderLedger::new(1, 1);
        out_of_order.accept(RecordId { writer: 0, seq: 3 }).unwrap();
        let late = out_of_order
            .accept(RecordId { writer: 0, seq: 2 })
            .unwrap_err();
        let mut second = Report::new(Role::Reader, 1);
        second.ops = 2;
        second.records = 2;
        second.bytes = 128;
        second.received = Some(out_of_order.into_received());
        second.violations.push(late.clone());
        let reports = [reader(0, 1, &[(0, 0), (0, 3)]), second, writer(0, 5)];
        // Four reads but three distinct records (seq 3 came twice), so two
        // are missing although the device dropped one: the duplicate shows
        // in the books too.
        let (_, v) = assess(
            OVERWRITE,
            1,
            &reports,
            &Stats::default(),
            &overwrite_after(5, 4),
        );
        assert_eq!(
            v.kept()[..2],
            [
                late,
                Violation::Duplicate {
                    writer: 0,
                    seq: 3,
                    reader: 1
                },
            ]
        );
        assert_eq!(
            v.kept()[2].to_string(),
            "the device's dropped_records delta = 1 but records written but never received = 2"
        );
        assert_eq!(v.total(), 3);
        // The same reads where the device owns up to no drop: the missing
        // records are a failure of the books, not excused by the mode.
        let reports = [reader(0, 1, &[(0, 0), (0, 1), (0, 3)]), writer(0, 5)];
        let after = Stats {
            dropped_records: 1,
            dropped_bytes: 64,
            ..overwrite_after(5, 3)
        };
        let (totals, v) = assess(OVERWRITE, 1, &reports, &Stats::default(), &after);
        assert_eq!(totals.records_lost, 2);
        assert!(
            v.kept()[0].to_string().starts_with(
                "the device's dropped_records delta = 1 but records written but never received = 2"
            ),
            "{:?}",
            v.kept()
        );
    }

    #[test]
    fn losses_are_violations_in_block_mode_only() {
        let reports = [reader(0, 1, &[(0, 0), (0, 2)]), writer(0, 3)];
        let (_, v) = assess_reports(RECORDS, 1, &reports);
        assert!(matches!(v.kept(), [Violation::Lost { first: 1, .. }]));
        let (totals, v) = assess_reports(OVERWRITE, 1, &reports);
        assert!(v.is_empty(), "{:?}", v.kept());
        assert_eq!(totals.records_lost, 1);
    }
}
