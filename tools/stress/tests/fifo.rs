// SPDX-License-Identifier: GPL-2.0
//! Runs the real workers, forked as threads of one process and as
//! processes, with a FIFO standing in for the device: like circbuf, a FIFO
//! keeps writes of up to 4096 bytes atomic, returns what is there on a
//! read, and gives readers end-of-file once the writers close. Clean runs
//! must pass, runs with bytes injected behind the workers' backs must fail,
//! and a worker that dies or hangs must be reported.
//!
//! The workers are forked, which needs a single-threaded process, so this
//! file has its own `main` instead of the test harness's threads.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use circbuf::testing::{assert_reports_missing_device, assert_reports_not_circbuf};
use circbuf::{Device, OpenOptions, Stats};
use stress::board::Board;
use stress::launch::{self, Ended, Layout, Role};
use stress::record::{encode, RecordId};
use stress::verify::{books, Kind, Totals};
use stress::violation::{Check, Violation};
use stress::worker::Job;

const RECORDS: Kind = Kind::Records { record_size: 64 };
const SEED: u64 = 1234;

fn fifo(name: &str) -> PathBuf {
    circbuf::testing::fifo(
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stress-fifo"),
        name,
    )
}

/// Runs `writers` and `readers` workers sending `kind` through `path` for
/// 300 ms, laid out as `layout`; returns how the run ended and its board.
fn run(path: &Path, kind: Kind, layout: Layout, writers: u32, readers: u32) -> (Ended, Board) {
    let board = Board::new(writers, readers, 1 << 20).unwrap();
    let workers = launch::open(path, writers, readers).expect("open the FIFO");
    let job = Job {
        board: &board,
        kind,
        seed: SEED,
        capacity: 4096,
        deadline: Instant::now() + Duration::from_millis(300),
    };
    let ended = launch::run(workers, layout, Duration::from_secs(60), &|w| job.run(w));
    (ended.expect("the run starts"), board)
}

/// The books of a run through a FIFO, which counts nothing: its counters
/// stand in as exactly what the workers did, so what is checked is that
/// every record arrived once and that the readers got what was written.
fn fifo_books(kind: Kind, board: &Board) -> Vec<Violation> {
    let t = Totals::of(board);
    let counted = Stats {
        reads: t.reads,
        writes: t.writes,
        bytes_read: t.bytes_read,
        bytes_written: t.bytes_written,
        ..Stats::default()
    };
    books(kind, board, &Stats::default(), &counted)
}

fn records_pass(layout: Layout, record_size: usize) {
    let kind = Kind::Records { record_size };
    let (ended, board) = run(&fifo("records"), kind, layout, 3, 2);
    assert_eq!(ended, Ended::Exited(Vec::new()));
    assert_eq!(board.violations(), 0);
    assert_eq!(fifo_books(kind, &board), []);
    let t = Totals::of(&board);
    assert!(t.bytes_written > 0);
    assert_eq!(t.records_read * record_size as u64, t.bytes_written);
    for (role, id) in [(Role::Writer, 2), (Role::Reader, 1)] {
        assert!(board.tally(role, id).finished(), "{role} {id}");
    }
}

fn records_pass_as_threads() {
    records_pass(Layout::Threads, 64);
}

fn records_pass_as_processes() {
    records_pass(Layout::Processes, 100);
}

fn stream_passes_as_threads_and_processes() {
    for layout in [Layout::Threads, Layout::Processes] {
        let (ended, board) = run(&fifo("stream"), Kind::Stream, layout, 1, 1);
        assert_eq!(ended, Ended::Exited(Vec::new()), "{layout:?}");
        assert_eq!(board.violations(), 0, "{layout:?}");
        assert_eq!(fifo_books(Kind::Stream, &board), [], "{layout:?}");
        assert!(Totals::of(&board).bytes_read > 0, "{layout:?}");
    }
}

/// Opens the FIFO read-write, so that opening never waits, and writes
/// `bytes` into it ahead of the run. The FIFO keeps them as long as the
/// rogue or a worker has it open: drop the rogue once the workers have.
fn inject(path: &Path, bytes: &[u8]) -> Device {
    let rogue = Device::open(
        path,
        OpenOptions::new().read(true).write(true).nonblocking(true),
    )
    .expect("open the FIFO");
    assert_eq!(rogue.write(bytes).expect("inject"), bytes.len());
    rogue
}

/// Garbage and a copy of writer 0's first record, injected ahead of the
/// run, reported from the worker processes that read them.
fn injected_garbage_and_a_duplicate_fail_the_run() {
    let path = fifo("injected");
    let mut bytes = vec![0u8; 128];
    encode(SEED, RecordId { writer: 0, seq: 0 }, &mut bytes[..64]);
    let rogue = inject(&path, &bytes);
    let board = Board::new(2, 2, 1 << 20).unwrap();
    let workers = launch::open(&path, 2, 2).unwrap();
    drop(rogue);
    let job = Job {
        board: &board,
        kind: RECORDS,
        seed: SEED,
        capacity: 4096,
        deadline: Instant::now() + Duration::from_millis(300),
    };
    let ended = launch::run(workers, Layout::Processes, Duration::from_secs(60), &|w| {
        job.run(w)
    });
    assert_eq!(ended, Ok(Ended::Exited(Vec::new())));
    // The garbage, and the second copy of writer 0 seq 0 (a duplicate, and
    // out of order too if one reader got both copies).
    assert!(board.violations() >= 2, "{}", board.violations());
    let t = Totals::of(&board);
    assert_eq!(t.bytes_read, t.bytes_written + 128);
    assert_eq!(t.records_read * 64, t.bytes_written + 64);
}

fn an_injected_byte_breaks_the_stream() {
    let path = fifo("stream-injected");
    let rogue = inject(&path, &[0x5a]);
    let board = Board::new(1, 1, 0).unwrap();
    let workers = launch::open(&path, 1, 1).unwrap();
    drop(rogue);
    let job = Job {
        board: &board,
        kind: Kind::Stream,
        seed: SEED,
        capacity: 4096,
        deadline: Instant::now() + Duration::from_millis(300),
    };
    let ended = launch::run(workers, Layout::Threads, Duration::from_secs(60), &|w| {
        job.run(w)
    });
    assert_eq!(ended, Ok(Ended::Exited(Vec::new())));
    assert_eq!(board.violations(), 1);
}

fn a_worker_that_dies_is_reported() {
    for (layout, worker) in [
        (Layout::Processes, "reader 0"),
        (Layout::Threads, "the worker threads"),
    ] {
        let workers = launch::open(&fifo("dies"), 1, 1).unwrap();
        let ended = launch::run(workers, layout, Duration::from_secs(60), &|w| {
            assert_eq!(w.role, Role::Writer, "planted: readers die");
        })
        .unwrap();
        let Ended::Exited(failures) = ended else {
            panic!("{layout:?}: {ended:?}");
        };
        assert!(
            matches!(&failures[..], [Violation { check: Check::Failed, text }]
                if text.starts_with(&format!("{worker}: process "))
                    && text.ends_with(" exited with status 101")),
            "{layout:?}: {failures:?}"
        );
    }
}

fn a_hung_worker_meets_the_watchdog() {
    let path = fifo("hangs");
    // A writer that never closes: the reader waits for ever.
    let rogue = inject(&path, &[]);
    let workers = launch::open(&path, 0, 1).unwrap();
    let started = Instant::now();
    let ended = launch::run(workers, Layout::Processes, Duration::from_secs(1), &|w| {
        let mut buf = [0u8; 1];
        let _ = w.device.read(&mut buf);
    });
    assert_eq!(ended, Ok(Ended::TimedOut));
    assert!(started.elapsed() >= Duration::from_secs(1));
    drop(rogue);
}

fn a_missing_device_fails_the_launch_cleanly() {
    let err = launch::open(Path::new("/nonexistent/circbuf"), 1, 1).unwrap_err();
    assert!(
        err.starts_with("reader 0: /nonexistent/circbuf: open: No such file or directory"),
        "{err}"
    );
}

/// Runs the `stress` binary itself, for what users see.
fn stress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stress"))
        .args(args)
        .output()
        .expect("run stress")
}

fn the_binary_explains_a_missing_device() {
    let out = stress(&["/nonexistent/circbuf", "--duration=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_reports_missing_device(&out.stderr, "stress", "/nonexistent/circbuf");
}

fn the_binary_refuses_a_file_that_is_not_circbuf() {
    let path = fifo("not-circbuf");
    let out = stress(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_reports_not_circbuf(&out.stderr, "stress", &path);
}

fn the_binary_rejects_stream_mode_with_many_workers_or_overwrite() {
    for (args, message) in [
        (
            ["--mode=stream", "--writers=2"],
            "exactly one writer and one reader",
        ),
        (
            ["--mode=stream", "--overwrite"],
            "--overwrite applies to records mode only",
        ),
    ] {
        let out = stress(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{stderr}");
    }
}

fn main() {
    let tests: [(&str, fn()); 11] = [
        ("records_pass_as_threads", records_pass_as_threads),
        ("records_pass_as_processes", records_pass_as_processes),
        (
            "stream_passes_as_threads_and_processes",
            stream_passes_as_threads_and_processes,
        ),
        (
            "injected_garbage_and_a_duplicate_fail_the_run",
            injected_garbage_and_a_duplicate_fail_the_run,
        ),
        (
            "an_injected_byte_breaks_the_stream",
            an_injected_byte_breaks_the_stream,
        ),
        (
            "a_worker_that_dies_is_reported",
            a_worker_that_dies_is_reported,
        ),
        (
            "a_hung_worker_meets_the_watchdog",
            a_hung_worker_meets_the_watchdog,
        ),
        (
            "a_missing_device_fails_the_launch_cleanly",
            a_missing_device_fails_the_launch_cleanly,
        ),
        (
            "the_binary_explains_a_missing_device",
            the_binary_explains_a_missing_device,
        ),
        (
            "the_binary_refuses_a_file_that_is_not_circbuf",
            the_binary_refuses_a_file_that_is_not_circbuf,
        ),
        (
            "the_binary_rejects_stream_mode_with_many_workers_or_overwrite",
            the_binary_rejects_stream_mode_with_many_workers_or_overwrite,
        ),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("test result: ok. {} passed", tests.len());
}
