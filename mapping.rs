// SPDX-License-Identifier: GPL-2.0

//! The mapped consumer in the kernel: the layout of the two areas it maps
//! (`include/uapi/linux/circbuf.h`), how each is set up, and the state of
//! the file that holds the consumer half through its mapping.
//!
//! As in the BPF ring buffer's user view, the producer's page and the data
//! pages are mapped read-only, with `VM_MAYWRITE` cleared so `mprotect()`
//! cannot make them writable, and the data pages twice back to back, so a
//! span of readable bytes never wraps for the reader. Only the consumer's
//! page is writable. Every area is `VM_DONTCOPY` (a child of `fork()` does
//! not inherit the consumer half) and `VM_DONTEXPAND` (`mremap()` cannot
//! grow it past the pages inserted here).

use crate::{
    pages::{ring_page, SharedPage},
    ring::ByteRing,
    rules::WriterWatch,
};
use kernel::{
    mm::virt::{VmaMixedMap, VmaNew},
    page::PAGE_SIZE,
    prelude::*,
    sync::Arc,
};

/// The page offset of the consumer's page.
pub(crate) const CONSUMER_PGOFF: usize = 0;
/// The page offset of the producer's page and the data.
pub(crate) const PRODUCER_PGOFF: usize = 1;

/// Word indexes of `struct circbuf_mmap_producer`.
pub(crate) const TAIL: usize = 0;
pub(crate) const CAPACITY: usize = 1;
pub(crate) const FLAGS: usize = 2;
/// `CIRCBUF_MMAP_WRITERS_WAITING`.
pub(crate) const WRITERS_WAITING: u64 = 0x1;

/// Word index of `struct circbuf_mmap_consumer`'s `head`.
pub(crate) const HEAD: usize = 0;

/// The file whose mapping holds the consumer half, and what the kernel
/// knows of its progress.
pub(crate) struct MappedConsumer {
    /// The file's identity ([`crate::device::Circbuf::open`]).
    pub(crate) owner: u64,
    /// Its page, which its mappings keep as long as they live.
    pub(crate) page: Arc<SharedPage>,
    /// End of file as this consumer sees it, watched from when it mapped.
    pub(crate) watch: WriterWatch,
    /// Its own file counts as a writer, which its end of file leaves out.
    pub(crate) own_writer: bool,
}

/// The length of `vma`.
fn length(vma: &VmaNew) -> usize {
    vma.end() - vma.start()
}

/// Checks that `vma` is `expected` bytes long and not executable, makes
/// it `VM_DONTCOPY` and `VM_DONTEXPAND`, and readies it for pages.
fn set_up(vma: &VmaNew, expected: usize) -> Result<&VmaMixedMap> {
    if length(vma) != expected {
        return Err(EINVAL);
    }
    if vma.executable() {
        return Err(EPERM);
    }
    vma.try_clear_mayexec()?;
    vma.set_dontcopy();
    vma.set_dontexpand();
    Ok(vma.set_mixedmap())
}

/// Readies `vma` for the consumer's page: one page, writable or not.
pub(crate) fn consumer_area(vma: &VmaNew) -> Result<&VmaMixedMap> {
    set_up(vma, PAGE_SIZE)
}

/// Readies `vma` for the producer's page and twice `capacity` bytes of
/// data, read-only now and through `mprotect()`.
pub(crate) fn producer_area(vma: &VmaNew, capacity: usize) -> Result<&VmaMixedMap> {
    if vma.writable() {
        return Err(EPERM);
    }
    let expected = capacity
        .checked_mul(2)
        .and_then(|data| data.checked_add(PAGE_SIZE))
        .ok_or(EINVAL)?;
    let area = set_up(vma, expected)?;
    vma.try_clear_maywrite()?;
    Ok(area)
}

/// Maps the consumer's page into `area`, readied by [`consumer_area`].
pub(crate) fn insert_consumer_page(area: &VmaMixedMap, page: &SharedPage) -> Result {
    area.vm_insert_page(area.start(), &page.page())
}

/// Maps the producer's page, then the ring's data pages twice, into
/// `area`, readied by [`producer_area`] for this ring.
pub(crate) fn insert_producer_area(
    area: &VmaMixedMap,
    producer: &SharedPage,
    ring: &ByteRing,
) -> Result {
    let capacity = ring.capacity();
    let data = area.start() + PAGE_SIZE;
    area.vm_insert_page(area.start(), &producer.page())?;
    for offset in (0..capacity).step_by(PAGE_SIZE) {
        let page = ring_page(ring, offset)?;
        area.vm_insert_page(data + offset, &page)?;
        area.vm_insert_page(data + capacity + offset, &page)?;
    }
    Ok(())
}
