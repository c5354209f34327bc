// SPDX-License-Identifier: GPL-2.0
//! What counts as a failed run, and how each kind of failure is worded on
//! the `stress: violation: ...` lines.

use std::fmt;

use circbuf::Mode;

/// One observed breach of the device's contract, or a worker failure that
/// makes the run unverifiable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Violation {
    /// A read did not return exactly one intact record (torn, short,
    /// misaligned or damaged).
    BadRecord {
        /// The reader that saw it.
        reader: u32,
        /// How many reads that reader had completed before this one.
        read: u64,
        /// What was wrong, from [`decode`](crate::record::decode).
        error: String,
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
    /// A record was received again: its bit was already set.
    Duplicate {
        /// The reader that received the extra copy.
        reader: u32,
        /// The record's writer.
        writer: u32,
        /// The record's sequence number.
        seq: u64,
    },
    /// A record was received that no writer completed writing (or that
    /// names a writer that does not exist).
    Unwritten {
        /// The record's writer.
        writer: u32,
        /// The record's sequence number.
        seq: u64,
    },
    /// Consecutive records that were written but never received.
    Lost {
        /// The records' writer.
        writer: u32,
        /// The first lost sequence number.
        first: u64,
        /// How many were lost from `first` on.
        count: u64,
    },
    /// A write stored fewer bytes than asked although it had to be atomic
    /// (records) or stored something (stream).
    ShortWrite {
        /// The writer.
        writer: u32,
        /// Bytes the write call reported.
        wrote: usize,
        /// Bytes asked for.
        want: usize,
    },
    /// In stream mode, the first byte read that differs from the one
    /// written at that offset.
    StreamMismatch {
        /// Stream offset of the byte.
        offset: u64,
        /// The byte the writer wrote there.
        expected: u8,
        /// The byte the reader got.
        found: u8,
    },
    /// Two totals that must be equal are not.
    Books {
        /// The first total and what it counts.
        left: (&'static str, u64),
        /// The second total and what it counts.
        right: (&'static str, u64),
    },
    /// The device was not in the run's mode at the end: something switched
    /// it during the run, which voids the accounting.
    ModeChanged {
        /// The mode the run needs.
        want: Mode,
        /// The mode the device was in at the end, as its UAPI number.
        found: u64,
    },
    /// A worker hit a system call error or died.
    Failed {
        /// The worker, e.g. "reader 2".
        worker: String,
        /// What happened.
        message: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::BadRecord {
                reader,
                read,
                error,
            } => write!(f, "reader {reader}, read #{read}: {error}"),
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
                reader,
                writer,
                seq,
            } => write!(
                f,
                "writer {writer} seq {seq} received twice (again by reader {reader})"
            ),
            Violation::Unwritten { writer, seq } => write!(
                f,
                "writer {writer} seq {seq} was received but never completely written"
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
            Violation::Books { left, right } => {
                write!(f, "{} = {} but {} = {}", left.0, left.1, right.0, right.1)
            }
            Violation::ModeChanged { want, found } => {
                let found = Mode::from_uapi(*found)
                    .map_or_else(|| format!("unknown ({found})"), |m| m.name().to_owned());
                write!(
                    f,
                    "the device was in {found} mode at the end of the run, not {}: \
                     something switched it during the run",
                    want.name()
                )
            }
            Violation::Failed { worker, message } => write!(f, "{worker}: {message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mode_change_names_both_modes() {
        let v = Violation::ModeChanged {
            want: Mode::Overwrite,
            found: 0,
        };
        assert_eq!(
            v.to_string(),
            "the device was in block mode at the end of the run, not overwrite: \
             something switched it during the run"
        );
        let v = Violation::ModeChanged {
            want: Mode::Block,
            found: 7,
        };
        assert!(v.to_string().contains("in unknown (7) mode"), "{v}");
    }

    #[test]
    fn loss_messages_name_the_range() {
        let lost = |count| Violation::Lost {
            writer: 1,
            first: 7,
            count,
        };
        assert_eq!(
            lost(1).to_string(),
            "writer 1 seq 7 was written but never received"
        );
        assert_eq!(
            lost(3).to_string(),
            "writer 1 seq 7..=9 (3 records) written but never received"
        );
    }
}
