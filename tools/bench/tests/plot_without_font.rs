// SPDX-License-Identifier: GPL-2.0
//! Draws the plot in a process that never loads a font, as on a machine
//! without one: text needs a font, and the plot without text must not.

use std::path::PathBuf;

use bench::{plot, Report};
use serde_json::json;

/// Two sizes at 1:1, the pipe at `mb_per_s` and circbuf at twice that, as
/// `--json` writes them.
fn report() -> Report {
    let at = |mb_per_s: u64| {
        json!({"bytes": mb_per_s * 1_000_000, "messages": 1, "write_calls": 1, "read_calls": 1,
               "seconds": 1.0, "mb_per_s": mb_per_s, "ops_per_s": 1.0, "bound_fraction": 0.1})
    };
    let point = |size, rate| {
        json!({"size": size, "writers": 1, "readers": 1, "circbuf": at(2 * rate),
               "pipe": at(rate), "circbuf_over_pipe": 2.0})
    };
    let report = json!({
        "header": {"kernel": "6.12.0", "cpus": 2, "device": "/dev/circbuf", "capacity": 4096,
                   "pipe_size": {"requested": 4096, "actual": 4096}, "command_line": "bench",
                   "duration_s": 0.5, "read_size": 65536, "latency_gap_s": 0.002},
        "copy": {"bandwidths": [], "bound_mb_s": 5000.0},
        "points": [point(64, 10), point(4096, 900)],
        "latency": [],
    });
    serde_json::from_value(report).expect("a report as --json writes it")
}

#[test]
fn without_a_font_only_the_plot_without_text_can_be_drawn() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-no-font");
    std::fs::create_dir_all(&dir).unwrap();

    let bare = dir.join("bare.png");
    plot::draw(&report(), &bare, false).unwrap();
    assert!(std::fs::read(&bare).unwrap().starts_with(b"\x89PNG"));

    // This is why the tool checks for a font first: plotters cannot draw
    // text without one.
    assert!(plot::draw(&report(), &dir.join("text.png"), true).is_err());
}
