// SPDX-License-Identifier: GPL-2.0
//! The watchdog that turns a call that never returns into a reported failure.
//!
//! A test tool must not hang when the device under test loses a wake-up.
//! [`arm`] sets `alarm()`; its `SIGALRM` runs a handler that does nothing,
//! installed without `SA_RESTART`, so whatever the process is blocked in
//! (a read, a write, a poll, a wait for its children) returns `EINTR` and
//! the tool reports the hang instead of living through it.
//!
//! The signal goes to the process, so it interrupts the blocked call only
//! in a single-threaded process; the tools that use it run their blocking
//! calls in processes of their own.

use std::sync::Once;
use std::time::Duration;

extern "C" fn interrupt(_signal: libc::c_int) {}

fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: `sigaction` is plain data, for which zeroes are a valid
        // (empty) value; the fields that matter are set below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0;
        // SAFETY: `action.sa_mask` is a valid, exclusively borrowed set.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: The handler is async-signal-safe (it does nothing), and no
        // other code in the tools handles SIGALRM.
        let ret = unsafe { libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) };
        assert_eq!(ret, 0, "sigaction(SIGALRM) failed");
    });
}

/// An armed watchdog; dropping it disarms it.
#[must_use = "the watchdog is disarmed when this is dropped"]
pub struct Armed(());

/// Interrupts the process's blocking call if it is still blocked after
/// `limit` (rounded up to whole seconds, at least one).
pub fn arm(limit: Duration) -> Armed {
    install();
    let seconds = limit.as_secs_f64().ceil().clamp(1.0, f64::from(u32::MAX));
    // SAFETY: `alarm` only sets this process's timer; the handler is
    // installed, so its expiry interrupts a call instead of killing us.
    unsafe { libc::alarm(seconds as libc::c_uint) };
    Armed(())
}

impl Drop for Armed {
    fn drop(&mut self) {
        // SAFETY: As in `arm`; 0 cancels the timer.
        unsafe { libc::alarm(0) };
    }
}
