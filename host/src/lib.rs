// SPDX-License-Identifier: GPL-2.0

//! The driver's kernel-independent modules, built for the host from the very
//! files the kernel module compiles, so they can be tested with `cargo test`,
//! Miri and loom. Their items are `pub(crate)` as the kernel build wants, so
//! the tests live inside this crate.

// Only the tests use the modules; a plain build would call them dead, and
// the loom build uses only the ring.
#![cfg_attr(any(not(test), loom), allow(dead_code))]

#[path = "../../spsc.rs"]
mod spsc;

#[path = "../../records.rs"]
mod records;

#[path = "../../mapped.rs"]
mod mapped;

#[path = "../../rules.rs"]
mod rules;

#[path = "../../sample_ring.rs"]
mod sample_ring;

#[path = "../../sensor.rs"]
mod sensor;

// loom's models use only its `Vec` storage and its `host_ring_impls!`.
#[cfg(test)]
#[cfg_attr(loom, allow(dead_code))]
#[macro_use]
mod std_ring;

#[cfg(all(test, not(loom)))]
mod spsc_tests;

#[cfg(all(test, not(loom)))]
mod records_tests;

#[cfg(all(test, not(loom)))]
mod rules_tests;

#[cfg(all(test, not(loom)))]
mod mapped_tests;

#[cfg(all(test, not(loom)))]
mod sample_ring_tests;

#[cfg(all(test, not(loom)))]
mod sensor_tests;

#[cfg(all(test, loom))]
mod loom_tests;
