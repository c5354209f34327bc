// SPDX-License-Identifier: GPL-2.0

//! The command/response protocol between the controller and its worker
//! processes: operations go down a pipe, replies come back up another, one
//! at a time.
//!
//! A frame is a little-endian `u32` body length and the body. A body is a
//! tag byte and the fields in declaration order: integers as little-endian
//! `u64`, errnos as `u32`, flags as one byte, lists and byte strings as a
//! `u64` length and the items. A write carries its data seed rather than
//! its bytes; a read's reply carries the bytes read.

use std::fmt;
use std::io::{self, Read, Write};

use circbuf::Stats;
use rustix::event::PollFlags;
use rustix::io::Errno;

use crate::op::{Access, Buffer, Op, Positioned, Reply, Via};

/// The largest body accepted: well above any read's data (twice the
/// largest capacity), so that only a corrupt length is refused.
const MAX_BODY: usize = 1 << 30;

/// Why a body could not be decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The body ended in the middle of a field.
    Truncated,
    /// A tag byte names no variant.
    BadTag(&'static str, u8),
    /// A length does not fit in memory.
    TooLong(u64),
    /// Bytes were left after the last field.
    Trailing(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated message"),
            DecodeError::BadTag(what, tag) => write!(f, "unknown {what} tag {tag}"),
            DecodeError::TooLong(len) => write!(f, "length {len} out of range"),
            DecodeError::Trailing(n) => write!(f, "{n} bytes after the message"),
        }
    }
}

impl std::error::Error for DecodeError {}

impl From<DecodeError> for io::Error {
    fn from(err: DecodeError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, err)
    }
}

/// Sends one frame.
pub fn write_frame(out: &mut impl Write, body: &[u8]) -> io::Result<()> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&len| len as usize <= MAX_BODY)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(body)?;
    out.flush()
}

/// Receives one frame; `None` when the stream ends between frames.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0; 4];
    let mut got = 0;
    while got < len.len() {
        match input.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_BODY {
        return Err(DecodeError::TooLong(len as u64).into());
    }
    let mut body = vec![0; len];
    input.read_exact(&mut body)?;
    Ok(Some(body))
}

/// Appends fields to a body.
struct Encoder(Vec<u8>);

impl Encoder {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }

    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn usize(&mut self, v: usize) -> &mut Self {
        self.u64(v as u64)
    }

    fn errno(&mut self, errno: Errno) -> &mut Self {
        self.0
            .extend_from_slice(&(errno.raw_os_error() as u32).to_le_bytes());
        self
    }

    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.usize(v.len());
        self.0.extend_from_slice(v);
        self
    }

    fn buffer(&mut self, buffer: Buffer) -> &mut Self {
        match buffer {
            Buffer::Valid => self.u8(0),
            Buffer::Null => self.u8(1),
            Buffer::Kernel => self.u8(2),
            Buffer::Tail { accessible } => self.u8(3).usize(accessible),
        }
    }

    fn via(&mut self, via: &Via) -> &mut Self {
        match via {
            Via::Plain(buffer) => self.u8(0).buffer(*buffer),
            Via::Vectored { segments, nowait } => {
                self.u8(1).bool(*nowait).usize(segments.len());
                for &len in segments {
                    self.usize(len);
                }
                self
            }
        }
    }

    /// A result: tag 0 and the value, or tag 1 and the errno.
    fn result<T>(
        &mut self,
        result: &Result<T, Errno>,
        ok: impl FnOnce(&mut Self, &T),
    ) -> &mut Self {
        match result {
            Ok(value) => {
                self.u8(0);
                ok(self, value);
            }
            Err(errno) => {
                self.u8(1).errno(*errno);
            }
        }
        self
    }
}

/// Takes fields off a body.
struct Decoder<'a>(&'a [u8]);

impl Decoder<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        if self.0.len() < N {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("N bytes"))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            tag => Err(DecodeError::BadTag("flag", tag)),
        }
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    fn usize(&mut self) -> Result<usize, DecodeError> {
        let v = self.u64()?;
        usize::try_from(v).map_err(|_| DecodeError::TooLong(v))
    }

    /// A count of items that are each at least `item_size` bytes long, so
    /// that a corrupt count cannot make the decoder reserve memory the body
    /// could not fill.
    fn count(&mut self, item_size: usize) -> Result<usize, DecodeError> {
        let n = self.usize()?;
        match n.checked_mul(item_size) {
            Some(bytes) if bytes <= self.0.len() => Ok(n),
            _ => Err(DecodeError::Truncated),
        }
    }

    fn errno(&mut self) -> Result<Errno, DecodeError> {
        Ok(Errno::from_raw_os_error(
            u32::from_le_bytes(self.take()?) as i32
        ))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let n = self.count(1)?;
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head.to_vec())
    }

    fn buffer(&mut self) -> Result<Buffer, DecodeError> {
        Ok(match self.u8()? {
            0 => Buffer::Valid,
            1 => Buffer::Null,
            2 => Buffer::Kernel,
            3 => Buffer::Tail {
                accessible: self.usize()?,
            },
            tag => return Err(DecodeError::BadTag("buffer", tag)),
        })
    }

    fn via(&mut self) -> Result<Via, DecodeError> {
        Ok(match self.u8()? {
            0 => Via::Plain(self.buffer()?),
            1 => {
                let nowait = self.bool()?;
                let n = self.count(8)?;
                let segments = (0..n).map(|_| self.usize()).collect::<Result<_, _>>()?;
                Via::Vectored { segments, nowait }
            }
            tag => return Err(DecodeError::BadTag("via", tag)),
        })
    }

    fn result<T>(
        &mut self,
        ok: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Result<T, Errno>, DecodeError> {
        match self.u8()? {
            0 => Ok(Ok(ok(self)?)),
            1 => Ok(Err(self.errno()?)),
            tag => Err(DecodeError::BadTag("result", tag)),
        }
    }

    fn finish(&self) -> Result<(), DecodeError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

/// The body of a command carrying `op`.
pub fn encode_op(op: &Op) -> Vec<u8> {
    let mut e = Encoder(Vec::new());
    match op {
        Op::Open {
            slot,
            process,
            access,
            nonblock,
        } => {
            let access = match access {
                Access::Read => 0,
                Access::Write => 1,
                Access::ReadWrite => 2,
            };
            e.u8(0)
                .usize(*slot)
                .usize(*process)
                .u8(access)
                .bool(*nonblock)
        }
        Op::Close { slot } => e.u8(1).usize(*slot),
        Op::SetNonblock { slot, nonblock } => e.u8(2).usize(*slot).bool(*nonblock),
        Op::Read { slot, len, via } => e.u8(3).usize(*slot).usize(*len).via(via),
        Op::Write {
            slot,
            len,
            data_seed,
            via,
        } => e.u8(4).usize(*slot).usize(*len).u64(*data_seed).via(via),
        Op::Poll { slot } => e.u8(5).usize(*slot),
        Op::Fionread { slot, buffer } => e.u8(6).usize(*slot).buffer(*buffer),
        Op::GetStats { slot, buffer } => e.u8(7).usize(*slot).buffer(*buffer),
        Op::Reset { slot } => e.u8(8).usize(*slot),
        Op::UnknownIoctl { slot, cmd } => e.u8(9).usize(*slot).u64(u64::from(*cmd)),
        Op::Positioned { slot, call } => {
            let call = match call {
                Positioned::Seek => 0,
                Positioned::Pread => 1,
                Positioned::Pwrite => 2,
            };
            e.u8(10).usize(*slot).u8(call)
        }
    };
    e.0
}

/// The operation in a command's body.
pub fn decode_op(body: &[u8]) -> Result<Op, DecodeError> {
    let mut d = Decoder(body);
    let op = match d.u8()? {
        0 => Op::Open {
            slot: d.usize()?,
            process: d.usize()?,
            access: match d.u8()? {
                0 => Access::Read,
                1 => Access::Write,
                2 => Access::ReadWrite,
                tag => return Err(DecodeError::BadTag("access", tag)),
            },
            nonblock: d.bool()?,
        },
        1 => Op::Close { slot: d.usize()? },
        2 => Op::SetNonblock {
            slot: d.usize()?,
            nonblock: d.bool()?,
        },
        3 => Op::Read {
            slot: d.usize()?,
            len: d.usize()?,
            via: d.via()?,
        },
        4 => Op::Write {
            slot: d.usize()?,
            len: d.usize()?,
            data_seed: d.u64()?,
            via: d.via()?,
        },
        5 => Op::Poll { slot: d.usize()? },
        6 => Op::Fionread {
            slot: d.usize()?,
            buffer: d.buffer()?,
        },
        7 => Op::GetStats {
            slot: d.usize()?,
            buffer: d.buffer()?,
        },
        8 => Op::Reset { slot: d.usize()? },
        9 => {
            let slot = d.usize()?;
            let cmd = d.u64()?;
            Op::UnknownIoctl {
                slot,
                cmd: u32::try_from(cmd).map_err(|_| DecodeError::TooLong(cmd))?,
            }
        }
        10 => Op::Positioned {
            slot: d.usize()?,
            call: match d.u8()? {
                0 => Positioned::Seek,
                1 => Positioned::Pread,
                2 => Positioned::Pwrite,
                tag => return Err(DecodeError::BadTag("call", tag)),
            },
        },
        tag => return Err(DecodeError::BadTag("operation", tag)),
    };
    d.finish()?;
    Ok(op)
}

/// The body of a response carrying `reply`.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut e = Encoder(Vec::new());
    match reply {
        Reply::Status(result) => e.u8(0).result(result, |e, v| {
            e.u64(*v);
        }),
        Reply::Read { result, data } => e
            .u8(1)
            .result(result, |e, n| {
                e.usize(*n);
            })
            .bytes(data),
        Reply::Poll { ready, revents } => e.u8(2).usize(*ready).u64(u64::from(revents.bits())),
        Reply::Fionread(result) => e.u8(3).result(result, |e, n| {
            e.u64(u64::from(*n as u32));
        }),
        Reply::Stats(result) => e.u8(4).result(result, |e, stats| {
            for (_, value) in stats.fields() {
                e.u64(value);
            }
        }),
    };
    e.0
}

/// The reply in a response's body.
pub fn decode_reply(body: &[u8]) -> Result<Reply, DecodeError> {
    let mut d = Decoder(body);
    let reply = match d.u8()? {
        0 => Reply::Status(d.result(Decoder::u64)?),
        1 => Reply::Read {
            result: d.result(Decoder::usize)?,
            data: d.bytes()?,
        },
        2 => {
            let ready = d.usize()?;
            let bits = d.u64()?;
            let bits = u16::try_from(bits).map_err(|_| DecodeError::TooLong(bits))?;
            Reply::Poll {
                ready,
                revents: PollFlags::from_bits_retain(bits),
            }
        }
        3 => Reply::Fionread(d.result(|d| Ok(d.u64()? as u32 as i32))?),
        4 => Reply::Stats(d.result(|d| {
            Ok(Stats {
                capacity: d.u64()?,
                used: d.u64()?,
                available: d.u64()?,
                reads: d.u64()?,
                writes: d.u64()?,
                bytes_read: d.u64()?,
                bytes_written: d.u64()?,
                readers: d.u64()?,
                writers: d.u64()?,
                read_waits: d.u64()?,
                write_waits: d.u64()?,
                mode: d.u64()?,
                dropped_bytes: d.u64()?,
                dropped_records: d.u64()?,
                source: d.u64()?,
                rate_hz: d.u64()?,
            })
        })?),
        tag => return Err(DecodeError::BadTag("reply", tag)),
    };
    d.finish()?;
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops() -> Vec<Op> {
        vec![
            Op::Open {
                slot: 3,
                process: 2,
                access: Access::ReadWrite,
                nonblock: true,
            },
            Op::Open {
                slot: 0,
                process: 0,
                access: Access::Write,
                nonblock: false,
            },
            Op::Close { slot: 9 },
            Op::SetNonblock {
                slot: 1,
                nonblock: false,
            },
            Op::Read {
                slot: 1,
                len: 1 << 40,
                via: Via::Plain(Buffer::Tail { accessible: 17 }),
            },
            Op::Read {
                slot: 1,
                len: 6,
                via: Via::Vectored {
                    segments: vec![0, 6, 0],
                    nowait: true,
                },
            },
            Op::Write {
                slot: 2,
                len: 5,
                data_seed: u64::MAX,
                via: Via::Plain(Buffer::Kernel),
            },
            Op::Write {
                slot: 2,
                len: 0,
                data_seed: 0,
                via: Via::Vectored {
                    segments: vec![],
                    nowait: false,
                },
            },
            Op::Poll { slot: 0 },
            Op::Fionread {
                slot: 0,
                buffer: Buffer::Null,
            },
            Op::GetStats {
                slot: 0,
                buffer: Buffer::Valid,
            },
            Op::Reset { slot: 4 },
            Op::UnknownIoctl {
                slot: 4,
                cmd: 0xc0c1_00ff,
            },
            Op::Positioned {
                slot: 4,
                call: Positioned::Pwrite,
            },
        ]
    }

    fn replies() -> Vec<Reply> {
        vec![
            Reply::Status(Ok(u64::MAX)),
            Reply::Status(Err(Errno::SPIPE)),
            Reply::Read {
                result: Ok(3),
                data: vec![1, 2, 3],
            },
            Reply::Read {
                result: Err(Errno::FAULT),
                data: vec![],
            },
            Reply::Poll {
                ready: 1,
                revents: PollFlags::IN | PollFlags::HUP | PollFlags::WRNORM,
            },
            Reply::Fionread(Ok(-1)),
            Reply::Fionread(Err(Errno::NOTTY)),
            Reply::Stats(Ok(Stats {
                capacity: 1,
                write_waits: 11,
                ..Stats::default()
            })),
            Reply::Stats(Err(Errno::FAULT)),
        ]
    }

    #[test]
    fn operations_round_trip() {
        for op in ops() {
            assert_eq!(decode_op(&encode_op(&op)), Ok(op.clone()), "{op}");
        }
    }

    #[test]
    fn replies_round_trip() {
        for reply in replies() {
            assert_eq!(decode_reply(&encode_reply(&reply)), Ok(reply.clone()));
        }
    }

    #[test]
    fn damaged_bodies_are_refused() {
        for op in ops() {
            let body = encode_op(&op);
            for cut in 0..body.len() {
                assert!(decode_op(&body[..cut]).is_err(), "{op} cut at {cut}");
            }
            let mut longer = body.clone();
            longer.push(0);
            assert_eq!(decode_op(&longer), Err(DecodeError::Trailing(1)));
        }
        for reply in replies() {
            let body = encode_reply(&reply);
            for cut in 0..body.len() {
                assert!(decode_reply(&body[..cut]).is_err(), "{reply} cut at {cut}");
            }
        }
        assert_eq!(
            decode_op(&[200]),
            Err(DecodeError::BadTag("operation", 200))
        );
        assert_eq!(decode_reply(&[9]), Err(DecodeError::BadTag("reply", 9)));
        // A huge segment count must not be trusted.
        let mut body = vec![3];
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(decode_op(&body), Err(DecodeError::Truncated));
    }

    #[test]
    fn frames_round_trip_and_end_cleanly() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"first").unwrap();
        write_frame(&mut wire, b"").unwrap();
        let mut input = wire.as_slice();
        assert_eq!(read_frame(&mut input).unwrap(), Some(b"first".to_vec()));
        assert_eq!(read_frame(&mut input).unwrap(), Some(Vec::new()));
        assert_eq!(read_frame(&mut input).unwrap(), None);

        let mut cut = &wire[..6];
        assert_eq!(
            read_frame(&mut cut).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        let mut half_length = &wire[..2];
        assert!(read_frame(&mut half_length).is_err());
    }
}
