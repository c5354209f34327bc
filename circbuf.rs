// SPDX-License-Identifier: GPL-2.0

//! circbuf: a bounded, pipe-like byte ring in kernel memory at `/dev/circbuf`.
//!
//! This crate root owns the module: its `buffer_size` and `mode` parameters
//! and their validation, the device registration and debugfs statistics, and the file
//! operations of an open file, which hand over to [`device::Circbuf`].
//! The semantics are described in `docs/semantics.md`.

mod compat;
mod device;
mod fileops;
mod ioctl;
mod records;
mod ring;
mod rules;
mod spsc;
mod stats;
mod waitqueue;

use device::{Access, Circbuf};
use fileops::{Registration, StreamFile};
use kernel::{
    debugfs, fmt,
    fs::{
        file::flags::{O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY},
        File,
    },
    iov::{IovIterDest, IovIterSource},
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::Arc,
};
use rules::{Mode, WriterWatch};
use stats::FileCounters;
use waitqueue::PollTable;

module! {
    type: CircbufModule,
    name: "circbuf",
    authors: ["The circbuf developers"],
    description: "A bounded, pipe-like byte ring at /dev/circbuf",
    license: "GPL",
    params: {
        buffer_size: u64 {
            default: 4096,
            description: "Capacity of the ring in bytes, 1 to 67108864 (64 MiB)",
        },
        mode: u32 {
            default: 0,
            description: "What writes do when the ring is full: 0 wait (default), 1 overwrite the oldest records",
        },
    },
}

/// The largest `buffer_size` accepted. The ring is kvmalloc'ed once at load;
/// the limit keeps a typo from taking a large share of memory, and keeps
/// `FIONREAD`'s `int` from overflowing.
const MAX_CAPACITY: u64 = 64 << 20;

/// Reads and checks the `buffer_size` parameter.
fn capacity_from_parameter() -> Result<usize> {
    let requested = compat::parameter(&module_parameters::buffer_size);
    if requested == 0 || requested > MAX_CAPACITY {
        pr_err!("buffer_size={requested} is out of range: it must be 1 to {MAX_CAPACITY} bytes\n");
        return Err(EINVAL);
    }
    // MAX_CAPACITY fits in usize on every architecture Rust supports.
    Ok(requested as usize)
}

/// Reads and checks the `mode` parameter.
fn mode_from_parameter() -> Result<Mode> {
    let requested = compat::parameter(&module_parameters::mode);
    Mode::from_uapi(requested.into()).ok_or_else(|| {
        pr_err!("mode={requested} is not a mode: it must be 0 (block) or 1 (overwrite)\n");
        EINVAL
    })
}

struct CircbufModule {
    // Fields drop in this order: no new opens, then no statistics file.
    _registration: Pin<KBox<Registration<OpenFile>>>,
    _stats_file: Pin<KBox<debugfs::File<Arc<Circbuf>>>>,
    _debugfs_dir: debugfs::Dir,
}

impl kernel::Module for CircbufModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let capacity = capacity_from_parameter()?;
        let mode = mode_from_parameter()?;
        let device = Circbuf::new(capacity, mode)
            .and_then(|init| Arc::pin_init(init, GFP_KERNEL))
            .inspect_err(|_| pr_err!("cannot allocate a ring of buffer_size={capacity} bytes\n"))?;

        let debugfs_dir = debugfs::Dir::new(c"circbuf");
        let stats_file = KBox::pin_init(
            debugfs_dir.read_callback_file(c"stats", device.clone(), &|device, f| {
                fmt::Display::fmt(&device.stats(), f)
            }),
            GFP_KERNEL,
        )?;
        let registration = KBox::pin_init(Registration::register(c"circbuf", device), GFP_KERNEL)?;

        pr_info!("/dev/circbuf ready, {capacity} bytes\n");
        Ok(Self {
            _registration: registration,
            _stats_file: stats_file,
            _debugfs_dir: debugfs_dir,
        })
    }
}

/// The state of one open file of `/dev/circbuf`.
struct OpenFile {
    device: Arc<Circbuf>,
    access: Access,
    watch: WriterWatch,
    counters: FileCounters,
}

/// What the file's open mode allows, from its `O_ACCMODE` bits.
fn access_of(file: &File) -> Access {
    let mode = file.flags() & O_ACCMODE;
    Access {
        read: mode == O_RDONLY || mode == O_RDWR,
        write: mode == O_WRONLY || mode == O_RDWR,
    }
}

impl StreamFile for OpenFile {
    type Ptr = KBox<Self>;
    type Shared = Arc<Circbuf>;

    fn open(device: &Arc<Circbuf>, file: &File) -> Result<KBox<Self>> {
        let access = access_of(file);
        // Allocate before accounting, so a failed open leaves no trace.
        let mut this = KBox::new(
            OpenFile {
                device: device.clone(),
                access,
                watch: WriterWatch::new(0, false, 0),
                counters: FileCounters::new(),
            },
            GFP_KERNEL,
        )?;
        this.watch = device.open(access);
        Ok(this)
    }

    fn release(this: KBox<Self>, _file: &File) {
        this.device.release(this.access);
    }

    fn read_iter(this: &Self, dest: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        let read = this.device.read(&this.watch, dest, nonblock)?;
        if read > 0 {
            this.counters.count_read(read);
        }
        Ok(read)
    }

    fn write_iter(this: &Self, source: &mut IovIterSource<'_>, nonblock: bool) -> Result<usize> {
        let written = this.device.write(source, nonblock)?;
        if written > 0 {
            this.counters.count_write(written);
        }
        Ok(written)
    }

    fn poll(this: &Self, file: &File, table: PollTable<'_>) -> u32 {
        this.device.poll(file, table, this.access, &this.watch)
    }

    fn ioctl(this: &Self, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        ioctl::dispatch(&this.device, this.access.write, cmd, arg)
    }

    fn show_fdinfo(this: &Self, m: &SeqFile) {
        seq_print!(m, "{}", this.counters);
    }
}
