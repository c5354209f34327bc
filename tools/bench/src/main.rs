// SPDX-License-Identifier: GPL-2.0
//! `bench`: measures a circbuf device beside a pipe of the same capacity.
//! This file turns the command line into a run (see `run.rs`) and its
//! outcome into the exit status.

use std::process::ExitCode;

use bench::mapped;
use bench::options::Cli;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ratios = if cli.mapped { &cli.ratios[..] } else { &[] };
    if let Err(e) = mapped::check_ratios(ratios) {
        Cli::command().error(ErrorKind::ArgumentConflict, e).exit();
    }
    match bench::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
