// SPDX-License-Identifier: GPL-2.0
//! `bench`: measures a circbuf device beside a pipe of the same capacity.
//!
//! This file owns the sequence of a run: set up both channels, print the
//! header, time memcpy, sweep the throughput points (circbuf, its mapped
//! consumer if asked, then the pipe at each point, printing each row as it
//! finishes), sample wake-up latency, then write the CSV, JSON and plot
//! asked for. The parts live in the library; see `lib.rs`.

use std::path::Path;
use std::process::ExitCode;

use bench::channel::Channel;
use bench::distribution::Summary;
use bench::options::{Budget, Cli, Settings, Target};
use bench::report::{self, ChannelPoint, CopyBound, Header, Latency, Point, Report};
use bench::throughput::Consumer;
use bench::{copy, environment, latency, plot, throughput, Error};
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    let settings = Settings::from_cli(Cli::parse())
        .unwrap_or_else(|e| Cli::command().error(ErrorKind::ArgumentConflict, e).exit());
    match run(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(settings: &Settings) -> Result<(), Error> {
    let (circbuf, capacity, device) = match &settings.target {
        Target::Device { path, reset } => {
            let channel = Channel::circbuf(path, *reset)?;
            let capacity = channel.capacity();
            (Some(channel), capacity, Some(path.display().to_string()))
        }
        Target::PipeOnly { capacity } => (None, *capacity, None),
    };
    let pipe = Channel::pipe(capacity)?;
    let pipe_size = pipe
        .pipe_size()
        .ok_or_else(|| Error::Setup("a pipe channel has no pipe size".into()))?;
    // Settled before the measurements, not after minutes of them.
    let plot_text = plot_text(settings)?;

    let header = Header {
        kernel: environment::kernel_release(),
        cpus: environment::cpus(),
        device,
        capacity,
        pipe_size,
        command_line: environment::command_line(std::env::args_os()),
        duration_s: match settings.budget {
            Budget::Duration(duration) => Some(duration.as_secs_f64()),
            Budget::Bytes(_) => None,
        },
        bytes_per_point: match settings.budget {
            Budget::Duration(_) => None,
            Budget::Bytes(bytes) => Some(bytes),
        },
        read_size: settings.read_size,
        latency_gap_s: settings.latency_gap.as_secs_f64(),
    };
    for line in report::header_lines(&header) {
        println!("{line}");
    }
    if pipe_size.actual < capacity {
        eprintln!(
            "bench: warning: the pipe holds {} bytes, less than the capacity of {capacity}; \
             raising fs.pipe-max-size or running as root lifts the limit",
            pipe_size.actual
        );
    }

    let bandwidths: Vec<_> = copy::SIZES
        .iter()
        .map(|&size| copy::measure(size, settings.copy_duration))
        .collect();
    let bound_mb_s = copy::bound(&bandwidths)
        .ok_or_else(|| Error::Setup("no memcpy size was measured".into()))?;
    let copy = CopyBound {
        bandwidths,
        bound_mb_s,
    };
    for line in report::copy_lines(&copy) {
        println!("{line}");
    }

    println!();
    println!("{}", report::table_header(settings.mapped));
    let mut points = Vec::new();
    for &ratio in &settings.ratios {
        for &size in &settings.sizes {
            let measure = |channel: &Channel, consumer| {
                let budget = settings.budget;
                throughput::measure(channel, size, ratio, budget, settings.read_size, consumer)
                    .map(|m| ChannelPoint::new(m, bound_mb_s))
            };
            let read = |c| measure(c, Consumer::Read);
            let circbuf_point = circbuf.as_ref().map(read).transpose()?;
            let mapped = circbuf.as_ref().filter(|_| settings.mapped);
            let mapped_point = mapped.map(|c| measure(c, Consumer::Mapped)).transpose()?;
            let point = Point::new(
                size,
                ratio.writers,
                ratio.readers,
                circbuf_point,
                read(&pipe)?,
            )
            .with_mapped(mapped_point);
            println!("{}", report::table_row(&point));
            points.push(point);
        }
    }

    let mut latencies = Vec::new();
    if settings.latency_samples > 0 {
        for channel in circbuf.iter().chain([&pipe]) {
            let samples =
                latency::measure(channel, settings.latency_samples, settings.latency_gap)?;
            if let Some(sleeps) = samples.reader_sleeps {
                if sleeps < samples.nanoseconds.len() as u64 {
                    eprintln!(
                        "bench: warning: the circbuf reader slept only {sleeps} times in {} \
                         latency samples; a longer --latency-gap makes sure it is asleep",
                        samples.nanoseconds.len()
                    );
                }
            }
            if let Some(summary) = Summary::of(&samples.nanoseconds) {
                latencies.push(Latency {
                    channel: channel.kind(),
                    summary,
                    reader_sleeps: samples.reader_sleeps,
                });
            }
        }
        println!();
        for line in report::latency_lines(&latencies) {
            println!("{line}");
        }
    }

    let report = Report {
        header,
        copy,
        points,
        latency: latencies,
    };
    write_outputs(settings, &report, plot_text)
}

/// Loads the font for the plot's text: the one given, which must load, or
/// the first one installed. False when the plot is drawn without text.
fn plot_text(settings: &Settings) -> Result<bool, Error> {
    if settings.plot.is_none() {
        return Ok(false);
    }
    if let Some(font) = &settings.font {
        plot::load_font(font).map_err(Error::Setup)?;
        return Ok(true);
    }
    let Some(font) = plot::find_font() else {
        let packages: Vec<&str> = plot::FONTS.iter().map(|(_, package)| *package).collect();
        eprintln!(
            "bench: warning: no font found (Debian: {}); the plot will have no text",
            packages.join(" or ")
        );
        return Ok(false);
    };
    match plot::load_font(&font) {
        Ok(()) => Ok(true),
        Err(e) => {
            eprintln!("bench: warning: {e}; the plot will have no text");
            Ok(false)
        }
    }
}

fn write_outputs(settings: &Settings, report: &Report, plot_text: bool) -> Result<(), Error> {
    let write = |path: &Path, text: String| {
        std::fs::write(path, text).map_err(|e| Error::Setup(format!("{}: {e}", path.display())))
    };
    if let Some(path) = &settings.csv {
        write(path, report::csv(&report.points))?;
    }
    if let Some(path) = &settings.json {
        let json = serde_json::to_string_pretty(report)
            .map_err(|e| Error::Setup(format!("{}: {e}", path.display())))?;
        write(path, json + "\n")?;
    }
    if let Some(path) = &settings.plot {
        plot::draw(report, path, plot_text).map_err(Error::Setup)?;
    }
    Ok(())
}
