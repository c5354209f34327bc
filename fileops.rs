// SPDX-License-Identifier: GPL-2.0

//! A misc device whose files are streams that can be polled. Its unsafe
//! code, with `waitqueue.rs` and the two copies in `spsc.rs`, is all the
//! driver has.
//!
//! `kernel::miscdevice::MiscDevice` has no `poll`, so, as Binder does, this
//! file builds its own `struct file_operations` and registers its own
//! `struct miscdevice`. Each `extern "C"` shim turns the raw pointers it is
//! given into safe types (`File`, our `PollTable`, `IovIterDest`, the borrowed
//! private data) and calls the matching method of [`StreamFile`]; the rest
//! of the driver never sees a raw pointer.
//!
//! Each device also gets read-only sysfs attributes, the ones named in
//! [`ATTRIBUTE_NAMES`], which [`StreamFile::show_attribute`] fills.
//!
//! Files are opened with `stream_open()`: there is no file position, so
//! `lseek`, `pread` and `pwrite` fail with `ESPIPE`, as on a pipe. They are
//! also marked `FMODE_NOWAIT`, as pipes are, since reads and writes honour
//! `IOCB_NOWAIT`.

use crate::{stats::ATTRIBUTE_NAMES, waitqueue::PollTable};
use core::{fmt, marker::PhantomData};
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_char, c_int, c_long, c_uint, c_ulong},
    fs::{file::flags::O_NONBLOCK, File},
    iov::{IovIterDest, IovIterSource},
    mm::virt::VmaNew,
    prelude::*,
    seq_file::SeqFile,
    types::{ForeignOwnable, Opaque},
};

/// The per-open-file side of a stream device.
pub(crate) trait StreamFile: Sized {
    /// How the per-file state is stored in `file->private_data`.
    type Ptr: ForeignOwnable + Send + Sync;

    /// State shared by all files of the device, owned by the registration.
    type Shared: Send + Sync;

    /// Creates the state of a newly opened file.
    fn open(shared: &Self::Shared, file: &File) -> Result<Self::Ptr>;

    /// Tears down the state of a file on its last close.
    fn release(this: Self::Ptr, file: &File);

    /// `read(2)` and friends; `nonblock` is `O_NONBLOCK` or `IOCB_NOWAIT`.
    fn read_iter(
        this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        dest: &mut IovIterDest<'_>,
        nonblock: bool,
    ) -> Result<usize>;

    /// `write(2)` and friends; `nonblock` is `O_NONBLOCK` or `IOCB_NOWAIT`.
    fn write_iter(
        this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        source: &mut IovIterSource<'_>,
        nonblock: bool,
    ) -> Result<usize>;

    /// Registers `table` with the wait queues and returns the ready mask.
    fn poll(
        this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        file: &File,
        table: PollTable<'_>,
    ) -> u32;

    /// `mmap(2)` of the area at page offset `pgoff` into `vma`, which is
    /// being set up.
    fn mmap(
        this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        file: &File,
        pgoff: usize,
        vma: &VmaNew,
    ) -> Result;

    /// `ioctl(2)`; 32-bit callers arrive here too, through `compat_ptr_ioctl`.
    fn ioctl(
        this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        file: &File,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;

    /// Adds this file's lines to `/proc/PID/fdinfo/FD`.
    fn show_fdinfo(this: <Self::Ptr as ForeignOwnable>::Borrowed<'_>, m: &SeqFile);

    /// Writes the value of the device's sysfs attribute `name`, one of
    /// [`ATTRIBUTE_NAMES`].
    fn show_attribute(shared: &Self::Shared, name: &[u8], out: &mut dyn fmt::Write) -> fmt::Result;
}

/// A registered misc device whose files are `T`.
///
/// # Invariants
///
/// `misc` holds a `struct miscdevice` registered with `misc_register()`
/// whose `fops` is `Shims::<T>::FOPS`; it is deregistered exactly once, in
/// `drop`, before `shared` is dropped.
#[pin_data(PinnedDrop)]
pub(crate) struct Registration<T: StreamFile> {
    shared: T::Shared,
    #[pin]
    misc: Opaque<bindings::miscdevice>,
}

// SAFETY: `misc_register()` and `misc_deregister()` may be called from any
// thread, and `shared` is `Send`.
unsafe impl<T: StreamFile> Send for Registration<T> {}
// SAFETY: `&self` only gives out `&T::Shared`, which is `Sync`; `misc` is
// only touched by the misc core, which does its own locking.
unsafe impl<T: StreamFile> Sync for Registration<T> {}

impl<T: StreamFile> Registration<T> {
    /// Registers `/dev/NAME`; opens may arrive as soon as this returns.
    pub(crate) fn register(name: &'static CStr, shared: T::Shared) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // Initialised before `misc`, so it is ready for the first open.
            shared,
            misc <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                let mut raw: bindings::miscdevice = pin_init::zeroed();
                raw.minor = bindings::MISC_DYNAMIC_MINOR as c_int;
                raw.name = name.as_char_ptr();
                raw.fops = &Shims::<T>::FOPS;
                let groups: &'static _ = &Shims::<T>::GROUPS;
                raw.groups = core::ptr::from_ref(groups).cast_mut().cast();
                // SAFETY: `slot` is valid for writes while the initialiser runs.
                unsafe { slot.write(raw) };
                // SAFETY: `slot` holds a fully initialised `miscdevice` whose
                // name and fops are `'static`. It is pinned, and `drop`
                // deregisters it before its memory goes away.
                to_result(unsafe { bindings::misc_register(slot) })
            }),
        })
    }

    /// The state shared by all files.
    pub(crate) fn shared(&self) -> &T::Shared {
        &self.shared
    }
}

#[pinned_drop]
impl<T: StreamFile> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants `misc` is registered, and this is
        // the only place that deregisters it.
        unsafe { bindings::misc_deregister(self.misc.get()) };
    }
}

/// `FMODE_NOWAIT` from <linux/fs.h>, whose cast bindgen cannot evaluate;
/// build_checks.c fails the build if this value is wrong.
const FMODE_NOWAIT: bindings::fmode_t = 1 << 27;

/// `core::fmt::Write` into the page sysfs gives `show()`, which keeps the
/// last byte for the terminating NUL the page starts zeroed with.
struct PageWriter<'a> {
    page: &'a mut [u8],
    len: usize,
}

impl fmt::Write for PageWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end >= self.page.len() {
            return Err(fmt::Error);
        }
        self.page[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A byte count or a negative errno, as `read_iter` and `write_iter` return.
fn ssize(result: Result<usize>) -> isize {
    match result {
        // The VFS caps a single I/O at MAX_RW_COUNT, far below isize::MAX.
        Ok(count) => count as isize,
        Err(err) => err.to_errno() as isize,
    }
}

/// The `file_operations` of a `Registration<T>` and its shims.
struct Shims<T>(PhantomData<T>);

impl<T: StreamFile> Shims<T> {
    const FOPS: bindings::file_operations = bindings::file_operations {
        owner: crate::compat::this_module(),
        open: Some(Self::open),
        release: Some(Self::release),
        read_iter: Some(Self::read_iter),
        write_iter: Some(Self::write_iter),
        poll: Some(Self::poll),
        mmap: Some(Self::mmap),
        unlocked_ioctl: Some(Self::ioctl),
        // The ioctl arguments have one layout for 32- and 64-bit callers;
        // only the pointer needs converting.
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: bindings::compat_ptr_ioctl,
        show_fdinfo: Some(Self::show_fdinfo),
        // Splicing goes through read_iter/write_iter like any other I/O.
        splice_read: Some(bindings::copy_splice_read),
        splice_write: Some(bindings::iter_file_splice_write),
        ..pin_init::zeroed()
    };

    /// One read-only attribute named `name`, shown by [`Self::show`]. Its
    /// other fields, which lockdep adds to `struct attribute`, stay zero, as
    /// in a C `static struct device_attribute`.
    const fn attribute(name: &'static core::ffi::CStr) -> bindings::device_attribute {
        let mut attribute: bindings::device_attribute = pin_init::zeroed();
        attribute.attr.name = name.to_bytes_with_nul().as_ptr();
        attribute.attr.mode = 0o444;
        attribute.__bindgen_anon_1.show_const = Some(Self::show);
        attribute
    }

    const CAPACITY: bindings::device_attribute = Self::attribute(ATTRIBUTE_NAMES[0]);
    const MODE: bindings::device_attribute = Self::attribute(ATTRIBUTE_NAMES[1]);
    const SOURCE: bindings::device_attribute = Self::attribute(ATTRIBUTE_NAMES[2]);
    const RATE: bindings::device_attribute = Self::attribute(ATTRIBUTE_NAMES[3]);

    /// The `attrs` of the group, then null. `attr` is the first field of a
    /// `#[repr(C)]` `device_attribute`, so the attribute's address is its
    /// `attr`'s, which `show()` turns back into the `device_attribute`.
    const ATTRIBUTE_LIST: [*const bindings::attribute; 5] = [
        core::ptr::from_ref(&Self::CAPACITY).cast(),
        core::ptr::from_ref(&Self::MODE).cast(),
        core::ptr::from_ref(&Self::SOURCE).cast(),
        core::ptr::from_ref(&Self::RATE).cast(),
        core::ptr::null(),
    ];

    const GROUP: bindings::attribute_group = {
        let mut group: bindings::attribute_group = pin_init::zeroed();
        group.__bindgen_anon_2.attrs_const = core::ptr::from_ref(&Self::ATTRIBUTE_LIST).cast();
        group
    };

    /// The misc device's `groups`: the one group, then null. The sysfs
    /// core only reads these tables, which are constants.
    const GROUPS: [*const bindings::attribute_group; 2] =
        [core::ptr::from_ref(&Self::GROUP), core::ptr::null()];

    /// Borrows the private data `open` stored in `file`.
    ///
    /// # Safety
    ///
    /// `file` must be a file of a `Registration<T>` between the return of
    /// [`Self::open`] and the start of [`Self::release`].
    unsafe fn private<'a>(file: *mut bindings::file) -> <T::Ptr as ForeignOwnable>::Borrowed<'a> {
        // SAFETY: `file` is valid and `open` stored a `T::Ptr` made with
        // `into_foreign` in `private_data`; `release`, which takes it back,
        // cannot run while the file is used by the caller.
        unsafe { T::Ptr::borrow((*file).private_data) }
    }

    /// Whether this I/O must not sleep.
    ///
    /// # Safety
    ///
    /// `kiocb` must be valid, for a file of a `Registration<T>`.
    unsafe fn nonblocking(kiocb: *mut bindings::kiocb) -> bool {
        // <linux/fs.h> defines IOCB_NOWAIT through a cast bindgen cannot
        // evaluate; build_checks.c fails the build if this value is wrong.
        const IOCB_NOWAIT: c_int = 0x8;
        // SAFETY: `kiocb` is valid for the duration of the call.
        let (filp, ki_flags) = unsafe { ((*kiocb).ki_filp, (*kiocb).ki_flags) };
        // SAFETY: The kiocb holds its file open for the call. `fcntl(F_SETFL)`
        // may change `f_flags` meanwhile, so it is read once, as READ_ONCE
        // and `File::flags()` do.
        let f_flags = unsafe { (&raw const (*filp).f_flags).read_volatile() };
        f_flags & O_NONBLOCK != 0 || ki_flags & IOCB_NOWAIT != 0
    }

    /// # Safety
    ///
    /// Called by the VFS through `misc_open()` on a file being opened.
    unsafe extern "C" fn open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `misc_open()` stores our `struct miscdevice` in
        // `private_data` and keeps it registered during this call; it is the
        // `misc` field of a pinned, live `Registration<T>`.
        let reg = unsafe {
            let misc = Opaque::cast_from((*file).private_data.cast::<bindings::miscdevice>());
            &*kernel::container_of!(misc, Registration<T>, misc)
        };
        // SAFETY: `inode` and `file` are being opened by the VFS.
        let ret = unsafe { bindings::stream_open(inode, file) };
        if ret != 0 {
            return ret;
        }
        // SAFETY: During open the driver may set the file's mode bits. The
        // I/O paths honour IOCB_NOWAIT, which is what FMODE_NOWAIT promises
        // to RWF_NOWAIT callers and io_uring.
        unsafe { (*file).f_mode |= FMODE_NOWAIT };
        // SAFETY: The file is valid for the whole call, and no fdget_pos
        // region is active on it.
        match T::open(reg.shared(), unsafe { File::from_raw_file(file) }) {
            Ok(ptr) => {
                // SAFETY: During open the driver owns `private_data`; every
                // other shim reads it back as a `T::Ptr`.
                unsafe { (*file).private_data = ptr.into_foreign() };
                0
            }
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on the last close of a file `open` succeeded on.
    unsafe extern "C" fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: `open` stored a `T::Ptr` in `private_data` and this is the
        // last use of the file, so ownership can be taken back.
        let this = unsafe { T::Ptr::from_foreign((*file).private_data) };
        // SAFETY: The file is valid for the whole call.
        T::release(this, unsafe { File::from_raw_file(file) });
        0
    }

    /// # Safety
    ///
    /// Called by the VFS with a valid kiocb for an open file and an iterator
    /// over user memory to fill.
    unsafe extern "C" fn read_iter(
        kiocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: The kiocb's file is one of ours and is open, and `iter`
        // is valid for writing for the duration of the call.
        let (this, dest, nonblock) = unsafe {
            (
                Self::private((*kiocb).ki_filp),
                IovIterDest::from_raw(iter),
                Self::nonblocking(kiocb),
            )
        };
        ssize(T::read_iter(this, dest, nonblock))
    }

    /// # Safety
    ///
    /// Called by the VFS with a valid kiocb for an open file and an iterator
    /// over user memory to drain.
    unsafe extern "C" fn write_iter(
        kiocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: The kiocb's file is one of ours and is open, and `iter`
        // is valid for reading for the duration of the call.
        let (this, source, nonblock) = unsafe {
            (
                Self::private((*kiocb).ki_filp),
                IovIterSource::from_raw(iter),
                Self::nonblocking(kiocb),
            )
        };
        ssize(T::write_iter(this, source, nonblock))
    }

    /// # Safety
    ///
    /// Called by the VFS with an open file and a null or valid poll table.
    unsafe extern "C" fn poll(
        file: *mut bindings::file,
        table: *mut bindings::poll_table,
    ) -> bindings::__poll_t {
        // SAFETY: The file is open and valid for the call; the table is null
        // or valid for the call.
        let (this, file, table) = unsafe {
            (
                Self::private(file),
                File::from_raw_file(file),
                PollTable::from_raw(table),
            )
        };
        T::poll(this, file, table)
    }

    /// # Safety
    ///
    /// Called by `mmap_region()` with an open file and a vma it is setting
    /// up for that file.
    unsafe extern "C" fn mmap(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> c_int {
        // SAFETY: The vma is being set up and not yet in the address space,
        // so nothing writes its page offset meanwhile. An unsigned long is
        // as wide as a usize.
        let pgoff = unsafe { (*vma).vm_pgoff };
        // SAFETY: The vma is undergoing its initial setup, with the mmap
        // lock held, for the whole call.
        let area = unsafe { VmaNew::from_raw(vma) };
        // SAFETY: The file is open and valid for the duration of the call,
        // and no fdget_pos region is active on it.
        let (this, file) = unsafe { (Self::private(file), File::from_raw_file(file)) };
        match T::mmap(this, file, pgoff, area) {
            Ok(()) => 0,
            Err(err) => err.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the VFS with an open file.
    unsafe extern "C" fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: The file is open and valid for the duration of the call.
        let (this, file) = unsafe { (Self::private(file), File::from_raw_file(file)) };
        match T::ioctl(this, file, cmd, arg) {
            Ok(ret) => ret as c_long,
            Err(err) => err.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// Called by procfs with an open file and a seq_file it owns for the call.
    unsafe extern "C" fn show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
        // SAFETY: The file is open, and `m` is valid and exclusively ours
        // for the duration of the call.
        let (this, m) = unsafe { (Self::private(file), SeqFile::from_raw(m)) };
        T::show_fdinfo(this, m);
    }

    /// # Safety
    ///
    /// Called by sysfs with the device `misc_register()` created for a
    /// `Registration<T>`, one of that device's attributes, and a zeroed
    /// page to fill.
    unsafe extern "C" fn show(
        dev: *mut bindings::device,
        attr: *const bindings::device_attribute,
        buf: *mut c_char,
    ) -> isize {
        // SAFETY: `dev` is valid for the call.
        let misc = unsafe { bindings::dev_get_drvdata(dev) };
        // SAFETY: `misc_register()` made our `struct miscdevice` the
        // device's driver data. It is the `misc` field of a live, pinned
        // `Registration<T>`: `misc_deregister()`, in its `drop`, removes the
        // attributes and waits for running `show()` calls first.
        let reg = unsafe {
            let misc = Opaque::cast_from(misc.cast::<bindings::miscdevice>());
            &*kernel::container_of!(misc, Registration<T>, misc)
        };
        // SAFETY: `attr` is one of the attributes of `ATTRIBUTE_LIST`, whose
        // names are `'static` C strings.
        let name = unsafe { CStr::from_char_ptr((*attr).attr.name) };
        let len = kernel::page::PAGE_SIZE;
        // SAFETY: sysfs passes a page of `len` bytes, valid for reads and
        // writes, that nothing else touches during the call.
        let page = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len) };
        let mut out = PageWriter { page, len: 0 };
        match T::show_attribute(reg.shared(), name.to_bytes(), &mut out) {
            // At most PAGE_SIZE.
            Ok(()) => out.len as isize,
            Err(_) => ENOSPC.to_errno() as isize,
        }
    }
}
