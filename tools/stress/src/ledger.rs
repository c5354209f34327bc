// SPDX-License-Identifier: GPL-2.0
//! Bookkeeping of which records each reader received, and the end-of-run
//! reconciliation that proves every written record arrived at most once,
//! and which ones never arrived.
//!
//! A reader checks order as it goes (a writer's records must reach it in
//! increasing sequence order) and logs each sequence number compactly. At
//! the end all readers' logs are merged per writer into a bitmap of the
//! sequence numbers that writer completed, which exposes duplicates,
//! records nobody wrote, and losses. Losses are kept apart: a device in
//! block mode may lose nothing, while one in overwrite mode must have
//! dropped exactly as many records as went missing (see
//! [`books`](crate::books)).

use serde::{Deserialize, Serialize};

use crate::record::RecordId;
use crate::verdict::{Violation, Violations};

/// A strictly increasing list of sequence numbers, stored as LEB128 pairs
/// (gap since the previous run, run length): with one reader that is a few
/// bytes per writer, and with many interleaved readers about two bytes per
/// record, small enough to pass between processes as JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "SeqLogWire", try_from = "SeqLogWire")]
pub struct SeqLog {
    runs: Vec<u8>,
    /// One past the last sequence number of the last run in `runs`.
    flushed_end: u64,
    /// The run still growing: (first sequence number, length).
    open: Option<(u64, u64)>,
    count: u64,
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

impl SeqLog {
    /// The largest sequence number logged so far.
    pub fn last(&self) -> Option<u64> {
        match self.open {
            Some((start, len)) => Some(start + len - 1),
            None if self.count > 0 => Some(self.flushed_end - 1),
            None => None,
        }
    }

    /// How many sequence numbers are logged.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends `seq`; it must exceed every number logged so far, otherwise
    /// nothing is logged and the current last number is returned.
    pub fn push(&mut self, seq: u64) -> Result<(), u64> {
        if let Some(last) = self.last() {
            if seq <= last {
                return Err(last);
            }
        }
        self.count += 1;
        match &mut self.open {
            Some((start, len)) if *start + *len == seq => *len += 1,
            _ => {
                self.flush();
                self.open = Some((seq, 1));
            }
        }
        Ok(())
    }

    fn flush(&mut self) {
        if let Some((start, len)) = self.open.take() {
            put_varint(&mut self.runs, start - self.flushed_end);
            put_varint(&mut self.runs, len);
            self.flushed_end = start + len;
        }
    }

    /// The logged runs as (first, length), in increasing order.
    pub fn runs(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut end = 0u64;
        while pos < self.runs.len() {
            let (Some(gap), Some(len)) = (
                get_varint(&self.runs, &mut pos),
                get_varint(&self.runs, &mut pos),
            ) else {
                unreachable!("runs are only ever written by put_varint");
            };
            out.push((end + gap, len));
            end += gap + len;
        }
        out.extend(self.open);
        out
    }
}

/// How a `SeqLog` travels between processes: its count and its runs as hex.
#[derive(Serialize, Deserialize)]
struct SeqLogWire {
    count: u64,
    runs: String,
}

impl From<SeqLog> for SeqLogWire {
    fn from(mut log: SeqLog) -> Self {
        log.flush();
        SeqLogWire {
            count: log.count,
            runs: log.runs.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

impl TryFrom<SeqLogWire> for SeqLog {
    type Error = String;

    fn try_from(wire: SeqLogWire) -> Result<Self, String> {
        let text = wire.runs.as_bytes();
        if !text.len().is_multiple_of(2) {
            return Err("odd number of hex digits in a sequence log".into());
        }
        let runs = text
            .chunks(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                    .ok_or_else(|| "bad hex digit in a sequence log".to_owned())
            })
            .collect::<Result<Vec<u8>, String>>()?;
        let mut pos = 0;
        let mut end = 0u64;
        let mut count = 0u64;
        while pos < runs.len() {
            let gap = get_varint(&runs, &mut pos).ok_or("truncated sequence log")?;
            let len = get_varint(&runs, &mut pos).ok_or("truncated sequence log")?;
            if len == 0 {
                return Err("malformed run in a sequence log".into());
            }
            end = end
                .checked_add(gap)
                .and_then(|e| e.checked_add(len))
                .ok_or("sequence log overflows")?;
            count += len;
        }
        if count != wire.count {
            return Err(format!(
                "sequence log holds {count} numbers but claims {}",
                wire.count
            ));
        }
        Ok(SeqLog {
            runs,
            flushed_end: end,
            open: None,
            count,
        })
    }
}

/// Everything one reader received, for the final reconciliation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// The reader's index.
    pub reader: u32,
    /// Per writer, the sequence numbers received in order.
    pub logs: Vec<SeqLog>,
    /// Records that broke the order; kept apart so the merge still counts
    /// them as received (and does not also call them lost).
    pub strays: Vec<RecordId>,
}

/// One reader's live ledger: checks order record by record.
#[derive(Debug)]
pub struct ReaderLedger {
    received: Received,
}

impl ReaderLedger {
    /// A ledger for reader `reader` in a run with `writers` writers.
    pub fn new(reader: u32, writers: u32) -> Self {
        ReaderLedger {
            received: Received {
                reader,
                logs: vec![SeqLog::default(); writers as usize],
                strays: Vec::new(),
            },
        }
    }

    /// Logs a decoded record, or says why it breaks the rules.
    pub fn accept(&mut self, id: RecordId) -> Result<(), Violation> {
        let reader = self.received.reader;
        let Some(log) = self.received.logs.get_mut(id.writer as usize) else {
            return Err(Violation::UnknownWriter {
                reader,
                writer: id.writer,
                seq: id.seq,
            });
        };
        log.push(id.seq).map_err(|after| {
            self.received.strays.push(id);
            Violation::OutOfOrder {
                reader,
                writer: id.writer,
                seq: id.seq,
                after,
            }
        })
    }

    /// The ledger's content, for [`reconcile`].
    pub fn into_received(self) -> Received {
        self.received
    }
}

/// One bit per sequence number a writer completed.
struct Bitmap(Vec<u64>);

impl Bitmap {
    fn new(len: u64) -> Self {
        Bitmap(vec![0; len.div_ceil(64) as usize])
    }

    /// Sets bit `i`; false if it was set already.
    fn insert(&mut self, i: u64) -> bool {
        let (word, bit) = ((i / 64) as usize, 1u64 << (i % 64));
        let new = self.0[word] & bit == 0;
        self.0[word] |= bit;
        new
    }

    fn contains(&self, i: u64) -> bool {
        self.0[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
}

/// What [`reconcile`] found.
#[derive(Debug, Default)]
pub struct Reconciliation {
    /// Records received more than once, or received although nobody
    /// completed writing them: wrong whatever the device's mode.
    pub violations: Violations,
    /// Each run of consecutive records written but never received, as a
    /// [`Violation::Lost`]: wrong unless the device may drop records.
    pub losses: Violations,
    /// How many records were written but never received.
    pub lost_records: u64,
}

/// Checks that every record writer `w` completed (sequence numbers
/// `0..written[w]`) was received at most once across all readers and that
/// nothing else was received, and collects the records never received.
pub fn reconcile(written: &[u64], received: &[Received]) -> Reconciliation {
    let mut found = Reconciliation::default();
    for (writer, &count) in written.iter().enumerate() {
        let writer = writer as u32;
        let mut seen = Bitmap::new(count);
        for r in received {
            let in_order = r
                .logs
                .get(writer as usize)
                .into_iter()
                .flat_map(SeqLog::runs)
                .flat_map(|(start, len)| start..start + len);
            let strays = r
                .strays
                .iter()
                .filter(|s| s.writer == writer)
                .map(|s| s.seq);
            for seq in in_order.chain(strays) {
                let reader = r.reader;
                if seq >= count {
                    found.violations.push(Violation::Phantom {
                        writer,
                        seq,
                        reader,
                    });
                } else if !seen.insert(seq) {
                    found.violations.push(Violation::Duplicate {
                        writer,
                        seq,
                        reader,
                    });
                }
            }
        }
        let mut seq = 0;
        while seq < count {
            if seen.contains(seq) {
                seq += 1;
                continue;
            }
            let first = seq;
            while seq < count && !seen.contains(seq) {
                seq += 1;
            }
            found.lost_records += seq - first;
            found.losses.push(Violation::Lost {
                writer,
                first,
                count: seq - first,
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use circbuf::testing::Rng;

    fn id(writer: u32, seq: u64) -> RecordId {
        RecordId { writer, seq }
    }

    fn log_of(seqs: &[u64]) -> SeqLog {
        let mut log = SeqLog::default();
        for &s in seqs {
            log.push(s).unwrap();
        }
        log
    }

    fn expand(log: &SeqLog) -> Vec<u64> {
        log.runs().into_iter().flat_map(|(s, l)| s..s + l).collect()
    }

    #[test]
    fn seq_log_round_trips_random_increasing_sequences() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let mut seqs = Vec::new();
            let mut next = rng.range_u64(0, 5);
            for _ in 0..rng.range(0, 300) {
                seqs.push(next);
                next += if rng.range(0, 3) == 0 {
                    rng.range_u64(2, 1000)
                } else {
                    1
                };
            }
            let log = log_of(&seqs);
            assert_eq!(log.count(), seqs.len() as u64);
            assert_eq!(expand(&log), seqs);
            assert_eq!(log.last(), seqs.last().copied());

            let json = serde_json::to_string(&log).unwrap();
            let back: SeqLog = serde_json::from_str(&json).unwrap();
            assert_eq!(expand(&back), seqs);
            assert_eq!(back.last(), seqs.last().copied());
        }
    }

    #[test]
    fn seq_log_keeps_accepting_after_a_round_trip() {
        let log = log_of(&[0, 1, 2, 10]);
        let mut back: SeqLog = serde_json::from_str(&serde_json::to_string(&log).unwrap()).unwrap();
        assert_eq!(back.push(10), Err(10));
        back.push(11).unwrap();
        back.push(20).unwrap();
        assert_eq!(expand(&back), [0, 1, 2, 10, 11, 20]);
        let again: SeqLog = serde_json::from_str(&serde_json::to_string(&back).unwrap()).unwrap();
        assert_eq!(expand(&again), [0, 1, 2, 10, 11, 20]);
        assert_eq!(again.count(), 6);
    }

    #[test]
    fn seq_log_rejects_non_increasing_numbers() {
        let mut log = log_of(&[4, 5]);
        assert_eq!(log.push(5), Err(5));
        assert_eq!(log.push(1), Err(5));
        assert_eq!(expand(&log), [4, 5]);
    }

    #[test]
    fn seq_log_one_run_is_tiny() {
        let log = log_of(&(0..1_000_000).collect::<Vec<_>>());
        let json = serde_json::to_string(&log).unwrap();
        assert!(json.len() < 40, "{json}");
    }

    #[test]
    fn corrupt_wire_logs_are_refused() {
        for bad in [
            r#"{"count":1,"runs":"0"}"#,
            r#"{"count":1,"runs":"zz01"}"#,
            r#"{"count":2,"runs":"0001"}"#,
            r#"{"count":0,"runs":"0000"}"#,
            r#"{"count":1,"runs":"80"}"#,
        ] {
            assert!(
                serde_json::from_str::<SeqLog>(bad).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn ledger_flags_reordering_and_repeats_within_a_reader() {
        let mut ledger = ReaderLedger::new(1, 2);
        ledger.accept(id(0, 0)).unwrap();
        ledger.accept(id(1, 0)).unwrap();
        ledger.accept(id(0, 2)).unwrap();
        assert_eq!(
            ledger.accept(id(0, 1)),
            Err(Violation::OutOfOrder {
                reader: 1,
                writer: 0,
                seq: 1,
                after: 2
            })
        );
        assert!(matches!(
            ledger.accept(id(1, 0)),
            Err(Violation::OutOfOrder {
                seq: 0,
                after: 0,
                ..
            })
        ));
        assert_eq!(
            ledger.accept(id(5, 0)),
            Err(Violation::UnknownWriter {
                reader: 1,
                writer: 5,
                seq: 0
            })
        );
    }

    /// True when everything written was received exactly once.
    fn clean(found: &Reconciliation) -> bool {
        found.violations.is_empty() && found.losses.is_empty() && found.lost_records == 0
    }

    fn received(reader: u32, per_writer: &[&[u64]]) -> Received {
        let mut ledger = ReaderLedger::new(reader, per_writer.len() as u32);
        for (w, seqs) in per_writer.iter().enumerate() {
            for &s in *seqs {
                ledger.accept(id(w as u32, s)).unwrap();
            }
        }
        ledger.into_received()
    }

    #[test]
    fn complete_interleaved_delivery_passes() {
        let a = received(0, &[&[0, 2, 3], &[1]]);
        let b = received(1, &[&[1, 4], &[0, 2]]);
        assert!(clean(&reconcile(&[5, 3], &[a, b])));
    }

    #[test]
    fn nothing_written_nothing_received_passes() {
        assert!(clean(&reconcile(&[0, 0], &[received(0, &[&[], &[]])])));
    }

    #[test]
    fn losses_are_reported_as_ranges() {
        let a = received(0, &[&[0, 1, 5, 9]]);
        let found = reconcile(&[12], &[a]);
        assert!(found.violations.is_empty());
        assert_eq!(found.lost_records, 8);
        assert_eq!(
            found.losses.kept(),
            [
                Violation::Lost {
                    writer: 0,
                    first: 2,
                    count: 3
                },
                Violation::Lost {
                    writer: 0,
                    first: 6,
                    count: 3
                },
                Violation::Lost {
                    writer: 0,
                    first: 10,
                    count: 2
                },
            ]
        );
    }

    #[test]
    fn duplicates_across_readers_are_reported() {
        let a = received(0, &[&[0, 1]]);
        let b = received(3, &[&[1, 2]]);
        let v = reconcile(&[3], &[a, b]).violations;
        assert_eq!(
            v.kept(),
            [Violation::Duplicate {
                writer: 0,
                seq: 1,
                reader: 3
            }]
        );
    }

    #[test]
    fn records_nobody_completed_are_phantoms() {
        let a = received(2, &[&[0, 1, 2]]);
        let v = reconcile(&[2], &[a]).violations;
        assert_eq!(
            v.kept(),
            [Violation::Phantom {
                writer: 0,
                seq: 2,
                reader: 2
            }]
        );
    }

    #[test]
    fn out_of_order_records_count_as_received_not_lost() {
        let mut ledger = ReaderLedger::new(0, 1);
        ledger.accept(id(0, 1)).unwrap();
        assert!(ledger.accept(id(0, 0)).is_err());
        let found = reconcile(&[2], &[ledger.into_received()]);
        assert!(clean(&found), "{found:?}");

        let mut ledger = ReaderLedger::new(0, 1);
        ledger.accept(id(0, 0)).unwrap();
        assert!(ledger.accept(id(0, 0)).is_err());
        let v = reconcile(&[1], &[ledger.into_received()]).violations;
        assert!(matches!(v.kept(), [Violation::Duplicate { seq: 0, .. }]));
    }

    #[test]
    fn gaps_are_counted_apart_from_duplicates_and_phantoms() {
        // What overwrite mode may do (skip records) is kept apart from what
        // it may not (deliver one twice, or one never written).
        let a = received(0, &[&[0, 4, 9], &[]]);
        let b = received(1, &[&[4, 5], &[2]]);
        let found = reconcile(&[9, 3], &[a, b]);
        assert_eq!(
            found.violations.kept(),
            [
                Violation::Phantom {
                    writer: 0,
                    seq: 9,
                    reader: 0
                },
                Violation::Duplicate {
                    writer: 0,
                    seq: 4,
                    reader: 1
                },
            ]
        );
        // Writer 0 lost 1..=3 and 6..=8, writer 1 lost 0..=1.
        assert_eq!(found.lost_records, 8);
        assert_eq!(found.losses.total(), 3);
    }

    #[test]
    fn reconcile_survives_the_process_boundary() {
        let a = received(0, &[&[0, 2, 4, 6], &[0, 1, 2]]);
        let b = received(1, &[&[1, 3, 5], &[3]]);
        let wire = serde_json::to_string(&[a, b]).unwrap();
        let back: Vec<Received> = serde_json::from_str(&wire).unwrap();
        assert!(clean(&reconcile(&[7, 4], &back)));
        assert!(matches!(
            reconcile(&[8, 4], &back).losses.kept(),
            [Violation::Lost {
                writer: 0,
                first: 7,
                count: 1
            }]
        ));
    }
}
