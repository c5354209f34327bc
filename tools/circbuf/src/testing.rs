// SPDX-License-Identifier: GPL-2.0
//! What the programs and tests that exercise a circbuf device share.
//!
//! - [`Rng`] and [`mix`]: the seeded randomness behind every choice and
//!   every byte of `fuzz` and `stress`, so that a run replays from the seed
//!   it printed; [`seed_from_clock`] picks a seed when none is given.
//! - [`fifo`]: a FIFO standing in for the device on a machine without one.
//! - [`assert_reports_missing_device`] and [`assert_reports_not_circbuf`]:
//!   what every tool must print when pointed at a missing path or at a file
//!   that is not a circbuf device.
//! - [`check_idle`]: the device must be idle before a tool runs on it.
//! - [`watchdog`]: a blocked call is interrupted instead of hanging a tool.
//! - [`parse_seconds`]: the one parser of a duration on a command line.

mod idle;
mod rng;
mod seconds;
mod stand_in;
pub mod watchdog;

pub use idle::{check_idle, Idle};
pub use rng::{mix, seed_from_clock, Rng};
pub use seconds::parse_seconds;
pub use stand_in::{assert_reports_missing_device, assert_reports_not_circbuf, fifo};
