// SPDX-License-Identifier: GPL-2.0

//! The executor: carries out operations on the real device with real system
//! calls, in whichever process owns the files, and reports what they
//! returned. It interprets nothing; judging the replies is the oracle's job.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{fcntl_getfl, fcntl_setfl, open, seek, Mode, OFlags, SeekFrom};
use rustix::io::{pread, preadv2, pwrite, pwritev2, readv, writev, Errno, ReadWriteFlags};

use crate::expect::STATS_SIZE;
use crate::op::{payload, Access, Buffer, Op, Positioned, Reply, Via};
use crate::raw::{self, Arg, Filler, Guarded, Target};
use crate::watchdog;

/// The events asked for in every poll: every one a file can be polled for,
/// so that `revents` is exactly the device's mask (`POLLHUP` and `POLLERR`
/// are reported whether asked for or not).
const POLL_EVENTS: PollFlags = PollFlags::IN
    .union(PollFlags::PRI)
    .union(PollFlags::OUT)
    .union(PollFlags::RDNORM)
    .union(PollFlags::RDBAND)
    .union(PollFlags::WRNORM)
    .union(PollFlags::WRBAND)
    .union(PollFlags::RDHUP);

/// `preadv2`/`pwritev2`'s offset for "the current position", which is the
/// only one a stream accepts.
const CURRENT_POSITION: u64 = u64::MAX;

/// The open files of one process, by slot.
pub struct Executor {
    device: PathBuf,
    files: Vec<Option<OwnedFd>>,
}

impl Executor {
    /// An executor with no open file, opening `device`.
    pub fn new(device: PathBuf) -> Executor {
        watchdog::install();
        Executor {
            device,
            files: Vec::new(),
        }
    }

    fn fd(&self, slot: usize) -> BorrowedFd<'_> {
        match self.files.get(slot) {
            Some(Some(fd)) => fd.as_fd(),
            _ => panic!("slot {slot} has no open file in this process"),
        }
    }

    /// Carries out `op` under the watchdog and returns what it returned.
    pub fn run(&mut self, op: &Op) -> Reply {
        let _armed = watchdog::arm();
        match op {
            Op::Open {
                slot,
                access,
                nonblock,
                ..
            } => Reply::Status(self.open(*slot, *access, *nonblock).map(|()| 0)),
            Op::Close { slot } => {
                let fd = self.files.get_mut(*slot).and_then(Option::take);
                drop(fd.unwrap_or_else(|| panic!("slot {slot} has no open file")));
                Reply::Status(Ok(0))
            }
            Op::SetNonblock { slot, nonblock } => {
                let fd = self.fd(*slot);
                let result = fcntl_getfl(fd).and_then(|mut flags| {
                    flags.set(OFlags::NONBLOCK, *nonblock);
                    fcntl_setfl(fd, flags)
                });
                Reply::Status(result.map(|()| 0))
            }
            Op::Read { slot, len, via } => read(self.fd(*slot), *len, via),
            Op::Write {
                slot,
                len,
                data_seed,
                via,
            } => Reply::Status(
                write(self.fd(*slot), &payload(*data_seed, *len), via).map(|n| n as u64),
            ),
            Op::Poll { slot } => {
                let mut fds = [PollFd::from_borrowed_fd(self.fd(*slot), POLL_EVENTS)];
                let zero = Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                match poll(&mut fds, Some(&zero)) {
                    Ok(ready) => Reply::Poll {
                        ready,
                        revents: fds[0].revents(),
                    },
                    Err(errno) => Reply::Status(Err(errno)),
                }
            }
            Op::Fionread { slot, buffer } => {
                let mut mem = [0; 4];
                let result = fill(self.fd(*slot), Filler::Fionread, *buffer, &mut mem);
                Reply::Fionread(result.map(|()| i32::from_ne_bytes(mem)))
            }
            Op::GetStats { slot, buffer } => {
                let mut mem = [0; STATS_SIZE];
                let result = fill(self.fd(*slot), Filler::GetStats, *buffer, &mut mem);
                Reply::Stats(result.map(|()| stats_from_bytes(&mem)))
            }
            Op::Reset { slot } => {
                Reply::Status(raw::ioctl_null(self.fd(*slot), circbuf::CIRCBUF_RESET).map(|()| 0))
            }
            Op::UnknownIoctl { slot, cmd } => {
                Reply::Status(raw::ioctl_null(self.fd(*slot), *cmd).map(|()| 0))
            }
            Op::Positioned { slot, call } => {
                let fd = self.fd(*slot);
                let mut buf = [0; 16];
                let result = match call {
                    Positioned::Seek => seek(fd, SeekFrom::Start(0)),
                    Positioned::Pread => pread(fd, &mut buf, 0).map(|n| n as u64),
                    Positioned::Pwrite => pwrite(fd, &buf, 0).map(|n| n as u64),
                };
                Reply::Status(result)
            }
        }
    }

    fn open(&mut self, slot: usize, access: Access, nonblock: bool) -> Result<(), Errno> {
        if self.files.len() <= slot {
            self.files.resize_with(slot + 1, || None);
        }
        assert!(self.files[slot].is_none(), "slot {slot} is already open");
        let mut flags = match access {
            Access::Read => OFlags::RDONLY,
            Access::Write => OFlags::WRONLY,
            Access::ReadWrite => OFlags::RDWR,
        };
        // CLOEXEC keeps the file out of worker processes spawned later,
        // where it would count as an opener the model does not know of.
        flags |= OFlags::CLOEXEC | OFlags::NOCTTY;
        if nonblock {
            flags |= OFlags::NONBLOCK;
        }
        self.files[slot] = Some(open(&self.device, flags, Mode::empty())?);
        Ok(())
    }
}

/// A read of `len` bytes through `via`.
fn read(fd: BorrowedFd<'_>, len: usize, via: &Via) -> Reply {
    let (result, data) = match via {
        Via::Plain(Buffer::Valid) => {
            let mut buf = vec![0; len];
            let result = rustix::io::read(fd, &mut buf);
            buf.truncate(*result.as_ref().unwrap_or(&0));
            (result, buf)
        }
        Via::Plain(Buffer::Null) => (raw::read(fd, Target::Null(len)), Vec::new()),
        Via::Plain(Buffer::Kernel) => (raw::read(fd, Target::Kernel(len)), Vec::new()),
        Via::Plain(Buffer::Tail { accessible }) => {
            let mut guarded = guarded(*accessible, len);
            let result = raw::read(fd, Target::Guarded(&mut guarded));
            let got = *result.as_ref().unwrap_or(&0);
            let data = guarded.accessible_mut()[..got.min(*accessible)].to_vec();
            (result, data)
        }
        Via::Vectored { segments, nowait } => {
            let mut bufs: Vec<Vec<u8>> = segments.iter().map(|&n| vec![0; n]).collect();
            let mut slices: Vec<IoSliceMut<'_>> =
                bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let result = if *nowait {
                preadv2(fd, &mut slices, CURRENT_POSITION, ReadWriteFlags::NOWAIT)
            } else {
                readv(fd, &mut slices)
            };
            let got = *result.as_ref().unwrap_or(&0);
            let mut data = bufs.concat();
            data.truncate(got);
            (result, data)
        }
    };
    Reply::Read { result, data }
}

/// A write of `data` through `via`.
fn write(fd: BorrowedFd<'_>, data: &[u8], via: &Via) -> Result<usize, Errno> {
    match via {
        Via::Plain(Buffer::Valid) => rustix::io::write(fd, data),
        Via::Plain(Buffer::Null) => raw::write(fd, Target::Null(data.len())),
        Via::Plain(Buffer::Kernel) => raw::write(fd, Target::Kernel(data.len())),
        Via::Plain(Buffer::Tail { accessible }) => {
            let mut guarded = guarded(*accessible, data.len());
            guarded
                .accessible_mut()
                .copy_from_slice(&data[..*accessible]);
            raw::write(fd, Target::Guarded(&mut guarded))
        }
        Via::Vectored { segments, nowait } => {
            let mut rest = data;
            let slices: Vec<IoSlice<'_>> = segments
                .iter()
                .map(|&n| {
                    let (head, tail) = rest.split_at(n);
                    rest = tail;
                    IoSlice::new(head)
                })
                .collect();
            if *nowait {
                pwritev2(fd, &slices, CURRENT_POSITION, ReadWriteFlags::NOWAIT)
            } else {
                writev(fd, &slices)
            }
        }
    }
}

/// A guarded buffer; failing to map one is the fuzzer's failure, not the
/// device's, so it is not reported as a reply.
fn guarded(accessible: usize, span: usize) -> Guarded {
    Guarded::new(accessible, span)
        .unwrap_or_else(|err| panic!("cannot map a guarded buffer of {span} bytes: {err}"))
}

/// An ioctl that fills `mem` (of exactly the command's size) or `buffer`.
fn fill(fd: BorrowedFd<'_>, filler: Filler, buffer: Buffer, mem: &mut [u8]) -> Result<(), Errno> {
    match buffer {
        Buffer::Valid => raw::ioctl_fill(fd, filler, Arg::Mem(mem)),
        Buffer::Null => raw::ioctl_fill(fd, filler, Arg::Bad(Target::Null(mem.len()))),
        Buffer::Kernel => raw::ioctl_fill(fd, filler, Arg::Bad(Target::Kernel(mem.len()))),
        Buffer::Tail { accessible } => {
            let mut guarded = guarded(accessible, mem.len());
            raw::ioctl_fill(fd, filler, Arg::Bad(Target::Guarded(&mut guarded)))
        }
    }
}

/// A `struct circbuf_stats` from the bytes the kernel wrote.
fn stats_from_bytes(bytes: &[u8; STATS_SIZE]) -> circbuf::Stats {
    let mut words = bytes
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().expect("8-byte chunk")));
    let mut next = || words.next().expect("16 fields");
    circbuf::Stats {
        capacity: next(),
        used: next(),
        available: next(),
        reads: next(),
        writes: next(),
        bytes_read: next(),
        bytes_written: next(),
        readers: next(),
        writers: next(),
        read_waits: next(),
        write_waits: next(),
        mode: next(),
        dropped_bytes: next(),
        dropped_records: next(),
        source: next(),
        rate_hz: next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_fields_come_in_uapi_order() {
        let mut bytes = [0; STATS_SIZE];
        for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&(i as u64 + 1).to_ne_bytes());
        }
        let stats = stats_from_bytes(&bytes);
        for (i, (name, value)) in stats.fields().iter().enumerate() {
            assert_eq!(*value, i as u64 + 1, "{name}");
        }
    }

    #[test]
    fn runs_operations_on_a_character_device() {
        let mut exec = Executor::new("/dev/zero".into());
        let open = Op::Open {
            slot: 2,
            process: 0,
            access: Access::ReadWrite,
            nonblock: true,
        };
        assert_eq!(exec.run(&open), Reply::Status(Ok(0)));
        let read = Op::Read {
            slot: 2,
            len: 10,
            via: Via::Vectored {
                segments: vec![3, 0, 7],
                nowait: false,
            },
        };
        assert_eq!(
            exec.run(&read),
            Reply::Read {
                result: Ok(10),
                data: vec![0; 10]
            }
        );
        let write = Op::Write {
            slot: 2,
            len: 5,
            data_seed: 1,
            via: Via::Plain(Buffer::Tail { accessible: 2 }),
        };
        // /dev/zero discards writes without reading them.
        assert_eq!(exec.run(&write), Reply::Status(Ok(5)));
        let stats = Op::GetStats {
            slot: 2,
            buffer: Buffer::Valid,
        };
        assert_eq!(exec.run(&stats), Reply::Stats(Err(Errno::NOTTY)));
        match exec.run(&Op::Poll { slot: 2 }) {
            Reply::Poll { ready, revents } => {
                assert_eq!(ready, 1);
                assert!(revents.contains(PollFlags::IN | PollFlags::OUT));
            }
            other => panic!("{other}"),
        }
        assert_eq!(exec.run(&Op::Close { slot: 2 }), Reply::Status(Ok(0)));
    }
}
