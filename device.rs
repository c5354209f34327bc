// SPDX-License-Identifier: GPL-2.0

//! The device: one ring shared by every open file, the locks that guard
//! it, the two wait queues, and the blocking, waking and accounting rules
//! of reads and writes.
//!
//! Locks, always taken in this order: `write` serialises writers, `read`
//! serialises readers, `state` guards the open counts and the sleepers. The
//! ring itself is shared by one writer and one reader ([`RingBuf`]), so a
//! reader copies out of the ring while a writer copies into it; a pipe
//! holds one mutex for both. Each side counts its own work under its own
//! lock, so a read or a write that nobody waits for takes one lock.
//!
//! Wake-up discipline: readers sleep on `readable` and writers on
//! `writable`, exclusively, so a notification wakes one sleeper plus every
//! poller. A sleeper counts itself in `readers_waiting` or `writers_waiting`,
//! issues a full barrier and checks the ring once more, all under `state`,
//! before it sleeps; the other side publishes its index, issues a full
//! barrier and then reads that count (the pairing `wq_has_sleeper()`
//! documents), so either the sleeper sees the change or the other side sees
//! the sleeper. Seeing one, it takes `state`, which the sleeper holds until
//! it is on the wait queue, and wakes it; seeing none, it touches neither
//! lock nor queue. Wakes happen after the side lock is dropped, so the woken
//! find it free. A writer wakes one reader when its data is all that is
//! unread, that is when it made the ring non-empty, since readers sleep
//! only on an empty ring; a reader that leaves data behind wakes the next
//! one. A reader that frees room wakes every waiting
//! writer, because each waits for a different amount of room (an atomic
//! write needs all of its bytes). Once anyone has polled the device, every
//! change wakes, and wakes every sleeper, since a poller may wait for any
//! transition and an `EPOLLEXCLUSIVE` poller may take a wake-up it does not
//! use. The last
//! writer to close wakes every reader, since they all reach end of file at
//! once. A reader that leaves because of a signal passes its wake-up on if
//! there is data for the next reader.
//!
//! In overwrite mode ([`Mode::Overwrite`]) writers never wait: a write that
//! does not fit drops the oldest whole records ([`RecordStarts::make_room`]),
//! and reads end at a record boundary, so that a reader with a buffer of at
//! least `PIPE_BUF` bytes never holds part of a record whose rest is dropped
//! (a record written in block mode, before a switch, may be longer).
//! Dropping moves the ring's head, which is the reader's, so in this mode
//! readers and writers take both the write and the read lock.

use crate::{
    compat::smp_mb,
    records::{start_map_words, Dropped, RecordStarts},
    ringbuf::{ReadEnd, RingBuf, WriteEnd},
    rules::{self, Mode, WriterWatch},
    stats::{Counters, Stats},
};
use kernel::{
    bindings,
    fs::File,
    iov::{IovIterDest, IovIterSource},
    new_mutex, new_poll_condvar, new_spinlock,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        poll::{PollCondVar, PollTable},
        Mutex, MutexGuard, SpinLock,
    },
};

/// What the write lock guards: the right to fill the ring.
struct WriteSide {
    end: WriteEnd,
    /// Where records start; only writers change it.
    starts: RecordStarts<KVVec<u64>>,
    /// Where an overwriting write copies a record before it drops anything
    /// for it, so that a fault in the copy drops nothing.
    scratch: KVVec<u8>,
    writes: u64,
    bytes_written: u64,
    dropped_bytes: u64,
    dropped_records: u64,
}

/// What the read lock guards: the right to empty the ring.
struct ReadSide {
    end: ReadEnd,
    reads: u64,
    bytes_read: u64,
}

/// What the state lock guards.
struct State {
    /// Open files with read access.
    readers: u64,
    /// Open files with write access.
    writers: u64,
    /// How many times a file with write access was opened since load.
    writer_opens: u64,
    read_waits: u64,
    write_waits: u64,
}

/// The shared device behind `/dev/circbuf`.
#[pin_data]
pub(crate) struct Circbuf {
    ring: RingBuf,
    /// Whether the device is in overwrite mode. Changed only with the write
    /// and the read lock held, so it is stable while either is held.
    overwrite: Atomic<bool>,
    /// Readers asleep on `readable`, or about to be; changed under `state`.
    readers_waiting: Atomic<u32>,
    /// Writers asleep on `writable`, or about to be; changed under `state`.
    writers_waiting: Atomic<u32>,
    /// Someone has polled the device: from then on every change wakes the
    /// wait queues, as edge-triggered epoll expects (as `pipe->poll_usage`).
    polled: Atomic<bool>,
    #[pin]
    write: Mutex<WriteSide>,
    #[pin]
    read: Mutex<ReadSide>,
    #[pin]
    state: SpinLock<State>,
    #[pin]
    readable: PollCondVar,
    #[pin]
    writable: PollCondVar,
}

/// How a file was opened, as far as the ring is concerned.
#[derive(Clone, Copy)]
pub(crate) struct Access {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

impl Circbuf {
    /// A device in `mode` with an empty ring of `capacity` bytes, allocated
    /// now with kvmalloc so that large rings need not be physically contiguous.
    pub(crate) fn new(capacity: usize, mode: Mode) -> Result<impl PinInit<Self>> {
        let storage = KVVec::from_elem(0u8, capacity, GFP_KERNEL)?;
        let starts = KVVec::from_elem(0u64, start_map_words(capacity), GFP_KERNEL)?;
        let scratch = KVVec::from_elem(0u8, rules::overwrite_record_max(capacity), GFP_KERNEL)?;
        let (ring, write_end, read_end) = RingBuf::new(storage).ok_or(EINVAL)?;
        let starts = RecordStarts::new(&ring, starts).ok_or(EINVAL)?;
        Ok(pin_init!(Self {
            ring,
            overwrite: Atomic::new(mode == Mode::Overwrite),
            readers_waiting: Atomic::new(0),
            writers_waiting: Atomic::new(0),
            polled: Atomic::new(false),
            write <- new_mutex!(WriteSide {
                end: write_end,
                starts,
                scratch,
                writes: 0,
                bytes_written: 0,
                dropped_bytes: 0,
                dropped_records: 0,
            }),
            read <- new_mutex!(ReadSide {
                end: read_end,
                reads: 0,
                bytes_read: 0,
            }),
            state <- new_spinlock!(State {
                readers: 0,
                writers: 0,
                writer_opens: 0,
                read_waits: 0,
                write_waits: 0,
            }),
            readable <- new_poll_condvar!("circbuf readable"),
            writable <- new_poll_condvar!("circbuf writable"),
        }))
    }

    /// What writes do when the ring is full; exact while the write or the
    /// read lock is held.
    fn mode(&self) -> Mode {
        if self.overwrite.load(Relaxed) {
            Mode::Overwrite
        } else {
            Mode::Block
        }
    }

    /// Accounts for a new open file; returns what its reads need to know
    /// to recognise end of file.
    pub(crate) fn open(&self, access: Access) -> WriterWatch {
        let mut state = self.state.lock();
        let watch = WriterWatch::new(state.writers, !self.ring.is_empty(), state.writer_opens);
        if access.read {
            state.readers += 1;
        }
        if access.write {
            state.writers += 1;
            state.writer_opens += 1;
        }
        watch
    }

    /// Accounts for the last close of a file.
    pub(crate) fn release(&self, access: Access) {
        let mut state = self.state.lock();
        if access.read {
            state.readers -= 1;
        }
        if access.write {
            state.writers -= 1;
            if state.writers == 0 {
                drop(state);
                // Every sleeping reader may now be at end of file.
                self.readable.notify_all();
            }
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
        let taken = loop {
            let Some(mut read) = self.wait_for_data(watch, nonblock)? else {
                return Ok(0);
            };
            if self.mode() == Mode::Block {
                let taken = self
                    .ring
                    .read_with(&mut read.end, wanted, |chunk| dest.copy_to_iter(chunk));
                count_read(&mut read, taken);
                break taken;
            }
            // Writers drop records, so exclude them, taking the locks in order.
            drop(read);
            let write = self.write.lock();
            let mut read = self.read.lock();
            if self.ring.readable(&read.end) == 0 {
                // Another reader took the data meanwhile.
                continue;
            }
            let max = match self.mode() {
                Mode::Block => wanted,
                Mode::Overwrite => write
                    .starts
                    .whole_records_within(&self.ring, &read.end, wanted),
            };
            let taken = self
                .ring
                .read_with(&mut read.end, max, |chunk| dest.copy_to_iter(chunk));
            count_read(&mut read, taken);
            break taken;
        };
        self.wake_after_read(taken)
    }

    /// Waits until there is data to read and returns the read lock, held;
    /// `None` at end of file.
    fn wait_for_data(
        &self,
        watch: &WriterWatch,
        nonblock: bool,
    ) -> Result<Option<MutexGuard<'_, ReadSide>>> {
        loop {
            let read = self.read.lock();
            if self.ring.readable(&read.end) > 0 {
                return Ok(Some(read));
            }
            let mut state = self.state.lock();
            self.readers_waiting.add(1, Relaxed);
            // Pairs with the barrier in `must_wake_reader`: data published
            // before it looked for sleepers shows now.
            smp_mb();
            if self.ring.readable(&read.end) > 0 {
                self.readers_waiting.fetch_sub(1, Relaxed);
                drop(state);
                return Ok(Some(read));
            }
            let outcome = if watch.at_eof(state.writers, state.writer_opens) {
                Some(Ok(None))
            } else if nonblock {
                Some(Err(EAGAIN))
            } else {
                None
            };
            if let Some(outcome) = outcome {
                self.readers_waiting.fetch_sub(1, Relaxed);
                return outcome;
            }
            drop(read);
            state.read_waits += 1;
            let signalled = self.readable.wait_interruptible(&mut state);
            self.readers_waiting.fetch_sub(1, Relaxed);
            if signalled {
                drop(state);
                if !self.ring.is_empty() && self.readers_waiting.load(Relaxed) > 0 {
                    self.wake_a_reader();
                }
                return Err(ERESTARTSYS);
            }
        }
    }

    /// Wakes whoever can use what a read of `taken` bytes did: the writers,
    /// since it freed room, and the next reader, if it left data behind.
    /// Called with no lock held, so that the woken find the locks free.
    fn wake_after_read(&self, taken: usize) -> Result<usize> {
        // Pairs with the barrier a sleeping writer issues after counting
        // itself (either it sees the room or this sees it), and with the one
        // in `must_wake_reader` (either this sees data that arrived during
        // the read, or its writer wakes a reader for it).
        smp_mb();
        if taken > 0 && (self.writers_waiting.load(Relaxed) > 0 || self.polled.load(Relaxed)) {
            self.wake_all_writers();
        }
        // Even a reader that faulted passes on the wake-up it may have used.
        if self.readers_waiting.load(Relaxed) > 0 && !self.ring.is_empty() {
            self.wake_sleeping_reader();
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
        let atomic = rules::write_is_atomic(total, self.ring.capacity());
        let mut stored = 0;
        // Bytes published that no reader was told about yet.
        let mut unannounced = 0;
        let mut write = self.write.lock();
        let outcome = loop {
            if self.mode() == Mode::Overwrite {
                let mut read = self.read.lock();
                let before = stored;
                let outcome = self.overwrite(&mut write, &mut read, source, total, &mut stored);
                unannounced += stored - before;
                break outcome;
            }
            let room = rules::write_room(total - stored, self.ring.writable(&write.end), atomic);
            if room > 0 {
                let side = &mut *write;
                let filled = side
                    .starts
                    .write_with(&self.ring, &mut side.end, room, |chunk| {
                        source.copy_from_iter(chunk)
                    });
                if filled > 0 {
                    count_write(side, filled, stored == 0, Dropped::default());
                    unannounced += filled;
                }
                stored += filled;
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
            // The readers must know of the data before this writer waits
            // for them to make room.
            if self.must_wake_reader(&write.end, unannounced) {
                self.wake_sleeping_reader();
            }
            unannounced = 0;
            let mut state = self.state.lock();
            self.writers_waiting.add(1, Relaxed);
            // Pairs with the barrier in `wake_after_read`: room freed before it
            // looked for sleepers shows now.
            smp_mb();
            if rules::write_room(total - stored, self.ring.writable(&write.end), atomic) > 0 {
                self.writers_waiting.fetch_sub(1, Relaxed);
                continue;
            }
            drop(write);
            state.write_waits += 1;
            let signalled = self.writable.wait_interruptible(&mut state);
            self.writers_waiting.fetch_sub(1, Relaxed);
            drop(state);
            if signalled {
                return if stored == 0 {
                    Err(ERESTARTSYS)
                } else {
                    Ok(stored)
                };
            }
            write = self.write.lock();
        };
        let wake = self.must_wake_reader(&write.end, unannounced);
        drop(write);
        if wake {
            self.wake_sleeping_reader();
        }
        match outcome {
            Err(err) if stored == 0 => Err(err),
            _ => Ok(stored),
        }
    }

    /// Whether a reader must be woken for the `added` bytes just published
    /// through `end`: a poller may wait for any change, and a sleeping
    /// reader waits for the ring to stop being empty. If other unread data
    /// was there before these bytes, whoever made it non-empty woke a reader
    /// already, and that reader takes these bytes too: small writes in a row
    /// wake one reader, not one each. Called with the write lock held.
    fn must_wake_reader(&self, end: &WriteEnd, added: usize) -> bool {
        if added == 0 {
            return false;
        }
        // Pairs with the barrier a sleeping reader issues after counting
        // itself (either it sees the data or this sees it), and with the one
        // a reader issues after taking data before it looks for more to
        // pass on (either it sees these bytes or this sees them unread
        // alone).
        smp_mb();
        self.polled.load(Relaxed)
            || (self.readers_waiting.load(Relaxed) > 0 && self.ring.unread(end) <= added)
    }

    /// Wakes a reader that [`Self::must_wake_reader`] found asleep.
    fn wake_sleeping_reader(&self) {
        // A reader holds `state` until it is on the wait queue.
        drop(self.state.lock());
        self.wake_a_reader();
    }

    /// Wakes one sleeping reader, or everyone once the device was polled:
    /// an `EPOLLEXCLUSIVE` waiter on the queue counts as the one exclusive
    /// waiter woken, and may not read at all.
    fn wake_a_reader(&self) {
        if self.polled.load(Relaxed) {
            self.readable.notify_all();
        } else {
            self.readable.notify_one();
        }
    }

    /// Stores the rest of the `total` bytes of `source` (`stored` so far) in
    /// records of at most [`rules::overwrite_record_max`] bytes, dropping the
    /// oldest records to make room. Returns whether a fault stopped it.
    fn overwrite(
        &self,
        write: &mut WriteSide,
        read: &mut ReadSide,
        source: &mut IovIterSource<'_>,
        total: usize,
        stored: &mut usize,
    ) -> Result {
        let record_max = rules::overwrite_record_max(self.ring.capacity());
        while *stored < total {
            let record = (total - *stored).min(record_max);
            let WriteSide {
                end,
                starts,
                scratch,
                ..
            } = &mut *write;
            let (filled, dropped) = if self.ring.writable(end) >= record {
                let filled = starts.write_with(&self.ring, end, record, |chunk| {
                    source.copy_from_iter(chunk)
                });
                (filled, Dropped::default())
            } else {
                let copied = source.copy_from_iter(&mut scratch[..record]);
                let dropped = starts.make_room(&self.ring, end, &mut read.end, copied);
                let mut offset = 0;
                let filled = starts.write_with(&self.ring, end, copied, |chunk| {
                    chunk.copy_from_slice(&scratch[offset..offset + chunk.len()]);
                    offset += chunk.len();
                    chunk.len()
                });
                (filled, dropped)
            };
            if filled > 0 {
                count_write(write, filled, *stored == 0, dropped);
            }
            *stored += filled;
            if filled < record {
                return Err(EFAULT);
            }
        }
        Ok(())
    }

    /// Registers `table` with both wait queues and returns the ready mask.
    pub(crate) fn poll(
        &self,
        file: &File,
        table: PollTable<'_>,
        access: Access,
        watch: &WriterWatch,
    ) -> u32 {
        table.register_wait(file, &self.readable);
        table.register_wait(file, &self.writable);
        self.polled.store(true, Relaxed);
        // Pairs with the barrier in `must_wake_reader` and `wake_after_read`: either
        // this sees the change or the side that made it sees `polled`.
        smp_mb();
        let state = self.state.lock();
        let mut mask = 0;
        if access.read {
            if !self.ring.is_empty() {
                mask |= bindings::POLLIN | bindings::POLLRDNORM;
            }
            if watch.at_eof(state.writers, state.writer_opens) {
                mask |= bindings::POLLHUP;
            }
        }
        if access.write
            && rules::poll_writable_in(self.mode(), self.ring.free(), self.ring.capacity())
        {
            mask |= bindings::POLLOUT | bindings::POLLWRNORM;
        }
        mask
    }

    /// Discards the content of the ring and wakes the writers waiting for room.
    pub(crate) fn reset(&self) {
        let mut read = self.read.lock();
        self.ring.clear(&mut read.end);
        drop(read);
        self.wake_all_writers();
    }

    /// Switches what writes do when the ring is full; writers waiting for
    /// room go on at once in overwrite mode.
    pub(crate) fn set_mode(&self, mode: Mode) {
        let write = self.write.lock();
        let read = self.read.lock();
        self.overwrite.store(mode == Mode::Overwrite, Relaxed);
        drop(read);
        drop(write);
        if mode == Mode::Overwrite {
            self.wake_all_writers();
        }
    }

    /// Wakes every writer, including one that saw no room and is on its way
    /// to sleep: it holds `state` until it is on the wait queue.
    fn wake_all_writers(&self) {
        drop(self.state.lock());
        self.writable.notify_all();
    }

    /// The number of bytes waiting to be read.
    pub(crate) fn used(&self) -> usize {
        self.ring.len()
    }

    /// A consistent snapshot of the statistics: with every lock held, no
    /// read or write is between moving data and counting it.
    pub(crate) fn stats(&self) -> Stats {
        let write = self.write.lock();
        let read = self.read.lock();
        let state = self.state.lock();
        Stats {
            capacity: self.ring.capacity(),
            mode: self.mode(),
            used: self.ring.len(),
            readers: state.readers,
            writers: state.writers,
            counters: Counters {
                reads: read.reads,
                writes: write.writes,
                bytes_read: read.bytes_read,
                bytes_written: write.bytes_written,
                read_waits: state.read_waits,
                write_waits: state.write_waits,
                dropped_bytes: write.dropped_bytes,
                dropped_records: write.dropped_records,
            },
        }
    }
}

/// Counts a read of `taken` bytes; called with the read lock held, so that
/// statistics never see data gone but not yet counted.
fn count_read(read: &mut ReadSide, taken: usize) {
    if taken > 0 {
        read.reads += 1;
        read.bytes_read += taken as u64;
    }
}

/// Counts `filled` bytes a write published (the first of its syscall if
/// `first`) and what it dropped for them; called with the write lock held,
/// for the same reason as [`count_read`].
fn count_write(write: &mut WriteSide, filled: usize, first: bool, dropped: Dropped) {
    if first {
        write.writes += 1;
    }
    write.bytes_written += filled as u64;
    write.dropped_bytes += dropped.bytes as u64;
    write.dropped_records += dropped.records as u64;
}
