// SPDX-License-Identifier: GPL-2.0

//! The device: one two-sided ring shared by every open file, a lock for
//! each side, the two wait queues, and the blocking, waking and accounting
//! rules of reads and writes.
//!
//! Readers share the consumer half behind the reader lock and writers the
//! producer half behind the writer lock, so a reader and a writer copy to
//! and from user memory at the same time. In block mode a read or a write
//! takes only its own side's lock, and sleeps holding none. Overwrite mode
//! and the mode switch move the read side from the write side, so they take
//! both, always the reader's first. `RESET` moves only the read side.
//!
//! Sleeping and waking follow `fs/pipe.c`, through [`WaitQueue`], which
//! cannot lose a wake-up between a side's check and its sleep. Readers sleep
//! on `readable` and writers on `writable`. Readers sleep exclusively, only
//! on an empty ring: a write wakes one of them, with the scheduler's sync
//! hint, and a reader that leaves data behind wakes the next. A reader woken
//! for data takes it even if a signal is pending ([`WaitQueue`] checks the
//! condition first, as `___wait_event()` does), so no wake-up is lost to a
//! reader that leaves. Writers sleep non-exclusively, because
//! each waits for a different amount of room (an atomic write needs all of
//! its bytes): a read that frees room wakes all of them. The last writer to
//! close wakes every reader, since they all reach end of file at once.
//! Every wake-up is keyed with its poll events and costs a barrier and a
//! load when nobody waits, so pollers are woken by exactly the changes they
//! wait for, and edge-triggered epoll sees every one.
//!
//! In overwrite mode ([`Mode::Overwrite`]) writers never wait: a write that
//! does not fit drops the oldest whole records ([`RecordRing::make_room`]),
//! and reads end at a record boundary, so that a reader with a buffer of at
//! least `PIPE_BUF` bytes never holds part of a record whose rest is dropped.
//! The record map exists only once the device has been in overwrite mode.

use crate::{
    ioctl::Controls,
    records::{start_map_words, RecordRing, RecordStarts},
    ring::{new_ring, ByteRing, Consumer, Producer},
    rules::{self, Mode, Source, WriterWatch},
    stats::{ReadCounters, Stats, WriteCounters},
    waitqueue::{PollTable, WaitQueue},
};
use kernel::{
    bindings,
    fs::File,
    iov::{IovIterDest, IovIterSource},
    new_mutex,
    prelude::*,
    static_lock_class,
    sync::{
        atomic::{Acquire, Atomic, Full, Relaxed},
        Arc, Mutex,
    },
};

/// The events a wake-up of readers signals.
const READABLE: u32 = bindings::POLLIN | bindings::POLLRDNORM;
/// The events a wake-up of writers signals.
const WRITABLE: u32 = bindings::POLLOUT | bindings::POLLWRNORM;

/// What the reader lock guards.
struct ReadSide {
    consumer: Consumer,
    /// Where records start; there once the device has been in overwrite mode.
    starts: Option<RecordStarts<KVVec<u64>>>,
    counters: ReadCounters,
}

/// What the writer lock guards.
struct WriteSide {
    producer: Producer,
    /// Where an overwriting write copies a record before it drops anything
    /// for it, so that a fault in the copy drops nothing; there once the
    /// device has been in overwrite mode.
    scratch: Option<KVVec<u8>>,
    counters: WriteCounters,
}

/// The shared device behind `/dev/circbuf`.
///
/// # Invariants
///
/// `overwriting` changes only with both locks held, the reader's taken
/// first. While it is set, `starts` and `scratch` are there.
#[pin_data]
pub(crate) struct Circbuf {
    #[pin]
    reader: Mutex<ReadSide>,
    #[pin]
    writer: Mutex<WriteSide>,
    /// The ring both halves point to, for what needs no side: wait
    /// conditions, poll, `FIONREAD`.
    ring: Arc<ByteRing>,
    /// The mode is [`Mode::Overwrite`]; stable under either lock.
    overwriting: Atomic<bool>,
    /// Open files with read access.
    readers: Atomic<u64>,
    /// Open files with write access.
    writers: Atomic<u64>,
    /// How many times a file with write access was opened since load.
    writer_opens: Atomic<u64>,
    #[pin]
    readable: WaitQueue,
    #[pin]
    writable: WaitQueue,
}

/// How a file was opened, as far as the ring is concerned.
#[derive(Clone, Copy)]
pub(crate) struct Access {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

/// What overwrite mode needs beyond the ring, allocated when the device
/// first enters it.
fn overwrite_buffers(capacity: usize) -> Result<(RecordStarts<KVVec<u64>>, KVVec<u8>)> {
    let map = KVVec::from_elem(0u64, start_map_words(capacity), GFP_KERNEL)?;
    let starts = RecordStarts::new(map, capacity).ok_or(EINVAL)?;
    let scratch = KVVec::from_elem(0u8, rules::overwrite_record_max(capacity), GFP_KERNEL)?;
    Ok((starts, scratch))
}

impl Circbuf {
    /// A device in `mode` with an empty ring of `capacity` bytes, allocated
    /// now.
    pub(crate) fn new(capacity: usize, mode: Mode) -> Result<impl PinInit<Self>> {
        let (producer, consumer, ring) = new_ring(capacity)?;
        let (starts, scratch) = match mode {
            Mode::Block => (None, None),
            Mode::Overwrite => {
                let (starts, scratch) = overwrite_buffers(capacity)?;
                (Some(starts), Some(scratch))
            }
        };
        // INVARIANT: In overwrite mode both buffers were just allocated.
        Ok(pin_init!(Self {
            reader <- new_mutex!(ReadSide {
                consumer,
                starts,
                counters: ReadCounters::default(),
            }),
            writer <- new_mutex!(WriteSide {
                producer,
                scratch,
                counters: WriteCounters::default(),
            }),
            ring,
            overwriting: Atomic::new(mode == Mode::Overwrite),
            readers: Atomic::new(0),
            writers: Atomic::new(0),
            writer_opens: Atomic::new(0),
            readable <- WaitQueue::new(c"circbuf readable", static_lock_class!()),
            writable <- WaitQueue::new(c"circbuf writable", static_lock_class!()),
        }))
    }

    /// The current mode: exact under either lock, a hint without one.
    fn mode(&self) -> Mode {
        if self.overwriting.load(Relaxed) {
            Mode::Overwrite
        } else {
            Mode::Block
        }
    }

    /// Whether an empty ring means end of file for a reader with `watch`.
    /// `writer_opens` is loaded first: an opening writer counts itself in
    /// `writers` before `writer_opens`, so a new open is never seen without
    /// its writer.
    fn at_eof(&self, watch: &WriterWatch) -> bool {
        let writer_opens = self.writer_opens.load(Acquire);
        watch.at_eof(self.writers.load(Acquire), writer_opens)
    }

    /// Accounts for a new open file; returns what its reads need to know
    /// to recognise end of file.
    pub(crate) fn open(&self, access: Access) -> WriterWatch {
        let writer_opens = self.writer_opens.load(Acquire);
        let watch = WriterWatch::new(
            self.writers.load(Acquire),
            !self.ring.is_empty(),
            writer_opens,
        );
        if access.read {
            self.readers.fetch_add(1, Full);
        }
        if access.write {
            self.writers.fetch_add(1, Full);
            self.writer_opens.fetch_add(1, Full);
        }
        watch
    }

    /// Accounts for the last close of a file.
    pub(crate) fn release(&self, access: Access) {
        if access.read {
            self.readers.fetch_sub(1, Full);
        }
        if access.write && self.writers.fetch_sub(1, Full) == 1 {
            // Every sleeping reader may now be at end of file.
            self.readable.wake_all(READABLE | bindings::POLLHUP);
        }
    }

    /// Moves up to `dest.len()` bytes to the reader, waiting for the first
    /// byte unless `nonblock`. Returns 0 at end of file.
    pub(crate) fn read(
        &self,
        watch: &WriterWatch,
        dest: &mut IovIterDest<'_>,
        nonblock: bool,
    ) -> Result<usize> {
        let wanted = dest.len();
        if wanted == 0 {
            return Ok(0);
        }
        let mut guard = self.reader.lock();
        while guard.consumer.is_empty() {
            if self.at_eof(watch) {
                return Ok(0);
            }
            if nonblock {
                return Err(EAGAIN);
            }
            guard.counters.read_waits += 1;
            drop(guard);
            let woken = self
                .readable
                .wait_interruptible_exclusive(|| !self.ring.is_empty() || self.at_eof(watch));
            woken?;
            guard = self.reader.lock();
        }
        let side = &mut *guard;
        let wanted = match (self.mode(), &side.starts) {
            (Mode::Overwrite, Some(starts)) => {
                starts.whole_records_within(side.consumer.head_index(), side.consumer.len(), wanted)
            }
            _ => wanted,
        };
        let taken = side
            .consumer
            .read_with(wanted, |chunk| dest.copy_to_iter(chunk));
        if taken > 0 {
            side.counters.reads += 1;
            side.counters.bytes_read += taken as u64;
        }
        let data_left = !side.consumer.is_empty();
        drop(guard);

        if taken > 0 {
            self.writable.wake_poll(WRITABLE);
        }
        if data_left {
            self.readable.wake_poll(READABLE);
        }
        // Nothing copied although data was there: the user buffer faulted.
        if taken == 0 {
            return Err(EFAULT);
        }
        Ok(taken)
    }

    /// Moves `source.len()` bytes into the ring, waiting for room unless
    /// `nonblock`, or in overwrite mode making room. Atomic writes (see
    /// [`rules::write_is_atomic`]) wait until they fit whole. Returns the
    /// bytes stored, which is less than asked only on a signal, a fault or,
    /// without blocking, a full ring.
    pub(crate) fn write(&self, source: &mut IovIterSource<'_>, nonblock: bool) -> Result<usize> {
        let total = source.len();
        if total == 0 {
            return Ok(0);
        }
        let capacity = self.ring.capacity();
        let atomic = rules::write_is_atomic(total, capacity);
        let mut stored = 0;
        let outcome = loop {
            if self.mode() == Mode::Overwrite {
                if let Some((filled, outcome)) = self.overwrite(source, total - stored, stored) {
                    stored += filled;
                    break outcome;
                }
                // Back in block mode before both locks were taken.
                continue;
            }
            let mut side = self.writer.lock();
            if self.mode() == Mode::Overwrite {
                continue;
            }
            let room = rules::write_room(total - stored, side.producer.free(), atomic);
            if room > 0 {
                let filled = side
                    .producer
                    .write_with(room, |chunk| source.copy_from_iter(chunk));
                if filled > 0 {
                    side.counters.writes += u64::from(stored == 0);
                    side.counters.bytes_written += filled as u64;
                    stored += filled;
                    drop(side);
                    self.readable.wake_poll(READABLE);
                }
                if stored == total {
                    break Ok(());
                }
                if filled < room {
                    break Err(EFAULT);
                }
                continue;
            }
            if nonblock {
                break Err(EAGAIN);
            }
            side.counters.write_waits += 1;
            drop(side);
            let remaining = total - stored;
            let woken = self.writable.wait_interruptible(|| {
                let free = capacity - self.ring.len();
                self.mode() == Mode::Overwrite || rules::write_room(remaining, free, atomic) > 0
            });
            if let Err(err) = woken {
                break Err(err);
            }
        };
        match outcome {
            Err(err) if stored == 0 => Err(err),
            _ => Ok(stored),
        }
    }

    /// Stores `len` bytes from `source` in overwrite mode, in records of at
    /// most [`rules::overwrite_record_max`] bytes, dropping the oldest
    /// records to make room; `stored_before` bytes of this write are already
    /// in. Returns the bytes stored and whether a fault stopped it, or
    /// `None` if the device was back in block mode once both locks were taken.
    fn overwrite(
        &self,
        source: &mut IovIterSource<'_>,
        len: usize,
        stored_before: usize,
    ) -> Option<(usize, Result)> {
        let mut reader = self.reader.lock();
        let mut writer = self.writer.lock();
        if self.mode() != Mode::Overwrite {
            return None;
        }
        let ReadSide {
            consumer, starts, ..
        } = &mut *reader;
        let WriteSide {
            producer,
            scratch,
            counters,
        } = &mut *writer;
        // Both are there in overwrite mode (invariant).
        let (Some(starts), Some(scratch)) = (starts.as_mut(), scratch.as_mut()) else {
            return Some((0, Err(EINVAL)));
        };
        let record_max = rules::overwrite_record_max(self.ring.capacity());
        let mut ring = RecordRing::new(producer, consumer, starts);
        let mut stored = 0;
        let mut outcome = Ok(());
        while stored < len {
            let record = (len - stored).min(record_max);
            let filled = if ring.free() >= record {
                ring.write_with(record, |chunk| source.copy_from_iter(chunk))
            } else {
                let copied = source.copy_from_iter(&mut scratch[..record]);
                let dropped = ring.make_room(copied);
                counters.dropped_bytes += dropped.bytes as u64;
                counters.dropped_records += dropped.records as u64;
                let mut offset = 0;
                ring.write_with(copied, |chunk| {
                    chunk.copy_from_slice(&scratch[offset..offset + chunk.len()]);
                    offset += chunk.len();
                    chunk.len()
                })
            };
            stored += filled;
            if filled < record {
                outcome = Err(EFAULT);
                break;
            }
        }
        if stored > 0 {
            counters.writes += u64::from(stored_before == 0);
            counters.bytes_written += stored as u64;
        }
        drop(writer);
        drop(reader);
        if stored > 0 {
            self.readable.wake_poll(READABLE);
        }
        Some((stored, outcome))
    }

    /// Registers `table` with the wait queues `access` can wait on and
    /// returns the ready mask.
    pub(crate) fn poll(
        &self,
        file: &File,
        table: PollTable<'_>,
        access: Access,
        watch: &WriterWatch,
    ) -> u32 {
        if access.read {
            table.register(file, &self.readable);
        }
        if access.write {
            table.register(file, &self.writable);
        }
        let mut mask = 0;
        if access.read {
            if !self.ring.is_empty() {
                mask |= READABLE;
            }
            if self.at_eof(watch) {
                mask |= bindings::POLLHUP;
            }
        }
        let capacity = self.ring.capacity();
        if access.write
            && rules::poll_writable_in(self.mode(), capacity - self.ring.len(), capacity)
        {
            mask |= WRITABLE;
        }
        mask
    }
}

impl Controls for Circbuf {
    /// Discards the content of the ring and wakes the writers waiting for room.
    fn reset(&self) {
        self.reader.lock().consumer.discard(usize::MAX);
        self.writable.wake_poll(WRITABLE);
    }

    /// Switches what writes do when the ring is full; writers waiting for
    /// room go on at once in overwrite mode. Entering overwrite mode for the
    /// first time allocates the record map, which may fail with `ENOMEM`.
    fn set_mode(&self, mode: Mode) -> Result {
        let capacity = self.ring.capacity();
        let needs_buffers = mode == Mode::Overwrite && self.reader.lock().starts.is_none();
        // Allocated without the locks held; a failure changes nothing.
        let mut buffers = if needs_buffers {
            Some(overwrite_buffers(capacity)?)
        } else {
            None
        };
        let mut reader = self.reader.lock();
        let mut writer = self.writer.lock();
        if reader.starts.is_none() {
            if let Some((starts, scratch)) = buffers.take() {
                reader.starts = Some(starts);
                writer.scratch = Some(scratch);
            }
        }
        let entering = mode == Mode::Overwrite && self.mode() == Mode::Block;
        let side = &mut *reader;
        if let (true, Some(starts)) = (entering, side.starts.as_mut()) {
            // Block-mode writes keep no boundaries: what is waiting becomes
            // records of the longest length an overwriting write stores.
            starts.adopt(
                side.consumer.head_index(),
                side.consumer.len(),
                rules::overwrite_record_max(capacity),
            );
        }
        // INVARIANT: Both locks are held, and overwrite mode is entered only
        // with both buffers there.
        let overwriting =
            mode == Mode::Overwrite && side.starts.is_some() && writer.scratch.is_some();
        self.overwriting.store(overwriting, Relaxed);
        drop(writer);
        drop(reader);
        if overwriting {
            self.writable.wake_all(WRITABLE);
        }
        Ok(())
    }

    /// The number of bytes waiting to be read.
    fn used(&self) -> usize {
        self.ring.len()
    }

    /// A consistent snapshot of the statistics.
    fn stats(&self) -> Stats {
        let reader = self.reader.lock();
        let writer = self.writer.lock();
        Stats {
            capacity: self.ring.capacity(),
            mode: self.mode(),
            used: self.ring.len(),
            readers: self.readers.load(Relaxed),
            writers: self.writers.load(Relaxed),
            read: reader.counters,
            write: writer.counters,
            source: Source::None,
            rate_hz: 0,
        }
    }

    /// `/dev/circbuf` has no kernel source: its writers produce.
    fn set_source(&self, source: Source, _rate_hz: u32) -> Result {
        match source {
            Source::None => Ok(()),
            Source::Thermal => Err(ENOTTY),
        }
    }
}
