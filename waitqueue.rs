// SPDX-License-Identifier: GPL-2.0

//! A wait queue that sleeps the kernel's way: `wait_event`-style waits
//! that cannot lose a wake-up, and keyed wake-ups that cost a barrier and a
//! load when nobody waits.
//!
//! Rust's `CondVar` checks its condition before it queues the waiter and
//! wakes without a key, so a change made between the check and the queueing
//! is missed unless one lock covers both sides. The ring's two sides share
//! no lock, so this follows `___wait_event()` in `include/linux/wait.h`
//! instead. The waiter queues itself and sets its task state
//! (`prepare_to_wait_event()`, whose `set_current_state()` is a full
//! barrier), then checks the condition, then sleeps. The waker makes its
//! change, issues a full barrier, and only then looks for waiters
//! (`wq_has_sleeper()`). Either the waiter sees the change, or the waker
//! sees the waiter queued and wakes it. `host/src/loom_tests.rs` checks
//! this protocol under loom.
//!
//! Wake-ups carry the poll events they signal, as `fs/pipe.c` does, so a
//! poller waiting only for `EPOLLOUT` is not woken by new data, and a task
//! sleeping in `read()` is not woken by a poller's interest.

use kernel::{bindings, fs::File, prelude::*, sync::LockClassKey, types::Opaque};

use core::{ffi::c_void, marker::PhantomData, pin::pin};

/// A `wait_queue_head` with `wait_event`-style waits and keyed wake-ups.
///
/// # Invariants
///
/// `head` is an initialised `wait_queue_head`.
#[pin_data(PinnedDrop)]
pub(crate) struct WaitQueue {
    #[pin]
    head: Opaque<bindings::wait_queue_head>,
}

// SAFETY: A wait queue is used from any task; its own spinlock serialises
// changes to its list.
unsafe impl Send for WaitQueue {}

// SAFETY: As for `Send`: every method may be called from several tasks at
// once, which the wait queue's spinlock allows.
unsafe impl Sync for WaitQueue {}

impl WaitQueue {
    /// A new, empty wait queue named `name` for lockdep.
    pub(crate) fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        // INVARIANT: `__init_waitqueue_head` initialises the head in place.
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes and pinned, as the
            // function requires; `name` and `key` are static.
            head <- Opaque::ffi_init(|slot| unsafe {
                bindings::__init_waitqueue_head(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// Sleeps until `condition()` holds, woken with one other exclusive
    /// waiter at most (as readers of a pipe are). `Err(ERESTARTSYS)` if a
    /// signal arrives first. `condition` runs with the task already
    /// queued, so it must not sleep.
    pub(crate) fn wait_interruptible_exclusive(&self, condition: impl FnMut() -> bool) -> Result {
        self.wait(bindings::WQ_FLAG_EXCLUSIVE, condition)
    }

    /// Sleeps until `condition()` holds, woken with every other waiter.
    /// `Err(ERESTARTSYS)` if a signal arrives first. `condition` must not
    /// sleep.
    pub(crate) fn wait_interruptible(&self, condition: impl FnMut() -> bool) -> Result {
        self.wait(0, condition)
    }

    /// `___wait_event()`: queue, check, sleep, until the condition holds.
    fn wait(&self, flags: u32, mut condition: impl FnMut() -> bool) -> Result {
        if condition() {
            return Ok(());
        }
        let entry = pin!(Opaque::<bindings::wait_queue_entry>::uninit());
        // SAFETY: `entry` is valid for writes and pinned: the function
        // fills it in for the current task, with `flags`.
        unsafe { bindings::init_wait_entry(entry.get(), flags as c_int) };
        let result = loop {
            // SAFETY: `head` is initialised (invariant) and `entry` is an
            // initialised entry of the current task; both stay pinned until
            // `finish_wait` below takes the entry off the queue.
            let pending = unsafe {
                bindings::prepare_to_wait_event(
                    self.head.get(),
                    entry.get(),
                    bindings::TASK_INTERRUPTIBLE as c_int,
                )
            };
            // Checked first: an exclusive waiter that was woken must take
            // what it was woken for, signal or not.
            if condition() {
                break Ok(());
            }
            if pending != 0 {
                break Err(ERESTARTSYS);
            }
            // SAFETY: The callers are `read()` and `write()` in process
            // context, holding no spinlock, so the task may sleep.
            unsafe { bindings::schedule() };
        };
        // SAFETY: `head` and `entry` are as above; afterwards the entry is
        // off the queue and may go out of scope.
        unsafe { bindings::finish_wait(self.head.get(), entry.get()) };
        result
    }

    /// Whether anyone is queued: `waitqueue_active()`, a plain load of the
    /// list head that only a preceding full barrier makes meaningful.
    fn has_waiters(&self) -> bool {
        let head = self.head.get();
        // SAFETY: `head` is an initialised wait queue head (invariant);
        // this only computes the address of its list.
        let list = unsafe { &raw mut (*head).head };
        // SAFETY: `list` is valid; `next` is changed under the queue's lock,
        // so it is read once, racily, as `list_empty()` does.
        let next = unsafe { (&raw const (*list).next).read_volatile() };
        next != list
    }

    /// After a change that may end a wait, wakes one exclusive waiter and
    /// every other waiter and poller waiting for `events`, telling the
    /// scheduler that the caller is about to go to sleep or return, so the
    /// woken task may run here (`wake_up_interruptible_sync_poll()`). Costs
    /// a barrier and a load when nobody waits.
    pub(crate) fn wake_poll(&self, events: u32) {
        if self.waiters_after_change() {
            // SAFETY: `head` is initialised (invariant); the key is the
            // event mask, as poll wake functions expect.
            unsafe {
                bindings::__wake_up_sync_key(
                    self.head.get(),
                    bindings::TASK_INTERRUPTIBLE,
                    events as usize as *mut c_void,
                )
            };
        }
    }

    /// After a change that ends every wait, such as end of file, wakes every
    /// waiter and every poller waiting for `events`.
    pub(crate) fn wake_all(&self, events: u32) {
        if self.waiters_after_change() {
            // SAFETY: `head` is initialised (invariant); 0 exclusive waiters
            // means all of them; the key is the event mask.
            unsafe {
                bindings::__wake_up(
                    self.head.get(),
                    bindings::TASK_INTERRUPTIBLE,
                    0,
                    events as usize as *mut c_void,
                )
            };
        }
    }

    /// `wq_has_sleeper()`: the full barrier orders the caller's change
    /// before the check for waiters, and pairs with the one in
    /// `set_current_state()`, which orders a waiter's queueing before its
    /// check of the condition.
    fn waiters_after_change(&self) -> bool {
        crate::compat::full_barrier();
        self.has_waiters()
    }
}

#[pinned_drop]
impl PinnedDrop for WaitQueue {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `head` is initialised (invariant). Pollers still on the
        // queue (epoll) are told it is going away and take themselves off.
        unsafe { bindings::__wake_up_pollfree(self.head.get()) };
        // They do so under RCU; wait until none can touch the queue.
        crate::compat::synchronize_rcu();
    }
}

/// The poll table a `poll()` file operation gets.
pub(crate) struct PollTable<'a> {
    table: *mut bindings::poll_table,
    _lifetime: PhantomData<&'a bindings::poll_table>,
}

impl PollTable<'_> {
    /// Wraps the table `poll()` was called with.
    ///
    /// # Safety
    ///
    /// `table` must be null or a poll table valid for the lifetime of the
    /// result, as the VFS passes to `poll()`.
    pub(crate) unsafe fn from_raw(table: *mut bindings::poll_table) -> Self {
        Self {
            table,
            _lifetime: PhantomData,
        }
    }

    /// Adds `queue` to the queues the poller of `file` waits on. The
    /// caller checks what it polls for afterwards.
    pub(crate) fn register(&self, file: &File, queue: &WaitQueue) {
        // SAFETY: `file` is valid, `table` is null or valid (see
        // `from_raw`), and `queue` outlives the poll registration: before it
        // is freed, its drop removes every poller from it.
        unsafe { bindings::poll_wait(file.as_ptr(), queue.head.get(), self.table) };
        // As in sock_poll_wait(): orders the registration before the
        // caller's checks, pairing with the barrier a waker issues before it
        // looks for waiters, so either the check sees the change or the
        // waker sees the poller.
        crate::compat::full_barrier();
    }
}
