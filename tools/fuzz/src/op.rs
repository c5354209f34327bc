// SPDX-License-Identifier: GPL-2.0

//! The fuzzer's vocabulary: the operations it issues on open files of the
//! device ([`Op`]), the replies it gets back ([`Reply`]) with the text used
//! to report both, and the bytes a write sends ([`payload`]).

use std::fmt;

use circbuf::testing::Rng;
use circbuf::Stats;
use rustix::event::PollFlags;
use rustix::io::Errno;

/// How a file was opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    pub const ALL: [Access; 3] = [Access::Read, Access::Write, Access::ReadWrite];

    pub fn can_read(self) -> bool {
        self != Access::Write
    }

    pub fn can_write(self) -> bool {
        self != Access::Read
    }
}

/// The user memory a call is given; all but `Valid` are faults injected on
/// purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buffer {
    Valid,
    /// Address 0, never mapped: faults only when a copy is tried.
    Null,
    /// A kernel address, which `access_ok()` refuses before any copy.
    Kernel,
    /// Only the first this many bytes are mapped, the rest `PROT_NONE`.
    Tail(usize),
}

impl Buffer {
    /// How many bytes of a `len`-byte buffer the kernel can copy.
    pub fn accessible(self, len: usize) -> usize {
        match self {
            Buffer::Valid => len,
            Buffer::Null | Buffer::Kernel => 0,
            Buffer::Tail(accessible) => accessible.min(len),
        }
    }
}

/// How a read or a write reaches the device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// `read(2)`/`write(2)` with one buffer, possibly a bad one.
    Plain(Buffer),
    /// `readv(2)`/`writev(2)` with these segment lengths, which add up to
    /// the call's; with `true`, `preadv2(2)`/`pwritev2(2)` with
    /// `RWF_NOWAIT`.
    Vectored(Vec<usize>, bool),
}

impl Via {
    pub fn buffer(&self) -> Buffer {
        match self {
            Via::Plain(buffer) => *buffer,
            Via::Vectored(..) => Buffer::Valid,
        }
    }

    pub fn nowait(&self) -> bool {
        matches!(self, Via::Vectored(_, true))
    }
}

/// The calls that need a file position, which a stream refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positioned {
    Seek,
    Pread,
    Pwrite,
}

/// One operation. Files live in numbered slots, each variant's first
/// field; every operation but `Open` names an open one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// With `O_NONBLOCK` when `true`.
    Open(usize, Access, bool),
    Close(usize),
    /// `fcntl(F_SETFL)` setting (`true`) or clearing `O_NONBLOCK`.
    SetNonblock(usize, bool),
    /// A read of this many bytes.
    Read(usize, usize, Via),
    /// A write of this many bytes of [`payload`] with this seed.
    Write(usize, usize, u64, Via),
    /// `poll(2)` for every event, with a zero timeout.
    Poll(usize),
    /// `FIONREAD` into an `int` at the buffer.
    Fionread(usize, Buffer),
    /// `CIRCBUF_GET_STATS` into the buffer.
    GetStats(usize, Buffer),
    Reset(usize),
    /// `CIRCBUF_SET_MODE` with this `__u32` at the buffer.
    SetMode(usize, u32, Buffer),
    /// This command under circbuf's magic, which it does not define, with
    /// a null argument.
    UnknownIoctl(usize, u32),
    Positioned(usize, Positioned),
}

impl Op {
    pub fn slot(&self) -> usize {
        match *self {
            Op::Open(slot, ..)
            | Op::Close(slot)
            | Op::SetNonblock(slot, _)
            | Op::Read(slot, ..)
            | Op::Write(slot, ..)
            | Op::Poll(slot)
            | Op::Fionread(slot, _)
            | Op::GetStats(slot, _)
            | Op::Reset(slot)
            | Op::SetMode(slot, ..)
            | Op::UnknownIoctl(slot, _)
            | Op::Positioned(slot, _) => slot,
        }
    }

    /// The name a summary counts the operation under.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Open(..) => "open",
            Op::Close(_) => "close",
            Op::SetNonblock(..) => "fcntl",
            Op::Read(.., Via::Plain(_)) => "read",
            Op::Read(..) => "readv",
            Op::Write(.., Via::Plain(_)) => "write",
            Op::Write(..) => "writev",
            Op::Poll(_) => "poll",
            Op::Fionread(..) => "fionread",
            Op::GetStats(..) => "stats",
            Op::Reset(_) => "reset",
            Op::SetMode(..) => "set_mode",
            Op::UnknownIoctl(..) => "bad_ioctl",
            Op::Positioned(..) => "seek",
        }
    }

    /// Whether the operation is handed a deliberately bad buffer.
    pub fn faults(&self) -> bool {
        match self {
            Op::Read(.., via) | Op::Write(.., via) => via.buffer() != Buffer::Valid,
            Op::Fionread(_, buffer) | Op::GetStats(_, buffer) | Op::SetMode(.., buffer) => {
                *buffer != Buffer::Valid
            }
            _ => false,
        }
    }
}

/// The `len` bytes a write with `seed` sends. Any prefix of a payload is
/// the shorter payload of the same seed, which is what a partial write
/// stores.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Rng::new(seed).fill(&mut out);
    out
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The return value of any call but the ones below.
    Status(Result<u64, Errno>),
    /// A read's count, and the bytes it delivered to accessible memory.
    Read(Result<usize, Errno>, Vec<u8>),
    /// `poll(2)`'s return value and the file's `revents`.
    Poll(usize, PollFlags),
    Stats(Result<Stats, Errno>),
}

/// The symbolic name of an error, for reports.
pub fn errno_name(errno: Errno) -> String {
    let names = [
        (Errno::AGAIN, "EAGAIN"),
        (Errno::BADF, "EBADF"),
        (Errno::FAULT, "EFAULT"),
        (Errno::INTR, "EINTR"),
        (Errno::INVAL, "EINVAL"),
        (Errno::NOTTY, "ENOTTY"),
        (Errno::SPIPE, "ESPIPE"),
        (Errno::BUSY, "EBUSY"),
    ];
    match names.iter().find(|(e, _)| *e == errno) {
        Some((_, name)) => (*name).to_owned(),
        None => format!("errno {}", errno.raw_os_error()),
    }
}

/// `Ok(...)` holding `ok`'s text for the value, or `Err(...)` with the
/// error's name.
fn show<T>(result: &Result<T, Errno>, ok: impl FnOnce(&T) -> String) -> String {
    match result {
        Ok(value) => format!("Ok({})", ok(value)),
        Err(errno) => format!("Err({})", errno_name(*errno)),
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Reply::Status(result) => show(result, u64::to_string),
            Reply::Read(result, data) if data.is_empty() => show(result, usize::to_string),
            Reply::Read(result, data) => {
                let (shown, more) = (&data[..data.len().min(8)], data.len() > 8);
                let more = if more { "..." } else { "" };
                let result = show(result, usize::to_string);
                format!("{result} data[{}]={shown:02x?}{more}", data.len())
            }
            Reply::Poll(ready, revents) => format!("ready={ready} revents={revents:?}"),
            Reply::Stats(result) => show(result, |stats| {
                let fields = stats.fields().map(|(n, v)| format!("{n}={v}"));
                fields.join(" ")
            }),
        };
        f.write_str(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_like_a_person_would() {
        let op = Op::Read(1, 9, Via::Vectored(vec![4, 5], true));
        assert_eq!(format!("{op:?}"), "Read(1, 9, Vectored([4, 5], true))");
        let reply = Reply::Read(Ok(9), (1..=9).collect());
        assert_eq!(
            reply.to_string(),
            "Ok(9) data[9]=[01, 02, 03, 04, 05, 06, 07, 08]..."
        );
        assert_eq!(Reply::Status(Err(Errno::AGAIN)).to_string(), "Err(EAGAIN)");
        assert_eq!(errno_name(Errno::NOMEM), "errno 12");
    }

    #[test]
    fn faults_are_recognised() {
        let write = |buffer| Op::Write(0, 3, 1, Via::Plain(buffer));
        assert!(!write(Buffer::Valid).faults());
        assert!(write(Buffer::Null).faults());
        assert!(Op::SetMode(0, 1, Buffer::Kernel).faults());
        assert_eq!(Buffer::Tail(5).accessible(3), 3);
        assert_eq!(Buffer::Kernel.accessible(3), 0);
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
    }
}
