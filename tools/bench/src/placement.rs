// SPDX-License-Identifier: GPL-2.0
//! Where in memory the readers and writers keep the bytes they move.
//!
//! A buffer that stays at one address lines up with the kernel memory it is
//! copied to or from in the same way at every call. Under QEMU's TCG that
//! alignment was seen to decide the speed of circbuf against a pipe: with
//! a reader's buffer and circbuf's ring both on a 256 KiB boundary, circbuf
//! ran at a third of the pipe, and one ring in four lands on one. The
//! explanation that fits is the emulator's software TLB, indexed by virtual
//! page number alone, in which the two keep evicting each other; see
//! docs/performance.md. A pipe copies to pages it allocates as it goes and
//! does not stay lined up.
//!
//! [`RotatingBuffer`] therefore moves by one page at every use, over a
//! window of [`WINDOW_PAGES`] pages, so that a buffer meets any one TLB
//! entry of the ring at one use in 64 at most, on either channel. The
//! offset within a page stays the same, since on hardware it decides how
//! the copy's loads and stores line up with cache lines.

const PAGE: usize = 4096;

/// How many page positions a buffer takes in turn: as many as the 64-entry
/// software TLB that the 256 KiB period of the slow runs points to.
pub const WINDOW_PAGES: usize = 64;

/// A buffer of a fixed length whose address moves by one page per use.
pub struct RotatingBuffer {
    storage: Vec<u8>,
    len: usize,
    next_page: usize,
}

impl RotatingBuffer {
    /// A buffer of `len` bytes whose byte `i` is `fill(i % 4096)` in every
    /// position.
    pub fn new(len: usize, fill: impl Fn(usize) -> u8) -> RotatingBuffer {
        let positions = 0..len + (WINDOW_PAGES - 1) * PAGE;
        RotatingBuffer {
            storage: positions.map(|i| fill(i % PAGE)).collect(),
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
        let mut buffer = RotatingBuffer::new(100, |_| 0);
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
        let fill = |i: usize| (i % 251) as u8;
        let mut buffer = RotatingBuffer::new(3 * PAGE + 5, fill);
        for _ in 0..WINDOW_PAGES {
            let bytes = buffer.advance();
            assert_eq!(bytes.len(), 3 * PAGE + 5);
            assert!(bytes.iter().enumerate().all(|(i, &b)| b == fill(i % PAGE)));
        }
    }
}
