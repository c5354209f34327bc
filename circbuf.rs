// SPDX-License-Identifier: GPL-2.0

//! circbuf: a bounded, pipe-like byte ring in kernel memory at `/dev/circbuf`,
//! and a ring of samples a timer in the kernel records at
//! `/dev/circbuf_telemetry`.
//!
//! This crate root owns the module: its parameters and their validation,
//! the two device registrations and the debugfs statistics, and the file
//! operations of an open file of `/dev/circbuf`, which hand over to
//! [`device::Circbuf`]; `telemetry.rs` has those of the telemetry device.
//! The semantics are described in `docs/semantics.md`.

mod compat;
mod device;
mod fileops;
mod ioctl;
mod mapped;
mod mapping;
mod pages;
mod records;
mod ring;
mod rules;
mod sample_ring;
mod sensor;
mod spsc;
mod stats;
mod telemetry;
mod waitqueue;
mod work_flush;

use device::{Access, Circbuf};
use fileops::{Registration, StreamFile};
use ioctl::Controls;
use kernel::{
    debugfs, fmt,
    fs::{
        file::flags::{O_ACCMODE, O_RDONLY, O_RDWR, O_WRONLY},
        File,
    },
    iov::{IovIterDest, IovIterSource},
    mm::virt::VmaNew,
    prelude::*,
    seq_file::SeqFile,
    seq_print,
    sync::Arc,
};
use rules::{Mode, Source, WriterWatch};
use stats::FileCounters;
use telemetry::{Telemetry, TelemetryFile};
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
        telemetry_samples: u32 {
            default: 1024,
            description: "Capacity of the telemetry ring in samples, 1 to 1048576",
        },
        telemetry_rate: u32 {
            default: 1000,
            description: "Sample rate of the telemetry source in Hz, 1 to 10000",
        },
        telemetry_seed: u64 {
            default: 1,
            description: "Seed of the simulated sensor's random walk",
        },
        telemetry_source: u32 {
            default: 0,
            description: "Telemetry source running at load: 0 none (default), 1 thermal",
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

/// The largest `telemetry_samples` accepted: 24 MiB of samples.
const MAX_TELEMETRY_SAMPLES: u32 = 1 << 20;

/// Reads and checks the telemetry parameters: the capacity in samples, the
/// rate, and the source to start at load.
fn telemetry_from_parameters() -> Result<(usize, u32, Source)> {
    let samples = compat::parameter(&module_parameters::telemetry_samples);
    if samples == 0 || samples > MAX_TELEMETRY_SAMPLES {
        pr_err!("telemetry_samples={samples} is out of range: it must be 1 to {MAX_TELEMETRY_SAMPLES}\n");
        return Err(EINVAL);
    }
    let rate = compat::parameter(&module_parameters::telemetry_rate);
    if !rules::rate_is_valid(rate.into()) {
        pr_err!(
            "telemetry_rate={rate} is out of range: it must be {} to {} Hz\n",
            rules::RATE_MIN,
            rules::RATE_MAX
        );
        return Err(EINVAL);
    }
    let requested = compat::parameter(&module_parameters::telemetry_source);
    let source = Source::from_uapi(requested.into()).ok_or_else(|| {
        pr_err!(
            "telemetry_source={requested} is not a source: it must be 0 (none) or 1 (thermal)\n"
        );
        EINVAL
    })?;
    // MAX_TELEMETRY_SAMPLES fits in usize on every architecture Rust supports.
    Ok((samples as usize, rate, source))
}

struct CircbufModule {
    // Fields drop in this order: no new opens, and no timer running once
    // the telemetry device goes; then no statistics file.
    _telemetry: Pin<KBox<Registration<TelemetryFile>>>,
    _registration: Pin<KBox<Registration<OpenFile>>>,
    _stats_file: Pin<KBox<debugfs::File<Arc<Circbuf>>>>,
    _debugfs_dir: debugfs::Dir,
}

impl kernel::Module for CircbufModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let capacity = capacity_from_parameter()?;
        let mode = mode_from_parameter()?;
        let (samples, rate, source) = telemetry_from_parameters()?;
        let seed = compat::parameter(&module_parameters::telemetry_seed);
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
        let telemetry = Telemetry::new(samples, seed, rate)
            .and_then(|init| Arc::pin_init(init, GFP_KERNEL))
            .inspect_err(|_| pr_err!("cannot allocate a telemetry ring of {samples} samples\n"))?;
        if source == Source::Thermal {
            telemetry.start(rate)?;
        }
        let registration = KBox::pin_init(Registration::register(c"circbuf", device), GFP_KERNEL)?;
        let telemetry = KBox::pin_init(
            Registration::register(c"circbuf_telemetry", telemetry),
            GFP_KERNEL,
        )?;

        pr_info!(
            "/dev/circbuf ready, {capacity} bytes; /dev/circbuf_telemetry, {samples} samples\n"
        );
        Ok(Self {
            _telemetry: telemetry,
            _registration: registration,
            _stats_file: stats_file,
            _debugfs_dir: debugfs_dir,
        })
    }
}

/// The state of one open file of `/dev/circbuf`.
struct OpenFile {
    device: Arc<Circbuf>,
    /// The file's identity for the device, never 0.
    id: u64,
    access: Access,
    watch: WriterWatch,
    counters: FileCounters,
}

/// What the file's open mode allows, from its `O_ACCMODE` bits.
pub(crate) fn access_of(file: &File) -> Access {
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
                id: 0,
                access,
                watch: WriterWatch::new(0, false, 0),
                counters: FileCounters::new(),
            },
            GFP_KERNEL,
        )?;
        (this.watch, this.id) = device.open(access);
        Ok(this)
    }

    fn release(this: KBox<Self>, _file: &File) {
        this.device.release(this.id, this.access);
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
        this.device
            .poll(file, this.id, table, this.access, &this.watch)
    }

    fn mmap(this: &Self, _file: &File, pgoff: usize, vma: &VmaNew) -> Result {
        this.device.mmap(this.id, this.access, pgoff, vma)
    }

    fn ioctl(this: &Self, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        ioctl::dispatch(&*this.device, this.access.write, cmd, arg)
    }

    fn show_fdinfo(this: &Self, m: &SeqFile) {
        seq_print!(m, "{}", this.counters);
    }

    fn show_attribute(
        device: &Arc<Circbuf>,
        name: &[u8],
        out: &mut dyn core::fmt::Write,
    ) -> core::fmt::Result {
        device.stats().show_attribute(name, out)
    }
}
