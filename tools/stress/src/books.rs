// SPDX-License-Identifier: GPL-2.0
//! The end-of-run accounting: what the workers did, summed, checked against
//! each other and against how far the device's own counters moved, under
//! the rules of the kind of run.
//!
//! A device in block mode hands every byte written to a reader and drops
//! nothing. One in overwrite mode hands every record to a reader or drops it
//! whole, never makes a writer wait, and counts what it dropped; since every
//! record is one atomic write of the same size, the records no reader
//! received must be exactly the records the device says it dropped.

use circbuf::{Mode as DeviceMode, Stats};

use crate::verdict::{Violation, Violations};
use crate::worker::Mode;

/// What a run sends and what the device does with a full ring; each kind
/// has its own rules for what must balance at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunKind {
    /// One writer's stream of bytes through a device in block mode.
    Stream,
    /// Records through a device in block mode: every record written is read.
    Records {
        /// Bytes per record.
        record_size: usize,
    },
    /// Records through a device in overwrite mode: every record written is
    /// read or dropped whole, and no writer waits.
    Overwrite {
        /// Bytes per record.
        record_size: usize,
    },
}

impl RunKind {
    /// What the workers send.
    pub fn mode(self) -> Mode {
        match self {
            RunKind::Stream => Mode::Stream,
            RunKind::Records { .. } | RunKind::Overwrite { .. } => Mode::Records,
        }
    }

    /// The mode the device must be in for the whole run.
    pub fn device_mode(self) -> DeviceMode {
        match self {
            RunKind::Stream | RunKind::Records { .. } => DeviceMode::Block,
            RunKind::Overwrite { .. } => DeviceMode::Overwrite,
        }
    }

    /// Bytes per record, in records mode.
    pub fn record_size(self) -> Option<usize> {
        match self {
            RunKind::Stream => None,
            RunKind::Records { record_size } | RunKind::Overwrite { record_size } => {
                Some(record_size)
            }
        }
    }
}

/// What the workers of a run did, summed per side, and how many records
/// the reconciliation of their reports found missing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Successful write calls.
    pub writes: u64,
    /// Bytes the writers got accepted.
    pub bytes_written: u64,
    /// Read calls that returned data.
    pub reads: u64,
    /// Bytes the readers received.
    pub bytes_read: u64,
    /// Records mode: valid records the readers received.
    pub records_read: u64,
    /// Records mode: records the writers completed that no reader received.
    pub records_lost: u64,
}

/// How far the device's counters moved between two snapshots. They are
/// free-running, so the differences wrap, and the sums made of them in
/// [`check_totals`] wrap alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Write calls that stored data.
    pub writes: u64,
    /// Bytes accepted from writers.
    pub bytes_written: u64,
    /// Read calls that returned data.
    pub reads: u64,
    /// Bytes handed to readers.
    pub bytes_read: u64,
    /// Times a writer slept on a full ring.
    pub write_waits: u64,
    /// Bytes overwriting writes dropped.
    pub dropped_bytes: u64,
    /// Records overwriting writes dropped.
    pub dropped_records: u64,
}

impl Moved {
    /// The counters of `after` less those of `before`.
    pub fn between(before: &Stats, after: &Stats) -> Moved {
        let delta = |f: fn(&Stats) -> u64| f(after).wrapping_sub(f(before));
        Moved {
            writes: delta(|s| s.writes),
            bytes_written: delta(|s| s.bytes_written),
            reads: delta(|s| s.reads),
            bytes_read: delta(|s| s.bytes_read),
            write_waits: delta(|s| s.write_waits),
            dropped_bytes: delta(|s| s.dropped_bytes),
            dropped_records: delta(|s| s.dropped_records),
        }
    }
}

/// Device counters in which only the four that every run compares are
/// set, for the tests of the accounting.
#[cfg(test)]
pub(crate) fn counters(reads: u64, writes: u64, bytes_read: u64, bytes_written: u64) -> Stats {
    Stats {
        reads,
        writes,
        bytes_read,
        bytes_written,
        ..Stats::default()
    }
}

/// Checks that the books of a `kind` run balance: the readers received
/// what the rules of `kind` say they must, and the device's counters moved
/// between `before` and `after` by exactly what the workers did.
pub fn check_totals(kind: RunKind, totals: &Totals, before: &Stats, after: &Stats) -> Violations {
    let mut violations = Violations::default();
    let mut equal = |left: (&str, u64), right: (&str, u64)| {
        if left.1 != right.1 {
            violations.push(Violation::Totals {
                left: (left.0.to_owned(), left.1),
                right: (right.0.to_owned(), right.1),
            });
        }
    };
    let device = Moved::between(before, after);
    if kind.device_mode() == DeviceMode::Block {
        equal(
            ("bytes read by the readers", totals.bytes_read),
            ("bytes written by the writers", totals.bytes_written),
        );
    }
    equal(
        ("the device's bytes_written delta", device.bytes_written),
        ("bytes written by the writers", totals.bytes_written),
    );
    equal(
        ("the device's bytes_read delta", device.bytes_read),
        ("bytes read by the readers", totals.bytes_read),
    );
    equal(
        ("the device's writes delta", device.writes),
        ("write calls that stored data", totals.writes),
    );
    equal(
        ("the device's reads delta", device.reads),
        ("read calls that returned data", totals.reads),
    );
    if let Some(size) = kind.record_size() {
        equal(
            ("the device's bytes_read delta", device.bytes_read),
            (
                "records read × record size",
                totals.records_read.wrapping_mul(size as u64),
            ),
        );
    }
    match kind {
        RunKind::Stream | RunKind::Records { .. } => {
            equal(
                ("the device's dropped_bytes delta", device.dropped_bytes),
                ("bytes a device in block mode drops", 0),
            );
            equal(
                ("the device's dropped_records delta", device.dropped_records),
                ("records a device in block mode drops", 0),
            );
        }
        RunKind::Overwrite { record_size } => {
            equal(
                ("the device's dropped_records delta", device.dropped_records),
                ("records written but never received", totals.records_lost),
            );
            equal(
                ("the device's dropped_bytes delta", device.dropped_bytes),
                (
                    "dropped_records delta × record size",
                    device.dropped_records.wrapping_mul(record_size as u64),
                ),
            );
            equal(
                ("bytes written by the writers", totals.bytes_written),
                (
                    "bytes read + dropped_bytes delta + bytes left in the device",
                    totals
                        .bytes_read
                        .wrapping_add(device.dropped_bytes)
                        .wrapping_add(after.used),
                ),
            );
            equal(
                ("bytes left in the device", after.used),
                ("bytes left once the readers reached end-of-file", 0),
            );
            equal(
                ("the device's write_waits delta", device.write_waits),
                ("waits a writer may make in overwrite mode", 0),
            );
        }
    }
    let want = u64::from(kind.device_mode().to_uapi());
    if after.mode != want {
        violations.push(Violation::ModeChanged {
            want,
            found: after.mode,
        });
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORDS: RunKind = RunKind::Records { record_size: 64 };
    const OVERWRITE: RunKind = RunKind::Overwrite { record_size: 64 };

    fn texts(v: &Violations) -> Vec<String> {
        v.kept().iter().map(ToString::to_string).collect()
    }

    /// Ten 64-byte records written in ten calls, `read` of them read one
    /// per call, the rest dropped.
    fn overwrite_totals(read: u64) -> Totals {
        Totals {
            writes: 10,
            bytes_written: 640,
            reads: read,
            bytes_read: read * 64,
            records_read: read,
            records_lost: 10 - read,
        }
    }

    /// What a device in overwrite mode reports after [`overwrite_totals`].
    fn overwrite_after(read: u64) -> Stats {
        Stats {
            mode: 1,
            dropped_records: 10 - read,
            dropped_bytes: (10 - read) * 64,
            ..counters(read, 10, read * 64, 640)
        }
    }

    #[test]
    fn kinds_say_what_they_send_and_need() {
        assert_eq!(RunKind::Stream.mode(), Mode::Stream);
        assert_eq!(RunKind::Stream.device_mode(), DeviceMode::Block);
        assert_eq!(RunKind::Stream.record_size(), None);
        assert_eq!(RECORDS.mode(), Mode::Records);
        assert_eq!(RECORDS.device_mode(), DeviceMode::Block);
        assert_eq!(OVERWRITE.mode(), Mode::Records);
        assert_eq!(OVERWRITE.device_mode(), DeviceMode::Overwrite);
        assert_eq!(OVERWRITE.record_size(), Some(64));
    }

    #[test]
    fn matching_totals_pass() {
        let totals = Totals {
            writes: 10,
            bytes_written: 640,
            reads: 10,
            bytes_read: 640,
            records_read: 10,
            records_lost: 0,
        };
        let before = counters(5, 6, 100, 200);
        let after = counters(15, 16, 740, 840);
        assert!(check_totals(RECORDS, &totals, &before, &after).is_empty());
    }

    #[test]
    fn every_mismatch_is_named() {
        let totals = Totals {
            writes: 10,
            bytes_written: 640,
            reads: 9,
            bytes_read: 576,
            records_read: 9,
            records_lost: 1,
        };
        let before = counters(0, 0, 0, 0);
        let after = counters(10, 11, 640, 640);
        let v = check_totals(RECORDS, &totals, &before, &after);
        assert_eq!(
            texts(&v),
            [
                "bytes read by the readers = 576 but bytes written by the writers = 640",
                "the device's bytes_read delta = 640 but bytes read by the readers = 576",
                "the device's writes delta = 11 but write calls that stored data = 10",
                "the device's reads delta = 10 but read calls that returned data = 9",
                "the device's bytes_read delta = 640 but records read × record size = 576",
            ]
        );
    }

    #[test]
    fn counters_that_wrap_still_give_the_right_delta() {
        let totals = Totals {
            writes: 1,
            bytes_written: 10,
            reads: 1,
            bytes_read: 10,
            ..Totals::default()
        };
        let before = counters(u64::MAX, u64::MAX, u64::MAX - 4, u64::MAX - 4);
        let after = counters(0, 0, 5, 5);
        assert!(check_totals(RunKind::Stream, &totals, &before, &after).is_empty());
        let moved = Moved::between(
            &Stats {
                dropped_records: u64::MAX,
                ..before
            },
            &Stats {
                dropped_records: 2,
                ..after
            },
        );
        assert_eq!((moved.bytes_read, moved.dropped_records), (10, 3));
    }

    #[test]
    fn a_device_in_block_mode_may_drop_nothing() {
        let totals = overwrite_totals(10);
        let after = Stats {
            dropped_records: 1,
            dropped_bytes: 64,
            ..counters(10, 10, 640, 640)
        };
        let v = check_totals(RECORDS, &totals, &Stats::default(), &after);
        assert_eq!(
            texts(&v),
            [
                "the device's dropped_bytes delta = 64 but bytes a device in block mode drops = 0",
                "the device's dropped_records delta = 1 but records a device in block mode drops = 0",
            ]
        );
    }

    #[test]
    fn overwrite_books_balance_with_the_drops() {
        for read in [0, 3, 10] {
            let v = check_totals(
                OVERWRITE,
                &overwrite_totals(read),
                &Stats {
                    mode: 1,
                    ..Stats::default()
                },
                &overwrite_after(read),
            );
            assert!(v.is_empty(), "{read} read: {:?}", texts(&v));
        }
    }

    #[test]
    fn a_loss_the_device_did_not_drop_fails() {
        // Three records went missing but the device dropped only two: one
        // was lost (or taken by someone else), which overwrite mode does
        // not excuse.
        let mut totals = overwrite_totals(7);
        totals.records_lost = 3;
        let after = Stats {
            dropped_records: 2,
            dropped_bytes: 128,
            ..overwrite_after(7)
        };
        let v = check_totals(OVERWRITE, &totals, &Stats::default(), &after);
        assert_eq!(
            texts(&v),
            [
                "the device's dropped_records delta = 2 but records written but never received = 3",
                "bytes written by the writers = 640 but \
                 bytes read + dropped_bytes delta + bytes left in the device = 576",
            ]
        );
    }

    #[test]
    fn drops_must_be_whole_records_and_writers_must_not_wait() {
        let totals = overwrite_totals(7);
        let after = Stats {
            dropped_bytes: 190,
            write_waits: 2,
            ..overwrite_after(7)
        };
        let v = check_totals(OVERWRITE, &totals, &Stats::default(), &after);
        assert_eq!(
            texts(&v),
            [
                "the device's dropped_bytes delta = 190 but dropped_records delta × record size = 192",
                "bytes written by the writers = 640 but \
                 bytes read + dropped_bytes delta + bytes left in the device = 638",
                "the device's write_waits delta = 2 but waits a writer may make in overwrite mode = 0",
            ]
        );
    }

    #[test]
    fn bytes_left_behind_are_named() {
        // Two records still in the device: the bytes balance with them
        // counted, but records left unread are not drops, and readers that
        // reached end-of-file must have left nothing.
        let after = Stats {
            used: 128,
            dropped_records: 3,
            dropped_bytes: 192,
            ..overwrite_after(5)
        };
        let v = check_totals(OVERWRITE, &overwrite_totals(5), &Stats::default(), &after);
        assert_eq!(
            texts(&v),
            [
                "the device's dropped_records delta = 3 but records written but never received = 5",
                "bytes left in the device = 128 but bytes left once the readers reached end-of-file = 0",
            ]
        );
    }

    #[test]
    fn the_device_must_stay_in_the_runs_mode() {
        let v = check_totals(
            OVERWRITE,
            &overwrite_totals(10),
            &Stats::default(),
            &Stats {
                mode: 0,
                ..overwrite_after(10)
            },
        );
        assert_eq!(v.kept(), [Violation::ModeChanged { want: 1, found: 0 }]);
        let v = check_totals(
            RECORDS,
            &overwrite_totals(10),
            &Stats::default(),
            &Stats {
                mode: 1,
                ..counters(10, 10, 640, 640)
            },
        );
        assert_eq!(v.kept(), [Violation::ModeChanged { want: 0, found: 1 }]);
    }
}
