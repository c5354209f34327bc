// SPDX-License-Identifier: GPL-2.0
//! Deterministic pseudo-randomness: every payload byte and every random size
//! in a run derives from the seed, so a failing run can be replayed exactly
//! with `--seed`, and a reader can recompute what a writer must have sent.

/// The SplitMix64 finaliser: a bijective 64-bit mix, so distinct inputs
/// always give distinct outputs.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a derived seed is used for: each purpose draws from its own
/// sequence, so e.g. the stream's sizes never correlate with its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A record's payload.
    Payload = 1,
    /// Stream mode's bytes.
    Stream = 2,
    /// Stream mode's write sizes.
    WriteSizes = 3,
    /// Stream mode's read sizes.
    ReadSizes = 4,
}

/// Derives an independent seed from the run's seed for `purpose`, further
/// keyed by `key` (e.g. a writer id) and `index` (e.g. a sequence number).
pub fn derive(seed: u64, purpose: Purpose, key: u64, index: u64) -> u64 {
    mix(mix(mix(seed.wrapping_add(purpose as u64)) ^ key).wrapping_add(index))
}

/// SplitMix64: small, fast, and good enough to make test data look random.
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
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        // Multiply-shift maps 64 random bits onto the span without the bias
        // a plain modulo has for large spans.
        lo + ((u128::from(self.next_u64()) * u128::from(span + 1)) >> 64) as u64
    }

    /// Fills `out` with random bytes.
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

    #[test]
    fn same_seed_same_sequence_different_seed_different_sequence() {
        let a: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(Rng::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn range_stays_inside_and_reaches_both_ends() {
        let mut rng = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = rng.range(10, 14);
            assert!((10..=14).contains(&v));
            seen[(v - 10) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
        assert_eq!(rng.range(3, 3), 3);
        rng.range(0, u64::MAX);
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

    #[test]
    fn fill_handles_partial_words() {
        let mut a = [0u8; 13];
        let mut b = [0u8; 13];
        Rng::new(5).fill(&mut a);
        Rng::new(5).fill(&mut b);
        assert_eq!(a, b);
        assert!(a.iter().any(|x| *x != 0));
    }

    #[test]
    fn derived_seeds_differ_by_every_input() {
        let base = derive(1, Purpose::Payload, 0, 0);
        assert_eq!(base, derive(1, Purpose::Payload, 0, 0));
        assert_ne!(base, derive(2, Purpose::Payload, 0, 0));
        assert_ne!(base, derive(1, Purpose::Stream, 0, 0));
        assert_ne!(base, derive(1, Purpose::Payload, 1, 0));
        assert_ne!(base, derive(1, Purpose::Payload, 0, 1));
    }
}
