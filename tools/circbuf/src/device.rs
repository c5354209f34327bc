// SPDX-License-Identifier: GPL-2.0
//! The safe [`Device`] handle and its [`OpenOptions`]: every system call the
//! tools make on a circbuf device goes through here.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{fcntl_getfl, fcntl_setfl, Mode, OFlags};
use rustix::io::{ioctl_fionread, Errno};
use rustix::ioctl::{ioctl, NoArg, Setter, Updater};

use crate::error::{Error, Operation};
use crate::uapi::{
    Mode as RingMode, Source, SourceRequest, Stats, CIRCBUF_GET_STATS, CIRCBUF_RESET,
    CIRCBUF_SET_MODE, CIRCBUF_SET_SOURCE,
};

/// How to open a device: access mode and blocking behaviour.
///
/// The default is read-only and blocking. The access mode matters beyond
/// permissions: circbuf counts open files with write access as writers, and
/// a reader only sees end-of-file once every writer has closed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    nonblocking: bool,
}

impl OpenOptions {
    /// Options with neither read nor write access selected and blocking I/O.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests read access.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Requests write access.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Opens with `O_NONBLOCK`: reads on an empty ring and writes to a full
    /// one fail with `EAGAIN` instead of sleeping.
    pub fn nonblocking(&mut self, nonblocking: bool) -> &mut Self {
        self.nonblocking = nonblocking;
        self
    }

    fn flags(&self) -> Option<OFlags> {
        let access = match (self.read, self.write) {
            (true, true) => OFlags::RDWR,
            (true, false) => OFlags::RDONLY,
            (false, true) => OFlags::WRONLY,
            (false, false) => return None,
        };
        // CLOEXEC keeps a writer's descriptor out of spawned children, where
        // it would hold the device open and deny readers their end-of-file.
        let mut flags = access | OFlags::CLOEXEC | OFlags::NOCTTY;
        if self.nonblocking {
            flags |= OFlags::NONBLOCK;
        }
        Some(flags)
    }
}

/// An open circbuf device.
///
/// Closing happens on drop. The handle is `Send + Sync`, like the file
/// descriptor it owns; note that readers sharing one open file also share
/// its end-of-file state, so independent readers should each open their own.
#[derive(Debug)]
pub struct Device {
    fd: OwnedFd,
    path: PathBuf,
}

impl Device {
    /// Opens the device at `path`.
    ///
    /// Fails with `EINVAL` when `options` selects neither read nor write.
    pub fn open(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Device, Error> {
        let path = path.as_ref();
        let flags = options
            .flags()
            .ok_or_else(|| Error::new(path, Operation::Open, Errno::INVAL))?;
        let fd = rustix::fs::open(path, flags, Mode::empty())
            .map_err(|errno| Error::new(path, Operation::Open, errno))?;
        Ok(Device {
            fd,
            path: path.to_owned(),
        })
    }

    /// The path the device was opened at, as used in error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, operation: Operation, errno: Errno) -> Error {
        Error::new(&self.path, operation, errno)
    }

    /// Reads up to `buf.len()` bytes; `Ok(0)` is end-of-file.
    ///
    /// Blocks on an empty ring unless the file is non-blocking. A signal
    /// that interrupts the wait restarts it, so `EINTR` never surfaces.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        loop {
            match rustix::io::read(&self.fd, &mut *buf) {
                Err(Errno::INTR) => continue,
                result => return result.map_err(|e| self.error(Operation::Read, e)),
            }
        }
    }

    /// Writes `buf`, returning how many bytes the device accepted.
    ///
    /// Writes of at most [`ATOMIC_WRITE_MAX`](crate::ATOMIC_WRITE_MAX) bytes
    /// that fit the capacity are stored whole or not at all. `EINTR` is
    /// retried like in [`read`](Self::read).
    pub fn write(&self, buf: &[u8]) -> Result<usize, Error> {
        loop {
            match rustix::io::write(&self.fd, buf) {
                Err(Errno::INTR) => continue,
                result => return result.map_err(|e| self.error(Operation::Write, e)),
            }
        }
    }

    /// Switches `O_NONBLOCK` on or off for this open file.
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<(), Error> {
        let failed = |e| self.error(Operation::SetNonblocking, e);
        let mut flags = fcntl_getfl(&self.fd).map_err(failed)?;
        flags.set(OFlags::NONBLOCK, nonblocking);
        fcntl_setfl(&self.fd, flags).map_err(failed)
    }

    /// Reads the device's statistics (`CIRCBUF_GET_STATS`).
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut stats = Stats::default();
        // SAFETY: CIRCBUF_GET_STATS is `_IOR(.., struct circbuf_stats)`, so any
        // driver accepting it writes at most `size_of::<Stats>()` bytes to the
        // pointer; `Updater` passes `&mut stats`: live, writable, aligned for
        // the call. `Stats` is `repr(C)` with the header's layout (tests/abi.rs)
        // and all `u64`, so any bytes written, or the zeroes left, are valid.
        let result = unsafe {
            ioctl(
                &self.fd,
                Updater::<CIRCBUF_GET_STATS, Stats>::new(&mut stats),
            )
        };
        result.map_err(|e| self.error(Operation::GetStats, e))?;
        Ok(stats)
    }

    /// The number of bytes a read could return now (`FIONREAD`).
    pub fn bytes_available(&self) -> Result<usize, Error> {
        let n = ioctl_fionread(&self.fd).map_err(|e| self.error(Operation::BytesAvailable, e))?;
        // FIONREAD yields a non-negative C int, which always fits a usize.
        Ok(n as usize)
    }

    /// Discards everything buffered and wakes blocked writers
    /// (`CIRCBUF_RESET`). The file must be open for writing, else `EBADF`.
    pub fn reset(&self) -> Result<(), Error> {
        // SAFETY: CIRCBUF_RESET is `_IO(..)`: it takes no argument, so no
        // memory is handed to the kernel and nothing is read back.
        let result = unsafe { ioctl(&self.fd, NoArg::<CIRCBUF_RESET>::new()) };
        result.map_err(|e| self.error(Operation::Reset, e))
    }

    /// Sets what writes do when the ring is full (`CIRCBUF_SET_MODE`). The
    /// file must be open for writing, else `EBADF`.
    pub fn set_mode(&self, mode: RingMode) -> Result<(), Error> {
        // SAFETY: CIRCBUF_SET_MODE is `_IOW(.., __u32)`: the kernel reads a
        // `u32` from the pointer `Setter` passes, which points to a `u32`
        // value that lives for the whole call; nothing is written back.
        let result = unsafe {
            ioctl(
                &self.fd,
                Setter::<CIRCBUF_SET_MODE, u32>::new(mode.to_uapi()),
            )
        };
        result.map_err(|e| self.error(Operation::SetMode, e))
    }

    /// Starts the telemetry source at `rate_hz` ([`RATE_MIN`](crate::RATE_MIN)
    /// to [`RATE_MAX`](crate::RATE_MAX), else `EINVAL`), restarts it there, or
    /// stops it with [`Source::None`], which ignores the rate
    /// (`CIRCBUF_SET_SOURCE`). The file must be open for writing, else
    /// `EBADF`; `/dev/circbuf` has no source to start (`ENOTTY`).
    pub fn set_source(&self, source: Source, rate_hz: u32) -> Result<(), Error> {
        let request = SourceRequest {
            source: source.to_uapi(),
            rate_hz,
        };
        // SAFETY: CIRCBUF_SET_SOURCE is `_IOW(.., struct circbuf_source)`: the
        // kernel reads `size_of::<SourceRequest>()` bytes from the pointer
        // `Setter` passes, which points to `request`, `repr(C)` with the
        // header's layout, for the whole call; nothing is written back.
        let result = unsafe {
            ioctl(
                &self.fd,
                Setter::<CIRCBUF_SET_SOURCE, SourceRequest>::new(request),
            )
        };
        result.map_err(|e| self.error(Operation::SetSource, e))
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_mode_maps_to_open_flags() {
        let rw = OpenOptions::new().read(true).write(true).flags().unwrap();
        assert!(rw.contains(OFlags::RDWR | OFlags::CLOEXEC));
        assert!(!rw.contains(OFlags::NONBLOCK));
        let wo = OpenOptions::new()
            .write(true)
            .nonblocking(true)
            .flags()
            .unwrap();
        assert!(wo.contains(OFlags::WRONLY | OFlags::NONBLOCK));
        let ro = OpenOptions::new().read(true).flags().unwrap();
        assert_eq!(ro & (OFlags::WRONLY | OFlags::RDWR), OFlags::empty());
        assert_eq!(OpenOptions::new().flags(), None);
    }

    #[test]
    fn opening_without_access_is_rejected() {
        let err = Device::open("/dev/null", &OpenOptions::new()).unwrap_err();
        assert_eq!(err.operation(), Operation::Open);
        assert_eq!(err.errno(), Errno::INVAL);
    }
}
