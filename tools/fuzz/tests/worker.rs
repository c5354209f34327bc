// SPDX-License-Identifier: GPL-2.0

//! The fuzzer binary as a whole: a worker process serving operations over
//! its pipes (on ordinary character devices, since the host has no
//! circbuf), and the command line's handling of a missing device.

use std::path::Path;
use std::process::Command;

use circbuf_fuzz::op::{Access, Buffer, Op, Positioned, Reply, Via};
use circbuf_fuzz::worker::Worker;
use rustix::io::Errno;

const EXE: &str = env!("CARGO_BIN_EXE_fuzz");

fn open(slot: usize, access: Access) -> Op {
    Op::Open {
        slot,
        process: 0,
        access,
        nonblock: true,
    }
}

#[test]
fn worker_serves_operations_until_its_input_closes() {
    let mut worker = Worker::spawn(Path::new(EXE), Path::new("/dev/zero")).expect("spawn");
    assert_eq!(
        worker.run(&open(1, Access::ReadWrite)).unwrap(),
        Reply::Status(Ok(0))
    );
    let reply = worker
        .run(&Op::Read {
            slot: 1,
            len: 70_000,
            via: Via::Plain(Buffer::Valid),
        })
        .unwrap();
    assert_eq!(
        reply,
        Reply::Read {
            result: Ok(70_000),
            data: vec![0; 70_000]
        }
    );
    let reply = worker
        .run(&Op::Read {
            slot: 1,
            len: 64,
            via: Via::Plain(Buffer::Kernel),
        })
        .unwrap();
    assert_eq!(
        reply,
        Reply::Read {
            result: Err(Errno::FAULT),
            data: vec![]
        }
    );
    let reply = worker
        .run(&Op::Write {
            slot: 1,
            len: 9,
            data_seed: 3,
            via: Via::Vectored {
                segments: vec![4, 5],
                nowait: true,
            },
        })
        .unwrap();
    assert_eq!(reply, Reply::Status(Ok(9)));
    let reply = worker
        .run(&Op::UnknownIoctl {
            slot: 1,
            cmd: 0xc1ff,
        })
        .unwrap();
    assert_eq!(reply, Reply::Status(Err(Errno::NOTTY)));
    // /dev/zero has a position of sorts, so lseek succeeds there; on the
    // stream that circbuf is, it fails with ESPIPE.
    let reply = worker
        .run(&Op::Positioned {
            slot: 1,
            call: Positioned::Seek,
        })
        .unwrap();
    assert_eq!(reply, Reply::Status(Ok(0)));
    assert!(worker.finish().expect("wait").success());
}

#[test]
fn files_of_different_workers_are_independent() {
    let mut a = Worker::spawn(Path::new(EXE), Path::new("/dev/null")).expect("spawn");
    let mut b = Worker::spawn(Path::new(EXE), Path::new("/dev/null")).expect("spawn");
    assert_eq!(
        a.run(&open(0, Access::Write)).unwrap(),
        Reply::Status(Ok(0))
    );
    assert_eq!(b.run(&open(0, Access::Read)).unwrap(), Reply::Status(Ok(0)));
    let write = Op::Write {
        slot: 0,
        len: 4,
        data_seed: 1,
        via: Via::Plain(Buffer::Valid),
    };
    assert_eq!(a.run(&write).unwrap(), Reply::Status(Ok(4)));
    // The same slot in the other worker is a read-only file.
    assert_eq!(b.run(&write).unwrap(), Reply::Status(Err(Errno::BADF)));
    assert_eq!(a.run(&Op::Close { slot: 0 }).unwrap(), Reply::Status(Ok(0)));
    assert!(a.finish().unwrap().success());
    b.kill();
}

#[test]
fn missing_device_prints_the_seed_then_refuses_to_run() {
    let out = Command::new(EXE)
        .args(["/nonexistent/circbuf", "--seed", "77", "--ops", "5"])
        .output()
        .expect("run fuzz");
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("fuzz: seed 77"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/circbuf"), "{stderr}");
}

#[test]
fn a_device_that_is_not_circbuf_is_refused() {
    let out = Command::new(EXE)
        .args(["/dev/null", "--seed", "1", "--processes", "0"])
        .output()
        .expect("run fuzz");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CIRCBUF_GET_STATS"), "{stderr}");
}
