// SPDX-License-Identifier: GPL-2.0

//! The byte ring: FIFO storage of a fixed capacity, and nothing else.
//!
//! This file owns the index arithmetic and the wrap-around. It knows nothing
//! about files, locks, waiting or user memory, and uses only `core`, so the
//! very same file is compiled into the kernel module and into the host test
//! crate (`host/`), where it is checked against a `VecDeque` model.
//!
//! Data moves through caller-supplied copy functions that may stop short,
//! the way a copy to or from user memory stops at the first fault: the ring
//! only ever accounts for the bytes that were really copied.

use core::ops::DerefMut;

/// A FIFO ring of bytes stored in `B` (a `KVVec<u8>` in the kernel).
///
/// # Invariants
///
/// `head < capacity` and `len <= capacity`, where `capacity` is the length of
/// the storage, which is never zero. The readable bytes are the `len` bytes
/// starting at `head`, wrapping at `capacity`.
pub(crate) struct RingBuf<B> {
    storage: B,
    head: usize,
    len: usize,
}

impl<B: DerefMut<Target = [u8]>> RingBuf<B> {
    /// Wraps `storage` as an empty ring; its length is the capacity.
    ///
    /// Returns `None` for empty storage, which could hold nothing.
    pub(crate) fn new(storage: B) -> Option<Self> {
        if storage.is_empty() {
            return None;
        }
        Some(Self {
            storage,
            head: 0,
            len: 0,
        })
    }

    /// The number of bytes the ring can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// The number of bytes waiting to be read.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there is nothing to read.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The number of bytes that can be written before the ring is full.
    pub(crate) fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Discards everything that was written and not yet read.
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// The storage index of the oldest readable byte.
    pub(crate) fn head(&self) -> usize {
        self.head
    }

    /// The storage index the next written byte goes to.
    pub(crate) fn tail(&self) -> usize {
        self.wrap(self.head + self.len)
    }

    /// Drops the `count` oldest bytes (all of them, if fewer are readable).
    pub(crate) fn discard(&mut self, count: usize) {
        let count = count.min(self.len);
        self.head = self.wrap(self.head + count);
        self.len -= count;
    }

    /// Folds an index below twice the capacity back into the storage. No
    /// division: indices only ever run past the end by less than one lap.
    pub(crate) fn wrap(&self, index: usize) -> usize {
        let cap = self.capacity();
        if index >= cap {
            index - cap
        } else {
            index
        }
    }

    /// Moves up to `max` bytes out of the ring, oldest first, through `copy`.
    ///
    /// `copy` receives at most two contiguous chunks (before and after the
    /// wrap point) and returns how many bytes of the chunk it took. Copying
    /// stops at the first short copy. Exactly the bytes taken are removed;
    /// the rest stay in the ring, in order. Returns the number of bytes taken.
    pub(crate) fn read_with(&mut self, max: usize, mut copy: impl FnMut(&[u8]) -> usize) -> usize {
        let mut done = 0;
        while done < max && !self.is_empty() {
            let cap = self.capacity();
            let contiguous = self.len.min(cap - self.head).min(max - done);
            let chunk = &self.storage[self.head..self.head + contiguous];
            let taken = copy(chunk).min(contiguous);
            self.head = self.wrap(self.head + taken);
            self.len -= taken;
            done += taken;
            if taken < contiguous {
                break;
            }
        }
        done
    }

    /// Moves up to `max` bytes into the ring through `fill`.
    ///
    /// `fill` receives at most two contiguous free chunks and returns how
    /// many bytes it wrote at the start of the chunk. Filling stops at the
    /// first short fill. Exactly the bytes filled become readable. Returns
    /// the number of bytes added.
    pub(crate) fn write_with(
        &mut self,
        max: usize,
        mut fill: impl FnMut(&mut [u8]) -> usize,
    ) -> usize {
        let mut done = 0;
        while done < max && self.free() > 0 {
            let cap = self.capacity();
            let tail = self.tail();
            let contiguous = self.free().min(cap - tail).min(max - done);
            let chunk = &mut self.storage[tail..tail + contiguous];
            let filled = fill(chunk).min(contiguous);
            self.len += filled;
            done += filled;
            if filled < contiguous {
                break;
            }
        }
        done
    }
}
