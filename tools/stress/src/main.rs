// SPDX-License-Identifier: GPL-2.0
//! `stress`: hammers a circbuf device with concurrent writers and readers
//! and proves that every byte came out exactly once, intact and in order.
//!
//! This file owns the command line, the checks made before a run (device
//! idle, record size atomic), and the sequence of a run: snapshot the
//! counters, put the device in the run's mode, launch, supervise, assess,
//! print the verdict, switch the mode back.
//!
//! Exit status: 0 when the run passes, 1 when it finds a violation or the
//! watchdog fires, 2 when it cannot run (bad arguments, device missing or
//! busy).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use circbuf::testing::seed_from_clock;
use circbuf::{Device, OpenOptions, Stats, ATOMIC_WRITE_MAX};
use clap::{CommandFactory, Parser};

use stress::assess::{assess, Summary};
use stress::books::{Moved, RunKind};
use stress::device_mode::{self, SwitchBack};
use stress::launch::{self, Launcher, Plan, WORKER_COMMAND};
use stress::record::HEADER_SIZE;
use stress::supervise::{supervise, Registry, Watch};
use stress::verdict::Violations;
use stress::worker::Mode;

const DEFAULT_RECORD_SIZE: usize = 64;
const WATCHDOG_GRACE: Duration = Duration::from_secs(30);

/// Runs concurrent writers and readers through a circbuf device and
/// verifies every byte.
///
/// records mode: each writer sends fixed-size records (writer id, sequence
/// number, checksum); each reader asks for one record per read. Every read
/// must return exactly one intact record, each writer's records must reach
/// each reader in order, every record written must be read exactly once,
/// and the device's byte and call counters must move by exactly what the
/// workers did.
///
/// records mode with --overwrite: the same records through the device in
/// overwrite mode, where writers never wait and a full ring drops its
/// oldest records. Every read must still return one intact record, each
/// writer's records must reach each reader in increasing order (gaps
/// allowed, repeats not), no record may be read twice, no writer may wait,
/// and the records nobody read must be exactly the records the device
/// counts as dropped: written = read + dropped, in records and in bytes.
///
/// stream mode: one writer streams seeded pseudo-random bytes in random
/// write sizes (some larger than the device), one reader reads random sizes
/// and compares byte for byte.
///
/// The device's mode belongs to the device: a run needs block mode, or
/// overwrite mode with --overwrite, and if it finds the device in the
/// other one it switches it for the run and back afterwards, also when the
/// run fails or the watchdog fires (not when stress is killed).
///
/// Readers open the device before any writer; writers stop at the end of
/// --duration and close, and readers then drain to end-of-file.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// The circbuf device.
    #[arg(default_value = circbuf::DEFAULT_PATH)]
    device: PathBuf,

    /// Number of writers (stream mode: exactly 1).
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    writers: u32,

    /// Number of readers (stream mode: exactly 1).
    #[arg(long, value_name = "M", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    readers: u32,

    /// How long writers write, in seconds (fractions allowed).
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    duration: Duration,

    /// Bytes per record in records mode [default: 64]; at least the
    /// 24-byte header and at most min(4096, device capacity), so that
    /// every write is atomic.
    #[arg(long, value_name = "B")]
    record_size: Option<usize>,

    /// Seed for all data and sizes; the summary prints it so a failing run
    /// can be repeated [default: random].
    #[arg(long, value_name = "S")]
    seed: Option<u64>,

    /// Run each worker as a child process instead of a thread.
    #[arg(long)]
    processes: bool,

    /// What to send through the device.
    #[arg(long, value_enum, default_value_t = Mode::Records)]
    mode: Mode,

    /// Run records mode with the device in overwrite mode (switched for
    /// the run if needed, and back): writers never wait, a full ring drops
    /// its oldest records, and what nobody read must be exactly what the
    /// device dropped.
    #[arg(long)]
    overwrite: bool,

    /// Fail the run if it has not finished after SECONDS
    /// [default: duration + 30].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    watchdog: Option<Duration>,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 1e7) {
        return Err(format!("`{text}`: expected a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

impl Cli {
    /// Rules clap cannot express: stream mode has one writer, one reader,
    /// no records, and a device that drops nothing.
    fn check(&self) -> Result<(), String> {
        if self.mode == Mode::Stream {
            if self.writers != 1 || self.readers != 1 {
                return Err("stream mode runs exactly one writer and one reader".into());
            }
            if self.record_size.is_some() {
                return Err("--record-size applies to records mode only".into());
            }
            if self.overwrite {
                return Err(
                    "--overwrite applies to records mode only: stream mode checks every byte, \
                     and overwrite mode drops some"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

/// Refuses record sizes whose writes the device would not keep atomic,
/// since then interleaving would be legal and the checks meaningless.
fn check_record_size(size: usize, capacity: usize) -> Result<usize, String> {
    if size < HEADER_SIZE {
        return Err(format!(
            "--record-size={size} is smaller than the {HEADER_SIZE}-byte record header"
        ));
    }
    if size > ATOMIC_WRITE_MAX {
        return Err(format!(
            "--record-size={size} exceeds {ATOMIC_WRITE_MAX}, the largest write circbuf keeps atomic"
        ));
    }
    if size > capacity {
        return Err(format!(
            "--record-size={size} exceeds the device's capacity of {capacity} bytes \
             (only writes that fit are atomic); use at most {capacity}"
        ));
    }
    Ok(size)
}

/// Refuses to run on a device someone else is writing to or left data in:
/// that data would be misread as records, and an outside writer would keep
/// the readers from ever seeing end-of-file. Outside readers only earn a
/// warning, since a passive one (`query_stats --watch`) is harmless; one
/// that reads shows up as lost records and mismatched counters.
fn check_idle(device: &Path, stats: &Stats) -> Result<Option<String>, String> {
    let path = device.display();
    if stats.writers > 0 {
        return Err(format!(
            "{path} is open for writing by {} other file(s); close them first",
            stats.writers
        ));
    }
    if stats.used > 0 {
        return Err(format!(
            "{path} already holds {} bytes; drain it (read it empty) or reload the module",
            stats.used
        ));
    }
    // This run's own statistics handle is the one reader expected.
    Ok((stats.readers > 1).then(|| {
        format!(
            "{path} is also open for reading by {} other file(s); \
             if they read, records will go missing",
            stats.readers - 1
        )
    }))
}

fn print_violations(violations: &Violations) {
    for v in violations.kept() {
        eprintln!("stress: violation: {v}");
    }
    let hidden = violations.total() - violations.kept().len() as u64;
    if hidden > 0 {
        eprintln!("stress: ... and {hidden} more violations");
    }
}

/// Runs the test; `Ok(passed)` once it has a verdict, `Err` if it could
/// not run.
fn execute(cli: &Cli) -> Result<bool, String> {
    let monitor = Device::open(&cli.device, OpenOptions::new().read(true).nonblocking(true))
        .map_err(|e| e.to_string())?;
    let before = monitor.stats().map_err(|e| e.to_string())?;
    if let Some(warning) = check_idle(&cli.device, &before)? {
        eprintln!("stress: warning: {warning}");
    }
    let capacity = usize::try_from(before.capacity).map_err(|_| "capacity out of range")?;
    let kind = match cli.mode {
        Mode::Stream => RunKind::Stream,
        Mode::Records => {
            let record_size =
                check_record_size(cli.record_size.unwrap_or(DEFAULT_RECORD_SIZE), capacity)?;
            if cli.overwrite {
                RunKind::Overwrite { record_size }
            } else {
                RunKind::Records { record_size }
            }
        }
    };
    let plan = Plan {
        device: cli.device.clone(),
        mode: kind.mode(),
        writers: cli.writers,
        readers: cli.readers,
        duration: cli.duration,
        record_size: kind.record_size().unwrap_or(0),
        capacity,
        seed: cli.seed.unwrap_or_else(seed_from_clock),
    };
    // The last step before the run, so that no refusal above leaves the
    // device switched; whatever the run's outcome, it is switched back.
    let switch_back = device_mode::enter(&cli.device, &before, kind.device_mode())?;
    let verdict = run(cli, kind, &plan, monitor, before, switch_back.clone());
    if let Some(back) = switch_back {
        back.now();
    }
    verdict
}

/// The run itself, on a device already in the mode `kind` needs: launch,
/// supervise, assess, print the verdict. `switch_back` is for the
/// watchdog, which ends the process before [`execute`] could.
fn run(
    cli: &Cli,
    kind: RunKind,
    plan: &Plan,
    monitor: Device,
    before: Stats,
    switch_back: Option<SwitchBack>,
) -> Result<bool, String> {
    let launcher = if cli.processes {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find this program to start workers: {e}"))?;
        Launcher::Processes { exe }
    } else {
        Launcher::Threads
    };

    let summary = Summary {
        kind,
        writers: plan.writers,
        readers: plan.readers,
        dropped_records: 0,
        bytes: 0,
        ops: 0,
        elapsed: Duration::ZERO,
        passed: false,
        seed: plan.seed,
    };
    let monitor = Arc::new(monitor);
    let registry = Arc::new(Registry::new());
    let started = Instant::now();
    let on_timeout = {
        let summary = summary.clone();
        Box::new(move |now: Option<&Stats>| {
            let moved = Moved::between(&before, now.unwrap_or(&before));
            println!(
                "{}",
                Summary {
                    dropped_records: moved.dropped_records,
                    bytes: moved.bytes_read,
                    ops: moved.reads + moved.writes,
                    elapsed: started.elapsed(),
                    ..summary
                }
            );
            if let Some(back) = switch_back {
                back.now();
            }
        })
    };
    let supervisor = supervise(
        Arc::clone(&monitor),
        Arc::clone(&registry),
        before,
        Watch {
            started,
            duration: cli.duration,
            limit: cli.watchdog.unwrap_or(cli.duration + WATCHDOG_GRACE),
            progress: std::io::stdout().is_terminal(),
        },
        on_timeout,
    );
    let reports = launch::launch(plan, &launcher, &registry);
    let elapsed = started.elapsed();
    supervisor.stop();
    let reports = reports?;

    let after = monitor.stats().map_err(|e| e.to_string())?;
    let (totals, violations) = assess(kind, cli.writers, &reports, &before, &after);
    print_violations(&violations);
    println!(
        "{}",
        Summary {
            dropped_records: Moved::between(&before, &after).dropped_records,
            bytes: totals.bytes_read,
            ops: totals.reads + totals.writes,
            elapsed,
            passed: violations.is_empty(),
            ..summary
        }
    );
    Ok(violations.is_empty())
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == WORKER_COMMAND) {
        return launch::child_main(args.into_iter().skip(1));
    }
    let cli = Cli::parse_from(args);
    if let Err(message) = cli.check() {
        Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    match execute(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("stress: {message}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("stress").chain(args.iter().copied()))
    }

    #[test]
    fn documented_command_line_parses() {
        let cli = parse(&[
            "/dev/x",
            "--writers=8",
            "--readers=2",
            "--duration=2.5",
            "--record-size=32",
            "--seed=99",
            "--processes",
            "--mode",
            "records",
            "--overwrite",
            "--watchdog=10",
        ])
        .unwrap();
        assert_eq!(cli.device, PathBuf::from("/dev/x"));
        assert_eq!((cli.writers, cli.readers), (8, 2));
        assert_eq!(cli.duration, Duration::from_millis(2500));
        assert_eq!(cli.record_size, Some(32));
        assert_eq!(cli.seed, Some(99));
        assert!(cli.processes);
        assert_eq!(cli.mode, Mode::Records);
        assert!(cli.overwrite);
        assert_eq!(cli.watchdog, Some(Duration::from_secs(10)));
        assert!(cli.check().is_ok());
    }

    #[test]
    fn defaults() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/dev/circbuf"));
        assert_eq!((cli.writers, cli.readers), (1, 1));
        assert_eq!(cli.mode, Mode::Records);
        assert!(!cli.overwrite);
        assert_eq!(cli.watchdog, None);
        assert_eq!(cli.record_size, None);
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--writers=0"]).is_err());
        assert!(parse(&["--readers=-1"]).is_err());
        assert!(parse(&["--duration=0"]).is_err());
        assert!(parse(&["--duration=abc"]).is_err());
        assert!(parse(&["--mode=pipes"]).is_err());
        assert!(parse(&["--mode=stream", "--writers=2"])
            .unwrap()
            .check()
            .is_err());
        assert!(parse(&["--mode=stream", "--record-size=64"])
            .unwrap()
            .check()
            .is_err());
        let err = parse(&["--mode=stream", "--overwrite"])
            .unwrap()
            .check()
            .unwrap_err();
        assert!(err.contains("records mode only"), "{err}");
        assert!(parse(&["--mode=stream"]).unwrap().check().is_ok());
        assert!(parse(&["--overwrite"]).unwrap().check().is_ok());
    }

    #[test]
    fn record_size_must_make_every_write_atomic() {
        assert_eq!(check_record_size(64, 4096), Ok(64));
        assert_eq!(check_record_size(HEADER_SIZE, 64), Ok(HEADER_SIZE));
        assert_eq!(check_record_size(64, 64), Ok(64));
        assert_eq!(check_record_size(4096, 65536), Ok(4096));
        assert!(check_record_size(HEADER_SIZE - 1, 4096)
            .unwrap_err()
            .contains("header"));
        assert!(check_record_size(4097, 65536)
            .unwrap_err()
            .contains("atomic"));
        let err = check_record_size(128, 64).unwrap_err();
        assert!(err.contains("capacity of 64 bytes"), "{err}");
    }

    #[test]
    fn busy_or_dirty_devices_are_refused() {
        let path = Path::new("/dev/circbuf");
        let idle = Stats {
            capacity: 4096,
            available: 4096,
            readers: 1,
            ..Stats::default()
        };
        assert_eq!(check_idle(path, &idle), Ok(None));
        let err = check_idle(path, &Stats { writers: 1, ..idle }).unwrap_err();
        assert!(err.contains("open for writing by 1"), "{err}");
        let err = check_idle(path, &Stats { used: 10, ..idle }).unwrap_err();
        assert!(err.contains("already holds 10 bytes"), "{err}");
        let warning = check_idle(path, &Stats { readers: 3, ..idle }).unwrap();
        assert!(warning.unwrap().contains("open for reading by 2"));
    }

    #[test]
    fn clap_configuration_is_consistent() {
        Cli::command().debug_assert();
    }
}
