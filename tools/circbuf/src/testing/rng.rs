// SPDX-License-Identifier: GPL-2.0
//! The seeded generator. `fuzz` and `stress` print their seed so that a
//! failing run can be repeated, and users keep those seeds, so the sequence
//! a seed gives must never change: `sequences_are_pinned` below fixes it.

use std::time::{SystemTime, UNIX_EPOCH};

/// The SplitMix64 finaliser: a bijective 64-bit mix, so distinct inputs
/// always give distinct outputs.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed for a run that was given none: the clock and the process id,
/// mixed so that runs started moments apart get unrelated seeds.
pub fn seed_from_clock() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    mix(nanos ^ (u64::from(std::process::id()) << 40))
}

/// SplitMix64: tiny, fast, and well mixed enough to draw test cases and
/// test data from.
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
        mix(self.0)
    }

    /// A value in `lo..=hi`; `lo` must not exceed `hi`.
    pub fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        let span = u128::from(hi - lo) + 1;
        // Multiply-shift maps 64 random bits onto the span without the bias
        // of a plain modulo; a span of all 2^64 values maps each to itself.
        lo + ((u128::from(self.next_u64()) * span) >> 64) as u64
    }

    /// A value in `lo..=hi`, for sizes and indices; draws exactly what
    /// [`range_u64`](Rng::range_u64) draws for the same bounds.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        // Lossless both ways: usize is at most 64 bits wide on Linux, and
        // the value drawn lies between two usizes.
        self.range_u64(lo as u64, hi as u64) as usize
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

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(seed: u64) -> [u64; 4] {
        let mut rng = Rng::new(seed);
        [(); 4].map(|()| rng.next_u64())
    }

    /// The values seeds printed by earlier runs gave; a change here breaks
    /// every seed anyone kept.
    #[test]
    fn sequences_are_pinned() {
        assert_eq!(
            draws(0),
            [
                0xe220_a839_7b1d_cdaf,
                0x6e78_9e6a_a1b9_65f4,
                0x06c4_5d18_8009_454f,
                0xf88b_b8a8_724c_81ec,
            ]
        );
        assert_eq!(
            draws(7),
            [
                0x63cb_e1e4_5932_0dd7,
                0x044c_3cd7_f43c_661c,
                0xe698_4080_bab1_2a02,
                0x953a_eb70_673e_29cb,
            ]
        );
        assert_eq!(
            draws(u64::MAX),
            [
                0xe4d9_7177_1b65_2c20,
                0xe99f_f867_dbf6_82c9,
                0x382f_f84c_b272_81e9,
                0x6d1d_b36c_cba9_82d2,
            ]
        );

        let bounds = [
            (0, 0),
            (0, 1),
            (3, 6),
            (0, 9),
            (1, 16),
            (5, 1000),
            (0, u64::MAX),
            (u64::MAX - 3, u64::MAX),
        ];
        let expected = [0, 0, 4, 3, 1, 869, 4_028_864_712_777_624_925, u64::MAX];
        let mut rng = Rng::new(42);
        let got = bounds.map(|(lo, hi)| rng.range_u64(lo, hi));
        assert_eq!(got, expected);
        let mut rng = Rng::new(42);
        let got = bounds.map(|(lo, hi)| rng.range(lo as usize, hi as usize) as u64);
        assert_eq!(got, expected);

        let mut rng = Rng::new(3);
        let coins: String = (0..16)
            .map(|_| if rng.chance(1, 2) { 'H' } else { 'T' })
            .collect();
        assert_eq!(coins, "HTTHHTHTHTTTHHTT");
        let mut rng = Rng::new(4);
        let picks: String = (0..16)
            .map(|_| *rng.pick(&['a', 'b', 'c', 'd', 'e']))
            .collect();
        assert_eq!(picks, "ceecbcecacddcded");

        let mut bytes = [0u8; 13];
        Rng::new(5).fill(&mut bytes);
        assert_eq!(
            bytes,
            [90, 195, 137, 163, 12, 59, 3, 99, 248, 54, 151, 147, 77]
        );
        assert_eq!(mix(0), 0);
        assert_eq!(mix(12345), 0xf36c_f116_4265_dd51);
    }

    #[test]
    fn different_seeds_give_different_sequences() {
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn range_stays_inside_and_reaches_both_ends() {
        let mut rng = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = rng.range_u64(10, 14);
            assert!((10..=14).contains(&v));
            seen[(v - 10) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
        assert_eq!(rng.range(5, 5), 5);
        assert_eq!(rng.range_u64(3, 3), 3);
        let _ = rng.range(0, usize::MAX);
    }

    #[test]
    fn chance_extremes() {
        let mut rng = Rng::new(2);
        assert!((0..100).all(|_| rng.chance(4, 4)));
        assert!((0..100).all(|_| !rng.chance(0, 4)));
    }

    #[test]
    fn a_shorter_fill_is_a_prefix_of_a_longer_one() {
        let mut long = [0u8; 40];
        Rng::new(9).fill(&mut long);
        for len in [0, 1, 7, 8, 9, 39] {
            let mut short = vec![0u8; len];
            Rng::new(9).fill(&mut short);
            assert_eq!(short, long[..len]);
        }
    }

    #[test]
    fn filling_in_word_sized_pieces_matches_filling_at_once() {
        let mut whole = [0u8; 24];
        Rng::new(9).fill(&mut whole);
        let mut rng = Rng::new(9);
        let mut pieces = [0u8; 24];
        for chunk in pieces.chunks_mut(8) {
            rng.fill(chunk);
        }
        assert_eq!(whole, pieces);
    }
}
