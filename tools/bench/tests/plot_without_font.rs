// SPDX-License-Identifier: GPL-2.0
//! Draws the plot in a process that never loads a font, as on a machine
//! without one: text needs a font, and the plot without text must not.

use std::path::PathBuf;

use bench::channel::PipeSize;
use bench::plot;
use bench::report::{ChannelPoint, CopyBound, Header, Point, Report};
use bench::throughput::Measurement;

fn report() -> Report {
    let at = |bytes: u64| {
        ChannelPoint::new(
            Measurement {
                bytes,
                messages: 10,
                write_calls: 10,
                read_calls: 2,
                seconds: 0.5,
            },
            1000.0,
        )
    };
    Report {
        header: Header {
            kernel: "6.12.0".into(),
            cpus: 2,
            device: None,
            capacity: 4096,
            pipe_size: PipeSize {
                requested: 4096,
                actual: 4096,
            },
            command_line: "bench --pipe-only".into(),
            duration_s: Some(0.5),
            bytes_per_point: None,
            read_size: 65536,
            latency_gap_s: 0.002,
        },
        copy: CopyBound {
            bandwidths: vec![],
            bound_mb_s: 1000.0,
        },
        points: vec![
            Point::new(64, 1, 1, None, at(1_000_000)),
            Point::new(4096, 1, 1, None, at(100_000_000)),
        ],
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
