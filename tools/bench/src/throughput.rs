// SPDX-License-Identifier: GPL-2.0
//! One throughput point: W writer threads write messages of one size into a
//! channel, R reader threads read large blocks until end of file (or one
//! takes them in place as circbuf's mapped consumer, `mapped.rs`), and the
//! bytes on both sides must agree in number and [`checksum`] (and, on
//! circbuf, with the device's counters). Time runs from the moment every
//! thread is ready to the last reader's end of file, so the data still in
//! the buffer when writers stop is part of the measurement.

use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;
use std::thread::{self, ScopedJoinHandle};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::channel::{Channel, Endpoint};
use crate::mapped::{self, Consumer, Reader};
use crate::options::Ratio;
use crate::placement::RotatingBuffer;
use crate::Error;

/// When a point's writers stop: after a time, or after writing a byte count between them.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    Duration(Duration),
    Bytes(u64),
}

/// What every point of a run shares.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub budget: Budget,
    /// Bytes each reader takes at a time.
    pub read_size: usize,
    /// The copy bound that rates are against.
    pub bound_mb_s: f64,
}

/// The wrapping sum of `bytes`, each 0 to 255, that every consumer takes of
/// every byte it gets and writers of every message they write. Unlike a sum
/// of words it does not depend on how reads split the stream, nor on which
/// reader gets which part, so the readers' sums add up to the writers'.
/// About half as fast as memcpy: 16-bit lanes, a block of 1 KiB at a time.
pub fn checksum(bytes: &[u8]) -> u64 {
    const LOW: u64 = 0x00ff_00ff_00ff_00ff;
    const PAIRS: u64 = 0x0000_ffff_0000_ffff;
    let mut blocks = bytes.chunks_exact(1024);
    let mut sum = 0u64;
    for block in &mut blocks {
        // 128 words add at most 128 * 2 * 255 < 2^16 to each lane.
        let lanes = block
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .fold(0, |lanes, w| lanes + (w & LOW) + ((w >> 8) & LOW));
        let pairs = (lanes & PAIRS) + ((lanes >> 16) & PAIRS);
        sum = sum.wrapping_add((pairs & 0xffff_ffff) + (pairs >> 32));
    }
    let tail: u64 = blocks.remainder().iter().map(|&b| u64::from(b)).sum();
    sum.wrapping_add(tail)
}

/// What writers write: every byte value in each 256 bytes, not zeros (in
/// case some layer treats zero pages specially).
fn pattern(i: usize) -> u8 {
    (i as u8).wrapping_mul(0x9d) ^ 0xa5
}

/// One channel's result at one point: the counts, and the rates worked out
/// from them.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Bytes the writers wrote (always equal to the bytes read).
    pub bytes: u64,
    /// Whole messages written.
    pub messages: u64,
    /// write(2) calls that stored data.
    pub write_calls: u64,
    /// read(2) calls that returned data, or the mapped consumer's steps.
    pub read_calls: u64,
    /// From start to the last reader's end of file.
    pub seconds: f64,
    pub mb_per_s: f64,
    /// Messages per second.
    pub ops_per_s: f64,
    /// `mb_per_s` over the copy bound.
    pub bound_fraction: f64,
}

/// What the threads of one side moved: bytes, whole messages (writers
/// only), calls that moved data, the [`checksum`] of the bytes, and when
/// the last reader saw end of file.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    bytes: u64,
    messages: u64,
    calls: u64,
    checksum: u64,
    pub(crate) end_of_file: Option<Instant>,
}

impl Tally {
    /// Counts and checksums the bytes one read or step took.
    pub(crate) fn take(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        self.calls += 1;
        self.checksum = self.checksum.wrapping_add(checksum(bytes));
    }
}

/// Runs one point: `ratio` threads on `channel`, `size`-byte messages,
/// read by `consumer`.
pub fn measure(
    channel: &Channel,
    size: usize,
    ratio: Ratio,
    consumer: Consumer,
    settings: &Settings,
) -> Result<Measurement, Error> {
    let mapped = consumer == Consumer::Mapped;
    let kind = if mapped {
        "circbuf mapped"
    } else {
        channel.kind()
    };
    let point = format!("{kind} {size} B {ratio}");
    let in_point = |e: Error| e.within(&point);
    channel.check_idle().map_err(in_point)?;
    let before = channel.stats().map_err(in_point)?;
    let per_writer = |bytes: u64| bytes.div_ceil(u64::from(ratio.writers));
    let quota = match settings.budget {
        Budget::Duration(_) => None,
        Budget::Bytes(bytes) => Some(per_writer(bytes).div_ceil(size as u64).max(1)),
    };
    let (readers, writers) = mapped::open(channel, ratio, consumer).map_err(in_point)?;
    let (wr, rd, began) = run_threads(readers, writers, size, quota, settings).map_err(in_point)?;
    let agree = |what: &str, a: u64, b: u64| match a == b {
        true => Ok(()),
        false => Err(Error::Run(format!("{point}: {what} differ: {a} and {b}"))),
    };
    agree("bytes written and read", wr.bytes, rd.bytes)?;
    agree("checksums written and read", wr.checksum, rd.checksum)?;
    // The device's counters before (s0) and after (s1) the point.
    if let (Some(s0), Some(s1)) = (before, channel.stats().map_err(in_point)?) {
        // For a mapped consumer the device counts as reads the times it
        // took in the consumer's position, which the consumer cannot see.
        let reads = (!mapped).then_some(("reads", s1.reads - s0.reads, rd.calls));
        let written = s1.bytes_written - s0.bytes_written;
        let counts = [
            ("bytes_written", written, wr.bytes),
            ("bytes_read", s1.bytes_read - s0.bytes_read, rd.bytes),
            ("writes", s1.writes - s0.writes, wr.calls),
        ];
        for (name, count, ours) in counts.into_iter().chain(reads) {
            let what = format!("{name} by the device and the threads");
            agree(&what, count, ours)?;
        }
    }
    let end = rd.end_of_file.unwrap_or(began);
    let elapsed = end.saturating_duration_since(began);
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let mb_per_s = wr.bytes as f64 / 1e6 / seconds;
    Ok(Measurement {
        bytes: wr.bytes,
        messages: wr.messages,
        write_calls: wr.calls,
        read_calls: rd.calls,
        seconds,
        mb_per_s,
        ops_per_s: wr.messages as f64 / seconds,
        bound_fraction: mb_per_s / settings.bound_mb_s,
    })
}

/// Starts every thread at once, stops the writers when the budget is
/// spent, and waits for the readers' end of file; returns the writers' and
/// readers' tallies and the start.
fn run_threads(
    readers: Vec<Reader>,
    writers: Vec<Endpoint>,
    size: usize,
    quota: Option<u64>,
    settings: &Settings,
) -> Result<(Tally, Tally, Instant), Error> {
    let stop = &AtomicBool::new(false);
    let start = &Barrier::new(readers.len() + writers.len() + 1);
    thread::scope(|scope| {
        let read = |reader: Reader| {
            scope.spawn(move || {
                start.wait();
                // With fewer readers the writers could block forever on a
                // full circbuf (it has no EPIPE); stopping them at least
                // lets the remaining readers drain it.
                let stop_writers = |_: &Error| stop.store(true, Ordering::Relaxed);
                let tally = reader.take_to_end(settings.read_size);
                tally.inspect_err(stop_writers)
            })
        };
        let readers: Vec<_> = readers.into_iter().map(read).collect();
        let write = |end: Endpoint| {
            scope.spawn(move || {
                // Every position holds the same message.
                let mut message = RotatingBuffer::new(size, pattern);
                let message_checksum = checksum(message.advance());
                let mut tally = Tally::default();
                start.wait();
                let more = |t: &Tally| quota.is_none_or(|quota| t.messages < quota);
                while more(&tally) && !stop.load(Ordering::Relaxed) {
                    tally.calls += end.write_all(message.advance())?;
                    tally.messages += 1;
                    tally.bytes += size as u64;
                    tally.checksum = tally.checksum.wrapping_add(message_checksum);
                }
                Ok(tally)
            })
        };
        let writers: Vec<_> = writers.into_iter().map(write).collect();
        start.wait();
        let began = Instant::now();
        if let Budget::Duration(duration) = settings.budget {
            thread::sleep(duration);
            stop.store(true, Ordering::Relaxed);
        }
        let (written, read) = (total(writers), total(readers));
        Ok((written?, read?, began))
    })
}

/// Joins one side's threads, re-raising a panic as it was, and adds up their tallies.
fn total(threads: Vec<ScopedJoinHandle<'_, Result<Tally, Error>>>) -> Result<Tally, Error> {
    let mut sum = Tally::default();
    for thread in threads {
        let tally = thread.join().unwrap_or_else(|p| resume_unwind(p))?;
        sum.bytes += tally.bytes;
        sum.messages += tally.messages;
        sum.calls += tally.calls;
        sum.checksum = sum.checksum.wrapping_add(tally.checksum);
        sum.end_of_file = sum.end_of_file.max(tally.end_of_file);
    }
    Ok(sum)
}

pub(crate) fn read_to_end(end: Endpoint, read_size: usize) -> Result<Tally, Error> {
    let mut buffer = RotatingBuffer::new(read_size, |_| 0);
    let mut tally = Tally::default();
    loop {
        let buf = buffer.advance();
        match end.read(buf)? {
            0 => break,
            n => tally.take(&buf[..n]),
        }
    }
    tally.end_of_file = Some(Instant::now());
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::PipeSize;
    use crate::mapped::Consumer;

    #[test]
    fn the_checksum_is_the_byte_sum_however_the_bytes_are_split() {
        let bytes: Vec<u8> = (0..5000).map(|i| pattern(i) ^ (i / 256) as u8).collect();
        let sum = |b: &[u8]| b.iter().map(|&b| u64::from(b)).sum::<u64>();
        for len in [0, 1, 7, 8, 1023, 1024, 1025, 3000, 5000] {
            assert_eq!(checksum(&bytes[..len]), sum(&bytes[..len]), "{len}");
        }
        assert_eq!(checksum(&[0xff; 4096]), 4096 * 255);
        let (a, b) = bytes.split_at(1234);
        assert_eq!(checksum(a) + checksum(b), checksum(&bytes));
        assert_eq!(checksum(&[1, 2]), checksum(&[2, 1]));
    }

    #[test]
    fn the_pattern_has_every_byte_value_once_in_256() {
        let mut seen: Vec<u8> = (0..256).map(pattern).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..=255).collect::<Vec<u8>>());
        assert_eq!(pattern(0), 0xa5);
        assert_eq!(pattern(256), pattern(0));
    }

    #[test]
    fn a_byte_budget_is_split_among_writers_in_whole_messages() {
        let pipe = Channel::Pipe(PipeSize::probe(4096).unwrap());
        let settings = Settings {
            budget: Budget::Bytes(10_000),
            read_size: 4096,
            bound_mb_s: 1e3,
        };
        let m = measure(&pipe, 1000, Ratio::new(3, 2), Consumer::Read, &settings).unwrap();
        // 10000 bytes over 3 writers is 3334 each: 4 messages of 1000.
        assert_eq!(m.messages, 12);
        assert_eq!(m.bytes, 12_000);
        assert!(m.write_calls >= 12);
        assert!(m.read_calls >= 3);
        assert!(m.seconds > 0.0);
    }

    #[test]
    fn a_timed_run_moves_data_through_a_pipe() {
        let pipe = Channel::Pipe(PipeSize::probe(65536).unwrap());
        let settings = Settings {
            budget: Budget::Duration(Duration::from_millis(20)),
            read_size: 65536,
            bound_mb_s: 1e3,
        };
        // The readers' checksums must add up to the writers' too.
        let m = measure(&pipe, 65536, Ratio::new(2, 2), Consumer::Read, &settings).unwrap();
        assert!(m.messages > 0);
        assert_eq!(m.bytes, m.messages * 65536);
        assert!(m.seconds >= 0.02, "{m:?}");
    }
}
