// SPDX-License-Identifier: GPL-2.0

//! The telemetry device, `/dev/circbuf_telemetry`: a ring of timestamped
//! samples that a periodic timer takes from a simulated temperature sensor
//! (`sensor.rs`), in hard-IRQ context, and that readers read whole.
//!
//! The timer owns the ring's producer half outright while it runs: the half
//! lives in the timer's own allocation, which the hrtimer core hands to one
//! callback at a time as `&mut`, so the callback takes no lock at all and
//! cannot sleep. Stopping the source cancels the timer, which waits for a
//! running callback, and the half goes back to [`Shared::parked`] for the
//! next start. No user write ever reaches this ring (`write(2)` fails with
//! `EBUSY`), so the kernel source and user writers never share one.
//!
//! A full ring drops its oldest sample for each new one, whole, and counts
//! it: `sample_ring.rs` lets the producer move the head without the
//! readers' lock. A sample's sequence number is its position in the ring,
//! so the gaps a reader sees are exactly the drops counted.
//!
//! Readers share the consumer half behind the reader lock. A read takes
//! samples from the ring into the stash, a kernel buffer, and copies them
//! to user memory from there, so that a copy to user memory that faults,
//! or sleeps, never holds samples the producer may overwrite: whatever the
//! user did not get stays in the stash for the next read.
//!
//! Wake-ups fit the rate: the timer wakes a sleeping reader once per
//! [`WAKE_LATENCY_MS`] worth of samples (every sample below 100 Hz), so
//! a reader sleeps through at most that long after a sample is taken, and
//! a 10 kHz source wakes readers 100 times a second, not 10,000. The timer
//! does not wake them itself: a wait queue's lock is a `spinlock_t`, which
//! sleeps on PREEMPT_RT and so must not be taken in hard-IRQ context
//! (lockdep's "Invalid wait context"). It queues [`Shared::wake`] on a
//! workqueue, whose locks are raw, and the work wakes the readers, as
//! perf's ring buffer hands its wake-ups to irq_work.

use crate::{
    fileops::StreamFile,
    ioctl::{self, Controls},
    ring::{new_sample_ring, TelemetryConsumer, TelemetryProducer, TelemetryRing},
    rules::{Mode, Source},
    sample_ring::SAMPLE_BYTES,
    sensor::{self, RandomWalk},
    stats::{FileCounters, ReadCounters, Stats, WriteCounters},
    waitqueue::{PollTable, WaitQueue},
    work_flush::flush_work,
};
use kernel::{
    alloc::allocator::Kmalloc,
    bindings,
    fs::File,
    impl_has_hr_timer,
    iov::{IovIterDest, IovIterSource},
    mm::virt::VmaNew,
    new_mutex,
    prelude::*,
    seq_file::SeqFile,
    seq_print, static_lock_class,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, Mutex,
    },
    time::{
        hrtimer::{
            BoxHrTimerHandle, HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer,
            HrTimerRestart, RelativeHardMode,
        },
        ClockSource, Delta, Monotonic,
    },
    workqueue::{self, impl_has_work, new_work, Work, WorkItem},
};

/// The events a wake-up of readers signals.
const READABLE: u32 = bindings::POLLIN | bindings::POLLRDNORM;
/// The longest a reader sleeps after a sample it could have read was taken.
pub(crate) const WAKE_LATENCY_MS: u32 = 10;
/// The most samples one read takes out of the ring.
const STASH_SAMPLES: usize = 256;

/// The samples to take between two wake-ups of readers at `rate_hz`.
fn wake_every(rate_hz: u32) -> u32 {
    (rate_hz * WAKE_LATENCY_MS / 1000).max(1)
}

/// What the source owns: lent to the timer while it runs, parked otherwise.
struct SourceState {
    producer: TelemetryProducer,
    walk: RandomWalk,
}

/// What the timer reaches besides its own state.
#[pin_data]
struct Shared {
    #[pin]
    readable: WaitQueue,
    /// Wakes the readers in process context, for the timer.
    #[pin]
    wake: Work<Shared>,
    /// The source's state while no timer owns it.
    #[pin]
    parked: Mutex<Option<SourceState>>,
    /// Samples dropped to make room, or discarded by `RESET`, since load.
    dropped: Atomic<u64>,
}

/// The timer that samples the sensor, in the allocation it owns.
///
/// # Invariants
///
/// `state` is `Some` from the start of the timer until it is dropped.
#[pin_data(PinnedDrop)]
struct Sampler {
    #[pin]
    timer: HrTimer<Self>,
    state: Option<SourceState>,
    shared: Arc<Shared>,
    period: Delta,
    wake_every: u32,
    since_wake: u32,
    first: bool,
}

impl_has_work! {
    impl HasWork<Self> for Shared { self.wake }
}

impl WorkItem for Shared {
    type Pointer = Arc<Shared>;

    fn run(this: Arc<Shared>) {
        this.readable.wake_poll(READABLE);
    }
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Sampler {
        mode: RelativeHardMode<Monotonic>, field: self.timer
    }
}

impl HrTimerCallback for Sampler {
    type Pointer<'a> = Pin<KBox<Self>>;

    /// Runs in hard-IRQ context: takes one sample, wakes readers every
    /// `wake_every` samples, and re-arms one period on, skipping the
    /// periods it was too late for.
    fn run(this: Pin<&mut Self>, mut ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        let this = this.project();
        if let Some(state) = this.state.as_mut() {
            let seq = state.producer.next_position();
            let flags = if core::mem::take(this.first) {
                sensor::FLAG_FIRST
            } else {
                0
            };
            // CLOCK_MONOTONIC is never negative.
            let now = Monotonic::ktime_get() as u64;
            let sample = sensor::encode(now, seq, state.walk.next_value(), flags);
            if state.producer.push(sample) {
                this.shared.dropped.add(1, Relaxed);
            }
            *this.since_wake += 1;
            if *this.since_wake >= *this.wake_every {
                *this.since_wake = 0;
                // If the work is still queued, the clone comes back and is
                // dropped here, which only counts down: the sampler holds
                // another reference, so nothing is freed in hard-IRQ context.
                let _ = workqueue::system_highpri().enqueue(this.shared.clone());
            }
        }
        ctx.forward_now(*this.period);
        HrTimerRestart::Restart
    }
}

#[pinned_drop]
impl PinnedDrop for Sampler {
    /// The timer is cancelled by now (`BoxHrTimerHandle` cancels, then
    /// drops): the state goes back for the next start.
    fn drop(self: Pin<&mut Self>) {
        let this = self.project();
        *this.shared.parked.lock() = this.state.take();
    }
}

/// What the reader lock guards.
struct ReadSide {
    consumer: TelemetryConsumer,
    /// Samples taken from the ring, `stash[start..end]` not yet read.
    stash: KVVec<u8>,
    start: usize,
    end: usize,
    counters: ReadCounters,
}

/// A started [`Sampler`]: dropping its handle cancels the timer and frees
/// the sampler.
struct Running {
    _handle: BoxHrTimerHandle<Sampler, Kmalloc>,
}

// SAFETY: The handle owns the sampler's box, and a `Sampler` is `Send`;
// cancelling the timer (`hrtimer_cancel()`) and freeing the box may be done
// from any thread in process context, which is where the handle is dropped.
unsafe impl Send for Running {}

/// What the control lock guards: whether the source runs, and at what rate.
struct Control {
    running: Option<Running>,
    rate_hz: u32,
}

/// The shared device behind `/dev/circbuf_telemetry`.
#[pin_data(PinnedDrop)]
pub(crate) struct Telemetry {
    ring: Arc<TelemetryRing>,
    shared: Arc<Shared>,
    #[pin]
    reader: Mutex<ReadSide>,
    #[pin]
    control: Mutex<Control>,
    /// The stash holds samples; stable under the reader lock.
    stashed: Atomic<bool>,
    readers: Atomic<u64>,
    writers: Atomic<u64>,
}

impl Telemetry {
    /// A device with an empty ring of `samples` samples, allocated now, and
    /// a sensor seeded with `seed`; its source is stopped, set to `rate_hz`.
    pub(crate) fn new(samples: usize, seed: u64, rate_hz: u32) -> Result<impl PinInit<Self>> {
        let (producer, consumer, ring) = new_sample_ring(samples)?;
        let shared = Arc::pin_init(
            pin_init!(Shared {
                readable <- WaitQueue::new(c"circbuf_telemetry readable", static_lock_class!()),
                wake <- new_work!("circbuf_telemetry wake"),
                parked <- new_mutex!(Some(SourceState {
                    producer,
                    walk: RandomWalk::new(seed),
                })),
                dropped: Atomic::new(0),
            }),
            GFP_KERNEL,
        )?;
        let stash = KVVec::from_elem(0u8, STASH_SAMPLES * SAMPLE_BYTES, GFP_KERNEL)?;
        Ok(pin_init!(Self {
            ring,
            shared,
            reader <- new_mutex!(ReadSide {
                consumer,
                stash,
                start: 0,
                end: 0,
                counters: ReadCounters::default(),
            }),
            control <- new_mutex!(Control {
                running: None,
                rate_hz,
            }),
            stashed: Atomic::new(false),
            readers: Atomic::new(0),
            writers: Atomic::new(0),
        }))
    }

    /// Starts the source at `rate_hz`, or restarts it there if it runs.
    /// Samples already in the ring stay; sequence numbers go on.
    pub(crate) fn start(&self, rate_hz: u32) -> Result {
        let period = Delta::from_nanos(1_000_000_000 / i64::from(rate_hz));
        // Allocated first: a failure leaves the source as it was.
        let mut sampler = KBox::pin_init(
            pin_init!(Sampler {
                timer <- HrTimer::new(),
                state: None,
                shared: self.shared.clone(),
                period,
                wake_every: wake_every(rate_hz),
                since_wake: 0,
                first: true,
            }),
            GFP_KERNEL,
        )?;
        let mut control = self.control.lock();
        // Cancels the running timer, which parks the state.
        drop(control.running.take());
        let state = self.shared.parked.lock().take();
        // INVARIANT: The state is parked whenever no timer runs, and none does.
        *sampler.as_mut().project().state = state;
        control.running = Some(Running {
            _handle: sampler.start(period),
        });
        control.rate_hz = rate_hz;
        Ok(())
    }

    /// Stops the source; a sample being taken is finished first.
    pub(crate) fn stop(&self) {
        let running = self.control.lock().running.take();
        drop(running);
    }

    /// Accounts for a new open file.
    pub(crate) fn open(&self, access: crate::device::Access) {
        if access.read {
            self.readers.fetch_add(1, Relaxed);
        }
        if access.write {
            self.writers.fetch_add(1, Relaxed);
        }
    }

    /// Accounts for the last close of a file.
    pub(crate) fn release(&self, access: crate::device::Access) {
        if access.read {
            self.readers.fetch_sub(1, Relaxed);
        }
        if access.write {
            self.writers.fetch_sub(1, Relaxed);
        }
    }

    /// Whether a read would find a sample.
    fn readable(&self) -> bool {
        self.stashed.load(Relaxed) || !self.ring.is_empty()
    }

    /// Moves whole samples, as many as `dest` holds, to the reader, waiting
    /// for the first one unless `nonblock`. `EINVAL` if `dest` cannot hold
    /// one sample.
    pub(crate) fn read(&self, dest: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        let wanted = dest.len() / SAMPLE_BYTES * SAMPLE_BYTES;
        if wanted == 0 {
            return Err(EINVAL);
        }
        let mut guard = self.reader.lock();
        loop {
            let side = &mut *guard;
            if side.start == side.end {
                let room = wanted.min(side.stash.len());
                let taken = side.consumer.take_into(&mut side.stash[..room]);
                side.start = 0;
                side.end = taken * SAMPLE_BYTES;
                self.stashed.store(taken > 0, Relaxed);
            }
            if side.start < side.end {
                break;
            }
            if nonblock {
                return Err(EAGAIN);
            }
            side.counters.read_waits += 1;
            drop(guard);
            self.shared
                .readable
                .wait_interruptible_exclusive(|| self.readable())?;
            guard = self.reader.lock();
        }
        let side = &mut *guard;
        let len = wanted.min(side.end - side.start);
        let copied = dest.copy_to_iter(&side.stash[side.start..side.start + len]);
        // Part of a sample that faulted half-way is not reported, and stays.
        let whole = copied / SAMPLE_BYTES * SAMPLE_BYTES;
        side.start += whole;
        self.stashed.store(side.start < side.end, Relaxed);
        if whole > 0 {
            side.counters.reads += 1;
            side.counters.bytes_read += whole as u64;
        }
        drop(guard);
        if self.readable() {
            self.shared.readable.wake_poll(READABLE);
        }
        if whole == 0 {
            return Err(EFAULT);
        }
        Ok(whole)
    }

    /// Registers `table` with the readers' wait queue if `access` can read,
    /// and returns the ready mask. The device is never writable.
    pub(crate) fn poll(
        &self,
        file: &File,
        table: PollTable<'_>,
        access: crate::device::Access,
    ) -> u32 {
        if !access.read {
            return 0;
        }
        table.register(file, &self.shared.readable);
        if self.readable() {
            READABLE
        } else {
            0
        }
    }

    /// The source, and the rate it runs or would run at.
    fn source(&self) -> (Source, u32) {
        let control = self.control.lock();
        let source = if control.running.is_some() {
            Source::Thermal
        } else {
            Source::None
        };
        (source, control.rate_hz)
    }
}

#[pinned_drop]
impl PinnedDrop for Telemetry {
    /// Stops the timer, then waits for a wake-up it queued: the work runs
    /// this module's code, which must not be unloaded before it has run.
    fn drop(self: Pin<&mut Self>) {
        self.stop();
        flush_work(&self.shared.wake);
    }
}

impl Controls for Telemetry {
    fn stats(&self) -> Stats {
        let (source, rate_hz) = self.source();
        let reader = self.reader.lock();
        let stashed = (reader.end - reader.start) / SAMPLE_BYTES;
        let samples = self.ring.len() + stashed;
        let produced = self.ring.produced();
        let dropped = self.shared.dropped.load(Relaxed);
        Stats {
            capacity: self.ring.capacity() * SAMPLE_BYTES,
            mode: Mode::Overwrite,
            used: samples * SAMPLE_BYTES,
            readers: self.readers.load(Relaxed),
            writers: self.writers.load(Relaxed),
            read: reader.counters,
            write: WriteCounters {
                writes: produced,
                bytes_written: produced * SAMPLE_BYTES as u64,
                write_waits: 0,
                dropped_bytes: dropped * SAMPLE_BYTES as u64,
                dropped_records: dropped,
            },
            source,
            rate_hz,
        }
    }

    /// Discards every waiting sample, counted as dropped.
    fn reset(&self) -> Result {
        let mut reader = self.reader.lock();
        let stashed = (reader.end - reader.start) / SAMPLE_BYTES;
        reader.start = reader.end;
        self.stashed.store(false, Relaxed);
        let discarded = reader.consumer.discard() + stashed as u64;
        self.shared.dropped.add(discarded, Relaxed);
        Ok(())
    }

    /// The telemetry ring has no mapped consumer and no writers.
    fn wake_writers(&self) -> Result {
        Err(ENOTTY)
    }

    /// The ring always keeps the newest samples.
    fn set_mode(&self, mode: Mode) -> Result {
        match mode {
            Mode::Overwrite => Ok(()),
            Mode::Block => Err(EINVAL),
        }
    }

    fn set_source(&self, source: Source, rate_hz: u32) -> Result {
        match source {
            Source::Thermal => self.start(rate_hz),
            Source::None => {
                self.stop();
                Ok(())
            }
        }
    }

    fn used(&self) -> usize {
        self.stats().used
    }
}

/// The state of one open file of `/dev/circbuf_telemetry`.
pub(crate) struct TelemetryFile {
    device: Arc<Telemetry>,
    access: crate::device::Access,
    counters: FileCounters,
}

impl StreamFile for TelemetryFile {
    type Ptr = KBox<Self>;
    type Shared = Arc<Telemetry>;

    fn open(device: &Arc<Telemetry>, file: &File) -> Result<KBox<Self>> {
        let access = crate::access_of(file);
        let this = KBox::new(
            TelemetryFile {
                device: device.clone(),
                access,
                counters: FileCounters::new(),
            },
            GFP_KERNEL,
        )?;
        device.open(access);
        Ok(this)
    }

    fn release(this: KBox<Self>, _file: &File) {
        this.device.release(this.access);
    }

    fn read_iter(this: &Self, dest: &mut IovIterDest<'_>, nonblock: bool) -> Result<usize> {
        let read = this.device.read(dest, nonblock)?;
        this.counters.count_read(read);
        Ok(read)
    }

    /// Only the kernel source writes to this ring.
    fn write_iter(_this: &Self, _source: &mut IovIterSource<'_>, _nonblock: bool) -> Result<usize> {
        Err(EBUSY)
    }

    fn poll(this: &Self, file: &File, table: PollTable<'_>) -> u32 {
        this.device.poll(file, table, this.access)
    }

    /// The sample ring's slots are not pages user space could read in
    /// place.
    fn mmap(_this: &Self, _file: &File, _pgoff: usize, _vma: &VmaNew) -> Result {
        Err(ENODEV)
    }

    fn ioctl(this: &Self, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        ioctl::dispatch(&*this.device, this.access.write, cmd, arg)
    }

    fn show_fdinfo(this: &Self, m: &SeqFile) {
        seq_print!(m, "{}", this.counters);
    }

    fn show_attribute(
        device: &Arc<Telemetry>,
        name: &[u8],
        out: &mut dyn core::fmt::Write,
    ) -> core::fmt::Result {
        device.stats().show_attribute(name, out)
    }
}
