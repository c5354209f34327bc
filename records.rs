// SPDX-License-Identifier: GPL-2.0

//! Record boundaries in the ring, and dropping the oldest data in whole
//! records, which is what overwrite (telemetry) mode needs.
//!
//! A record is what one write stored in one piece: the whole write for an
//! atomic write, each stored piece of a larger one. [`RecordRing`] wraps the
//! byte ring and keeps one bit per byte position, set where a record starts.
//! A writer that must make room drops records from the oldest end, never
//! part of one, so a reader never sees a record whose start was dropped.
//!
//! Like `ringbuf.rs`, this file uses only `core` and is also compiled and
//! tested on the host.

use crate::ringbuf::RingBuf;
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

/// A byte ring that knows where its records start.
///
/// # Invariants
///
/// `starts` has a bit for every position of the ring's storage; bits past
/// the capacity are zero. The oldest readable byte always starts a record,
/// whatever its bit says; for every other readable byte, its bit is set
/// exactly when a record starts there. Bits of free positions mean nothing:
/// a write clears them before it uses the positions.
pub(crate) struct RecordRing<B, M> {
    ring: RingBuf<B>,
    starts: M,
}

impl<B: DerefMut<Target = [u8]>, M: DerefMut<Target = [u64]>> RecordRing<B, M> {
    /// Wraps `ring`, empty, with `starts` (all zero, [`start_map_words`]
    /// long) as its start map. Returns `None` if the map does not fit.
    pub(crate) fn new(ring: RingBuf<B>, starts: M) -> Option<Self> {
        if !ring.is_empty()
            || starts.len() != start_map_words(ring.capacity())
            || starts.iter().any(|&word| word != 0)
        {
            return None;
        }
        Some(Self { ring, starts })
    }

    /// The number of bytes the ring can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// The number of bytes waiting to be read.
    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    /// Whether there is nothing to read.
    pub(crate) fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The number of bytes that can be written before the ring is full.
    pub(crate) fn free(&self) -> usize {
        self.ring.free()
    }

    /// Discards everything that was written and not yet read.
    pub(crate) fn clear(&mut self) {
        self.ring.clear();
    }

    /// Moves up to `max` bytes out of the ring, as [`RingBuf::read_with`].
    /// What a short read leaves of a record is a record of its own, since
    /// the oldest byte always starts one.
    pub(crate) fn read_with(&mut self, max: usize, copy: impl FnMut(&[u8]) -> usize) -> usize {
        self.ring.read_with(max, copy)
    }

    /// Moves up to `max` bytes into the ring, as [`RingBuf::write_with`];
    /// what it stores is one record.
    pub(crate) fn write_with(&mut self, max: usize, fill: impl FnMut(&mut [u8]) -> usize) -> usize {
        let start = self.ring.tail();
        let filled = self.ring.write_with(max, fill);
        if filled > 0 {
            self.clear_range(start, filled);
            self.set(start);
        }
        filled
    }

    /// Drops the oldest whole records until `needed` bytes are free (or the
    /// ring is empty, if `needed` exceeds the capacity). Returns what was dropped.
    pub(crate) fn make_room(&mut self, needed: usize) -> Dropped {
        let mut dropped = Dropped::default();
        while self.ring.free() < needed && !self.ring.is_empty() {
            let len = self.ring.len();
            let record = self.next_start(self.ring.head(), len - 1).unwrap_or(len);
            self.ring.discard(record);
            dropped.bytes += record;
            dropped.records += 1;
        }
        dropped
    }

    /// How many of the oldest bytes a reader that takes whole records can
    /// take with room for `max`: every whole record that fits, or, when not
    /// even the oldest one fits, `max` bytes of it.
    pub(crate) fn whole_records_within(&self, max: usize) -> usize {
        let len = self.ring.len();
        if len <= max {
            return len;
        }
        self.last_start(self.ring.head(), max).unwrap_or(max)
    }

    /// Marks `position` as the start of a record.
    fn set(&mut self, position: usize) {
        self.starts[position / WORD_BITS] |= 1 << (position % WORD_BITS);
    }

    /// Unmarks the `len` positions from `start` on, wrapping at the capacity.
    fn clear_range(&mut self, start: usize, len: usize) {
        let mut done = 0;
        while done < len {
            let position = self.ring.wrap(start + done);
            let bit = position % WORD_BITS;
            let span = (WORD_BITS - bit)
                .min(self.capacity() - position)
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
            let position = self.ring.wrap(from + distance);
            let bit = position % WORD_BITS;
            let span = (WORD_BITS - bit)
                .min(self.capacity() - position)
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
            let position = self.ring.wrap(from + distance);
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

/// A word with its `count` (1 to 64) lowest bits set.
fn low_bits(count: usize) -> u64 {
    u64::MAX >> (WORD_BITS - count)
}
