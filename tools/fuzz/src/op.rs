// SPDX-License-Identifier: GPL-2.0

//! The fuzzer's vocabulary: the operations it issues on open files of the
//! device ([`Op`]) and the replies it gets back ([`Reply`]), with the text
//! used to report them, and the bytes a write sends ([`payload`]).

use std::fmt;

use circbuf::testing::Rng;
use circbuf::Stats;
use rustix::event::PollFlags;
use rustix::io::Errno;

/// How a file was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `O_RDONLY`.
    Read,
    /// `O_WRONLY`.
    Write,
    /// `O_RDWR`.
    ReadWrite,
}

impl Access {
    /// Every access mode, for drawing one.
    pub const ALL: [Access; 3] = [Access::Read, Access::Write, Access::ReadWrite];

    /// Whether the file may be read.
    pub fn can_read(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }

    /// Whether the file may be written.
    pub fn can_write(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }

    fn name(self) -> &'static str {
        match self {
            Access::Read => "O_RDONLY",
            Access::Write => "O_WRONLY",
            Access::ReadWrite => "O_RDWR",
        }
    }
}

/// The user memory a call is given. Everything but `Valid` is a fault
/// injected on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    /// Ordinary memory of the right size.
    Valid,
    /// Address 0, which is never mapped.
    Null,
    /// A kernel address, which `access_ok()` rejects before any copy.
    Kernel,
    /// Memory of which only the first `accessible` bytes are mapped; the
    /// rest of the call's range is `PROT_NONE`.
    Tail {
        /// How many bytes at the start of the buffer can be accessed.
        accessible: usize,
    },
}

impl Buffer {
    /// How many bytes of a `len`-byte buffer the kernel can copy.
    pub fn accessible(self, len: usize) -> usize {
        match self {
            Buffer::Valid => len,
            Buffer::Null | Buffer::Kernel => 0,
            Buffer::Tail { accessible } => accessible.min(len),
        }
    }

    /// Whether this is a deliberately bad buffer.
    pub fn is_fault(self) -> bool {
        self != Buffer::Valid
    }
}

impl fmt::Display for Buffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Buffer::Valid => f.write_str("valid"),
            Buffer::Null => f.write_str("NULL"),
            Buffer::Kernel => f.write_str("kernel-address"),
            Buffer::Tail { accessible } => write!(f, "tail(accessible={accessible})"),
        }
    }
}

/// How a read or a write reaches the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// `read(2)`/`write(2)` with one buffer, possibly a bad one.
    Plain(Buffer),
    /// `readv(2)`/`writev(2)`, or with `nowait` `preadv2(2)`/`pwritev2(2)`
    /// with `RWF_NOWAIT` at the current position; segment lengths sum to
    /// the call's length.
    Vectored {
        /// The length of each `iovec`, in order.
        segments: Vec<usize>,
        /// Whether `RWF_NOWAIT` is passed.
        nowait: bool,
    },
}

impl Via {
    /// The buffer of a plain call; vectored calls always use valid memory.
    pub fn buffer(&self) -> Buffer {
        match self {
            Via::Plain(buffer) => *buffer,
            Via::Vectored { .. } => Buffer::Valid,
        }
    }

    /// Whether the call itself asks not to sleep, whatever the file's flags.
    pub fn nowait(&self) -> bool {
        matches!(self, Via::Vectored { nowait: true, .. })
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Plain(buffer) => write!(f, "buffer={buffer}"),
            Via::Vectored { segments, nowait } => {
                write!(f, "segments={segments:?}")?;
                if *nowait {
                    f.write_str(" RWF_NOWAIT")?;
                }
                Ok(())
            }
        }
    }
}

/// One operation on the device. Files live in numbered slots; every
/// operation but `Open` names an open slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Opens the device into an empty slot, in process `process`.
    Open {
        /// The slot that holds the new file.
        slot: usize,
        /// The process that opens and owns it.
        process: usize,
        /// The access mode.
        access: Access,
        /// Whether `O_NONBLOCK` is set.
        nonblock: bool,
    },
    /// Closes the file.
    Close {
        /// The file.
        slot: usize,
    },
    /// Sets or clears `O_NONBLOCK` with `fcntl(F_SETFL)`.
    SetNonblock {
        /// The file.
        slot: usize,
        /// The new state of the flag.
        nonblock: bool,
    },
    /// Reads up to `len` bytes.
    Read {
        /// The file.
        slot: usize,
        /// The count passed to the call.
        len: usize,
        /// The system call and buffer used.
        via: Via,
    },
    /// Writes `len` bytes of [`payload(data_seed, len)`](payload).
    Write {
        /// The file.
        slot: usize,
        /// The count passed to the call.
        len: usize,
        /// The seed of the bytes written.
        data_seed: u64,
        /// The system call and buffer used.
        via: Via,
    },
    /// `poll(2)` for every event, with a zero timeout.
    Poll {
        /// The file.
        slot: usize,
    },
    /// `ioctl(FIONREAD)` into `buffer`.
    Fionread {
        /// The file.
        slot: usize,
        /// The `int` the count is stored in.
        buffer: Buffer,
    },
    /// `ioctl(CIRCBUF_GET_STATS)` into `buffer`.
    GetStats {
        /// The file.
        slot: usize,
        /// The `struct circbuf_stats` filled in.
        buffer: Buffer,
    },
    /// `ioctl(CIRCBUF_RESET)`.
    Reset {
        /// The file.
        slot: usize,
    },
    /// An ioctl command circbuf does not define, with a null argument.
    UnknownIoctl {
        /// The file.
        slot: usize,
        /// The command number.
        cmd: u32,
    },
    /// `lseek(2)`, `pread(2)` or `pwrite(2)`, which a stream refuses.
    Positioned {
        /// The file.
        slot: usize,
        /// Which of the three calls.
        call: Positioned,
    },
}

/// The `len` bytes a write with `seed` sends. Workers regenerate them from
/// the seed instead of receiving them, and any prefix of a payload is the
/// shorter payload of the same seed, which is what a partial write stores.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Rng::new(seed).fill(&mut out);
    out
}

/// The calls that need a file position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positioned {
    /// `lseek(fd, 0, SEEK_SET)`.
    Seek,
    /// `pread(fd, buf, 16, 0)`.
    Pread,
    /// `pwrite(fd, buf, 16, 0)`.
    Pwrite,
}

impl Positioned {
    /// Every positioned call, for drawing one.
    pub const ALL: [Positioned; 3] = [Positioned::Seek, Positioned::Pread, Positioned::Pwrite];
}

/// The kinds of operation a run counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// [`Op::Open`].
    Open,
    /// [`Op::Close`].
    Close,
    /// [`Op::SetNonblock`].
    Fcntl,
    /// [`Op::Read`] with [`Via::Plain`].
    Read,
    /// [`Op::Read`] with [`Via::Vectored`].
    Readv,
    /// [`Op::Write`] with [`Via::Plain`].
    Write,
    /// [`Op::Write`] with [`Via::Vectored`].
    Writev,
    /// [`Op::Poll`].
    Poll,
    /// [`Op::Fionread`].
    Fionread,
    /// [`Op::GetStats`].
    Stats,
    /// [`Op::Reset`].
    Reset,
    /// [`Op::UnknownIoctl`].
    UnknownIoctl,
    /// [`Op::Positioned`].
    Positioned,
}

impl Kind {
    /// Every kind, in the order a summary lists them.
    pub const ALL: [Kind; 13] = [
        Kind::Open,
        Kind::Close,
        Kind::Fcntl,
        Kind::Read,
        Kind::Readv,
        Kind::Write,
        Kind::Writev,
        Kind::Poll,
        Kind::Fionread,
        Kind::Stats,
        Kind::Reset,
        Kind::UnknownIoctl,
        Kind::Positioned,
    ];

    /// The name a summary uses.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Close => "close",
            Kind::Fcntl => "fcntl",
            Kind::Read => "read",
            Kind::Readv => "readv",
            Kind::Write => "write",
            Kind::Writev => "writev",
            Kind::Poll => "poll",
            Kind::Fionread => "fionread",
            Kind::Stats => "stats",
            Kind::Reset => "reset",
            Kind::UnknownIoctl => "bad_ioctl",
            Kind::Positioned => "seek",
        }
    }
}

impl Op {
    /// The slot the operation is about.
    pub fn slot(&self) -> usize {
        match *self {
            Op::Open { slot, .. }
            | Op::Close { slot }
            | Op::SetNonblock { slot, .. }
            | Op::Read { slot, .. }
            | Op::Write { slot, .. }
            | Op::Poll { slot }
            | Op::Fionread { slot, .. }
            | Op::GetStats { slot, .. }
            | Op::Reset { slot }
            | Op::UnknownIoctl { slot, .. }
            | Op::Positioned { slot, .. } => slot,
        }
    }

    /// What kind of operation this is.
    pub fn kind(&self) -> Kind {
        match self {
            Op::Open { .. } => Kind::Open,
            Op::Close { .. } => Kind::Close,
            Op::SetNonblock { .. } => Kind::Fcntl,
            Op::Read {
                via: Via::Plain(_), ..
            } => Kind::Read,
            Op::Read { .. } => Kind::Readv,
            Op::Write {
                via: Via::Plain(_), ..
            } => Kind::Write,
            Op::Write { .. } => Kind::Writev,
            Op::Poll { .. } => Kind::Poll,
            Op::Fionread { .. } => Kind::Fionread,
            Op::GetStats { .. } => Kind::Stats,
            Op::Reset { .. } => Kind::Reset,
            Op::UnknownIoctl { .. } => Kind::UnknownIoctl,
            Op::Positioned { .. } => Kind::Positioned,
        }
    }

    /// The deliberately bad buffer the operation passes, if any.
    pub fn fault(&self) -> Option<Buffer> {
        let buffer = match self {
            Op::Read { via, .. } | Op::Write { via, .. } => via.buffer(),
            Op::Fionread { buffer, .. } | Op::GetStats { buffer, .. } => *buffer,
            _ => Buffer::Valid,
        };
        buffer.is_fault().then_some(buffer)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Open {
                slot,
                process,
                access,
                nonblock,
            } => {
                write!(f, "open slot={slot} process={process} {}", access.name())?;
                if *nonblock {
                    f.write_str("|O_NONBLOCK")?;
                }
                Ok(())
            }
            Op::Close { slot } => write!(f, "close slot={slot}"),
            Op::SetNonblock { slot, nonblock } => {
                let op = if *nonblock { "set" } else { "clear" };
                write!(f, "fcntl slot={slot} {op} O_NONBLOCK")
            }
            Op::Read { slot, len, via } => write!(f, "read slot={slot} len={len} {via}"),
            Op::Write {
                slot,
                len,
                data_seed,
                via,
            } => write!(f, "write slot={slot} len={len} data_seed={data_seed} {via}"),
            Op::Poll { slot } => write!(f, "poll slot={slot}"),
            Op::Fionread { slot, buffer } => write!(f, "ioctl(FIONREAD) slot={slot} {buffer}"),
            Op::GetStats { slot, buffer } => {
                write!(f, "ioctl(CIRCBUF_GET_STATS) slot={slot} {buffer}")
            }
            Op::Reset { slot } => write!(f, "ioctl(CIRCBUF_RESET) slot={slot}"),
            Op::UnknownIoctl { slot, cmd } => write!(f, "ioctl({cmd:#010x}) slot={slot}"),
            Op::Positioned { slot, call } => {
                let name = match call {
                    Positioned::Seek => "lseek",
                    Positioned::Pread => "pread",
                    Positioned::Pwrite => "pwrite",
                };
                write!(f, "{name} slot={slot}")
            }
        }
    }
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The return value of every call without a more specific reply: 0 for
    /// open, close, fcntl and ioctls, the count for writes.
    Status(Result<u64, Errno>),
    /// A read's return value and the bytes it placed in accessible memory.
    Read {
        /// The return value.
        result: Result<usize, Errno>,
        /// The bytes read, in order across segments.
        data: Vec<u8>,
    },
    /// `poll(2)`'s return value and the file's `revents`.
    Poll {
        /// How many descriptors are ready: 0 or 1.
        ready: usize,
        /// The events reported.
        revents: PollFlags,
    },
    /// `FIONREAD`'s count.
    Fionread(Result<i32, Errno>),
    /// `CIRCBUF_GET_STATS`'s structure.
    Stats(Result<Stats, Errno>),
}

/// The symbolic name of the errors the device can return, for reports.
pub fn errno_name(errno: Errno) -> String {
    let name = match errno {
        Errno::AGAIN => "EAGAIN",
        Errno::BADF => "EBADF",
        Errno::FAULT => "EFAULT",
        Errno::INTR => "EINTR",
        Errno::INVAL => "EINVAL",
        Errno::NOTTY => "ENOTTY",
        Errno::SPIPE => "ESPIPE",
        Errno::OPNOTSUPP => "EOPNOTSUPP",
        Errno::NOENT => "ENOENT",
        Errno::ACCESS => "EACCES",
        Errno::NXIO => "ENXIO",
        _ => return format!("errno {}", errno.raw_os_error()),
    };
    name.to_owned()
}

fn fmt_result<T: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    result: &Result<T, Errno>,
) -> fmt::Result {
    match result {
        Ok(value) => write!(f, "Ok({value})"),
        Err(errno) => write!(f, "Err({})", errno_name(*errno)),
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Status(result) => fmt_result(f, result),
            Reply::Read { result, data } => {
                fmt_result(f, result)?;
                if !data.is_empty() {
                    let shown = &data[..data.len().min(8)];
                    write!(f, " data[{}]={shown:02x?}", data.len())?;
                    if data.len() > shown.len() {
                        f.write_str("...")?;
                    }
                }
                Ok(())
            }
            Reply::Poll { ready, revents } => write!(f, "ready={ready} revents={revents:?}"),
            Reply::Fionread(result) => fmt_result(f, result),
            Reply::Stats(Ok(stats)) => {
                f.write_str("Ok(")?;
                for (i, (name, value)) in stats.fields().iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}{name}={value}")?;
                }
                f.write_str(")")
            }
            Reply::Stats(Err(errno)) => write!(f, "Err({})", errno_name(*errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_like_a_person_would() {
        let op = Op::Read {
            slot: 1,
            len: 9,
            via: Via::Vectored {
                segments: vec![4, 5],
                nowait: true,
            },
        };
        assert_eq!(
            op.to_string(),
            "read slot=1 len=9 segments=[4, 5] RWF_NOWAIT"
        );
        let reply = Reply::Read {
            result: Ok(9),
            data: (1..=9).collect(),
        };
        assert_eq!(
            reply.to_string(),
            "Ok(9) data[9]=[01, 02, 03, 04, 05, 06, 07, 08]..."
        );
        assert_eq!(Reply::Status(Err(Errno::AGAIN)).to_string(), "Err(EAGAIN)");
    }

    #[test]
    fn faults_are_recognised() {
        let write = |buffer| Op::Write {
            slot: 0,
            len: 3,
            data_seed: 1,
            via: Via::Plain(buffer),
        };
        assert_eq!(write(Buffer::Valid).fault(), None);
        assert_eq!(write(Buffer::Null).fault(), Some(Buffer::Null));
        assert_eq!(Buffer::Tail { accessible: 5 }.accessible(3), 3);
        assert_eq!(Buffer::Kernel.accessible(3), 0);
        assert_eq!(write(Buffer::Valid).kind(), Kind::Write);
    }

    #[test]
    fn payloads_are_pinned_and_prefixes_agree() {
        // Seeds printed by earlier runs must send the same bytes.
        assert_eq!(
            payload(99, 20),
            [
                227, 107, 71, 76, 54, 169, 243, 66, 164, 105, 157, 135, 24, 185, 26, 8, 251, 210,
                65, 240
            ]
        );
        let long = payload(99, 1000);
        for len in [0, 1, 7, 8, 9, 999] {
            assert_eq!(payload(99, len), long[..len]);
        }
        assert_ne!(payload(99, 64), payload(100, 64));
    }
}
