// SPDX-License-Identifier: GPL-2.0

//! The model against a Linux pipe, where the two must agree: a writer that
//! opened before the reader, nonblocking I/O, and at most 4096 bytes
//! waiting, so that the pipe's page-granular room never refuses a write the
//! model's byte ring accepts. Within that, byte order, read and write
//! counts, FIONREAD, the reader's POLLIN and POLLHUP and end of file follow
//! FIFO practice on both. Where they differ (POLLOUT, atomicity near a full
//! ring, EOF for a reader that never saw a writer), the model is tested on
//! its own in `model.rs`.

use std::os::fd::AsFd;

use circbuf::testing::Rng;
use circbuf::Stats;
use circbuf_fuzz::model::{Model, Plan};
use circbuf_fuzz::op::{payload, Access};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::{ioctl_fionread, read, write, Errno};
use rustix::pipe::{pipe_with, PipeFlags};

const CAPACITY: u64 = 4096;
const WRITER: usize = 0;
const READER: usize = 1;

/// A model of a device of the pipe's size with the writer, then the
/// reader, open without blocking, as the pipe's two ends are.
fn open_model() -> Model {
    let mut model = Model::new(
        Stats {
            capacity: CAPACITY,
            ..Stats::default()
        },
        2,
    );
    model.open(WRITER, Access::Write, true);
    model.open(READER, Access::Read, true);
    model
}

fn reader_events(fd: impl AsFd) -> PollFlags {
    let mut fds = [PollFd::new(&fd, PollFlags::IN | PollFlags::RDNORM)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&zero)).expect("poll");
    fds[0].revents()
}

#[test]
fn model_agrees_with_a_pipe_where_their_semantics_coincide() {
    for seed in 0..20 {
        let (pipe_r, pipe_w) = pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC).expect("pipe");
        let mut pipe_w = Some(pipe_w);
        let mut model = open_model();
        let mut rng = Rng::new(seed);

        for step in 0..2_000 {
            let context = format!("seed {seed} step {step}");
            if step == 1_500 {
                model.close(WRITER);
                pipe_w = None;
            }
            match (rng.range(0, 2), &pipe_w) {
                (0, Some(w)) => {
                    let len = rng.range(0, model.free());
                    let data_seed = rng.next_u64();
                    let data = payload(data_seed, len);
                    let got = write(w, &data);
                    match model.write_plan(WRITER, len, false) {
                        Plan::Move(n) => {
                            assert_eq!(got, Ok(n), "{context}");
                            model.store(&data[..n]);
                        }
                        Plan::Zero => assert_eq!(got, Ok(0), "{context}"),
                        other => panic!("{context}: model plans {other:?} for a write that fits"),
                    }
                }
                (1, _) => {
                    let len = rng.range(0, 2 * CAPACITY as usize);
                    let mut buf = vec![0; len];
                    let got = read(&pipe_r, &mut buf);
                    match model.read_plan(READER, len, false) {
                        Plan::Move(n) => {
                            assert_eq!(got, Ok(n), "{context}");
                            assert_eq!(buf[..n], model.take(n), "{context}");
                        }
                        Plan::Zero => assert_eq!(got, Ok(0), "{context}"),
                        Plan::Fail(errno) => assert_eq!(got, Err(errno), "{context}"),
                        Plan::Wait => panic!("{context}: nonblocking reads never wait"),
                    }
                }
                _ => {
                    let fionread = ioctl_fionread(&pipe_r).expect("FIONREAD");
                    assert_eq!(fionread, model.used() as u64, "{context}");
                    assert_eq!(reader_events(&pipe_r), model.poll(READER), "{context}");
                }
            }
        }
        // Drained after the writer left: end of file on both, and POLLHUP.
        while model.used() > 0 {
            let mut buf = vec![0; model.used()];
            let n = read(&pipe_r, &mut buf).expect("read");
            assert_eq!(buf[..n], model.take(n));
        }
        assert_eq!(model.read_plan(READER, 1, false), Plan::Zero);
        assert_eq!(read(&pipe_r, &mut [0; 1]), Ok(0));
        assert_eq!(reader_events(&pipe_r), PollFlags::HUP);
        assert_eq!(model.poll(READER), PollFlags::HUP);
    }
}

#[test]
fn empty_pipe_and_model_both_refuse_a_nonblocking_read_while_a_writer_is_open() {
    let (pipe_r, _pipe_w) = pipe_with(PipeFlags::NONBLOCK).expect("pipe");
    let model = open_model();
    assert_eq!(read(&pipe_r, &mut [0; 8]), Err(Errno::AGAIN));
    assert_eq!(model.read_plan(READER, 8, false), Plan::Fail(Errno::AGAIN));
    assert_eq!(reader_events(&pipe_r), PollFlags::empty());
    assert_eq!(model.poll(READER), PollFlags::empty());
}
