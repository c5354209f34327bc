// SPDX-License-Identifier: GPL-2.0
//! The two channels measured, a circbuf device and a pipe, behind one
//! interface: [`Channel::open`] hands out one [`Endpoint`] per thread, and
//! [`Channel::stats`] gives circbuf's counters to check a run against.
//! Every thread gets its own file: on circbuf its own `open`, like an
//! independent process (readers sharing one open file would share its
//! end-of-file state); on a pipe a `dup` of one end of a fresh pipe.

use std::fs::OpenOptions as FileOptions;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use circbuf::{Device, OpenOptions, Stats};
use rustix::io::{fcntl_dupfd_cloexec, retry_on_intr, Errno};
use rustix::pipe::{fcntl_getpipe_size, fcntl_setpipe_size, pipe_with, PipeFlags};
use serde::{Deserialize, Serialize};

use crate::options::Ratio;
use crate::Error;

/// Where an unprivileged process learns the largest pipe it may ask for.
const PIPE_MAX_SIZE: &str = "/proc/sys/fs/pipe-max-size";

/// The size a pipe was asked for and the size the kernel gave it, which is
/// a power-of-two number of pages, and at most `fs.pipe-max-size` without
/// CAP_SYS_RESOURCE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipeSize {
    /// Bytes asked for with F_SETPIPE_SZ: the device's capacity.
    pub requested: usize,
    /// Bytes the pipe holds, from F_GETPIPE_SZ.
    pub actual: usize,
}

impl PipeSize {
    /// Finds the size of pipes asked for `capacity` bytes, or for as close
    /// to it as the kernel allows without privileges (`fs.pipe-max-size`)
    /// when that is less.
    pub fn probe(capacity: usize) -> Result<PipeSize, Error> {
        let setup = |what| failed(what, Error::Setup);
        let (_, probe) = pipe_with(PipeFlags::CLOEXEC).map_err(setup("pipe: pipe2"))?;
        let requested = match fcntl_setpipe_size(&probe, capacity) {
            Ok(_) => capacity,
            Err(Errno::PERM) => {
                let text = std::fs::read_to_string(PIPE_MAX_SIZE)
                    .map_err(|e| Error::Setup(format!("{PIPE_MAX_SIZE}: {e}")))?;
                let max = text.trim().parse().map_err(|_| {
                    Error::Setup(format!("{PIPE_MAX_SIZE}: `{}` is not a size", text.trim()))
                })?;
                fcntl_setpipe_size(&probe, max).map_err(setup("pipe: F_SETPIPE_SZ"))?;
                max
            }
            Err(e) => return Err(e).map_err(setup("pipe: F_SETPIPE_SZ")),
        };
        let actual = fcntl_getpipe_size(&probe).map_err(setup("pipe: F_GETPIPE_SZ"))?;
        Ok(PipeSize { requested, actual })
    }
}

/// A channel that threads can open ends of.
#[derive(Debug)]
pub enum Channel {
    /// The circbuf device.
    Circbuf {
        /// Open read-only and non-blocking for the ioctls, never read from.
        /// It counts as a reader, which changes nothing for writers, and
        /// as no writer, so readers' end of file is not held up.
        probe: Device,
        /// The ring's size in bytes.
        capacity: usize,
    },
    /// A fresh pipe per run, each asked for the same size.
    Pipe(PipeSize),
}

/// One thread's file: of the circbuf device, or one end of a pipe.
#[derive(Debug)]
pub struct Endpoint(OwnedFd);

impl Channel {
    /// Prepares the circbuf device at `path`: reads its capacity, refuses
    /// if anyone else has it open, and refuses if it holds data unless
    /// `reset`, in which case the data is discarded.
    pub fn circbuf(path: &Path, reset: bool) -> Result<Channel, Error> {
        let setup = |e: circbuf::Error| Error::Setup(e.to_string());
        let probe =
            Device::open(path, OpenOptions::new().read(true).nonblocking(true)).map_err(setup)?;
        let stats = probe.stats().map_err(setup)?;
        if reset && stats.used > 0 && check_idle(path, &Stats { used: 0, ..stats }).is_ok() {
            // Only when nobody else has it open (else check_idle below says
            // so), since their data would go too. CIRCBUF_RESET needs write
            // access; this writer comes and goes before any reader of ours
            // opens, so no end of file is affected.
            Device::open(path, OpenOptions::new().write(true).nonblocking(true))
                .and_then(|writer| writer.reset())
                .map_err(setup)?;
        }
        // circbuf's largest ring is 64 MiB, which fits any usize.
        let capacity = stats.capacity as usize;
        check_idle(path, &probe.stats().map_err(setup)?).map_err(Error::Setup)?;
        Ok(Channel::Circbuf { probe, capacity })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Circbuf { .. } => "circbuf",
            Channel::Pipe(_) => "pipe",
        }
    }

    /// Opens `ratio.readers` blocking read ends, then `ratio.writers`
    /// blocking write ends, and returns both in that order.
    ///
    /// The order matters on circbuf: a reader sees end of file only for
    /// writers that were open when it opened or came later, so readers
    /// opened first end once the writers of this run have closed. A pipe
    /// does not care, but gets the same order so both runs are alike.
    pub fn open(&self, ratio: Ratio) -> Result<(Vec<Endpoint>, Vec<Endpoint>), Error> {
        let failed = |what| failed(what, Error::Run);
        let (read_end, write_end) = match self {
            Channel::Circbuf { probe, .. } => {
                let path = probe.path();
                let open = |n: u32, options: &mut FileOptions| {
                    (0..n)
                        .map(|_| Ok(Endpoint(options.open(path)?.into())))
                        .collect::<io::Result<Vec<_>>>()
                        .map_err(|e| Error::Run(format!("{}: open: {e}", path.display())))
                };
                let readers = open(ratio.readers, FileOptions::new().read(true))?;
                let writers = open(ratio.writers, FileOptions::new().write(true))?;
                return Ok((readers, writers));
            }
            Channel::Pipe(size) => {
                let ends = pipe_with(PipeFlags::CLOEXEC).map_err(failed("pipe: pipe2"))?;
                let actual = fcntl_setpipe_size(&ends.1, size.requested)
                    .map_err(failed("pipe: F_SETPIPE_SZ"))?;
                let earlier = size.actual;
                if actual != earlier {
                    let gave = format!("gave {actual} bytes, earlier pipes had {earlier}");
                    return Err(Error::Run(format!("pipe: F_SETPIPE_SZ {gave}")));
                }
                ends
            }
        };
        let copies = |end: &OwnedFd, n: u32| {
            (0..n)
                .map(|_| fcntl_dupfd_cloexec(end, 0).map(Endpoint))
                .collect::<Result<Vec<_>, _>>()
                .map_err(failed("pipe: F_DUPFD_CLOEXEC"))
        };
        // The originals close on return, so the pipe's end of file comes
        // when the last writer thread closes its copy.
        let readers = copies(&read_end, ratio.readers)?;
        Ok((readers, copies(&write_end, ratio.writers)?))
    }

    /// circbuf's counters now; `None` for a pipe, which has none.
    pub fn stats(&self) -> Result<Option<Stats>, Error> {
        match self {
            Channel::Circbuf { probe, .. } => Ok(Some(probe.stats()?)),
            Channel::Pipe(_) => Ok(None),
        }
    }

    /// Checks that circbuf is idle, as a run must start (see
    /// [`check_idle`]); a pipe always is.
    pub fn check_idle(&self) -> Result<(), Error> {
        let Channel::Circbuf { probe, .. } = self else {
            return Ok(());
        };
        check_idle(probe.path(), &probe.stats()?).map_err(Error::Run)
    }
}

/// Fails when the device holds data or files other than the probe have it
/// open: other readers would take data this run counts on, other writers
/// would add data and hold off end of file.
fn check_idle(path: &Path, stats: &Stats) -> Result<(), String> {
    let (path, others) = (path.display(), stats.readers.saturating_sub(1));
    if others > 0 || stats.writers > 0 {
        let writers = stats.writers;
        Err(format!(
            "{path}: busy: {others} other reader(s) and {writers} writer(s) have it open"
        ))
    } else if stats.used > 0 {
        let used = stats.used;
        Err(format!(
            "{path}: holds {used} bytes; read them out or pass --reset to discard them"
        ))
    } else {
        Ok(())
    }
}

/// A failed call, as an error of `kind` that names it: `what: strerror`.
fn failed(what: &'static str, kind: fn(String) -> Error) -> impl Fn(Errno) -> Error {
    move |e| kind(format!("{what}: {}", io::Error::from(e)))
}

impl Endpoint {
    /// Reads up to `buf.len()` bytes, blocking while the channel is empty;
    /// `Ok(0)` is end of file.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Error> {
        retry_on_intr(|| rustix::io::read(&self.0, &mut *buf)).map_err(failed("read", Error::Run))
    }

    /// Writes all of `buf`, blocking while the channel is full, and returns
    /// the number of write calls it took.
    pub fn write_all(&self, buf: &[u8]) -> Result<u64, Error> {
        let (mut sent, mut calls) = (0, 0);
        while sent < buf.len() {
            let write = || rustix::io::write(&self.0, &buf[sent..]);
            match retry_on_intr(write).map_err(failed("write", Error::Run))? {
                0 => return Err(Error::Run("write stored nothing".into())),
                n => sent += n,
            }
            calls += 1;
        }
        Ok(calls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_is_sized_to_at_least_the_capacity() {
        let size = PipeSize::probe(65536).unwrap();
        assert_eq!(
            size,
            PipeSize {
                requested: 65536,
                actual: 65536
            }
        );
        let channel = Channel::Pipe(size);
        assert_eq!(channel.kind(), "pipe");
        assert_eq!(channel.stats(), Ok(None));
        assert_eq!(channel.check_idle(), Ok(()));
    }

    #[test]
    fn tiny_capacities_round_up_to_a_page() {
        let size = PipeSize::probe(1).unwrap();
        assert_eq!(size.requested, 1);
        assert!(size.actual >= 4096, "{size:?}");
    }

    #[test]
    fn every_thread_gets_its_own_end_and_eof_follows_the_last_writer() {
        let channel = Channel::Pipe(PipeSize::probe(4096).unwrap());
        let (readers, mut writers) = channel.open(Ratio::new(2, 3)).unwrap();
        assert_eq!(readers.len(), 3);
        assert_eq!(writers.len(), 2);
        assert_eq!(writers[0].write_all(b"hello ").unwrap(), 1);
        assert_eq!(writers[1].write_all(b"world").unwrap(), 1);
        let mut buf = [0; 11];
        assert_eq!(readers[2].read(&mut buf).unwrap(), 11);
        assert_eq!(&buf, b"hello world");
        writers.pop();
        writers[0].write_all(b"!").unwrap();
        drop(writers);
        let mut rest = [0; 4];
        assert_eq!(readers[0].read(&mut rest).unwrap(), 1);
        assert_eq!(readers[1].read(&mut rest).unwrap(), 0);
        assert_eq!(readers[0].read(&mut rest).unwrap(), 0);
    }

    #[test]
    fn a_missing_device_cannot_be_set_up() {
        let err = Channel::circbuf(Path::new("/nonexistent/circbuf"), false).unwrap_err();
        assert_eq!(
            err,
            Error::Setup(
                "/nonexistent/circbuf: open: No such file or directory \
                 (is the circbuf module loaded?)"
                    .into()
            )
        );
    }

    #[test]
    fn other_openers_make_the_device_busy() {
        let stats = |readers, writers| Stats {
            readers,
            writers,
            ..Stats::default()
        };
        let path = Path::new("/dev/circbuf");
        assert_eq!(check_idle(path, &stats(1, 0)), Ok(()));
        assert_eq!(
            check_idle(
                path,
                &Stats {
                    used: 5,
                    ..stats(1, 0)
                }
            ),
            Err(
                "/dev/circbuf: holds 5 bytes; read them out or pass --reset to discard them".into()
            )
        );
        assert_eq!(
            check_idle(path, &stats(3, 1)),
            Err("/dev/circbuf: busy: 2 other reader(s) and 1 writer(s) have it open".into())
        );
    }
}
