// SPDX-License-Identifier: GPL-2.0

//! `fuzz`: checks every result of a long seeded sequence of operations on
//! a circbuf device against an executable model of `docs/semantics.md`.
//! This file owns the command line, the choice of seed and the exit status.

mod child;
mod exec;
mod expect;
mod generate;
mod model;
mod op;
mod raw;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use circbuf::testing::seed_from_clock;
use clap::builder::RangedU64ValueParser;
use clap::Parser;

use crate::run::{run, RunError};

/// Checks a circbuf device against a model of its semantics.
///
/// Issues a seeded random sequence of opens, closes, fcntl, reads and
/// writes (plain, vectored, RWF_NOWAIT, into bad buffers), poll, ioctls and
/// positioned calls; blocking calls that must sleep are made by child
/// processes and woken. Every result, byte and counter must be what the
/// model says. The device must be empty with no writer open; its counters
/// are a baseline, not reset. Exit status: 0 pass, 1 mismatch, 2 cannot run.
#[derive(Debug, Parser)]
#[command(version, about, long_about)]
pub struct Cli {
    /// The circbuf device.
    #[arg(default_value = circbuf::DEFAULT_PATH)]
    pub device: PathBuf,

    /// Seed of every choice; printed first so a failing run can be repeated
    /// [default: from the clock].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,

    /// Operations to draw, before the run's end.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub ops: u64,

    /// Files open at most at once.
    #[arg(long, value_name = "K", default_value_t = 4,
          value_parser = RangedU64ValueParser::<usize>::new().range(2..=256))]
    pub files: usize,

    /// Child processes asleep in a blocking call at most at once (more than
    /// one only for readers, all released by the last writer's close); 0
    /// makes no call that sleeps.
    #[arg(long, value_name = "P", default_value_t = 2,
          value_parser = RangedU64ValueParser::<usize>::new().range(0..=64))]
    pub processes: usize,

    /// Largest read or write in bytes [default: 2 x capacity + 1].
    #[arg(long, value_name = "B",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=(1 << 30)))]
    pub max_size: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let seed = cli.seed.unwrap_or_else(seed_from_clock);
    println!("fuzz: seed {seed}");
    match run(&cli, seed) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(RunError::Mismatch(index, report)) => {
            eprintln!("{report}");
            println!("fuzz: seed={seed} failed at operation #{index} verdict=FAIL");
            ExitCode::from(1)
        }
        Err(RunError::Setup(message)) => {
            eprintln!("fuzz: {message}");
            ExitCode::from(2)
        }
    }
}
