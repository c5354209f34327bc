// SPDX-License-Identifier: GPL-2.0

//! The byte ring: FIFO storage of a fixed capacity that one writer and one
//! reader may use at the same time, and nothing else.
//!
//! This file owns the index arithmetic, the wrap-around and the memory
//! ordering that lets a reader copy out of the ring while a writer copies
//! into it. It knows nothing about files, locks, waiting or user memory. It
//! uses only `core` and [`RingStorage`], which its includer names (a
//! `KVVec<u8>` in the kernel, a `Vec<u8>` on the host), so the very same file
//! is compiled into the kernel module and into the host test crate (`host/`),
//! where it is checked against a `VecDeque` model and, with loom, for its
//! ordering.
//!
//! The ring is shared (`&RingBuf`); the right to write and the right to read
//! are two values, a [`WriteEnd`] and a [`ReadEnd`], made once with the ring.
//! Whoever holds `&mut WriteEnd` is the only writer and may fill the free
//! bytes; whoever holds `&mut ReadEnd` is the only reader and may copy out
//! the readable bytes. Each end publishes its index with a release store and
//! reads the other's with an acquire load, so bytes become visible to the
//! other end only after they were copied, and space is reused only after it
//! was read (the protocol of `Documentation/core-api/circular-buffers.rst`).
//!
//! Data moves through caller-supplied copy functions that may stop short,
//! the way a copy to or from user memory stops at the first fault: the ring
//! only ever accounts for the bytes that were really copied.

use crate::RingStorage;
use core::{
    ptr::NonNull,
    slice,
    sync::atomic::{AtomicUsize, Ordering},
};

/// Tells rings apart, so that an end of one ring cannot act on another.
static NEXT_RING_ID: AtomicUsize = AtomicUsize::new(0);

/// A FIFO ring of bytes, shared by one writer and one reader.
///
/// Indices run over `0..2 * capacity`, so that a full ring (`tail - head ==
/// capacity`) differs from an empty one (`tail == head`) without a separate
/// length, and each side owns the one index it moves.
///
/// # Invariants
///
/// - `base` points to `capacity > 0` bytes owned by `_storage`, whose heap
///   buffer does not move when the `RingBuf` does, and is accessed only
///   through `base`.
/// - `head` and `tail` are below `2 * capacity`, and `tail - head` (mod
///   `2 * capacity`) is at most `capacity`. Only the [`ReadEnd`] of this ring
///   (`id`) stores `head` and only its [`WriteEnd`] stores `tail`, and at
///   most one of each exists.
/// - The readable bytes, from `head` up to `tail`, are accessed only by the
///   read end; the free bytes, from `tail` up to `head + capacity`, only by
///   the write end.
pub(crate) struct RingBuf {
    base: NonNull<u8>,
    capacity: usize,
    head: AtomicUsize,
    tail: AtomicUsize,
    id: usize,
    _storage: RingStorage,
}

// SAFETY: The ring owns its storage (`RingStorage` is `Send`); the raw
// pointer only stands for that ownership.
unsafe impl Send for RingBuf {}

// SAFETY: Shared references allow only the accesses the type invariants
// allow: each byte is accessed by one end at a time, the ends hand bytes to
// each other with release stores and acquire loads of `head` and `tail`, and
// an end is used through `&mut`, so by one thread at a time.
unsafe impl Sync for RingBuf {}

/// The right to write into one [`RingBuf`]: there is exactly one per ring.
pub(crate) struct WriteEnd {
    ring: usize,
    /// The ring's `tail`, which only this end stores.
    tail: usize,
}

/// The right to read from one [`RingBuf`]: there is exactly one per ring.
pub(crate) struct ReadEnd {
    ring: usize,
    /// The ring's `head`, which only this end stores.
    head: usize,
}

impl RingBuf {
    /// Makes an empty ring in `storage`, whose length is the capacity, and
    /// its two ends.
    ///
    /// Returns `None` for empty storage, which could hold nothing, and for
    /// storage of more than `usize::MAX / 4` bytes, whose index arithmetic
    /// (up to an index plus twice the capacity) would overflow.
    pub(crate) fn new(mut storage: RingStorage) -> Option<(Self, WriteEnd, ReadEnd)> {
        let capacity = storage.len();
        if capacity == 0 || capacity > usize::MAX / 4 {
            return None;
        }
        let base = NonNull::new(storage.as_mut_ptr())?;
        let id = NEXT_RING_ID.fetch_add(1, Ordering::Relaxed);
        let ring = Self {
            base,
            capacity,
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            id,
            _storage: storage,
        };
        Some((
            ring,
            WriteEnd { ring: id, tail: 0 },
            ReadEnd { ring: id, head: 0 },
        ))
    }

    /// The number of bytes the ring can hold.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of bytes waiting to be read, as a snapshot: it may be out
    /// of date as soon as it is returned, unless the caller holds both ends.
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load(Ordering::Acquire);
        let tail = self.tail.load(Ordering::Acquire);
        // A reader may move `head` between the two loads, which could make
        // the difference look larger than the ring.
        self.distance(head, tail).min(self.capacity)
    }

    /// Whether there is nothing to read, as a snapshot (see [`Self::len`]).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes free for writing, as a snapshot (see [`Self::len`]).
    pub(crate) fn free(&self) -> usize {
        self.capacity - self.len()
    }

    /// The bytes the holder of `end` can read now; more may arrive, but
    /// none can go away. 0 for an end of another ring.
    pub(crate) fn readable(&self, end: &ReadEnd) -> usize {
        if end.ring != self.id {
            return 0;
        }
        self.distance(end.head, self.tail.load(Ordering::Acquire))
    }

    /// The bytes the holder of `end` can write now; more may be freed, but
    /// none can be taken. 0 for an end of another ring.
    pub(crate) fn writable(&self, end: &WriteEnd) -> usize {
        if end.ring != self.id {
            return 0;
        }
        self.capacity - self.distance(self.head.load(Ordering::Acquire), end.tail)
    }

    /// The bytes the holder of `end` has written that the reader has not
    /// taken yet; fewer may remain, but no more. 0 for an end of another ring.
    pub(crate) fn unread(&self, end: &WriteEnd) -> usize {
        if end.ring != self.id {
            return 0;
        }
        self.distance(self.head.load(Ordering::Acquire), end.tail)
    }

    /// The storage index of the oldest readable byte.
    pub(crate) fn head(&self, end: &ReadEnd) -> usize {
        self.wrap(end.head)
    }

    /// The storage index the next written byte goes to.
    pub(crate) fn tail(&self, end: &WriteEnd) -> usize {
        self.wrap(end.tail)
    }

    /// Folds an index below twice the capacity back into the storage. No
    /// division: indices never run past the end by a whole lap.
    pub(crate) fn wrap(&self, index: usize) -> usize {
        if index >= self.capacity {
            index - self.capacity
        } else {
            index
        }
    }

    /// Moves up to `max` bytes out of the ring, oldest first, through `copy`.
    ///
    /// `copy` receives at most two contiguous chunks (before and after the
    /// wrap point) and returns how many bytes of the chunk it took. Copying
    /// stops at the first short copy. Exactly the bytes taken are removed and
    /// their space given to the writer; the rest stay in the ring, in order.
    /// Returns the number of bytes taken; an end of another ring takes none.
    pub(crate) fn read_with(
        &self,
        end: &mut ReadEnd,
        max: usize,
        mut copy: impl FnMut(&[u8]) -> usize,
    ) -> usize {
        if end.ring != self.id {
            return 0;
        }
        let available = self.readable(end).min(max);
        let mut head = end.head;
        let mut done = 0;
        while done < available {
            let at = self.wrap(head);
            let contiguous = (available - done).min(self.capacity - at);
            // SAFETY: `at + contiguous <= capacity`, so the chunk is inside
            // the storage. Its bytes are readable: they lie between `head`
            // and the `tail` acquired by `readable`, so the writer published
            // them and will not touch them until this end releases them by
            // storing a `head` past them, which happens only below, after
            // the copy. `end` is borrowed mutably, so no other reader exists.
            let chunk = unsafe { slice::from_raw_parts(self.base.as_ptr().add(at), contiguous) };
            let taken = copy(chunk).min(contiguous);
            head = self.advance(head, taken);
            done += taken;
            if taken < contiguous {
                break;
            }
        }
        self.consume(end, head);
        done
    }

    /// Moves up to `max` bytes into the ring through `fill`.
    ///
    /// `fill` receives at most two contiguous free chunks and returns how
    /// many bytes it wrote at the start of the chunk. Filling stops at the
    /// first short fill. Exactly the bytes filled become readable, in order
    /// and all at once. Returns the number of bytes added; an end of another
    /// ring adds none.
    pub(crate) fn write_with(
        &self,
        end: &mut WriteEnd,
        max: usize,
        mut fill: impl FnMut(&mut [u8]) -> usize,
    ) -> usize {
        if end.ring != self.id {
            return 0;
        }
        let room = self.writable(end).min(max);
        let mut tail = end.tail;
        let mut done = 0;
        while done < room {
            let at = self.wrap(tail);
            let contiguous = (room - done).min(self.capacity - at);
            // SAFETY: `at + contiguous <= capacity`, so the chunk is inside
            // the storage. Its bytes are free: they lie between `tail` and
            // the `head` acquired by `writable` plus the capacity, so the
            // reader released them and will not touch them until this end
            // publishes them by storing a `tail` past them, which happens
            // only below, after the copy. `end` is borrowed mutably, so no
            // other writer exists.
            let chunk =
                unsafe { slice::from_raw_parts_mut(self.base.as_ptr().add(at), contiguous) };
            let filled = fill(chunk).min(contiguous);
            tail = self.advance(tail, filled);
            done += filled;
            if filled < contiguous {
                break;
            }
        }
        // One store for the whole write, so a reader sees all of it or none,
        // even when it wraps.
        end.tail = tail;
        self.tail.store(tail, Ordering::Release);
        done
    }

    /// Drops the `count` oldest bytes (all of them, if fewer are readable)
    /// without copying them, giving their space to the writer.
    pub(crate) fn discard(&self, end: &mut ReadEnd, count: usize) {
        if end.ring != self.id {
            return;
        }
        let count = count.min(self.readable(end));
        self.consume(end, self.advance(end.head, count));
    }

    /// Discards everything that was written and not yet read.
    pub(crate) fn clear(&self, end: &mut ReadEnd) {
        self.discard(end, usize::MAX);
    }

    /// Moves `end`'s head to `head`, past bytes it has read, and hands their
    /// space to the writer.
    fn consume(&self, end: &mut ReadEnd, head: usize) {
        end.head = head;
        self.head.store(head, Ordering::Release);
    }

    /// How far index `to` is ahead of index `from`.
    fn distance(&self, from: usize, to: usize) -> usize {
        if to >= from {
            to - from
        } else {
            to + 2 * self.capacity - from
        }
    }

    /// Index `index` moved on by `count <= capacity`.
    fn advance(&self, index: usize, count: usize) -> usize {
        let next = index + count;
        if next >= 2 * self.capacity {
            next - 2 * self.capacity
        } else {
            next
        }
    }
}
