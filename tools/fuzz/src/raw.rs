// SPDX-License-Identifier: GPL-2.0

//! The system calls that take raw pointers: reads, writes and ioctls handed
//! deliberately bad user memory, ioctls whose command is chosen at run time,
//! and the guarded mapping whose tail faults.
//!
//! This is the fuzzer's unsafe code. Every function here is safe to call:
//! the memory it hands the kernel is either memory the kernel cannot touch
//! (address 0, a kernel address, a `PROT_NONE` page), or memory the caller
//! lent for the call through a `&mut` borrow of exactly the size the call
//! may write. The kernel checks every user pointer it is given and reports
//! a fault as `EFAULT` or a short count; it never writes outside the range
//! passed, so nothing of this process is touched except that range.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use rustix::io::Errno;
use rustix::mm::{mmap_anonymous, mprotect, munmap, MapFlags, MprotectFlags, ProtFlags};

/// An address in the kernel's half of a 64-bit address space (the start of
/// the x86-64 kernel text); `access_ok()` refuses it before any copy.
const KERNEL_ADDRESS: usize = 0xffff_ffff_8100_0000;

/// User memory of which only a prefix is accessible: `accessible` mapped,
/// writable bytes followed, up to the end of the call's range, by
/// `PROT_NONE` pages.
///
/// # Invariants
///
/// `base` is a private anonymous mapping of `map_len` bytes owned by this
/// value. `[start, start + accessible)` lies in its read-write part, and
/// `[start + accessible, start + span)` in its `PROT_NONE` part.
pub struct Guarded {
    base: *mut c_void,
    map_len: usize,
    start: usize,
    accessible: usize,
    span: usize,
}

fn round_up(len: usize, page: usize) -> usize {
    len.div_ceil(page) * page
}

impl Guarded {
    /// A buffer of `span` bytes of which the first `accessible` can be
    /// accessed; `accessible` must be less than `span`.
    pub fn new(accessible: usize, span: usize) -> io::Result<Guarded> {
        assert!(accessible < span, "a guarded buffer must fault");
        let page = rustix::param::page_size();
        let rw_len = round_up(accessible, page);
        let map_len = rw_len + round_up(span - accessible, page);
        // SAFETY: A fresh anonymous mapping at an address of the kernel's
        // choosing aliases no existing memory.
        let base = unsafe {
            mmap_anonymous(
                ptr::null_mut(),
                map_len,
                ProtFlags::empty(),
                MapFlags::PRIVATE,
            )
        }?;
        // Owned from here on, so that a failing mprotect still unmaps it.
        let guarded = Guarded {
            base,
            map_len,
            start: rw_len - accessible,
            accessible,
            span,
        };
        if rw_len > 0 {
            // SAFETY: The first `rw_len` bytes of the mapping are ours and
            // nothing refers to them yet.
            unsafe { mprotect(base, rw_len, MprotectFlags::READ | MprotectFlags::WRITE) }?;
        }
        Ok(guarded)
    }

    /// The accessible bytes, to fill before a write or read after a read.
    pub fn accessible_mut(&mut self) -> &mut [u8] {
        // SAFETY: By the invariants these bytes are mapped read-write and
        // owned by `self`, which the returned borrow keeps borrowed.
        unsafe {
            std::slice::from_raw_parts_mut(self.base.cast::<u8>().add(self.start), self.accessible)
        }
    }

    fn ptr(&mut self) -> *mut c_void {
        // The offset stays inside the mapping (see the invariants).
        self.base.cast::<u8>().wrapping_add(self.start).cast()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: The mapping is owned by `self` and no borrow of it can
        // outlive `self`.
        let unmapped = unsafe { munmap(self.base, self.map_len) };
        unmapped.expect("munmap of a mapping this process made");
    }
}

/// The memory a read or write is handed.
pub enum Target<'a> {
    /// `len` bytes at address 0.
    Null(usize),
    /// `len` bytes at a kernel address.
    Kernel(usize),
    /// A partly accessible buffer, for its whole span.
    Guarded(&'a mut Guarded),
}

impl Target<'_> {
    /// The pointer and length to pass. The kernel writes, at most, the
    /// accessible bytes of a guarded buffer; the other targets cannot be
    /// accessed at all.
    fn raw(&mut self) -> (*mut c_void, usize) {
        match self {
            Target::Null(len) => (ptr::null_mut(), *len),
            Target::Kernel(len) => (ptr::without_provenance_mut(KERNEL_ADDRESS), *len),
            Target::Guarded(g) => {
                let span = g.span;
                (g.ptr(), span)
            }
        }
    }
}

/// A system call's return value, or the `errno` it set.
fn check(ret: isize) -> Result<usize, Errno> {
    usize::try_from(ret).map_err(|_| {
        let errno = io::Error::last_os_error().raw_os_error();
        Errno::from_raw_os_error(errno.expect("a failed system call sets errno"))
    })
}

/// `read(fd, target, len)`.
pub fn read(fd: BorrowedFd<'_>, mut target: Target<'_>) -> Result<usize, Errno> {
    let (buf, len) = target.raw();
    // SAFETY: See `Target::raw`: only the accessible bytes of a guarded
    // buffer, mapped and exclusively borrowed for the call, can be written;
    // every other byte of the range faults in the kernel.
    check(unsafe { libc::read(fd.as_raw_fd(), buf, len) })
}

/// `write(fd, target, len)`.
pub fn write(fd: BorrowedFd<'_>, mut target: Target<'_>) -> Result<usize, Errno> {
    let (buf, len) = target.raw();
    // SAFETY: A write only reads user memory, and only where the kernel
    // finds it mapped; nothing of this process is changed.
    check(unsafe { libc::write(fd.as_raw_fd(), buf, len) })
}

/// The ioctls that fill a caller's buffer.
#[derive(Clone, Copy)]
pub enum Filler {
    /// `CIRCBUF_GET_STATS`, which fills `STATS_SIZE` bytes.
    GetStats,
    /// `FIONREAD`, which fills an `int`.
    Fionread,
}

impl Filler {
    fn cmd(self) -> u32 {
        match self {
            Filler::GetStats => circbuf::CIRCBUF_GET_STATS,
            Filler::Fionread => libc::FIONREAD as u32,
        }
    }

    fn size(self) -> usize {
        match self {
            Filler::GetStats => crate::expect::STATS_SIZE,
            Filler::Fionread => crate::expect::FIONREAD_SIZE,
        }
    }
}

/// Where an ioctl's result goes.
pub enum Arg<'a> {
    /// Memory of this process, at least as large as the result.
    Mem(&'a mut [u8]),
    /// Memory the kernel cannot fully access.
    Bad(Target<'a>),
}

/// `ioctl(fd, filler, arg)`.
pub fn ioctl_fill(fd: BorrowedFd<'_>, filler: Filler, arg: Arg<'_>) -> Result<(), Errno> {
    let ptr = match arg {
        Arg::Mem(mem) => {
            assert!(mem.len() >= filler.size(), "ioctl buffer too small");
            mem.as_mut_ptr().cast::<c_void>()
        }
        Arg::Bad(mut target) => target.raw().0,
    };
    // SAFETY: The command writes `filler.size()` bytes at `ptr`: either
    // memory exclusively borrowed for the call and at least that large, or
    // memory of which the kernel can only write the accessible bytes of a
    // guarded buffer.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), filler.cmd() as _, ptr) };
    check(ret as isize).map(drop)
}

/// `ioctl(fd, cmd, NULL)`: for `CIRCBUF_RESET` and unknown commands.
pub fn ioctl_null(fd: BorrowedFd<'_>, cmd: u32) -> Result<(), Errno> {
    // SAFETY: With a null argument the kernel cannot read or write any
    // memory of this process, whatever the command.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as _, ptr::null_mut::<c_void>()) };
    check(ret as isize).map(drop)
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::fd::AsFd;

    use super::*;

    #[test]
    fn guarded_buffer_copies_up_to_the_guard() {
        let zero = File::open("/dev/zero").unwrap();
        let mut g = Guarded::new(100, 300).unwrap();
        g.accessible_mut().fill(0xaa);
        let n = read(zero.as_fd(), Target::Guarded(&mut g)).unwrap();
        assert!((1..=100).contains(&n), "{n}");
        assert!(g.accessible_mut()[..n].iter().all(|&b| b == 0));

        let mut none = Guarded::new(0, 10).unwrap();
        assert!(none.accessible_mut().is_empty());
        assert_eq!(
            read(zero.as_fd(), Target::Guarded(&mut none)),
            Err(Errno::FAULT)
        );
    }

    #[test]
    fn bad_addresses_fault() {
        let zero = File::open("/dev/zero").unwrap();
        assert_eq!(read(zero.as_fd(), Target::Null(8)), Err(Errno::FAULT));
        assert_eq!(read(zero.as_fd(), Target::Kernel(8)), Err(Errno::FAULT));
        let null = File::options().write(true).open("/dev/null").unwrap();
        // /dev/null never looks at the data, but the VFS checks the range.
        assert_eq!(write(null.as_fd(), Target::Kernel(8)), Err(Errno::FAULT));
        assert_eq!(write(null.as_fd(), Target::Null(8)), Ok(8));
    }

    #[test]
    fn ioctls_reach_the_file() {
        let null = File::open("/dev/null").unwrap();
        let mut stats = [0u8; crate::expect::STATS_SIZE];
        assert_eq!(
            ioctl_fill(null.as_fd(), Filler::GetStats, Arg::Mem(&mut stats)),
            Err(Errno::NOTTY)
        );
        assert_eq!(
            ioctl_null(null.as_fd(), circbuf::CIRCBUF_RESET),
            Err(Errno::NOTTY)
        );
    }
}
