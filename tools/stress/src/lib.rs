// SPDX-License-Identifier: GPL-2.0
//! The machinery of the `stress` tool, kept in a library so that its checks
//! are unit-tested on the host and its workers can run against a FIFO
//! standing in for the device in the integration tests.
//!
//! - [`verify`]: the checks, pure, over what the workers left on the
//!   [`board`] (shared memory) and the device's counters; [`violation`]
//!   words what they find;
//! - [`record`] and [`stream`]: what is sent, and [`rng`] the seeds it is
//!   drawn from;
//! - [`worker`]: the reader and writer loops; [`launch`]: forking them and
//!   waiting under the watchdog;
//! - [`device_mode`]: putting the device in the run's mode, and back;
//! - [`summary`]: the lines a run ends with.

pub mod board;
pub mod device_mode;
pub mod launch;
pub mod record;
pub mod rng;
pub mod stream;
pub mod summary;
pub mod verify;
pub mod violation;
pub mod worker;
