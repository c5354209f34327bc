// SPDX-License-Identifier: GPL-2.0

//! The operation generator: draws the next operation from the seed, the
//! model's state and the calls asleep, and the sequence that ends a run.
//!
//! Sizes gather around the edges the rules care about (0, 1, the atomic
//! limit, the capacity, the free and used counts, the poll threshold), and
//! most reads and writes go to files that may do them. A blocking call the
//! model says sleeps is kept when a child process may make it: the first,
//! or one more read-only reader beside read-only readers, up to the limit.
//! Otherwise it is made not to sleep: a write shrinks to the free room, or
//! the call gets `RWF_NOWAIT`. With two readers asleep nothing writes,
//! since which of them a write wakes is the kernel's choice; the last
//! writer's close, which wakes them all, releases them.

use circbuf::testing::Rng;

use crate::model::{Model, Plan, Sleeper, PIPE_BUF};
use crate::op::{Access, Buffer, Op, Positioned, Via};

/// How a read or write is to be made, before the length is final.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Fault,
    /// With `RWF_NOWAIT` when `true`.
    Vectored(bool),
}

/// Draws operations for a run.
pub struct Generator {
    rng: Rng,
    max_len: usize,
    /// How many calls may sleep at once.
    max_asleep: usize,
    /// How many of the fixed steps of the run's end were drawn.
    ended: usize,
}

impl Generator {
    /// Reads and writes of at most `max_len` (at least 1) bytes, and at
    /// most `max_asleep` calls asleep at once.
    pub fn new(seed: u64, max_len: usize, max_asleep: usize) -> Generator {
        Generator {
            rng: Rng::new(seed),
            max_len,
            max_asleep,
            ended: 0,
        }
    }

    /// The next operation, for the device in `model`'s state with the calls
    /// `asleep` on their files.
    pub fn next(&mut self, model: &Model, asleep: &[Sleeper]) -> Op {
        let open = awake(model, asleep);
        let free = model.slots(false);
        // Out of 100: 4 release what sleeps, the rest by the weights below.
        let roll = self.rng.range(0, 99);
        if roll < 4 && !asleep.is_empty() {
            return self.release(model, asleep);
        }
        // Fewer calls sleep than there are slots, so one is free.
        if open.is_empty() || roll < 12 && !free.is_empty() {
            return self.open(&free);
        }
        let slot = *self.rng.pick(&open);
        let nowait = self.rng.chance(1, 2);
        match roll {
            0..18 => Op::Close(slot),
            18..21 => Op::SetNonblock(slot, nowait),
            21..39 => self.read(model, asleep, Style::Plain),
            39..44 => self.read(model, asleep, Style::Vectored(nowait)),
            44..47 => self.read(model, asleep, Style::Fault),
            47..65 => self.write(model, asleep, Style::Plain),
            65..70 => self.write(model, asleep, Style::Vectored(nowait)),
            70..73 => self.write(model, asleep, Style::Fault),
            73..81 => Op::Poll(slot),
            81..84 => Op::Fionread(slot, self.ioctl_buffer(size_of::<i32>())),
            84..89 => Op::GetStats(slot, self.ioctl_buffer(size_of::<circbuf::Stats>())),
            89..90 => Op::Reset(slot),
            90..91 => {
                let flip = model.mode().to_uapi() ^ 1;
                let value = if self.rng.chance(9, 10) {
                    flip
                } else {
                    self.rng.next_u64() as u32 | 2
                };
                Op::SetMode(slot, value, self.ioctl_buffer(size_of::<u32>()))
            }
            91..94 => self.misc(slot),
            _ => Op::Poll(slot),
        }
    }

    fn open(&mut self, free: &[usize]) -> Op {
        let access = *self.rng.pick(&Access::ALL);
        Op::Open(*self.rng.pick(free), access, self.rng.chance(1, 2))
    }

    /// An unknown ioctl under circbuf's magic (numbers 1 to 5 are its
    /// commands), or a call that needs a file position.
    fn misc(&mut self, slot: usize) -> Op {
        if self.rng.chance(1, 2) {
            let calls = [Positioned::Seek, Positioned::Pread, Positioned::Pwrite];
            return Op::Positioned(slot, *self.rng.pick(&calls));
        }
        let high = self.rng.range(6, 255) as u32;
        let nr = *self.rng.pick(&[0, high]);
        let dir = self.rng.range(0, 3) as u32;
        let size = self.rng.range(0, 0x3fff) as u32;
        let magic = u32::from(circbuf::CIRCBUF_IOC_MAGIC);
        Op::UnknownIoctl(slot, dir << 30 | size << 16 | magic << 8 | nr)
    }

    /// A slot whose file passes `fits` most of the time, any awake open
    /// slot otherwise, so that calls the access mode forbids are tried too.
    fn slot_for(&mut self, model: &Model, asleep: &[Sleeper], fits: fn(Access) -> bool) -> usize {
        let open = awake(model, asleep);
        let fitting: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&s| model.file(s).is_some_and(|f| fits(f.access)))
            .collect();
        if !fitting.is_empty() && self.rng.chance(9, 10) {
            *self.rng.pick(&fitting)
        } else {
            *self.rng.pick(&open)
        }
    }

    /// A length near an edge that matters, or anywhere up to the maximum.
    /// `focus` is the used bytes for a read, the free bytes for a write;
    /// `to_threshold` what moves the free room to the poll threshold.
    fn len(&mut self, model: &Model, focus: usize, to_threshold: usize) -> usize {
        let near = |rng: &mut Rng, x: usize| (x + rng.range(0, 2)).saturating_sub(1);
        let len = match self.rng.range(0, 10) {
            0 => 0,
            1 | 2 => self.rng.range(1, 16),
            3 => near(&mut self.rng, PIPE_BUF),
            4 => near(&mut self.rng, model.capacity()),
            5 | 6 => near(&mut self.rng, focus),
            7 => near(&mut self.rng, model.record_max()),
            8 => near(&mut self.rng, to_threshold),
            _ => self.rng.range(0, self.max_len),
        };
        len.min(self.max_len)
    }

    /// Whether a call on `slot` that sleeps may be left to sleep.
    fn may_sleep(&self, model: &Model, asleep: &[Sleeper], slot: usize, read: bool) -> bool {
        let read_only = |s: usize| model.file(s).is_some_and(|f| f.access == Access::Read);
        let readers = asleep
            .iter()
            .all(|s| matches!(s, Sleeper::Read { .. }) && read_only(s.slot()));
        asleep.len() < self.max_asleep && (asleep.is_empty() || read && read_only(slot) && readers)
    }

    fn read(&mut self, model: &Model, asleep: &[Sleeper], mut style: Style) -> Op {
        let slot = self.slot_for(model, asleep, Access::can_read);
        let to_threshold = model.record_max().saturating_sub(model.free());
        let mut len = self.len(model, model.used(), to_threshold);
        if style == Style::Fault {
            len = len.max(1);
        }
        if model.read_plan(slot, len, style == Style::Vectored(true)) == Plan::Wait
            && (style == Style::Fault || !self.may_sleep(model, asleep, slot, true))
        {
            style = Style::Vectored(true);
        }
        Op::Read(slot, len, self.via(style, len))
    }

    fn write(&mut self, model: &Model, asleep: &[Sleeper], mut style: Style) -> Op {
        let slot = self.slot_for(model, asleep, Access::can_write);
        let to_threshold = model.free().saturating_sub(model.record_max());
        let mut len = self.len(model, model.free(), to_threshold);
        if asleep.len() > 1 {
            // Which of several sleeping readers a write wakes is not said;
            // a faulting write of one byte stores nothing either.
            len = 0;
        } else if let [Sleeper::Read { .. }] = asleep {
            // A write larger than the room goes on storing what the reader
            // it woke makes room for meanwhile, as much as the race allows.
            len = len.min(model.free());
        }
        if style == Style::Fault {
            len = len.max(1);
        }
        if model.write_plan(slot, len, style == Style::Vectored(true)) == Plan::Wait
            && (style == Style::Fault || !self.may_sleep(model, asleep, slot, false))
        {
            if model.free() > 0 && self.rng.chance(1, 2) {
                len = self.rng.range(1, model.free().min(self.max_len));
            } else {
                style = Style::Vectored(true);
            }
        }
        let data_seed = self.rng.next_u64();
        Op::Write(slot, len, data_seed, self.via(style, len))
    }

    fn via(&mut self, style: Style, len: usize) -> Via {
        match style {
            Style::Plain => Via::Plain(Buffer::Valid),
            Style::Fault => Via::Plain(self.fault_buffer(len)),
            Style::Vectored(nowait) => {
                let mut cuts: Vec<usize> = (0..self.rng.range(0, 7))
                    .map(|_| self.rng.range(0, len))
                    .collect();
                cuts.sort_unstable();
                cuts.push(len);
                let segments = cuts
                    .iter()
                    .scan(0, |last, &cut| Some(cut - std::mem::replace(last, cut)))
                    .collect();
                Via::Vectored(segments, nowait)
            }
        }
    }

    /// A bad buffer for a call of `len` (at least 1) bytes.
    fn fault_buffer(&mut self, len: usize) -> Buffer {
        match self.rng.range(0, 3) {
            0 => Buffer::Null,
            1 => Buffer::Kernel,
            _ if self.rng.chance(1, 2) => Buffer::Tail(self.rng.range(0, (len - 1).min(16))),
            _ => Buffer::Tail(self.rng.range(0, len - 1)),
        }
    }

    /// The argument of an ioctl that copies `size` bytes: mostly valid.
    fn ioctl_buffer(&mut self, size: usize) -> Buffer {
        if self.rng.chance(4, 5) {
            Buffer::Valid
        } else {
            self.fault_buffer(size)
        }
    }

    /// What moves the calls asleep on: a read for a writer waiting for
    /// room; a write for a lone reader; for several readers the closes
    /// that leave no writer, opening one first if there is none. The file
    /// that does it is opened first if no awake one can.
    fn release(&mut self, model: &Model, asleep: &[Sleeper]) -> Op {
        let open = awake(model, asleep);
        let reads = matches!(asleep, [Sleeper::Write { .. }]);
        let (access, can): (_, fn(Access) -> bool) = match reads {
            true => (Access::Read, Access::can_read),
            false => (Access::Write, Access::can_write),
        };
        // Drawn whether or not the write is made, so that runs replay.
        let data_seed = matches!(asleep, [Sleeper::Read { .. }]).then(|| self.rng.next_u64());
        let wanted = open
            .iter()
            .find(|&&s| model.file(s).is_some_and(|f| can(f.access)));
        match (wanted, model.slots(false).first(), data_seed) {
            (Some(&slot), ..) if reads => {
                let len = model.capacity();
                Op::Read(slot, len, Via::Vectored(vec![len], true))
            }
            (Some(&slot), _, Some(seed)) => Op::Write(slot, 1, seed, Via::Vectored(vec![1], true)),
            (Some(&slot), ..) => Op::Close(slot),
            (_, Some(&slot), _) => Op::Open(slot, access, true),
            _ => Op::Close(open[0]),
        }
    }

    /// The next operation of the run's end, or `None` once it is over:
    /// release what sleeps, close every file, read what is left through a
    /// new file in slot 0 (checking every byte), restore the mode the run
    /// found, and compare the statistics one last time.
    pub fn end(&mut self, model: &Model, asleep: &[Sleeper], baseline_mode: u32) -> Option<Op> {
        if !asleep.is_empty() {
            return Some(self.release(model, asleep));
        }
        let open = model.slots(true);
        if self.ended == 0 && !open.is_empty() {
            return Some(Op::Close(open[0]));
        }
        if self.ended == 1 && model.used() > 0 {
            let len = model.used().min(self.max_len);
            return Some(Op::Read(0, len, Via::Plain(Buffer::Valid)));
        }
        let steps = [
            Op::Open(0, Access::ReadWrite, true),
            Op::SetMode(0, baseline_mode, Buffer::Valid),
            Op::GetStats(0, Buffer::Valid),
            Op::Close(0),
        ];
        self.ended += 1;
        steps.into_iter().nth(self.ended - 1)
    }
}

/// The open slots whose file no call sleeps on.
fn awake(model: &Model, asleep: &[Sleeper]) -> Vec<usize> {
    model
        .slots(true)
        .into_iter()
        .filter(|&s| asleep.iter().all(|a| a.slot() != s))
        .collect()
}

#[cfg(test)]
mod tests {
    use circbuf::Stats;

    use super::*;
    use crate::expect::{expect, Outcome};
    use crate::model::Wake;

    /// Runs the generator against the model itself, as a device that always
    /// behaves as specified, and returns the operations drawn, with what
    /// each woke, and the model at the end.
    fn simulate(
        seed: u64,
        capacity: u64,
        ops: u64,
        max_asleep: usize,
    ) -> (Vec<(Op, Vec<Wake>)>, Model) {
        let mut m = Model::new(
            Stats {
                capacity,
                ..Stats::default()
            },
            4,
        );
        let mut generator = Generator::new(seed, 2 * capacity as usize + 1, max_asleep);
        let mut asleep: Vec<Sleeper> = Vec::new();
        let mut drawn = Vec::new();
        for i in 0.. {
            let op = if i < ops {
                Some(generator.next(&m, &asleep))
            } else {
                generator.end(&m, &asleep, 0)
            };
            let Some(op) = op else { break };
            let mut woke = Vec::new();
            match expect(&mut m, &op, None, &mut 0) {
                Outcome::Sleeps(mut sleeper) => {
                    assert!(asleep.len() < max_asleep, "{op:?}");
                    assert_eq!(m.sleep(&mut sleeper), Wake::Slept);
                    asleep.push(sleeper);
                }
                Outcome::Reply(_) => {
                    let data_before = m.used();
                    for mut sleeper in std::mem::take(&mut asleep) {
                        match m.wake(&mut sleeper) {
                            Wake::Done(result, data) => woke.push(Wake::Done(result, data)),
                            wake => {
                                woke.push(wake);
                                asleep.push(sleeper);
                            }
                        }
                    }
                    let with_data = woke
                        .iter()
                        .filter(|w| matches!(w, Wake::Done(Ok(1..), _)))
                        .count();
                    assert!(with_data <= 1 || data_before == 0, "{op:?} woke {woke:?}");
                }
            }
            drawn.push((op, woke));
        }
        (drawn, m)
    }

    #[test]
    fn same_seed_same_operations() {
        let ops = |seed| {
            simulate(seed, 64, 2_000, 2)
                .0
                .into_iter()
                .map(|(op, _)| op)
                .collect::<Vec<_>>()
        };
        assert_eq!(ops(42), ops(42));
        assert_ne!(ops(42), ops(43));
    }

    #[test]
    fn every_run_ends_drained_closed_and_in_its_mode() {
        for (seed, capacity) in [(1, 1), (2, 7), (3, 4096), (4, 5000), (5, 100)] {
            let (_, m) = simulate(seed, capacity, 3_000, 3);
            assert_eq!(m.used(), 0);
            assert!(m.slots(true).is_empty());
            assert_eq!(m.mode(), circbuf::Mode::Block);
        }
    }

    #[test]
    fn draws_every_kind_sleeps_and_wakes_and_both_modes() {
        let (ops, m) = simulate(7, 61, 20_000, 3);
        let names: std::collections::BTreeSet<&str> = ops.iter().map(|(op, _)| op.name()).collect();
        let all = [
            "open",
            "close",
            "fcntl",
            "read",
            "readv",
            "write",
            "writev",
            "poll",
            "fionread",
            "stats",
            "reset",
            "set_mode",
            "bad_ioctl",
            "seek",
        ];
        assert_eq!(names, all.into_iter().collect());
        assert!(ops
            .iter()
            .any(|(op, _)| matches!(op, Op::Read(.., Via::Plain(Buffer::Null)))));
        assert!(ops
            .iter()
            .any(|(op, _)| matches!(op, Op::Write(.., Via::Plain(Buffer::Tail(_))))));
        let s = m.stats();
        assert!(s.read_waits > 100 && s.write_waits > 100, "{s:?}");
        assert!(s.dropped_records > 0, "{s:?}");
        // Several readers woken at once by the last writer's close.
        let eof_for_all = |woke: &Vec<Wake>| {
            woke.iter()
                .filter(|w| **w == Wake::Done(Ok(0), Vec::new()))
                .count()
                > 1
        };
        assert!(ops
            .iter()
            .any(|(op, woke)| matches!(op, Op::Close(_)) && eof_for_all(woke)));
        // Writers woken by a read, by a reset and by the switch to overwrite.
        for woken_by in ["read", "readv", "reset", "set_mode"] {
            let woke_writer = |woke: &Vec<Wake>| {
                woke.iter()
                    .any(|w| matches!(w, Wake::Done(Ok(_), d) if d.is_empty()))
            };
            assert!(
                ops.iter()
                    .any(|(op, woke)| op.name() == woken_by && woke_writer(woke)),
                "{woken_by}"
            );
        }
    }

    #[test]
    fn no_call_sleeps_without_processes_and_lengths_respect_the_maximum() {
        let (ops, m) = simulate(9, 1000, 3_000, 0);
        assert_eq!((m.stats().read_waits, m.stats().write_waits), (0, 0));
        for (op, _) in ops {
            if let Op::Read(_, len, via) | Op::Write(_, len, _, via) = &op {
                assert!(*len <= 2001);
                if let Via::Vectored(segments, _) = via {
                    assert_eq!(segments.iter().sum::<usize>(), *len);
                }
                if let Buffer::Tail(accessible) = via.buffer() {
                    assert!(accessible < *len);
                }
            }
        }
    }
}
