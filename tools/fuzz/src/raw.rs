// SPDX-License-Identifier: GPL-2.0

//! The system calls that take raw pointers: reads, writes and ioctls handed
//! deliberately bad user memory, and ioctls whose command is chosen at run
//! time; with the guarded mapping whose tail faults.
//!
//! Every function here is safe to call: the memory it hands the kernel is
//! either memory the kernel cannot touch (address 0, a kernel address, a
//! `PROT_NONE` page) or memory lent for the call through a `&mut` borrow of
//! at least the size the call may write. The kernel checks every user
//! pointer and reports a fault as `EFAULT` or a short count; it never
//! writes outside the range passed.

use std::ffi::c_void;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr;

use rustix::io::Errno;
use rustix::mm::{mmap_anonymous, mprotect, munmap, MapFlags, MprotectFlags, ProtFlags};

/// An address in the kernel's half of a 64-bit address space (the start of
/// the x86-64 kernel text); `access_ok()` refuses it before any copy.
const KERNEL_ADDRESS: usize = 0xffff_ffff_8100_0000;

/// User memory of which only a prefix is accessible.
///
/// # Invariants
///
/// `base` is a private anonymous mapping of `map_len` bytes owned by this
/// value; `[start, start + accessible)` lies in its read-write part, and
/// the bytes after it, up to the end of the mapping, are `PROT_NONE`.
pub struct Guarded {
    base: *mut c_void,
    map_len: usize,
    start: usize,
    accessible: usize,
}

impl Guarded {
    /// A buffer of `span` bytes of which the first `accessible` (fewer)
    /// can be accessed.
    pub fn new(accessible: usize, span: usize) -> io::Result<Guarded> {
        assert!(accessible < span, "a guarded buffer must fault");
        let page = rustix::param::page_size();
        let rw_len = accessible.div_ceil(page) * page;
        let map_len = rw_len + (span - accessible).div_ceil(page) * page;
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
        };
        if rw_len > 0 {
            // SAFETY: The first `rw_len` bytes of the mapping are ours and
            // nothing refers to them yet.
            unsafe { mprotect(base, rw_len, MprotectFlags::READ | MprotectFlags::WRITE) }?;
        }
        Ok(guarded)
    }

    /// The accessible bytes, to fill before a write or look at after a read.
    pub fn accessible_mut(&mut self) -> &mut [u8] {
        let start = self.base.cast::<u8>().wrapping_add(self.start);
        // SAFETY: By the invariants these bytes are mapped read-write and
        // owned by `self`, which the returned borrow keeps borrowed.
        unsafe { std::slice::from_raw_parts_mut(start, self.accessible) }
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

/// The memory a call is handed.
pub enum Target<'a> {
    /// Memory of this process, at least as large as the call's range.
    Mem(&'a mut [u8]),
    /// Address 0.
    Null,
    /// A kernel address.
    Kernel,
    /// A partly accessible buffer, from its start.
    Guarded(&'a mut Guarded),
}

impl Target<'_> {
    /// The pointer to pass for a range of `len` bytes: one the kernel can
    /// write only within a borrowed buffer (which must cover the range) or
    /// the accessible part of a guarded one.
    fn ptr(&mut self, len: usize) -> *mut c_void {
        match self {
            Target::Mem(mem) => {
                assert!(
                    mem.len() >= len,
                    "a call's buffer is shorter than its range"
                );
                mem.as_mut_ptr().cast()
            }
            Target::Null => ptr::null_mut(),
            Target::Kernel => ptr::without_provenance_mut(KERNEL_ADDRESS),
            Target::Guarded(g) => g.base.cast::<u8>().wrapping_add(g.start).cast(),
        }
    }
}

/// A system call's return value, or the `errno` it set.
fn check(ret: isize) -> Result<usize, Errno> {
    usize::try_from(ret)
        .map_err(|_| Errno::from_io_error(&io::Error::last_os_error()).expect("errno is set"))
}

/// `read(fd, target, len)`.
pub fn read(fd: BorrowedFd<'_>, mut target: Target<'_>, len: usize) -> Result<usize, Errno> {
    let buf = target.ptr(len);
    // SAFETY: See `Target::ptr`: only borrowed memory or the accessible
    // bytes of a guarded buffer can be written; the rest faults.
    check(unsafe { libc::read(fd.as_raw_fd(), buf, len) })
}

/// `write(fd, target, len)`.
pub fn write(fd: BorrowedFd<'_>, mut target: Target<'_>, len: usize) -> Result<usize, Errno> {
    let buf = target.ptr(len);
    // SAFETY: A write only reads user memory, where the kernel finds it
    // mapped; nothing of this process is changed.
    check(unsafe { libc::write(fd.as_raw_fd(), buf, len) })
}

/// `ioctl(fd, cmd, target)` for a command that reads or writes at most
/// `size` bytes at its argument.
pub fn ioctl(
    fd: BorrowedFd<'_>,
    cmd: u32,
    mut target: Target<'_>,
    size: usize,
) -> Result<(), Errno> {
    let arg = target.ptr(size);
    // SAFETY: As for `read`: the command touches at most `size` bytes at
    // `arg`, which the kernel can write only where they are ours to lend.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as _, arg) };
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
        let n = read(zero.as_fd(), Target::Guarded(&mut g), 300).unwrap();
        assert!((1..=100).contains(&n), "{n}");
        assert!(g.accessible_mut()[..n].iter().all(|&b| b == 0));
        let mut none = Guarded::new(0, 10).unwrap();
        assert!(none.accessible_mut().is_empty());
        assert_eq!(
            read(zero.as_fd(), Target::Guarded(&mut none), 10),
            Err(Errno::FAULT)
        );
    }

    #[test]
    fn bad_addresses_fault() {
        let zero = File::open("/dev/zero").unwrap();
        assert_eq!(read(zero.as_fd(), Target::Null, 8), Err(Errno::FAULT));
        assert_eq!(read(zero.as_fd(), Target::Kernel, 8), Err(Errno::FAULT));
        let null = File::options().write(true).open("/dev/null").unwrap();
        // /dev/null never looks at the data, but the VFS checks the range.
        assert_eq!(write(null.as_fd(), Target::Kernel, 8), Err(Errno::FAULT));
        assert_eq!(write(null.as_fd(), Target::Null, 8), Ok(8));
        assert_eq!(read(zero.as_fd(), Target::Mem(&mut [1; 8]), 8), Ok(8));
    }

    #[test]
    fn ioctls_reach_the_file() {
        let null = File::open("/dev/null").unwrap();
        let mut stats = [0u8; 128];
        let got = ioctl(
            null.as_fd(),
            circbuf::CIRCBUF_GET_STATS,
            Target::Mem(&mut stats),
            128,
        );
        assert_eq!(got, Err(Errno::NOTTY));
        assert_eq!(
            ioctl(null.as_fd(), circbuf::CIRCBUF_RESET, Target::Null, 0),
            Err(Errno::NOTTY)
        );
    }
}
