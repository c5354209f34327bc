// SPDX-License-Identifier: GPL-2.0

//! The executor: the open files of the device, by slot, and the real
//! system calls that carry out an operation on them. It interprets
//! nothing; judging the replies is the oracle's job.

use std::io::{IoSlice, IoSliceMut};
use std::mem::size_of;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use circbuf::Stats;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{fcntl_getfl, fcntl_setfl, open, seek, Mode, OFlags, SeekFrom};
use rustix::io::{pread, preadv2, pwrite, pwritev2, readv, writev, Errno, ReadWriteFlags};

use crate::op::{payload, Access, Buffer, Op, Positioned, Reply, Via};
use crate::raw::{self, Guarded, Target};

/// Every event a file can be polled for, so that `revents` is exactly the
/// device's mask (`POLLHUP` comes whether asked for or not).
const POLL_EVENTS: PollFlags = PollFlags::all();

/// `preadv2`/`pwritev2`'s offset for "the current position", the only one
/// a stream accepts.
const CURRENT_POSITION: u64 = u64::MAX;

/// The open files of the device, by slot.
pub struct Executor {
    device: PathBuf,
    files: Vec<Option<OwnedFd>>,
}

impl Executor {
    pub fn new(device: PathBuf, slots: usize) -> Executor {
        Executor {
            device,
            files: (0..slots).map(|_| None).collect(),
        }
    }

    pub fn fd(&self, slot: usize) -> BorrowedFd<'_> {
        self.files[slot].as_ref().expect("an open slot").as_fd()
    }

    /// Closes every file but `slot`'s, in a child process that must not
    /// keep the others open.
    pub fn keep_only(&mut self, slot: usize) {
        for (s, file) in self.files.iter_mut().enumerate() {
            if s != slot {
                *file = None;
            }
        }
    }

    /// The device's statistics through `slot`'s file.
    pub fn stats(&self, slot: usize) -> Result<Stats, Errno> {
        let mut stats = Stats::default();
        let at = (&raw mut stats).cast::<u8>();
        // SAFETY: `Stats` is `repr(C)` and all `u64`, so any bytes are a
        // valid value; the slice covers exactly it, and is gone before
        // `stats` is used again.
        let bytes = unsafe { std::slice::from_raw_parts_mut(at, size_of::<Stats>()) };
        self.ioctl(slot, circbuf::CIRCBUF_GET_STATS, Buffer::Valid, bytes)?;
        Ok(stats)
    }

    /// Carries out `op` and returns what it returned.
    pub fn run(&mut self, op: &Op) -> Reply {
        let status = |result: Result<(), Errno>| Reply::Status(result.map(|()| 0));
        match op {
            Op::Open(slot, access, nonblock) => {
                let mut flags = match access {
                    Access::Read => OFlags::RDONLY,
                    Access::Write => OFlags::WRONLY,
                    Access::ReadWrite => OFlags::RDWR,
                };
                flags.set(OFlags::NONBLOCK, *nonblock);
                let flags = flags | OFlags::CLOEXEC | OFlags::NOCTTY;
                let file = open(&self.device, flags, Mode::empty());
                status(file.map(|fd| self.files[*slot] = Some(fd)))
            }
            Op::Close(slot) => {
                self.files[*slot].take().expect("closing an open slot");
                status(Ok(()))
            }
            Op::SetNonblock(slot, nonblock) => {
                let fd = self.fd(*slot);
                status(fcntl_getfl(fd).and_then(|mut flags| {
                    flags.set(OFlags::NONBLOCK, *nonblock);
                    fcntl_setfl(fd, flags)
                }))
            }
            Op::Read(slot, len, via) => read(self.fd(*slot), *len, via),
            Op::Write(slot, len, seed, via) => {
                let written = write(self.fd(*slot), &payload(*seed, *len), via);
                Reply::Status(written.map(|n| n as u64))
            }
            Op::Poll(slot) => {
                let mut fds = [PollFd::from_borrowed_fd(self.fd(*slot), POLL_EVENTS)];
                match poll(&mut fds, Some(&Timespec::default())) {
                    Ok(ready) => Reply::Poll(ready, fds[0].revents()),
                    Err(errno) => Reply::Status(Err(errno)),
                }
            }
            Op::Fionread(slot, buffer) => {
                let mut count = [0; size_of::<i32>()];
                let result = self.ioctl(*slot, libc::FIONREAD as u32, *buffer, &mut count);
                Reply::Status(result.map(|()| i32::from_ne_bytes(count) as u64))
            }
            Op::GetStats(slot, Buffer::Valid) => Reply::Stats(self.stats(*slot)),
            Op::GetStats(slot, buffer) => {
                let mut unused = [0; size_of::<Stats>()];
                let result = self.ioctl(*slot, circbuf::CIRCBUF_GET_STATS, *buffer, &mut unused);
                // What a bad buffer took in is not looked at; that it took
                // it at all is the difference the oracle reports.
                Reply::Stats(result.map(|()| Stats::default()))
            }
            Op::Reset(slot) => {
                status(self.ioctl(*slot, circbuf::CIRCBUF_RESET, Buffer::Null, &mut []))
            }
            Op::SetMode(slot, value, buffer) => {
                let mut arg = value.to_ne_bytes();
                status(self.ioctl(*slot, circbuf::CIRCBUF_SET_MODE, *buffer, &mut arg))
            }
            Op::UnknownIoctl(slot, cmd) => status(self.ioctl(*slot, *cmd, Buffer::Null, &mut [])),
            Op::Positioned(slot, call) => {
                let fd = self.fd(*slot);
                let mut buf = [0; 16];
                Reply::Status(match call {
                    Positioned::Seek => seek(fd, SeekFrom::Start(0)),
                    Positioned::Pread => pread(fd, &mut buf, 0).map(|n| n as u64),
                    Positioned::Pwrite => pwrite(fd, &buf, 0).map(|n| n as u64),
                })
            }
        }
    }

    /// `ioctl` `cmd` on `slot`'s file, whose argument is `arg`'s bytes in
    /// `buffer`'s memory.
    fn ioctl(&self, slot: usize, cmd: u32, buffer: Buffer, arg: &mut [u8]) -> Result<(), Errno> {
        let size = arg.len();
        with_buffer(buffer, arg, |target| {
            raw::ioctl(self.fd(slot), cmd, target, size)
        })
    }
}

/// Runs `call` with `buffer`'s memory: `valid` itself, or a bad buffer of
/// its length. Failing to map a guarded buffer is the fuzzer's failure,
/// not the device's, so it panics.
fn with_buffer<T>(buffer: Buffer, valid: &mut [u8], call: impl FnOnce(Target<'_>) -> T) -> T {
    match buffer {
        Buffer::Valid => call(Target::Mem(valid)),
        Buffer::Null => call(Target::Null),
        Buffer::Kernel => call(Target::Kernel),
        Buffer::Tail(accessible) => {
            let mut guarded = Guarded::new(accessible, valid.len())
                .unwrap_or_else(|err| panic!("cannot map a guarded buffer: {err}"));
            guarded
                .accessible_mut()
                .copy_from_slice(&valid[..accessible]);
            let result = call(Target::Guarded(&mut guarded));
            valid[..accessible].copy_from_slice(guarded.accessible_mut());
            result
        }
    }
}

/// A read of `len` bytes through `via`.
fn read(fd: BorrowedFd<'_>, len: usize, via: &Via) -> Reply {
    let mut data = vec![0; len];
    let result = match via {
        Via::Plain(buffer) => with_buffer(*buffer, &mut data, |target| raw::read(fd, target, len)),
        Via::Vectored(segments, nowait) => {
            let mut rest = &mut data[..];
            let mut cut = |n| IoSliceMut::new(rest.split_off_mut(..n).expect("segments add up"));
            let mut slices: Vec<IoSliceMut<'_>> = segments.iter().map(|&n| cut(n)).collect();
            if *nowait {
                preadv2(fd, &mut slices, CURRENT_POSITION, ReadWriteFlags::NOWAIT)
            } else {
                readv(fd, &mut slices)
            }
        }
    };
    // Only what reached accessible memory is there to check.
    data.truncate(result.unwrap_or(0).min(via.buffer().accessible(len)));
    Reply::Read(result, data)
}

/// A write of `data` through `via`.
fn write(fd: BorrowedFd<'_>, data: &[u8], via: &Via) -> Result<usize, Errno> {
    match via {
        Via::Plain(buffer) => with_buffer(*buffer, &mut data.to_vec(), |target| {
            raw::write(fd, target, data.len())
        }),
        Via::Vectored(segments, nowait) => {
            let mut rest = data;
            let mut cut = |n| IoSlice::new(rest.split_off(..n).expect("segments add up"));
            let slices: Vec<IoSlice<'_>> = segments.iter().map(|&n| cut(n)).collect();
            if *nowait {
                pwritev2(fd, &slices, CURRENT_POSITION, ReadWriteFlags::NOWAIT)
            } else {
                writev(fd, &slices)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_operations_on_a_character_device() {
        let mut exec = Executor::new("/dev/zero".into(), 3);
        let open = Op::Open(2, Access::ReadWrite, true);
        assert_eq!(exec.run(&open), Reply::Status(Ok(0)));
        let via = Via::Vectored(vec![3, 0, 7], false);
        assert_eq!(
            exec.run(&Op::Read(2, 10, via)),
            Reply::Read(Ok(10), vec![0; 10])
        );
        let got = exec.run(&Op::Read(2, 9, Via::Plain(Buffer::Tail(2))));
        assert!(matches!(got, Reply::Read(Ok(1..=2), _)), "{got}");
        // /dev/zero discards writes without reading them.
        let write = Op::Write(2, 5, 1, Via::Plain(Buffer::Tail(2)));
        assert_eq!(exec.run(&write), Reply::Status(Ok(5)));
        assert_eq!(
            exec.run(&Op::GetStats(2, Buffer::Valid)),
            Reply::Stats(Err(Errno::NOTTY))
        );
        let set = Op::SetMode(2, 1, Buffer::Tail(1));
        assert_eq!(exec.run(&set), Reply::Status(Err(Errno::NOTTY)));
        match exec.run(&Op::Poll(2)) {
            Reply::Poll(1, revents) => assert!(revents.contains(PollFlags::IN | PollFlags::OUT)),
            other => panic!("{other}"),
        }
        exec.keep_only(1);
        assert!(exec.files.iter().all(Option::is_none));
    }
}
