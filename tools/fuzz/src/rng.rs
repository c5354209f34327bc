// SPDX-License-Identifier: GPL-2.0

//! Seeded pseudo-randomness: every choice the fuzzer makes and every byte it
//! writes derive from the run's seed, so a failing run replays exactly.

/// SplitMix64: tiny, fast, and well mixed enough to draw test cases from.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `lo..=hi`; `lo` must not exceed `hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        let span = (hi - lo) as u128 + 1;
        // Multiply-shift maps 64 random bits onto the span without the bias
        // of a plain modulo.
        lo + ((u128::from(self.next_u64()) * span) >> 64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: usize, den: usize) -> bool {
        self.range(1, den) <= num
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }

    /// Fills `out` with random bytes, eight from each draw in order, so that
    /// a shorter fill from the same state is a prefix of a longer one.
    pub fn fill(&mut self, out: &mut [u8]) {
        let mut chunks = out.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let tail = chunks.into_remainder();
        if !tail.is_empty() {
            let len = tail.len();
            tail.copy_from_slice(&self.next_u64().to_le_bytes()[..len]);
        }
    }
}

/// The `len` bytes a write with `seed` sends. Workers regenerate them from
/// the seed instead of receiving them, and any prefix of a payload is the
/// shorter payload of the same seed, which is what a partial write stores.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    Rng::new(seed).fill(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn range_stays_inside_and_reaches_both_ends() {
        let mut rng = Rng::new(1);
        let (mut low, mut high) = (false, false);
        for _ in 0..1000 {
            let v = rng.range(3, 6);
            assert!((3..=6).contains(&v));
            low |= v == 3;
            high |= v == 6;
        }
        assert!(low && high);
        assert_eq!(rng.range(5, 5), 5);
        let _ = rng.range(0, usize::MAX);
    }

    #[test]
    fn chance_extremes() {
        let mut rng = Rng::new(2);
        assert!((0..100).all(|_| rng.chance(4, 4)));
        assert!((0..100).all(|_| !rng.chance(0, 4)));
    }

    #[test]
    fn payload_prefixes_agree() {
        let long = payload(99, 1000);
        for len in [0, 1, 7, 8, 9, 999] {
            assert_eq!(payload(99, len), long[..len]);
        }
        assert_ne!(payload(99, 64), payload(100, 64));
    }
}
