// SPDX-License-Identifier: GPL-2.0
//! The watchdog interrupts a blocked call. Its own test binary, without
//! libtest's harness: SIGALRM goes to the process, so the test must be its
//! only thread.

use std::time::Duration;

use circbuf::testing::watchdog;
use rustix::io::Errno;

fn main() {
    let (reader, _writer) = rustix::pipe::pipe().expect("pipe");
    let armed = watchdog::arm(Duration::from_secs(1));
    let mut buf = [0u8; 1];
    let err = rustix::io::read(&reader, &mut buf).expect_err("nothing was written");
    assert_eq!(err, Errno::INTR);
    drop(armed);
    println!("test watchdog::an_armed_watchdog_interrupts_a_blocked_read ... ok");
}
