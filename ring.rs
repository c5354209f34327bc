// SPDX-License-Identifier: GPL-2.0

//! The two-sided ring (`spsc.rs`) as the driver uses it: the kernel's
//! atomics for its positions, the kernel's `Arc` for the pointer both
//! halves hold, and a kvmalloc'd `KVVec` for its bytes.

use crate::spsc::{self, OwnedBytes, Position, Share, StableBuffer};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Release},
        Arc,
    },
};

impl Position for Atomic<usize> {
    fn new(value: usize) -> Self {
        Atomic::new(value)
    }

    fn load_acquire(&self) -> usize {
        self.load(Acquire)
    }

    fn store_release(&self, value: usize) {
        self.store(value, Release)
    }
}

// SAFETY: Clones of an `Arc` point to one allocation, which lives while any does.
unsafe impl<T> Share for Arc<T> {}

// SAFETY: A `KVVec`'s elements live in a kvmalloc allocation that moving the
// `KVVec` does not move, and its length only changes through `&mut`
// methods, which nothing calls once the ring owns it.
unsafe impl StableBuffer for KVVec<u8> {}

/// The driver's ring of bytes.
pub(crate) type ByteRing = spsc::Ring<OwnedBytes<KVVec<u8>>, Atomic<usize>>;
/// The half user writers share, behind the writer lock.
pub(crate) type Producer = spsc::Producer<Arc<ByteRing>>;
/// The half user readers share, behind the reader lock.
pub(crate) type Consumer = spsc::Consumer<Arc<ByteRing>>;

/// A new, empty ring of `capacity` bytes, allocated with kvmalloc so that
/// large rings need not be physically contiguous: its two halves, and a
/// pointer to it for looks that need neither (how full it is).
pub(crate) fn new_ring(capacity: usize) -> Result<(Producer, Consumer, Arc<ByteRing>)> {
    let bytes = KVVec::from_elem(0u8, capacity, GFP_KERNEL)?;
    let mut shared = None;
    let (producer, consumer) =
        ByteRing::new(OwnedBytes::new(bytes))
            .ok_or(EINVAL)?
            .split(|ring| {
                let ring = Arc::new(ring, GFP_KERNEL)?;
                shared = Some(ring.clone());
                Ok::<_, Error>(ring)
            })?;
    Ok((producer, consumer, shared.ok_or(EINVAL)?))
}
