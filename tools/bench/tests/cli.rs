// SPDX-License-Identifier: GPL-2.0
//! Runs the `bench` binary on the host, where no circbuf device exists:
//! the pipe side end to end with `--pipe-only` (terminal table, CSV, JSON
//! and plot), and what users see when the device is missing or is not a
//! circbuf device.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use circbuf::testing::{assert_reports_missing_device, assert_reports_not_circbuf, fifo};
use serde_json::Value;

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bench"))
        .args(args)
        .output()
        .expect("run bench")
}

fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

fn json(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).expect("the JSON parses")
}

#[test]
fn quick_pipe_only_run_prints_the_table_and_writes_every_output() {
    let dir = scratch("bench-quick");
    let (json_file, csv_file, png_file) = (
        path(&dir, "r.json"),
        path(&dir, "r.csv"),
        path(&dir, "r.png"),
    );
    let out = bench(&[
        "--pipe-only",
        "--quick",
        "--json",
        &json_file,
        "--csv",
        &csv_file,
        "--plot",
        &png_file,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for header in [
        "kernel:",
        "cpus:",
        "device:      none (--pipe-only), capacity 4096 B (4 KiB) assumed",
        "pipe size:   4096 B (asked for 4096 B with F_SETPIPE_SZ)",
        "command:     ",
        "copy bound:  ",
        "circbuf MB/s   pipe MB/s  circbuf/pipe",
        " latency  samples   median us",
    ] {
        assert!(stdout.contains(header), "{header} missing in\n{stdout}");
    }
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains(" 1:1 ") || line.contains(" 2:2 "))
        .collect();
    assert_eq!(rows.len(), 4, "{stdout}");

    let report = json(&json_file);
    assert_eq!(report["header"]["device"], Value::Null);
    assert_eq!(report["header"]["capacity"], 4096);
    assert_eq!(report["header"]["pipe_size"]["actual"], 4096);
    let command_line = report["header"]["command_line"].as_str().unwrap();
    assert!(
        command_line.ends_with(&format!("--plot {png_file}")),
        "{command_line}"
    );
    assert!(report["copy"]["bound_mb_s"].as_f64().unwrap() > 0.0);
    let points = report["points"].as_array().unwrap();
    let shape: Vec<(u64, u64, u64)> = points
        .iter()
        .map(|p| {
            (
                p["size"].as_u64().unwrap(),
                p["writers"].as_u64().unwrap(),
                p["readers"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shape, [(64, 1, 1), (4096, 1, 1), (64, 2, 2), (4096, 2, 2)]);
    for point in points {
        assert_eq!(point["circbuf"], Value::Null);
        let pipe = &point["pipe"];
        let size = point["size"].as_u64().unwrap();
        assert!(pipe["bytes"].as_u64().unwrap() > 0, "{point}");
        assert_eq!(
            pipe["bytes"].as_u64().unwrap(),
            pipe["messages"].as_u64().unwrap() * size
        );
        assert!(pipe["mb_per_s"].as_f64().unwrap() > 0.0);
    }
    let latency = report["latency"].as_array().unwrap();
    assert_eq!(latency.len(), 1);
    assert_eq!(latency[0]["channel"], "pipe");
    assert_eq!(latency[0]["samples"], 50);
    assert!(latency[0]["median_ns"].as_u64() <= latency[0]["p99_ns"].as_u64());

    let csv = std::fs::read_to_string(&csv_file).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 5);
    assert!(lines[0].starts_with("size,w:r,circbuf MB/s,pipe MB/s,"));
    assert!(lines[1].starts_with("64 B,1:1,,"), "{}", lines[1]);

    let png = std::fs::read(&png_file).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
}

#[test]
fn a_byte_budget_is_written_exactly() {
    let dir = scratch("bench-bytes");
    let json_file = path(&dir, "r.json");
    let out = bench(&[
        "--pipe-only",
        "--capacity",
        "64K",
        "--bytes",
        "64K",
        "--sizes",
        "1K",
        "--ratios",
        "2:1",
        "--latency-samples",
        "0",
        "--json",
        &json_file,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&json_file);
    assert_eq!(report["header"]["bytes_per_point"], 65536);
    assert_eq!(report["header"]["pipe_size"]["actual"], 65536);
    let pipe = &report["points"][0]["pipe"];
    assert_eq!(pipe["bytes"], 65536);
    assert_eq!(pipe["messages"], 64);
    assert_eq!(report["latency"], Value::Array(vec![]));
}

#[test]
fn missing_device_cannot_start_and_suggests_loading_the_module() {
    let out = bench(&["--device", "/nonexistent/circbuf", "--quick"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_reports_missing_device(&out.stderr, "bench", "/nonexistent/circbuf");
}

#[test]
fn a_file_that_is_not_circbuf_is_named_as_such() {
    let fifo = fifo(&scratch("bench-fifo"), "not-circbuf");
    let out = bench(&["--device", fifo.to_str().unwrap(), "--quick"]);
    assert_eq!(out.status.code(), Some(2));
    assert_reports_not_circbuf(&out.stderr, "bench", &fifo);
}

#[test]
fn bad_usage_is_a_usage_error() {
    for args in [
        &["--ratios", "1"][..],
        &["--sizes", "0"],
        &["--duration", "1", "--bytes", "1K"],
        &["--capacity", "4K"],
        &["--mapped", "--pipe-only"],
        &["--mapped", "--ratios", "1:1,2:2"],
    ] {
        let out = bench(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = bench(&["--mapped", "--quick", "--ratios", "2:2"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--mapped needs 1 reader (a ring has one mapped consumer), not 2:2"),
        "{stderr}"
    );
}
