// SPDX-License-Identifier: GPL-2.0

//! The driver's kernel-independent modules, built for the host from the very
//! files the kernel module compiles, so they can be tested with `cargo test`.
//! Their items are `pub(crate)` as the kernel build wants, so the tests live
//! inside this crate.

// Only the tests use the modules; a plain build would call them dead.
#![cfg_attr(not(test), allow(dead_code))]

#[path = "../../ringbuf.rs"]
mod ringbuf;

#[path = "../../records.rs"]
mod records;

#[path = "../../rules.rs"]
mod rules;

#[cfg(test)]
mod ringbuf_tests;

#[cfg(test)]
mod records_tests;

#[cfg(test)]
mod rules_tests;
