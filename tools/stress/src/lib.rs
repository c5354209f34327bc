// SPDX-License-Identifier: GPL-2.0
//! The machinery of the `stress` tool, kept in a library so that its checks
//! ([`verify`]) are unit-tested on the host and its workers can run against
//! a FIFO standing in for the device in the integration tests.

pub mod board;
pub mod device_mode;
pub mod launch;
pub mod record;
pub mod rng;
pub mod stream;
pub mod verify;
pub mod violation;
pub mod worker;
