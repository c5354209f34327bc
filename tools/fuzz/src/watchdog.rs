// SPDX-License-Identifier: GPL-2.0

//! The watchdog that turns a call that sleeps into a reported failure.
//!
//! The fuzzer only issues blocking calls the model says complete at once.
//! If the device disagrees and the call sleeps, `SIGALRM` interrupts it:
//! the handler does nothing and is installed without `SA_RESTART`, so the
//! call returns `EINTR` (or a short count) and the run reports the
//! difference instead of hanging.

use std::sync::Once;
use std::time::Duration;

/// How long one operation may take before it is interrupted.
pub const TIMEOUT: Duration = Duration::from_secs(10);

extern "C" fn interrupt(_signal: libc::c_int) {}

/// Installs the handler, once per process.
pub fn install() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // SAFETY: `sigaction` is plain data; zeroes are a valid empty value,
        // which the fields set below complete.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0;
        // SAFETY: `action.sa_mask` is a valid, exclusively borrowed set.
        unsafe { libc::sigemptyset(&mut action.sa_mask) };
        // SAFETY: The handler is async-signal-safe (it does nothing), and
        // no other code of this program handles SIGALRM.
        let ret = unsafe { libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut()) };
        assert_eq!(ret, 0, "sigaction(SIGALRM) failed");
    });
}

/// An armed watchdog; dropping it disarms it.
pub struct Armed(());

/// Arms the watchdog for one operation of at most [`TIMEOUT`].
pub fn arm() -> Armed {
    install();
    // SAFETY: `alarm` only sets this process's timer; the handler is
    // installed, so its expiry cannot kill the process.
    unsafe { libc::alarm(TIMEOUT.as_secs() as libc::c_uint) };
    Armed(())
}

impl Drop for Armed {
    fn drop(&mut self) {
        // SAFETY: As in `arm`; 0 cancels the timer.
        unsafe { libc::alarm(0) };
    }
}
