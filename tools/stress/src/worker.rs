// SPDX-License-Identifier: GPL-2.0
//! The readers' and writers' loops, for both kinds of run. A worker runs
//! the same code as a thread or as a process: it leaves what it did in its
//! tally on the [`Board`] and reports there what it saw go wrong.

use std::time::Instant;

use circbuf::Device;

use crate::board::{Board, Tally};
use crate::launch::{Role, Worker};
use crate::record::{self, RecordId};
use crate::stream::{self, StreamChecker};
use crate::verify::{Kind, Reader};
use crate::violation::{Check, Violation};

/// How a worker's loop ended: at its end, or at a system call's error.
type Done = Result<(), circbuf::Error>;

/// What every worker of a run needs to know.
pub struct Job<'a> {
    /// Where the workers leave their tallies and marks.
    pub board: &'a Board,
    /// What the run sends.
    pub kind: Kind,
    /// The run's seed.
    pub seed: u64,
    /// The device's capacity (stream mode's sizes scale with it).
    pub capacity: usize,
    /// When writers stop starting new writes.
    pub deadline: Instant,
}

impl Job<'_> {
    /// Runs `worker`'s loop, then closes its file: a writer's close is what
    /// lets the readers reach end-of-file.
    pub fn run(&self, worker: Worker) {
        let Worker { role, id, device } = worker;
        let tally = self.board.tally(role, id);
        let done = match (self.kind.record_size(), role) {
            (Some(size), Role::Writer) => self.write_records(&device, id, size, tally),
            (Some(size), Role::Reader) => self.read_records(&device, id, size, tally),
            (None, Role::Writer) => self.write_stream(&device, id, tally),
            (None, Role::Reader) => self.read_stream(&device, tally),
        };
        if let Err(e) = done {
            let text = format!("{role} {id}: {e}");
            self.board.report(&Violation::new(Check::Failed, text));
        }
        drop(device);
        tally.finish();
    }

    fn write_records(&self, device: &Device, writer: u32, size: usize, tally: Tally) -> Done {
        let mut buf = vec![0u8; size];
        // A writer whose bitmap is full stops early: the records it cannot
        // mark could not be checked.
        for seq in 0..self.board.bits_per_writer() {
            if Instant::now() >= self.deadline {
                break;
            }
            record::encode(self.seed, RecordId { writer, seq }, &mut buf);
            let wrote = device.write(&buf)?;
            if wrote != size {
                tally.add(u64::from(wrote > 0), wrote as u64, 0);
                // The ring now holds part of a record; going on would only
                // bury this in misalignment reports.
                self.board.report(&short_write(writer, wrote, size));
                break;
            }
            tally.add(1, size as u64, 1);
        }
        Ok(())
    }

    fn read_records(&self, device: &Device, reader: u32, size: usize, tally: Tally) -> Done {
        let mut checks = Reader::new(self.board, reader, self.seed, size);
        let mut buf = vec![0u8; size];
        loop {
            let got = device.read(&mut buf)?;
            if got == 0 {
                return Ok(());
            }
            let intact = checks.accept(&buf[..got], &mut |v| self.board.report(&v));
            tally.add(1, got as u64, u64::from(intact));
        }
    }

    fn write_stream(&self, device: &Device, writer: u32, tally: Tally) -> Done {
        let mut sizes = stream::sizes(self.seed, true);
        let mut buf = Vec::new();
        let mut offset = 0;
        while Instant::now() < self.deadline {
            let size = stream::next_size(&mut sizes, self.capacity, true);
            buf.resize(size, 0);
            stream::fill(self.seed, offset, &mut buf);
            offset += size as u64;
            // A write larger than the ring may be taken in parts; the rest
            // is simply written again, as with a pipe.
            let mut done = 0;
            while done < size {
                let wrote = device.write(&buf[done..])?;
                if wrote == 0 {
                    self.board.report(&short_write(writer, wrote, size - done));
                    return Ok(());
                }
                tally.add(1, wrote as u64, 0);
                done += wrote;
            }
        }
        Ok(())
    }

    fn read_stream(&self, device: &Device, tally: Tally) -> Done {
        let mut sizes = stream::sizes(self.seed, false);
        let mut checker = StreamChecker::new(self.seed);
        let mut buf = vec![0u8; stream::max_size(self.capacity)];
        let read = loop {
            let size = stream::next_size(&mut sizes, self.capacity, false);
            match device.read(&mut buf[..size]) {
                Ok(0) => break Ok(()),
                Ok(got) => {
                    tally.add(1, got as u64, 0);
                    checker.feed(&buf[..got]);
                }
                Err(e) => break Err(e),
            }
        };
        // Reported even after an error: the mismatch may explain it.
        if let Some(mismatch) = checker.into_mismatch() {
            self.board.report(&mismatch);
        }
        read
    }
}

fn short_write(writer: u32, wrote: usize, want: usize) -> Violation {
    let text = format!("writer {writer}: write stored {wrote} of {want} bytes");
    Violation::new(Check::ShortWrite, text)
}
