// SPDX-License-Identifier: GPL-2.0

//! The telemetry ring against a model: a `VecDeque` of sequence numbers
//! that drops its oldest entry when a push finds it full. Then the two
//! halves on two threads, a producer that never waits against a consumer
//! that keeps losing races to it, which Miri checks for data races
//! (`host/check-miri-loom`) and every test checks for torn samples.

use crate::sample_ring::{SAMPLE_BYTES, SAMPLE_WORDS};
use crate::std_ring::{sample_ring, SampleConsumer, SampleProducer, SampleRing};
use proptest::prelude::*;
use std::{collections::VecDeque, thread};

/// A sample whose every word tells its sequence number, so a torn one shows.
fn sample(seq: u64) -> [u64; SAMPLE_WORDS] {
    [seq, seq ^ u64::MAX, seq.rotate_left(17)]
}

/// Takes up to `max` samples; checks each is whole and returns their
/// sequence numbers.
fn take(consumer: &mut SampleConsumer, max: usize) -> Vec<u64> {
    let mut out = vec![0u8; max * SAMPLE_BYTES];
    let taken = consumer.take_into(&mut out);
    out.chunks_exact(SAMPLE_BYTES)
        .take(taken)
        .map(|bytes| {
            let words: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|word| u64::from_ne_bytes(word.try_into().unwrap()))
                .collect();
            assert_eq!(words, sample(words[0]), "a torn sample");
            words[0]
        })
        .collect()
}

/// One step of a random workload.
#[derive(Clone, Debug)]
enum Op {
    Push,
    Take(usize),
    Discard,
}

fn op(capacity: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Push),
        3 => (0..=capacity + 2).prop_map(Op::Take),
        1 => Just(Op::Discard),
    ]
}

fn check_against_model(capacity: usize, ops: &[Op]) {
    let (mut producer, mut consumer, ring) = sample_ring(capacity);
    let mut model = VecDeque::new();
    let mut dropped = 0;
    for op in ops {
        match *op {
            Op::Push => {
                let seq = producer.next_position();
                let full = model.len() == capacity;
                if full {
                    model.pop_front();
                    dropped += 1;
                }
                model.push_back(seq);
                assert_eq!(producer.push(sample(seq)), full);
            }
            Op::Take(max) => {
                let expected: Vec<u64> = model.drain(..max.min(model.len())).collect();
                assert_eq!(take(&mut consumer, max), expected);
            }
            Op::Discard => {
                assert_eq!(consumer.discard(), model.len() as u64);
                model.clear();
            }
        }
        assert_eq!(ring.len(), model.len());
        assert_eq!(ring.is_empty(), model.is_empty());
        assert_eq!(ring.produced(), producer.next_position());
    }
    let discarded_or_taken = ring.produced() - dropped - model.len() as u64;
    assert!(discarded_or_taken <= ring.produced());
}

proptest! {
    #[test]
    fn agrees_with_the_model(capacity in 1usize..9, ops in prop::collection::vec(op(8), 0..200)) {
        check_against_model(capacity, &ops);
    }
}

#[test]
fn rejects_slots_that_hold_no_whole_sample() {
    use std::sync::atomic::AtomicU64;
    let words = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect::<Vec<_>>();
    assert!(SampleRing::new(words(0)).is_none());
    assert!(SampleRing::new(words(SAMPLE_WORDS + 1)).is_none());
    assert_eq!(
        SampleRing::new(words(2 * SAMPLE_WORDS)).unwrap().capacity(),
        2
    );
}

#[test]
fn a_full_ring_keeps_the_newest() {
    let (mut producer, mut consumer, _) = sample_ring(3);
    let drops: Vec<bool> = (0..5).map(|seq| producer.push(sample(seq))).collect();
    assert_eq!(drops, [false, false, false, true, true]);
    assert_eq!(take(&mut consumer, 10), [2, 3, 4]);
}

#[test]
fn a_buffer_smaller_than_a_sample_takes_nothing() {
    let (mut producer, mut consumer, ring) = sample_ring(2);
    producer.push(sample(0));
    assert_eq!(consumer.take_into(&mut [0u8; SAMPLE_BYTES - 1]), 0);
    assert_eq!(ring.len(), 1);
}

/// Samples per two-thread run; fewer under Miri, which interprets them.
const STREAM: u64 = if cfg!(miri) { 300 } else { 2000 };

fn produce(mut producer: SampleProducer) -> u64 {
    (0..STREAM)
        .filter(|&seq| producer.push(sample(seq)))
        .count() as u64
}

/// Takes until the producer is done and the ring is empty; checks the
/// sequence numbers only grow, and returns how many it took.
fn consume(mut consumer: SampleConsumer, ring: &SampleRing) -> u64 {
    let mut last = None;
    let mut taken = 0;
    loop {
        let done = ring.produced() == STREAM;
        let seqs = take(&mut consumer, 3);
        for seq in &seqs {
            assert!(last < Some(*seq), "{seq} after {last:?}");
            last = Some(*seq);
        }
        taken += seqs.len() as u64;
        if done && seqs.is_empty() {
            return taken;
        }
    }
}

#[test]
fn halves_on_two_threads_lose_only_what_they_count() {
    for capacity in [1, 2, 5] {
        let (producer, consumer, ring) = sample_ring(capacity);
        let writer = thread::spawn(move || produce(producer));
        let taken = consume(consumer, &ring);
        let dropped = writer.join().unwrap();
        assert_eq!(taken + dropped, STREAM, "capacity {capacity}");
    }
}
