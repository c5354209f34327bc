// SPDX-License-Identifier: GPL-2.0

//! The fuzzer binary where no circbuf device exists: a run that cannot be
//! made exits with 2 and says why, and bad arguments are refused.

use std::path::Path;
use std::process::Command;

use circbuf::testing::{assert_reports_missing_device, assert_reports_not_circbuf, fifo};

const EXE: &str = env!("CARGO_BIN_EXE_fuzz");

#[test]
fn a_missing_device_cannot_be_fuzzed() {
    let out = Command::new(EXE)
        .args(["/nonexistent/circbuf", "--seed", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fuzz: seed 1\n");
    assert_reports_missing_device(&out.stderr, "fuzz", "/nonexistent/circbuf");
}

#[test]
fn a_file_that_is_not_circbuf_cannot_be_fuzzed() {
    let dir = std::env::temp_dir().join(format!("fuzz-cli-{}", std::process::id()));
    let path = fifo(&dir, "not-circbuf");
    let out = Command::new(EXE).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_reports_not_circbuf(&out.stderr, "fuzz", Path::new(&path));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_single_file_or_too_many_processes_are_refused() {
    for args in [["--files", "1"], ["--processes", "65"]] {
        let out = Command::new(EXE).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}
