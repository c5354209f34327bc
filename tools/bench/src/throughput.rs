// SPDX-License-Identifier: GPL-2.0
//! One throughput point: W writer threads write messages of one size into a
//! channel, R reader threads read large blocks until end of file, and the
//! bytes on both sides must agree (and, on circbuf, agree with the device's
//! own counters).
//!
//! Time runs from the moment every thread is ready to the moment the last
//! reader sees end of file, so the data still in the buffer when writers
//! stop is part of the measurement.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::channel::{Channel, Endpoint, Ends};
use crate::options::{Budget, Ratio};
use crate::placement::RotatingBuffer;
use crate::Error;

/// The counts and time of one point on one channel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Bytes the writers wrote (always equal to the bytes read).
    pub bytes: u64,
    /// Whole messages written.
    pub messages: u64,
    /// write(2) calls that stored data.
    pub write_calls: u64,
    /// read(2) calls that returned data.
    pub read_calls: u64,
    /// Seconds from start to the last reader's end of file.
    pub seconds: f64,
}

impl Measurement {
    /// Megabytes (10^6 bytes) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }

    /// Messages per second.
    pub fn ops_per_s(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
}

#[derive(Debug, Default)]
struct WriterTally {
    bytes: u64,
    messages: u64,
    calls: u64,
}

#[derive(Debug)]
struct ReaderTally {
    bytes: u64,
    calls: u64,
    end_of_file: Instant,
}

/// Runs one point: `ratio` threads on `channel`, `size`-byte messages until
/// `budget` is spent, reads of `read_size` bytes.
pub fn measure(
    channel: &Channel,
    size: usize,
    ratio: Ratio,
    budget: Budget,
    read_size: usize,
) -> Result<Measurement, Error> {
    let point = format!("{} {size} B {ratio}", channel.kind());
    let in_point = |e: Error| match e {
        Error::Run(message) => Error::Run(format!("{point}: {message}")),
        setup => setup,
    };
    channel.check_idle().map_err(in_point)?;
    let before = channel.stats().map_err(in_point)?;
    let quota = match budget {
        Budget::Duration(_) => None,
        Budget::Bytes(bytes) => {
            let per_writer = bytes.div_ceil(u64::from(ratio.writers));
            Some(per_writer.div_ceil(size as u64).max(1))
        }
    };
    let Ends { readers, writers } = channel.open(ratio).map_err(in_point)?;
    let (writes, reads, seconds) = run_threads(readers, writers, size, quota, budget, read_size);
    let writes = writes.map_err(in_point)?;
    let reads = reads.map_err(in_point)?;

    let written = WriterTally {
        bytes: writes.iter().map(|t| t.bytes).sum(),
        messages: writes.iter().map(|t| t.messages).sum(),
        calls: writes.iter().map(|t| t.calls).sum(),
    };
    let read_bytes: u64 = reads.iter().map(|t| t.bytes).sum();
    let read_calls: u64 = reads.iter().map(|t| t.calls).sum();
    if written.bytes != read_bytes {
        return Err(Error::Run(format!(
            "{point}: writers wrote {} bytes but readers read {read_bytes}",
            written.bytes
        )));
    }
    if let (Some(before), Some(after)) = (before, channel.stats().map_err(in_point)?) {
        let counted = [
            (
                "bytes_written",
                after.bytes_written - before.bytes_written,
                written.bytes,
            ),
            (
                "bytes_read",
                after.bytes_read - before.bytes_read,
                read_bytes,
            ),
            ("writes", after.writes - before.writes, written.calls),
            ("reads", after.reads - before.reads, read_calls),
        ];
        for (name, device, ours) in counted {
            if device != ours {
                return Err(Error::Run(format!(
                    "{point}: the device counted {device} {name}, the threads {ours}"
                )));
            }
        }
    }
    Ok(Measurement {
        bytes: written.bytes,
        messages: written.messages,
        write_calls: written.calls,
        read_calls,
        seconds: seconds.as_secs_f64().max(1e-9),
    })
}

type Outcome<T> = Result<Vec<T>, Error>;

/// Starts every thread at once, stops the writers when the budget is
/// spent, and waits for the readers' end of file.
fn run_threads(
    readers: Vec<Endpoint>,
    writers: Vec<Endpoint>,
    size: usize,
    quota: Option<u64>,
    budget: Budget,
    read_size: usize,
) -> (Outcome<WriterTally>, Outcome<ReaderTally>, Duration) {
    let stop = AtomicBool::new(false);
    let start = Barrier::new(readers.len() + writers.len() + 1);
    thread::scope(|scope| {
        let reader_threads: Vec<_> = readers
            .into_iter()
            .map(|end| scope.spawn(|| read_to_end(end, read_size, &start, &stop)))
            .collect();
        let writer_threads: Vec<_> = writers
            .into_iter()
            .map(|end| scope.spawn(|| write_messages(end, size, quota, &start, &stop)))
            .collect();
        start.wait();
        let began = Instant::now();
        if let Budget::Duration(duration) = budget {
            thread::sleep(duration);
            stop.store(true, Ordering::Relaxed);
        }
        let writes = collect(writer_threads);
        let reads = collect(reader_threads);
        let last = reads
            .as_ref()
            .ok()
            .and_then(|tallies| tallies.iter().map(|t| t.end_of_file).max())
            .unwrap_or(began);
        (writes, reads, last.saturating_duration_since(began))
    })
}

fn collect<T>(threads: Vec<thread::ScopedJoinHandle<'_, Result<T, Error>>>) -> Outcome<T> {
    threads
        .into_iter()
        .map(|thread| match thread.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        })
        .collect()
}

fn write_messages(
    end: Endpoint,
    size: usize,
    quota: Option<u64>,
    start: &Barrier,
    stop: &AtomicBool,
) -> Result<WriterTally, Error> {
    // Not zeros, in case some layer treats zero pages specially.
    let mut message = RotatingBuffer::new(size, 0xa5);
    let mut tally = WriterTally::default();
    start.wait();
    while quota.is_none_or(|quota| tally.messages < quota) && !stop.load(Ordering::Relaxed) {
        tally.calls += end.write_all(message.advance())?;
        tally.messages += 1;
        tally.bytes += size as u64;
    }
    Ok(tally)
}

fn read_to_end(
    end: Endpoint,
    read_size: usize,
    start: &Barrier,
    stop: &AtomicBool,
) -> Result<ReaderTally, Error> {
    let mut buf = RotatingBuffer::new(read_size, 0);
    let mut bytes = 0;
    let mut calls = 0;
    start.wait();
    loop {
        match end.read(buf.advance()) {
            Ok(0) => break,
            Ok(n) => {
                bytes += n as u64;
                calls += 1;
            }
            Err(e) => {
                // With fewer readers the writers could block forever on a
                // full circbuf (it has no EPIPE); stopping them at least
                // lets the remaining readers drain it.
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
    }
    Ok(ReaderTally {
        bytes,
        calls,
        end_of_file: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_per_second() {
        let m = Measurement {
            bytes: 3_000_000,
            messages: 1500,
            write_calls: 1500,
            read_calls: 10,
            seconds: 0.5,
        };
        assert_eq!(m.mb_per_s(), 6.0);
        assert_eq!(m.ops_per_s(), 3000.0);
    }

    #[test]
    fn a_byte_budget_is_split_among_writers_in_whole_messages() {
        let pipe = Channel::pipe(4096).unwrap();
        let m = measure(&pipe, 1000, Ratio::new(3, 2), Budget::Bytes(10_000), 4096).unwrap();
        // 10000 bytes over 3 writers is 3334 each: 4 messages of 1000.
        assert_eq!(m.messages, 12);
        assert_eq!(m.bytes, 12_000);
        assert!(m.write_calls >= 12);
        assert!(m.read_calls >= 3);
        assert!(m.seconds > 0.0);
    }

    #[test]
    fn a_timed_run_moves_data_through_a_pipe() {
        let pipe = Channel::pipe(65536).unwrap();
        let budget = Budget::Duration(Duration::from_millis(20));
        let m = measure(&pipe, 65536, Ratio::new(2, 2), budget, 65536).unwrap();
        assert!(m.messages > 0);
        assert_eq!(m.bytes, m.messages * 65536);
        assert!(m.seconds >= 0.02, "{m:?}");
    }
}
