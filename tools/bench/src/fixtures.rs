// SPDX-License-Identifier: GPL-2.0
//! Made-up results with round numbers for the unit tests of the report and
//! the plot.

use crate::channel::PipeSize;
use crate::options::Ratio;
use crate::report::{ChannelPoint, CopyBound, Header, Point, Report};
use crate::throughput::Measurement;

/// The header of a `bench --quick` run on a 4 KiB device beside a 4 KiB
/// pipe, half a second per point.
pub fn header() -> Header {
    Header {
        kernel: "6.12.0".into(),
        cpus: 2,
        device: Some("/dev/circbuf".into()),
        capacity: 4096,
        pipe_size: PipeSize {
            requested: 4096,
            actual: 4096,
        },
        command_line: "bench --quick".into(),
        duration_s: Some(0.5),
        bytes_per_point: None,
        read_size: 65536,
        latency_gap_s: 0.002,
    }
}

/// A channel's result: `bytes` moved as `messages` messages, one write and
/// one read call each, in `seconds`, against a copy bound of 1000 MB/s.
pub fn channel_point(bytes: u64, messages: u64, seconds: f64) -> ChannelPoint {
    ChannelPoint::new(
        Measurement {
            bytes,
            messages,
            write_calls: messages,
            read_calls: messages,
            seconds,
        },
        1000.0,
    )
}

/// A report to plot: ratios 1:1 and 8:8 at 1 B, 4 KiB and 64 KiB, the pipe
/// at 1, 900 and 2000 MB/s (half that at 8:8), circbuf 1.2 times as fast,
/// its mapped consumer (at 1:1 only) 1.5 times, under a copy bound of
/// 5000 MB/s.
pub fn report() -> Report {
    let at = |mb_per_s: f64| channel_point((mb_per_s * 1e6) as u64, 1, 1.0);
    let mut points = Vec::new();
    for (n, ratio) in [(1, 1.0), (8, 0.5)] {
        for (size, rate) in [(1, 1.0), (4096, 900.0), (65536, 2000.0)] {
            let mapped = (n == 1).then(|| at(rate * 1.5));
            let circbuf = Some(at(rate * ratio * 1.2));
            points.push(Point::new(
                size,
                Ratio::new(n, n),
                circbuf,
                at(rate * ratio),
                mapped,
            ));
        }
    }
    Report {
        header: header(),
        copy: CopyBound {
            bandwidths: vec![],
            bound_mb_s: 5000.0,
        },
        points,
        latency: vec![],
    }
}
