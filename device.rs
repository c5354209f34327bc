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
//!
//! A file may instead hold the consumer half through a mapping of the ring
//! ([`MappedConsumer`], `mapped.rs`): it then publishes its progress in a
//! page of its own, which the kernel takes in under the reader lock when
//! the consumer polls, when a writer finds the ring full, on
//! `CIRCBUF_WAKE_WRITERS` and when the file is closed. Every write
//! publishes the tail in the producer's page, which the consumer maps
//! read-only. Meanwhile `read(2)` fails with `EBUSY`.

use crate::{
    ioctl::Controls,
    mapped,
    mapping::{
        consumer_area, insert_consumer_page, insert_producer_area, producer_area, MappedConsumer,
        CAPACITY, CONSUMER_PGOFF, FLAGS, HEAD, PRODUCER_PGOFF, TAIL, WRITERS_WAITING,
    },
    pages::SharedPage,
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
    mm::virt::VmaNew,
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    static_lock_class,
    sync::{
        atomic::{Acquire, Atomic, Full, Relaxed, Release},
        lock::{mutex::MutexBackend, Guard},
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
    /// The file whose mapping holds the consumer half, if any.
    mapped: Option<MappedConsumer>,
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
    /// conditions, poll, `FIONREAD`, mappings.
    ring: Arc<ByteRing>,
    /// The producer's page of the mapped consumer: the tail every write
    /// publishes, the capacity and the writers' flag.
    producer_page: SharedPage,
    /// The identity of the file in `ReadSide::mapped`, 0 if none: exact
    /// under the reader lock, a hint without it.
    mapped_by: Atomic<u64>,
    /// Identities for open files, counting from 1.
    files: Atomic<u64>,
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
        let producer_page = SharedPage::new()?;
        producer_page.word(CAPACITY).store(capacity as u64, Relaxed);
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
                mapped: None,
                counters: ReadCounters::default(),
            }),
            writer <- new_mutex!(WriteSide {
                producer,
                scratch,
                counters: WriteCounters::default(),
            }),
            ring,
            producer_page,
            mapped_by: Atomic::new(0),
            files: Atomic::new(1),
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
    ///
    /// Callers look at the ring *after* this: a writer's close comes after
    /// the bytes it stored, so once the close is seen an empty ring stays
    /// empty. Seen empty before, the ring may have taken the last writer's
    /// final bytes since, and end of file would leave them unread.
    fn at_eof(&self, watch: &WriterWatch) -> bool {
        let writer_opens = self.writer_opens.load(Acquire);
        watch.at_eof(self.writers.load(Acquire), writer_opens)
    }

    /// Accounts for a new open file; returns what its reads need to know
    /// to recognise end of file, and the file's identity, never 0.
    pub(crate) fn open(&self, access: Access) -> (WriterWatch, u64) {
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
        (watch, self.files.fetch_add(1, Relaxed))
    }

    /// Accounts for the last close of the file `file`.
    pub(crate) fn release(&self, file: u64, access: Access) {
        if self.mapped_by.load(Acquire) == file {
            self.end_mapping(file);
        }
        if access.read {
            self.readers.fetch_sub(1, Full);
        }
        if access.write {
            let left = self.writers.fetch_sub(1, Full) - 1;
            // Every sleeping reader may now be at end of file; so may the
            // mapped consumer, whose own file is left out of its count.
            if left == 0 || self.mapped_by.load(Acquire) != 0 {
                self.readable.wake_all(READABLE | bindings::POLLHUP);
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
        let mut guard = self.reader.lock();
        if guard.mapped.is_some() {
            return Err(EBUSY);
        }
        while guard.consumer.is_empty() {
            if self.at_eof(watch) {
                // Empty again after end of file was seen (see `at_eof`).
                if guard.consumer.is_empty() {
                    return Ok(0);
                }
                break;
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
            if guard.mapped.is_some() {
                return Err(EBUSY);
            }
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
        // Whether the mapped consumer's head was taken in since the last
        // wait or fill (and, for a blocking write, the writers' flag raised).
        let mut took_in = false;
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
                    self.publish_tail(&side.producer);
                    stored += filled;
                    took_in = false;
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
            if !took_in && self.mapped_by.load(Relaxed) != 0 {
                drop(side);
                if !nonblock {
                    // Raised before the head is loaded, which a full
                    // barrier orders after it (see `mapped.rs`).
                    self.producer_page.word(FLAGS).xchg(WRITERS_WAITING, Full);
                }
                let mut reader = self.reader.lock();
                self.take_in(&mut reader);
                drop(reader);
                took_in = true;
                continue;
            }
            if nonblock {
                break Err(EAGAIN);
            }
            side.counters.write_waits += 1;
            drop(side);
            let remaining = total - stored;
            // With a mapped consumer, a consumer that saw the flag clears it
            // (`CIRCBUF_WAKE_WRITERS`) once it has published room.
            let flagged = core::mem::take(&mut took_in);
            let woken = self.writable.wait_interruptible(|| {
                let free = capacity - self.ring.len();
                self.mode() == Mode::Overwrite
                    || rules::write_room(remaining, free, atomic) > 0
                    || (flagged && !self.writers_flagged())
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
            self.publish_tail(producer);
        }
        drop(writer);
        drop(reader);
        if stored > 0 {
            self.readable.wake_poll(READABLE);
        }
        Some((stored, outcome))
    }

    /// Registers `table` with the wait queues `access` can wait on and
    /// returns the ready mask. For the mapped consumer `id`, it first takes
    /// in the consumer's head, so `EPOLLIN` means that the producer's tail
    /// is ahead of it.
    pub(crate) fn poll(
        &self,
        file: &File,
        id: u64,
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
            let (readable, eof) = match self.mapped_by.load(Acquire) {
                owner if owner == id => self.poll_mapped(id),
                // Its read(2) fails with EBUSY until the mapping ends, which
                // wakes it.
                0 => {
                    // End of file first (see `at_eof`), so that `POLLHUP`
                    // never comes without `POLLIN` while bytes are waiting.
                    let eof = self.at_eof(watch);
                    (!self.ring.is_empty(), eof)
                }
                _ => (false, self.at_eof(watch)),
            };
            if readable {
                mask |= READABLE;
            }
            if eof {
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

    /// Publishes the tail `producer` has reached to the mapped consumer;
    /// the release store orders it after the bytes it covers.
    fn publish_tail(&self, producer: &Producer) {
        self.producer_page
            .word(TAIL)
            .store(producer.written(), Release);
    }

    /// Whether a writer waits for room and the mapped consumer has not yet
    /// answered the flag.
    fn writers_flagged(&self) -> bool {
        self.producer_page.word(FLAGS).load(Acquire) & WRITERS_WAITING != 0
    }

    /// Takes in the head the mapped consumer published, if there is one
    /// and it is a head it may publish (see `mapped::newly_consumed`);
    /// other values are ignored. Wakes the writers for the room.
    fn take_in(&self, side: &mut ReadSide) {
        let Some(consumer) = side.mapped.as_ref() else {
            return;
        };
        let published = consumer.page.word(HEAD).load(Acquire);
        // Loaded after the ring's own tail was published, so the consumer
        // half holds at least the bytes up to it.
        let tail = self.producer_page.word(TAIL).load(Acquire);
        let Some(handed_back) = mapped::newly_consumed(published, side.consumer.taken(), tail)
        else {
            return;
        };
        if handed_back == 0 {
            return;
        }
        // At most the capacity: it fits in a usize.
        side.consumer.discard(handed_back as usize);
        side.counters.reads += 1;
        side.counters.bytes_read += handed_back;
        self.writable.wake_poll(WRITABLE);
    }

    /// Takes in the mapped consumer `id`'s head for its poll; returns
    /// whether the tail it can see is ahead of that head, and whether it
    /// is at end of file, leaving out its own file's write access.
    fn poll_mapped(&self, id: u64) -> (bool, bool) {
        let mut reader = self.reader.lock();
        self.take_in(&mut reader);
        let Some(consumer) = reader.mapped.as_ref().filter(|m| m.owner == id) else {
            return (false, false);
        };
        // End of file before the tail, as in `at_eof`.
        let writer_opens = self.writer_opens.load(Acquire);
        let writers = self.writers.load(Acquire) - u64::from(consumer.own_writer);
        let eof = consumer.watch.at_eof(writers, writer_opens);
        // The tail in the producer's page, not the ring's own, which a
        // write publishes first: POLLIN must mean bytes the consumer sees.
        let readable = self.producer_page.word(TAIL).load(Acquire) != reader.consumer.taken();
        (readable, eof)
    }

    /// Ends the mapping of `file` on its last close: its last head is
    /// taken in, and what it left unread stays for `read(2)`. The mapping
    /// itself may live on, on pages the device no longer reads.
    fn end_mapping(&self, file: u64) {
        let mut reader = self.reader.lock();
        self.take_in(&mut reader);
        if reader.mapped.as_ref().is_some_and(|m| m.owner == file) {
            reader.mapped = None;
            self.mapped_by.store(0, Release);
        }
        drop(reader);
        // No consumer is left to answer the writers' flag.
        self.producer_page.word(FLAGS).xchg(0, Full);
        self.writable.wake_all(WRITABLE);
        self.readable.wake_all(READABLE);
    }

    /// Makes the file `file` the mapped consumer, unless it already is.
    /// Returns the reader lock, so that what the caller maps is undone with
    /// the claim if mapping fails, and whether this call made the claim.
    /// `EBUSY` if another file is the mapped consumer, `EAGAIN` if the
    /// reader lock is taken, `EINVAL` if the ring cannot be mapped.
    fn claim(
        &self,
        file: u64,
        access: Access,
    ) -> Result<(Guard<'_, ReadSide, MutexBackend>, bool)> {
        // mmap() holds the mmap lock, which a read(2) holding the reader
        // lock may be waiting for to fault in its user buffer: waiting here
        // for the reader lock could deadlock, trying cannot.
        let mut reader = self.reader.try_lock().ok_or(EAGAIN)?;
        if let Some(consumer) = reader.mapped.as_ref() {
            return if consumer.owner == file {
                Ok((reader, false))
            } else {
                Err(EBUSY)
            };
        }
        if self.mode() != Mode::Block || !mapped::mappable(self.ring.capacity(), PAGE_SIZE) {
            return Err(EINVAL);
        }
        let page = Arc::new(SharedPage::new()?, GFP_KERNEL)?;
        page.word(HEAD).store(reader.consumer.taken(), Relaxed);
        let own_writer = access.write;
        let writer_opens = self.writer_opens.load(Acquire);
        let watch = WriterWatch::new(
            self.writers.load(Acquire) - u64::from(own_writer),
            !reader.consumer.is_empty(),
            writer_opens,
        );
        reader.mapped = Some(MappedConsumer {
            owner: file,
            page,
            watch,
            own_writer,
        });
        self.mapped_by.store(file, Release);
        Ok((reader, true))
    }

    /// Maps the area at page offset `pgoff` of the mapped consumer `file`
    /// (`include/uapi/linux/circbuf.h`), making the file the mapped
    /// consumer if no file is. A failed call leaves no claim it made.
    pub(crate) fn mmap(&self, file: u64, access: Access, pgoff: usize, vma: &VmaNew) -> Result {
        let area = match pgoff {
            CONSUMER_PGOFF => consumer_area(vma)?,
            PRODUCER_PGOFF => producer_area(vma, self.ring.capacity())?,
            _ => return Err(EINVAL),
        };
        // The owner's claim cannot end while it maps: its file is open.
        if pgoff == PRODUCER_PGOFF && self.mapped_by.load(Acquire) == file {
            return insert_producer_area(area, &self.producer_page, &self.ring);
        }
        let (mut reader, claimed) = self.claim(file, access)?;
        let mapped = if pgoff == CONSUMER_PGOFF {
            // A claim leaves the file's `MappedConsumer` in place.
            let consumer = reader.mapped.as_ref().ok_or(EINVAL)?;
            insert_consumer_page(area, &consumer.page)
        } else {
            insert_producer_area(area, &self.producer_page, &self.ring)
        };
        if mapped.is_err() && claimed {
            reader.mapped = None;
            self.mapped_by.store(0, Release);
        }
        mapped
    }
}

impl Controls for Circbuf {
    /// Discards the content of the ring and wakes the writers waiting for
    /// room; `EBUSY` while a mapped consumer holds the content.
    fn reset(&self) -> Result {
        let mut reader = self.reader.lock();
        if reader.mapped.is_some() {
            return Err(EBUSY);
        }
        reader.consumer.discard(usize::MAX);
        drop(reader);
        self.writable.wake_poll(WRITABLE);
        Ok(())
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
        if mode == Mode::Overwrite && reader.mapped.is_some() {
            // Dropping records would move a head that user space owns.
            return Err(EBUSY);
        }
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
        let mut reader = self.reader.lock();
        self.take_in(&mut reader);
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

    /// Answers the writers' flag of the mapped consumer: clears it, takes in
    /// the consumer's head and wakes the writers.
    fn wake_writers(&self) -> Result {
        self.producer_page.word(FLAGS).xchg(0, Full);
        let mut reader = self.reader.lock();
        self.take_in(&mut reader);
        drop(reader);
        self.writable.wake_poll(WRITABLE);
        Ok(())
    }

    /// `/dev/circbuf` has no kernel source: its writers produce.
    fn set_source(&self, source: Source, _rate_hz: u32) -> Result {
        match source {
            Source::None => Ok(()),
            Source::Thermal => Err(ENOTTY),
        }
    }
}
