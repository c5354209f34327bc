// SPDX-License-Identifier: GPL-2.0

//! Record boundaries in the ring, and dropping the oldest data in whole
//! records, which is what overwrite (telemetry) mode needs.
//!
//! A record is what one write stored in one piece: the whole write for an
//! atomic write, each stored piece of a larger one. [`RecordStarts`] keeps
//! one bit per byte position, set where a record starts; it exists only
//! once the device is in overwrite mode, and block-mode writes never touch
//! it. [`RecordRing`] borrows both halves of the ring with the map, which
//! is what an overwriting writer holds (both sides' locks): it drops
//! records from the oldest end, never part of one, so a reader never sees
//! a record whose start was dropped.
//!
//! Like `spsc.rs`, this file uses only `core` and is also compiled and
//! tested on the host.

use crate::spsc::{Consumer, Position, Producer, Ring, Share, Storage};
use core::ops::DerefMut;

/// Bits per word of the start map.
const WORD_BITS: usize = u64::BITS as usize;

/// What making room dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) bytes: usize,
    pub(crate) records: usize,
}

/// The number of `u64` words the start map of a `capacity`-byte ring needs.
pub(crate) const fn start_map_words(capacity: usize) -> usize {
    capacity.div_ceil(WORD_BITS)
}

/// Where the records of a ring of `capacity` bytes start.
///
/// # Invariants
///
/// `starts` has a bit for every position of the ring's storage; bits past
/// the capacity are zero. While the map is in use (see [`RecordRing`]), the
/// oldest waiting byte starts a record, whatever its bit says, and for
/// every other waiting byte, its bit is set exactly when a record starts
/// there. Bits of free positions mean nothing: a write clears them before
/// it uses the positions.
pub(crate) struct RecordStarts<M> {
    starts: M,
    capacity: usize,
}

impl<M: DerefMut<Target = [u64]>> RecordStarts<M> {
    /// The map of a `capacity`-byte ring in `starts`, all zero and
    /// [`start_map_words`] long; `None` otherwise.
    pub(crate) fn new(starts: M, capacity: usize) -> Option<Self> {
        if capacity == 0
            || starts.len() != start_map_words(capacity)
            || starts.iter().any(|&word| word != 0)
        {
            return None;
        }
        Some(Self { starts, capacity })
    }

    /// Takes the `len` bytes waiting from storage index `head`, written while
    /// no boundaries were kept, as records of at most `record_max` bytes:
    /// making room then drops at most that much of them at a time.
    pub(crate) fn adopt(&mut self, head: usize, len: usize, record_max: usize) {
        self.clear_range(head, len);
        let mut offset = 0;
        while offset < len {
            self.set(self.wrap(head + offset));
            offset += record_max.max(1);
        }
    }

    /// How many of the `len` bytes waiting from storage index `head` a
    /// reader that takes whole records can take with room for `max`: every
    /// whole record that fits, or, when not even the oldest one fits, `max`
    /// bytes of it. Readers call it holding only their side, which is
    /// enough: in overwrite mode every writer holds both sides.
    pub(crate) fn whole_records_within(&self, head: usize, len: usize, max: usize) -> usize {
        if len <= max {
            return len;
        }
        self.last_start(head, max).unwrap_or(max)
    }

    /// Folds an index below twice the capacity back into the storage.
    fn wrap(&self, index: usize) -> usize {
        if index >= self.capacity {
            index - self.capacity
        } else {
            index
        }
    }

    /// Marks `position` as the start of a record.
    fn set(&mut self, position: usize) {
        self.starts[position / WORD_BITS] |= 1 << (position % WORD_BITS);
    }

    /// Unmarks the `len` positions from `start` on, wrapping at the capacity.
    fn clear_range(&mut self, start: usize, len: usize) {
        let mut done = 0;
        while done < len {
            let position = self.wrap(start + done);
            let bit = position % WORD_BITS;
            let span = (WORD_BITS - bit)
                .min(self.capacity - position)
                .min(len - done);
            self.starts[position / WORD_BITS] &= !(low_bits(span) << bit);
            done += span;
        }
    }

    /// The smallest distance `d` in `1..=limit` such that a record starts at
    /// `from + d` (wrapping), scanning a word at a time.
    fn next_start(&self, from: usize, limit: usize) -> Option<usize> {
        let mut distance = 1;
        while distance <= limit {
            let position = self.wrap(from + distance);
            let bit = position % WORD_BITS;
            let span = (WORD_BITS - bit)
                .min(self.capacity - position)
                .min(limit - distance + 1);
            let bits = (self.starts[position / WORD_BITS] >> bit) & low_bits(span);
            if bits != 0 {
                return Some(distance + bits.trailing_zeros() as usize);
            }
            distance += span;
        }
        None
    }

    /// The largest distance `d` in `1..=limit` such that a record starts at
    /// `from + d` (wrapping), scanning a word at a time.
    fn last_start(&self, from: usize, limit: usize) -> Option<usize> {
        let mut distance = limit;
        while distance >= 1 {
            let position = self.wrap(from + distance);
            let bit = position % WORD_BITS;
            // Positions `position - span + 1 ..= position` share a word and
            // lie at distances `distance - span + 1 ..= distance`.
            let span = (bit + 1).min(distance);
            let bits = (self.starts[position / WORD_BITS] >> (bit + 1 - span)) & low_bits(span);
            if bits != 0 {
                let highest = WORD_BITS - 1 - bits.leading_zeros() as usize;
                return Some(distance + 1 + highest - span);
            }
            distance -= span;
        }
        None
    }
}

/// Both halves of a ring and its record map, borrowed together by whoever
/// holds both sides: the operations of overwrite mode.
pub(crate) struct RecordRing<'a, R, M> {
    producer: &'a mut Producer<R>,
    consumer: &'a mut Consumer<R>,
    starts: &'a mut RecordStarts<M>,
}

impl<'a, R, S, P, M> RecordRing<'a, R, M>
where
    R: Share<Target = Ring<S, P>>,
    S: Storage,
    P: Position,
    M: DerefMut<Target = [u64]>,
{
    /// The record view of the ring the halves share, whose boundaries
    /// `starts` keeps.
    pub(crate) fn new(
        producer: &'a mut Producer<R>,
        consumer: &'a mut Consumer<R>,
        starts: &'a mut RecordStarts<M>,
    ) -> Self {
        Self {
            producer,
            consumer,
            starts,
        }
    }

    /// The number of bytes that can be written before the ring is full.
    pub(crate) fn free(&self) -> usize {
        self.producer.free()
    }

    /// Moves up to `max` bytes into the ring, as [`Producer::write_with`];
    /// what it stores is one record.
    pub(crate) fn write_with(&mut self, max: usize, fill: impl FnMut(&mut [u8]) -> usize) -> usize {
        let start = self.producer.tail_index();
        let filled = self.producer.write_with(max, fill);
        if filled > 0 {
            self.starts.clear_range(start, filled);
            self.starts.set(start);
        }
        filled
    }

    /// Drops the oldest whole records until `needed` bytes are free (or the
    /// ring is empty, if `needed` exceeds the capacity). Returns what was dropped.
    pub(crate) fn make_room(&mut self, needed: usize) -> Dropped {
        let mut dropped = Dropped::default();
        while self.producer.free() < needed && !self.consumer.is_empty() {
            let len = self.consumer.len();
            let head = self.consumer.head_index();
            let record = self.starts.next_start(head, len - 1).unwrap_or(len);
            self.consumer.discard(record);
            dropped.bytes += record;
            dropped.records += 1;
        }
        dropped
    }
}

/// A word with its `count` (1 to 64) lowest bits set.
fn low_bits(count: usize) -> u64 {
    u64::MAX >> (WORD_BITS - count)
}
