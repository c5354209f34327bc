// SPDX-License-Identifier: GPL-2.0

//! `flush_work()`, which the Rust workqueue abstraction of Linux 7.2 and
//! 7.3 lacks: waiting until a queued work item has run, before the code it
//! runs goes away with the module.

use kernel::{bindings, workqueue::Work};

/// Waits until `work`, if it is queued or running, has finished running.
/// Must be called where sleeping is allowed.
pub(crate) fn flush_work<T, const ID: u64>(work: &Work<T, ID>) {
    // SAFETY: `work` is a reference to a live `Work`.
    let raw = unsafe { Work::raw_get(work) };
    // SAFETY: `raw` is the initialised `work_struct` of that `Work`, which
    // the borrow keeps alive for the call; `flush_work()` sleeps, which the
    // caller allows.
    unsafe { bindings::flush_work(raw) };
}
