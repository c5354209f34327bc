// SPDX-License-Identifier: GPL-2.0
//! The memory a run's workers share, whether they are threads or forked
//! processes: one anonymous `MAP_SHARED` mapping, made before the first
//! fork, of 64-bit atomic words. It holds
//!
//! - the number of violations reported so far, so that only the first
//!   [`KEEP`] are printed, whichever worker finds them;
//! - per worker, its tally (calls, bytes, records, finished);
//! - per writer, a bitmap with a bit per sequence number, which readers set
//!   with an atomic OR: a bit found set already is a duplicate, a bit still
//!   clear at the end is a record never received.
//!
//! The mapping is `MAP_NORESERVE`: only the pages of the bitmaps that
//! records reach are ever allocated. Every access is `Relaxed`: a duplicate
//! shows through the atomicity of the OR alone, and the totals are read
//! after `waitpid`, which orders all the children did before it.

use std::ptr::null_mut;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rustix::mm::{mmap_anonymous, munmap, MapFlags, ProtFlags};

use crate::launch::Role;
use crate::violation::Violation;

/// How many violations are printed; the rest are only counted, since a
/// broken device can produce millions and the first explain the others.
pub const KEEP: u64 = 20;

/// A tally takes a cache line, so that workers do not slow each other down.
const TALLY_WORDS: usize = 8;
const OPS: usize = 0;
const BYTES: usize = 1;
const RECORDS: usize = 2;
const REACH: usize = 3;
const DONE: usize = 4;

/// The shared words of a run. Not `Debug`: printing it would touch every
/// page of the bitmaps.
pub struct Board {
    /// The mapping; `'static` only inside this type, which hands out
    /// references that borrow `self`, so none outlives the `munmap`.
    words: &'static [AtomicU64],
    writers: u32,
    readers: u32,
    bitmap_words: usize,
}

/// What one worker did: a view of its tally on the [`Board`].
#[derive(Clone, Copy, Debug)]
pub struct Tally<'a>(&'a [AtomicU64]);

impl Tally<'_> {
    /// Counts `ops` calls that moved `bytes` bytes and `records` records:
    /// for a writer, records completely written; for a reader, intact
    /// records read.
    pub fn add(&self, ops: u64, bytes: u64, records: u64) {
        self.0[OPS].fetch_add(ops, Relaxed);
        self.0[BYTES].fetch_add(bytes, Relaxed);
        self.0[RECORDS].fetch_add(records, Relaxed);
    }

    /// (calls, bytes, records) so far.
    pub fn get(&self) -> (u64, u64, u64) {
        let get = |i: usize| self.0[i].load(Relaxed);
        (get(OPS), get(BYTES), get(RECORDS))
    }

    /// For a writer: one past the highest sequence number a reader marked,
    /// where the search for records received but never written ends.
    pub fn reach(&self) -> u64 {
        self.0[REACH].load(Relaxed)
    }

    /// Marks the worker finished (its device is closed).
    pub fn finish(&self) {
        self.0[DONE].store(1, Relaxed);
    }

    /// Whether the worker has finished.
    pub fn finished(&self) -> bool {
        self.0[DONE].load(Relaxed) != 0
    }
}

impl Board {
    /// A zeroed board for `writers` writers and `readers` readers, with
    /// `bits_per_writer` (rounded down to a multiple of 64) sequence
    /// numbers per writer.
    pub fn new(writers: u32, readers: u32, bits_per_writer: u64) -> Result<Board, String> {
        let bitmap_words = (bits_per_writer / 64) as usize;
        let len = 1 + (writers + readers) as usize * TALLY_WORDS + writers as usize * bitmap_words;
        let bytes = len * size_of::<AtomicU64>();
        let prot = ProtFlags::READ | ProtFlags::WRITE;
        let flags = MapFlags::SHARED | MapFlags::NORESERVE;
        // SAFETY: With a null address the kernel picks where the mapping
        // goes, so no memory of this process is touched.
        let ptr = unsafe { mmap_anonymous(null_mut(), bytes, prot, flags) }
            .map_err(|e| format!("cannot map {bytes} bytes of shared memory: {e}"))?;
        // SAFETY: The mapping is `bytes` long, readable and writable,
        // page-aligned (so aligned for `AtomicU64`) and zero-filled, which
        // is a valid `AtomicU64`. It stays mapped until `drop`, and all
        // access, from any process, is atomic.
        let words = unsafe { std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), len) };
        Ok(Board {
            words,
            writers,
            readers,
            bitmap_words,
        })
    }

    /// The number of workers of `role`.
    pub fn count(&self, role: Role) -> u32 {
        match role {
            Role::Writer => self.writers,
            Role::Reader => self.readers,
        }
    }

    /// How many records a writer may write: one bit each.
    pub fn bits_per_writer(&self) -> u64 {
        self.bitmap_words as u64 * 64
    }

    /// The tally of worker `role` `id`.
    pub fn tally(&self, role: Role, id: u32) -> Tally<'_> {
        let index = match role {
            Role::Writer => id,
            Role::Reader => self.writers + id,
        } as usize;
        let start = 1 + index * TALLY_WORDS;
        Tally(&self.words[start..start + TALLY_WORDS])
    }

    fn bitmap(&self, writer: u32) -> &[AtomicU64] {
        let start = 1 + (self.writers + self.readers) as usize * TALLY_WORDS;
        let start = start + writer as usize * self.bitmap_words;
        &self.words[start..start + self.bitmap_words]
    }

    /// Sets the bit of record `seq` of `writer`: `Some(true)` if it was
    /// clear, `Some(false)` if it was set already, `None` if no writer can
    /// have written that record.
    pub fn mark(&self, writer: u32, seq: u64) -> Option<bool> {
        if writer >= self.writers || seq >= self.bits_per_writer() {
            return None;
        }
        self.tally(Role::Writer, writer).0[REACH].fetch_max(seq + 1, Relaxed);
        let bit = 1 << (seq % 64);
        Some(self.bitmap(writer)[(seq / 64) as usize].fetch_or(bit, Relaxed) & bit == 0)
    }

    /// Whether record `seq` of `writer` was marked.
    pub fn marked(&self, writer: u32, seq: u64) -> bool {
        self.bitmap(writer)[(seq / 64) as usize].load(Relaxed) & (1 << (seq % 64)) != 0
    }

    /// Counts a violation, and prints it if it is among the first [`KEEP`].
    pub fn report(&self, violation: &Violation) {
        if self.words[0].fetch_add(1, Relaxed) < KEEP {
            eprintln!("stress: violation: {violation}");
        }
    }

    /// How many violations were reported.
    pub fn violations(&self) -> u64 {
        self.words[0].load(Relaxed)
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let bytes = std::mem::size_of_val(self.words);
        // SAFETY: `words` is the whole mapping made in `new`, and every
        // reference into it borrowed `self`, so none is left.
        let unmapped = unsafe { munmap(self.words.as_ptr() as *mut _, bytes) };
        // Failing here would mean the mapping was not ours: a bug.
        unmapped.expect("munmap of the board");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::violation::Check;

    #[test]
    fn a_bit_marks_once_and_out_of_range_records_are_refused() {
        let board = Board::new(2, 1, 128).unwrap();
        assert_eq!(board.bits_per_writer(), 128);
        assert_eq!(board.mark(1, 70), Some(true));
        assert_eq!(board.mark(1, 70), Some(false));
        assert!(board.marked(1, 70) && !board.marked(0, 70) && !board.marked(1, 69));
        assert_eq!(board.mark(1, 128), None);
        assert_eq!(board.mark(2, 0), None);
        assert_eq!(board.tally(Role::Writer, 1).reach(), 71);
        assert_eq!(board.tally(Role::Writer, 0).reach(), 0);
    }

    #[test]
    fn tallies_are_separate_and_count() {
        let board = Board::new(1, 2, 64).unwrap();
        board.tally(Role::Reader, 1).add(1, 64, 1);
        board.tally(Role::Reader, 1).add(1, 64, 0);
        assert_eq!(board.tally(Role::Reader, 1).get(), (2, 128, 1));
        assert_eq!(board.tally(Role::Reader, 0).get(), (0, 0, 0));
        assert_eq!(board.tally(Role::Writer, 0).get(), (0, 0, 0));
        assert!(!board.tally(Role::Reader, 1).finished());
        board.tally(Role::Reader, 1).finish();
        assert!(board.tally(Role::Reader, 1).finished());
        board.report(&Violation::new(Check::Failed, "planted"));
        assert_eq!(board.violations(), 1);
    }
}
