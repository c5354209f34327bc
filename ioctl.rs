// SPDX-License-Identifier: GPL-2.0

//! The ioctl commands of `/dev/circbuf` (numbers as in
//! `include/uapi/linux/circbuf.h`) and their dispatch.

use crate::{device::Circbuf, rules::Mode, stats::UapiStats};
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
/// Discards the content; needs write access.
pub(crate) const CIRCBUF_RESET: u32 = _IO(MAGIC, 0x02);
/// Sets the mode from a `__u32` `CIRCBUF_MODE_*`; needs write access.
pub(crate) const CIRCBUF_SET_MODE: u32 = _IOW::<u32>(MAGIC, 0x03);
/// The bytes waiting to be read, as an `int`, as on pipes and sockets.
const FIONREAD: u32 = crate::compat::FIONREAD;

/// Runs ioctl `cmd` with argument `arg` for a file with or without write access.
pub(crate) fn dispatch(dev: &Circbuf, can_write: bool, cmd: u32, arg: usize) -> Result<isize> {
    let arg = UserPtr::from_addr(arg);
    match cmd {
        CIRCBUF_GET_STATS => {
            let stats = dev.stats().to_uapi();
            UserSlice::new(arg, size_of::<UapiStats>())
                .writer()
                .write(&stats)?;
        }
        CIRCBUF_RESET => {
            if !can_write {
                return Err(EBADF);
            }
            dev.reset();
        }
        CIRCBUF_SET_MODE => {
            if !can_write {
                return Err(EBADF);
            }
            let value: u32 = UserSlice::new(arg, size_of::<u32>()).reader().read()?;
            dev.set_mode(Mode::from_uapi(value.into()).ok_or(EINVAL)?)?;
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
