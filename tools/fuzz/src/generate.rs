// SPDX-License-Identifier: GPL-2.0

//! The operation generator: draws the next operation from the seed and the
//! model's state, and the fixed sequence that drains the device at the end.
//!
//! The generator looks at the model so that its operations are worth
//! issuing: sizes gather around the edges the rules care about (0, 1, the
//! atomic limit, the capacity, the free and used byte counts), most reads
//! and writes go to files that may do them, and a blocking call is issued
//! only when the model says it completes without sleeping. A call that
//! would sleep is turned into one that cannot: a blocking write shrinks to
//! the free room, or the call is made with `RWF_NOWAIT`.

use circbuf::testing::Rng;

use crate::model::PIPE_BUF;
use crate::model::{Model, Plan};
use crate::op::{Access, Buffer, Op, Positioned, Via};

/// The ioctl type ("magic") of circbuf; unknown commands are drawn under
/// it, so that no generic ioctl of the VFS can match them.
const MAGIC: u32 = circbuf::CIRCBUF_IOC_MAGIC as u32;

/// Relative weights of the operations drawn.
const WEIGHTS: [(Choice, usize); 14] = [
    (Choice::Open, 8),
    (Choice::Close, 6),
    (Choice::SetNonblock, 3),
    (Choice::Read, 18),
    (Choice::Write, 18),
    (Choice::Readv, 5),
    (Choice::Writev, 5),
    (Choice::FaultRead, 3),
    (Choice::FaultWrite, 3),
    (Choice::Poll, 8),
    (Choice::Fionread, 3),
    (Choice::Stats, 5),
    (Choice::Reset, 1),
    (Choice::Misc, 2),
];

#[derive(Clone, Copy)]
enum Choice {
    Open,
    Close,
    SetNonblock,
    Read,
    Write,
    Readv,
    Writev,
    FaultRead,
    FaultWrite,
    Poll,
    Fionread,
    Stats,
    Reset,
    Misc,
}

/// How a read or write is to be made, before the length is final.
enum Style {
    Plain,
    Fault,
    Vectored { nowait: bool },
}

/// Draws operations for a run.
pub struct Generator {
    rng: Rng,
    processes: usize,
    max_len: usize,
}

impl Generator {
    /// A generator for files spread over `processes` processes (at least
    /// 1), with reads and writes of at most `max_len` bytes (at least 1).
    pub fn new(seed: u64, processes: usize, max_len: usize) -> Generator {
        assert!(processes >= 1 && max_len >= 1);
        Generator {
            rng: Rng::new(seed),
            processes,
            max_len,
        }
    }

    /// The next operation, for the device in `model`'s state.
    pub fn next(&mut self, model: &Model) -> Op {
        let open = model.open_slots();
        let free = model.free_slots();
        if open.is_empty() {
            return self.open(&free);
        }
        match self.choice() {
            Choice::Open if !free.is_empty() => self.open(&free),
            Choice::Open | Choice::Close => Op::Close {
                slot: *self.rng.pick(&open),
            },
            Choice::SetNonblock => Op::SetNonblock {
                slot: *self.rng.pick(&open),
                nonblock: self.rng.chance(1, 2),
            },
            Choice::Read => self.read(model, Style::Plain),
            Choice::Readv => {
                let nowait = self.rng.chance(1, 2);
                self.read(model, Style::Vectored { nowait })
            }
            Choice::FaultRead => self.read(model, Style::Fault),
            Choice::Write => self.write(model, Style::Plain),
            Choice::Writev => {
                let nowait = self.rng.chance(1, 2);
                self.write(model, Style::Vectored { nowait })
            }
            Choice::FaultWrite => self.write(model, Style::Fault),
            Choice::Poll => Op::Poll {
                slot: *self.rng.pick(&open),
            },
            Choice::Fionread => Op::Fionread {
                slot: *self.rng.pick(&open),
                buffer: self.ioctl_buffer(crate::expect::FIONREAD_SIZE),
            },
            Choice::Stats => Op::GetStats {
                slot: *self.rng.pick(&open),
                buffer: self.ioctl_buffer(crate::expect::STATS_SIZE),
            },
            Choice::Reset => Op::Reset {
                slot: *self.rng.pick(&open),
            },
            Choice::Misc => {
                let slot = *self.rng.pick(&open);
                if self.rng.chance(1, 2) {
                    Op::UnknownIoctl {
                        slot,
                        cmd: self.unknown_cmd(),
                    }
                } else {
                    Op::Positioned {
                        slot,
                        call: *self.rng.pick(&Positioned::ALL),
                    }
                }
            }
        }
    }

    fn choice(&mut self) -> Choice {
        let total: usize = WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.range(0, total - 1);
        for (choice, weight) in WEIGHTS {
            if roll < weight {
                return choice;
            }
            roll -= weight;
        }
        unreachable!("the roll is below the total weight")
    }

    fn open(&mut self, free: &[usize]) -> Op {
        Op::Open {
            slot: *self.rng.pick(free),
            process: self.rng.range(0, self.processes - 1),
            access: *self.rng.pick(&Access::ALL),
            nonblock: self.rng.chance(1, 2),
        }
    }

    /// A slot whose file passes `fits` most of the time, any open slot
    /// otherwise, so that calls the access mode forbids are tried too.
    fn slot_for(&mut self, model: &Model, fits: impl Fn(Access) -> bool) -> usize {
        let open = model.open_slots();
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

    /// A length near the edges that matter, or anywhere up to the maximum;
    /// `focus` is the used bytes for a read, the free bytes for a write.
    fn len(&mut self, model: &Model, focus: usize) -> usize {
        let near = |rng: &mut Rng, x: usize| (x + rng.range(0, 2)).saturating_sub(1);
        let len = match self.rng.range(0, 9) {
            0 => 0,
            1 | 2 => self.rng.range(1, 16),
            3 => near(&mut self.rng, PIPE_BUF),
            4 => near(&mut self.rng, model.capacity()),
            5 | 6 => near(&mut self.rng, focus),
            7 => near(&mut self.rng, PIPE_BUF.min(model.capacity())),
            _ => self.rng.range(0, self.max_len),
        };
        len.min(self.max_len)
    }

    /// Random segment lengths summing to `len`, some of them empty.
    fn segments(&mut self, len: usize) -> Vec<usize> {
        let count = self.rng.range(1, 8);
        let mut cuts: Vec<usize> = (1..count).map(|_| self.rng.range(0, len)).collect();
        cuts.sort_unstable();
        let mut segments = Vec::with_capacity(count);
        let mut last = 0;
        for cut in cuts.into_iter().chain([len]) {
            segments.push(cut - last);
            last = cut;
        }
        segments
    }

    /// A bad buffer for a call of `len` (at least 1) bytes.
    fn fault_buffer(&mut self, len: usize) -> Buffer {
        match self.rng.range(0, 3) {
            0 => Buffer::Null,
            1 => Buffer::Kernel,
            _ => Buffer::Tail {
                accessible: if self.rng.chance(1, 2) {
                    self.rng.range(0, (len - 1).min(16))
                } else {
                    self.rng.range(0, len - 1)
                },
            },
        }
    }

    /// The argument of an ioctl that fills `size` bytes: mostly valid.
    fn ioctl_buffer(&mut self, size: usize) -> Buffer {
        if self.rng.chance(4, 5) {
            Buffer::Valid
        } else {
            self.fault_buffer(size)
        }
    }

    /// An ioctl command circbuf does not define: any direction, size and
    /// number under its magic, other than its own two commands.
    fn unknown_cmd(&mut self) -> u32 {
        loop {
            let dir = self.rng.range(0, 3) as u32;
            let size = self.rng.range(0, 0x3fff) as u32;
            let nr = self.rng.range(0, 255) as u32;
            let cmd = (dir << 30) | (size << 16) | (MAGIC << 8) | nr;
            if cmd != circbuf::CIRCBUF_GET_STATS && cmd != circbuf::CIRCBUF_RESET {
                return cmd;
            }
        }
    }

    fn read(&mut self, model: &Model, style: Style) -> Op {
        let slot = self.slot_for(model, Access::can_read);
        let mut len = self.len(model, model.used());
        let mut style = style;
        if matches!(style, Style::Fault) {
            len = len.max(1);
        }
        let nowait = matches!(style, Style::Vectored { nowait: true });
        if model.read_plan(slot, len, nowait) == Plan::Wait {
            style = Style::Vectored { nowait: true };
        }
        let via = self.via(style, len);
        Op::Read { slot, len, via }
    }

    fn write(&mut self, model: &Model, style: Style) -> Op {
        let slot = self.slot_for(model, Access::can_write);
        let mut len = self.len(model, model.free());
        let mut style = style;
        if matches!(style, Style::Fault) {
            len = len.max(1);
        }
        let nowait = matches!(style, Style::Vectored { nowait: true });
        if model.write_plan(slot, len, nowait) == Plan::Wait {
            if model.free() > 0 && self.rng.chance(1, 2) {
                len = self.rng.range(1, model.free().min(self.max_len));
            } else {
                style = Style::Vectored { nowait: true };
            }
        }
        let via = self.via(style, len);
        let data_seed = self.rng.next_u64();
        Op::Write {
            slot,
            len,
            data_seed,
            via,
        }
    }

    fn via(&mut self, style: Style, len: usize) -> Via {
        match style {
            Style::Plain => Via::Plain(Buffer::Valid),
            Style::Fault => Via::Plain(self.fault_buffer(len)),
            Style::Vectored { nowait } => Via::Vectored {
                segments: self.segments(len),
                nowait,
            },
        }
    }
}

/// The operations that end a run: close every file, open one reader in
/// the first process, read everything left (checking every byte), compare
/// the statistics one last time, and close it, leaving the device empty.
pub struct Drain {
    stage: Stage,
    max_len: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Closing,
    Reading,
    Closed,
    Done,
}

impl Drain {
    /// Draining with reads of at most `max_len` (at least 1) bytes.
    pub fn new(max_len: usize) -> Drain {
        Drain {
            stage: Stage::Closing,
            max_len,
        }
    }

    /// The next operation, or `None` when the device is drained.
    pub fn next(&mut self, model: &Model) -> Option<Op> {
        const SLOT: usize = 0;
        match self.stage {
            Stage::Closing => {
                if let Some(&slot) = model.open_slots().first() {
                    return Some(Op::Close { slot });
                }
                self.stage = Stage::Reading;
                Some(Op::Open {
                    slot: SLOT,
                    process: 0,
                    access: Access::Read,
                    nonblock: true,
                })
            }
            Stage::Reading if model.used() > 0 => Some(Op::Read {
                slot: SLOT,
                len: model.used().min(self.max_len),
                via: Via::Plain(Buffer::Valid),
            }),
            Stage::Reading => {
                self.stage = Stage::Closed;
                Some(Op::GetStats {
                    slot: SLOT,
                    buffer: Buffer::Valid,
                })
            }
            Stage::Closed => {
                self.stage = Stage::Done;
                Some(Op::Close { slot: SLOT })
            }
            Stage::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use circbuf::Stats;

    use super::*;
    use crate::expect::expect;
    use crate::op::Kind;

    fn model(capacity: u64, slots: usize) -> Model {
        Model::new(
            Stats {
                capacity,
                ..Stats::default()
            },
            slots,
        )
    }

    /// Runs the generator against the model itself, as a device that always
    /// behaves as specified, and returns the operations drawn.
    fn simulate(seed: u64, capacity: u64, ops: usize) -> (Vec<Op>, Model) {
        let mut m = model(capacity, 4);
        let max_len = 2 * capacity as usize + 1;
        let mut generator = Generator::new(seed, 3, max_len);
        let mut drawn = Vec::with_capacity(ops);
        for _ in 0..ops {
            let op = generator.next(&m);
            expect(&mut m, &op, None);
            drawn.push(op);
        }
        let mut drain = Drain::new(max_len);
        while let Some(op) = drain.next(&m) {
            expect(&mut m, &op, None);
            drawn.push(op);
        }
        (drawn, m)
    }

    #[test]
    fn same_seed_same_operations() {
        let (a, _) = simulate(42, 64, 2_000);
        let (b, _) = simulate(42, 64, 2_000);
        assert_eq!(a, b);
        let (c, _) = simulate(43, 64, 2_000);
        assert_ne!(a, c);
    }

    #[test]
    fn never_sleeps_and_ends_drained() {
        // `expect` panics on a call that would sleep.
        for (seed, capacity) in [(1, 1), (2, 7), (3, 4096), (4, 5000), (5, 100)] {
            let (_, m) = simulate(seed, capacity, 3_000);
            assert_eq!(m.used(), 0);
            assert!(m.open_slots().is_empty());
        }
    }

    #[test]
    fn draws_every_kind_and_every_fault() {
        let (ops, _) = simulate(7, 64, 5_000);
        for kind in Kind::ALL {
            assert!(ops.iter().any(|op| op.kind() == kind), "{kind:?}");
        }
        for fault in [Buffer::Null, Buffer::Kernel] {
            assert!(ops.iter().any(|op| op.fault() == Some(fault)));
        }
        assert!(ops
            .iter()
            .any(|op| matches!(op.fault(), Some(Buffer::Tail { .. }))));
        assert!(ops.iter().any(|op| matches!(
            op,
            Op::Read {
                via: Via::Vectored { nowait: true, .. },
                ..
            }
        )));
    }

    #[test]
    fn lengths_respect_the_maximum_and_faults_have_bytes_to_fault_on() {
        let mut m = model(1000, 4);
        let mut generator = Generator::new(9, 1, 10);
        for _ in 0..3_000 {
            let op = generator.next(&m);
            if let Op::Read { len, via, .. } | Op::Write { len, via, .. } = &op {
                assert!(*len <= 10);
                if let Via::Vectored { segments, .. } = via {
                    assert_eq!(segments.iter().sum::<usize>(), *len);
                }
                match via.buffer() {
                    Buffer::Valid => {}
                    Buffer::Tail { accessible } => assert!(accessible < *len),
                    _ => assert!(*len >= 1),
                }
            }
            expect(&mut m, &op, None);
        }
    }

    #[test]
    fn unknown_commands_are_circbuf_commands_it_does_not_know() {
        let mut generator = Generator::new(3, 1, 1);
        for _ in 0..1_000 {
            let cmd = generator.unknown_cmd();
            assert_eq!((cmd >> 8) & 0xff, MAGIC);
            assert_ne!(cmd, circbuf::CIRCBUF_GET_STATS);
        }
    }
}
