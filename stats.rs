// SPDX-License-Identifier: GPL-2.0

//! What circbuf counts, and the ways it shows it: the `struct
//! circbuf_stats` of `CIRCBUF_GET_STATS`, the `name: value` text of
//! debugfs and fdinfo, and the sysfs attributes of each device.

use crate::rules::{Mode, Source};
use kernel::{
    fmt,
    sync::atomic::{Atomic, Relaxed},
};

/// What readers count, since the module was loaded; guarded by the reader lock.
#[derive(Clone, Copy, Default)]
pub(crate) struct ReadCounters {
    pub(crate) reads: u64,
    pub(crate) bytes_read: u64,
    pub(crate) read_waits: u64,
}

/// What writers count, since the module was loaded; guarded by the writer lock.
#[derive(Clone, Copy, Default)]
pub(crate) struct WriteCounters {
    pub(crate) writes: u64,
    pub(crate) bytes_written: u64,
    pub(crate) write_waits: u64,
    pub(crate) dropped_bytes: u64,
    pub(crate) dropped_records: u64,
}

/// A consistent snapshot of the device, taken with both sides' locks held.
pub(crate) struct Stats {
    pub(crate) capacity: usize,
    pub(crate) mode: Mode,
    pub(crate) used: usize,
    pub(crate) readers: u64,
    pub(crate) writers: u64,
    pub(crate) read: ReadCounters,
    pub(crate) write: WriteCounters,
    pub(crate) source: Source,
    /// The rate the source runs or would run at; 0 for a device without one.
    pub(crate) rate_hz: u32,
}

/// `struct circbuf_stats` from `include/uapi/linux/circbuf.h`: sixteen
/// `__u64` in declaration order. An array of `u64` has exactly that layout
/// and can be copied to user space without any unsafe code.
pub(crate) type UapiStats = [u64; 16];

/// The first fourteen fields, all the struct had before the telemetry
/// source; programs built then still ask for this size.
pub(crate) type UapiStatsV1 = [u64; 14];

impl Stats {
    /// The statistics as user space sees them, in `struct circbuf_stats` order.
    pub(crate) fn to_uapi(&self) -> UapiStats {
        let (r, w) = (&self.read, &self.write);
        [
            self.capacity as u64,
            self.used as u64,
            (self.capacity - self.used) as u64,
            r.reads,
            w.writes,
            r.bytes_read,
            w.bytes_written,
            self.readers,
            self.writers,
            r.read_waits,
            w.write_waits,
            self.mode.to_uapi(),
            w.dropped_bytes,
            w.dropped_records,
            self.source.to_uapi(),
            self.rate_hz.into(),
        ]
    }

    /// Writes the value of the sysfs attribute `name`, one of
    /// [`ATTRIBUTE_NAMES`], and a newline.
    pub(crate) fn show_attribute(
        &self,
        name: &[u8],
        out: &mut dyn core::fmt::Write,
    ) -> fmt::Result {
        match name {
            b"capacity" => writeln!(out, "{}", self.capacity),
            b"mode" => writeln!(out, "{}", self.mode.name()),
            b"source" => writeln!(out, "{}", self.source.name()),
            _ => writeln!(out, "{}", self.rate_hz),
        }
    }
}

/// The read-only sysfs attributes of each device, under
/// `/sys/class/misc/NAME/`: the configuration a user expects `cat` to
/// tell, since module parameters do not show in sysfs.
pub(crate) const ATTRIBUTE_NAMES: [&core::ffi::CStr; 4] =
    [c"capacity", c"mode", c"source", c"rate"];

/// The field names of `struct circbuf_stats`, in order.
const FIELD_NAMES: [&str; 16] = [
    "capacity",
    "used",
    "available",
    "reads",
    "writes",
    "bytes_read",
    "bytes_written",
    "readers",
    "writers",
    "read_waits",
    "write_waits",
    "mode",
    "dropped_bytes",
    "dropped_records",
    "source",
    "rate_hz",
];

impl fmt::Display for Stats {
    /// One `name: value` line per field, named as in `struct circbuf_stats`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in FIELD_NAMES.iter().zip(self.to_uapi()) {
            writeln!(f, "{name}: {value}")?;
        }
        Ok(())
    }
}

/// What one open file has done; shown in `/proc/PID/fdinfo/FD`.
///
/// Atomics rather than fields under a side's lock, because fdinfo is read
/// from other processes and must not contend with I/O for the locks.
pub(crate) struct FileCounters {
    reads: Atomic<u64>,
    writes: Atomic<u64>,
    bytes_read: Atomic<u64>,
    bytes_written: Atomic<u64>,
}

impl FileCounters {
    /// Counters of a file that has done nothing yet.
    pub(crate) fn new() -> Self {
        Self {
            reads: Atomic::new(0),
            writes: Atomic::new(0),
            bytes_read: Atomic::new(0),
            bytes_written: Atomic::new(0),
        }
    }

    /// Records a read that returned `bytes` (> 0) bytes.
    pub(crate) fn count_read(&self, bytes: usize) {
        self.reads.add(1, Relaxed);
        self.bytes_read.add(bytes as u64, Relaxed);
    }

    /// Records a write that stored `bytes` (> 0) bytes.
    pub(crate) fn count_write(&self, bytes: usize) {
        self.writes.add(1, Relaxed);
        self.bytes_written.add(bytes as u64, Relaxed);
    }
}

impl fmt::Display for FileCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "circbuf_reads:\t{}", self.reads.load(Relaxed))?;
        writeln!(f, "circbuf_writes:\t{}", self.writes.load(Relaxed))?;
        writeln!(f, "circbuf_bytes_read:\t{}", self.bytes_read.load(Relaxed))?;
        writeln!(
            f,
            "circbuf_bytes_written:\t{}",
            self.bytes_written.load(Relaxed)
        )
    }
}
