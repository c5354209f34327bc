// SPDX-License-Identifier: GPL-2.0
//! Starting the workers and waiting for them under the watchdog.
//!
//! Every worker's file is opened first, readers before writers, before any
//! worker runs: a reader sees end-of-file only if it had the device open
//! while a writer did (docs/semantics.md), so none may open after the
//! writers have closed. Then the workers are forked, and this process only
//! waits, in `waitpid`, where the watchdog's `alarm()` interrupts it: a
//! worker blocked in the device for good is killed, which nothing short of
//! a signal could end.
//!
//! [`Layout::Threads`] forks one child that runs every worker as a thread,
//! [`Layout::Processes`] one child per worker. A driver sees both: threads
//! share one mm, so their copies to and from user memory share page tables
//! and the mmap lock, while processes each fault in their own; either way
//! every worker has a file of its own.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use circbuf::testing::watchdog;
use circbuf::{Device, OpenOptions};
use rustix::io::Errno;
use rustix::process::{kill_process, waitpid, Pid, Signal, WaitOptions};

use crate::violation::{Check, Violation};

/// Which side of the device a worker is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Writes until the deadline, then closes.
    Writer,
    /// Reads until end-of-file.
    Reader,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
        })
    }
}

/// A worker, with the file it works on.
#[derive(Debug)]
pub struct Worker {
    /// Reader or writer.
    pub role: Role,
    /// Index among the workers of the same role.
    pub id: u32,
    /// Its own open file of the device.
    pub device: Device,
}

/// How the workers are spread over child processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One child runs every worker as a thread.
    Threads,
    /// One child per worker.
    Processes,
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every child exited; the failures of those that did not exit with
    /// status 0.
    Exited(Vec<Violation>),
    /// The watchdog fired first; the children left were killed.
    TimedOut,
}

/// Opens the device at `path` for `readers` readers, then for `writers`
/// writers.
pub fn open(path: &Path, writers: u32, readers: u32) -> Result<Vec<Worker>, String> {
    let mut workers = Vec::new();
    for (role, count) in [(Role::Reader, readers), (Role::Writer, writers)] {
        for id in 0..count {
            // Opening non-blocking never waits for the other side, as
            // opening a FIFO that stands in for the device would; the
            // workers' own calls block.
            let (mut options, reader) = (OpenOptions::new(), role == Role::Reader);
            options.read(reader).write(!reader).nonblocking(true);
            let device = Device::open(path, &options)
                .and_then(|device| device.set_nonblocking(false).map(|()| device))
                .map_err(|e| format!("{role} {id}: {e}"))?;
            workers.push(Worker { role, id, device });
        }
    }
    Ok(workers)
}

/// Runs `work` on each of `workers` in child processes laid out as
/// `layout`, and waits for them for at most `limit`. Must be called from a
/// single-threaded process.
pub fn run(
    mut workers: Vec<Worker>,
    layout: Layout,
    limit: Duration,
    work: &(dyn Fn(Worker) + Sync),
) -> Result<Ended, String> {
    let mut children = Vec::new();
    let forked = match layout {
        Layout::Threads => fork(|| {
            thread::scope(|scope| {
                for worker in workers.drain(..) {
                    scope.spawn(move || work(worker));
                }
            });
        })
        .map(|pid| children.push((pid, "the worker threads".to_owned()))),
        Layout::Processes => (0..workers.len()).try_for_each(|i| {
            let name = format!("{} {}", workers[i].role, workers[i].id);
            let pid = fork(|| {
                let mine = workers.swap_remove(i);
                // The other workers' files, closed here, would keep their
                // side of the device open: a writer's would hold the
                // readers off end-of-file.
                workers.clear();
                work(mine);
            })?;
            children.push((pid, name));
            Ok(())
        }),
    };
    // This process keeps no file of the device open during the run.
    drop(workers);
    if let Err(e) = forked {
        kill(&children);
        return Err(e);
    }
    wait(children, limit)
}

/// Forks a child that runs `child` and exits: with status 0, or 101 if it
/// panicked, as a Rust program does.
fn fork(child: impl FnOnce()) -> Result<Pid, String> {
    let threads = std::fs::read_dir("/proc/self/task").map(Iterator::count);
    if threads.as_ref().ok() != Some(&1) {
        return Err(format!(
            "stress forks its workers from a single thread, not {threads:?}"
        ));
    }
    // SAFETY: fork() asks nothing of its caller; the child may run any
    // code since this process has one thread (checked above), so the child
    // inherits no lock that another thread held.
    let pid = unsafe { libc::fork() };
    match pid {
        0 => {
            // The child must never return into the parent's code.
            std::process::exit(catch_unwind(AssertUnwindSafe(child)).map_or(101, |()| 0))
        }
        ..0 => Err(format!("fork: {}", std::io::Error::last_os_error())),
        _ => Ok(Pid::from_raw(pid).expect("a positive pid")),
    }
}

fn kill(children: &[(Pid, String)]) {
    for (pid, _) in children {
        // A child may have exited on its own meanwhile; it is not reaped,
        // so its pid cannot have been reused.
        let _ = kill_process(*pid, Signal::KILL);
    }
}

/// Reaps `children` until all have exited, or until `limit` is over; then
/// kills those left, without waiting for them, since a child stuck in the
/// kernel might never go.
fn wait(mut children: Vec<(Pid, String)>, limit: Duration) -> Result<Ended, String> {
    let started = Instant::now();
    let _armed = watchdog::arm(limit);
    let mut failures = Vec::new();
    while !children.is_empty() {
        match waitpid(None, WaitOptions::empty()) {
            Ok(Some((pid, status))) => {
                let Some(i) = children.iter().position(|(p, _)| *p == pid) else {
                    continue;
                };
                let (pid, worker) = children.swap_remove(i);
                if status.exit_status() == Some(0) {
                    continue;
                }
                // Without `WUNTRACED`, only an exit or a signal ends a wait.
                let signal = status.terminating_signal().unwrap_or(0);
                let how = match status.exit_status() {
                    Some(code) => format!("exited with status {code}"),
                    None => format!("was killed by signal {signal}"),
                };
                let text = format!("{worker}: process {} {how}", pid.as_raw_pid());
                failures.push(Violation::new(Check::Failed, text));
            }
            Err(Errno::INTR) if started.elapsed() >= limit => {
                kill(&children);
                return Ok(Ended::TimedOut);
            }
            Err(Errno::INTR) => {}
            other => {
                kill(&children);
                return Err(format!("waitpid: {other:?}"));
            }
        }
    }
    Ok(Ended::Exited(failures))
}
