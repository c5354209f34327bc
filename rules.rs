// SPDX-License-Identifier: GPL-2.0

//! The rules that decide what a read, a write or a poll may do, as pure
//! functions of the device's state.
//!
//! Like `spsc.rs`, this file uses only `core`: the kernel module and the
//! host test crate compile the same rules, so the host model of the device
//! cannot drift from the driver. Named after, and matching where a pipe has
//! one, the predicates of `fs/pipe.c`.

/// Writes of at most this many bytes are atomic, as `PIPE_BUF` on a pipe.
pub(crate) const ATOMIC_WRITE_MAX: usize = 4096;

/// What a write does when the ring has too little room for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Wait for readers to make room, as on a pipe (`CIRCBUF_MODE_BLOCK`).
    Block,
    /// Never wait: drop the oldest whole records to make room, keeping the
    /// newest data, as a telemetry ring does (`CIRCBUF_MODE_OVERWRITE`).
    Overwrite,
}

impl Mode {
    /// The mode with number `value` in `include/uapi/linux/circbuf.h`.
    pub(crate) fn from_uapi(value: u64) -> Option<Self> {
        match value {
            0 => Some(Self::Block),
            1 => Some(Self::Overwrite),
            _ => None,
        }
    }

    /// The mode's number in `include/uapi/linux/circbuf.h`.
    pub(crate) fn to_uapi(self) -> u64 {
        match self {
            Self::Block => 0,
            Self::Overwrite => 1,
        }
    }

    /// The mode's name, as sysfs shows it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::Overwrite => "overwrite",
        }
    }
}

/// What produces into a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// No kernel source: on `/dev/circbuf` user writers, on the telemetry
    /// device nothing, the source being stopped (`CIRCBUF_SOURCE_NONE`).
    None,
    /// The telemetry device's timer sampling the simulated temperature
    /// sensor (`CIRCBUF_SOURCE_THERMAL`).
    Thermal,
}

impl Source {
    /// The source with number `value` in `include/uapi/linux/circbuf.h`.
    pub(crate) fn from_uapi(value: u64) -> Option<Self> {
        match value {
            0 => Some(Self::None),
            1 => Some(Self::Thermal),
            _ => None,
        }
    }

    /// The source's number in `include/uapi/linux/circbuf.h`.
    pub(crate) fn to_uapi(self) -> u64 {
        match self {
            Self::None => 0,
            Self::Thermal => 1,
        }
    }

    /// The source's name, as sysfs shows it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Thermal => "thermal",
        }
    }
}

/// The lowest sample rate of the telemetry source, in Hz
/// (`CIRCBUF_RATE_MIN`).
pub(crate) const RATE_MIN: u32 = 1;
/// The highest sample rate of the telemetry source, in Hz
/// (`CIRCBUF_RATE_MAX`).
pub(crate) const RATE_MAX: u32 = 10_000;

/// Whether the telemetry source can sample at `rate_hz`.
pub(crate) fn rate_is_valid(rate_hz: u64) -> bool {
    (u64::from(RATE_MIN)..=u64::from(RATE_MAX)).contains(&rate_hz)
}

/// The longest record an overwriting write stores: a write up to this long
/// is one record, dropped whole or not at all; a longer one is stored as
/// several records of this length (and a last, shorter one), as a pipe
/// splits writes above `PIPE_BUF`.
pub(crate) fn overwrite_record_max(capacity: usize) -> usize {
    ATOMIC_WRITE_MAX.min(capacity)
}

/// Whether a write of `len` bytes must land in the ring in one piece.
///
/// A write larger than the ring can never be stored at once, so it is
/// atomic only if it fits in both `PIPE_BUF` and the capacity.
pub(crate) fn write_is_atomic(len: usize, capacity: usize) -> bool {
    len <= ATOMIC_WRITE_MAX && len <= capacity
}

/// How many bytes a write with `remaining` bytes left may store now, given
/// `free` bytes of room: all of them, some of them, or none (it must wait).
pub(crate) fn write_room(remaining: usize, free: usize, atomic: bool) -> usize {
    if atomic && free < remaining {
        0
    } else {
        remaining.min(free)
    }
}

/// Whether poll reports a file writable: enough room for an atomic write of
/// `PIPE_BUF` bytes (or of the whole ring, if smaller), so a writer woken by
/// poll does not get `EAGAIN` for a write of that size.
pub(crate) fn poll_writable(free: usize, capacity: usize) -> bool {
    free >= ATOMIC_WRITE_MAX.min(capacity)
}

/// Whether poll reports a file writable in `mode`: an overwriting write
/// always goes through at once.
pub(crate) fn poll_writable_in(mode: Mode, free: usize, capacity: usize) -> bool {
    mode == Mode::Overwrite || poll_writable(free, capacity)
}

/// What a reader learns about the writers, recorded when it opens the
/// device, to tell "no writer yet" (wait) from "the writers are gone" (EOF).
#[derive(Clone, Copy)]
pub(crate) struct WriterWatch {
    /// A writer had the device open, or data was waiting, at open time.
    pub(crate) armed_at_open: bool,
    /// `writer_opens` at open time.
    pub(crate) writer_opens_at_open: u64,
}

impl WriterWatch {
    /// Starts watching, given the device's state at open time.
    pub(crate) fn new(writers: u64, data_waiting: bool, writer_opens: u64) -> Self {
        Self {
            armed_at_open: writers > 0 || data_waiting,
            writer_opens_at_open: writer_opens,
        }
    }

    /// Whether an empty ring means end of file for this reader: no writer
    /// has the device open now, and one had it open at some point since
    /// this reader opened it (as for a FIFO, a reader opened first waits
    /// for the first writer instead of seeing EOF at once).
    pub(crate) fn at_eof(&self, writers: u64, writer_opens: u64) -> bool {
        writers == 0 && (self.armed_at_open || writer_opens != self.writer_opens_at_open)
    }
}
