// SPDX-License-Identifier: GPL-2.0

//! The two-sided ring: a single-producer/single-consumer byte ring whose
//! producer half and consumer half never share a lock.
//!
//! This file owns the index protocol. The producer alone moves the tail and
//! the consumer alone moves the head. Each publishes its position with a
//! release store after it has finished with the bytes the move hands over,
//! and reads the other side's position with an acquire load before it
//! touches the bytes that position gives it, as `kernel/bpf/ringbuf.c` and
//! perf's ring buffer do. So the bytes between head and tail belong to the
//! consumer, the rest to the producer, and no byte is ever touched by both
//! sides at once.
//!
//! [`Ring::split`] consumes the ring and returns its two halves, each
//! existing once; whoever holds a half (`&mut`) is the only one who may
//! move that side. What serialises each side (a lock, a single timer) is the
//! caller's business. Positions run over `0..2 * capacity`, so a full ring
//! (`tail - head == capacity`) differs from an empty one without a wasted
//! byte, for any capacity.
//!
//! It uses only `core` and knows nothing about files, locks, waiting or user
//! memory, so the very same file is compiled into the kernel module and into
//! the host test crate (`host/`), where it is tested against a model, under
//! Miri and under loom. The kernel supplies the atomics and the shared
//! pointer through [`Position`] and [`Share`] (`ring.rs`).

use core::{
    ops::{Deref, DerefMut},
    ptr::NonNull,
};

/// A position one side stores and the other side loads.
pub(crate) trait Position {
    /// A position with `value`.
    fn new(value: usize) -> Self;
    /// Loads the other side's position; nothing this side does after the
    /// load can be seen to come before it (acquire).
    fn load_acquire(&self) -> usize;
    /// Publishes this side's position after everything this side did
    /// before (release).
    fn store_release(&self, value: usize);
}

/// Where a ring keeps its bytes.
///
/// # Safety
///
/// [`Storage::base`] must return the same pointer for as long as the
/// storage lives, even when the storage value moves, valid for reads and
/// writes of [`Storage::capacity`] initialised bytes, and nothing but the
/// ring may read or write those bytes while the storage lives.
pub(crate) unsafe trait Storage {
    /// The first byte.
    fn base(&self) -> NonNull<u8>;
    /// The number of bytes; never changes.
    fn capacity(&self) -> usize;
}

/// A buffer whose bytes stay where they are when the buffer value moves,
/// such as a `Vec<u8>` or a `KVVec<u8>`.
///
/// # Safety
///
/// The slice the buffer dereferences to must keep its address and length
/// while the buffer lives, moved or not, and dropping the buffer must be
/// the only thing that touches it without going through the slice.
pub(crate) unsafe trait StableBuffer: DerefMut<Target = [u8]> {}

/// [`Storage`] in a buffer the ring owns.
///
/// # Invariants
///
/// `base` and `capacity` describe the slice of `buffer`, which is reached
/// through `base` alone.
pub(crate) struct OwnedBytes<V> {
    base: NonNull<u8>,
    capacity: usize,
    _buffer: V,
}

impl<V: StableBuffer> OwnedBytes<V> {
    /// Storage in `buffer`, which holds the ring's capacity of bytes.
    pub(crate) fn new(mut buffer: V) -> Self {
        let bytes: &mut [u8] = &mut buffer;
        // INVARIANT: From the buffer's own slice, which `StableBuffer` keeps
        // in place while the buffer moves into the struct.
        Self {
            base: NonNull::from(&mut *bytes).cast(),
            capacity: bytes.len(),
            _buffer: buffer,
        }
    }
}

// SAFETY: `base` points to the buffer's `capacity` initialised bytes, which
// stay put (`StableBuffer`) and which nothing else reaches, as the buffer
// is private and only kept alive here.
unsafe impl<V: StableBuffer> Storage for OwnedBytes<V> {
    fn base(&self) -> NonNull<u8> {
        self.base
    }

    fn capacity(&self) -> usize {
        self.capacity
    }
}

// SAFETY: The struct owns the buffer, and the pointer is only a way into it.
unsafe impl<V: Send> Send for OwnedBytes<V> {}

/// A pointer through which both halves reach one ring.
///
/// # Safety
///
/// Every clone must dereference to the same ring, at the same address, for
/// as long as any clone lives.
pub(crate) unsafe trait Share: Clone + Deref {}

/// The ring both halves point to.
///
/// # Invariants
///
/// `head` and `tail` lie in `0..2 * capacity`, `(tail - head) mod 2 *
/// capacity` is at most `capacity`, and `capacity` is not zero. Only the
/// [`Consumer`] stores `head` and only the [`Producer`] stores `tail`.
pub(crate) struct Ring<S, P> {
    head: P,
    tail: P,
    storage: S,
}

// SAFETY: The bytes are reached only through the halves, which the index
// protocol keeps apart (see the file's documentation); the positions are
// shared across threads, so they must be `Sync`.
unsafe impl<S: Send, P: Send + Sync> Sync for Ring<S, P> {}

// SAFETY: Moving the ring moves the storage, which `Storage` allows, and the
// positions.
unsafe impl<S: Send, P: Send> Send for Ring<S, P> {}

/// Folds `position + count` (each below `2 * capacity`, `count` at most
/// `capacity`) back into `0..2 * capacity`.
fn advance(position: usize, count: usize, capacity: usize) -> usize {
    let next = position + count;
    if next >= 2 * capacity {
        next - 2 * capacity
    } else {
        next
    }
}

/// The number of bytes between `head` and `tail`.
fn distance(head: usize, tail: usize, capacity: usize) -> usize {
    if tail >= head {
        tail - head
    } else {
        tail + 2 * capacity - head
    }
}

/// The storage index of `position`.
fn index(position: usize, capacity: usize) -> usize {
    if position >= capacity {
        position - capacity
    } else {
        position
    }
}

impl<S: Storage, P: Position> Ring<S, P> {
    /// An empty ring over `storage`; `None` if the storage holds no byte or
    /// positions up to twice its size do not fit in a `usize`.
    pub(crate) fn new(storage: S) -> Option<Self> {
        let capacity = storage.capacity();
        if capacity == 0 || capacity > usize::MAX / 4 {
            return None;
        }
        // INVARIANT: Both positions are 0: empty, within bounds.
        Some(Self {
            head: P::new(0),
            tail: P::new(0),
            storage,
        })
    }

    /// Moves the ring behind a shared pointer made by `share`, and returns
    /// its only producer and only consumer.
    pub(crate) fn split<R, E>(
        self,
        share: impl FnOnce(Self) -> Result<R, E>,
    ) -> Result<(Producer<R>, Consumer<R>), E>
    where
        R: Share<Target = Self>,
    {
        let ring = share(self)?;
        Ok((
            Producer {
                ring: ring.clone(),
                tail: 0,
                written: 0,
            },
            Consumer {
                ring,
                head: 0,
                taken: 0,
            },
        ))
    }

    /// The number of bytes the ring holds when full.
    pub(crate) fn capacity(&self) -> usize {
        self.storage.capacity()
    }

    /// The number of bytes waiting to be read, as both sides last
    /// published: exact when neither side moves, a snapshot otherwise.
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load_acquire();
        let tail = self.tail.load_acquire();
        // Loaded apart, the two may be from different moments; the
        // invariant holds for each pair a side published, not for this one.
        distance(head, tail, self.capacity()).min(self.capacity())
    }

    /// Where the bytes are, for whoever maps them into user space; only the
    /// halves read or write them.
    pub(crate) fn storage(&self) -> &S {
        &self.storage
    }

    /// Whether there is nothing to read (a snapshot, as [`Ring::len`]).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The address of the byte at storage index `start`; only the halves
    /// dereference it, for the bytes their side owns.
    fn byte(&self, start: usize) -> *mut u8 {
        self.storage.base().as_ptr().wrapping_add(start)
    }
}

/// The writing half: it alone adds bytes at the tail.
///
/// # Invariants
///
/// `tail` is the ring's tail position: only this half stores it.
/// `written` is the number of bytes ever written, modulo 2^64.
pub(crate) struct Producer<R> {
    ring: R,
    tail: usize,
    written: u64,
}

impl<R, S, P> Producer<R>
where
    R: Share<Target = Ring<S, P>>,
    S: Storage,
    P: Position,
{
    /// The number of bytes that can be written now: at least this many,
    /// since the consumer only ever frees more.
    pub(crate) fn free(&self) -> usize {
        let ring = &*self.ring;
        ring.capacity() - distance(ring.head.load_acquire(), self.tail, ring.capacity())
    }

    /// The storage index the next written byte goes to.
    pub(crate) fn tail_index(&self) -> usize {
        index(self.tail, self.ring.capacity())
    }

    /// The number of bytes ever written, modulo 2^64: the tail as the
    /// mapped consumer counts it. Its storage index is this modulo the
    /// capacity until 2^64 bytes have passed, which no device lives to see.
    pub(crate) fn written(&self) -> u64 {
        self.written
    }

    /// Moves up to `max` bytes into the ring through `fill`.
    ///
    /// `fill` receives at most two contiguous free chunks (before and after
    /// the wrap) and returns how many bytes it wrote at the start of the
    /// chunk. Filling stops at the first short fill. Exactly the bytes
    /// filled become readable, published at once. Returns their number.
    pub(crate) fn write_with(
        &mut self,
        max: usize,
        mut fill: impl FnMut(&mut [u8]) -> usize,
    ) -> usize {
        let ring = &*self.ring;
        let capacity = ring.capacity();
        let room = self.free().min(max);
        let mut done = 0;
        while done < room {
            let start = index(advance(self.tail, done, capacity), capacity);
            let contiguous = (room - done).min(capacity - start);
            // SAFETY: `start..start + contiguous` lies within the storage,
            // which `Storage` makes valid, and among the `free()` bytes past
            // the tail, which the acquire load in `free()` gave to this, the
            // only producer: the consumer has finished with them and cannot
            // reach them before the tail is published past them. The slice
            // lives only for this call of `fill`.
            let chunk = unsafe { core::slice::from_raw_parts_mut(ring.byte(start), contiguous) };
            let filled = fill(chunk).min(contiguous);
            done += filled;
            if filled < contiguous {
                break;
            }
        }
        if done > 0 {
            // INVARIANT: `done <= free()`, so the ring holds at most its
            // capacity; this half alone stores the tail.
            self.tail = advance(self.tail, done, capacity);
            self.written = self.written.wrapping_add(done as u64);
            ring.tail.store_release(self.tail);
        }
        done
    }
}

/// The reading half: it alone takes bytes from the head.
///
/// # Invariants
///
/// `head` is the ring's head position: only this half stores it.
/// `taken` is the number of bytes ever taken out, modulo 2^64.
pub(crate) struct Consumer<R> {
    ring: R,
    head: usize,
    taken: u64,
}

impl<R, S, P> Consumer<R>
where
    R: Share<Target = Ring<S, P>>,
    S: Storage,
    P: Position,
{
    /// The number of bytes waiting: at least this many, since the producer
    /// only ever adds more.
    pub(crate) fn len(&self) -> usize {
        let ring = &*self.ring;
        distance(self.head, ring.tail.load_acquire(), ring.capacity())
    }

    /// Whether nothing is waiting now.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The storage index of the oldest waiting byte.
    pub(crate) fn head_index(&self) -> usize {
        index(self.head, self.ring.capacity())
    }

    /// Moves up to `max` bytes out of the ring, oldest first, through `copy`.
    ///
    /// `copy` receives at most two contiguous chunks (before and after the
    /// wrap) and returns how many bytes of the chunk it took. Copying stops
    /// at the first short copy. Exactly the bytes taken are removed, and
    /// their room is published at once; the rest stay, in order. Returns the
    /// number of bytes taken.
    pub(crate) fn read_with(&mut self, max: usize, mut copy: impl FnMut(&[u8]) -> usize) -> usize {
        let ring = &*self.ring;
        let capacity = ring.capacity();
        let wanted = self.len().min(max);
        let mut done = 0;
        while done < wanted {
            let start = index(advance(self.head, done, capacity), capacity);
            let contiguous = (wanted - done).min(capacity - start);
            // SAFETY: `start..start + contiguous` lies within the storage,
            // which `Storage` makes valid and initialised, and among the
            // `len()` bytes from the head, which the acquire load in `len()`
            // gave to this, the only consumer: the producer has written them
            // and cannot reach them before the head is published past them.
            // The slice lives only for this call of `copy`.
            let chunk = unsafe { core::slice::from_raw_parts(ring.byte(start), contiguous) };
            let taken = copy(chunk).min(contiguous);
            done += taken;
            if taken < contiguous {
                break;
            }
        }
        self.discard(done);
        done
    }

    /// The number of bytes ever taken out, read or dropped, modulo 2^64:
    /// the head as the mapped consumer counts it.
    pub(crate) fn taken(&self) -> u64 {
        self.taken
    }

    /// Drops the `count` oldest bytes (all of them, if fewer are waiting)
    /// and publishes their room.
    pub(crate) fn discard(&mut self, count: usize) {
        let count = count.min(self.len());
        if count > 0 {
            // INVARIANT: At most `len()` bytes go, so the head stays behind
            // the tail; this half alone stores the head.
            self.head = advance(self.head, count, self.ring.capacity());
            self.taken = self.taken.wrapping_add(count as u64);
            self.ring.head.store_release(self.head);
        }
    }
}
