// SPDX-License-Identifier: GPL-2.0

//! The telemetry ring: fixed-size samples, a producer that never waits and,
//! when the ring is full, drops the oldest sample to keep the newest, and a
//! consumer that copies samples out and then commits the copy.
//!
//! The byte ring (`spsc.rs`) cannot keep the newest data without a lock:
//! dropping the oldest bytes moves the head, which belongs to the consumer,
//! and the consumer holds its half across copies to user memory, which may
//! sleep. A producer in hard-IRQ context can neither sleep nor take a lock
//! a sleeper holds. So here both sides may move the head, by
//! compare-and-exchange, and the consumer never trusts what it copied until
//! its own exchange succeeds:
//!
//! - The producer alone stores the tail. When the ring is full it first
//!   exchanges the head from `h` to `h + 1` (dropping sample `h`), and only
//!   then overwrites that sample's slot. If the exchange fails, the consumer
//!   has just freed room, so nothing needs dropping.
//! - The consumer loads the head `h`, then the tail, copies samples `h..h +
//!   n` out, and exchanges the head from `h` to `h + n`. Positions only
//!   grow and never wrap (they count samples in a `u64`), so the exchange
//!   succeeds only if the head was `h` all along, that is if the producer
//!   dropped nothing, so overwrote nothing, while the copy ran. If it
//!   fails, the copy is thrown away and taken again from the new head.
//!
//! The consumer's exchange releases its copy's loads and the producer's
//! exchange acquires, even when it fails, so a slot the producer overwrites
//! after reading the consumer's new head cannot show up in the copy the
//! consumer committed. Slots are atomic words, loaded and stored relaxed: a
//! copy that races with an overwrite reads stale or new words, never
//! undefined memory, and is then discarded.
//!
//! A sample's position is its sequence number, so a gap in the positions a
//! consumer takes is exactly the samples the producer dropped.
//!
//! Like `spsc.rs`, this file uses only `core` and is compiled into the host
//! test crate too, where loom checks the protocol.

use crate::spsc::Share;
use core::ops::Deref;

/// The words of one sample.
pub(crate) const SAMPLE_WORDS: usize = 3;
/// The bytes of one sample, as it is copied out.
pub(crate) const SAMPLE_BYTES: usize = SAMPLE_WORDS * 8;

/// A 64-bit atomic word: the ring's positions and the words of its slots.
pub(crate) trait Word {
    /// A word holding `value`.
    fn new(value: u64) -> Self;
    /// Loads the word, ordering nothing else.
    fn load_relaxed(&self) -> u64;
    /// Stores the word, ordering nothing else.
    fn store_relaxed(&self, value: u64);
    /// Loads the word; nothing after the load can be seen to come before it.
    fn load_acquire(&self) -> u64;
    /// Stores the word after everything before it.
    fn store_release(&self, value: u64);
    /// Replaces `current` by `new` if the word holds `current`, with acquire
    /// and release ordering; a failure returns what the word holds, with
    /// acquire ordering.
    fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64>;
}

/// The ring both halves point to.
///
/// # Invariants
///
/// `slots` holds `capacity * SAMPLE_WORDS` words and `capacity` is not
/// zero. `head <= tail <= head + capacity` whenever either is stored. Only
/// the [`SampleProducer`] stores `tail`; both halves move `head`, only
/// forward and only by exchange.
pub(crate) struct SampleRing<W, V> {
    head: W,
    tail: W,
    capacity: u64,
    slots: V,
}

impl<W: Word, V: Deref<Target = [W]>> SampleRing<W, V> {
    /// An empty ring over `slots`, which hold a whole number of samples;
    /// `None` if they hold none or not a whole number.
    pub(crate) fn new(slots: V) -> Option<Self> {
        let words = slots.len();
        if words == 0 || !words.is_multiple_of(SAMPLE_WORDS) {
            return None;
        }
        // INVARIANT: Both positions are 0, and the slots hold `capacity` samples.
        Some(Self {
            head: W::new(0),
            tail: W::new(0),
            capacity: (words / SAMPLE_WORDS) as u64,
            slots,
        })
    }

    /// Moves the ring behind a shared pointer made by `share`, and returns
    /// its only producer and only consumer.
    pub(crate) fn split<R, E>(
        self,
        share: impl FnOnce(Self) -> Result<R, E>,
    ) -> Result<(SampleProducer<R>, SampleConsumer<R>), E>
    where
        R: Share<Target = Self>,
    {
        let ring = share(self)?;
        Ok((
            SampleProducer {
                ring: ring.clone(),
                tail: 0,
            },
            SampleConsumer { ring },
        ))
    }

    /// The number of samples the ring holds when full.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity as usize
    }

    /// The number of samples waiting, as both sides last published: exact
    /// when neither side moves, a snapshot otherwise.
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load_acquire();
        let tail = self.tail.load_acquire();
        // Loaded apart, the two may be from different moments.
        tail.saturating_sub(head).min(self.capacity) as usize
    }

    /// The number of samples ever added: the next sample's position.
    pub(crate) fn produced(&self) -> u64 {
        self.tail.load_acquire()
    }

    /// Whether no sample is waiting (a snapshot, as [`SampleRing::len`]).
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The words of the slot of the sample at `position`.
    fn slot(&self, position: u64) -> &[W] {
        let start = (position % self.capacity) as usize * SAMPLE_WORDS;
        &self.slots[start..start + SAMPLE_WORDS]
    }
}

/// The producing half: it alone adds samples.
///
/// # Invariants
///
/// `tail` is the ring's tail: only this half stores it.
pub(crate) struct SampleProducer<R> {
    ring: R,
    tail: u64,
}

impl<R, W, V> SampleProducer<R>
where
    R: Share<Target = SampleRing<W, V>>,
    W: Word,
    V: Deref<Target = [W]>,
{
    /// The position, and so the sequence number, of the next sample.
    pub(crate) fn next_position(&self) -> u64 {
        self.tail
    }

    /// Adds `sample`, dropping the oldest sample if the ring is full;
    /// returns whether it dropped one. Never waits.
    pub(crate) fn push(&mut self, sample: [u64; SAMPLE_WORDS]) -> bool {
        let ring = &*self.ring;
        let head = ring.head.load_acquire();
        // The consumer only moves the head up to a tail this half stored.
        let dropped =
            self.tail - head == ring.capacity && ring.head.compare_exchange(head, head + 1).is_ok();
        // Either this half just moved the head past the slot's old sample,
        // or the consumer did (a failed exchange acquires its move), so no
        // committed copy can read what follows.
        for (word, value) in ring.slot(self.tail).iter().zip(sample) {
            word.store_relaxed(value);
        }
        // INVARIANT: The head is now past `tail - capacity`.
        self.tail += 1;
        ring.tail.store_release(self.tail);
        dropped
    }
}

/// The consuming half: it alone takes samples out, and whoever holds it
/// (`&mut`) is the only consumer.
pub(crate) struct SampleConsumer<R> {
    ring: R,
}

impl<R, W, V> SampleConsumer<R>
where
    R: Share<Target = SampleRing<W, V>>,
    W: Word,
    V: Deref<Target = [W]>,
{
    /// Takes the oldest waiting samples, as many as fit whole in `out`,
    /// into `out` as native-endian words, and returns how many; 0 if none
    /// was waiting. The samples are committed, gone from the ring, when
    /// this returns.
    pub(crate) fn take_into(&mut self, out: &mut [u8]) -> usize {
        let ring = &*self.ring;
        let room = (out.len() / SAMPLE_BYTES) as u64;
        loop {
            let head = ring.head.load_acquire();
            let tail = ring.tail.load_acquire();
            let count = tail.saturating_sub(head).min(ring.capacity).min(room);
            if count == 0 {
                return 0;
            }
            let mut bytes = out.iter_mut();
            for position in head..head + count {
                for word in ring.slot(position) {
                    // The word's bytes lead: `zip` stops on them without
                    // taking a byte of `out` it would then not fill.
                    for (value, byte) in word
                        .load_relaxed()
                        .to_ne_bytes()
                        .into_iter()
                        .zip(&mut bytes)
                    {
                        *byte = value;
                    }
                }
            }
            // The producer dropped none of them during the copy only if the
            // head is still `head`; otherwise some slots may hold newer samples.
            if ring.head.compare_exchange(head, head + count).is_ok() {
                return count as usize;
            }
        }
    }

    /// Drops every waiting sample; returns how many it dropped.
    pub(crate) fn discard(&mut self) -> u64 {
        let ring = &*self.ring;
        loop {
            let head = ring.head.load_acquire();
            let tail = ring.tail.load_acquire();
            if head >= tail || ring.head.compare_exchange(head, tail).is_ok() {
                return tail.saturating_sub(head);
            }
        }
    }
}
