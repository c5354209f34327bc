// SPDX-License-Identifier: GPL-2.0

//! The executable model of the device: the ring's content and, in
//! overwrite mode, its records; every open file's access, flags and
//! end-of-file watch; the calls asleep in the driver; and the counters of
//! `struct circbuf_stats`.
//!
//! Every rule is restated here from `docs/semantics.md` and the content is
//! a plain `VecDeque`: the model shares no code with the driver, so a
//! mistake in the driver's ring or rules cannot hide in the model too.

use std::collections::VecDeque;

use circbuf::{Mode, Stats};
use rustix::event::PollFlags;
use rustix::io::Errno;

use crate::op::Access;

/// Writes of at most this many bytes that fit in the capacity are atomic
/// ("write(2)"); it is also the longest record of overwrite mode.
pub const PIPE_BUF: usize = 4096;

/// What the model knows about one open file. A reader remembers from its
/// open what tells "no writer yet" (wait) from "the writers are gone" (end
/// of file), as "read(2)" describes.
#[derive(Clone, Copy, Debug)]
pub struct File {
    pub access: Access,
    pub nonblock: bool,
    /// A writer had the device open, or data was waiting, when it opened.
    armed: bool,
    /// How many writer opens there had been by then.
    writer_opens: u64,
}

/// What a read or a write does, before user memory is involved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Fails before moving anything.
    Fail(Errno),
    /// Returns 0 without touching the buffer: a count of 0, or end of file.
    Zero,
    /// Sleeps: a blocking read of an empty ring that is not at end of file,
    /// or a blocking write in block mode that cannot store every byte now.
    Wait,
    /// Moves up to this many bytes, if the user memory allows.
    Move(usize),
}

/// A blocking call the model has put to sleep in the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sleeper {
    /// A read of `len` bytes into valid memory.
    Read { slot: usize, len: usize },
    /// A write that has stored `stored` bytes and has `rest` to go.
    Write {
        slot: usize,
        rest: Vec<u8>,
        stored: usize,
        atomic: bool,
    },
}

impl Sleeper {
    pub fn slot(&self) -> usize {
        match self {
            Sleeper::Read { slot, .. } | Sleeper::Write { slot, .. } => *slot,
        }
    }
}

/// What a sleeping call did after a change of the device.
#[derive(Debug, PartialEq, Eq)]
pub enum Wake {
    /// Still asleep, having moved nothing.
    Asleep,
    /// Stored part of its write and went back to sleep.
    Slept,
    /// Returned this count, and for a read these bytes.
    Done(Result<usize, Errno>, Vec<u8>),
}

/// The device as a correct driver keeps it.
#[derive(Clone, Debug)]
pub struct Model {
    content: VecDeque<u8>,
    /// The lengths of the records in `content`, oldest first; kept in
    /// overwrite mode only, where they add up to its length.
    records: VecDeque<usize>,
    capacity: usize,
    files: Vec<Option<File>>,
    readers: u64,
    writers: u64,
    writer_opens: u64,
    /// The counters, starting from the device's when the run began.
    counters: Stats,
}

impl Model {
    /// An empty device with `slots` file slots, none open; `baseline` holds
    /// its counters, mode and capacity.
    pub fn new(baseline: Stats, slots: usize) -> Model {
        Model {
            content: VecDeque::new(),
            records: VecDeque::new(),
            capacity: usize::try_from(baseline.capacity).expect("the capacity fits in memory"),
            files: vec![None; slots],
            readers: 0,
            writers: 0,
            writer_opens: 0,
            counters: baseline,
        }
    }

    pub fn file(&self, slot: usize) -> Option<&File> {
        self.files[slot].as_ref()
    }

    fn open_file(&self, slot: usize) -> &File {
        self.file(slot).expect("an open slot")
    }

    /// The slots that hold a file (`open`) or none (`!open`), in order.
    pub fn slots(&self, open: bool) -> Vec<usize> {
        (0..self.files.len())
            .filter(|&s| self.files[s].is_some() == open)
            .collect()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn used(&self) -> usize {
        self.content.len()
    }

    pub fn free(&self) -> usize {
        self.capacity - self.content.len()
    }

    pub fn mode(&self) -> Mode {
        Mode::from_uapi(self.counters.mode).expect("the model only sets known modes")
    }

    /// The longest record ("Overwrite mode"), and the poll threshold.
    pub fn record_max(&self) -> usize {
        PIPE_BUF.min(self.capacity)
    }

    pub fn is_atomic(&self, len: usize) -> bool {
        len <= PIPE_BUF && len <= self.capacity
    }

    /// Opens a file in the empty `slot`; its end-of-file watch sees the
    /// device as it was before the file itself counts.
    pub fn open(&mut self, slot: usize, access: Access, nonblock: bool) {
        assert!(self.files[slot].is_none(), "slot {slot} is already open");
        let armed = self.writers > 0 || !self.content.is_empty();
        let writer_opens = self.writer_opens;
        self.readers += u64::from(access.can_read());
        if access.can_write() {
            self.writers += 1;
            self.writer_opens += 1;
        }
        self.files[slot] = Some(File {
            access,
            nonblock,
            armed,
            writer_opens,
        });
    }

    pub fn close(&mut self, slot: usize) {
        let file = self.files[slot].take().expect("closing an open slot");
        self.readers -= u64::from(file.access.can_read());
        self.writers -= u64::from(file.access.can_write());
    }

    pub fn set_nonblock(&mut self, slot: usize, nonblock: bool) {
        self.files[slot].as_mut().expect("an open slot").nonblock = nonblock;
    }

    /// Whether an empty ring means end of file for `file`: no writer now,
    /// and one has had the device open since the file was opened.
    fn at_eof(&self, file: &File) -> bool {
        self.writers == 0 && (file.armed || self.writer_opens != file.writer_opens)
    }

    /// What a read of `len` bytes from `slot` does; `nowait` is
    /// `RWF_NOWAIT`. In overwrite mode a read ends at a record boundary.
    pub fn read_plan(&self, slot: usize, len: usize, nowait: bool) -> Plan {
        let file = self.open_file(slot);
        if !file.access.can_read() {
            Plan::Fail(Errno::BADF)
        } else if len == 0 {
            Plan::Zero
        } else if !self.content.is_empty() && self.mode() == Mode::Overwrite {
            let mut whole = 0;
            for &record in &self.records {
                if whole + record > len {
                    break;
                }
                whole += record;
            }
            Plan::Move(if whole == 0 { len } else { whole })
        } else if !self.content.is_empty() {
            Plan::Move(len.min(self.content.len()))
        } else if self.at_eof(file) {
            Plan::Zero
        } else if file.nonblock || nowait {
            Plan::Fail(Errno::AGAIN)
        } else {
            Plan::Wait
        }
    }

    /// What a write of `len` bytes to `slot` does; `nowait` is
    /// `RWF_NOWAIT`.
    pub fn write_plan(&self, slot: usize, len: usize, nowait: bool) -> Plan {
        let file = self.open_file(slot);
        let free = self.free();
        if !file.access.can_write() {
            Plan::Fail(Errno::BADF)
        } else if len == 0 {
            Plan::Zero
        } else if self.mode() == Mode::Overwrite || len <= free {
            Plan::Move(len)
        } else if !(file.nonblock || nowait) {
            Plan::Wait
        } else if self.is_atomic(len) || free == 0 {
            // An atomic write lands whole or not at all.
            Plan::Fail(Errno::AGAIN)
        } else {
            Plan::Move(free)
        }
    }

    /// Removes the `n` oldest bytes, as a read that returned `n` did; in
    /// overwrite mode what is left of a record cut short is a record.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        assert!(
            n <= self.content.len(),
            "a read returned more than the model holds"
        );
        let mut left = n;
        while left > 0 && !self.records.is_empty() {
            let first = &mut self.records[0];
            let cut = left.min(*first);
            *first -= cut;
            left -= cut;
            if *first == 0 {
                self.records.pop_front();
            }
        }
        if n > 0 {
            self.counters.reads += 1;
            self.counters.bytes_read += n as u64;
        }
        self.content.drain(..n).collect()
    }

    /// Appends `data`, the bytes one call stored; `first` when they are its
    /// first, which is when the call counts in `writes`. In overwrite mode
    /// they become records of at most [`record_max`](Model::record_max)
    /// bytes, each dropping the oldest whole records it needs room for.
    pub fn store(&mut self, data: &[u8], first: bool) {
        if data.is_empty() {
            return;
        }
        self.counters.writes += u64::from(first);
        self.counters.bytes_written += data.len() as u64;
        if self.mode() == Mode::Block {
            assert!(
                data.len() <= self.free(),
                "a write stored more than the model has room for"
            );
            self.content.extend(data);
            return;
        }
        for record in data.chunks(self.record_max()) {
            while self.free() < record.len() {
                let dropped = self.records.pop_front().expect("a full ring holds records");
                self.content.drain(..dropped);
                self.counters.dropped_bytes += dropped as u64;
                self.counters.dropped_records += 1;
            }
            self.content.extend(record);
            self.records.push_back(record.len());
        }
    }

    /// The events `poll` reports for `slot`.
    pub fn poll(&self, slot: usize) -> PollFlags {
        let file = self.open_file(slot);
        let mut mask = PollFlags::empty();
        if file.access.can_read() && !self.content.is_empty() {
            mask |= PollFlags::IN | PollFlags::RDNORM;
        }
        if file.access.can_read() && self.at_eof(file) {
            mask |= PollFlags::HUP;
        }
        // Room for an atomic write of the threshold's size, so that a writer
        // woken by poll does not get EAGAIN; overwriting writes always go.
        let room = self.free() >= self.record_max() || self.mode() == Mode::Overwrite;
        if file.access.can_write() && room {
            mask |= PollFlags::OUT | PollFlags::WRNORM;
        }
        mask
    }

    /// `CIRCBUF_RESET` through `slot`: discards the content.
    pub fn reset(&mut self, slot: usize) -> Result<(), Errno> {
        if !self.open_file(slot).access.can_write() {
            return Err(Errno::BADF);
        }
        self.content.clear();
        self.records.clear();
        Ok(())
    }

    /// `CIRCBUF_SET_MODE` through `slot` with `value`. Entering overwrite
    /// mode makes what waits records of the longest length from the
    /// oldest byte on, since block mode keeps no boundaries.
    pub fn set_mode(&mut self, slot: usize, value: u32) -> Result<(), Errno> {
        if !self.open_file(slot).access.can_write() {
            return Err(Errno::BADF);
        }
        let mode = Mode::from_uapi(value.into()).ok_or(Errno::INVAL)?;
        if mode == Mode::Overwrite && self.mode() == Mode::Block {
            let (len, max) = (self.content.len(), self.record_max());
            self.records = (0..len).step_by(max).map(|at| max.min(len - at)).collect();
        }
        if mode == Mode::Block {
            self.records.clear();
        }
        self.counters.mode = mode.to_uapi().into();
        Ok(())
    }

    /// Puts a blocking call the plan says waits to sleep: a write first
    /// stores what it may (see [`wake`](Model::wake)).
    pub fn sleep(&mut self, sleeper: &mut Sleeper) -> Wake {
        if let Sleeper::Read { .. } = sleeper {
            self.counters.read_waits += 1;
            return Wake::Slept;
        }
        let wake = self.wake(sleeper);
        if wake == Wake::Asleep {
            self.counters.write_waits += 1;
            return Wake::Slept;
        }
        wake
    }

    /// What the sleeping call does now. A read returns once data is there
    /// or at end of file. A write in block mode stores what it may (an
    /// atomic one all or nothing), sleeping again until it is done; in
    /// overwrite mode it stores the rest at once.
    pub fn wake(&mut self, sleeper: &mut Sleeper) -> Wake {
        match sleeper {
            Sleeper::Read { slot, len } => match self.read_plan(*slot, *len, false) {
                Plan::Wait => Wake::Asleep,
                Plan::Zero => Wake::Done(Ok(0), Vec::new()),
                Plan::Move(n) => Wake::Done(Ok(n), self.take(n)),
                Plan::Fail(errno) => Wake::Done(Err(errno), Vec::new()),
            },
            Sleeper::Write {
                rest,
                stored,
                atomic,
                ..
            } => {
                let room = match self.mode() {
                    Mode::Overwrite => rest.len(),
                    Mode::Block if *atomic && self.free() < rest.len() => 0,
                    Mode::Block => rest.len().min(self.free()),
                };
                if room == 0 {
                    return Wake::Asleep;
                }
                let now: Vec<u8> = rest.drain(..room).collect();
                self.store(&now, *stored == 0);
                *stored += room;
                if rest.is_empty() {
                    return Wake::Done(Ok(*stored), Vec::new());
                }
                self.counters.write_waits += 1;
                Wake::Slept
            }
        }
    }

    /// What `CIRCBUF_GET_STATS` returns.
    pub fn stats(&self) -> Stats {
        Stats {
            used: self.content.len() as u64,
            available: self.free() as u64,
            readers: self.counters.readers + self.readers,
            writers: self.writers,
            ..self.counters
        }
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
        assert_eq!(m.read_plan(0, 4, false), Plan::Zero);
        assert_eq!(m.poll(0), PollFlags::HUP);
    }

    #[test]
    fn reader_opened_with_data_waiting_is_armed_and_rdwr_never_is() {
        let mut m = model(16);
        m.open(0, Access::Write, false);
        m.store(b"hello", true);
        m.close(0);
        m.open(1, Access::Read, false);
        assert_eq!(
            m.poll(1),
            PollFlags::IN | PollFlags::RDNORM | PollFlags::HUP
        );
        assert_eq!(m.take(5), b"hello");
        assert_eq!(m.read_plan(1, 100, false), Plan::Zero);
        m.open(2, Access::ReadWrite, false);
        assert_eq!(m.read_plan(2, 1, false), Plan::Wait);
        assert!(!m.poll(2).contains(PollFlags::HUP));
    }

    #[test]
    fn a_reader_alone_on_an_idle_device_is_not_armed_until_a_writer_comes() {
        let mut m = model(8);
        m.open(0, Access::Read, true);
        assert_eq!(m.read_plan(0, 1, false), Plan::Fail(Errno::AGAIN));
        m.open(1, Access::Write, true);
        m.close(1);
        assert_eq!(m.read_plan(0, 1, false), Plan::Zero);
    }

    #[test]
    fn small_writes_are_atomic_large_ones_partial() {
        let mut m = model(10);
        m.open(0, Access::ReadWrite, true);
        assert_eq!(m.write_plan(0, 0, false), Plan::Zero);
        m.store(&[0; 7], true);
        assert_eq!(m.write_plan(0, 5, false), Plan::Fail(Errno::AGAIN));
        assert_eq!(m.write_plan(0, 11, false), Plan::Move(3));
        m.set_nonblock(0, false);
        assert_eq!(m.write_plan(0, 3, false), Plan::Move(3));
        assert_eq!(m.write_plan(0, 4, false), Plan::Wait);
        assert_eq!(m.write_plan(0, 4, true), Plan::Fail(Errno::AGAIN));
        let mut big = model(10_000);
        big.open(0, Access::Write, true);
        big.store(&[0; 6_000], true);
        assert_eq!(big.write_plan(0, 4_096, false), Plan::Fail(Errno::AGAIN));
        assert_eq!(big.write_plan(0, 4_097, false), Plan::Move(4_000));
    }

    #[test]
    fn poll_writable_needs_min_of_pipe_buf_and_capacity() {
        let mut small = model(100);
        small.open(0, Access::Write, false);
        small.store(&[1], true);
        assert_eq!(small.poll(0), PollFlags::empty());
        small.set_mode(0, 1).unwrap();
        assert_eq!(small.poll(0), PollFlags::OUT | PollFlags::WRNORM);
        let mut large = model(5_000);
        large.open(0, Access::Write, false);
        large.store(&[0; 904], true);
        assert_eq!(large.poll(0), PollFlags::OUT | PollFlags::WRNORM);
        large.store(&[0; 1], true);
        assert_eq!(large.poll(0), PollFlags::empty());
    }

    #[test]
    fn counters_add_to_the_baseline_and_reset_changes_none() {
        let baseline = Stats {
            capacity: 8,
            reads: 10,
            writes: 20,
            readers: 1,
            read_waits: 5,
            ..Stats::default()
        };
        let mut m = Model::new(baseline, 2);
        m.open(0, Access::ReadWrite, true);
        m.store(b"abcdef", true);
        assert_eq!(m.take(4), b"abcd");
        m.store(b"ghijkl", true);
        assert_eq!(m.take(8), b"efghijkl");
        m.store(b"xyz", true);
        m.reset(0).unwrap();
        let s = m.stats();
        assert_eq!(
            (s.reads, s.writes, s.bytes_read, s.bytes_written),
            (12, 23, 12, 15)
        );
        assert_eq!(
            (s.readers, s.writers, s.used, s.available, s.read_waits),
            (2, 1, 0, 8, 5)
        );
    }

    #[test]
    fn overwrite_drops_whole_records_and_reads_end_at_boundaries() {
        let mut m = model(10);
        m.open(0, Access::ReadWrite, true);
        m.set_mode(0, 1).unwrap();
        m.store(b"abcd", true);
        m.store(b"efg", true);
        assert_eq!(m.write_plan(0, 5, true), Plan::Move(5));
        m.store(b"hijkl", true);
        let s = m.stats();
        assert_eq!(
            (s.dropped_bytes, s.dropped_records, s.used, s.mode),
            (4, 1, 8, 1)
        );
        // Whole records that fit: 3 of "efg", not 3 + part of "hijkl".
        assert_eq!(m.read_plan(0, 7, false), Plan::Move(3));
        // An oldest record larger than the buffer gives the buffer's worth.
        assert_eq!(m.take(3), b"efg");
        assert_eq!(m.read_plan(0, 2, false), Plan::Move(2));
        assert_eq!(m.take(2), b"hi");
        assert_eq!(m.read_plan(0, 9, false), Plan::Move(3));
    }

    #[test]
    fn overwrite_splits_long_writes_and_adopts_block_data_as_records() {
        let mut m = model(5);
        m.open(0, Access::Write, true);
        m.store(b"abcd", true);
        m.set_mode(0, 1).unwrap();
        m.store(b"0123456789ab", true);
        let s = m.stats();
        // Records of 5: "abcd" (adopted), then "01234", "56789", "ab".
        assert_eq!(
            (
                s.dropped_bytes,
                s.dropped_records,
                s.writes,
                s.bytes_written
            ),
            (14, 3, 2, 16)
        );
        assert_eq!(m.content.iter().copied().collect::<Vec<u8>>(), b"ab");
        assert_eq!(m.set_mode(0, 2), Err(Errno::INVAL));
        m.set_mode(0, 0).unwrap();
        assert_eq!(m.write_plan(0, 4, true), Plan::Fail(Errno::AGAIN));
    }

    #[test]
    fn sleepers_wake_when_the_device_lets_them() {
        let mut m = model(8);
        m.open(0, Access::Read, false);
        m.open(1, Access::Write, true);
        let mut reader = Sleeper::Read { slot: 0, len: 3 };
        assert_eq!(m.sleep(&mut reader), Wake::Slept);
        assert_eq!(m.wake(&mut reader), Wake::Asleep);
        m.store(b"hello", true);
        assert_eq!(m.wake(&mut reader), Wake::Done(Ok(3), b"hel".to_vec()));
        m.store(b"world", true);
        // An atomic write waits until it fits whole.
        let mut atomic = Sleeper::Write {
            slot: 1,
            rest: b"1234".to_vec(),
            stored: 0,
            atomic: true,
        };
        assert_eq!(m.sleep(&mut atomic), Wake::Slept);
        m.take(1);
        assert_eq!(m.wake(&mut atomic), Wake::Asleep);
        m.take(2);
        assert_eq!(m.wake(&mut atomic), Wake::Done(Ok(4), Vec::new()));
        // A larger one stores what fits each time it wakes.
        let mut long = Sleeper::Write {
            slot: 1,
            rest: b"abcdefghij".to_vec(),
            stored: 0,
            atomic: false,
        };
        assert_eq!(m.sleep(&mut long), Wake::Slept);
        m.take(8);
        assert_eq!(m.wake(&mut long), Wake::Slept);
        m.set_mode(1, 1).unwrap();
        assert_eq!(m.wake(&mut long), Wake::Done(Ok(10), Vec::new()));
        let s = m.stats();
        assert_eq!((s.read_waits, s.write_waits, s.writes), (1, 3, 4));
        // The 8 bytes stored in block mode became one record, dropped whole.
        assert_eq!((s.used, s.dropped_bytes, s.dropped_records), (2, 8, 1));
    }

    /// The model against a Linux pipe, where the two must agree: a writer
    /// that opened before the reader, nonblocking I/O and at most 4096 bytes
    /// waiting, so that the pipe's page-granular room never refuses a write
    /// the model accepts. Within that, byte order, FIONREAD, POLLIN, POLLHUP
    /// and end of file follow FIFO practice on both.
    #[test]
    fn model_agrees_with_a_pipe_where_their_semantics_coincide() {
        use rustix::event::{poll, PollFd, Timespec};
        use rustix::io::{ioctl_fionread, read, write};
        use rustix::pipe::{pipe_with, PipeFlags};

        let events = |fd: &std::os::fd::OwnedFd| {
            let mut fds = [PollFd::new(fd, PollFlags::IN | PollFlags::RDNORM)];
            poll(
                &mut fds,
                Some(&Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                }),
            )
            .unwrap();
            fds[0].revents()
        };
        for seed in 0..10 {
            let (pipe_r, pipe_w) = pipe_with(PipeFlags::NONBLOCK).unwrap();
            let mut pipe_w = Some(pipe_w);
            let mut m = model(4096);
            m.open(0, Access::Write, true);
            m.open(1, Access::Read, true);
            let mut rng = circbuf::testing::Rng::new(seed);
            for step in 0..2_000 {
                if step == 1_500 {
                    m.close(0);
                    pipe_w = None;
                }
                match (rng.range(0, 2), &pipe_w) {
                    (0, Some(w)) => {
                        let data = crate::op::payload(rng.next_u64(), rng.range(0, m.free()));
                        assert_eq!(
                            m.write_plan(0, data.len(), false),
                            if data.is_empty() {
                                Plan::Zero
                            } else {
                                Plan::Move(data.len())
                            }
                        );
                        assert_eq!(write(w, &data), Ok(data.len()));
                        m.store(&data, true);
                    }
                    (1, _) => {
                        let mut buf = vec![0; rng.range(0, 8192)];
                        match (m.read_plan(1, buf.len(), false), read(&pipe_r, &mut buf)) {
                            (Plan::Move(n), Ok(got)) => {
                                assert_eq!(got, n);
                                assert_eq!(buf[..n], m.take(n));
                            }
                            (Plan::Zero, got) => assert_eq!(got, Ok(0)),
                            (Plan::Fail(errno), got) => assert_eq!(got, Err(errno)),
                            (plan, got) => panic!("seed {seed} step {step}: {plan:?} but {got:?}"),
                        }
                    }
                    _ => {
                        assert_eq!(ioctl_fionread(&pipe_r).unwrap(), m.used() as u64);
                        assert_eq!(events(&pipe_r), m.poll(1) & !PollFlags::OUT);
                    }
                }
            }
            while m.used() > 0 {
                let mut buf = vec![0; m.used()];
                let n = read(&pipe_r, &mut buf).unwrap();
                assert_eq!(buf[..n], m.take(n));
            }
            assert_eq!(
                (m.read_plan(1, 1, false), read(&pipe_r, &mut [0; 1])),
                (Plan::Zero, Ok(0))
            );
            assert_eq!(
                (events(&pipe_r), m.poll(1)),
                (PollFlags::HUP, PollFlags::HUP)
            );
        }
    }
}
