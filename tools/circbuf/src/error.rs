// SPDX-License-Identifier: GPL-2.0
//! The error type of every [`Device`](crate::Device) and
//! [`MappedReader`](crate::MappedReader) operation: which device, which
//! operation, which errno, and a hint for the failures people hit most.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;

/// The device operation that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// `open(2)`.
    Open,
    /// `read(2)`.
    Read,
    /// `write(2)`.
    Write,
    /// Switching `O_NONBLOCK` with `fcntl(2)`.
    SetNonblocking,
    /// The `CIRCBUF_GET_STATS` ioctl.
    GetStats,
    /// The `FIONREAD` ioctl.
    BytesAvailable,
    /// The `CIRCBUF_RESET` ioctl.
    Reset,
    /// The `CIRCBUF_SET_MODE` ioctl.
    SetMode,
    /// The `CIRCBUF_SET_SOURCE` ioctl.
    SetSource,
    /// `mmap(2)` of the consumer page or the producer area.
    Map,
    /// `poll(2)`, waiting for the mapped ring to fill.
    Poll,
    /// The `CIRCBUF_WAKE_WRITERS` ioctl.
    WakeWriters,
    /// Checking what the kernel published in the mapped ring: its capacity,
    /// and that `tail` is at most the capacity ahead of `head`.
    MappedRing,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Open => "open",
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::SetNonblocking => "fcntl(O_NONBLOCK)",
            Operation::GetStats => "ioctl(CIRCBUF_GET_STATS)",
            Operation::BytesAvailable => "ioctl(FIONREAD)",
            Operation::Reset => "ioctl(CIRCBUF_RESET)",
            Operation::SetMode => "ioctl(CIRCBUF_SET_MODE)",
            Operation::SetSource => "ioctl(CIRCBUF_SET_SOURCE)",
            Operation::Map => "mmap",
            Operation::Poll => "poll",
            Operation::WakeWriters => "ioctl(CIRCBUF_WAKE_WRITERS)",
            Operation::MappedRing => "mapped ring",
        })
    }
}

/// A failed device operation.
///
/// Its `Display` reads like `/dev/circbuf: open: No such file or directory
/// (is the circbuf module loaded?)`, ready to be printed after a program name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    path: PathBuf,
    operation: Operation,
    errno: Errno,
}

impl Error {
    /// Builds an error for `operation` on the device at `path`.
    pub fn new(path: impl Into<PathBuf>, operation: Operation, errno: Errno) -> Self {
        Error {
            path: path.into(),
            operation,
            errno,
        }
    }

    /// The device path the operation was applied to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operation that failed.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// The errno the kernel returned.
    pub fn errno(&self) -> Errno {
        self.errno
    }

    /// The errno as a raw number, as `std::io::Error::raw_os_error` gives it.
    pub fn raw_os_error(&self) -> i32 {
        self.errno.raw_os_error()
    }

    /// The portable category of the errno.
    pub fn kind(&self) -> io::ErrorKind {
        io::Error::from(self.errno).kind()
    }

    /// True when a non-blocking operation found nothing to do (`EAGAIN`).
    pub fn is_would_block(&self) -> bool {
        self.errno == Errno::AGAIN
    }

    /// What the user most likely has to do about this failure, if known.
    pub fn hint(&self) -> Option<&'static str> {
        match (self.operation, self.errno) {
            (Operation::Open, Errno::NOENT | Errno::NXIO | Errno::NODEV) => {
                Some("is the circbuf module loaded?")
            }
            // A shared writable mapping needs a file open for writing.
            (Operation::Map, Errno::ACCESS) => {
                Some("mapping needs the device open for reading and writing")
            }
            (_, Errno::ACCESS | Errno::PERM) => {
                Some("run as root or check the device's permissions")
            }
            (Operation::GetStats | Operation::Reset | Operation::SetMode, Errno::NOTTY) => {
                Some("is this a circbuf device?")
            }
            (Operation::GetStats | Operation::Reset, Errno::INVAL) => {
                Some("is this a circbuf device?")
            }
            (Operation::Reset, Errno::BADF) => {
                Some("CIRCBUF_RESET needs the device open for writing")
            }
            (Operation::SetMode, Errno::BADF) => {
                Some("CIRCBUF_SET_MODE needs the device open for writing")
            }
            (Operation::SetSource, Errno::BADF) => {
                Some("CIRCBUF_SET_SOURCE needs the device open for writing")
            }
            (Operation::SetSource, Errno::NOTTY) | (Operation::Read, Errno::BADMSG) => {
                Some("is this the circbuf telemetry device?")
            }
            (Operation::SetSource, Errno::INVAL) => Some("the rate must be 1 to 10000 Hz"),
            // The kernel also refuses while a read(2) or CIRCBUF_GET_STATS holds
            // the ring's reader side, which mmap cannot wait for.
            (Operation::Map, Errno::BUSY) => {
                Some("another file is the mapped consumer, or the ring was busy: try again")
            }
            (Operation::Map, Errno::INVAL) => {
                Some("the ring must be in block mode, its capacity a multiple of the page size")
            }
            (Operation::Map, Errno::NODEV) => {
                Some("only /dev/circbuf can be mapped, by a circbuf module new enough")
            }
            (Operation::Read | Operation::Reset | Operation::SetMode, Errno::BUSY) => {
                Some("a mapped consumer has the ring")
            }
            (Operation::MappedRing, Errno::PROTO) => {
                Some("the kernel broke the mapped consumer's rules")
            }
            _ => None,
        }
    }
}

/// The C library's text for `errno`, without the "(os error N)" suffix that
/// `std::io::Error` appends, so messages read like `perror(3)` output.
fn errno_text(errno: Errno) -> String {
    let text = io::Error::from(errno).to_string();
    let suffix = format!(" (os error {})", errno.raw_os_error());
    match text.strip_suffix(&suffix) {
        Some(stripped) => stripped.to_owned(),
        None => text,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.path.display(),
            self.operation,
            errno_text(self.errno)
        )?;
        if let Some(hint) = self.hint() {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        io::Error::new(err.kind(), err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_device_names_path_operation_errno_and_module() {
        let err = Error::new("/dev/circbuf", Operation::Open, Errno::NOENT);
        assert_eq!(
            err.to_string(),
            "/dev/circbuf: open: No such file or directory (is the circbuf module loaded?)"
        );
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(err.raw_os_error(), 2);
    }

    #[test]
    fn permission_denied_suggests_root() {
        let err = Error::new("/dev/circbuf", Operation::Open, Errno::ACCESS);
        assert_eq!(
            err.to_string(),
            "/dev/circbuf: open: Permission denied (run as root or check the device's permissions)"
        );
    }

    #[test]
    fn foreign_device_is_recognised() {
        let err = Error::new("/dev/null", Operation::GetStats, Errno::NOTTY);
        let text = err.to_string();
        assert!(
            text.starts_with("/dev/null: ioctl(CIRCBUF_GET_STATS): "),
            "{text}"
        );
        assert!(text.ends_with("(is this a circbuf device?)"), "{text}");
    }

    #[test]
    fn reset_without_write_access_is_explained() {
        let err = Error::new("/dev/circbuf", Operation::Reset, Errno::BADF);
        assert_eq!(
            err.to_string(),
            "/dev/circbuf: ioctl(CIRCBUF_RESET): Bad file descriptor \
             (CIRCBUF_RESET needs the device open for writing)"
        );
    }

    #[test]
    fn source_failures_are_explained() {
        let err = Error::new("/dev/circbuf", Operation::SetSource, Errno::NOTTY);
        assert_eq!(
            err.to_string(),
            "/dev/circbuf: ioctl(CIRCBUF_SET_SOURCE): Inappropriate ioctl for device \
             (is this the circbuf telemetry device?)"
        );
        let hint = Error::new("/x", Operation::SetSource, Errno::INVAL)
            .hint()
            .unwrap();
        assert!(
            hint.contains(&format!("{} to {} Hz", crate::RATE_MIN, crate::RATE_MAX)),
            "{hint}"
        );
        let err = Error::new("/x", Operation::SetSource, Errno::BADF);
        assert!(err
            .to_string()
            .ends_with("needs the device open for writing)"));
    }

    #[test]
    fn mapping_failures_are_explained() {
        let err = Error::new("/dev/circbuf", Operation::Map, Errno::BUSY);
        assert_eq!(
            err.to_string(),
            "/dev/circbuf: mmap: Device or resource busy \
             (another file is the mapped consumer, or the ring was busy: try again)"
        );
        let err = Error::new("/dev/circbuf", Operation::Map, Errno::ACCESS);
        assert!(
            err.to_string()
                .ends_with("(mapping needs the device open for reading and writing)"),
            "{err}"
        );
        let err = Error::new("/dev/circbuf", Operation::Read, Errno::BUSY);
        assert!(
            err.to_string()
                .ends_with("(a mapped consumer has the ring)"),
            "{err}"
        );
        let err = Error::new("/dev/circbuf", Operation::MappedRing, Errno::PROTO);
        assert_eq!(
            err.to_string(),
            "/dev/circbuf: mapped ring: Protocol error \
             (the kernel broke the mapped consumer's rules)"
        );
        let err = Error::new("/dev/circbuf", Operation::WakeWriters, Errno::NOTTY);
        assert_eq!(
            err.to_string(),
            "/dev/circbuf: ioctl(CIRCBUF_WAKE_WRITERS): Inappropriate ioctl for device"
        );
    }

    #[test]
    fn plain_errors_have_no_hint() {
        let err = Error::new("/dev/circbuf", Operation::Read, Errno::AGAIN);
        assert_eq!(err.hint(), None);
        assert!(err.is_would_block());
        assert_eq!(
            err.to_string(),
            "/dev/circbuf: read: Resource temporarily unavailable"
        );
    }

    #[test]
    fn converts_into_io_error_keeping_the_message() {
        let err: io::Error = Error::new("/x", Operation::Write, Errno::PIPE).into();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(err.to_string(), "/x: write: Broken pipe");
    }
}
