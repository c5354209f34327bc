// SPDX-License-Identifier: GPL-2.0

//! The rules of the mapped consumer (`include/uapi/linux/circbuf.h`): which
//! positions it publishes the kernel takes in, and how a writer that finds
//! the ring full waits for one without a lost wake-up.
//!
//! Positions count bytes since load and wrap at 2^64, as in the BPF ring
//! buffer: the producer's `tail` is the number of bytes ever written, the
//! consumer's `head` the number ever taken out, and the bytes between them
//! are readable. Only the consumer writes its `head`, in a page user space
//! maps writable, so the kernel treats every value there as a claim to
//! check, never as an index.
//!
//! A writer that finds the ring full raises `WRITERS_WAITING` in the
//! producer's page, issues a full barrier, takes in the consumer's `head`
//! and only then checks for room and sleeps, for as long as the flag stays
//! raised and there is no room. The consumer stores its `head`, issues a
//! full barrier and loads the flag; if it is raised it asks the kernel
//! (`CIRCBUF_WAKE_WRITERS`) to clear it, take in the `head` and wake every
//! writer. Of the writer's load of `head` and the consumer's load of the
//! flag, at least one sees the other side's store, so progress is never
//! missed by both (loom checks this, `host/src/loom_tests.rs`); a consumer
//! that keeps ahead of its writers never makes the call.
//!
//! This file uses only `core`, so it is compiled into the module and into
//! the host test crate (`host/`).

/// The number of bytes a consumer hands back by publishing `published`,
/// when the kernel last took in `accepted` and the producer's tail is
/// `tail`; `None` when `published` does not lie between them, which an
/// honest consumer never publishes: such a value is ignored, and the
/// consumer keeps what it has not given back.
pub(crate) fn newly_consumed(published: u64, accepted: u64, tail: u64) -> Option<u64> {
    let handed_back = published.wrapping_sub(accepted);
    (handed_back <= tail.wrapping_sub(accepted)).then_some(handed_back)
}

/// Whether a capacity of `capacity` bytes can be mapped with pages of
/// `page_size` bytes: the data pages are mapped twice back to back, so the
/// ring must end where a page does.
pub(crate) fn mappable(capacity: usize, page_size: usize) -> bool {
    capacity > 0 && capacity.is_multiple_of(page_size)
}
