// SPDX-License-Identifier: GPL-2.0
//! What counts as a failed run: the violation kinds and a bounded collector
//! for them. The end-of-run accounting that finds some of them is in
//! [`books`](crate::books).

use std::fmt;

use circbuf::Mode as DeviceMode;
use serde::{Deserialize, Serialize};

use crate::record::RecordError;

/// One observed breach of the device's contract (or a worker failure that
/// makes the run unverifiable).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Violation {
    /// A read did not return exactly one intact record.
    BadRecord {
        /// The reader that saw it.
        reader: u32,
        /// How many reads that reader had completed before this one.
        read_index: u64,
        /// What was wrong.
        error: RecordError,
    },
    /// A record names a writer that does not exist.
    UnknownWriter {
        /// The reader that saw it.
        reader: u32,
        /// The writer id found in the record.
        writer: u32,
        /// The sequence number found in the record.
        seq: u64,
    },
    /// A writer's records reached one reader out of order (or twice).
    OutOfOrder {
        /// The reader that saw it.
        reader: u32,
        /// The writer whose order broke.
        writer: u32,
        /// The sequence number that arrived late.
        seq: u64,
        /// The sequence number that reader had already seen.
        after: u64,
    },
    /// A record was received more than once across all readers.
    Duplicate {
        /// The record's writer.
        writer: u32,
        /// The record's sequence number.
        seq: u64,
        /// The reader that received the extra copy.
        reader: u32,
    },
    /// A record was received that its writer never completed writing.
    Phantom {
        /// The record's writer.
        writer: u32,
        /// The record's sequence number.
        seq: u64,
        /// The reader that received it.
        reader: u32,
    },
    /// Records that were written but never received.
    Lost {
        /// The records' writer.
        writer: u32,
        /// The first lost sequence number of this run of losses.
        first: u64,
        /// How many consecutive sequence numbers were lost.
        count: u64,
    },
    /// A write stored fewer bytes than asked although it had to be atomic
    /// (records) or complete (stream).
    ShortWrite {
        /// The writer.
        writer: u32,
        /// Bytes the write call reported.
        wrote: usize,
        /// Bytes asked for.
        want: usize,
    },
    /// In stream mode, the bytes read differ from the bytes written.
    StreamMismatch {
        /// Stream offset of the first differing byte.
        offset: u64,
        /// The byte the writer wrote there.
        expected: u8,
        /// The byte the reader got.
        found: u8,
    },
    /// Two totals that must be equal are not.
    Totals {
        /// The first total and what it counts.
        left: (String, u64),
        /// The second total and what it counts.
        right: (String, u64),
    },
    /// The device was not in the run's mode when the run ended: something
    /// switched it during the run, which voids the accounting.
    ModeChanged {
        /// The mode the run needs, as its UAPI number.
        want: u64,
        /// The mode the device was in at the end.
        found: u64,
    },
    /// A worker hit a system call error and stopped.
    Io {
        /// The worker, e.g. "reader 2".
        worker: String,
        /// The error message.
        message: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::BadRecord {
                reader,
                read_index,
                error,
            } => write!(f, "reader {reader}, read #{read_index}: {error}"),
            Violation::UnknownWriter {
                reader,
                writer,
                seq,
            } => write!(
                f,
                "reader {reader}: record from unknown writer {writer} (seq {seq})"
            ),
            Violation::OutOfOrder {
                reader,
                writer,
                seq,
                after,
            } => write!(
                f,
                "reader {reader}: writer {writer} seq {seq} arrived after seq {after}"
            ),
            Violation::Duplicate {
                writer,
                seq,
                reader,
            } => write!(
                f,
                "writer {writer} seq {seq} received twice (again by reader {reader})"
            ),
            Violation::Phantom {
                writer,
                seq,
                reader,
            } => write!(
                f,
                "reader {reader} received writer {writer} seq {seq}, which was never fully written"
            ),
            Violation::Lost {
                writer,
                first,
                count: 1,
            } => write!(
                f,
                "writer {writer} seq {first} was written but never received"
            ),
            Violation::Lost {
                writer,
                first,
                count,
            } => write!(
                f,
                "writer {writer} seq {first}..={} ({count} records) written but never received",
                first + count - 1
            ),
            Violation::ShortWrite {
                writer,
                wrote,
                want,
            } => write!(f, "writer {writer}: write stored {wrote} of {want} bytes"),
            Violation::StreamMismatch {
                offset,
                expected,
                found,
            } => write!(
                f,
                "stream byte {offset} is {found:#04x}, expected {expected:#04x}"
            ),
            Violation::Totals { left, right } => {
                write!(f, "{} = {} but {} = {}", left.0, left.1, right.0, right.1)
            }
            Violation::ModeChanged { want, found } => write!(
                f,
                "the device was in {} mode at the end of the run, not {}: \
                 something switched it during the run",
                mode_name(*found),
                mode_name(*want)
            ),
            Violation::Io { worker, message } => write!(f, "{worker}: {message}"),
        }
    }
}

/// A device mode's name, or its number if it has none.
fn mode_name(mode: u64) -> String {
    DeviceMode::from_uapi(mode).map_or_else(|| format!("unknown ({mode})"), |m| m.name().to_owned())
}

/// Collects violations, keeping the first few in full and counting the
/// rest: a broken device can produce millions, and the first ones are the
/// ones that explain the others.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violations {
    kept: Vec<Violation>,
    total: u64,
}

impl Violations {
    /// How many violations are kept in full.
    pub const KEEP: usize = 20;

    /// Records one violation.
    pub fn push(&mut self, violation: Violation) {
        self.total += 1;
        if self.kept.len() < Self::KEEP {
            self.kept.push(violation);
        }
    }

    /// Adds all of `other`'s violations.
    pub fn extend(&mut self, other: Violations) {
        let dropped = other.total - other.kept.len() as u64;
        for violation in other.kept {
            self.push(violation);
        }
        self.total += dropped;
    }

    /// True when nothing went wrong.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many violations were recorded, kept or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The violations kept in full, in the order they were recorded.
    pub fn kept(&self) -> &[Violation] {
        &self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(n: u64) -> Violation {
        Violation::Io {
            worker: format!("reader {n}"),
            message: "boom".into(),
        }
    }

    #[test]
    fn collector_keeps_the_first_and_counts_all() {
        let mut v = Violations::default();
        assert!(v.is_empty());
        for n in 0..(Violations::KEEP as u64 + 5) {
            v.push(io(n));
        }
        assert_eq!(v.total(), Violations::KEEP as u64 + 5);
        assert_eq!(v.kept().len(), Violations::KEEP);
        assert_eq!(v.kept()[0], io(0));

        let mut all = Violations::default();
        all.push(io(100));
        all.extend(v);
        assert_eq!(all.total(), Violations::KEEP as u64 + 6);
        assert_eq!(all.kept()[0], io(100));
        assert_eq!(all.kept().len(), Violations::KEEP);
    }

    #[test]
    fn a_mode_change_names_both_modes() {
        let v = Violation::ModeChanged { want: 1, found: 0 };
        assert_eq!(
            v.to_string(),
            "the device was in block mode at the end of the run, not overwrite: \
             something switched it during the run"
        );
        let v = Violation::ModeChanged { want: 0, found: 7 };
        assert!(v.to_string().contains("in unknown (7) mode"), "{v}");
    }

    #[test]
    fn loss_messages_name_the_range() {
        let one = Violation::Lost {
            writer: 1,
            first: 7,
            count: 1,
        };
        assert_eq!(
            one.to_string(),
            "writer 1 seq 7 was written but never received"
        );
        let many = Violation::Lost {
            writer: 1,
            first: 7,
            count: 3,
        };
        assert_eq!(
            many.to_string(),
            "writer 1 seq 7..=9 (3 records) written but never received"
        );
    }
}
