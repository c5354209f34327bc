// SPDX-License-Identifier: GPL-2.0

//! Record boundaries in the ring, and dropping the oldest data in whole
//! records, which is what overwrite (telemetry) mode needs.
//!
//! A record is what one write stored in one piece: the whole write for an
//! atomic write, each stored piece of a larger one. [`RecordStarts`] keeps
//! one bit per byte position of the byte ring, set where a record starts.
//! A writer that must make room drops records from the oldest end, never
//! part of one, so a reader never sees a record whose start was dropped.
//!
//! Like `ringbuf.rs`, this file uses only `core` and is also compiled and
//! tested on the host.

use crate::ringbuf::{ReadEnd, RingBuf, WriteEnd};
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

/// Where the records in a [`RingBuf`] start.
///
/// Only the writer changes the map, and the writer is the one that drops
/// records, so the map lives with the [`WriteEnd`]. A reader that needs
/// record boundaries must also exclude the writer.
///
/// # Invariants
///
/// `starts` has a bit for every position of the ring's storage; bits past
/// the capacity are zero. The oldest readable byte always starts a record,
/// whatever its bit says; for every other readable byte, its bit is set
/// exactly when a record starts there. Bits of free positions mean nothing:
/// a write clears them before it uses the positions.
pub(crate) struct RecordStarts<M> {
    starts: M,
    capacity: usize,
}

impl<M: DerefMut<Target = [u64]>> RecordStarts<M> {
    /// Uses `starts` (all zero, [`start_map_words`] long) as the start map
    /// of the empty `ring`. Returns `None` if the map does not fit.
    pub(crate) fn new(ring: &RingBuf, starts: M) -> Option<Self> {
        let capacity = ring.capacity();
        if !ring.is_empty()
            || starts.len() != start_map_words(capacity)
            || starts.iter().any(|&word| word != 0)
        {
            return None;
        }
        Some(Self { starts, capacity })
    }

    /// Moves up to `max` bytes into `ring`, as [`RingBuf::write_with`];
    /// what it stores is one record. What a short read leaves of a record
    /// is a record of its own, since the oldest byte always starts one.
    pub(crate) fn write_with(
        &mut self,
        ring: &RingBuf,
        end: &mut WriteEnd,
        max: usize,
        fill: impl FnMut(&mut [u8]) -> usize,
    ) -> usize {
        let start = ring.tail(end);
        let filled = ring.write_with(end, max, fill);
        if filled > 0 {
            self.clear_range(ring, start, filled);
            self.set(start);
        }
        filled
    }

    /// Drops the oldest whole records until `needed` bytes are free (or the
    /// ring is empty, if `needed` exceeds the capacity). Returns what was
    /// dropped. Holding both ends, the caller sees exact lengths.
    pub(crate) fn make_room(
        &self,
        ring: &RingBuf,
        writer: &WriteEnd,
        reader: &mut ReadEnd,
        needed: usize,
    ) -> Dropped {
        let mut dropped = Dropped::default();
        while ring.writable(writer) < needed {
            let len = ring.readable(reader);
            if len == 0 {
                break;
            }
            let record = self
                .next_start(ring, ring.head(reader), len - 1)
                .unwrap_or(len);
            ring.discard(reader, record);
            dropped.bytes += record;
            dropped.records += 1;
        }
        dropped
    }

    /// How many of the oldest bytes a reader that takes whole records can
    /// take with room for `max`: every whole record that fits, or, when not
    /// even the oldest one fits, `max` bytes of it. The caller holds the
    /// write end too (through `self`), so no record is being added.
    pub(crate) fn whole_records_within(
        &self,
        ring: &RingBuf,
        reader: &ReadEnd,
        max: usize,
    ) -> usize {
        let len = ring.readable(reader);
        if len <= max {
            return len;
        }
        self.last_start(ring, ring.head(reader), max).unwrap_or(max)
    }

    /// Marks `position` as the start of a record.
    fn set(&mut self, position: usize) {
        self.starts[position / WORD_BITS] |= 1 << (position % WORD_BITS);
    }

    /// Unmarks the `len` positions from `start` on, wrapping at the capacity.
    fn clear_range(&mut self, ring: &RingBuf, start: usize, len: usize) {
        let mut done = 0;
        while done < len {
            let position = ring.wrap(start + done);
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
    fn next_start(&self, ring: &RingBuf, from: usize, limit: usize) -> Option<usize> {
        let mut distance = 1;
        while distance <= limit {
            let position = ring.wrap(from + distance);
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
    fn last_start(&self, ring: &RingBuf, from: usize, limit: usize) -> Option<usize> {
        let mut distance = limit;
        while distance >= 1 {
            let position = ring.wrap(from + distance);
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
