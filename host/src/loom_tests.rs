// SPDX-License-Identifier: GPL-2.0

//! loom models, run by `host/check-miri-loom` with `--cfg loom`: loom runs
//! each closure under every interleaving and every value the C11 memory
//! model lets a load return, within its bounds.
//!
//! - The index protocol: the real [`spsc`] halves on two threads, with
//!   loom's atomics as positions. Each byte also has a loom cell written
//!   where the producer fills it and read where the consumer copies it, so
//!   loom fails the model if a copy is not ordered after its fill by the
//!   positions' release and acquire.
//! - The sleep/wake protocol of `waitqueue.rs` and `device.rs`, restated
//!   here with loom's primitives around the real halves: the waiter queues
//!   itself, issues a full barrier (as `set_current_state()` does in
//!   `prepare_to_wait_event()`), checks its condition, then sleeps; the
//!   waker publishes its change, issues a full barrier, and wakes only if
//!   it sees a waiter queued (`wq_has_sleeper()`). loom fails the model if
//!   the waiter can sleep with its condition true and nobody to wake it.
//! - End of file (`device.rs`): a reader that finds the ring empty and then
//!   no writer looks at the ring again; loom fails the model if the last
//!   writer's bytes can be left unread.
//! - The mapped consumer's writers' flag (`mapped.rs`, `device.rs`): a
//!   writer on a full ring raises the flag, takes in the consumer's head
//!   with the real `mapped::newly_consumed`, and sleeps while the flag
//!   stays raised and there is no room; the consumer publishes its head,
//!   issues a full barrier and, if it sees the flag, clears it, takes the
//!   head in and wakes. loom fails the model if the writer can be left
//!   asleep with room it was never told of.
//! - The telemetry ring's protocol: the real `sample_ring.rs` halves with
//!   loom's atomics, a producer that overwrites while the consumer copies.
//!   loom fails the model if a committed sample is torn or stale, or if a
//!   sample is both dropped and taken, or neither.

use crate::mapped::newly_consumed;
use crate::sample_ring::{self, SAMPLE_BYTES, SAMPLE_WORDS};
use crate::spsc::{self, OwnedBytes};
use loom::{
    cell::UnsafeCell,
    sync::{
        atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Condvar, Mutex,
    },
    thread,
};

host_ring_impls!(AtomicUsize, Arc);
host_word_impl!(AtomicU64);

type Ring = spsc::Ring<OwnedBytes<Vec<u8>>, AtomicUsize>;
type Producer = spsc::Producer<Arc<Ring>>;
type Consumer = spsc::Consumer<Arc<Ring>>;

/// The halves of a ring of `capacity` bytes, and the address of its first
/// byte, to tell which storage index a chunk starts at.
fn halves(capacity: usize) -> (Producer, Consumer, usize) {
    let bytes = vec![0u8; capacity];
    let base = bytes.as_ptr() as usize;
    let (producer, consumer) = Ring::new(OwnedBytes::new(bytes))
        .unwrap()
        .split(|ring| Ok::<_, ()>(Arc::new(ring)))
        .unwrap();
    (producer, consumer, base)
}

/// One loom cell per storage byte: the model's witness of who touched it.
struct Witness {
    cells: Vec<UnsafeCell<u8>>,
    base: usize,
}

impl Witness {
    fn new(capacity: usize, base: usize) -> Arc<Self> {
        Arc::new(Self {
            cells: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
            base,
        })
    }

    /// Records the producer filling `chunk` with `value`.
    fn fill(&self, chunk: &mut [u8], value: u8) -> usize {
        let start = chunk.as_ptr() as usize - self.base;
        for (i, byte) in chunk.iter_mut().enumerate() {
            *byte = value;
            // SAFETY: loom checks that no other access to the cell races
            // with this one; that is what the model tests.
            self.cells[start + i].with_mut(|cell| unsafe { *cell = value });
        }
        chunk.len()
    }

    /// Records the consumer copying `chunk`, and checks it holds `value`.
    fn copy(&self, chunk: &[u8], value: u8) -> usize {
        let start = chunk.as_ptr() as usize - self.base;
        for (i, byte) in chunk.iter().enumerate() {
            assert_eq!(*byte, value);
            // SAFETY: As in `fill`: loom checks the access.
            self.cells[start + i].with(|cell| assert_eq!(unsafe { *cell }, value));
        }
        chunk.len()
    }
}

/// Two bytes through a one-byte ring: the second write reuses the byte the
/// consumer copied first, so the model checks both directions of the
/// handover (fill before copy, copy before the next fill).
#[test]
fn index_protocol_orders_every_byte() {
    loom::model(|| {
        let (mut producer, mut consumer, base) = halves(1);
        let witness = Witness::new(1, base);
        let w = witness.clone();
        let writer = thread::spawn(move || {
            let mut value = 1;
            while value <= 2 {
                if producer.write_with(1, |chunk| w.fill(chunk, value)) == 1 {
                    value += 1;
                } else {
                    thread::yield_now();
                }
            }
        });
        let mut value = 1;
        while value <= 2 {
            if consumer.read_with(1, |chunk| witness.copy(chunk, value)) == 1 {
                value += 1;
            } else {
                thread::yield_now();
            }
        }
        writer.join().unwrap();
    });
}

/// A wait queue reduced to what the protocol needs: the list of waiters
/// (one, here) under its lock, the unlocked emptiness check wakers make,
/// and the sleeping task's wake-up.
struct WaitQueue {
    list: Mutex<Sleeper>,
    woken: Condvar,
    /// `!list_empty(&wq_head->head)`, written under the lock, read without.
    active: AtomicBool,
}

#[derive(Default)]
struct Sleeper {
    queued: bool,
    woken: bool,
}

impl WaitQueue {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            list: Mutex::new(Sleeper::default()),
            woken: Condvar::new(),
            active: AtomicBool::new(false),
        })
    }

    /// `___wait_event()`: queue, barrier, check, sleep, until `condition`.
    fn wait_until(&self, mut condition: impl FnMut() -> bool) {
        loop {
            {
                let mut list = self.list.lock().unwrap();
                list.queued = true;
                list.woken = false;
                self.active.store(true, Ordering::Relaxed);
            }
            // set_current_state(): smp_store_mb().
            fence(Ordering::SeqCst);
            if condition() {
                break;
            }
            // schedule(): until a waker finds this task on the list.
            let mut list = self.list.lock().unwrap();
            while !list.woken {
                list = self.woken.wait(list).unwrap();
            }
        }
        // finish_wait().
        let mut list = self.list.lock().unwrap();
        list.queued = false;
        self.active.store(false, Ordering::Relaxed);
    }

    /// `WaitQueue::wake_poll()`: after the caller's change, a full barrier,
    /// then a wake-up only if someone is queued.
    fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.active.load(Ordering::Relaxed) {
            let mut list = self.list.lock().unwrap();
            if list.queued {
                list.queued = false;
                self.active.store(false, Ordering::Relaxed);
                list.woken = true;
                self.woken.notify_one();
            }
        }
    }
}

/// A reader sleeping on an empty ring is woken by the write that fills it.
#[test]
fn reader_waiting_for_data_is_never_left_asleep() {
    loom::model(|| {
        let (mut producer, mut consumer, _) = halves(1);
        let readable = WaitQueue::new();
        let queue = readable.clone();
        let writer = thread::spawn(move || {
            assert_eq!(producer.write_with(1, |chunk| chunk.len()), 1);
            queue.wake();
        });
        readable.wait_until(|| !consumer.is_empty());
        assert_eq!(consumer.read_with(1, |chunk| chunk.len()), 1);
        writer.join().unwrap();
    });
}

/// A writer sleeping on a full ring is woken by the read that makes room.
#[test]
fn writer_waiting_for_room_is_never_left_asleep() {
    loom::model(|| {
        let (mut producer, mut consumer, _) = halves(1);
        assert_eq!(producer.write_with(1, |chunk| chunk.len()), 1);
        let writable = WaitQueue::new();
        let queue = writable.clone();
        let reader = thread::spawn(move || {
            assert_eq!(consumer.read_with(1, |chunk| chunk.len()), 1);
            queue.wake();
        });
        writable.wait_until(|| producer.free() > 0);
        assert_eq!(producer.write_with(1, |chunk| chunk.len()), 1);
        reader.join().unwrap();
    });
}

/// End of file: the last writer stores a byte and closes, which drops the
/// writer count (`Full`, in `Circbuf::release()`). A reader that finds the
/// ring empty and then no writer looks at the ring again before it calls
/// that end of file (`Circbuf::read()`): the count's acquire load makes the
/// byte stored before the close visible, so it is read, never left behind.
#[test]
fn end_of_file_never_leaves_the_last_writers_bytes_unread() {
    loom::model(|| {
        let (mut producer, mut consumer, _) = halves(1);
        let writers = Arc::new(AtomicU64::new(1));
        let count = writers.clone();
        let writer = thread::spawn(move || {
            assert_eq!(producer.write_with(1, |chunk| chunk.len()), 1);
            count.fetch_sub(1, Ordering::SeqCst);
        });
        let mut read = 0;
        loop {
            if !consumer.is_empty() {
                read += consumer.read_with(1, |chunk| chunk.len());
            } else if writers.load(Ordering::Acquire) != 0 {
                thread::yield_now();
            } else if consumer.is_empty() {
                break;
            }
        }
        assert_eq!(read, 1, "end of file with the last writer's byte unread");
        writer.join().unwrap();
    });
}

/// A one-byte ring with a mapped consumer, as the kernel sees it: the
/// head the consumer publishes in its page, the writers' flag in the
/// producer's page, and the head the kernel took in, which the reader lock
/// guards and wait conditions load without it.
struct MappedRing {
    published: AtomicU64,
    flag: AtomicBool,
    reader_lock: Mutex<()>,
    accepted: AtomicU64,
    tail: u64,
    writable: Arc<WaitQueue>,
}

impl MappedRing {
    /// `Circbuf::take_in()`: under the reader lock, takes in a head the
    /// consumer may publish, and wakes the writers for the room.
    fn take_in(&self) {
        let _reader = self.reader_lock.lock().unwrap();
        let published = self.published.load(Ordering::Acquire);
        let accepted = self.accepted.load(Ordering::Relaxed);
        if let Some(handed_back) = newly_consumed(published, accepted, self.tail) {
            if handed_back > 0 {
                self.accepted.store(published, Ordering::Release);
                self.writable.wake();
            }
        }
    }

    fn has_room(&self) -> bool {
        self.tail - self.accepted.load(Ordering::Acquire) < 1
    }
}

/// A writer waiting on a ring a mapped consumer empties is woken, whether
/// its take-in or the consumer's look at the flag comes first.
#[test]
fn writer_waiting_on_a_mapped_consumer_is_never_left_asleep() {
    loom::model(|| {
        let ring = Arc::new(MappedRing {
            published: AtomicU64::new(0),
            flag: AtomicBool::new(false),
            reader_lock: Mutex::new(()),
            accepted: AtomicU64::new(0),
            tail: 1,
            writable: WaitQueue::new(),
        });
        let user = ring.clone();
        let consumer = thread::spawn(move || {
            user.published.store(1, Ordering::Release);
            fence(Ordering::SeqCst);
            if user.flag.load(Ordering::Relaxed) {
                // CIRCBUF_WAKE_WRITERS.
                user.flag.swap(false, Ordering::SeqCst);
                fence(Ordering::SeqCst);
                user.take_in();
                user.writable.wake();
            }
        });
        // The write path on a full ring: flag, take in, then sleep while
        // the flag stays raised and there is no room.
        while !ring.has_room() {
            // The kernel's fully ordered xchg() is a full barrier on both
            // sides; C11's SeqCst swap orders less, hence the fence.
            ring.flag.swap(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            ring.take_in();
            if ring.has_room() {
                break;
            }
            ring.writable
                .wait_until(|| ring.has_room() || !ring.flag.load(Ordering::Acquire));
        }
        consumer.join().unwrap();
    });
}

type SampleRing = sample_ring::SampleRing<AtomicU64, Vec<AtomicU64>>;

/// A sample whose words all tell its sequence number.
fn sample(seq: u64) -> [u64; SAMPLE_WORDS] {
    [seq, seq + 100, seq + 200]
}

/// Two samples through a ring of one: the second overwrites the only slot
/// while the consumer may be copying the first. Every sample the consumer
/// commits must be whole and must be the one at its position, and each
/// sample is taken or dropped, exactly once. Bounded to three preemptions,
/// which covers a copy interrupted by the whole overwrite and resumed.
#[test]
fn overwriting_producer_never_hands_over_a_torn_sample() {
    let mut model = loom::model::Builder::new();
    model.preemption_bound = Some(3);
    model.check(|| {
        let words = (0..SAMPLE_WORDS).map(|_| AtomicU64::new(0)).collect();
        let (mut producer, mut consumer) = SampleRing::new(words)
            .unwrap()
            .split(|ring| Ok::<_, ()>(Arc::new(ring)))
            .unwrap();
        let writer =
            thread::spawn(move || (0..2).filter(|&seq| producer.push(sample(seq))).count());
        let mut taken = Vec::new();
        let mut out = [0u8; SAMPLE_BYTES];
        let mut take = |consumer: &mut sample_ring::SampleConsumer<_>| {
            let got = consumer.take_into(&mut out) == 1;
            if got {
                let words: Vec<u64> = out
                    .chunks_exact(8)
                    .map(|word| u64::from_ne_bytes(word.try_into().unwrap()))
                    .collect();
                assert_eq!(words, sample(words[0]), "a torn sample");
                taken.push(words[0]);
            }
            got
        };
        take(&mut consumer);
        let dropped = writer.join().unwrap();
        while take(&mut consumer) {}
        assert!(taken.windows(2).all(|pair| pair[0] < pair[1]), "{taken:?}");
        assert_eq!(
            taken.len() + dropped,
            2,
            "taken {taken:?}, dropped {dropped}"
        );
    });
}
