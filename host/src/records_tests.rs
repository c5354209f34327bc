// SPDX-License-Identifier: GPL-2.0

//! The record ring against a model that keeps each record as its own
//! `Vec`: writes that store all, part or none of their bytes, overwriting
//! writes that drop the oldest records, reads of whole records or of any
//! length, and copies that stop short.

use crate::records::{start_map_words, Dropped, RecordRing, RecordStarts};
use crate::std_ring::{halves, Consumer, Producer};
use proptest::prelude::*;
use std::{collections::VecDeque, sync::Arc};

type Ring<'a> = RecordRing<'a, Arc<crate::std_ring::Ring>, Vec<u64>>;

/// What an overwriting writer holds: both halves and the record map.
struct Sides {
    producer: Producer,
    consumer: Consumer,
    starts: RecordStarts<Vec<u64>>,
}

impl Sides {
    fn new(capacity: usize) -> Self {
        let (producer, consumer) = halves(capacity);
        let starts = RecordStarts::new(vec![0u64; start_map_words(capacity)], capacity).unwrap();
        Self {
            producer,
            consumer,
            starts,
        }
    }

    fn ring(&mut self) -> Ring<'_> {
        RecordRing::new(&mut self.producer, &mut self.consumer, &mut self.starts)
    }

    /// What a reader with room for `max` may take in overwrite mode.
    fn whole_records_within(&self, max: usize) -> usize {
        let (head, len) = (self.consumer.head_index(), self.consumer.len());
        self.starts.whole_records_within(head, len, max)
    }

    /// Reads all that is waiting.
    fn drain(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.consumer.read_with(usize::MAX, |c| {
            out.extend_from_slice(c);
            c.len()
        });
        out
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// A write that may stop short or find too little room, as in block mode.
    Write {
        len: usize,
        accept: usize,
    },
    /// A write of `len` (at most the capacity) bytes that makes room first.
    Overwrite {
        len: usize,
    },
    /// A read of up to `len` bytes, of which the copy takes at most
    /// `accept`, limited to whole records if `whole`.
    Read {
        len: usize,
        accept: usize,
        whole: bool,
    },
    Clear,
}

fn op(capacity: usize) -> impl Strategy<Value = Op> {
    let size = 0..=capacity * 2 + 1;
    prop_oneof![
        4 => (size.clone(), size.clone()).prop_map(|(len, accept)| Op::Write { len, accept }),
        6 => (1..=capacity).prop_map(|len| Op::Overwrite { len }),
        8 => (size.clone(), size, any::<bool>())
            .prop_map(|(len, accept, whole)| Op::Read { len, accept, whole }),
        1 => Just(Op::Clear),
    ]
}

/// The model: the records in the ring, oldest first.
struct Model {
    capacity: usize,
    records: VecDeque<Vec<u8>>,
}

impl Model {
    fn len(&self) -> usize {
        self.records.iter().map(Vec::len).sum()
    }

    /// What `whole_records_within(max)` must return.
    fn whole_within(&self, max: usize) -> usize {
        if self.len() <= max {
            return self.len();
        }
        let mut whole = 0;
        for record in &self.records {
            if whole + record.len() > max {
                break;
            }
            whole += record.len();
        }
        if whole == 0 {
            max
        } else {
            whole
        }
    }

    fn take(&mut self, count: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < count {
            let front = self.records.front_mut().unwrap();
            let n = front.len().min(count - out.len());
            out.extend(front.drain(..n));
            if front.is_empty() {
                self.records.pop_front();
            }
        }
        out
    }
}

fn bytes(next: &mut u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *next = next.wrapping_add(1);
            *next
        })
        .collect()
}

fn store(ring: &mut Ring<'_>, data: &[u8], accept: usize) -> usize {
    let mut offered = 0;
    let mut budget = accept;
    ring.write_with(data.len(), |chunk| {
        let n = chunk.len().min(budget);
        chunk[..n].copy_from_slice(&data[offered..offered + n]);
        offered += n;
        budget -= n;
        n
    })
}

fn check_against_model(capacity: usize, ops: &[Op]) {
    let mut sides = Sides::new(capacity);
    let mut model = Model {
        capacity,
        records: VecDeque::new(),
    };
    let mut next = 0u8;
    for op in ops {
        match *op {
            Op::Write { len, accept } => {
                let data = bytes(&mut next, len);
                let stored = store(&mut sides.ring(), &data, accept);
                assert_eq!(stored, len.min(capacity - model.len()).min(accept));
                if stored > 0 {
                    model.records.push_back(data[..stored].to_vec());
                }
            }
            Op::Overwrite { len } => {
                let data = bytes(&mut next, len);
                let mut ring = sides.ring();
                let dropped = ring.make_room(len);
                let mut expected = Dropped::default();
                while model.capacity - model.len() < len {
                    let record = model.records.pop_front().unwrap();
                    expected.bytes += record.len();
                    expected.records += 1;
                }
                assert_eq!(dropped, expected, "overwrite {len}");
                assert_eq!(store(&mut ring, &data, len), len);
                model.records.push_back(data);
            }
            Op::Read { len, accept, whole } => {
                let max = if whole {
                    let max = sides.whole_records_within(len);
                    assert_eq!(max, model.whole_within(len), "whole records within {len}");
                    max
                } else {
                    len
                };
                let mut got = Vec::new();
                let mut budget = accept;
                let taken = sides.consumer.read_with(max, |chunk| {
                    let n = chunk.len().min(budget);
                    got.extend_from_slice(&chunk[..n]);
                    budget -= n;
                    n
                });
                let expected = model.take(max.min(accept).min(model.len()));
                assert_eq!(taken, expected.len());
                assert_eq!(got, expected, "bytes out of order or lost");
            }
            Op::Clear => {
                sides.consumer.discard(usize::MAX);
                model.records.clear();
            }
        }
        assert_eq!(sides.consumer.len(), model.len());
        assert_eq!(sides.ring().free(), capacity - model.len());
        assert_eq!(sides.consumer.is_empty(), model.records.is_empty());
        // Every boundary agrees, not only the ones the ops happened to probe.
        for max in 0..=capacity {
            assert_eq!(sides.whole_records_within(max), model.whole_within(max));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn record_ring_matches_model(
        (capacity, ops) in prop_oneof![1usize..=70, 120usize..=200]
            .prop_flat_map(|c| (Just(c), prop::collection::vec(op(c), 0..60)))
    ) {
        check_against_model(capacity, &ops);
    }
}

#[test]
fn map_must_fit_and_be_clear() {
    assert!(RecordStarts::new(vec![0u64; 1], 65).is_none());
    assert!(RecordStarts::new(vec![0u64, 1], 65).is_none());
    assert!(RecordStarts::new(vec![0u64; 2], 65).is_some());
    assert!(RecordStarts::new(Vec::new(), 0).is_none());
}

/// Data written before the map existed (block mode) becomes records of at
/// most `record_max` bytes, wherever the ring's head is: making room drops
/// exactly one such record at a time.
#[test]
fn adopted_data_drops_in_records_of_at_most_record_max() {
    for capacity in [5, 64, 65, 130] {
        for offset in 0..capacity {
            for record_max in 1..=capacity {
                let mut sides = Sides::new(capacity);
                sides.producer.write_with(offset, |c| c.len());
                sides.consumer.discard(offset);
                let waiting = capacity - 1;
                sides.producer.write_with(waiting, |c| c.len());
                let head = sides.consumer.head_index();
                sides.starts.adopt(head, waiting, record_max);
                let first = sides.ring().make_room(2);
                assert_eq!(
                    first,
                    Dropped {
                        bytes: record_max.min(waiting),
                        records: 1
                    }
                );
                let left = waiting - first.bytes;
                assert_eq!(sides.whole_records_within(record_max), left.min(record_max));
            }
        }
    }
}

/// One-byte records across word boundaries and the wrap: the oldest
/// are dropped one at a time, the newest survive in order.
#[test]
fn tiny_records_drop_one_by_one() {
    let capacity = 130;
    let mut sides = Sides::new(capacity);
    let mut ring = sides.ring();
    for i in 0..capacity {
        assert_eq!(ring.make_room(1), Dropped::default());
        assert_eq!(store(&mut ring, &[i as u8], 1), 1);
    }
    for i in 0..500usize {
        let dropped = ring.make_room(1);
        assert_eq!(
            dropped,
            Dropped {
                bytes: 1,
                records: 1
            }
        );
        assert_eq!(store(&mut ring, &[(capacity + i) as u8], 1), 1);
    }
    let out = sides.drain();
    let expected: Vec<u8> = (500..500 + capacity).map(|i| i as u8).collect();
    assert_eq!(out, expected);
}
