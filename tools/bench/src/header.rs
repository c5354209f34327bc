// SPDX-License-Identifier: GPL-2.0
//! The report's [`Header`], printed before the measurements: the machine,
//! the settings of the run, and the command line, quoted so it can be
//! pasted back into a shell.

use std::ffi::OsString;

use serde::{Deserialize, Serialize};

use crate::channel::PipeSize;
use crate::options::Cli;
use crate::report::format_size;

/// The machine and the settings of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// `uname -r`.
    pub kernel: String,
    /// CPUs this process may use.
    pub cpus: usize,
    /// `None` with `--pipe-only`.
    pub device: Option<String>,
    /// The device's capacity (with `--pipe-only`, the capacity assumed).
    pub capacity: usize,
    pub pipe_size: PipeSize,
    pub command_line: String,
    /// Seconds of writing per point and channel, if timed.
    pub duration_s: Option<f64>,
    /// Bytes written per point and channel, if budgeted.
    pub bytes_per_point: Option<u64>,
    pub read_size: usize,
    pub latency_gap_s: f64,
}

const UNITS: &str = "MB = 10^6 bytes, ops = messages";

impl Header {
    /// The header of a run of `cli`, on the device unless `--pipe-only`.
    pub fn new(cli: &Cli, capacity: usize, pipe_size: PipeSize) -> Header {
        let uname = rustix::system::uname();
        Header {
            kernel: uname.release().to_string_lossy().into_owned(),
            // The affinity mask, within any cgroup quota; 1 if unknown.
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            device: (!cli.pipe_only).then(|| cli.device.display().to_string()),
            capacity,
            pipe_size,
            command_line: command_line(std::env::args_os()),
            duration_s: cli.bytes.is_none().then_some(cli.duration.as_secs_f64()),
            bytes_per_point: cli.bytes,
            read_size: cli.read_size,
            latency_gap_s: cli.latency_gap.as_secs_f64(),
        }
    }

    /// The header block: machine, device, pipe, command line and units.
    pub fn lines(&self) -> Vec<String> {
        let capacity = describe_bytes(self.capacity);
        let device = match &self.device {
            Some(path) => format!("{path}, capacity {capacity}"),
            None => format!("none (--pipe-only), capacity {capacity} assumed"),
        };
        let budget = match (self.duration_s, self.bytes_per_point) {
            (_, Some(bytes)) => format!("{} written", describe_bytes(bytes as usize)),
            (Some(seconds), None) => format!("{seconds} s of writing"),
            (None, None) => "until stopped".to_owned(),
        };
        let PipeSize { requested, actual } = self.pipe_size;
        let read = format_size(self.read_size);
        vec![
            format!("kernel:      {}", self.kernel),
            format!("cpus:        {}", self.cpus),
            format!("device:      {device}"),
            format!("pipe size:   {actual} B (asked for {requested} B with F_SETPIPE_SZ)"),
            format!("command:     {}", self.command_line),
            format!("per point:   {budget} per channel, reads of {read}; {UNITS}"),
        ]
    }
}

/// `4096 B (4 KiB)`, or just `100 B` when no larger unit divides it.
fn describe_bytes(bytes: usize) -> String {
    match format_size(bytes) {
        short if short.ends_with(" B") => short,
        short => format!("{bytes} B ({short})"),
    }
}

/// `args` joined by spaces, each quoted for a POSIX shell when it holds
/// anything but plainly safe characters.
fn command_line(args: impl IntoIterator<Item = OsString>) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    let quoted = args.into_iter().map(|arg| match arg.to_string_lossy() {
        arg if !arg.is_empty() && arg.chars().all(plain) => arg.into_owned(),
        arg => format!("'{}'", arg.replace('\'', r"'\''")),
    });
    quoted.collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixtures::header;
    use clap::Parser;

    #[test]
    fn plain_arguments_stay_bare_and_others_are_quoted() {
        let args = [
            "tools/target/release/bench",
            "--sizes=1,4K",
            "--json",
            "out dir/r.json",
            "it's",
            "",
        ];
        assert_eq!(
            command_line(args.map(OsString::from)),
            r"tools/target/release/bench --sizes=1,4K --json 'out dir/r.json' 'it'\''s' ''"
        );
    }

    #[test]
    fn the_machine_is_described() {
        let cli = Cli::parse_from(["bench", "--bytes", "1M"]);
        let header = Header::new(&cli, 4096, header().pipe_size);
        assert!(!header.kernel.is_empty());
        assert!(header.cpus >= 1);
        assert_eq!(header.device.as_deref(), Some("/dev/circbuf"));
        assert_eq!(
            (header.duration_s, header.bytes_per_point),
            (None, Some(1 << 20))
        );
    }

    #[test]
    fn header_names_kernel_cpus_capacity_pipe_and_command() {
        let lines = header().lines();
        assert_eq!(
            lines,
            [
                "kernel:      6.12.0",
                "cpus:        2",
                "device:      /dev/circbuf, capacity 4096 B (4 KiB)",
                "pipe size:   4096 B (asked for 4096 B with F_SETPIPE_SZ)",
                "command:     bench --quick",
                "per point:   0.5 s of writing per channel, reads of 64 KiB; \
                 MB = 10^6 bytes, ops = messages",
            ]
        );
        let pipe_only = Header {
            device: None,
            capacity: 100,
            duration_s: None,
            bytes_per_point: Some(1 << 20),
            ..header()
        };
        let lines = pipe_only.lines();
        assert_eq!(
            lines[2],
            "device:      none (--pipe-only), capacity 100 B assumed"
        );
        assert!(lines[5].starts_with("per point:   1048576 B (1 MiB) written per channel"));
    }
}
