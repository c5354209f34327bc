// SPDX-License-Identifier: GPL-2.0
//! Stream mode's data and sizes: an endless pseudo-random byte stream that
//! can be generated from any offset, the checker that compares what a
//! reader got against it, and the random read and write sizes.

use circbuf::testing::{mix, Rng};

use crate::rng::{derive, Purpose};
use crate::violation::{Check, Violation};

/// The bytes of the stream for `seed` at `offset..offset + out.len()`.
///
/// Byte `p` is byte `p % 8` of a hash of block `p / 8`, so any slice is
/// computed directly from its offset: writer and reader need not share
/// any state beyond the seed.
pub fn fill(seed: u64, offset: u64, out: &mut [u8]) {
    let base = derive(seed, Purpose::Stream, 0, 0);
    let (mut pos, mut rest) = (offset, out);
    while !rest.is_empty() {
        let block = mix(base.wrapping_add(pos / 8)).to_le_bytes();
        let skip = (pos % 8) as usize;
        let (now, later) = rest.split_at_mut((8 - skip).min(rest.len()));
        now.copy_from_slice(&block[skip..skip + now.len()]);
        (pos, rest) = (pos + now.len() as u64, later);
    }
}

/// Compares a reader's bytes, chunk by chunk, with the stream.
#[derive(Debug)]
pub struct StreamChecker {
    seed: u64,
    offset: u64,
    expected: Vec<u8>,
    mismatch: Option<Violation>,
}

impl StreamChecker {
    /// A checker expecting the stream for `seed` from offset 0.
    pub fn new(seed: u64) -> Self {
        StreamChecker {
            seed,
            offset: 0,
            expected: Vec::new(),
            mismatch: None,
        }
    }

    /// Checks the next bytes read. Only the first difference is recorded:
    /// after a lost or extra byte everything that follows differs too.
    pub fn feed(&mut self, data: &[u8]) {
        if self.mismatch.is_none() {
            self.expected.resize(data.len(), 0);
            fill(self.seed, self.offset, &mut self.expected);
            if let Some(i) = data.iter().zip(&self.expected).position(|(a, b)| a != b) {
                let (offset, want, found) = (self.offset + i as u64, self.expected[i], data[i]);
                let text = format!("stream byte {offset} is {found:#04x}, expected {want:#04x}");
                self.mismatch = Some(Violation::new(Check::Stream, text));
            }
        }
        self.offset += data.len() as u64;
    }

    /// The first difference found, if any.
    pub fn into_mismatch(self) -> Option<Violation> {
        self.mismatch
    }
}

/// The sequence of write sizes (`write: true`) or read sizes for `seed`.
pub fn sizes(seed: u64, write: bool) -> Rng {
    let purpose = if write {
        Purpose::WriteSizes
    } else {
        Purpose::ReadSizes
    };
    Rng::new(derive(seed, purpose, 0, 0))
}

/// The next write size: mostly small or up to the capacity, one in five
/// above it, which the device must accept in pieces without losing a byte.
/// A read size is the same but up to twice the capacity above it, more
/// than the device ever holds, which must return what is there.
pub fn next_size(rng: &mut Rng, capacity: usize, write: bool) -> usize {
    let capacity = capacity.max(1) as u64;
    let over = if write { 3 } else { 2 };
    let size = match rng.range_u64(0, 9) {
        0..=3 => rng.range_u64(1, capacity.min(64)),
        4..=7 => rng.range_u64(1, capacity),
        _ => rng.range_u64(capacity + 1, capacity * over),
    };
    size as usize
}

/// The largest size [`next_size`] can return.
pub fn max_size(capacity: usize) -> usize {
    capacity.max(1) * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(seed: u64, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        fill(seed, offset, &mut out);
        out
    }

    #[test]
    fn any_slice_equals_the_same_range_of_the_whole() {
        let whole = stream(9, 0, 200);
        for offset in 0..40u64 {
            for len in [0usize, 1, 7, 8, 9, 33] {
                assert_eq!(
                    stream(9, offset, len),
                    whole[offset as usize..offset as usize + len],
                    "offset {offset} len {len}"
                );
            }
        }
        assert_ne!(stream(10, 0, 200), whole);
    }

    #[test]
    fn checker_accepts_the_stream_in_any_chunking() {
        let data = stream(1, 0, 1000);
        let mut checker = StreamChecker::new(1);
        let mut rng = Rng::new(2);
        let mut at = 0;
        while at < data.len() {
            let n = rng.range(1, 97).min(data.len() - at);
            checker.feed(&data[at..at + n]);
            at += n;
        }
        assert_eq!(checker.into_mismatch(), None);
    }

    #[test]
    fn checker_reports_the_first_wrong_byte() {
        let mut data = stream(1, 0, 100);
        data[57] ^= 0x10;
        data[80] ^= 0x10;
        let mut checker = StreamChecker::new(1);
        checker.feed(&data[..50]);
        checker.feed(&data[50..]);
        let expected = stream(1, 57, 1)[0];
        let text = format!(
            "stream byte 57 is {:#04x}, expected {expected:#04x}",
            expected ^ 0x10
        );
        assert_eq!(
            checker.into_mismatch(),
            Some(Violation::new(Check::Stream, text))
        );
    }

    #[test]
    fn checker_notices_a_dropped_byte() {
        let data = stream(4, 0, 64);
        let mut checker = StreamChecker::new(4);
        checker.feed(&data[..20]);
        checker.feed(&data[21..]);
        assert!(checker.into_mismatch().is_some());
    }

    #[test]
    fn sizes_cover_small_up_to_capacity_and_beyond() {
        let capacity = 4096;
        let mut rng = sizes(5, true);
        let drawn: Vec<usize> = (0..2000)
            .map(|_| next_size(&mut rng, capacity, true))
            .collect();
        assert!(drawn.iter().all(|&s| (1..=max_size(capacity)).contains(&s)));
        assert!(drawn.iter().any(|&s| s <= 64));
        assert!(drawn.iter().any(|&s| s > 64 && s <= capacity));
        assert!(drawn.iter().any(|&s| s > capacity));

        let mut rng = sizes(5, false);
        assert!((0..2000).any(|_| next_size(&mut rng, 64, false) > 64));
        let mut tiny = sizes(5, false);
        assert!((0..100).all(|_| (1..=2).contains(&next_size(&mut tiny, 1, false))));
    }

    #[test]
    fn size_sequences_are_reproducible_and_independent() {
        let draw = |write| {
            let mut r = sizes(1, write);
            (0..20)
                .map(|_| next_size(&mut r, 100, write))
                .collect::<Vec<_>>()
        };
        let (a, b, c) = (draw(true), draw(true), draw(false));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
