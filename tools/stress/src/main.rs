// SPDX-License-Identifier: GPL-2.0
//! `stress`: hammers a circbuf device with concurrent writers and readers
//! and proves that every byte came out exactly once, intact and in order.
//!
//! This file owns the command line, the checks made before a run (device
//! idle, record size atomic), and the sequence of a run: put the device in
//! the run's mode, run the workers, check the books, print the verdict,
//! switch the mode back. Its last line on stdout, which scripts parse, is
//! the summary; a run that hung ends with the watchdog's complaint.
//!
//! Exit status: 0 when the run passes, 1 when it finds a violation or the
//! watchdog fires, 2 when it cannot run (bad arguments, device missing or
//! busy).

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use circbuf::testing::{check_idle, parse_seconds, seed_from_clock};
use circbuf::{Device, OpenOptions, Stats, ATOMIC_WRITE_MAX};
use clap::{CommandFactory, Parser, ValueEnum};

use stress::board::{Board, KEEP};
use stress::device_mode;
use stress::launch::{self, Ended, Layout, Role};
use stress::record::HEADER_SIZE;
use stress::verify::{books, Kind, Totals};
use stress::worker::Job;

const DEFAULT_RECORD_SIZE: usize = 64;
const WATCHDOG_GRACE: Duration = Duration::from_secs(30);
/// Sequence numbers the writers' bitmaps hold between them: 128 MiB of
/// address space, of which only what records reach is ever allocated.
const BITMAP_BITS: u64 = 1 << 30;

/// What the run sends through the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Writers send self-describing records, readers account for each.
    Records,
    /// One writer streams bytes, one reader compares them byte for byte.
    Stream,
}

/// Runs concurrent writers and readers through a circbuf device and
/// verifies every byte.
///
/// records mode: writers send fixed-size records (writer id, sequence
/// number, checksum), readers ask for one record per read. Every read must
/// return one intact record, each writer's records must reach each reader
/// in order, every record written must be read exactly once, and the
/// device's counters must move by exactly what the workers did. With
/// --overwrite the device runs in overwrite mode: writers never wait, a
/// full ring drops its oldest records, and the records nobody read must be
/// exactly those the device counts as dropped.
///
/// stream mode: one writer streams pseudo-random bytes in random write
/// sizes (some larger than the device), one reader reads random sizes and
/// compares byte for byte.
///
/// A device found in the other mode than the run needs is switched for the
/// run and back afterwards, also when the run fails (not when stress is
/// killed). Readers open the device before any writer; writers stop after
/// --duration, and readers then drain to end-of-file.
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

    /// Run each worker in a process of its own (separate address spaces)
    /// instead of all as threads of one process (one shared).
    #[arg(long)]
    processes: bool,

    /// What to send through the device.
    #[arg(long, value_enum, default_value_t = Mode::Records)]
    mode: Mode,

    /// Run records mode with the device in overwrite mode (switched for
    /// the run if needed, and back).
    #[arg(long)]
    overwrite: bool,

    /// Fail the run if it has not finished after SECONDS
    /// [default: duration + 30].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    watchdog: Option<Duration>,
}

impl Cli {
    /// What the run sends, by rules clap cannot express: stream mode has
    /// one writer, one reader, no records, and a device that drops nothing.
    fn kind(&self) -> Result<Kind, String> {
        let record_size = self.record_size.unwrap_or(DEFAULT_RECORD_SIZE);
        if self.mode == Mode::Records && self.overwrite {
            return Ok(Kind::Overwrite { record_size });
        }
        if self.mode == Mode::Records {
            return Ok(Kind::Records { record_size });
        }
        let conflict = if self.writers != 1 || self.readers != 1 {
            "stream mode runs exactly one writer and one reader"
        } else if self.record_size.is_some() {
            "--record-size applies to records mode only"
        } else if self.overwrite {
            "--overwrite applies to records mode only: stream mode checks every byte, \
             and overwrite mode drops some"
        } else {
            return Ok(Kind::Stream);
        };
        Err(conflict.into())
    }
}

/// Refuses record sizes whose writes the device would not keep atomic,
/// since then interleaving would be legal and the checks meaningless.
fn check_record_size(size: usize, capacity: usize) -> Result<(), String> {
    let problem = if size < HEADER_SIZE {
        format!("is smaller than the {HEADER_SIZE}-byte record header")
    } else if size > ATOMIC_WRITE_MAX {
        format!("exceeds {ATOMIC_WRITE_MAX}, the largest write circbuf keeps atomic")
    } else if size > capacity {
        let only = "(only writes that fit are atomic)";
        format!("exceeds the device's capacity of {capacity} bytes {only}; use at most {capacity}")
    } else {
        return Ok(());
    };
    Err(format!("--record-size={size} {problem}"))
}

/// Runs the test; `Ok(passed)` once it has a verdict, `Err` if it could
/// not run.
fn execute(cli: &Cli, kind: Kind) -> Result<bool, String> {
    let idle = check_idle(&cli.device)?;
    if let Some(warning) = &idle.warning {
        eprintln!("stress: warning: {warning}");
    }
    let before = idle.stats;
    let capacity = usize::try_from(before.capacity).map_err(|_| "capacity out of range")?;
    if let Some(size) = kind.record_size() {
        check_record_size(size, capacity)?;
    }
    // After every check above, so that no refusal leaves the device
    // switched; whatever happens in run(), it is switched back.
    let switch_back = device_mode::enter(&cli.device, &before, kind.device_mode())?;
    let passed = run(cli, kind, &before, capacity);
    if let Some(mode) = switch_back {
        device_mode::restore(&cli.device, mode);
    }
    passed
}

/// The run itself, on a device already in the mode `kind` needs.
fn run(cli: &Cli, kind: Kind, before: &Stats, capacity: usize) -> Result<bool, String> {
    let bits = match kind {
        Kind::Stream => 0,
        Kind::Records { .. } | Kind::Overwrite { .. } => BITMAP_BITS / u64::from(cli.writers),
    };
    let board = &Board::new(cli.writers, cli.readers, bits)?;
    let workers = launch::open(&cli.device, cli.writers, cli.readers)?;
    let started = Instant::now();
    let job = Job {
        board,
        kind,
        seed: cli.seed.unwrap_or_else(seed_from_clock),
        capacity,
        deadline: started + cli.duration,
    };
    let layout = if cli.processes {
        Layout::Processes
    } else {
        Layout::Threads
    };
    let limit = cli.watchdog.unwrap_or(cli.duration + WATCHDOG_GRACE);
    let ended = launch::run(workers, layout, limit, &|worker| job.run(worker))?;
    let elapsed = started.elapsed();
    let after = Device::open(&cli.device, OpenOptions::new().read(true).nonblocking(true))
        .and_then(|device| device.stats())
        .map_err(|e| e.to_string())?;
    let passed = match ended {
        Ended::TimedOut => {
            let complaint = watchdog_message(limit, cli.duration, board, &after);
            eprintln!("stress: {complaint}");
            false
        }
        Ended::Exited(failures) => {
            for violation in failures.iter().chain(&books(kind, board, before, &after)) {
                board.report(violation);
            }
            let total = board.violations();
            if total > KEEP {
                eprintln!("stress: ... and {} more violations", total - KEEP);
            }
            total == 0
        }
    };
    // After a timeout too: the tallies are shared, so up to date.
    let summary = Summary {
        kind,
        writers: cli.writers,
        readers: cli.readers,
        dropped_records: after.dropped_records.wrapping_sub(before.dropped_records),
        totals: Totals::of(board),
        elapsed,
        passed,
        seed: job.seed,
    };
    println!("{summary}");
    Ok(passed)
}

/// The facts of the summary line, the last line on stdout, which scripts
/// parse: the verdict, and the seed that reproduces the run.
#[derive(Clone, Copy, Debug)]
struct Summary {
    kind: Kind,
    writers: u32,
    readers: u32,
    /// Records the device dropped (shown for overwrite runs only).
    dropped_records: u64,
    /// What the workers did: the line shows bytes read and calls made.
    totals: Totals,
    /// Wall time from the workers' start until all exited or the watchdog fired.
    elapsed: Duration,
    /// True when the run finished and no violation was found.
    passed: bool,
    seed: u64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.kind {
            Kind::Stream => "mode=stream",
            Kind::Records { .. } => "mode=records",
            Kind::Overwrite { .. } => "mode=records device-mode=overwrite",
        };
        write!(f, "stress: {mode}")?;
        write!(f, " writers={} readers={}", self.writers, self.readers)?;
        if let Some(size) = self.kind.record_size() {
            write!(f, " record-size={size}")?;
        }
        if matches!(self.kind, Kind::Overwrite { .. }) {
            write!(f, " dropped-records={}", self.dropped_records)?;
        }
        let (bytes, seconds) = (self.totals.bytes_read, self.elapsed.as_secs_f64());
        let ops = self.totals.reads + self.totals.writes;
        write!(
            f,
            " bytes={bytes} ops={ops} time={seconds:.2}s rate={:.2}MB/s verdict={} seed={}",
            bytes as f64 / 1e6 / seconds.max(1e-3),
            if self.passed { "PASS" } else { "FAIL" },
            self.seed
        )
    }
}

/// The watchdog's complaint: how long the run has gone on, which workers
/// had not finished and how far they got, and the device's state.
fn watchdog_message(limit: Duration, duration: Duration, board: &Board, now: &Stats) -> String {
    let (limit, duration) = (limit.as_secs_f64(), duration.as_secs_f64());
    let mut text = format!(
        "watchdog: the run did not finish within {limit:.1} s \
         (writers stop after {duration:.1} s); still running:"
    );
    for (role, calls) in [(Role::Reader, "reads"), (Role::Writer, "writes")] {
        for id in (0..board.count(role)).filter(|&id| !board.tally(role, id).finished()) {
            let done = board.tally(role, id).get().0;
            text.push_str(&format!("\n  {role} {id}: after {done} {calls}"));
        }
    }
    let (used, available) = (now.used, now.available);
    let (readers, writers) = (now.readers, now.writers);
    text.push_str(&format!(
        "\n  device: used={used} available={available} readers={readers} writers={writers}"
    ));
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let kind = cli.kind().unwrap_or_else(|message| {
        let conflict = clap::error::ErrorKind::ArgumentConflict;
        Cli::command().error(conflict, message).exit()
    });
    match execute(&cli, kind) {
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
        assert_eq!(cli.seed, Some(99));
        assert!(cli.processes);
        assert_eq!(cli.watchdog, Some(Duration::from_secs(10)));
        assert_eq!(cli.kind(), Ok(Kind::Overwrite { record_size: 32 }));
    }

    #[test]
    fn defaults() {
        let cli = parse(&[]).unwrap();
        assert_eq!(cli.device, PathBuf::from("/dev/circbuf"));
        assert_eq!((cli.writers, cli.readers), (1, 1));
        assert!(!cli.processes);
        assert_eq!(cli.watchdog, None);
        assert_eq!(cli.kind(), Ok(Kind::Records { record_size: 64 }));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--writers=0"]).is_err());
        assert!(parse(&["--readers=-1"]).is_err());
        assert!(parse(&["--duration=0"]).is_err());
        assert!(parse(&["--duration=abc"]).is_err());
        assert!(parse(&["--mode=pipes"]).is_err());
        let kind = |args: &[&str]| parse(args).unwrap().kind();
        let err = kind(&["--mode=stream", "--writers=2"]).unwrap_err();
        assert!(err.contains("exactly one writer and one reader"), "{err}");
        let err = kind(&["--mode=stream", "--record-size=64"]).unwrap_err();
        assert!(
            err.contains("--record-size applies to records mode only"),
            "{err}"
        );
        let err = kind(&["--mode=stream", "--overwrite"]).unwrap_err();
        assert!(
            err.contains("--overwrite applies to records mode only"),
            "{err}"
        );
        assert_eq!(kind(&["--mode=stream"]), Ok(Kind::Stream));
    }

    #[test]
    fn record_size_must_make_every_write_atomic() {
        assert_eq!(check_record_size(64, 4096), Ok(()));
        assert_eq!(check_record_size(HEADER_SIZE, 64), Ok(()));
        assert_eq!(check_record_size(64, 64), Ok(()));
        assert_eq!(check_record_size(4096, 65536), Ok(()));
        let err = check_record_size(HEADER_SIZE - 1, 4096).unwrap_err();
        assert!(err.contains("header"), "{err}");
        let err = check_record_size(4097, 65536).unwrap_err();
        assert!(err.contains("atomic"), "{err}");
        let err = check_record_size(128, 64).unwrap_err();
        assert!(err.contains("capacity of 64 bytes"), "{err}");
    }

    #[test]
    fn clap_configuration_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn summary_is_one_line_with_every_fact() {
        let s = Summary {
            kind: Kind::Records { record_size: 64 },
            writers: 4,
            readers: 2,
            dropped_records: 0,
            totals: Totals {
                bytes_read: 2_000_000,
                reads: 31_000,
                writes: 250,
                ..Totals::default()
            },
            elapsed: Duration::from_secs(2),
            passed: true,
            seed: 17,
        };
        assert_eq!(
            s.to_string(),
            "stress: mode=records writers=4 readers=2 record-size=64 bytes=2000000 ops=31250 \
             time=2.00s rate=1.00MB/s verdict=PASS seed=17"
        );
        let text = Summary {
            kind: Kind::Stream,
            passed: false,
            ..s
        }
        .to_string();
        assert!(text.contains("mode=stream") && !text.contains("record-size"));
        assert!(text.contains("verdict=FAIL"), "{text}");
        let overwrite = Summary {
            kind: Kind::Overwrite { record_size: 64 },
            dropped_records: 1234,
            ..s
        };
        assert_eq!(
            overwrite.to_string(),
            "stress: mode=records device-mode=overwrite writers=4 readers=2 record-size=64 \
             dropped-records=1234 bytes=2000000 ops=31250 time=2.00s rate=1.00MB/s \
             verdict=PASS seed=17"
        );
    }

    #[test]
    fn watchdog_names_the_unfinished_and_the_device_state() {
        let board = Board::new(2, 1, 64).unwrap();
        board.tally(Role::Writer, 0).finish();
        board.tally(Role::Reader, 0).finish();
        board.tally(Role::Writer, 1).add(9, 576, 9);
        let now = Stats {
            used: 64,
            readers: 1,
            writers: 1,
            ..Stats::default()
        };
        assert_eq!(
            watchdog_message(
                Duration::from_secs(32),
                Duration::from_secs(2),
                &board,
                &now
            ),
            "watchdog: the run did not finish within 32.0 s (writers stop after 2.0 s); \
             still running:\n  writer 1: after 9 writes\n  \
             device: used=64 available=0 readers=1 writers=1"
        );
    }
}
