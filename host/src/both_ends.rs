// SPDX-License-Identifier: GPL-2.0

//! A ring used from one thread through both of its ends, and the same with a
//! record map, so that single-threaded tests read like plain FIFO code.

use crate::records::{start_map_words, Dropped, RecordStarts};
use crate::ringbuf::{ReadEnd, RingBuf, WriteEnd};

/// A [`RingBuf`] and both of its ends.
pub(crate) struct BothEnds {
    pub(crate) ring: RingBuf,
    pub(crate) writer: WriteEnd,
    pub(crate) reader: ReadEnd,
}

impl BothEnds {
    pub(crate) fn new(capacity: usize) -> Self {
        let (ring, writer, reader) = RingBuf::new(vec![0u8; capacity]).unwrap();
        Self {
            ring,
            writer,
            reader,
        }
    }

    pub(crate) fn write_with(&mut self, max: usize, fill: impl FnMut(&mut [u8]) -> usize) -> usize {
        self.ring.write_with(&mut self.writer, max, fill)
    }

    pub(crate) fn read_with(&mut self, max: usize, copy: impl FnMut(&[u8]) -> usize) -> usize {
        self.ring.read_with(&mut self.reader, max, copy)
    }

    pub(crate) fn clear(&mut self) {
        self.ring.clear(&mut self.reader);
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn free(&self) -> usize {
        self.ring.free()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }
}

/// A ring with both ends and its record map.
pub(crate) struct RecordRing {
    pub(crate) both: BothEnds,
    pub(crate) starts: RecordStarts<Vec<u64>>,
}

impl RecordRing {
    pub(crate) fn new(capacity: usize) -> Self {
        let both = BothEnds::new(capacity);
        let starts = RecordStarts::new(&both.ring, vec![0u64; start_map_words(capacity)]).unwrap();
        Self { both, starts }
    }

    pub(crate) fn write_with(&mut self, max: usize, fill: impl FnMut(&mut [u8]) -> usize) -> usize {
        let BothEnds { ring, writer, .. } = &mut self.both;
        self.starts.write_with(ring, writer, max, fill)
    }

    pub(crate) fn make_room(&mut self, needed: usize) -> Dropped {
        let BothEnds {
            ring,
            writer,
            reader,
        } = &mut self.both;
        self.starts.make_room(ring, writer, reader, needed)
    }

    pub(crate) fn whole_records_within(&self, max: usize) -> usize {
        self.starts
            .whole_records_within(&self.both.ring, &self.both.reader, max)
    }
}

impl core::ops::Deref for RecordRing {
    type Target = BothEnds;

    fn deref(&self) -> &BothEnds {
        &self.both
    }
}

impl core::ops::DerefMut for RecordRing {
    fn deref_mut(&mut self) -> &mut BothEnds {
        &mut self.both
    }
}
