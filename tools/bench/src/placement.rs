// SPDX-License-Identifier: GPL-2.0
//! Where in memory the readers and writers keep the bytes they move.
//!
//! A buffer that stays at one address lines up with the kernel memory it is
//! copied to or from in the same way at every call. Under QEMU's TCG that
//! alignment decides the speed of the copy: the emulator looks each guest
//! access up in a software TLB indexed by virtual page number alone (64
//! entries, judging by the runs in docs/performance.md). When a reader's
//! buffer and circbuf's ring share those index bits, the source and the
//! destination page of every byte evict each other, and the copy runs at a
//! third of its speed. A glibc thread arena is 64 MiB aligned and a 64 KiB
//! ring 64 KiB aligned, so this happened in many boots, however the driver
//! was written. A pipe copies to pages it allocates as
//! it goes and never lines up for long.
//!
//! [`RotatingBuffer`] therefore moves by one page at every call, over a
//! window of [`WINDOW_PAGES`] pages, so that both channels meet every
//! alignment equally often. The offset within a page, which real hardware
//! cares about, stays the same.

/// The page size the rotation steps by.
const PAGE: usize = 4096;

/// How many page positions a buffer takes in turn: one per entry of the
/// smallest software TLB seen, so that every TLB index is met as often as
/// every other.
pub const WINDOW_PAGES: usize = 64;

/// A buffer of a fixed length whose address moves by one page per use.
pub struct RotatingBuffer {
    storage: Vec<u8>,
    len: usize,
    next_page: usize,
}

impl RotatingBuffer {
    /// A buffer of `len` bytes, all `fill`, in every position.
    pub fn new(len: usize, fill: u8) -> RotatingBuffer {
        RotatingBuffer {
            storage: vec![fill; len + (WINDOW_PAGES - 1) * PAGE],
            len,
            next_page: 0,
        }
    }

    /// The buffer at its next position.
    pub fn advance(&mut self) -> &mut [u8] {
        let start = self.next_page * PAGE;
        self.next_page = (self.next_page + 1) % WINDOW_PAGES;
        &mut self.storage[start..start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_use_moves_one_page_and_wraps_after_the_window() {
        let mut buffer = RotatingBuffer::new(100, 0);
        let addresses: Vec<usize> = (0..WINDOW_PAGES + 1)
            .map(|_| buffer.advance().as_ptr() as usize)
            .collect();
        for pair in addresses[..WINDOW_PAGES].windows(2) {
            assert_eq!(pair[1] - pair[0], PAGE);
        }
        assert_eq!(addresses[WINDOW_PAGES], addresses[0]);
    }

    #[test]
    fn every_position_has_the_length_and_the_fill() {
        let mut buffer = RotatingBuffer::new(3 * PAGE + 5, 0xa5);
        for _ in 0..WINDOW_PAGES {
            let bytes = buffer.advance();
            assert_eq!(bytes.len(), 3 * PAGE + 5);
            assert!(bytes.iter().all(|&b| b == 0xa5));
        }
    }
}
