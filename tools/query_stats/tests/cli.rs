// SPDX-License-Identifier: GPL-2.0
//! Runs the `query_stats` binary on the host, where no circbuf device
//! exists, to check what users see when the device is missing or is not a
//! circbuf device.

use std::path::PathBuf;
use std::process::{Command, Output};

use circbuf::testing::{assert_reports_missing_device, assert_reports_not_circbuf, fifo};

fn query_stats(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_query_stats"))
        .args(args)
        .output()
        .expect("run query_stats")
}

#[test]
fn missing_device_exits_non_zero_and_suggests_loading_the_module() {
    for extra in [&[][..], &["--json"], &["--watch", "1"]] {
        let mut args = vec!["/nonexistent/circbuf"];
        args.extend_from_slice(extra);
        let out = query_stats(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_reports_missing_device(&out.stderr, "query_stats", "/nonexistent/circbuf");
    }
}

#[test]
fn a_file_that_is_not_circbuf_is_named_as_such() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("query-stats");
    let fifo = fifo(&dir, "not-circbuf");
    let out = query_stats(&[fifo.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_reports_not_circbuf(&out.stderr, "query_stats", &fifo);
}

#[test]
fn bad_usage_is_a_usage_error() {
    let out = query_stats(&["--watch", "never"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a number of seconds"));
}
