// SPDX-License-Identifier: GPL-2.0
//! The readers' and writers' loops for both modes, the live status the
//! watchdog reads while they run, and the report each returns at the end.
//!
//! A worker runs the same code whether it is a thread or a child process;
//! only how its [`Report`] travels back differs.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::Instant;

use circbuf::{Device, OpenOptions};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::ledger::{ReaderLedger, Received};
use crate::record::{self, RecordId};
use crate::stream::{self, StreamChecker};
use crate::verdict::{Violation, Violations};

/// What the run sends through the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum Mode {
    /// Many writers send fixed-size, self-describing records; many readers
    /// receive and account for each one.
    Records,
    /// One writer streams bytes in random-sized writes, one reader reads
    /// them in random-sized reads and compares byte for byte.
    Stream,
}

/// Which side of the device a worker is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum Role {
    /// Writes until the deadline, then closes.
    Writer,
    /// Reads until end-of-file.
    Reader,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Writer => "writer",
            Role::Reader => "reader",
        })
    }
}

/// Everything a worker needs to know about the run.
#[derive(Clone, Debug)]
pub struct Job {
    /// Records or stream.
    pub mode: Mode,
    /// Reader or writer.
    pub role: Role,
    /// Index among the workers of the same role.
    pub id: u32,
    /// Number of writers in the run (readers size their ledgers by it).
    pub writers: u32,
    /// Bytes per record (records mode).
    pub record_size: usize,
    /// The device's capacity (stream mode's size choices scale with it).
    pub capacity: usize,
    /// The run's seed.
    pub seed: u64,
    /// When writers stop starting new writes.
    pub deadline: Instant,
}

/// Where a worker is, for the watchdog's report of what is stuck.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Not yet running (opening the device, or a child not yet started).
    Starting = 0,
    /// Inside a `read(2)`.
    Reading = 1,
    /// Inside a `write(2)`.
    Writing = 2,
    /// Between system calls, or a child process that is running.
    Running = 3,
    /// Returned its report.
    Finished = 4,
}

/// A worker's live state, shared with the supervising thread.
#[derive(Debug, Default)]
pub struct Status {
    phase: AtomicU8,
    ops: AtomicU64,
}

impl Status {
    /// Moves the worker to `phase`.
    pub fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    /// The worker's current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Relaxed) {
            0 => Phase::Starting,
            1 => Phase::Reading,
            2 => Phase::Writing,
            3 => Phase::Running,
            _ => Phase::Finished,
        }
    }

    pub(crate) fn completed_op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    /// System calls completed so far (threads only; a child's are unseen).
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }
}

/// What a worker did and saw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Reader or writer.
    pub role: Role,
    /// Index among the workers of the same role.
    pub id: u32,
    /// Read calls that returned data, or write calls that stored data.
    pub ops: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Records mode: records completely written, or valid records read.
    pub records: u64,
    /// Readers in records mode: what arrived, for the reconciliation.
    pub received: Option<Received>,
    /// What went wrong.
    pub violations: Violations,
}

impl Report {
    /// An empty report for the worker `role` `id`.
    pub fn new(role: Role, id: u32) -> Self {
        Report {
            role,
            id,
            ops: 0,
            bytes: 0,
            records: 0,
            received: None,
            violations: Violations::default(),
        }
    }

    fn io_error(&mut self, error: circbuf::Error) {
        let worker = format!("{} {}", self.role, self.id);
        // Printed at once too: a failed worker often leaves its peers
        // blocked, and the watchdog's message is clearer with the cause.
        eprintln!("stress: {worker}: {error}");
        self.violations.push(Violation::Io {
            worker,
            message: error.to_string(),
        });
    }
}

/// Opens the device for a worker of `role`: read-only for readers (so
/// they never count as writers and can see end-of-file), write-only for
/// writers.
pub fn open(path: &Path, role: Role) -> Result<Device, circbuf::Error> {
    // Opening non-blocking means opening never waits for the other side
    // (as a FIFO standing in for the device in host tests would); the
    // loops themselves want blocking I/O.
    let device = Device::open(
        path,
        OpenOptions::new()
            .read(role == Role::Reader)
            .write(role == Role::Writer)
            .nonblocking(true),
    )?;
    device.set_nonblocking(false)?;
    Ok(device)
}

/// Runs the worker's loop on `device` and closes the device when done (a
/// writer's close is what lets the readers reach end-of-file).
pub fn run(device: Device, job: &Job, status: &Status) -> Report {
    status.set(Phase::Running);
    let report = match (job.mode, job.role) {
        (Mode::Records, Role::Writer) => write_records(&device, job, status),
        (Mode::Records, Role::Reader) => read_records(&device, job, status),
        (Mode::Stream, Role::Writer) => write_stream(&device, job, status),
        (Mode::Stream, Role::Reader) => read_stream(&device, job, status),
    };
    drop(device);
    status.set(Phase::Finished);
    report
}

fn call<T>(status: &Status, phase: Phase, f: impl FnOnce() -> T) -> T {
    status.set(phase);
    let result = f();
    status.set(Phase::Running);
    result
}

fn write_records(device: &Device, job: &Job, status: &Status) -> Report {
    let mut report = Report::new(Role::Writer, job.id);
    let mut buf = vec![0u8; job.record_size];
    while Instant::now() < job.deadline {
        let id = RecordId {
            writer: job.id,
            seq: report.records,
        };
        record::encode(job.seed, id, &mut buf);
        match call(status, Phase::Writing, || device.write(&buf)) {
            Ok(n) => {
                status.completed_op();
                report.ops += u64::from(n > 0);
                report.bytes += n as u64;
                if n != buf.len() {
                    // The ring now holds a partial record; going on would
                    // only bury this in misalignment reports.
                    report.violations.push(Violation::ShortWrite {
                        writer: job.id,
                        wrote: n,
                        want: buf.len(),
                    });
                    break;
                }
                report.records += 1;
            }
            Err(e) => {
                report.io_error(e);
                break;
            }
        }
    }
    report
}

fn read_records(device: &Device, job: &Job, status: &Status) -> Report {
    let mut report = Report::new(Role::Reader, job.id);
    let mut ledger = ReaderLedger::new(job.id, job.writers);
    let mut buf = vec![0u8; job.record_size];
    loop {
        match call(status, Phase::Reading, || device.read(&mut buf)) {
            Ok(0) => break,
            Ok(n) => {
                status.completed_op();
                let read_index = report.ops;
                report.ops += 1;
                report.bytes += n as u64;
                match record::decode(job.seed, &buf[..n], job.record_size) {
                    Ok(id) => {
                        report.records += 1;
                        if let Err(v) = ledger.accept(id) {
                            report.violations.push(v);
                        }
                    }
                    Err(error) => report.violations.push(Violation::BadRecord {
                        reader: job.id,
                        read_index,
                        error,
                    }),
                }
            }
            Err(e) => {
                report.io_error(e);
                break;
            }
        }
    }
    report.received = Some(ledger.into_received());
    report
}

fn write_stream(device: &Device, job: &Job, status: &Status) -> Report {
    let mut report = Report::new(Role::Writer, job.id);
    let mut sizes = stream::write_sizes(job.seed);
    let mut buf = Vec::with_capacity(stream::max_size(job.capacity));
    'writing: while Instant::now() < job.deadline {
        let size = stream::next_write_size(&mut sizes, job.capacity);
        buf.resize(size, 0);
        stream::fill(job.seed, report.bytes, &mut buf);
        // A write larger than the ring may be taken in parts; the rest is
        // simply written again, as with a pipe.
        let mut done = 0;
        while done < size {
            match call(status, Phase::Writing, || device.write(&buf[done..])) {
                Ok(0) => {
                    report.violations.push(Violation::ShortWrite {
                        writer: job.id,
                        wrote: 0,
                        want: size - done,
                    });
                    break 'writing;
                }
                Ok(n) => {
                    status.completed_op();
                    report.ops += 1;
                    report.bytes += n as u64;
                    done += n;
                }
                Err(e) => {
                    report.io_error(e);
                    break 'writing;
                }
            }
        }
    }
    report
}

fn read_stream(device: &Device, job: &Job, status: &Status) -> Report {
    let mut report = Report::new(Role::Reader, job.id);
    let mut sizes = stream::read_sizes(job.seed);
    let mut checker = StreamChecker::new(job.seed);
    let mut buf = vec![0u8; stream::max_size(job.capacity)];
    loop {
        let size = stream::next_read_size(&mut sizes, job.capacity);
        match call(status, Phase::Reading, || device.read(&mut buf[..size])) {
            Ok(0) => break,
            Ok(n) => {
                status.completed_op();
                report.ops += 1;
                report.bytes += n as u64;
                checker.feed(&buf[..n]);
            }
            Err(e) => {
                report.io_error(e);
                break;
            }
        }
    }
    if let Some(v) = checker.into_mismatch() {
        report.violations.push(v);
    }
    report
}
