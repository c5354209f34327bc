// SPDX-License-Identifier: GPL-2.0
//! Runs the real worker loops, launched as threads and as processes, with a
//! FIFO standing in for the device: like circbuf, a FIFO keeps writes of up
//! to 4096 bytes atomic, returns what is there on a read, and gives readers
//! end-of-file once the writers close. Clean runs must pass, and runs with
//! bytes injected behind the workers' backs must fail.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use circbuf::testing::{assert_reports_missing_device, assert_reports_not_circbuf};
use circbuf::{Device, OpenOptions};
use stress::assess::assess_reports;
use stress::books::RunKind;
use stress::launch::{launch, Launcher, Plan};
use stress::record::{encode, RecordId};
use stress::supervise::Registry;
use stress::verdict::Violation;
use stress::worker::{Mode, Role};

fn fifo(name: &str) -> PathBuf {
    circbuf::testing::fifo(
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("stress-fifo"),
        name,
    )
}

fn plan(device: PathBuf, mode: Mode, writers: u32, readers: u32) -> Plan {
    Plan {
        device,
        mode,
        writers,
        readers,
        duration: Duration::from_millis(300),
        record_size: 64,
        capacity: 4096,
        seed: 1234,
    }
}

/// What `plan` sends, judged as through a device in block mode, which a
/// FIFO stands in for: it never drops anything.
fn block_mode(plan: &Plan) -> RunKind {
    match plan.mode {
        Mode::Records => RunKind::Records {
            record_size: plan.record_size,
        },
        Mode::Stream => RunKind::Stream,
    }
}

/// Runs the `stress` binary itself, for what users see.
fn stress(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stress"))
        .args(args)
        .output()
        .expect("run stress")
}

fn processes() -> Launcher {
    Launcher::Processes {
        exe: PathBuf::from(env!("CARGO_BIN_EXE_stress")),
    }
}

#[test]
fn records_through_threads_pass() {
    let plan = plan(fifo("records-threads"), Mode::Records, 3, 2);
    let registry = Registry::new();
    let reports = launch(&plan, &Launcher::Threads, &registry).expect("the run starts");
    assert_eq!(reports.len(), 5);
    assert!(
        registry.unfinished().is_empty(),
        "{:?}",
        registry.unfinished()
    );
    let (totals, violations) = assess_reports(block_mode(&plan), plan.writers, &reports);
    assert!(violations.is_empty(), "{:?}", violations.kept());
    assert!(totals.bytes_written > 0);
    assert_eq!(totals.bytes_read, totals.bytes_written);
    assert_eq!(totals.bytes_read % 64, 0);
    let records: u64 = reports
        .iter()
        .filter(|r| r.role == Role::Reader)
        .map(|r| r.records)
        .sum();
    assert_eq!(records * 64, totals.bytes_read);
}

#[test]
fn records_through_processes_pass() {
    let mut plan = plan(fifo("records-processes"), Mode::Records, 2, 2);
    plan.record_size = 100;
    let reports = launch(&plan, &processes(), &Registry::new()).expect("the run starts");
    assert_eq!(reports.len(), 4);
    let (totals, violations) = assess_reports(block_mode(&plan), plan.writers, &reports);
    assert!(violations.is_empty(), "{:?}", violations.kept());
    assert!(totals.bytes_written > 0);
    assert_eq!(totals.bytes_read, totals.bytes_written);
}

#[test]
fn stream_passes_with_threads_and_processes() {
    for (name, launcher) in [
        ("stream-threads", Launcher::Threads),
        ("stream-processes", processes()),
    ] {
        let plan = plan(fifo(name), Mode::Stream, 1, 1);
        let reports = launch(&plan, &launcher, &Registry::new()).expect("the run starts");
        let (totals, violations) = assess_reports(block_mode(&plan), 1, &reports);
        assert!(violations.is_empty(), "{name}: {:?}", violations.kept());
        assert!(totals.bytes_written > 0, "{name}");
        assert_eq!(totals.bytes_read, totals.bytes_written, "{name}");
    }
}

/// Opens the FIFO read-write (so opening never waits), writes `bytes` into
/// it ahead of the run, and closes it shortly after the run has started.
fn inject(path: &PathBuf, bytes: Vec<u8>) -> thread::JoinHandle<()> {
    let rogue = Device::open(
        path,
        OpenOptions::new().read(true).write(true).nonblocking(true),
    )
    .expect("open the FIFO");
    assert_eq!(rogue.write(&bytes).expect("inject"), bytes.len());
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(150));
        drop(rogue);
    })
}

#[test]
fn injected_garbage_and_duplicates_are_caught() {
    let plan = plan(fifo("records-injected"), Mode::Records, 2, 2);
    let mut bytes = vec![0u8; 64];
    encode(plan.seed, RecordId { writer: 0, seq: 0 }, &mut bytes);
    bytes.extend_from_slice(&[0u8; 64]);
    let closer = inject(&plan.device, bytes);
    let reports = launch(&plan, &Launcher::Threads, &Registry::new()).expect("the run starts");
    closer.join().unwrap();

    let (totals, violations) = assess_reports(block_mode(&plan), plan.writers, &reports);
    assert_eq!(totals.bytes_read, totals.bytes_written + 128);
    let kept = violations.kept();
    assert!(
        kept.iter()
            .any(|v| matches!(v, Violation::BadRecord { .. })),
        "garbage record not reported: {kept:?}"
    );
    assert!(
        kept.iter().any(|v| matches!(
            v,
            Violation::Duplicate {
                writer: 0,
                seq: 0,
                ..
            } | Violation::OutOfOrder {
                writer: 0,
                seq: 0,
                ..
            }
        )),
        "duplicate record not reported: {kept:?}"
    );
}

#[test]
fn an_injected_byte_breaks_the_stream() {
    let plan = plan(fifo("stream-injected"), Mode::Stream, 1, 1);
    let closer = inject(&plan.device, vec![0x5a]);
    let reports = launch(&plan, &Launcher::Threads, &Registry::new()).expect("the run starts");
    closer.join().unwrap();
    let (_, violations) = assess_reports(block_mode(&plan), 1, &reports);
    assert!(
        matches!(violations.kept(), [Violation::StreamMismatch { .. }]),
        "{:?}",
        violations.kept()
    );
}

#[test]
fn a_missing_device_fails_the_launch_cleanly() {
    let plan = plan(PathBuf::from("/nonexistent/circbuf"), Mode::Records, 1, 1);
    for launcher in [Launcher::Threads, processes()] {
        let err = launch(&plan, &launcher, &Registry::new()).unwrap_err();
        assert!(err.contains("reader 0"), "{err}");
        assert!(
            err.contains("/nonexistent/circbuf: open: No such file or directory"),
            "{err}"
        );
    }
}

#[test]
fn the_binary_explains_a_missing_device() {
    let out = stress(&["/nonexistent/circbuf", "--duration=1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_reports_missing_device(&out.stderr, "stress", "/nonexistent/circbuf");
}

#[test]
fn the_binary_refuses_a_file_that_is_not_circbuf() {
    let path = fifo("not-circbuf");
    let out = stress(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert_reports_not_circbuf(&out.stderr, "stress", &path);
}

#[test]
fn the_binary_rejects_stream_mode_with_many_workers() {
    let out = stress(&["--mode=stream", "--writers=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly one writer and one reader"));
}

#[test]
fn the_binary_rejects_overwrite_in_stream_mode() {
    let out = stress(&["--mode=stream", "--overwrite"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--overwrite applies to records mode only")
    );
}
