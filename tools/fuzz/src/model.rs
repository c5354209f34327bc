// SPDX-License-Identifier: GPL-2.0

//! The executable model of the device: the ring's content, every open
//! file's access, flags and end-of-file watch, the reader and writer counts,
//! and the counters of `struct circbuf_stats`.
//!
//! Every rule is restated here from `docs/semantics.md`, and the content
//! is a plain `VecDeque`: the model shares no code with the driver, so a
//! mistake in the driver's ring or rules cannot hide in the model too.

use std::collections::VecDeque;

use circbuf::Stats;
use rustix::event::PollFlags;
use rustix::io::Errno;

use crate::op::Access;

/// Writes of at most this many bytes that fit in the capacity are atomic
/// ("write(2)" in `docs/semantics.md`).
pub const PIPE_BUF: usize = 4096;

/// Whether a write of `len` bytes to a ring of `capacity` bytes lands whole.
fn is_atomic(len: usize, capacity: usize) -> bool {
    len <= PIPE_BUF && len <= capacity
}

/// What a reader remembers from its open to tell "no writer yet" (wait)
/// from "the writers are gone" (end of file), as "read(2)" describes.
#[derive(Clone, Copy)]
struct EofWatch {
    /// A writer had the device open, or data was waiting, when it opened.
    armed: bool,
    /// How many writer opens there had been by then.
    writer_opens: u64,
}

/// What the model knows about one open file.
#[derive(Clone, Copy)]
pub struct File {
    /// The access mode it was opened with.
    pub access: Access,
    /// Whether `O_NONBLOCK` is set now.
    pub nonblock: bool,
    watch: EofWatch,
}

/// What a read or a write does, before user memory is involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Fails before moving anything (`EBADF`, `EAGAIN`).
    Fail(Errno),
    /// Returns 0 without touching the buffer: a count of 0, or end of file.
    Zero,
    /// Would sleep: a blocking call that finds nothing to read, or not room
    /// for the whole write.
    Wait,
    /// Moves up to this many bytes, if the user memory allows.
    Move(usize),
}

/// The device as a correct driver keeps it.
pub struct Model {
    content: VecDeque<u8>,
    capacity: usize,
    files: Vec<Option<File>>,
    readers: u64,
    writers: u64,
    writer_opens: u64,
    baseline: Stats,
    reads: u64,
    writes: u64,
    bytes_read: u64,
    bytes_written: u64,
}

impl Model {
    /// An empty device with `slots` file slots, none open.
    ///
    /// `baseline` holds the device's counters when the run starts, which
    /// the model's own counts add to; its `readers` are files that other
    /// processes hold open and that must stay idle. Its `capacity` is the
    /// ring's; the device must be empty, with no file open for writing.
    pub fn new(baseline: Stats, slots: usize) -> Model {
        let capacity = usize::try_from(baseline.capacity).expect("capacity fits in memory");
        Model {
            content: VecDeque::with_capacity(capacity),
            capacity,
            files: vec![None; slots],
            readers: 0,
            writers: 0,
            writer_opens: 0,
            baseline,
            reads: 0,
            writes: 0,
            bytes_read: 0,
            bytes_written: 0,
        }
    }

    /// The number of file slots.
    pub fn slots(&self) -> usize {
        self.files.len()
    }

    /// The file in `slot`, if one is open there.
    pub fn file(&self, slot: usize) -> Option<&File> {
        self.files[slot].as_ref()
    }

    fn open_file(&self, slot: usize) -> &File {
        self.file(slot)
            .unwrap_or_else(|| panic!("slot {slot} has no open file"))
    }

    /// The slots that hold an open file, in order.
    pub fn open_slots(&self) -> Vec<usize> {
        (0..self.slots())
            .filter(|&s| self.files[s].is_some())
            .collect()
    }

    /// The slots that hold no file, in order.
    pub fn free_slots(&self) -> Vec<usize> {
        (0..self.slots())
            .filter(|&s| self.files[s].is_none())
            .collect()
    }

    /// The size of the ring.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes waiting to be read.
    pub fn used(&self) -> usize {
        self.content.len()
    }

    /// The bytes that can be written before the ring is full.
    pub fn free(&self) -> usize {
        self.capacity - self.content.len()
    }

    /// Opens a file in the empty `slot`. Like the driver, the end-of-file
    /// watch is taken before the file itself is counted.
    pub fn open(&mut self, slot: usize, access: Access, nonblock: bool) {
        assert!(self.files[slot].is_none(), "slot {slot} is already open");
        let watch = EofWatch {
            armed: self.writers > 0 || !self.content.is_empty(),
            writer_opens: self.writer_opens,
        };
        if access.can_read() {
            self.readers += 1;
        }
        if access.can_write() {
            self.writers += 1;
            self.writer_opens += 1;
        }
        self.files[slot] = Some(File {
            access,
            nonblock,
            watch,
        });
    }

    /// Closes the file in `slot`.
    pub fn close(&mut self, slot: usize) {
        let file = self.files[slot]
            .take()
            .unwrap_or_else(|| panic!("slot {slot} has no open file"));
        if file.access.can_read() {
            self.readers -= 1;
        }
        if file.access.can_write() {
            self.writers -= 1;
        }
    }

    /// Sets or clears the file's `O_NONBLOCK`.
    pub fn set_nonblock(&mut self, slot: usize, nonblock: bool) {
        self.files[slot]
            .as_mut()
            .unwrap_or_else(|| panic!("slot {slot} has no open file"))
            .nonblock = nonblock;
    }

    /// Whether an empty ring means end of file for the reader in `slot`.
    fn at_eof(&self, file: &File) -> bool {
        // No writer now, and one has had the device open since this reader
        // opened it.
        self.writers == 0 && (file.watch.armed || self.writer_opens != file.watch.writer_opens)
    }

    /// What a read of `len` bytes from `slot` does; `nowait` is
    /// `RWF_NOWAIT`. The VFS refuses a file without read access first.
    pub fn read_plan(&self, slot: usize, len: usize, nowait: bool) -> Plan {
        let file = self.open_file(slot);
        if !file.access.can_read() {
            return Plan::Fail(Errno::BADF);
        }
        if len == 0 {
            return Plan::Zero;
        }
        if !self.content.is_empty() {
            return Plan::Move(len.min(self.content.len()));
        }
        if self.at_eof(file) {
            Plan::Zero
        } else if file.nonblock || nowait {
            Plan::Fail(Errno::AGAIN)
        } else {
            Plan::Wait
        }
    }

    /// What a write of `len` bytes to `slot` does; `nowait` is
    /// `RWF_NOWAIT`. A blocking write that cannot store every byte at once
    /// stores what the rules allow and then sleeps, so it counts as
    /// waiting.
    pub fn write_plan(&self, slot: usize, len: usize, nowait: bool) -> Plan {
        let file = self.open_file(slot);
        if !file.access.can_write() {
            return Plan::Fail(Errno::BADF);
        }
        if len == 0 {
            return Plan::Zero;
        }
        let free = self.free();
        if !(file.nonblock || nowait) {
            return if len <= free {
                Plan::Move(len)
            } else {
                Plan::Wait
            };
        }
        // A non-blocking atomic write completes or fails; a larger one
        // stores what fits.
        match (is_atomic(len, self.capacity), len.min(free)) {
            (true, _) if len > free => Plan::Fail(Errno::AGAIN),
            (_, 0) => Plan::Fail(Errno::AGAIN),
            (_, room) => Plan::Move(room),
        }
    }

    /// Removes the `n` oldest bytes, as a read that returned `n` did, and
    /// returns them.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        assert!(
            n <= self.content.len(),
            "the model holds fewer bytes than a read returned"
        );
        let out: Vec<u8> = self.content.drain(..n).collect();
        if n > 0 {
            self.reads += 1;
            self.bytes_read += n as u64;
        }
        out
    }

    /// Appends `data`, as a write that returned `data.len()` did.
    pub fn store(&mut self, data: &[u8]) {
        assert!(
            data.len() <= self.free(),
            "the model has less room than a write stored"
        );
        self.content.extend(data);
        if !data.is_empty() {
            self.writes += 1;
            self.bytes_written += data.len() as u64;
        }
    }

    /// The events `poll` reports for `slot`.
    pub fn poll(&self, slot: usize) -> PollFlags {
        let file = self.open_file(slot);
        let mut mask = PollFlags::empty();
        if file.access.can_read() {
            if !self.content.is_empty() {
                mask |= PollFlags::IN | PollFlags::RDNORM;
            }
            if self.at_eof(file) {
                mask |= PollFlags::HUP;
            }
        }
        // Writable: room for an atomic write of PIPE_BUF bytes, or of the
        // whole ring if it is smaller ("poll" in docs/semantics.md).
        if file.access.can_write() && self.free() >= PIPE_BUF.min(self.capacity) {
            mask |= PollFlags::OUT | PollFlags::WRNORM;
        }
        mask
    }

    /// `CIRCBUF_RESET` through `slot`: discards the content, given write
    /// access.
    pub fn reset(&mut self, slot: usize) -> Result<(), Errno> {
        if !self.open_file(slot).access.can_write() {
            return Err(Errno::BADF);
        }
        self.content.clear();
        Ok(())
    }

    /// What `CIRCBUF_GET_STATS` returns. The wait counters stay at their
    /// baseline: the fuzzer never issues a call that sleeps.
    pub fn stats(&self) -> Stats {
        let b = &self.baseline;
        Stats {
            capacity: self.capacity as u64,
            used: self.content.len() as u64,
            available: self.free() as u64,
            reads: b.reads + self.reads,
            writes: b.writes + self.writes,
            bytes_read: b.bytes_read + self.bytes_read,
            bytes_written: b.bytes_written + self.bytes_written,
            readers: b.readers + self.readers,
            writers: self.writers,
            read_waits: b.read_waits,
            write_waits: b.write_waits,
            mode: b.mode,
            dropped_bytes: b.dropped_bytes,
            dropped_records: b.dropped_records,
            source: b.source,
            rate_hz: b.rate_hz,
        }
    }

    /// The bytes read and written since the run started.
    pub fn bytes_moved(&self) -> (u64, u64) {
        (self.bytes_read, self.bytes_written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(capacity: u64) -> Model {
        Model::new(
            Stats {
                capacity,
                ..Stats::default()
            },
            4,
        )
    }

    #[test]
    fn reader_opened_first_waits_for_a_writer_then_sees_eof() {
        let mut m = model(16);
        m.open(0, Access::Read, false);
        assert_eq!(m.read_plan(0, 4, false), Plan::Wait);
        assert_eq!(m.read_plan(0, 4, true), Plan::Fail(Errno::AGAIN));
        assert_eq!(m.poll(0), PollFlags::empty());

        m.open(1, Access::Write, true);
        assert_eq!(m.read_plan(0, 4, false), Plan::Wait);
        assert_eq!(m.poll(1), PollFlags::OUT | PollFlags::WRNORM);
        m.close(1);
        // The writer came and went: end of file, and HUP.
        assert_eq!(m.read_plan(0, 4, false), Plan::Zero);
        assert_eq!(m.poll(0), PollFlags::HUP);
    }

    #[test]
    fn reader_opened_with_data_waiting_is_armed() {
        let mut m = model(16);
        m.open(0, Access::Write, false);
        m.store(b"hello");
        m.close(0);
        m.open(1, Access::Read, false);
        assert_eq!(
            m.poll(1),
            PollFlags::IN | PollFlags::RDNORM | PollFlags::HUP
        );
        assert_eq!(m.read_plan(1, 100, false), Plan::Move(5));
        assert_eq!(m.take(5), b"hello");
        assert_eq!(m.read_plan(1, 100, false), Plan::Zero);
    }

    #[test]
    fn reader_opened_alone_on_an_empty_idle_device_is_not_armed() {
        let mut m = model(16);
        m.open(0, Access::Write, false);
        m.close(0);
        m.open(1, Access::Read, true);
        assert_eq!(m.read_plan(1, 1, false), Plan::Fail(Errno::AGAIN));
    }

    #[test]
    fn read_write_opener_never_sees_eof() {
        let mut m = model(16);
        m.open(0, Access::ReadWrite, false);
        assert_eq!(m.read_plan(0, 1, false), Plan::Wait);
        assert!(!m.poll(0).contains(PollFlags::HUP));
        assert_eq!(m.read_plan(0, 0, false), Plan::Zero);
    }

    #[test]
    fn access_is_checked_before_anything_else() {
        let mut m = model(16);
        m.open(0, Access::Write, false);
        m.open(1, Access::Read, false);
        assert_eq!(m.read_plan(0, 0, false), Plan::Fail(Errno::BADF));
        assert_eq!(m.write_plan(1, 0, false), Plan::Fail(Errno::BADF));
        assert_eq!(m.reset(1), Err(Errno::BADF));
        assert_eq!(m.reset(0), Ok(()));
    }

    #[test]
    fn small_writes_are_atomic_large_ones_partial() {
        let mut m = model(10);
        m.open(0, Access::Write, true);
        m.store(&[0; 7]);
        // 5 bytes fit the capacity: atomic, so 3 free bytes are not enough.
        assert_eq!(m.write_plan(0, 5, false), Plan::Fail(Errno::AGAIN));
        // 11 bytes exceed the capacity: not atomic, stores what fits.
        assert_eq!(m.write_plan(0, 11, false), Plan::Move(3));
        m.set_nonblock(0, false);
        assert_eq!(m.write_plan(0, 3, false), Plan::Move(3));
        assert_eq!(m.write_plan(0, 4, false), Plan::Wait);
        assert_eq!(m.write_plan(0, 4, true), Plan::Fail(Errno::AGAIN));
    }

    #[test]
    fn writes_above_pipe_buf_are_partial_even_within_capacity() {
        let mut m = model(10_000);
        m.open(0, Access::Write, true);
        m.store(&[0; 6_000]);
        assert_eq!(m.write_plan(0, 4_096, false), Plan::Fail(Errno::AGAIN));
        assert_eq!(m.write_plan(0, 4_097, false), Plan::Move(4_000));
    }

    #[test]
    fn poll_writable_needs_min_of_pipe_buf_and_capacity() {
        let mut small = model(100);
        small.open(0, Access::Write, false);
        small.store(&[1]);
        assert_eq!(small.poll(0), PollFlags::empty());
        small.open(1, Access::Read, false);
        small.take(1);
        assert_eq!(small.poll(0), PollFlags::OUT | PollFlags::WRNORM);

        let mut large = model(5_000);
        large.open(0, Access::Write, false);
        large.store(&[0; 904]);
        assert_eq!(large.poll(0), PollFlags::OUT | PollFlags::WRNORM);
        large.store(&[0; 1]);
        assert_eq!(large.poll(0), PollFlags::empty());
    }

    #[test]
    fn content_wraps_in_order_and_counters_count_moving_calls() {
        let mut m = model(8);
        m.open(0, Access::ReadWrite, true);
        m.store(b"abcdef");
        assert_eq!(m.take(4), b"abcd");
        m.store(b"ghijkl");
        m.store(b"");
        assert_eq!(m.used(), 8);
        assert_eq!(m.take(8), b"efghijkl");
        m.take(0);
        let s = m.stats();
        assert_eq!((s.reads, s.writes), (2, 2));
        assert_eq!((s.bytes_read, s.bytes_written), (12, 12));
        assert_eq!((s.readers, s.writers, s.used, s.available), (1, 1, 0, 8));
    }

    #[test]
    fn stats_add_to_the_baseline() {
        let baseline = Stats {
            capacity: 32,
            reads: 10,
            writes: 20,
            bytes_read: 30,
            bytes_written: 40,
            readers: 1,
            read_waits: 5,
            write_waits: 6,
            ..Stats::default()
        };
        let mut m = Model::new(baseline, 2);
        m.open(0, Access::ReadWrite, true);
        m.store(b"xyz");
        let s = m.stats();
        assert_eq!(s.writes, 21);
        assert_eq!(s.bytes_written, 43);
        assert_eq!(s.readers, 2);
        assert_eq!((s.read_waits, s.write_waits), (5, 6));
        assert_eq!((s.used, s.available), (3, 29));
    }

    #[test]
    fn reset_discards_content_but_not_counters() {
        let mut m = model(8);
        m.open(0, Access::Write, true);
        m.store(b"abc");
        m.reset(0).unwrap();
        let s = m.stats();
        assert_eq!((s.used, s.writes, s.bytes_written), (0, 1, 3));
    }

    #[test]
    fn a_new_writer_rearms_a_reader_that_saw_none() {
        let mut m = model(8);
        m.open(0, Access::Read, true);
        m.open(1, Access::Write, true);
        m.close(1);
        m.open(2, Access::Write, true);
        assert_eq!(m.read_plan(0, 1, false), Plan::Fail(Errno::AGAIN));
        m.close(2);
        assert_eq!(m.read_plan(0, 1, false), Plan::Zero);
    }

    #[test]
    fn capacity_one() {
        let mut m = model(1);
        m.open(0, Access::ReadWrite, true);
        assert!(m.poll(0).contains(PollFlags::OUT));
        assert_eq!(m.write_plan(0, 2, false), Plan::Move(1));
        m.store(b"x");
        assert_eq!(m.write_plan(0, 1, false), Plan::Fail(Errno::AGAIN));
        assert_eq!(m.poll(0), PollFlags::IN | PollFlags::RDNORM);
    }
}
