// SPDX-License-Identifier: GPL-2.0
//! Draws the plot in a process that never loads a font, as on a machine
//! without one: text needs a font, and the plot without text must not.

use std::path::PathBuf;

use bench::channel::PipeSize;
use bench::copy::CopyBound;
use bench::options::Ratio;
use bench::plot;
use bench::report::{Header, Point, Report};
use bench::throughput::Measurement;

/// Two sizes at 1:1, the pipe at `mb_per_s` and circbuf at twice that.
fn report() -> Report {
    let at = |mb_per_s: u64| Measurement::new(mb_per_s * 1_000_000, 1, (1, 1), 1.0, 5000.0);
    let point = |size, rate| Point::new(size, Ratio::new(1, 1), Some(at(2 * rate)), at(rate), None);
    Report {
        header: Header {
            kernel: "6.12.0".into(),
            cpus: 2,
            device: Some("/dev/circbuf".into()),
            capacity: 4096,
            pipe_size: PipeSize {
                requested: 4096,
                actual: 4096,
            },
            command_line: "bench".into(),
            duration_s: Some(0.5),
            bytes_per_point: None,
            read_size: 65536,
            latency_gap_s: 0.002,
        },
        copy: CopyBound {
            bandwidths: vec![],
            bound_mb_s: 5000.0,
        },
        points: vec![point(64, 10), point(4096, 900)],
        latency: vec![],
    }
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
