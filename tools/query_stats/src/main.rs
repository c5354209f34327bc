// SPDX-License-Identifier: GPL-2.0
//! `query_stats`: prints a circbuf device's statistics (`/dev/circbuf`'s or
//! `/dev/circbuf_telemetry`'s) as an aligned table or as JSON, once or every
//! few seconds.
//!
//! The device is opened read-only and non-blocking and never read from, so
//! querying takes no data from readers and never counts as a writer (which
//! would change when readers see end-of-file).

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use circbuf::{Device, OpenOptions, Stats};
use clap::Parser;

/// Prints the statistics of a circbuf device.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// The circbuf device to query, such as /dev/circbuf_telemetry.
    #[arg(default_value = circbuf::DEFAULT_PATH)]
    device: PathBuf,

    /// Print one JSON object whose keys are the `struct circbuf_stats` field
    /// names (one object per line with --watch).
    #[arg(long)]
    json: bool,

    /// Refresh every SECONDS (fractions allowed) until interrupted.
    #[arg(long, value_name = "SECONDS", value_parser = parse_interval)]
    watch: Option<Duration>,
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds >= 0.01) {
        return Err(format!(
            "`{text}`: the interval must be at least 0.01 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// What each counter means, in the header's words, for the table's last
/// column.
fn describe(field: &str) -> &'static str {
    match field {
        "capacity" => "size of the ring in bytes",
        "used" => "bytes waiting to be read",
        "available" => "bytes that can be written without blocking",
        "reads" => "read calls that returned data, since load",
        "writes" => "write calls that stored data, since load",
        "bytes_read" => "bytes handed to readers, since load",
        "bytes_written" => "bytes accepted from writers, since load",
        "readers" => "open files with read access",
        "writers" => "open files with write access",
        "read_waits" => "times a reader slept on an empty ring",
        "write_waits" => "times a writer slept on a full ring",
        "mode" => "what writes do when the ring is full",
        "dropped_bytes" => "bytes overwriting writes dropped, since load",
        "dropped_records" => "records overwriting writes dropped, since load",
        "source" => "what produces into the ring in the kernel",
        "rate_hz" => "the rate the source runs or would run at, in Hz",
        _ => "",
    }
}

/// A field's value as the table shows it: the mode and the source by name,
/// the rest as numbers.
fn show_value(stats: &Stats, field: &str, value: u64) -> String {
    match field {
        "mode" => stats.mode().map(|mode| mode.name().to_owned()),
        "source" => stats.source().map(|source| source.name().to_owned()),
        _ => None,
    }
    .unwrap_or_else(|| value.to_string())
}

/// Renders the statistics as a table with names left-aligned and values
/// right-aligned, headed by the device path.
fn render_table(device: &Path, stats: &Stats) -> String {
    let fields = stats
        .fields()
        .map(|(name, value)| (name, show_value(stats, name, value)));
    let name_width = fields.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let value_width = fields
        .iter()
        .map(|(_, value)| value.len())
        .max()
        .unwrap_or(0);
    let mut out = format!("{}\n", device.display());
    for (name, value) in fields {
        out.push_str(&format!(
            "  {name:<name_width$}  {value:>value_width$}  {}\n",
            describe(name)
        ));
    }
    out
}

fn render(cli: &Cli, stats: &Stats) -> String {
    if cli.json {
        let mut line = serde_json::to_string(stats).expect("plain integers always serialize");
        line.push('\n');
        line
    } else {
        render_table(&cli.device, stats)
    }
}

enum Failure {
    Device(circbuf::Error),
    Output(io::Error),
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let device = Device::open(&cli.device, OpenOptions::new().read(true).nonblocking(true))
        .map_err(Failure::Device)?;
    let mut stdout = io::stdout().lock();
    let Some(interval) = cli.watch else {
        let stats = device.stats().map_err(Failure::Device)?;
        return stdout
            .write_all(render(cli, &stats).as_bytes())
            .map_err(Failure::Output);
    };

    // Redrawing in place only makes sense on a screen; into a pipe or file
    // every sample is kept, one after the other.
    let redraw = !cli.json && stdout.is_terminal();
    loop {
        let stats = device.stats().map_err(Failure::Device)?;
        let mut frame = String::new();
        if redraw {
            frame.push_str("\x1b[H\x1b[2J");
            frame.push_str(&format!(
                "every {:.2}s, Ctrl-C to stop\n\n",
                interval.as_secs_f64()
            ));
        }
        frame.push_str(&render(cli, &stats));
        if !cli.json && !redraw {
            frame.push('\n');
        }
        stdout
            .write_all(frame.as_bytes())
            .and_then(|()| stdout.flush())
            .map_err(Failure::Output)?;
        std::thread::sleep(interval);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (e.g. `| head`): nothing left to say.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("query_stats: writing the output: {e}");
            ExitCode::FAILURE
        }
        Err(Failure::Device(e)) => {
            eprintln!("query_stats: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stats {
        Stats {
            capacity: 4096,
            used: 10,
            available: 4086,
            reads: 3,
            writes: 2,
            bytes_read: 123_456_789,
            bytes_written: 123_456_799,
            readers: 1,
            writers: 1,
            read_waits: 0,
            write_waits: 7,
            mode: 1,
            dropped_bytes: 4096,
            dropped_records: 2,
            source: 1,
            rate_hz: 1000,
        }
    }

    #[test]
    fn table_lists_every_field_aligned() {
        let table = render_table(Path::new("/dev/circbuf"), &sample());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "/dev/circbuf");
        assert_eq!(lines.len(), 1 + Stats::FIELD_NAMES.len());
        assert_eq!(
            lines[1],
            "  capacity              4096  size of the ring in bytes"
        );
        assert_eq!(
            lines[6],
            "  bytes_read       123456789  bytes handed to readers, since load"
        );
        // Every value ends in the column where the capacity's does.
        let end = lines[1].find("4096").unwrap() + 4;
        for line in &lines[1..] {
            let bytes = line.as_bytes();
            assert!(bytes[end - 1] != b' ' && bytes[end] == b' ', "{table}");
        }
        assert_eq!(
            lines[12],
            "  mode             overwrite  what writes do when the ring is full"
        );
        assert_eq!(
            lines[14],
            "  dropped_records          2  records overwriting writes dropped, since load"
        );
        assert_eq!(
            lines[15],
            "  source             thermal  what produces into the ring in the kernel"
        );
        assert_eq!(
            lines[16],
            "  rate_hz               1000  the rate the source runs or would run at, in Hz"
        );
        for (name, line) in Stats::FIELD_NAMES.iter().zip(&lines[1..]) {
            assert!(line.trim_start().starts_with(name), "{line}");
            assert!(!describe(name).is_empty(), "{name} has no description");
        }
    }

    #[test]
    fn json_is_one_object_with_the_struct_field_names() {
        let cli = Cli::parse_from(["query_stats", "--json"]);
        let out = render(&cli, &sample());
        assert!(
            out.ends_with("}\n") && out.matches('\n').count() == 1,
            "{out}"
        );
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.len(), Stats::FIELD_NAMES.len());
        for (name, expected) in sample().fields() {
            assert_eq!(object[name], expected, "{name}");
        }
    }

    #[test]
    fn unknown_mode_and_source_show_their_numbers() {
        let stats = Stats {
            mode: 7,
            source: 9,
            ..sample()
        };
        assert_eq!(show_value(&stats, "mode", 7), "7");
        assert_eq!(show_value(&stats, "source", 9), "9");
        assert_eq!(show_value(&sample(), "mode", 1), "overwrite");
        assert_eq!(show_value(&sample(), "source", 1), "thermal");
        assert_eq!(show_value(&sample(), "used", 10), "10");
        let idle = Stats {
            source: 0,
            ..sample()
        };
        assert_eq!(show_value(&idle, "source", 0), "none");
    }

    #[test]
    fn arguments_default_to_the_standard_device() {
        let cli = Cli::parse_from(["query_stats"]);
        assert_eq!(cli.device, Path::new("/dev/circbuf"));
        assert!(!cli.json);
        assert_eq!(cli.watch, None);

        let cli = Cli::parse_from(["query_stats", "/dev/other", "--watch", "0.5"]);
        assert_eq!(cli.device, Path::new("/dev/other"));
        assert_eq!(cli.watch, Some(Duration::from_millis(500)));
    }

    #[test]
    fn watch_interval_must_be_a_positive_number() {
        assert_eq!(parse_interval("2"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("-1").is_err());
        assert!(parse_interval("soon").is_err());
        assert!(parse_interval("inf").is_err());
        assert!(Cli::try_parse_from(["query_stats", "--watch", "x"]).is_err());
    }

    #[test]
    fn clap_configuration_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
