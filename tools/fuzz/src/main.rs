// SPDX-License-Identifier: GPL-2.0

//! `fuzz`: drives a circbuf device through a long seeded sequence of
//! operations and checks every result against an executable model.
//!
//! This file owns the command line, the choice of seed, and the exit
//! status: 0 when every result matched, 1 at the first difference, 2 when
//! the run cannot be made (bad arguments, device missing or not idle).

use std::path::PathBuf;
use std::process::ExitCode;

use circbuf::testing::seed_from_clock;
use clap::Parser;

use circbuf_fuzz::run::{run, Config, RunError};
use circbuf_fuzz::worker::{serve, SERVE_FLAG};

/// Checks a circbuf device against a model of its semantics.
///
/// Issues a seeded random sequence of operations, one at a time: opens in
/// every access mode with and without O_NONBLOCK, closes, fcntl, reads and
/// writes of random sizes (plain, vectored, RWF_NOWAIT), poll, FIONREAD,
/// CIRCBUF_GET_STATS, CIRCBUF_RESET, unknown ioctls, lseek/pread/pwrite,
/// and calls handed NULL, kernel or partly unmapped buffers. Every result,
/// every byte read and every counter must be exactly what the model of
/// docs/semantics.md says. Blocking calls are issued only when the model
/// says they complete at once.
///
/// The device must be empty with no writer open; its counters are taken as
/// a baseline, not reset. At the end every file is closed and what is left
/// is read back, leaving the device empty.
///
/// Exit status: 0 pass, 1 mismatch, 2 cannot run.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// The circbuf device.
    #[arg(default_value = circbuf::DEFAULT_PATH)]
    device: PathBuf,

    /// Seed of every choice; printed first so a failing run can be repeated
    /// [default: from the clock].
    #[arg(long, value_name = "S")]
    seed: Option<u64>,

    /// Operations to draw, before the final drain.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    ops: u64,

    /// Files open at most at once.
    #[arg(long, value_name = "K", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=256))]
    files: u64,

    /// Worker processes that hold the files; 0 keeps them in this process.
    #[arg(long, value_name = "P", default_value_t = 2,
          value_parser = clap::value_parser!(u64).range(0..=64))]
    processes: u64,

    /// Largest read or write in bytes [default: 2 x capacity + 1].
    #[arg(long, value_name = "B",
          value_parser = clap::value_parser!(u64).range(1..=(1 << 30)))]
    max_size: Option<u64>,

    /// Serve operations from standard input as a worker process.
    #[arg(long = SERVE_FLAG, hide = true)]
    serve: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.serve {
        return match serve(cli.device) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("fuzz worker: {err}");
                ExitCode::from(2)
            }
        };
    }

    let seed = cli.seed.unwrap_or_else(seed_from_clock);
    println!("fuzz: seed {seed}");
    let config = Config {
        device: cli.device,
        seed,
        ops: cli.ops,
        // The ranges above keep these small.
        files: cli.files as usize,
        processes: cli.processes as usize,
        max_size: cli.max_size.map(|b| b as usize),
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("fuzz: cannot find this program to start workers: {err}");
            return ExitCode::from(2);
        }
    };
    match run(&config, &exe) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(RunError::Mismatch(mismatch)) => {
            eprintln!("{mismatch}");
            println!(
                "fuzz: seed={seed} failed at operation #{} verdict=FAIL",
                mismatch.index
            );
            ExitCode::from(1)
        }
        Err(RunError::Setup(message)) => {
            eprintln!("fuzz: {message}");
            ExitCode::from(2)
        }
    }
}
