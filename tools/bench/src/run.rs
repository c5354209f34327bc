// SPDX-License-Identifier: GPL-2.0
//! The sequence of a run: set up both channels, print the header, time
//! memcpy, sweep the throughput points (circbuf, its mapped consumer if
//! asked, then the pipe at each point, printing each row as it finishes),
//! sample wake-up latency, then write the CSV, JSON and plot asked for.

use std::path::Path;
use std::time::Duration;

use crate::channel::{Channel, PipeSize};
use crate::copy::{self, CopyBound};
use crate::header::Header;
use crate::mapped::Consumer;
use crate::options::Cli;
use crate::report::{self, Point, Report};
use crate::throughput::{Budget, Settings};
use crate::{latency, plot, throughput, Error};

/// Runs the measurements `cli` asks for and writes their outputs.
pub fn run(cli: &Cli) -> Result<(), Error> {
    let open = || Channel::circbuf(&cli.device, cli.reset);
    let circbuf = (!cli.pipe_only).then(open).transpose()?;
    let capacity = match circbuf {
        Some(Channel::Circbuf { capacity, .. }) => capacity,
        _ => cli.capacity,
    };
    let pipe_size = PipeSize::probe(capacity)?;
    let pipe = Channel::Pipe(pipe_size);
    // Settled before the measurements, not after minutes of them.
    let plot_text =
        cli.plot.is_some() && plot::load_text_font(cli.font.as_deref()).map_err(Error::Setup)?;

    let header = Header::new(cli, capacity, pipe_size);
    println!("{}", header.lines().join("\n"));
    if pipe_size.actual < capacity {
        eprintln!(
            "bench: warning: the pipe holds {} bytes, less than the capacity of {capacity}; \
             raising fs.pipe-max-size or running as root lifts the limit",
            pipe_size.actual
        );
    }

    // Less time on each size for a --quick smoke test.
    let copy_time = Duration::from_millis(if cli.quick { 50 } else { 250 });
    let copy = copy::SIZES.map(|size| copy::measure(size, copy_time));
    let copy = CopyBound::of(copy.to_vec());
    let timed = Budget::Duration(cli.duration);
    let settings = Settings {
        budget: cli.bytes.map_or(timed, Budget::Bytes),
        read_size: cli.read_size,
        bound_mb_s: copy.bound_mb_s,
    };
    println!("{}", report::copy_lines(&copy).join("\n"));

    println!("\n{}", report::table_header(cli.mapped));
    let mut points = Vec::new();
    for &ratio in &cli.ratios {
        for &size in &cli.sizes {
            let measure = |c, consumer| throughput::measure(c, size, ratio, consumer, &settings);
            let read = |c| measure(c, Consumer::Read);
            let circbuf_point = circbuf.as_ref().map(read).transpose()?;
            let mapped = circbuf.as_ref().filter(|_| cli.mapped);
            let mapped_point = mapped.map(|c| measure(c, Consumer::Mapped)).transpose()?;
            let pipe_point = read(&pipe)?;
            let point = Point::new(size, ratio, circbuf_point, pipe_point, mapped_point);
            println!("{}", report::table_row(&point));
            points.push(point);
        }
    }

    let (mut latency, samples) = (Vec::new(), cli.latency_samples);
    if samples > 0 {
        for channel in circbuf.iter().chain([&pipe]) {
            latency.extend(latency::measure(channel, samples, cli.latency_gap)?);
        }
        println!("\n{}", report::latency_lines(&latency).join("\n"));
    }

    let report = Report {
        header,
        copy,
        points,
        latency,
    };
    write_outputs(cli, &report, plot_text)
}

fn write_outputs(cli: &Cli, report: &Report, plot_text: bool) -> Result<(), Error> {
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| Error::Setup(format!("{}: {e}", path.display())))
    };
    if let Some(path) = &cli.csv {
        write(path, report::csv(&report.points))?;
    }
    if let Some(path) = &cli.json {
        // Every key is a string and every value plain data.
        let json = serde_json::to_string_pretty(report).expect("a report serialises");
        write(path, json + "\n")?;
    }
    if let Some(path) = &cli.plot {
        plot::draw(report, path, plot_text).map_err(Error::Setup)?;
    }
    Ok(())
}
