// SPDX-License-Identifier: GPL-2.0
//! The watchdog interrupts a blocked call. Its own test binary, without
//! libtest's harness: SIGALRM goes to the process, so the test must be its
//! only thread.

use std::process::{Command, Stdio};
use std::time::Duration;

use circbuf::testing::watchdog;
use rustix::io::Errno;

fn main() {
    let (reader, writer) = rustix::pipe::pipe().expect("pipe");
    // The write end's only holder is a child that exits after 10 s, so a
    // watchdog that does not interrupt the read makes it end at end of
    // file: the test fails instead of hanging.
    let mut holder = Command::new("sleep")
        .arg("10")
        .stdout(Stdio::from(writer))
        .spawn()
        .expect("spawn sleep");
    let armed = watchdog::arm(Duration::from_secs(1));
    let mut buf = [0u8; 1];
    let result = rustix::io::read(&reader, &mut buf);
    drop(armed);
    holder.kill().expect("kill sleep");
    holder.wait().expect("reap sleep");
    assert_eq!(result, Err(Errno::INTR), "no interrupt from the watchdog");
    println!("test watchdog::an_armed_watchdog_interrupts_a_blocked_read ... ok");
}
