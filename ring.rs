// SPDX-License-Identifier: GPL-2.0

//! The kernel-free rings as the driver uses them: the kernel's atomics
//! for their positions, the kernel's `Arc` for the pointer both halves
//! hold, and allocations for their contents. The byte ring (`spsc.rs`) is
//! `/dev/circbuf`'s, in a vmalloc'd `VVec` whose pages the mapped consumer
//! maps (`pages.rs`); the sample ring (`sample_ring.rs`) is the telemetry
//! device's, in a kvmalloc'd `KVVec`.

use crate::{
    sample_ring::{SampleConsumer, SampleProducer, SampleRing, Word, SAMPLE_WORDS},
    spsc::{self, OwnedBytes, Position, Share, StableBuffer},
};
use kernel::{
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Full, Relaxed, Release},
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

// SAFETY: A `VVec`'s elements live in a vmalloc allocation that moving the
// `VVec` does not move, and its length only changes through `&mut`
// methods, which nothing calls once the ring owns it.
unsafe impl StableBuffer for VVec<u8> {}

/// The driver's ring of bytes, in whole vmalloc'd pages that can be mapped.
pub(crate) type ByteRing = spsc::Ring<OwnedBytes<VVec<u8>>, Atomic<usize>>;
/// The half user writers share, behind the writer lock.
pub(crate) type Producer = spsc::Producer<Arc<ByteRing>>;
/// The half user readers share, behind the reader lock.
pub(crate) type Consumer = spsc::Consumer<Arc<ByteRing>>;

/// A new, empty ring of `capacity` bytes, vmalloc'd so that its pages can
/// be mapped into user space (slab memory cannot be): its two halves, and a
/// pointer to it for looks that need neither (how full it is).
pub(crate) fn new_ring(capacity: usize) -> Result<(Producer, Consumer, Arc<ByteRing>)> {
    let bytes = VVec::from_elem(0u8, capacity, GFP_KERNEL)?;
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

impl Word for Atomic<u64> {
    fn new(value: u64) -> Self {
        Atomic::new(value)
    }

    fn load_relaxed(&self) -> u64 {
        self.load(Relaxed)
    }

    fn store_relaxed(&self, value: u64) {
        self.store(value, Relaxed)
    }

    fn load_acquire(&self) -> u64 {
        self.load(Acquire)
    }

    fn store_release(&self, value: u64) {
        self.store(value, Release)
    }

    fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64> {
        // A failed cmpxchg orders nothing in the kernel's memory model, so a
        // failure loads the value again, with the acquire the ring needs.
        self.cmpxchg(current, new, Full)
            .map_err(|_| self.load(Acquire))
    }
}

/// The telemetry device's ring of samples.
pub(crate) type TelemetryRing = SampleRing<Atomic<u64>, KVVec<Atomic<u64>>>;
/// The half the telemetry source owns.
pub(crate) type TelemetryProducer = SampleProducer<Arc<TelemetryRing>>;
/// The half the telemetry device's readers share, behind its reader lock.
pub(crate) type TelemetryConsumer = SampleConsumer<Arc<TelemetryRing>>;

/// A new, empty ring of `samples` samples, kvmalloc'd: its two halves, and
/// a pointer to it for looks that need neither.
pub(crate) fn new_sample_ring(
    samples: usize,
) -> Result<(TelemetryProducer, TelemetryConsumer, Arc<TelemetryRing>)> {
    let words = samples.checked_mul(SAMPLE_WORDS).ok_or(EINVAL)?;
    let mut slots = KVVec::with_capacity(words, GFP_KERNEL)?;
    for _ in 0..words {
        slots.push(Atomic::new(0), GFP_KERNEL)?;
    }
    let mut shared = None;
    let (producer, consumer) = TelemetryRing::new(slots).ok_or(EINVAL)?.split(|ring| {
        let ring = Arc::new(ring, GFP_KERNEL)?;
        shared = Some(ring.clone());
        Ok::<_, Error>(ring)
    })?;
    Ok((producer, consumer, shared.ok_or(EINVAL)?))
}
