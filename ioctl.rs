// SPDX-License-Identifier: GPL-2.0

//! The ioctl commands of circbuf's devices (numbers as in
//! `include/uapi/linux/circbuf.h`) and their dispatch.

use crate::{
    rules::{self, Mode, Source},
    stats::{Stats, UapiStats, UapiStatsV1},
};
use kernel::{
    ioctl::{_IO, _IOR, _IOW},
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

/// The ioctl "magic" of circbuf, unused in
/// Documentation/userspace-api/ioctl/ioctl-number.rst.
const MAGIC: u32 = 0xC1;

/// Fills a `struct circbuf_stats`.
pub(crate) const CIRCBUF_GET_STATS: u32 = _IOR::<UapiStats>(MAGIC, 0x01);
/// Fills the first fourteen fields of a `struct circbuf_stats`: the number
/// programs built before the source fields were added ask with.
pub(crate) const CIRCBUF_GET_STATS_V1: u32 = _IOR::<UapiStatsV1>(MAGIC, 0x01);
/// Discards the content; needs write access.
pub(crate) const CIRCBUF_RESET: u32 = _IO(MAGIC, 0x02);
/// Sets the mode from a `__u32` `CIRCBUF_MODE_*`; needs write access.
pub(crate) const CIRCBUF_SET_MODE: u32 = _IOW::<u32>(MAGIC, 0x03);
/// Starts, restarts or stops the source from a `struct circbuf_source`
/// (two `__u32`: the source, the rate); needs write access.
pub(crate) const CIRCBUF_SET_SOURCE: u32 = _IOW::<[u32; 2]>(MAGIC, 0x04);
/// Takes in the mapped consumer's head and wakes the writers waiting for room.
pub(crate) const CIRCBUF_WAKE_WRITERS: u32 = _IO(MAGIC, 0x05);
/// The bytes waiting to be read, as an `int`, as on pipes and sockets.
const FIONREAD: u32 = crate::compat::FIONREAD;

/// What the ioctl commands do to a device.
pub(crate) trait Controls {
    /// A consistent snapshot of the statistics.
    fn stats(&self) -> Stats;
    /// Discards the content and wakes what waits for room.
    fn reset(&self) -> Result;
    /// Switches what writes do when the ring is full.
    fn set_mode(&self, mode: Mode) -> Result;
    /// Starts the source at `rate_hz` (already in range), or stops it.
    fn set_source(&self, source: Source, rate_hz: u32) -> Result;
    /// The number of bytes waiting to be read.
    fn used(&self) -> usize;
    /// Answers the mapped consumer's writers' flag.
    fn wake_writers(&self) -> Result;
}

/// Runs ioctl `cmd` with argument `arg` on `dev`, for a file with or
/// without write access.
pub(crate) fn dispatch(
    dev: &impl Controls,
    can_write: bool,
    cmd: u32,
    arg: usize,
) -> Result<isize> {
    let arg = UserPtr::from_addr(arg);
    let needs_write = matches!(cmd, CIRCBUF_RESET | CIRCBUF_SET_MODE | CIRCBUF_SET_SOURCE);
    if needs_write && !can_write {
        return Err(EBADF);
    }
    match cmd {
        CIRCBUF_GET_STATS => {
            let stats = dev.stats().to_uapi();
            UserSlice::new(arg, size_of::<UapiStats>())
                .writer()
                .write(&stats)?;
        }
        CIRCBUF_GET_STATS_V1 => {
            let stats = dev.stats().to_uapi();
            let first: UapiStatsV1 = core::array::from_fn(|field| stats[field]);
            UserSlice::new(arg, size_of::<UapiStatsV1>())
                .writer()
                .write(&first)?;
        }
        CIRCBUF_RESET => dev.reset()?,
        CIRCBUF_WAKE_WRITERS => dev.wake_writers()?,
        CIRCBUF_SET_MODE => {
            let value: u32 = UserSlice::new(arg, size_of::<u32>()).reader().read()?;
            dev.set_mode(Mode::from_uapi(value.into()).ok_or(EINVAL)?)?;
        }
        CIRCBUF_SET_SOURCE => {
            let [source, rate_hz]: [u32; 2] =
                UserSlice::new(arg, size_of::<[u32; 2]>()).reader().read()?;
            let source = Source::from_uapi(source.into()).ok_or(EINVAL)?;
            if source == Source::Thermal && !rules::rate_is_valid(rate_hz.into()) {
                return Err(EINVAL);
            }
            dev.set_source(source, rate_hz)?;
        }
        FIONREAD => {
            // The capacity is limited at load so that this cannot overflow.
            let used = i32::try_from(dev.used()).map_err(|_| EOVERFLOW)?;
            UserSlice::new(arg, size_of::<i32>())
                .writer()
                .write(&used)?;
        }
        _ => return Err(ENOTTY),
    }
    Ok(0)
}
