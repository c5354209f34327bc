// SPDX-License-Identifier: GPL-2.0
//! The [`Report`] of a run and its renderings: the aligned tables printed
//! on the terminal after the header (`header.rs`), rows as each point
//! finishes, the CSV of the throughput table, and JSON of everything.
//! MB = 10^6 bytes; ops = messages written; sizes use binary prefixes
//! (1 KiB = 1024 bytes).

use std::fmt::Display;

use serde::{Deserialize, Serialize};

use crate::copy::CopyBound;
use crate::header::Header;
use crate::latency::Latency;
use crate::options::Ratio;
use crate::throughput::Measurement;

/// Everything one run measured, as written to `--json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub(crate) header: Header,
    pub(crate) copy: CopyBound,
    /// One per message size and ratio, in the order run.
    pub(crate) points: Vec<Point>,
    /// One per channel measured; empty with `--latency-samples 0`.
    pub(crate) latency: Vec<Latency>,
}

/// Both channels at one message size and ratio, and their MB/s over each
/// other's; circbuf's are `None` with `--pipe-only`, the mapped consumer's
/// without `--mapped`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub size: usize,
    #[serde(flatten)]
    pub ratio: Ratio,
    pub circbuf: Option<Measurement>,
    pub pipe: Measurement,
    pub circbuf_over_pipe: Option<f64>,
    pub mapped: Option<Measurement>,
    pub mapped_over_pipe: Option<f64>,
    pub mapped_over_read: Option<f64>,
}

impl Point {
    /// Puts a point together and works out the ratios between channels.
    pub fn new(
        size: usize,
        ratio: Ratio,
        circbuf: Option<Measurement>,
        pipe: Measurement,
        mapped: Option<Measurement>,
    ) -> Self {
        let over = |a: Option<Measurement>, b: Option<Measurement>| Some(a?.mb_per_s / b?.mb_per_s);
        Point {
            size,
            ratio,
            circbuf,
            pipe,
            circbuf_over_pipe: over(circbuf, Some(pipe)),
            mapped,
            mapped_over_pipe: over(mapped, Some(pipe)),
            mapped_over_read: over(mapped, circbuf),
        }
    }
}

/// `size` bytes with the largest binary unit that divides it: `64 B`,
/// `4 KiB`, `1 MiB`, `1536 B`.
pub fn format_size(size: usize) -> String {
    let units = [(20, "MiB"), (10, "KiB")].into_iter();
    let mut dividing =
        units.filter(|&(shift, _)| size >= 1 << shift && size.is_multiple_of(1 << shift));
    let (shift, unit) = dividing.next().unwrap_or((0, "B"));
    format!("{} {unit}", size >> shift)
}

/// A rate with three significant digits or more, and no spurious ones.
pub fn format_rate(value: f64) -> String {
    // Two decimals below 10, one below 100, none from 100 on.
    let decimals = 2 - usize::from(value >= 10.0) - usize::from(value >= 100.0);
    format!("{value:.decimals$}")
}

/// The copy bound block.
pub fn copy_lines(copy: &CopyBound) -> Vec<String> {
    let copies = copy.bandwidths.iter().map(|b| {
        let (size, rate) = (format_size(b.size), format_rate(b.mb_per_s));
        format!("{size} copies {rate} MB/s")
    });
    let copies: Vec<String> = copies.collect();
    let bound = format_rate(copy.bound_mb_s);
    vec![
        format!("memcpy:      {}", copies.join(", ")),
        format!("copy bound:  {bound} MB/s (best memcpy / 2: every byte is copied in and out)"),
    ]
}

/// The throughput table's titles and their widths; the last three columns
/// are the mapped consumer's, shown with `--mapped`.
#[rustfmt::skip]
const COLUMNS: [(&str, usize); 12] = [
    ("size", 8), ("w:r", 7), ("circbuf MB/s", 12), ("pipe MB/s", 10), ("circbuf/pipe", 12),
    ("circbuf ops/s", 13), ("pipe ops/s", 11), ("circbuf %bound", 14), ("pipe %bound", 11),
    ("mapped MB/s", 11), ("mapped/pipe", 11), ("mapped/read", 11),
];
#[rustfmt::skip]
const LATENCY_COLUMNS: [(&str, usize); 6] = [
    ("latency", 8), ("samples", 7), ("median us", 10), ("p99 us", 10), ("max us", 10),
    ("reader slept", 12),
];

/// `cells` right-aligned to the widths of `columns`, two spaces apart.
fn aligned(cells: &[impl Display], columns: &[(&str, usize)]) -> String {
    let widths = columns.iter().map(|&(_, width)| width);
    let cells = cells.iter().zip(widths).map(|(c, w)| format!("{c:>w$}"));
    cells.collect::<Vec<_>>().join("  ")
}

fn titles(mapped: bool) -> Vec<&'static str> {
    let columns = &COLUMNS[..if mapped { 12 } else { 9 }];
    columns.iter().map(|&(title, _)| title).collect()
}

/// The throughput table's title row, with the mapped consumer's columns if
/// `mapped`.
pub fn table_header(mapped: bool) -> String {
    aligned(&titles(mapped), &COLUMNS)
}

/// The cells of a point's row, for the table and the CSV alike: `missing`
/// where circbuf was not measured (`--pipe-only`); the mapped consumer's
/// cells only if it was measured.
fn cells(point: &Point, missing: &str) -> Vec<String> {
    let rate = |c: Option<&Measurement>| c.map(|c| format_rate(c.mb_per_s));
    let ops = |c: Option<&Measurement>| c.map(|c| format!("{:.0}", c.ops_per_s));
    let bound = |c: Option<&Measurement>| c.map(|c| format!("{:.1}%", c.bound_fraction * 100.0));
    let ratio = |r: Option<f64>| r.map(|r| format!("{r:.2}"));
    let (circbuf, mapped) = (point.circbuf.as_ref(), point.mapped.as_ref());
    let pipe = Some(&point.pipe);
    let mut cells = vec![Some(format_size(point.size)), Some(point.ratio.to_string())];
    cells.extend([rate(circbuf), rate(pipe), ratio(point.circbuf_over_pipe)]);
    cells.extend([ops(circbuf), ops(pipe), bound(circbuf), bound(pipe)]);
    if mapped.is_some() {
        let (over_pipe, over_read) = (point.mapped_over_pipe, point.mapped_over_read);
        cells.extend([rate(mapped), ratio(over_pipe), ratio(over_read)]);
    }
    let or_missing = |cell: Option<String>| cell.unwrap_or_else(|| missing.into());
    cells.into_iter().map(or_missing).collect()
}

/// One throughput table row, `-` where nothing was measured.
pub fn table_row(point: &Point) -> String {
    aligned(&cells(point, "-"), &COLUMNS)
}

/// The latency table: a title row and one row per channel.
pub fn latency_lines(latency: &[Latency]) -> Vec<String> {
    let us = |ns: u64| format!("{:.1}", ns as f64 / 1000.0);
    let rows = latency.iter().map(|entry| {
        let sleeps = entry.reader_sleeps.map_or("-".into(), |n| n.to_string());
        let (channel, samples) = (entry.channel.clone(), entry.samples.to_string());
        let [median, p99, max] = [entry.median_ns, entry.p99_ns, entry.max_ns].map(us);
        let cells = [channel, samples, median, p99, max, sleeps];
        aligned(&cells, &LATENCY_COLUMNS)
    });
    let titles = aligned(&LATENCY_COLUMNS.map(|(title, _)| title), &LATENCY_COLUMNS);
    std::iter::once(titles).chain(rows).collect()
}

/// The throughput table as CSV: the same titles and cells, empty where the
/// table has `-`.
pub fn csv(points: &[Point]) -> String {
    let mapped = points.iter().any(|p| p.mapped.is_some());
    let rows = points.iter().map(|p| cells(p, "").join(",") + "\n");
    titles(mapped).join(",") + "\n" + &rows.collect::<String>()
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::{CopyBound, Header, Measurement, Point, Report};
    use crate::channel::PipeSize;
    use crate::options::Ratio;

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
    pub fn channel_point(bytes: u64, messages: u64, seconds: f64) -> Measurement {
        let mb_per_s = bytes as f64 / 1e6 / seconds;
        Measurement {
            bytes,
            messages,
            write_calls: messages,
            read_calls: messages,
            seconds,
            mb_per_s,
            ops_per_s: messages as f64 / seconds,
            bound_fraction: mb_per_s / 1000.0,
        }
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
}

#[cfg(test)]
mod tests {
    use super::fixtures::{channel_point, header};
    use super::*;
    use crate::copy::Bandwidth;

    fn points() -> Vec<Point> {
        vec![
            Point::new(
                64,
                Ratio::new(1, 1),
                Some(channel_point(64_000_000, 1_000_000, 0.5)),
                channel_point(32_000_000, 500_000, 0.5),
                None,
            ),
            Point::new(
                65536,
                Ratio::new(8, 8),
                None,
                channel_point(1_310_720_000, 20_000, 2.0),
                None,
            ),
        ]
    }

    #[test]
    fn sizes_use_the_largest_dividing_unit() {
        assert_eq!(format_size(1), "1 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1 KiB");
        assert_eq!(format_size(1536), "1536 B");
        assert_eq!(format_size(65536), "64 KiB");
        assert_eq!(format_size(1 << 20), "1 MiB");
        assert_eq!(format_size(3 << 19), "1536 KiB");
    }

    #[test]
    fn rates_keep_three_significant_digits() {
        assert_eq!(format_rate(1234.56), "1235");
        assert_eq!(format_rate(12.345), "12.3");
        assert_eq!(format_rate(1.2345), "1.23");
        assert_eq!(format_rate(0.0), "0.00");
    }

    #[test]
    fn rates_and_ratios_are_worked_out() {
        let p = &points()[0];
        let circbuf = p.circbuf.unwrap();
        assert_eq!(circbuf.mb_per_s, 128.0);
        assert_eq!(circbuf.ops_per_s, 2_000_000.0);
        assert_eq!(circbuf.bound_fraction, 0.128);
        assert_eq!(p.circbuf_over_pipe, Some(2.0));
        assert_eq!(points()[1].circbuf_over_pipe, None);
    }

    #[test]
    fn table_rows_line_up_under_the_header() {
        let header = table_header(false);
        assert_eq!(
            header,
            "    size      w:r  circbuf MB/s   pipe MB/s  circbuf/pipe  circbuf ops/s   \
             pipe ops/s  circbuf %bound  pipe %bound"
        );
        let rows: Vec<String> = points().iter().map(table_row).collect();
        assert_eq!(
            rows[0],
            "    64 B      1:1           128        64.0          2.00        2000000      \
             1000000           12.8%         6.4%"
        );
        assert_eq!(
            rows[1],
            "  64 KiB      8:8             -         655             -              -        \
             10000               -        65.5%"
        );
        for row in &rows {
            assert_eq!(row.len(), header.len(), "{row}");
        }
    }

    #[test]
    fn the_mapped_consumer_adds_its_rate_and_ratios() {
        let read = channel_point(64_000_000, 1_000_000, 0.5);
        let pipe = channel_point(32_000_000, 500_000, 0.5);
        let mapped = channel_point(96_000_000, 1_500_000, 0.5);
        let point = Point::new(64, Ratio::new(1, 1), Some(read), pipe, Some(mapped));
        assert_eq!(point.mapped_over_pipe, Some(3.0));
        assert_eq!(point.mapped_over_read, Some(1.5));
        let header = table_header(true);
        assert!(header.ends_with("pipe %bound  mapped MB/s  mapped/pipe  mapped/read"));
        let row = table_row(&point);
        assert!(
            row.ends_with("6.4%          192         3.00         1.50"),
            "{row}"
        );
        assert_eq!(row.len(), header.len());
        let csv = csv(&[point]);
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines[0].ends_with(",pipe %bound,mapped MB/s,mapped/pipe,mapped/read"));
        assert!(lines[1].ends_with(",6.4%,192,3.00,1.50"), "{csv}");
        assert_eq!(points()[0].mapped_over_pipe, None);
        assert_eq!(points()[0].mapped_over_read, None);
    }

    #[test]
    fn copy_bound_is_shown_with_its_reason() {
        let copy = CopyBound {
            bandwidths: vec![
                Bandwidth {
                    size: 65536,
                    mb_per_s: 12000.4,
                },
                Bandwidth {
                    size: 1 << 20,
                    mb_per_s: 8000.0,
                },
            ],
            bound_mb_s: 6000.2,
        };
        assert_eq!(
            copy_lines(&copy),
            [
                "memcpy:      64 KiB copies 12000 MB/s, 1 MiB copies 8000 MB/s",
                "copy bound:  6000 MB/s (best memcpy / 2: every byte is copied in and out)",
            ]
        );
    }

    #[test]
    fn latency_is_shown_in_microseconds() {
        let circbuf = Latency {
            channel: "circbuf".into(),
            samples: 1000,
            min_ns: 5000,
            median_ns: 12_345,
            p99_ns: 45_600,
            max_ns: 1_000_000,
            reader_sleeps: Some(1001),
        };
        let pipe = Latency {
            channel: "pipe".into(),
            reader_sleeps: None,
            ..circbuf.clone()
        };
        let lines = latency_lines(&[circbuf, pipe]);
        assert_eq!(
            lines,
            [
                " latency  samples   median us      p99 us      max us  reader slept",
                " circbuf     1000        12.3        45.6      1000.0          1001",
                "    pipe     1000        12.3        45.6      1000.0             -",
            ]
        );
    }

    #[test]
    fn csv_has_the_table_cells_and_empty_circbuf_cells_without_it() {
        let text = csv(&points());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "size,w:r,circbuf MB/s,pipe MB/s,circbuf/pipe,circbuf ops/s,pipe ops/s,\
                 circbuf %bound,pipe %bound",
                "64 B,1:1,128,64.0,2.00,2000000,1000000,12.8%,6.4%",
                "64 KiB,8:8,,655,,,10000,,65.5%",
            ]
        );
    }

    #[test]
    fn json_round_trips() {
        let report = Report {
            header: header(),
            copy: CopyBound {
                bandwidths: vec![Bandwidth {
                    size: 65536,
                    mb_per_s: 9000.0,
                }],
                bound_mb_s: 4500.0,
            },
            points: points(),
            latency: vec![],
        };
        let json = serde_json::to_string(&report).unwrap();
        assert!(json.contains("\"mb_per_s\":128.0"), "{json}");
        assert!(json.contains("\"circbuf\":null"), "{json}");
        assert!(json.contains("\"mapped\":null"), "{json}");
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
    }
}
