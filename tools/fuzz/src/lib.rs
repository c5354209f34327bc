// SPDX-License-Identifier: GPL-2.0

//! A model-based fuzzer for `/dev/circbuf`.
//!
//! The crate owns an executable model of the device ([`model`]) built on the
//! very files the driver compiles, `ringbuf.rs` and `rules.rs`, so that the
//! model and the driver share their ring arithmetic and their rules. A seeded
//! [`generate::Generator`] draws operations, [`exec::Executor`]s carry them
//! out on the real device (in this process or in [`worker`] processes), and
//! [`expect::expect`] derives from the model the one reply a correct device
//! gives. [`run`] ties these together and reports the first difference.

// The fuzzer drives the device in block mode only, so the ring's accessors
// for overwrite mode's records (`head`, `discard`) are not used here.
#[path = "../../../ringbuf.rs"]
#[allow(dead_code)]
mod ringbuf;

// The model needs the rules that decide results, not the driver's wake-up
// shortcut (`writers_may_wait`) nor overwrite mode: calls that would sleep
// are never issued.
#[path = "../../../rules.rs"]
#[allow(dead_code)]
mod rules;

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
