// SPDX-License-Identifier: GPL-2.0

//! The two-sided ring against a `VecDeque` model: every operation, every
//! size from 1 to the capacity, wrap-around, full and empty, and copies that
//! stop short the way a faulting user copy does; then the two halves on two
//! threads, which Miri checks for data races (`host/check-miri-loom`).

use crate::spsc::{OwnedBytes, Storage};
use crate::std_ring::{halves, shared_ring, Consumer, Producer, Ring};
use proptest::prelude::*;
use std::{collections::VecDeque, thread};

/// One step of a random workload.
#[derive(Clone, Debug)]
enum Op {
    /// Write `len` bytes, of which the copy accepts at most `accept`.
    Write { len: usize, accept: usize },
    /// Read up to `len` bytes, of which the copy takes at most `accept`.
    Read { len: usize, accept: usize },
    /// The consumer drops everything waiting, as `RESET` does.
    Clear,
}

fn op(capacity: usize) -> impl Strategy<Value = Op> {
    let size = 0..=capacity * 2 + 1;
    prop_oneof![
        8 => (size.clone(), size.clone()).prop_map(|(len, accept)| Op::Write { len, accept }),
        8 => (size.clone(), size).prop_map(|(len, accept)| Op::Read { len, accept }),
        1 => Just(Op::Clear),
    ]
}

/// Applies `ops` to a ring and to the model and checks they agree after each.
fn check_against_model(capacity: usize, ops: &[Op]) {
    let (mut producer, mut consumer, ring) = shared_ring(capacity);
    let mut model = VecDeque::new();
    let mut next_byte = 0u8;
    // Every byte ever offered and taken, as the mapped consumer counts them.
    let (mut written, mut taken_total) = (0u64, 0u64);
    for op in ops {
        match *op {
            Op::Write { len, accept } => {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        next_byte = next_byte.wrapping_add(1);
                        next_byte
                    })
                    .collect();
                let mut offered = 0;
                let mut budget = accept;
                let stored = producer.write_with(len, |chunk| {
                    let n = chunk.len().min(budget);
                    chunk[..n].copy_from_slice(&data[offered..offered + n]);
                    offered += n;
                    budget -= n;
                    n
                });
                let expected = len.min(capacity - model.len()).min(accept);
                assert_eq!(stored, expected, "write {len} accept {accept}");
                model.extend(&data[..stored]);
                written += stored as u64;
            }
            Op::Read { len, accept } => {
                let mut got = Vec::new();
                let mut budget = accept;
                let taken = consumer.read_with(len, |chunk| {
                    assert!(!chunk.is_empty(), "read_with offered an empty chunk");
                    let n = chunk.len().min(budget);
                    got.extend_from_slice(&chunk[..n]);
                    budget -= n;
                    n
                });
                let expected: Vec<u8> = model.drain(..len.min(model.len()).min(accept)).collect();
                assert_eq!(taken, expected.len());
                assert_eq!(got, expected, "bytes out of order or lost");
                taken_total += taken as u64;
            }
            Op::Clear => {
                consumer.discard(usize::MAX);
                taken_total += model.len() as u64;
                model.clear();
            }
        }
        assert_eq!(producer.written(), written);
        assert_eq!(consumer.taken(), taken_total);
        assert_eq!(producer.tail_index(), (written % capacity as u64) as usize);
        assert_eq!(
            consumer.head_index(),
            (taken_total % capacity as u64) as usize
        );
        assert_eq!(consumer.len(), model.len());
        assert_eq!(ring.len(), model.len());
        assert_eq!(producer.free(), capacity - model.len());
        assert_eq!(consumer.is_empty(), model.is_empty());
        assert_eq!(ring.is_empty(), model.is_empty());
        assert_eq!(ring.capacity(), capacity);
        assert_eq!(ring.storage().capacity(), capacity);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn ring_matches_model(
        (capacity, ops) in (1usize..=70).prop_flat_map(|c| (Just(c), prop::collection::vec(op(c), 0..60)))
    ) {
        check_against_model(capacity, &ops);
    }
}

#[test]
fn empty_storage_is_refused() {
    assert!(Ring::new(OwnedBytes::new(Vec::new())).is_none());
    assert!(Ring::new(OwnedBytes::new(vec![0u8; 1])).is_some());
}

/// For every capacity up to 48 and every write size up to the capacity,
/// a write starting at every offset wraps correctly and reads back intact.
#[test]
fn every_size_at_every_offset() {
    for capacity in 1..=48 {
        for offset in 0..capacity {
            for size in 1..=capacity {
                let (mut producer, mut consumer) = halves(capacity);
                // Move head and tail to `offset`.
                producer.write_with(offset, |c| c.len());
                consumer.read_with(offset, |c| c.len());
                let data: Vec<u8> = (0..size).map(|i| i as u8 ^ 0x5a).collect();
                let mut at = 0;
                let stored = producer.write_with(size, |chunk| {
                    chunk.copy_from_slice(&data[at..at + chunk.len()]);
                    at += chunk.len();
                    chunk.len()
                });
                assert_eq!(stored, size);
                assert_eq!(producer.free(), capacity - size);
                let mut out = Vec::new();
                let taken = consumer.read_with(usize::MAX, |chunk| {
                    out.extend_from_slice(chunk);
                    chunk.len()
                });
                assert_eq!(taken, size);
                assert_eq!(out, data, "capacity {capacity} offset {offset} size {size}");
                assert!(consumer.is_empty());
            }
        }
    }
}

#[test]
fn full_ring_takes_nothing_more() {
    let (mut producer, consumer) = halves(8);
    assert_eq!(producer.write_with(100, |c| c.len()), 8);
    assert_eq!(producer.free(), 0);
    assert_eq!(consumer.len(), 8);
    assert_eq!(producer.write_with(1, |_| panic!("no room, no copy")), 0);
}

#[test]
fn empty_ring_gives_nothing() {
    let (_producer, mut consumer) = halves(8);
    assert_eq!(consumer.read_with(100, |_| panic!("nothing to copy")), 0);
}

/// A copy that faults part-way leaves the untaken bytes in the ring, in order.
#[test]
fn short_read_keeps_the_rest() {
    let (mut producer, mut consumer) = halves(8);
    let data = *b"abcdefgh";
    let mut at = 0;
    producer.write_with(8, |c| {
        c.copy_from_slice(&data[at..at + c.len()]);
        at += c.len();
        c.len()
    });
    let mut got = Vec::new();
    assert_eq!(
        consumer.read_with(8, |c| {
            got.extend_from_slice(&c[..3]);
            3
        }),
        3
    );
    assert_eq!(got, b"abc");
    let mut rest = Vec::new();
    consumer.read_with(8, |c| {
        rest.extend_from_slice(c);
        c.len()
    });
    assert_eq!(rest, b"defgh");
}

/// Under Miri, few bytes: the interpreter is slow, and what it checks (that
/// no byte is touched by both threads without the positions ordering them)
/// shows at any length.
const STREAM_LEN: usize = if cfg!(miri) { 300 } else { 1 << 20 };

/// Writes the numbered byte stream `0, 1, 2, ...` (mod 251, a prime, so the
/// pattern never lines up with the capacity) in chunks of varying size.
fn produce(mut producer: Producer) {
    let mut sent = 0;
    let mut size = 1;
    while sent < STREAM_LEN {
        let want = size.min(STREAM_LEN - sent);
        let mut next = sent;
        sent += producer.write_with(want, |chunk| {
            for byte in chunk.iter_mut() {
                *byte = (next % 251) as u8;
                next += 1;
            }
            chunk.len()
        });
        size = size % 13 + 1;
        thread::yield_now();
    }
}

/// Reads the stream back and checks every byte arrives once, in order.
fn consume(mut consumer: Consumer) {
    let mut received = 0;
    let mut size = 1;
    while received < STREAM_LEN {
        let mut next = received;
        received += consumer.read_with(size, |chunk| {
            for byte in chunk {
                assert_eq!(*byte, (next % 251) as u8, "byte {next}");
                next += 1;
            }
            chunk.len()
        });
        size = size % 7 + 1;
        thread::yield_now();
    }
    assert!(consumer.is_empty());
}

/// The halves on two threads, lock-free: every byte arrives once, in order.
#[test]
fn halves_on_two_threads_move_a_stream_in_order() {
    for capacity in [1, 7, 64] {
        let (producer, consumer) = halves(capacity);
        let writer = thread::spawn(move || produce(producer));
        consume(consumer);
        writer.join().unwrap();
    }
}
