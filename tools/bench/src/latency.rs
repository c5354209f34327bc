// SPDX-License-Identifier: GPL-2.0
//! Wake-up latency: a reader sleeps on an empty channel, a writer stamps
//! the monotonic clock's nanoseconds since the test began into an 8-byte
//! message and writes it, and the reader takes the time it gets the message
//! minus the stamp.
//!
//! Before each sample the reader tells the writer it is about to read, and
//! the writer waits a gap long enough for the reader to be asleep in
//! read(2), so each sample includes the wake-up and not just a copy. On
//! circbuf the device's `read_waits` counter shows whether that held.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::distribution::Summary;
use crate::options::Ratio;
use crate::Error;

/// Bytes in a latency message: one stamp in nanoseconds.
const MESSAGE: usize = 8;

/// One channel's wake-up latency.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Which channel: `circbuf` or `pipe`.
    pub channel: String,
    /// The order statistics of the receive time minus the send time of
    /// each message.
    #[serde(flatten)]
    pub summary: Summary,
    /// How often circbuf's reader slept during the test; `None` on a pipe.
    /// At least one per sample when the gap was long enough.
    pub reader_sleeps: Option<u64>,
}

/// Takes `samples` samples on `channel`, waiting `gap` before each write;
/// `None` without samples.
pub fn measure(channel: &Channel, samples: usize, gap: Duration) -> Result<Option<Latency>, Error> {
    let what = format!("{} latency", channel.kind());
    let context = |e: Error| e.within(&what);
    channel.check_idle().map_err(context)?;
    let before = channel.stats().map_err(context)?;
    let (mut readers, mut writers) = channel.open(Ratio::new(1, 1)).map_err(context)?;
    let (Some(reader), Some(writer)) = (readers.pop(), writers.pop()) else {
        return Err(Error::Run("a 1:1 open gave no ends".into()));
    };
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
                reader.read_exact(&mut message)?;
                let received = now_ns();
                let sent = u64::from_ne_bytes(message);
                nanoseconds.push(received.saturating_sub(sent));
            }
            // The writer has closed after its last message: anything but
            // end of file now means bytes were added or left over.
            match reader.read(&mut message)? {
                0 => Ok(nanoseconds),
                n => Err(Error::Run(format!("{n} stray bytes after the last sample"))),
            }
        });
        let sent = (|| {
            for _ in 0..samples {
                if wait_ready.recv().is_err() {
                    // The reader stopped early; its result says why.
                    break;
                }
                thread::sleep(gap);
                writer.write_all(&now_ns().to_ne_bytes())?;
            }
            drop(writer);
            Ok(())
        })();
        let received = match receiver.join() {
            Ok(received) => received,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        sent.and(received)
    });
    let nanoseconds = received.map_err(context)?;
    let reader_sleeps = match (before, channel.stats().map_err(context)?) {
        (Some(before), Some(after)) => Some(after.read_waits - before.read_waits),
        _ => None,
    };
    Ok(Summary::of(&nanoseconds).map(|summary| Latency {
        channel: channel.kind().into(),
        summary,
        reader_sleeps,
    }))
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
        assert_eq!(latency.summary.samples, 20);
        assert!(latency.summary.max_ns < 1_000_000_000);
        assert_eq!(latency.reader_sleeps, None);
    }

    #[test]
    fn no_samples_is_not_an_error() {
        let pipe = Channel::Pipe(PipeSize::probe(4096).unwrap());
        assert_eq!(measure(&pipe, 0, Duration::from_micros(1)), Ok(None));
    }
}
