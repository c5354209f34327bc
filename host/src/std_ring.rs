// SPDX-License-Identifier: GPL-2.0

//! The ring on the host: std's atomics for positions, std's `Arc` for the
//! shared pointer and a `Vec` for the bytes, as `ring.rs` supplies the
//! kernel's.

use crate::spsc::{self, OwnedBytes, StableBuffer};
use std::sync::{atomic::AtomicUsize, Arc};

/// Makes `$atomic` (an `AtomicUsize` with std's orderings: std's or loom's)
/// the positions and `$arc` the shared pointer of a host ring.
macro_rules! host_ring_impls {
    ($atomic:ty, $arc:ident) => {
        impl $crate::spsc::Position for $atomic {
            fn new(value: usize) -> Self {
                <$atomic>::new(value)
            }

            fn load_acquire(&self) -> usize {
                self.load(std::sync::atomic::Ordering::Acquire)
            }

            fn store_release(&self, value: usize) {
                self.store(value, std::sync::atomic::Ordering::Release)
            }
        }

        // SAFETY: Clones of an `Arc` point to one allocation, which lives
        // while any does.
        unsafe impl<T> $crate::spsc::Share for $arc<T> {}
    };
}
host_ring_impls!(AtomicUsize, Arc);

// SAFETY: A `Vec`'s elements live in a heap allocation that moving the
// `Vec` does not move, and its length only changes through `&mut` methods,
// which nothing calls once the ring owns it.
unsafe impl StableBuffer for Vec<u8> {}

pub(crate) type Ring = spsc::Ring<OwnedBytes<Vec<u8>>, AtomicUsize>;
pub(crate) type Producer = spsc::Producer<Arc<Ring>>;
pub(crate) type Consumer = spsc::Consumer<Arc<Ring>>;

/// The two halves of a new ring of `capacity` bytes, and a pointer to the
/// ring for the looks that need neither, as the driver keeps one.
pub(crate) fn shared_ring(capacity: usize) -> (Producer, Consumer, Arc<Ring>) {
    let mut shared = None;
    let (producer, consumer) = Ring::new(OwnedBytes::new(vec![0u8; capacity]))
        .expect("a non-empty ring")
        .split(|ring| {
            let ring = Arc::new(ring);
            shared = Some(ring.clone());
            Ok::<_, ()>(ring)
        })
        .unwrap();
    (producer, consumer, shared.unwrap())
}

/// The two halves of a new ring of `capacity` bytes.
pub(crate) fn halves(capacity: usize) -> (Producer, Consumer) {
    let (producer, consumer, _) = shared_ring(capacity);
    (producer, consumer)
}

/// Makes `$atomic` (an `AtomicU64` with std's orderings: std's or loom's)
/// the words of a host sample ring.
macro_rules! host_word_impl {
    ($atomic:ty) => {
        impl $crate::sample_ring::Word for $atomic {
            fn new(value: u64) -> Self {
                <$atomic>::new(value)
            }

            fn load_relaxed(&self) -> u64 {
                self.load(std::sync::atomic::Ordering::Relaxed)
            }

            fn store_relaxed(&self, value: u64) {
                self.store(value, std::sync::atomic::Ordering::Relaxed)
            }

            fn load_acquire(&self) -> u64 {
                self.load(std::sync::atomic::Ordering::Acquire)
            }

            fn store_release(&self, value: u64) {
                self.store(value, std::sync::atomic::Ordering::Release)
            }

            fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64> {
                <$atomic>::compare_exchange(
                    self,
                    current,
                    new,
                    std::sync::atomic::Ordering::AcqRel,
                    std::sync::atomic::Ordering::Acquire,
                )
            }
        }
    };
}
host_word_impl!(std::sync::atomic::AtomicU64);

pub(crate) type SampleRing =
    crate::sample_ring::SampleRing<std::sync::atomic::AtomicU64, Vec<std::sync::atomic::AtomicU64>>;
pub(crate) type SampleProducer = crate::sample_ring::SampleProducer<Arc<SampleRing>>;
pub(crate) type SampleConsumer = crate::sample_ring::SampleConsumer<Arc<SampleRing>>;

/// The two halves of a new sample ring of `samples` samples, and a pointer
/// to the ring, as the telemetry device keeps one.
pub(crate) fn sample_ring(samples: usize) -> (SampleProducer, SampleConsumer, Arc<SampleRing>) {
    let words = (0..samples * crate::sample_ring::SAMPLE_WORDS)
        .map(|_| std::sync::atomic::AtomicU64::new(0))
        .collect();
    let mut shared = None;
    let (producer, consumer) = SampleRing::new(words)
        .expect("a whole number of samples")
        .split(|ring| {
            let ring = Arc::new(ring);
            shared = Some(ring.clone());
            Ok::<_, ()>(ring)
        })
        .unwrap();
    (producer, consumer, shared.unwrap())
}
