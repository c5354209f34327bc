// SPDX-License-Identifier: GPL-2.0
//! What counts as a failed run: a violation names the check it breaks, for
//! the tests to tell them apart, and says what was found, as printed on its
//! `stress: violation: ...` line.

use std::fmt;

/// The checks a run can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    /// A read returns exactly one intact record (not torn, short or damaged).
    BadRecord,
    /// A writer's records reach each reader in increasing order.
    OutOfOrder,
    /// No record is received twice.
    Duplicate,
    /// No record is received that no writer completed.
    Unwritten,
    /// Every record completed is received (block mode).
    Lost,
    /// Every write stores all it was asked to (records) or something
    /// (stream).
    ShortWrite,
    /// The stream's bytes arrive as written.
    Stream,
    /// Totals that must be equal are: the workers' between themselves and
    /// with the device's counters.
    Books,
    /// The device stays in the run's mode.
    Mode,
    /// Every worker runs to its end without a system call error.
    Failed,
}

/// One observed breach of the device's contract, or a worker failure that
/// makes the run unverifiable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The check it breaks.
    pub check: Check,
    /// What was found.
    pub text: String,
}

impl Violation {
    /// A breach of `check`, described by `text`.
    pub fn new(check: Check, text: impl Into<String>) -> Self {
        Violation {
            check,
            text: text.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
