// SPDX-License-Identifier: GPL-2.0
//! [`MappedReader`]: the zero-copy consumer of `/dev/circbuf`. It maps the
//! ring as `include/uapi/linux/circbuf.h` lays it out ("The mapped
//! consumer"), lends the unread bytes in place and publishes how far it has
//! consumed. This file owns every access to that memory, which the kernel
//! shares, and so all of the crate's `mmap` unsafety.
//!
//! Built only where Rust promises that a relaxed 8-byte atomic load works
//! on read-only memory (see `lib.rs`): `tail` and `flags` live in a page the
//! consumer may not write.

use std::ffi::c_void;
use std::mem::{align_of, offset_of, size_of};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{fence, AtomicU64, Ordering};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::Errno;
use rustix::ioctl::{ioctl, NoArg};
use rustix::mm::{mmap, munmap, MapFlags, ProtFlags};

use crate::device::{Device, OpenOptions};

/// How many times a mapping the kernel refuses with `EAGAIN` (reader side
/// busy) is tried again before the error is returned.
const MAP_BUSY_TRIES: u32 = 1000;
use crate::error::{Error, Operation};
use crate::uapi::{
    MmapConsumer, MmapProducer, CIRCBUF_WAKE_WRITERS, MMAP_CONSUMER_PGOFF, MMAP_PRODUCER_PGOFF,
    MMAP_WRITERS_WAITING,
};

const HEAD: usize = offset_of!(MmapConsumer, head);
const TAIL: usize = offset_of!(MmapProducer, tail);
const CAPACITY: usize = offset_of!(MmapProducer, capacity);
const FLAGS: usize = offset_of!(MmapProducer, flags);

/// The length of the producer area for a ring of `capacity` bytes: its own
/// page, then the data pages twice. `None` for a capacity the kernel refuses
/// to map (zero, or not a multiple of the page size) or a length that no
/// mapping can have; the slice `MappedReader::lent` forms relies on both.
fn producer_len(capacity: u64, page: usize) -> Option<usize> {
    let capacity = usize::try_from(capacity).ok()?;
    if capacity == 0 || !capacity.is_multiple_of(page) {
        return None;
    }
    let len = capacity.checked_mul(2)?.checked_add(page)?;
    // A slice may span at most isize::MAX bytes.
    isize::try_from(len).is_ok().then_some(len)
}

/// Where the bytes from `head` to `tail` start in the data area, and how
/// many there are; `None` if `tail` is more than `capacity` ahead of `head`
/// (or behind it), which the kernel never publishes. Positions wrap at 2^64,
/// hence the wrapping difference. `capacity` is non-zero and fits a `usize`
/// (`producer_len` accepted it), so both results fit one too.
fn readable(head: u64, tail: u64, capacity: u64) -> Option<(usize, usize)> {
    let len = tail.wrapping_sub(head);
    if len > capacity {
        return None;
    }
    Some(((head % capacity) as usize, len as usize))
}

/// One `mmap` of the device, unmapped on drop.
#[derive(Debug)]
struct Mapping {
    ptr: *mut c_void,
    len: usize,
}

// SAFETY: a mapping belongs to the process, not to a thread: its addresses
// are valid in every thread, and munmap may run in any. All access to the
// memory goes through `&`/`&mut` borrows of the owning `MappedReader`, which
// the borrow checker orders across threads like any other.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `device` from page `pgoff` on, shared, with `prot`.
    fn new(
        device: &Device,
        pgoff: u64,
        page: usize,
        len: usize,
        prot: ProtFlags,
    ) -> Result<Mapping, Error> {
        // pgoff is 0 or 1, so this cannot overflow.
        let offset = pgoff * page as u64;
        let mut busy = 0;
        loop {
            // SAFETY: the address is null, so the kernel picks a range that
            // overlaps no existing mapping: no memory that a Rust reference
            // points to is replaced. References into the new range are made
            // only by `Mapping::word` and `MappedReader::lent`, whose SAFETY
            // comments show that they keep the rules of references.
            match unsafe { mmap(ptr::null_mut(), len, prot, MapFlags::SHARED, device, offset) } {
                Ok(ptr) => return Ok(Mapping { ptr, len }),
                // The first mmap fails with EAGAIN while a read(2) or a
                // statistics call holds the reader side, for one copy at
                // most.
                Err(Errno::AGAIN) if busy < MAP_BUSY_TRIES => {
                    busy += 1;
                    std::thread::yield_now();
                }
                Err(errno) => return Err(Error::new(device.path(), Operation::Map, errno)),
            }
        }
    }

    /// The shared `u64` at `offset` bytes into the mapping.
    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(
            offset.is_multiple_of(align_of::<AtomicU64>())
                && offset + size_of::<AtomicU64>() <= self.len
        );
        let word = self
            .ptr
            .cast::<u8>()
            .wrapping_add(offset)
            .cast::<AtomicU64>();
        // SAFETY: `word` lies `offset` bytes into this mapping and, by the
        // assert, all 8 of its bytes are inside it; the mapping stays until
        // `self` drops (only `drop` unmaps it), and the reference borrows
        // `self`. mmap returns a page-aligned address and `offset` is a
        // multiple of 8, so `word` is aligned. Every bit pattern is a valid
        // `AtomicU64`. The kernel accesses these words while the reference
        // lives (writes tail and flags, reads head), which `AtomicU64`, an
        // `UnsafeCell`, allows; the UAPI has both sides access them only as
        // whole atomic u64s, never mixed-size or plain. The only use of a
        // word of the read-only producer page is the relaxed load in
        // `MappedReader::load_producer`: the one atomic operation Rust
        // supports on read-only memory, for 8 bytes on the targets this
        // module is built for (see `lib.rs`).
        unsafe { &*word }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are what a successful mmap returned, and
        // nothing else unmaps the range. Every reference into it borrows the
        // `MappedReader` that owns this mapping (`word` borrows the mapping,
        // `lent` the reader), so none outlives this drop.
        let result = unsafe { munmap(self.ptr, self.len) };
        // munmap of a whole mapping we made cannot fail; if it somehow did,
        // the range would merely stay mapped.
        debug_assert!(result.is_ok(), "munmap: {result:?}");
    }
}

/// What poll woke us for: data, or no writer left (end of file if no data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    Readable,
    HungUp,
}

/// Reads `/dev/circbuf` in place, as its mapped consumer.
///
/// [`next`](Self::next) lends the oldest unread bytes straight from the
/// kernel's ring, [`consume`](Self::consume) hands them back. The borrow
/// checker keeps a lent slice from outliving the `consume` that frees its
/// bytes for writers to overwrite.
///
/// While it exists, this reader is the device's only mapped consumer: other
/// files get `EBUSY` from mmap and every `read(2)` gets `EBUSY`;
/// `CIRCBUF_RESET` and switching to overwrite mode fail with `EBUSY` too.
/// Bytes left unconsumed when it drops stay for `read(2)`. A child made by
/// `fork()` does not inherit the mappings and must not use it.
///
/// ```no_run
/// let mut reader = circbuf::MappedReader::open(circbuf::DEFAULT_PATH)?;
/// let mut total = 0;
/// loop {
///     let bytes = reader.next()?;
///     if bytes.is_empty() {
///         break; // end of file: no writer left
///     }
///     let n = bytes.len();
///     total += bytes.iter().map(|&b| u64::from(b)).sum::<u64>();
///     reader.consume(n)?;
/// }
/// println!("byte sum {total}");
/// # Ok::<(), circbuf::Error>(())
/// ```
///
/// Bytes handed back may be overwritten at once, so a slice cannot be used
/// after `consume`:
///
/// ```compile_fail,E0499
/// # let mut reader = circbuf::MappedReader::open(circbuf::DEFAULT_PATH)?;
/// let bytes = reader.next()?;
/// reader.consume(1)?;
/// println!("{}", bytes[0]);
/// # Ok::<(), circbuf::Error>(())
/// ```
#[derive(Debug)]
pub struct MappedReader {
    consumer: Mapping,
    producer: Mapping,
    device: Device,
    page: usize,
    capacity: u64,
    /// Bytes consumed: what this reader last stored to `head`. Only it
    /// writes `head`, so this copy is always current.
    head: u64,
    /// The `tail` last loaded; the bytes from `head` to here are lent out.
    tail: u64,
}

impl MappedReader {
    /// Opens the device at `path` (normally [`DEFAULT_PATH`](crate::DEFAULT_PATH))
    /// and maps its ring.
    ///
    /// The file is opened for reading and writing, as the kernel allows a
    /// writable shared mapping (the consumer page) only of a file open for
    /// writing; the mapped consumer's file does not count as a writer for
    /// end of file.
    pub fn open(path: impl AsRef<Path>) -> Result<MappedReader, Error> {
        Device::open(path, OpenOptions::new().read(true).write(true))
            .and_then(MappedReader::from_device)
    }

    /// Maps the ring of `device`, which must be open for reading and
    /// writing (else mmap fails with `EACCES`). `O_NONBLOCK` makes no
    /// difference: [`next`](Self::next) waits with poll and never reads.
    ///
    /// Fails with `EBUSY` if another file is the mapped consumer, `EINVAL`
    /// if the ring is in overwrite mode or its capacity is not a multiple of
    /// the page size, `ENODEV` on the telemetry device, and with
    /// `EPROTO` ([`Operation::MappedRing`]) if the kernel's mapped capacity
    /// differs from the one `CIRCBUF_GET_STATS` reported.
    pub fn from_device(device: Device) -> Result<MappedReader, Error> {
        let page = rustix::param::page_size();
        // The capacity sizes the producer area, so it is needed before that
        // is mapped; it is fixed from load to unload.
        let capacity = device.stats()?.capacity;
        let consumer = Mapping::new(
            &device,
            MMAP_CONSUMER_PGOFF,
            page,
            page,
            ProtFlags::READ | ProtFlags::WRITE,
        )?;
        // Checked after the consumer page is mapped, so that a device that
        // cannot be mapped at all reports the kernel's reason instead.
        let len = producer_len(capacity, page)
            .ok_or_else(|| Error::new(device.path(), Operation::Map, Errno::INVAL))?;
        let producer = Mapping::new(&device, MMAP_PRODUCER_PGOFF, page, len, ProtFlags::READ)?;
        let mut reader = MappedReader {
            consumer,
            producer,
            device,
            page,
            capacity,
            head: 0,
            tail: 0,
        };
        if reader.load_producer(CAPACITY) != capacity {
            return Err(reader.error(Operation::MappedRing, Errno::PROTO));
        }
        // Where read(2) left off, as the kernel set it up for this mapping
        // during our mmap call. Relaxed: that call ran in this thread, and
        // from now on only this reader stores head.
        reader.head = reader.consumer.word(HEAD).load(Ordering::Relaxed);
        reader.tail = reader.head;
        Ok(reader)
    }

    /// The device, for its statistics. Reading it fails with `EBUSY` while
    /// it is mapped.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The ring's size in bytes: the most that [`next`](Self::next) returns.
    pub fn capacity(&self) -> usize {
        // producer_len accepted it, so it fits.
        self.capacity as usize
    }

    /// The consumer's position: the bytes consumed since the device was
    /// loaded, by `read(2)` and mapped consumers, wrapping at 2^64.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Lends all the unread bytes, oldest first, waiting with poll while
    /// there are none; an empty slice is end of file (no writer has the
    /// device open and nothing is left).
    ///
    /// The slice stays valid until [`consume`](Self::consume), which needs
    /// it gone; calling `next` again lends the same bytes, plus any written
    /// since. A signal during the wait restarts it.
    // Not `Iterator::next`: what it returns borrows the reader, which an
    // Iterator's items cannot.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<&[u8], Error> {
        let mut hung_up = false;
        // "Readable" means "look again", not "tail has moved": the kernel's
        // poll counts bytes a writer has stored but not yet published in
        // the producer page, so for a moment tail may still equal head.
        // Hung up with nothing readable after it is end of file.
        while self.refresh()? == 0 && !hung_up {
            hung_up = self.wait()? == Wake::HungUp;
        }
        Ok(self.lent())
    }

    /// Lends the unread bytes like [`next`](Self::next), but never waits:
    /// the slice is empty when nothing is readable now, which says nothing
    /// about end of file. No system call.
    pub fn try_next(&mut self) -> Result<&[u8], Error> {
        self.refresh()?;
        Ok(self.lent())
    }

    /// Marks the first `n` bytes that [`next`](Self::next) or
    /// [`try_next`](Self::try_next) lent as consumed: writers may overwrite
    /// them now. If a writer is waiting for room, wakes it with
    /// `CIRCBUF_WAKE_WRITERS`, the only system call this can make.
    ///
    /// # Panics
    ///
    /// If `n` is more than the bytes last lent and not consumed yet: that is
    /// a bug in the caller, and going on would hand the kernel a position
    /// it ignores and desynchronise the caller's count.
    pub fn consume(&mut self, n: usize) -> Result<(), Error> {
        let lent = self.tail.wrapping_sub(self.head);
        // usize is 64 bits wide on every target this module is built for.
        let n = n as u64;
        assert!(n <= lent, "consume({n}) is more than the {lent} bytes lent");
        if n == 0 {
            return Ok(());
        }
        self.head = self.head.wrapping_add(n);
        // Release: once the kernel sees this head it lets writers reuse the
        // bytes before it, so our reads of them must come first.
        self.consumer.word(HEAD).store(self.head, Ordering::Release);
        // A writer that finds the ring full sets WRITERS_WAITING, issues a
        // full barrier and reads head again. This fence pairs with that one:
        // either the writer sees our head, or we see its flag below, so no
        // writer sleeps on room we freed. Only a full fence orders our store
        // before our later load.
        fence(Ordering::SeqCst);
        if self.load_producer(FLAGS) & MMAP_WRITERS_WAITING != 0 {
            self.wake_writers()?;
        }
        Ok(())
    }

    fn error(&self, operation: Operation, errno: Errno) -> Error {
        Error::new(self.device.path(), operation, errno)
    }

    /// Loads a `u64` of the producer page. Relaxed, because that page is
    /// read-only; see [`Mapping::word`].
    fn load_producer(&self, offset: usize) -> u64 {
        self.producer.word(offset).load(Ordering::Relaxed)
    }

    /// Loads `tail`, checks it against `head` and returns how many bytes
    /// are readable now.
    fn refresh(&mut self) -> Result<usize, Error> {
        let tail = self.load_producer(TAIL);
        // With the relaxed load above, the acquire load of tail the UAPI
        // asks for: it pairs with the kernel's release store of tail, so the
        // bytes it wrote before are visible to `lent`'s slice.
        fence(Ordering::Acquire);
        let (_, len) = readable(self.head, tail, self.capacity)
            .ok_or_else(|| self.error(Operation::MappedRing, Errno::PROTO))?;
        self.tail = tail;
        Ok(len)
    }

    /// The bytes from `head` to the last `tail` loaded, in place.
    fn lent(&self) -> &[u8] {
        let (offset, len) =
            readable(self.head, self.tail, self.capacity).expect("refresh checked this tail");
        let data = self
            .producer
            .ptr
            .cast::<u8>()
            .wrapping_add(self.page + offset);
        // SAFETY: `data` is `page + offset` bytes into the producer mapping,
        // and `offset < capacity` and `len <= capacity`, so all `len` bytes
        // lie in the mapping's `page + 2 * capacity`; it is one mapping,
        // which stays until `self` drops, and the slice borrows `self`.
        // `data` is non-null and a `u8` needs no alignment; `producer_len`
        // kept the mapping, and so `len`, within isize::MAX. The bytes are
        // ring memory the kernel allocated, and any byte is a valid `u8`.
        // Nothing writes them while the slice lives: they are the bytes from
        // `head` to a `tail` the kernel published, which it wrote before
        // that (the acquire in `refresh` orders those writes before these
        // reads) and writes again only after we store a `head` past them.
        // Only `consume` does that, and it takes `&mut self`; nothing else
        // moves the kernel's head while we are the mapped consumer:
        // `read(2)`, `CIRCBUF_RESET` and the switch to overwrite mode (which
        // drops old bytes) fail with `EBUSY`, and the kernel only takes in
        // heads we stored. The data pages appear twice, but the slice,
        // at most `capacity` long, covers each of their bytes at most once.
        unsafe { std::slice::from_raw_parts(data, len) }
    }

    /// Waits until poll reports the ring readable or hung up. poll also has
    /// the kernel take in our `head`.
    fn wait(&self) -> Result<Wake, Error> {
        loop {
            let mut fds = [PollFd::new(&self.device, PollFlags::IN)];
            match poll(&mut fds, None) {
                Err(Errno::INTR) => continue,
                Err(errno) => return Err(self.error(Operation::Poll, errno)),
                Ok(_) => {}
            }
            let revents = fds[0].revents();
            if revents.contains(PollFlags::IN) {
                return Ok(Wake::Readable);
            }
            if revents.contains(PollFlags::HUP) {
                return Ok(Wake::HungUp);
            }
            if revents.contains(PollFlags::NVAL) {
                return Err(self.error(Operation::Poll, Errno::BADF));
            }
            if revents.contains(PollFlags::ERR) {
                return Err(self.error(Operation::Poll, Errno::IO));
            }
            // Nothing ready, which poll without a timeout never returns;
            // waiting again is all there is to do.
        }
    }

    /// `CIRCBUF_WAKE_WRITERS`: the kernel takes in our head and wakes the
    /// writers waiting for the room it frees.
    fn wake_writers(&self) -> Result<(), Error> {
        // SAFETY: CIRCBUF_WAKE_WRITERS is `_IO(..)`: it takes no argument, so
        // no memory is handed to the kernel and nothing is read back.
        let result = unsafe { ioctl(&self.device, NoArg::<CIRCBUF_WAKE_WRITERS>::new()) };
        result.map_err(|e| self.error(Operation::WakeWriters, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: usize = 4096;

    #[test]
    fn producer_area_is_a_page_then_the_data_twice() {
        assert_eq!(producer_len(PAGE as u64, PAGE), Some(3 * PAGE));
        assert_eq!(producer_len(16 * PAGE as u64, PAGE), Some(33 * PAGE));
        assert_eq!(producer_len(3 * 65_536, 65_536), Some(7 * 65_536));
    }

    #[test]
    fn unmappable_capacities_are_refused_before_mmap() {
        assert_eq!(producer_len(0, PAGE), None);
        assert_eq!(producer_len(PAGE as u64 + 1, PAGE), None);
        assert_eq!(producer_len(1000, PAGE), None);
        // A multiple of 4 KiB that is not one of 64 KiB pages.
        assert_eq!(producer_len(PAGE as u64, 65_536), None);
        // A page plus twice the capacity must fit a slice: 2^63 - 4096
        // bytes do, 2^63 + 4096 do not.
        let largest = (1u64 << 62) - PAGE as u64;
        assert_eq!(
            producer_len(largest, PAGE),
            Some(isize::MAX as usize - PAGE + 1)
        );
        assert_eq!(producer_len(1 << 62, PAGE), None);
        assert_eq!(producer_len(!(PAGE as u64 - 1), PAGE), None);
    }

    #[test]
    fn readable_bytes_start_at_head_modulo_capacity() {
        let cap = 4 * PAGE as u64;
        assert_eq!(readable(0, 0, cap), Some((0, 0)));
        assert_eq!(readable(0, 10, cap), Some((0, 10)));
        assert_eq!(readable(cap + 5, cap + 9, cap), Some((5, 4)));
        // A full ring lends all of it, from anywhere: the second copy of
        // the data pages makes the end contiguous.
        assert_eq!(
            readable(3 * cap - 1, 4 * cap - 1, cap),
            Some((cap as usize - 1, cap as usize))
        );
        // Not a power of two: only multiples of the page size are promised.
        let cap = 3 * PAGE as u64;
        assert_eq!(
            readable(7 * PAGE as u64, 8 * PAGE as u64, cap),
            Some((PAGE, PAGE))
        );
    }

    #[test]
    fn positions_wrap_at_two_to_the_64() {
        // A power-of-two capacity divides 2^64, so the offset runs on
        // across the wrap: the bytes before it end the data area, those
        // after start it, and the double mapping joins them.
        let cap = 16 * PAGE as u64;
        let head = u64::MAX - 99;
        assert_eq!(readable(head, 50, cap), Some((cap as usize - 100, 150)));
        assert_eq!(readable(head, head, cap), Some((cap as usize - 100, 0)));
        assert_eq!(
            readable(u64::MAX, u64::MAX.wrapping_add(cap), cap),
            Some((cap as usize - 1, cap as usize))
        );
    }

    #[test]
    fn a_tail_beyond_the_capacity_or_behind_head_is_refused() {
        let cap = 4 * PAGE as u64;
        assert_eq!(readable(0, cap + 1, cap), None);
        assert_eq!(readable(100, 99, cap), None);
        assert_eq!(readable(u64::MAX - 10, cap, cap), None);
        assert_eq!(readable(0, cap, cap), Some((0, cap as usize)));
    }

    #[test]
    fn layout_offsets_are_the_headers() {
        assert_eq!((HEAD, TAIL, CAPACITY, FLAGS), (0, 0, 8, 16));
    }
}
