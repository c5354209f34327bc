// SPDX-License-Identifier: GPL-2.0
//! The parts of the `bench` tool, which measures a circbuf device beside a
//! Linux pipe of the same capacity with the same threads doing the same
//! work; each module's documentation says what it owns. Every failure is an
//! [`Error`], which says whether the run could not start or went wrong.

mod channel;
mod copy;
mod header;
mod latency;
pub mod mapped;
pub mod options;
mod placement;
pub mod plot;
mod report;
mod run;
mod throughput;

pub use report::Report;
pub use run::run;

use std::fmt;

/// Why `bench` stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The run cannot start: the device is missing, busy or holds data, a
    /// pipe cannot be made, an output file cannot be written. Exit status 2.
    Setup(String),
    /// A measurement went wrong: a system call failed midway, or the bytes
    /// read do not add up to the bytes written. Exit status 1.
    Run(String),
}

impl Error {
    /// The exit status `bench` ends with for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Setup(_) => 2,
            Error::Run(_) => 1,
        }
    }

    /// Says where a measurement went wrong: `what: message`. A setup error
    /// is left as it is, since it already names its cause.
    pub(crate) fn within(self, what: &str) -> Error {
        match self {
            Error::Run(message) => Error::Run(format!("{what}: {message}")),
            setup => setup,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Error::Setup(message) | Error::Run(message)) = self;
        f.write_str(message)
    }
}

impl std::error::Error for Error {}

/// A device call that fails once the run has started.
impl From<circbuf::Error> for Error {
    fn from(e: circbuf::Error) -> Self {
        Error::Run(e.to_string())
    }
}
