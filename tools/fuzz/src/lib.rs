// SPDX-License-Identifier: GPL-2.0

//! A model-based fuzzer for `/dev/circbuf`.
//!
//! The crate owns an executable model of the device ([`model`]), written
//! from `docs/semantics.md` and sharing no code with the driver. A seeded
//! [`generate::Generator`] draws operations, [`exec::Executor`]s carry them
//! out on the real device (in this process or in [`worker`] processes), and
//! [`expect::expect`] derives from the model the one reply a correct device
//! gives. [`run`] ties these together and reports the first difference.

pub mod exec;
pub mod expect;
pub mod generate;
pub mod model;
pub mod op;
pub mod protocol;
pub mod raw;
pub mod run;
pub mod watchdog;
pub mod worker;
