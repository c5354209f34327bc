// SPDX-License-Identifier: GPL-2.0
//! The machinery of the `stress` tool, kept in a library so that its logic
//! is unit-tested on the host and its worker loops can run against a FIFO
//! stand-in in the integration tests.
//!
//! - [`record`], [`ledger`], [`stream`], [`verdict`], [`books`],
//!   [`assess`]: pure encoding and verification logic;
//! - [`device_mode`]: putting the device in the mode a run needs, and back;
//! - [`worker`]: the reader and writer loops;
//! - [`launch`]: running them as threads or child processes;
//! - [`supervise`]: watchdog and progress line;
//! - [`rng`]: the seeds, derived from the run's one seed, that all data and
//!   sizes are drawn from.

pub mod assess;
pub mod books;
pub mod device_mode;
pub mod launch;
pub mod ledger;
pub mod record;
pub mod rng;
pub mod stream;
pub mod supervise;
pub mod verdict;
pub mod worker;
