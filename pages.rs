// SPDX-License-Identifier: GPL-2.0

//! Memory that user space maps: a page of positions shared with the mapped
//! consumer, and the pages of a vmalloc'd ring's storage.
//!
//! `vm_insert_page()` refuses slab memory, so everything mapped here is
//! vmalloc'd whole pages, and each page is found with
//! `Vmalloc::to_page()`. The kernel keeps using its own address of the same
//! memory. `vm_insert_page()` takes a reference on every page it maps, so a
//! mapping keeps its pages after the device has dropped them: a mapping
//! outlives nothing it points to.

use crate::{ring::ByteRing, spsc::Storage};
use core::ptr::NonNull;
use kernel::{
    alloc::allocator::Vmalloc,
    page::{BorrowedPage, PAGE_SIZE},
    prelude::*,
    sync::atomic::Atomic,
};

/// The number of 64-bit words in a page.
const WORDS: usize = PAGE_SIZE / core::mem::size_of::<u64>();

/// One page of 64-bit words, read and written atomically by the kernel and
/// by whoever maps it.
///
/// # Invariants
///
/// `words` holds exactly one page's worth of words, so its vmalloc
/// allocation is that one page.
pub(crate) struct SharedPage {
    words: VVec<Atomic<u64>>,
}

impl SharedPage {
    /// A page of zeroes.
    pub(crate) fn new() -> Result<Self> {
        let mut words = VVec::with_capacity(WORDS, GFP_KERNEL)?;
        for _ in 0..WORDS {
            words.push(Atomic::new(0), GFP_KERNEL)?;
        }
        // INVARIANT: `WORDS` words fill one page.
        Ok(Self { words })
    }

    /// The word at `index`, one of the first few: the UAPI structs are
    /// small.
    pub(crate) fn word(&self, index: usize) -> &Atomic<u64> {
        &self.words[index]
    }

    /// The page, to map.
    pub(crate) fn page(&self) -> BorrowedPage<'_> {
        let first = NonNull::from(&self.words[0]).cast::<u8>();
        // SAFETY: `first` is the start of the vmalloc allocation of `words`
        // (type invariant), which lives as long as the borrow of `self`.
        unsafe { Vmalloc::to_page(first) }
    }
}

/// The page of `ring`'s storage that holds the byte at `offset`, which must
/// be below its capacity.
///
/// The ring's storage is a `VVec` (see `ring.rs`), so the page is found in
/// its vmalloc allocation; the result borrows the ring, which owns it.
pub(crate) fn ring_page(ring: &ByteRing, offset: usize) -> Result<BorrowedPage<'_>> {
    if offset >= ring.capacity() {
        return Err(EINVAL);
    }
    let byte = NonNull::new(ring.storage().base().as_ptr().wrapping_add(offset)).ok_or(EINVAL)?;
    // SAFETY: `base` is the start of the ring's vmalloc'd `VVec<u8>` of
    // `capacity` bytes and `offset` is below `capacity`, so `byte` points
    // into that allocation, which the ring owns as long as it is borrowed.
    Ok(unsafe { Vmalloc::to_page(byte) })
}
