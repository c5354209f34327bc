// SPDX-License-Identifier: GPL-2.0

//! The device: one ring shared by every open file, the lock that guards
//! it, the two wait queues, and the blocking, waking and accounting rules
//! of reads and writes.
//!
//! Wake-up discipline (as in `fs/pipe.c`): readers sleep on `readable` and
//! writers on `writable`, exclusively, so a notification wakes one sleeper
//! plus every poller. Nobody is woken who cannot be waiting: readers sleep
//! only on an empty ring, so a writer wakes one reader when it fills an
//! empty ring. As in `anon_pipe_write()`, that wake-up comes after the
//! lock is dropped and carries the scheduler's sync hint; a writer about to
//! sleep for room wakes the reader first, under the lock, which the wait
//! then drops. A reader that leaves data behind wakes the next one. Writers
//! sleep only while less than `min(PIPE_BUF, capacity)` is free
//! ([`rules::writers_may_wait`]), so a reader that frees room from below
//! that mark wakes all writers, because each waits for a different amount
//! of room (an atomic write needs all of its bytes). Once anyone has polled the
//! device, every change wakes, since a poller may wait for any transition.
//! The last writer to close wakes every reader, since they all reach end of
//! file at once. A reader that leaves because of a signal passes its wake-up
//! on if there is data for the next reader.
//!
//! In overwrite mode ([`Mode::Overwrite`]) writers never wait: a write that
//! does not fit drops the oldest whole records ([`RecordRing::make_room`]),
//! and reads end at a record boundary, so that a reader with a buffer of at
//! least `PIPE_BUF` bytes never holds part of a record whose rest is dropped.
//! Those writers wake a reader under the lock, record by record.

use crate::{
    records::{start_map_words, RecordRing},
    ringbuf::RingBuf,
    rules::{self, Mode, WriterWatch},
    stats::{Counters, Stats},
};
use kernel::{
    bindings,
    fs::File,
    iov::{IovIterDest, IovIterSource},
    new_mutex, new_poll_condvar,
    prelude::*,
    sync::{
        poll::{PollCondVar, PollTable},
        Mutex,
    },
};

/// Everything the device lock guards.
struct State {
    ring: RecordRing<KVVec<u8>, KVVec<u64>>,
    mode: Mode,
    /// Where an overwriting write copies a record before it drops anything
    /// for it, so that a fault in the copy drops nothing.
    scratch: KVVec<u8>,
    /// Open files with read access.
    readers: u64,
    /// Open files with write access.
    writers: u64,
    /// How many times a file with write access was opened since load.
    writer_opens: u64,
    /// Someone has polled the device: from then on every change wakes the
    /// wait queues, as edge-triggered epoll expects (as `pipe->poll_usage`).
    polled: bool,
    counters: Counters,
}

/// The shared device behind `/dev/circbuf`.
#[pin_data]
pub(crate) struct Circbuf {
    #[pin]
    state: Mutex<State>,
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
        let ring = RingBuf::new(storage)
            .and_then(|ring| RecordRing::new(ring, starts))
            .ok_or(EINVAL)?;
        Ok(pin_init!(Self {
            state <- new_mutex!(State {
                ring,
                mode,
                scratch,
                readers: 0,
                writers: 0,
                writer_opens: 0,
                polled: false,
                counters: Counters::default(),
            }),
            readable <- new_poll_condvar!("circbuf readable"),
            writable <- new_poll_condvar!("circbuf writable"),
        }))
    }

    /// Accounts for a new open file; returns what its reads need to know
    /// to recognise end of file.
    pub(crate) fn open(&self, access: Access) -> WriterWatch {
        let mut state = self.state.lock();
        let watch = WriterWatch::new(state.writers, !state.ring.is_empty(), state.writer_opens);
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
        let mut state = self.state.lock();
        while state.ring.is_empty() {
            if watch.at_eof(state.writers, state.writer_opens) {
                return Ok(0);
            }
            if nonblock {
                return Err(EAGAIN);
            }
            state.counters.read_waits += 1;
            if self.readable.wait_interruptible(&mut state) {
                if !state.ring.is_empty() {
                    self.readable.notify_one();
                }
                return Err(ERESTARTSYS);
            }
        }
        let wanted = match state.mode {
            Mode::Block => wanted,
            Mode::Overwrite => state.ring.whole_records_within(wanted),
        };
        let free_before = state.ring.free();
        let taken = state
            .ring
            .read_with(wanted, |chunk| dest.copy_to_iter(chunk));
        if taken > 0 {
            state.counters.reads += 1;
            state.counters.bytes_read += taken as u64;
        }
        let data_left = !state.ring.is_empty();
        let wake_writers = taken > 0
            && (state.polled || rules::writers_may_wait(free_before, state.ring.capacity()));
        drop(state);

        if wake_writers {
            self.writable.notify_all();
        }
        if data_left {
            self.readable.notify_one();
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
        let mut state = self.state.lock();
        let atomic = rules::write_is_atomic(total, state.ring.capacity());
        let mut stored = 0;
        let mut wake_reader = false;
        let outcome = loop {
            if state.mode == Mode::Overwrite {
                let (filled, outcome) = self.overwrite(&mut state, source, total - stored);
                stored += filled;
                break outcome;
            }
            let room = rules::write_room(total - stored, state.ring.free(), atomic);
            if room > 0 {
                let was_empty = state.ring.is_empty();
                let filled = state
                    .ring
                    .write_with(room, |chunk| source.copy_from_iter(chunk));
                stored += filled;
                // Readers sleep only on an empty ring.
                wake_reader |= filled > 0 && (was_empty || state.polled);
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
            // The reader may be waiting for the bytes stored above, and only
            // it can free the room this writer is about to wait for.
            if core::mem::take(&mut wake_reader) {
                self.readable.notify_sync();
            }
            state.counters.write_waits += 1;
            if self.writable.wait_interruptible(&mut state) {
                break Err(ERESTARTSYS);
            }
        };
        if stored > 0 {
            state.counters.writes += 1;
            state.counters.bytes_written += stored as u64;
        }
        drop(state);
        // Woken after the unlock, the reader does not wake into a held lock.
        // The sync hint lets the scheduler move it to this CPU; with it,
        // readers woke less often per message (docs/performance.md).
        if wake_reader {
            self.readable.notify_sync();
        }

        match outcome {
            Err(err) if stored == 0 => Err(err),
            _ => Ok(stored),
        }
    }

    /// Stores `len` bytes from `source` in records of at most
    /// [`rules::overwrite_record_max`] bytes, dropping the oldest records to
    /// make room. Returns the bytes stored and whether a fault stopped it.
    fn overwrite(
        &self,
        state: &mut State,
        source: &mut IovIterSource<'_>,
        len: usize,
    ) -> (usize, Result) {
        let State {
            ring,
            scratch,
            counters,
            polled,
            ..
        } = state;
        let record_max = rules::overwrite_record_max(ring.capacity());
        let mut stored = 0;
        while stored < len {
            let record = (len - stored).min(record_max);
            let was_empty = ring.is_empty();
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
            if filled > 0 && (was_empty || *polled) {
                self.readable.notify_one();
            }
            if filled < record {
                return (stored, Err(EFAULT));
            }
        }
        (stored, Ok(()))
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
        let mut state = self.state.lock();
        state.polled = true;
        let mut mask = 0;
        if access.read {
            if !state.ring.is_empty() {
                mask |= bindings::POLLIN | bindings::POLLRDNORM;
            }
            if watch.at_eof(state.writers, state.writer_opens) {
                mask |= bindings::POLLHUP;
            }
        }
        if access.write
            && rules::poll_writable_in(state.mode, state.ring.free(), state.ring.capacity())
        {
            mask |= bindings::POLLOUT | bindings::POLLWRNORM;
        }
        mask
    }

    /// Discards the content of the ring and wakes the writers waiting for room.
    pub(crate) fn reset(&self) {
        self.state.lock().ring.clear();
        self.writable.notify_all();
    }

    /// Switches what writes do when the ring is full; writers waiting for
    /// room go on at once in overwrite mode.
    pub(crate) fn set_mode(&self, mode: Mode) {
        self.state.lock().mode = mode;
        if mode == Mode::Overwrite {
            self.writable.notify_all();
        }
    }

    /// The number of bytes waiting to be read.
    pub(crate) fn used(&self) -> usize {
        self.state.lock().ring.len()
    }

    /// A consistent snapshot of the statistics.
    pub(crate) fn stats(&self) -> Stats {
        let state = self.state.lock();
        Stats {
            capacity: state.ring.capacity(),
            mode: state.mode,
            used: state.ring.len(),
            readers: state.readers,
            writers: state.writers,
            counters: state.counters,
        }
    }
}
