// SPDX-License-Identifier: GPL-2.0

//! Blocking calls in child processes. A forked child keeps only the file
//! its call is on (the same open file as the controller's, so the model's
//! view of it holds), makes the one call the model says sleeps, and
//! reports what it returned through a pipe: the count, or minus the errno,
//! as a native `i64`, then the bytes a read delivered.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::pipe::{pipe_with, PipeFlags};
use rustix::process::{
    kill_process, set_parent_process_death_signal, waitpid, Pid, Signal, WaitOptions,
};

use crate::exec::Executor;
use crate::op::{Op, Reply};

/// A child process making one blocking call.
pub struct Child {
    pid: Pid,
    report: OwnedFd,
}

impl Child {
    /// Forks a child that carries out `op` on its copy of `exec`'s file.
    pub fn spawn(exec: &mut Executor, op: &Op) -> io::Result<Child> {
        let (report, to_parent) = pipe_with(PipeFlags::CLOEXEC)?;
        // SAFETY: The fuzzer runs on one thread, so no lock of another
        // thread is left held in the child, which only makes system calls
        // and allocates before it leaves with `_exit`.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => {
                drop(report);
                serve(exec, op, to_parent)
            }
            pid => Ok(Child {
                pid: Pid::from_raw(pid).expect("fork returns a positive pid"),
                report,
            }),
        }
    }

    pub fn pid(&self) -> i32 {
        self.pid.as_raw_nonzero().get()
    }

    /// Whether the child has returned from its call (or died).
    pub fn has_returned(&self) -> bool {
        let mut fds = [PollFd::new(&self.report, PollFlags::IN)];
        poll(&mut fds, Some(&Timespec::default())).is_ok_and(|ready| ready > 0)
    }

    /// Waits for the child's reply to `op` and reaps it, so that its copy
    /// of the file is closed. A watchdog the caller armed ends the wait
    /// with `EINTR`, leaving the child to [`kill`](Child::kill).
    pub fn reply(&mut self, op: &Op) -> io::Result<Reply> {
        // By hand: `read_to_end` retries on EINTR, which would outlast the
        // watchdog.
        let (mut bytes, mut chunk) = (Vec::new(), [0; 4096]);
        loop {
            match rustix::io::read(&self.report, &mut chunk)? {
                0 => break,
                n => bytes.extend_from_slice(&chunk[..n]),
            }
        }
        let Some((ret, data)) = bytes.split_first_chunk::<8>() else {
            return Err(io::Error::other("the child died without reporting"));
        };
        waitpid(Some(self.pid), WaitOptions::empty())?;
        let ret = i64::from_ne_bytes(*ret);
        let result = usize::try_from(ret).map_err(|_| Errno::from_raw_os_error(-ret as i32));
        Ok(match op {
            Op::Read(..) => Reply::Read(result, data.to_vec()),
            _ => Reply::Status(result.map(|n| n as u64)),
        })
    }

    /// Ends a child that is still asleep, and reaps it.
    pub fn kill(self) {
        // It may have exited already; it is reaped either way.
        let _ = kill_process(self.pid, Signal::KILL);
        let _ = waitpid(Some(self.pid), WaitOptions::empty());
    }
}

/// The child's side: never returns.
fn serve(exec: &mut Executor, op: &Op, to_parent: OwnedFd) -> ! {
    // A controller that dies must not leave the device held open.
    let _ = set_parent_process_death_signal(Some(Signal::KILL));
    exec.keep_only(op.slot());
    let (ret, data) = match exec.run(op) {
        Reply::Read(result, data) => (result, data),
        Reply::Status(result) => (result.map(|n| n as usize), Vec::new()),
        other => unreachable!("only reads and writes sleep: {other}"),
    };
    let ret = ret.map_or_else(|errno| -i64::from(errno.raw_os_error()), |n| n as i64);
    let mut report = ret.to_ne_bytes().to_vec();
    report.extend(data);
    let status = i32::from(File::from(to_parent).write_all(&report).is_err());
    // SAFETY: `_exit` ends the child without running the parent's exit
    // handlers or flushing its copy of the parent's buffered output.
    unsafe { libc::_exit(status) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{Access, Buffer, Via};

    #[test]
    fn a_child_sleeps_in_its_call_until_the_parent_wakes_it() {
        let dir = std::env::temp_dir().join(format!("fuzz-child-{}", std::process::id()));
        let fifo = circbuf::testing::fifo(&dir, "fifo");
        let mut exec = Executor::new(fifo, 2);
        // O_RDWR opens a FIFO without waiting for the other end.
        let open = Op::Open(0, Access::ReadWrite, false);
        assert_eq!(exec.run(&open), Reply::Status(Ok(0)));
        let read = Op::Read(0, 10, Via::Plain(Buffer::Valid));
        let mut child = Child::spawn(&mut exec, &read).expect("fork");
        assert!(!child.has_returned());
        let write = Op::Write(0, 4, 3, Via::Plain(Buffer::Valid));
        assert_eq!(exec.run(&write), Reply::Status(Ok(4)));
        let reply = child.reply(&read).expect("the child reports");
        assert_eq!(reply, Reply::Read(Ok(4), crate::op::payload(3, 4)));
        let mut writer = Child::spawn(&mut exec, &write).expect("fork");
        assert_eq!(
            writer.reply(&write).expect("the child reports"),
            Reply::Status(Ok(4))
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
