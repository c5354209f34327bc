// SPDX-License-Identifier: GPL-2.0
//! The verification: what makes a run pass. It is pure, over the bytes the
//! readers got, the [`Board`] the workers left and two snapshots of the
//! device's counters, so every check is unit-tested with its fault fed in.
//!
//! - Each read ([`Reader::accept`]) must return exactly one intact record,
//!   later in its writer's sequence than any this reader had from that
//!   writer, and whose bit on the board nobody had set yet.
//! - At the end ([`books`]): every record a writer completed was received
//!   (block mode), or the records never received are exactly what the
//!   device dropped (overwrite mode); nothing was received that no writer
//!   completed; and the device's counters moved by exactly what the
//!   workers did.
//!
//! A device in overwrite mode drops only whole records, never makes a
//! writer wait, and counts its drops; since every record is one atomic
//! write of the same size, its books balance in records and in bytes.

use circbuf::{Mode, Stats};

use crate::board::Board;
use crate::launch::Role;
use crate::record;
use crate::violation::{Check, Violation};

/// What a run sends, and so what must balance at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One writer's stream of bytes through a device in block mode.
    Stream,
    /// Records through a device in block mode: every record is read.
    Records {
        /// Bytes per record.
        record_size: usize,
    },
    /// Records through a device in overwrite mode: every record is read or
    /// dropped whole, and no writer waits.
    Overwrite {
        /// Bytes per record.
        record_size: usize,
    },
}

impl Kind {
    /// The mode the device must be in for the whole run.
    pub fn device_mode(self) -> Mode {
        match self {
            Kind::Overwrite { .. } => Mode::Overwrite,
            Kind::Stream | Kind::Records { .. } => Mode::Block,
        }
    }

    /// Bytes per record, unless in stream mode.
    pub fn record_size(self) -> Option<usize> {
        match self {
            Kind::Stream => None,
            Kind::Records { record_size } | Kind::Overwrite { record_size } => Some(record_size),
        }
    }
}

/// One reader's checks of each read, in records mode.
pub struct Reader<'a> {
    board: &'a Board,
    id: u32,
    seed: u64,
    record_size: usize,
    reads: u64,
    /// Per writer, the last sequence number this reader received.
    last: Vec<Option<u64>>,
}

impl<'a> Reader<'a> {
    /// The checks of reader `id` of a run with `seed` and `record_size`.
    pub fn new(board: &'a Board, id: u32, seed: u64, record_size: usize) -> Self {
        let last = vec![None; board.count(Role::Writer) as usize];
        Reader {
            board,
            id,
            seed,
            record_size,
            reads: 0,
            last,
        }
    }

    /// Checks what one read returned and marks its record received;
    /// passes each violation to `report`. True if `buf` was one intact
    /// record (in order or not).
    pub fn accept(&mut self, buf: &[u8], report: &mut impl FnMut(Violation)) -> bool {
        let (reader, read) = (self.id, self.reads);
        self.reads += 1;
        let (writer, seq) = match record::decode(self.seed, buf, self.record_size) {
            Ok(id) => (id.writer, id.seq),
            Err(error) => {
                let text = format!("reader {reader}, read #{read}: {error}");
                report(Violation::new(Check::BadRecord, text));
                return false;
            }
        };
        if let Some(last) = self.last.get_mut(writer as usize) {
            match *last {
                Some(after) if seq <= after => report(Violation::new(
                    Check::OutOfOrder,
                    format!("reader {reader}: writer {writer} seq {seq} arrived after seq {after}"),
                )),
                _ => *last = Some(seq),
            }
        }
        match self.board.mark(writer, seq) {
            Some(true) => {}
            Some(false) => report(Violation::new(
                Check::Duplicate,
                format!("writer {writer} seq {seq} received twice (again by reader {reader})"),
            )),
            None => report(unwritten(writer, seq)),
        }
        true
    }
}

fn unwritten(writer: u32, seq: u64) -> Violation {
    Violation::new(
        Check::Unwritten,
        format!("writer {writer} seq {seq} was received but never completely written"),
    )
}

/// What the workers did, summed per side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Write calls that stored data.
    pub writes: u64,
    /// Bytes the writers got accepted.
    pub bytes_written: u64,
    /// Read calls that returned data.
    pub reads: u64,
    /// Bytes the readers received.
    pub bytes_read: u64,
    /// Intact records the readers received.
    pub records_read: u64,
}

impl Totals {
    /// The sums of the tallies on `board`.
    pub fn of(board: &Board) -> Totals {
        let mut t = Totals::default();
        for id in 0..board.count(Role::Writer) {
            let (ops, bytes, _) = board.tally(Role::Writer, id).get();
            t.writes += ops;
            t.bytes_written += bytes;
        }
        for id in 0..board.count(Role::Reader) {
            let (ops, bytes, records) = board.tally(Role::Reader, id).get();
            t.reads += ops;
            t.bytes_read += bytes;
            t.records_read += records;
        }
        t
    }
}

/// Finds, writer by writer, the records completed but never received (in
/// block mode each run of them is a violation) and the records received
/// but never completed; returns how many were never received.
fn received(kind: Kind, board: &Board, out: &mut Vec<Violation>) -> u64 {
    let mut never_received = 0;
    for writer in 0..board.count(Role::Writer) {
        let tally = board.tally(Role::Writer, writer);
        let written = tally.get().2;
        let mut seq = 0;
        while seq < written {
            let first = seq;
            while seq < written && !board.marked(writer, seq) {
                seq += 1;
            }
            let count = seq - first;
            never_received += count;
            if count > 0 && kind.device_mode() == Mode::Block {
                let last = seq - 1;
                let what = match count {
                    1 => format!("writer {writer} seq {first} was"),
                    _ => format!("writer {writer} seq {first}..={last} ({count} records)"),
                };
                let text = format!("{what} written but never received");
                out.push(Violation::new(Check::Lost, text));
            }
            seq += 1;
        }
        let unwritten = (written..tally.reach()).filter(|&seq| board.marked(writer, seq));
        out.extend(unwritten.map(|seq| self::unwritten(writer, seq)));
    }
    never_received
}

/// The end-of-run checks of a `kind` run whose workers have all finished
/// and left `board`, on a device whose counters were `before` and `after`.
pub fn books(kind: Kind, board: &Board, before: &Stats, after: &Stats) -> Vec<Violation> {
    let mut out = Vec::new();
    let never_received = match kind {
        Kind::Stream => 0,
        Kind::Records { .. } | Kind::Overwrite { .. } => received(kind, board, &mut out),
    };
    let t = Totals::of(board);
    let mut equal = |(left, l): (&str, u64), (right, r): (&str, u64)| {
        if l != r {
            let text = format!("{left} = {l} but {right} = {r}");
            out.push(Violation::new(Check::Books, text));
        }
    };
    // The counters are free-running, so deltas and sums of them wrap.
    let delta = |f: fn(&Stats) -> u64| f(after).wrapping_sub(f(before));
    let bytes_written = delta(|s| s.bytes_written);
    let dropped_records = delta(|s| s.dropped_records);
    let dropped_bytes = delta(|s| s.dropped_bytes);
    let device_read = ("the device's bytes_read delta", delta(|s| s.bytes_read));
    let dropped = ("the device's dropped_records delta", dropped_records);
    let read = ("bytes read by the readers", t.bytes_read);
    let written = ("bytes written by the writers", t.bytes_written);
    equal(("the device's bytes_written delta", bytes_written), written);
    equal(device_read, read);
    let writes = ("the device's writes delta", delta(|s| s.writes));
    equal(writes, ("write calls that stored data", t.writes));
    let reads = ("the device's reads delta", delta(|s| s.reads));
    equal(reads, ("read calls that returned data", t.reads));
    let size = kind.record_size().unwrap_or(0) as u64;
    if size > 0 {
        let records = t.records_read.wrapping_mul(size);
        equal(device_read, ("records read × record size", records));
    }
    if kind.device_mode() == Mode::Block {
        equal(read, written);
        let none = ("bytes a device in block mode drops", 0);
        equal(("the device's dropped_bytes delta", dropped_bytes), none);
        equal(dropped, ("records a device in block mode drops", 0));
    } else {
        let unseen = ("records written but never received", never_received);
        equal(dropped, unseen);
        let product = dropped_records.wrapping_mul(size);
        let whole = ("dropped_records delta × record size", product);
        equal(("the device's dropped_bytes delta", dropped_bytes), whole);
        let arrived = t.bytes_read.wrapping_add(dropped_bytes);
        let sum = "bytes read + dropped_bytes delta + bytes left in the device";
        equal(written, (sum, arrived.wrapping_add(after.used)));
        let left = ("bytes left in the device", after.used);
        equal(left, ("bytes left once the readers reached end-of-file", 0));
        let waits = ("the device's write_waits delta", delta(|s| s.write_waits));
        equal(waits, ("waits a writer may make in overwrite mode", 0));
    }
    let want = kind.device_mode();
    if after.mode() != Some(want) {
        let unknown = format!("unknown ({})", after.mode);
        let found = after.mode().map_or(unknown, |m| m.name().into());
        let text = format!(
            "the device was in {found} mode at the end of the run, not {}: \
             something switched it during the run",
            want.name()
        );
        out.push(Violation::new(Check::Mode, text));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{encode, RecordId};

    const SEED: u64 = 7;
    const SIZE: usize = 64;
    const RECORDS: Kind = Kind::Records { record_size: SIZE };
    const OVERWRITE: Kind = Kind::Overwrite { record_size: SIZE };

    fn record(writer: u32, seq: u64) -> Vec<u8> {
        let mut buf = vec![0u8; SIZE];
        encode(SEED, RecordId { writer, seq }, &mut buf);
        buf
    }

    /// A board on which writer `w` completed `written[w]` records, a write
    /// each, for `readers` readers.
    fn wrote(written: &[u64], readers: u32) -> Board {
        let board = Board::new(written.len() as u32, readers, 1024).unwrap();
        for (writer, &n) in written.iter().enumerate() {
            board
                .tally(Role::Writer, writer as u32)
                .add(n, n * SIZE as u64, n);
        }
        board
    }

    /// Reader `id` gets `reads`, one per read call, as the worker does;
    /// returns the violations it reports.
    fn read(board: &Board, id: u32, reads: &[Vec<u8>]) -> Vec<Violation> {
        let mut reader = Reader::new(board, id, SEED, SIZE);
        let mut found = Vec::new();
        for buf in reads {
            let intact = reader.accept(buf, &mut |v| found.push(v));
            board
                .tally(Role::Reader, id)
                .add(1, buf.len() as u64, u64::from(intact));
        }
        found
    }

    fn records(ids: &[(u32, u64)]) -> Vec<Vec<u8>> {
        ids.iter().map(|&(w, s)| record(w, s)).collect()
    }

    /// The counters of a device in `mode` that moved exactly what the
    /// workers on `board` did and dropped `dropped` records.
    fn device(board: &Board, mode: Mode, dropped: u64) -> Stats {
        let t = Totals::of(board);
        Stats {
            reads: t.reads,
            writes: t.writes,
            bytes_read: t.bytes_read,
            bytes_written: t.bytes_written,
            mode: mode.to_uapi().into(),
            dropped_records: dropped,
            dropped_bytes: dropped * SIZE as u64,
            ..Stats::default()
        }
    }

    fn books_of(kind: Kind, board: &Board, after: &Stats) -> Vec<String> {
        books(kind, board, &Stats::default(), after)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_clean_run_passes() {
        let board = wrote(&[3, 2], 2);
        assert_eq!(read(&board, 0, &records(&[(0, 0), (1, 0), (0, 2)])), []);
        assert_eq!(read(&board, 1, &records(&[(0, 1), (1, 1)])), []);
        let after = device(&board, Mode::Block, 0);
        assert_eq!(books(RECORDS, &board, &Stats::default(), &after), []);
    }

    #[test]
    fn planted_a_duplicated_record() {
        let board = wrote(&[2], 2);
        assert_eq!(read(&board, 0, &records(&[(0, 0), (0, 1)])), []);
        assert_eq!(
            read(&board, 1, &records(&[(0, 1)])),
            [Violation::new(
                Check::Duplicate,
                "writer 0 seq 1 received twice (again by reader 1)"
            )]
        );
        assert_eq!(
            books_of(RECORDS, &board, &device(&board, Mode::Block, 0)),
            ["bytes read by the readers = 192 but bytes written by the writers = 128"]
        );
    }

    #[test]
    fn planted_a_lost_record() {
        let board = wrote(&[3], 1);
        assert_eq!(read(&board, 0, &records(&[(0, 0), (0, 2)])), []);
        let after = device(&board, Mode::Block, 0);
        assert_eq!(
            books(RECORDS, &board, &Stats::default(), &after),
            [
                Violation::new(Check::Lost, "writer 0 seq 1 was written but never received"),
                Violation::new(
                    Check::Books,
                    "bytes read by the readers = 128 but bytes written by the writers = 192"
                ),
            ]
        );
    }

    #[test]
    fn planted_a_reordered_record() {
        let board = wrote(&[2], 1);
        assert_eq!(
            read(&board, 0, &records(&[(0, 1), (0, 0)])),
            [Violation::new(
                Check::OutOfOrder,
                "reader 0: writer 0 seq 0 arrived after seq 1"
            )]
        );
        // Each record arrived once, so only the order gives it away.
        let after = device(&board, Mode::Block, 0);
        assert_eq!(books(RECORDS, &board, &Stats::default(), &after), []);
    }

    #[test]
    fn planted_a_torn_record() {
        let board = wrote(&[2], 1);
        let mut torn = record(0, 0);
        torn[SIZE / 2..].copy_from_slice(&record(0, 1)[SIZE / 2..]);
        let short = record(0, 1)[..SIZE / 2].to_vec();
        assert_eq!(
            read(&board, 0, &[torn, short]),
            [
                Violation::new(
                    Check::BadRecord,
                    "reader 0, read #0: checksum mismatch in record writer 0 seq 0"
                ),
                Violation::new(
                    Check::BadRecord,
                    "reader 0, read #1: read returned 32 bytes instead of one 64-byte record"
                ),
            ]
        );
        // Neither counts as a record read, so the books fail too.
        assert_eq!(board.tally(Role::Reader, 0).get(), (2, 96, 0));
        let after = device(&board, Mode::Block, 0);
        assert_eq!(
            books_of(RECORDS, &board, &after)[0],
            "writer 0 seq 0..=1 (2 records) written but never received"
        );
    }

    #[test]
    fn planted_a_wrong_byte_counter() {
        let board = wrote(&[2], 1);
        assert_eq!(read(&board, 0, &records(&[(0, 0), (0, 1)])), []);
        let right = device(&board, Mode::Block, 0);
        let wrong = Stats {
            bytes_written: right.bytes_written + 1,
            ..right
        };
        assert_eq!(
            books_of(RECORDS, &board, &wrong),
            ["the device's bytes_written delta = 129 but bytes written by the writers = 128"]
        );
        let wrong = Stats {
            bytes_read: right.bytes_read - 64,
            ..right
        };
        assert_eq!(
            books_of(RECORDS, &board, &wrong),
            [
                "the device's bytes_read delta = 64 but bytes read by the readers = 128",
                "the device's bytes_read delta = 64 but records read × record size = 128",
            ]
        );
    }

    #[test]
    fn planted_a_miscounted_overwrite_drop() {
        // Five records written, three read: the device must own up to two.
        let board = wrote(&[5], 1);
        assert_eq!(read(&board, 0, &records(&[(0, 0), (0, 2), (0, 4)])), []);
        let after = device(&board, Mode::Overwrite, 2);
        assert_eq!(books(OVERWRITE, &board, &Stats::default(), &after), []);
        let after = device(&board, Mode::Overwrite, 1);
        assert_eq!(
            books_of(OVERWRITE, &board, &after),
            [
                "the device's dropped_records delta = 1 but records written but never received = 2",
                "bytes written by the writers = 320 but \
                 bytes read + dropped_bytes delta + bytes left in the device = 256",
            ]
        );
    }

    #[test]
    fn overwrite_drops_whole_records_without_waits_and_leaves_nothing() {
        let board = wrote(&[5], 1);
        read(&board, 0, &records(&[(0, 0), (0, 2), (0, 4)]));
        let after = Stats {
            dropped_bytes: 127,
            write_waits: 1,
            used: 1,
            ..device(&board, Mode::Overwrite, 2)
        };
        assert_eq!(
            books_of(OVERWRITE, &board, &after),
            [
                "the device's dropped_bytes delta = 127 but dropped_records delta × record size = 128",
                "bytes left in the device = 1 but bytes left once the readers reached end-of-file = 0",
                "the device's write_waits delta = 1 but waits a writer may make in overwrite mode = 0",
            ]
        );
    }

    #[test]
    fn records_nobody_completed_are_caught() {
        let board = wrote(&[1], 1);
        assert_eq!(
            read(&board, 0, &records(&[(0, 0), (0, 5), (3, 0)])),
            [unwritten(3, 0)]
        );
        let after = device(&board, Mode::Block, 0);
        let found = books(RECORDS, &board, &Stats::default(), &after);
        assert_eq!(found[0], unwritten(0, 5));
        assert_eq!(
            found[0].text,
            "writer 0 seq 5 was received but never completely written"
        );
    }

    #[test]
    fn block_mode_drops_nothing_and_the_mode_must_hold() {
        let board = wrote(&[1], 1);
        read(&board, 0, &records(&[(0, 0)]));
        let after = device(&board, Mode::Overwrite, 0);
        assert_eq!(
            books(RECORDS, &board, &Stats::default(), &after),
            [Violation::new(
                Check::Mode,
                "the device was in overwrite mode at the end of the run, not block: \
                 something switched it during the run"
            )]
        );
        let after = Stats {
            mode: 7,
            ..device(&board, Mode::Block, 0)
        };
        assert!(books_of(RECORDS, &board, &after)[0].contains("in unknown (7) mode"));
        let after = Stats {
            dropped_records: 1,
            ..device(&board, Mode::Block, 0)
        };
        assert_eq!(
            books_of(RECORDS, &board, &after),
            ["the device's dropped_records delta = 1 but records a device in block mode drops = 0"]
        );
    }

    #[test]
    fn counters_that_wrap_give_the_right_delta() {
        let board = Board::new(1, 1, 0).unwrap();
        board.tally(Role::Writer, 0).add(1, 10, 0);
        board.tally(Role::Reader, 0).add(1, 10, 0);
        let before = Stats {
            reads: u64::MAX,
            writes: u64::MAX,
            bytes_read: u64::MAX - 4,
            bytes_written: u64::MAX - 4,
            ..Stats::default()
        };
        let after = Stats {
            bytes_read: 5,
            bytes_written: 5,
            ..Stats::default()
        };
        assert_eq!(books(Kind::Stream, &board, &before, &after), []);
    }
}
