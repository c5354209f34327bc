// SPDX-License-Identifier: GPL-2.0

//! The oracle: the one reply a correct device gives to an operation, given
//! the model, and the model's update for it.
//!
//! Beyond the model's plan this applies what happens around the driver:
//! the VFS refuses a file without the needed access (`EBADF`) and a kernel
//! address (`EFAULT`, from `access_ok()`) before the driver runs, and a copy
//! that faults moves only the accessible bytes (`EFAULT` when none).

use rustix::io::Errno;

use crate::model::{Model, Plan, Sleeper};
use crate::op::{payload, Buffer, Op, Reply, Via};

/// What a correct device does with an operation.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Replies at once.
    Reply(Reply),
    /// Sleeps in the driver; the model has not yet put it to sleep.
    Sleeps(Sleeper),
}

/// What the device must do with `op`; applies `op` to `model`.
///
/// The kernel's copy routines may stop short of a fault (they promise only
/// to copy at least one byte when one is accessible), so when `actual`
/// reports such a short, non-empty copy from a partly accessible buffer,
/// the model follows it, and the bytes are still checked; `short` counts
/// these. Without `actual`, copies are exact.
pub fn expect(model: &mut Model, op: &Op, actual: Option<&Reply>, short: &mut u64) -> Outcome {
    let status = |result: Result<(), Errno>| Outcome::Reply(Reply::Status(result.map(|()| 0)));
    match *op {
        Op::Open(slot, access, nonblock) => {
            model.open(slot, access, nonblock);
            status(Ok(()))
        }
        Op::Close(slot) => {
            model.close(slot);
            status(Ok(()))
        }
        Op::SetNonblock(slot, nonblock) => {
            model.set_nonblock(slot, nonblock);
            status(Ok(()))
        }
        Op::Read(slot, len, ref via) => {
            let reported = match actual {
                Some(Reply::Read(Ok(n), _)) => Some(*n),
                _ => None,
            };
            let plan = model.read_plan(slot, len, via.nowait());
            match transfer(plan, len, via, reported, short) {
                None => Outcome::Sleeps(Sleeper::Read { slot, len }),
                Some(result) => {
                    let data = result.map_or_else(|_| Vec::new(), |n| model.take(n));
                    Outcome::Reply(Reply::Read(result, data))
                }
            }
        }
        Op::Write(slot, len, seed, ref via) => {
            let reported = match actual {
                Some(Reply::Status(Ok(n))) => usize::try_from(*n).ok(),
                _ => None,
            };
            let data = payload(seed, len);
            let plan = model.write_plan(slot, len, via.nowait());
            match transfer(plan, len, via, reported, short) {
                None => Outcome::Sleeps(Sleeper::Write {
                    slot,
                    rest: data,
                    stored: 0,
                    atomic: model.is_atomic(len),
                }),
                Some(result) => {
                    if let Ok(n) = result {
                        model.store(&data[..n], true);
                    }
                    Outcome::Reply(Reply::Status(result.map(|n| n as u64)))
                }
            }
        }
        Op::Poll(slot) => {
            let revents = model.poll(slot);
            Outcome::Reply(Reply::Poll(usize::from(!revents.is_empty()), revents))
        }
        Op::Fionread(_, buffer) => Outcome::Reply(Reply::Status(
            fits::<i32>(buffer).map(|()| model.used() as u64),
        )),
        Op::GetStats(_, buffer) => Outcome::Reply(Reply::Stats(
            fits::<circbuf::Stats>(buffer).map(|()| model.stats()),
        )),
        Op::Reset(slot) => status(model.reset(slot)),
        Op::SetMode(slot, value, buffer) => {
            let can_write = model.file(slot).is_some_and(|f| f.access.can_write());
            match fits::<u32>(buffer) {
                Err(errno) if can_write => status(Err(errno)),
                _ => status(model.set_mode(slot, value)),
            }
        }
        Op::UnknownIoctl(..) => status(Err(Errno::NOTTY)),
        Op::Positioned(..) => status(Err(Errno::SPIPE)),
    }
}

/// Whether an ioctl's argument of type `T` at `buffer` can be copied whole.
fn fits<T>(buffer: Buffer) -> Result<(), Errno> {
    let size = std::mem::size_of::<T>();
    if buffer.accessible(size) == size {
        Ok(())
    } else {
        Err(Errno::FAULT)
    }
}

/// The return value of a read or write of `len` bytes with `plan` through
/// `via`'s memory, or `None` if it sleeps. `reported` is the count the
/// device returned, if it returned one, for following a short copy.
fn transfer(
    plan: Plan,
    len: usize,
    via: &Via,
    reported: Option<usize>,
    short: &mut u64,
) -> Option<Result<usize, Errno>> {
    let buffer = via.buffer();
    Some(match plan {
        Plan::Fail(Errno::BADF) => Err(Errno::BADF),
        _ if buffer == Buffer::Kernel => Err(Errno::FAULT),
        Plan::Fail(errno) => Err(errno),
        Plan::Zero => Ok(0),
        Plan::Wait => return None,
        Plan::Move(max) => {
            let exact = max.min(buffer.accessible(len));
            let partly_accessible = matches!(buffer, Buffer::Tail(accessible) if accessible > 0);
            match reported {
                Some(n) if partly_accessible && (1..exact).contains(&n) => {
                    *short += 1;
                    Ok(n)
                }
                _ if exact == 0 => Err(Errno::FAULT),
                _ => Ok(exact),
            }
        }
    })
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

    fn run(m: &mut Model, op: &Op, actual: Option<&Reply>) -> Reply {
        match expect(m, op, actual, &mut 0) {
            Outcome::Reply(reply) => reply,
            Outcome::Sleeps(sleeper) => panic!("{op:?} sleeps: {sleeper:?}"),
        }
    }

    fn write(slot: usize, len: usize, buffer: Buffer) -> Op {
        Op::Write(slot, len, 5, Via::Plain(buffer))
    }

    fn read(slot: usize, len: usize, buffer: Buffer) -> Op {
        Op::Read(slot, len, Via::Plain(buffer))
    }

    #[test]
    fn faulting_write_stores_the_accessible_prefix() {
        let mut m = model();
        assert_eq!(
            run(&mut m, &write(0, 10, Buffer::Tail(4)), None),
            Reply::Status(Ok(4))
        );
        assert_eq!(
            run(&mut m, &write(0, 3, Buffer::Null), None),
            Reply::Status(Err(Errno::FAULT))
        );
        // A nonblocking atomic write that does not fit fails before copying.
        assert_eq!(
            run(&mut m, &write(0, 13, Buffer::Null), None),
            Reply::Status(Err(Errno::AGAIN))
        );
        assert_eq!(m.used(), 4);
    }

    #[test]
    fn kernel_address_faults_even_at_end_of_file_but_access_comes_first() {
        let mut m = model();
        assert_eq!(
            run(&mut m, &read(0, 4, Buffer::Kernel), None).to_string(),
            "Err(EFAULT)"
        );
        assert_eq!(
            run(&mut m, &write(1, 4, Buffer::Kernel), None),
            Reply::Status(Err(Errno::BADF))
        );
        // NULL only faults when a copy is tried.
        assert_eq!(
            run(&mut m, &read(0, 4, Buffer::Null), None).to_string(),
            "Err(EAGAIN)"
        );
        run(&mut m, &write(0, 3, Buffer::Valid), None);
        assert_eq!(
            run(&mut m, &read(0, 4, Buffer::Null), None).to_string(),
            "Err(EFAULT)"
        );
        assert_eq!(m.used(), 3);
    }

    #[test]
    fn reads_return_the_model_bytes_and_short_copies_are_followed_where_allowed() {
        let mut m = model();
        run(&mut m, &write(0, 6, Buffer::Valid), None);
        let got = run(&mut m, &read(1, 4, Buffer::Tail(2)), None);
        assert_eq!(got, Reply::Read(Ok(2), payload(5, 2)));
        let short_read = Reply::Read(Ok(1), Vec::new());
        let mut short = 0;
        let got = expect(
            &mut m,
            &read(1, 9, Buffer::Tail(3)),
            Some(&short_read),
            &mut short,
        );
        assert_eq!(
            got,
            Outcome::Reply(Reply::Read(Ok(1), payload(5, 3)[2..].to_vec()))
        );
        assert_eq!(short, 1);
        // With valid memory every byte must be copied.
        let short_write = Reply::Status(Ok(1));
        assert_eq!(
            run(&mut m, &write(0, 3, Buffer::Valid), Some(&short_write)),
            Reply::Status(Ok(3))
        );
    }

    #[test]
    fn blocking_calls_that_cannot_complete_sleep() {
        let mut m = model();
        let sleeps = expect(&mut m, &read(1, 1, Buffer::Valid), None, &mut 0);
        assert!(matches!(
            sleeps,
            Outcome::Sleeps(Sleeper::Read { slot: 1, len: 1 })
        ));
        m.set_nonblock(0, false);
        run(&mut m, &write(0, 10, Buffer::Valid), None);
        let sleeps = expect(&mut m, &write(0, 10, Buffer::Valid), None, &mut 0);
        assert!(matches!(
            sleeps,
            Outcome::Sleeps(Sleeper::Write {
                atomic: true,
                stored: 0,
                ..
            })
        ));
    }

    #[test]
    fn ioctls_and_positioned_calls() {
        let mut m = model();
        let stats = Op::GetStats(1, Buffer::Tail(127));
        assert_eq!(run(&mut m, &stats, None), Reply::Stats(Err(Errno::FAULT)));
        let fionread = Op::Fionread(1, Buffer::Tail(4));
        assert_eq!(run(&mut m, &fionread, None), Reply::Status(Ok(0)));
        assert_eq!(
            run(&mut m, &Op::Reset(1), None),
            Reply::Status(Err(Errno::BADF))
        );
        let set = Op::SetMode;
        assert_eq!(
            run(&mut m, &set(1, 1, Buffer::Null), None),
            Reply::Status(Err(Errno::BADF))
        );
        assert_eq!(
            run(&mut m, &set(0, 1, Buffer::Null), None),
            Reply::Status(Err(Errno::FAULT))
        );
        assert_eq!(
            run(&mut m, &set(0, 7, Buffer::Valid), None),
            Reply::Status(Err(Errno::INVAL))
        );
        assert_eq!(
            run(&mut m, &set(0, 1, Buffer::Valid), None),
            Reply::Status(Ok(0))
        );
        assert_eq!(m.stats().mode, 1);
        let unknown = Op::UnknownIoctl(1, 7);
        assert_eq!(
            run(&mut m, &unknown, None),
            Reply::Status(Err(Errno::NOTTY))
        );
        let revents = PollFlags::OUT | PollFlags::WRNORM;
        assert_eq!(run(&mut m, &Op::Poll(0), None), Reply::Poll(1, revents));
    }
}
