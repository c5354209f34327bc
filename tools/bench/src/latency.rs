// SPDX-License-Identifier: GPL-2.0
//! Wake-up latency: a reader sleeps on an empty channel, a writer stamps
//! the monotonic clock's nanoseconds since the test began into an 8-byte
//! message and writes it, and the reader takes the time it gets the message
//! minus the stamp.
//!
//! Before each sample the reader tells the writer it is about to read, and
//! the writer waits a gap long enough for the reader to be asleep in
//! read(2), so each sample includes the wake-up and not just a copy. On
//! circbuf the device's `read_waits` counter shows whether that held. The
//! [`percentile`]s are by nearest rank, so each is a measured value.

use std::panic::resume_unwind;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::options::Ratio;
use crate::Error;

/// Bytes in a latency message: one stamp in nanoseconds.
const MESSAGE: usize = 8;

/// One channel's wake-up latency: order statistics of the receive time
/// minus the send time of each message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    /// `circbuf` or `pipe`.
    pub channel: String,
    pub samples: usize,
    pub min_ns: u64,
    pub median_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    /// How often circbuf's reader slept during the test; `None` on a pipe.
    /// At least one per sample when the gap was long enough.
    pub reader_sleeps: Option<u64>,
}

/// The `p`-th percentile (0 < p ≤ 100) of ascending `sorted` samples by
/// nearest rank: the smallest sample with at least p % of the samples at or
/// below it. `None` without samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

impl Latency {
    /// Summarises `channel`'s `samples`, in any order; `None` without any.
    fn of(channel: &str, mut samples: Vec<u64>, reader_sleeps: Option<u64>) -> Option<Latency> {
        samples.sort_unstable();
        Some(Latency {
            channel: channel.into(),
            samples: samples.len(),
            min_ns: *samples.first()?,
            median_ns: percentile(&samples, 50.0)?,
            p99_ns: percentile(&samples, 99.0)?,
            max_ns: *samples.last()?,
            reader_sleeps,
        })
    }
}

/// Takes `samples` samples on `channel`, waiting `gap` before each write;
/// `None` without samples. Warns when circbuf's reader was not always
/// asleep.
pub fn measure(channel: &Channel, samples: usize, gap: Duration) -> Result<Option<Latency>, Error> {
    let what = format!("{} latency", channel.kind());
    let context = |e: Error| e.within(&what);
    channel.check_idle().map_err(context)?;
    let before = channel.stats().map_err(context)?;
    let (mut readers, mut writers) = channel.open(Ratio::new(1, 1)).map_err(context)?;
    let (reader, writer) = (readers.remove(0), writers.remove(0));
    let (ready, wait_ready) = mpsc::channel::<()>();
    // Both threads stamp time since this, which 64 bits of nanoseconds hold
    // for centuries.
    let began = Instant::now();
    let now_ns = || began.elapsed().as_nanos() as u64;

    let received = thread::scope(|scope| {
        let receiver = scope.spawn(move || {
            let mut nanoseconds = Vec::with_capacity(samples);
            let mut message = [0; MESSAGE];
            for _ in 0..samples {
                // The writer may be gone after an error; its error is the
                // one reported then.
                let _ = ready.send(());
                // Both channels store an 8-byte write whole, and only one
                // is in flight, so a read takes all of it or finds the end.
                match reader.read(&mut message)? {
                    MESSAGE => {}
                    n => return Err(Error::Run(format!("a sample's read got {n} bytes"))),
                }
                nanoseconds.push(now_ns().saturating_sub(u64::from_ne_bytes(message)));
            }
            // The writer has closed after its last message: anything but
            // end of file now means bytes were added or left over.
            match reader.read(&mut message)? {
                0 => Ok(nanoseconds),
                n => Err(Error::Run(format!("{n} stray bytes after the last sample"))),
            }
        });
        // The reader stops asking after an error; its result says why.
        let mut asked = (0..samples).take_while(|_| wait_ready.recv().is_ok());
        let sent = asked.try_for_each(|_| {
            thread::sleep(gap);
            writer.write_all(&now_ns().to_ne_bytes()).map(drop)
        });
        drop(writer);
        let received = receiver.join().unwrap_or_else(|p| resume_unwind(p));
        sent.and(received)
    });
    let nanoseconds = received.map_err(context)?;
    let after = channel.stats().map_err(context)?;
    let reader_sleeps = before.zip(after).map(|(b, a)| a.read_waits - b.read_waits);
    if let Some(sleeps) = reader_sleeps.filter(|&n| n < samples as u64) {
        eprintln!(
            "bench: warning: the circbuf reader slept only {sleeps} times in {samples} \
             latency samples; a longer --latency-gap makes sure it is asleep"
        );
    }
    Ok(Latency::of(channel.kind(), nanoseconds, reader_sleeps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::PipeSize;

    #[test]
    fn a_pipe_reader_is_woken_within_a_second() {
        let pipe = Channel::Pipe(PipeSize::probe(4096).unwrap());
        let latency = measure(&pipe, 20, Duration::from_micros(200))
            .unwrap()
            .unwrap();
        assert_eq!(latency.channel, "pipe");
        assert_eq!(latency.samples, 20);
        assert!(latency.max_ns < 1_000_000_000);
        assert_eq!(latency.reader_sleeps, None);
    }

    #[test]
    fn no_samples_is_not_an_error() {
        let pipe = Channel::Pipe(PipeSize::probe(4096).unwrap());
        assert_eq!(measure(&pipe, 0, Duration::from_micros(1)), Ok(None));
    }

    #[test]
    fn nearest_rank_picks_measured_values() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 99.0), Some(99));
        assert_eq!(percentile(&sorted, 100.0), Some(100));
        assert_eq!(percentile(&sorted, 0.1), Some(1));
        assert_eq!(percentile(&[7, 9], 50.0), Some(7));
        assert_eq!(percentile(&[7, 9], 51.0), Some(9));
        assert_eq!(percentile(&[3], 99.0), Some(3));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn p99_of_few_samples_is_the_largest() {
        let sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&sorted, 99.0), Some(10));
        assert_eq!(percentile(&sorted, 90.0), Some(9));
    }

    #[test]
    fn summary_sorts_first() {
        let summary = Latency::of("pipe", vec![30, 10, 20, 1000, 40], None).unwrap();
        assert_eq!(
            summary,
            Latency {
                channel: "pipe".into(),
                samples: 5,
                min_ns: 10,
                median_ns: 30,
                p99_ns: 1000,
                max_ns: 1000,
                reader_sleeps: None,
            }
        );
        assert_eq!(Latency::of("pipe", vec![], None), None);
    }
}
