// SPDX-License-Identifier: GPL-2.0

//! The oracle: the one reply a correct device gives to an operation, given
//! the model, and the model's update for it.
//!
//! Beyond the model's plan this applies what happens around the driver:
//! the VFS refuses a file without the needed access (`EBADF`) and a kernel
//! address (`EFAULT`, from `access_ok()`) before the driver runs, and a copy
//! that faults moves only the accessible bytes (`EFAULT` when none).

use rustix::io::Errno;

use crate::model::{Model, Plan};
use crate::op::{payload, Buffer, Op, Reply, Via};

/// The size of `struct circbuf_stats`.
pub const STATS_SIZE: usize = std::mem::size_of::<circbuf::Stats>();

/// The size of `FIONREAD`'s `int`.
pub const FIONREAD_SIZE: usize = std::mem::size_of::<i32>();

/// The reply a correct device gives, and whether it allowed for a short copy.
#[derive(Debug)]
pub struct Expectation {
    /// The reply the device must give.
    pub reply: Reply,
    /// The device copied fewer bytes than were accessible before a fault,
    /// and the model followed it (see [`expect`]).
    pub short_copy: bool,
}

/// What the device must reply to `op`; applies `op` to `model`.
///
/// Where user memory faults part-way, the kernel's copy routines may stop
/// short of the fault (`raw_copy_from_user()` only promises to copy at least
/// one byte when one is accessible), so when `actual` reports such a short
/// but non-empty copy from a partly accessible buffer, the model follows it,
/// and the bytes are still checked. Without `actual`, copies are exact.
///
/// # Panics
///
/// If `op` is a blocking call that would sleep, or names a slot that is not
/// open (which the generator never produces).
pub fn expect(model: &mut Model, op: &Op, actual: Option<&Reply>) -> Expectation {
    let mut short_copy = false;
    let reply = match op {
        Op::Open {
            slot,
            access,
            nonblock,
            ..
        } => {
            model.open(*slot, *access, *nonblock);
            Reply::Status(Ok(0))
        }
        Op::Close { slot } => {
            model.close(*slot);
            Reply::Status(Ok(0))
        }
        Op::SetNonblock { slot, nonblock } => {
            model.set_nonblock(*slot, *nonblock);
            Reply::Status(Ok(0))
        }
        Op::Read { slot, len, via } => {
            let plan = model.read_plan(*slot, *len, via.nowait());
            let reported = match actual {
                Some(Reply::Read { result: Ok(n), .. }) => Some(*n),
                _ => None,
            };
            let result = transfer(plan, *len, via, reported, &mut short_copy, op);
            let data = match result {
                Ok(n) => model.take(n),
                Err(_) => Vec::new(),
            };
            Reply::Read { result, data }
        }
        Op::Write {
            slot,
            len,
            data_seed,
            via,
        } => {
            let plan = model.write_plan(*slot, *len, via.nowait());
            let reported = match actual {
                Some(Reply::Status(Ok(n))) => usize::try_from(*n).ok(),
                _ => None,
            };
            let result = transfer(plan, *len, via, reported, &mut short_copy, op);
            if let Ok(n) = result {
                model.store(&payload(*data_seed, n));
            }
            Reply::Status(result.map(|n| n as u64))
        }
        Op::Poll { slot } => {
            let revents = model.poll(*slot);
            Reply::Poll {
                ready: usize::from(!revents.is_empty()),
                revents,
            }
        }
        Op::Fionread { buffer, .. } => Reply::Fionread(match buffer.accessible(FIONREAD_SIZE) {
            FIONREAD_SIZE => Ok(i32::try_from(model.used()).expect("the driver caps the capacity")),
            _ => Err(Errno::FAULT),
        }),
        Op::GetStats { buffer, .. } => Reply::Stats(match buffer.accessible(STATS_SIZE) {
            STATS_SIZE => Ok(model.stats()),
            _ => Err(Errno::FAULT),
        }),
        Op::Reset { slot } => Reply::Status(model.reset(*slot).map(|()| 0)),
        Op::UnknownIoctl { .. } => Reply::Status(Err(Errno::NOTTY)),
        Op::Positioned { .. } => Reply::Status(Err(Errno::SPIPE)),
    };
    Expectation { reply, short_copy }
}

/// The return value of a read or write of `len` bytes with `plan`, through
/// `via`'s memory. `reported` is the count the device returned, if it
/// returned one, for allowing a short copy.
fn transfer(
    plan: Plan,
    len: usize,
    via: &Via,
    reported: Option<usize>,
    short_copy: &mut bool,
    op: &Op,
) -> Result<usize, Errno> {
    let buffer = via.buffer();
    match plan {
        Plan::Fail(Errno::BADF) => Err(Errno::BADF),
        _ if buffer == Buffer::Kernel => Err(Errno::FAULT),
        Plan::Fail(errno) => Err(errno),
        Plan::Zero => Ok(0),
        Plan::Wait => panic!("the generator issued a call that sleeps: {op}"),
        Plan::Move(max) => {
            let exact = max.min(buffer.accessible(len));
            let partly_accessible = matches!(buffer, Buffer::Tail { accessible } if accessible > 0);
            match reported {
                Some(n) if partly_accessible && (1..exact).contains(&n) => {
                    *short_copy = true;
                    Ok(n)
                }
                _ if exact == 0 => Err(Errno::FAULT),
                _ => Ok(exact),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use circbuf::Stats;
    use rustix::event::PollFlags;

    use super::*;
    use crate::op::Access;

    fn model() -> Model {
        let mut m = Model::new(
            Stats {
                capacity: 16,
                ..Stats::default()
            },
            4,
        );
        m.open(0, Access::ReadWrite, true);
        m.open(1, Access::Read, false);
        m
    }

    fn write(len: usize, buffer: Buffer) -> Op {
        Op::Write {
            slot: 0,
            len,
            data_seed: 5,
            via: Via::Plain(buffer),
        }
    }

    fn read(slot: usize, len: usize, buffer: Buffer) -> Op {
        Op::Read {
            slot,
            len,
            via: Via::Plain(buffer),
        }
    }

    #[test]
    fn faulting_write_stores_the_accessible_prefix() {
        let mut m = model();
        let e = expect(&mut m, &write(10, Buffer::Tail { accessible: 4 }), None);
        assert_eq!(e.reply, Reply::Status(Ok(4)));
        assert_eq!(m.used(), 4);
        let e = expect(&mut m, &write(3, Buffer::Null), None);
        assert_eq!(e.reply, Reply::Status(Err(Errno::FAULT)));
        // A nonblocking atomic write that does not fit fails before copying.
        let e = expect(&mut m, &write(13, Buffer::Null), None);
        assert_eq!(e.reply, Reply::Status(Err(Errno::AGAIN)));
        assert_eq!(m.used(), 4);
    }

    #[test]
    fn kernel_address_faults_even_at_end_of_file_but_access_comes_first() {
        let mut m = model();
        let e = expect(&mut m, &read(0, 4, Buffer::Kernel), None);
        assert_eq!(e.reply.to_string(), "Err(EFAULT)");
        let e = expect(&mut m, &write(4, Buffer::Kernel), None);
        assert_eq!(e.reply, Reply::Status(Err(Errno::FAULT)));
        let op = Op::Write {
            slot: 1,
            len: 4,
            data_seed: 0,
            via: Via::Plain(Buffer::Kernel),
        };
        let e = expect(&mut m, &op, None);
        assert_eq!(e.reply, Reply::Status(Err(Errno::BADF)));
    }

    #[test]
    fn null_read_on_empty_ring_does_not_fault() {
        let mut m = model();
        let e = expect(&mut m, &read(0, 4, Buffer::Null), None);
        assert_eq!(e.reply.to_string(), "Err(EAGAIN)");
        expect(&mut m, &write(3, Buffer::Valid), None);
        let e = expect(&mut m, &read(0, 4, Buffer::Null), None);
        assert_eq!(e.reply.to_string(), "Err(EFAULT)");
        assert_eq!(m.used(), 3);
    }

    #[test]
    fn reads_return_the_model_bytes() {
        let mut m = model();
        expect(&mut m, &write(6, Buffer::Valid), None);
        let e = expect(&mut m, &read(1, 4, Buffer::Tail { accessible: 2 }), None);
        assert_eq!(
            e.reply,
            Reply::Read {
                result: Ok(2),
                data: payload(5, 2)
            }
        );
        let e = expect(&mut m, &read(1, 9, Buffer::Valid), None);
        assert_eq!(
            e.reply,
            Reply::Read {
                result: Ok(4),
                data: payload(5, 6)[2..].to_vec()
            }
        );
    }

    #[test]
    fn short_copies_are_followed_only_where_allowed() {
        let mut m = model();
        let short = Reply::Status(Ok(2));
        let e = expect(
            &mut m,
            &write(10, Buffer::Tail { accessible: 6 }),
            Some(&short),
        );
        assert!(e.short_copy);
        assert_eq!(e.reply, short);
        assert_eq!(m.used(), 2);
        // With valid memory every byte must be copied.
        let e = expect(&mut m, &write(3, Buffer::Valid), Some(&short));
        assert!(!e.short_copy);
        assert_eq!(e.reply, Reply::Status(Ok(3)));
    }

    #[test]
    #[should_panic(expected = "sleeps")]
    fn a_blocking_call_that_would_sleep_is_a_generator_bug() {
        let mut m = model();
        expect(&mut m, &read(1, 1, Buffer::Valid), None);
    }

    #[test]
    fn ioctls_and_positioned_calls() {
        let mut m = model();
        let e = expect(
            &mut m,
            &Op::GetStats {
                slot: 1,
                buffer: Buffer::Tail { accessible: 87 },
            },
            None,
        );
        assert_eq!(e.reply, Reply::Stats(Err(Errno::FAULT)));
        let e = expect(
            &mut m,
            &Op::Fionread {
                slot: 1,
                buffer: Buffer::Tail { accessible: 4 },
            },
            None,
        );
        assert_eq!(e.reply, Reply::Fionread(Ok(0)));
        let e = expect(&mut m, &Op::Reset { slot: 1 }, None);
        assert_eq!(e.reply, Reply::Status(Err(Errno::BADF)));
        let e = expect(&mut m, &Op::UnknownIoctl { slot: 1, cmd: 7 }, None);
        assert_eq!(e.reply, Reply::Status(Err(Errno::NOTTY)));
        let e = expect(&mut m, &Op::Poll { slot: 0 }, None);
        assert_eq!(
            e.reply,
            Reply::Poll {
                ready: 1,
                revents: PollFlags::OUT | PollFlags::WRNORM
            }
        );
        assert_eq!(STATS_SIZE, 128);
    }
}
