// SPDX-License-Identifier: GPL-2.0
//! Watching a run from the side: the registry of running workers, the
//! watchdog that fails a run that hangs (naming who is stuck where), and
//! the progress line shown on a terminal.

use std::io::Write;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use circbuf::{Device, Stats};
use rustix::process::{kill_process, Pid, Signal};

use crate::worker::{Phase, Role, Status};

#[derive(Debug)]
struct Entry {
    role: Role,
    id: u32,
    pid: Option<u32>,
    status: Arc<Status>,
}

impl Entry {
    fn describe(&self) -> Option<String> {
        let who = match self.pid {
            Some(pid) => format!("{} {} (pid {pid})", self.role, self.id),
            None => format!("{} {}", self.role, self.id),
        };
        let ops = self.status.ops();
        Some(match self.status.phase() {
            Phase::Finished => return None,
            Phase::Starting => format!("{who}: has not started"),
            Phase::Reading => format!("{who}: blocked in read() after {ops} reads"),
            Phase::Writing => format!("{who}: blocked in write() after {ops} writes"),
            Phase::Running if self.pid.is_some() => format!("{who}: still running"),
            Phase::Running => format!("{who}: busy between calls after {ops} calls"),
        })
    }
}

/// The workers of a run and their live status.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Mutex<Vec<Entry>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        // A panicking worker thread never holds this lock; whatever state a
        // poisoned lock guards is still a list worth reporting.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers worker `role` `id` (a child process if `pid` is given) and
    /// returns the status it is to keep up to date.
    pub fn add(&self, role: Role, id: u32, pid: Option<u32>) -> Arc<Status> {
        let status = Arc::new(Status::default());
        self.entries().push(Entry {
            role,
            id,
            pid,
            status: Arc::clone(&status),
        });
        status
    }

    /// One line per worker that has not finished, saying where it is.
    pub fn unfinished(&self) -> Vec<String> {
        self.entries().iter().filter_map(Entry::describe).collect()
    }

    fn kill_unfinished(&self) {
        for entry in self.entries().iter() {
            if entry.status.phase() == Phase::Finished {
                continue;
            }
            if let Some(pid) = entry.pid.and_then(|p| Pid::from_raw(p as i32)) {
                // The child may have exited on its own in the meantime.
                let _ = kill_process(pid, Signal::KILL);
            }
        }
    }
}

/// The watchdog's complaint: how long the run has gone on, who is stuck,
/// and the device's state.
pub fn watchdog_message(
    limit: Duration,
    duration: Duration,
    stuck: &[String],
    device: Option<&Stats>,
) -> String {
    let mut text = format!(
        "watchdog: the run did not finish within {:.1} s (writers stop after {:.1} s)",
        limit.as_secs_f64(),
        duration.as_secs_f64()
    );
    if stuck.is_empty() {
        text.push_str("; every worker has returned, the run itself is stuck");
    } else {
        text.push_str("; still running:");
        for line in stuck {
            text.push_str("\n  ");
            text.push_str(line);
        }
    }
    if let Some(s) = device {
        text.push_str(&format!(
            "\n  device: used={} available={} readers={} writers={}",
            s.used, s.available, s.readers, s.writers
        ));
    }
    text
}

/// The progress line: elapsed time and what passed through the device
/// since `before`.
pub fn progress_line(elapsed: Duration, duration: Duration, before: &Stats, now: &Stats) -> String {
    let written = now.bytes_written.wrapping_sub(before.bytes_written) as f64 / 1e6;
    let read = now.bytes_read.wrapping_sub(before.bytes_read) as f64 / 1e6;
    let rate = read / elapsed.as_secs_f64().max(1e-3);
    let phase = if elapsed > duration { ", draining" } else { "" };
    format!(
        "{:6.1}/{:.1} s  written {written:.2} MB  read {read:.2} MB  {rate:.2} MB/s{phase}",
        elapsed.as_secs_f64(),
        duration.as_secs_f64()
    )
}

/// When and how to watch a run.
pub struct Watch {
    /// When the run started.
    pub started: Instant,
    /// How long writers write.
    pub duration: Duration,
    /// How long the whole run may take before the watchdog fails it.
    pub limit: Duration,
    /// Whether to draw the progress line (on a terminal).
    pub progress: bool,
}

/// Called by the watchdog, with the device's current statistics if it can
/// still read them, just before it ends the process.
pub type TimeoutHandler = Box<dyn FnOnce(Option<&Stats>) + Send>;

/// The supervising thread of a run.
pub struct Supervisor {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// Starts supervising. If the run is still going at `watch.limit`, the
/// watchdog prints what is stuck, kills worker processes, calls
/// `on_timeout` with the device's current statistics and exits the process
/// with status 1: a hung worker cannot be interrupted any other way.
pub fn supervise(
    monitor: Arc<Device>,
    registry: Arc<Registry>,
    before: Stats,
    watch: Watch,
    on_timeout: TimeoutHandler,
) -> Supervisor {
    let (stop, stopped) = mpsc::channel();
    let handle = thread::spawn(move || {
        let deadline = watch.started + watch.limit;
        let mut drew = false;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let stats = monitor.stats().ok();
                if drew {
                    print!("\r\x1b[K");
                }
                eprintln!(
                    "stress: {}",
                    watchdog_message(
                        watch.limit,
                        watch.duration,
                        &registry.unfinished(),
                        stats.as_ref()
                    )
                );
                registry.kill_unfinished();
                on_timeout(stats.as_ref());
                std::process::exit(1);
            }
            let wait = if watch.progress {
                left.min(PROGRESS_INTERVAL)
            } else {
                left
            };
            match stopped.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            }
            if watch.progress {
                if let Ok(now) = monitor.stats() {
                    print!(
                        "\r{}\x1b[K",
                        progress_line(watch.started.elapsed(), watch.duration, &before, &now)
                    );
                    let _ = std::io::stdout().flush();
                    drew = true;
                }
            }
        }
        if drew {
            print!("\r\x1b[K");
            let _ = std::io::stdout().flush();
        }
    });
    Supervisor { stop, handle }
}

impl Supervisor {
    /// Ends supervision (and clears the progress line) once the run is over.
    pub fn stop(self) {
        // The thread may be gone already only if it exited the process.
        let _ = self.stop.send(());
        let _ = self.handle.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_workers_say_where_they_are() {
        let registry = Registry::new();
        let reader = registry.add(Role::Reader, 0, None);
        let writer = registry.add(Role::Writer, 3, None);
        let child = registry.add(Role::Reader, 1, Some(4242));
        let done = registry.add(Role::Writer, 0, None);
        reader.set(Phase::Reading);
        (0..5).for_each(|_| reader.completed_op());
        writer.set(Phase::Writing);
        (0..7).for_each(|_| writer.completed_op());
        child.set(Phase::Running);
        done.set(Phase::Finished);
        assert_eq!(
            registry.unfinished(),
            [
                "reader 0: blocked in read() after 5 reads",
                "writer 3: blocked in write() after 7 writes",
                "reader 1 (pid 4242): still running",
            ]
        );
    }

    #[test]
    fn watchdog_message_names_the_stuck_and_the_device_state() {
        let stats = Stats {
            used: 64,
            available: 0,
            readers: 1,
            writers: 2,
            ..Stats::default()
        };
        let text = watchdog_message(
            Duration::from_secs(32),
            Duration::from_secs(2),
            &["writer 1: blocked in write() after 9 writes".into()],
            Some(&stats),
        );
        assert_eq!(
            text,
            "watchdog: the run did not finish within 32.0 s (writers stop after 2.0 s); still running:\n  \
             writer 1: blocked in write() after 9 writes\n  \
             device: used=64 available=0 readers=1 writers=2"
        );
        let text = watchdog_message(Duration::from_secs(1), Duration::from_secs(1), &[], None);
        assert!(text.ends_with("every worker has returned, the run itself is stuck"));
    }

    #[test]
    fn progress_shows_bytes_since_start_and_draining() {
        let before = Stats {
            bytes_written: 1_000_000,
            bytes_read: 1_000_000,
            ..Stats::default()
        };
        let now = Stats {
            bytes_written: 5_000_000,
            bytes_read: 3_000_000,
            ..Stats::default()
        };
        let line = progress_line(
            Duration::from_secs(1),
            Duration::from_secs(10),
            &before,
            &now,
        );
        assert_eq!(
            line,
            "   1.0/10.0 s  written 4.00 MB  read 2.00 MB  2.00 MB/s"
        );
        let line = progress_line(
            Duration::from_secs(11),
            Duration::from_secs(10),
            &before,
            &now,
        );
        assert!(line.ends_with(", draining"), "{line}");
    }
}
