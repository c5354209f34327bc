// SPDX-License-Identifier: GPL-2.0
//! User-space access to the circbuf character device.
//!
//! This crate owns the Rust mirror of `include/uapi/linux/circbuf.h` (the
//! [`Stats`] and [`Sample`] layouts and the ioctl numbers), a safe [`Device`]
//! handle that wraps open, read, write, `O_NONBLOCK`, `FIONREAD` and the
//! circbuf ioctls, a [`SampleReader`] that reads the telemetry device's
//! samples, and a [`MappedReader`] that maps `/dev/circbuf`'s ring and reads
//! it in place, as its zero-copy consumer. Every failure is an [`Error`] naming the device path, the operation and
//! the errno, so tools can print it as is. [`testing`] holds what the tools
//! that test the device share.
//!
//! ```no_run
//! use circbuf::{Device, OpenOptions};
//!
//! let dev = Device::open(circbuf::DEFAULT_PATH, OpenOptions::new().read(true).nonblocking(true))?;
//! let stats = dev.stats()?;
//! println!("{} of {} bytes used", stats.used, stats.capacity);
//! # Ok::<(), circbuf::Error>(())
//! ```

mod device;
mod error;
// The producer page of a mapped ring is read-only, and Rust promises that a
// relaxed 8-byte atomic load (how `tail` and `flags` are read) works on
// read-only memory only on 64-bit targets (`core::sync::atomic`, "Atomic
// accesses to read-only memory"). Elsewhere there is no MappedReader rather
// than one that may fault.
#[cfg(target_pointer_width = "64")]
mod mapped;
mod samples;
pub mod testing;
mod uapi;

pub use device::{Device, OpenOptions};
pub use error::{Error, Operation};
#[cfg(target_pointer_width = "64")]
pub use mapped::MappedReader;
pub use samples::SampleReader;
pub use uapi::{
    Mode, Sample, Source, Stats, ATOMIC_WRITE_MAX, CIRCBUF_GET_STATS, CIRCBUF_IOC_MAGIC,
    CIRCBUF_RESET, CIRCBUF_SET_MODE, CIRCBUF_SET_SOURCE, CIRCBUF_WAKE_WRITERS, MMAP_CONSUMER_PGOFF,
    MMAP_PRODUCER_PGOFF, MMAP_WRITERS_WAITING, RATE_MAX, RATE_MIN,
};

/// Where the circbuf misc device appears once the module is loaded.
pub const DEFAULT_PATH: &str = "/dev/circbuf";

/// Where the telemetry device, whose ring holds [`Sample`]s, appears.
pub const TELEMETRY_PATH: &str = "/dev/circbuf_telemetry";
