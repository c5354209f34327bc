// SPDX-License-Identifier: GPL-2.0

//! The simulated temperature sensor the telemetry source samples, and the
//! layout of a sample in the ring.
//!
//! The temperature is a random walk in milli-degrees Celsius, which starts
//! at [`START`] and moves by at most [`STEP`] per sample, reflected at
//! [`MIN`] and [`MAX`]. Its steps come from xorshift64 seeded with the
//! `telemetry_seed` parameter, so the value of sample `n` depends only on
//! the seed and `n`, and a test can recompute every value it reads
//! (`docs/semantics.md` states the walk). Kernel-free, so the host tests it.

use crate::sample_ring::SAMPLE_WORDS;

/// The lowest temperature the walk reaches, in milli-degrees Celsius.
pub(crate) const MIN: i32 = 45_000;
/// The highest temperature the walk reaches, in milli-degrees Celsius.
pub(crate) const MAX: i32 = 75_000;
/// Where the walk starts.
pub(crate) const START: i32 = 60_000;
/// The largest step between two samples.
pub(crate) const STEP: i32 = 100;

/// `CIRCBUF_SAMPLE_FIRST`: the first sample after the source started.
pub(crate) const FLAG_FIRST: u32 = 1;

/// The sensor's state between two samples.
pub(crate) struct RandomWalk {
    state: u64,
    value: i32,
}

impl RandomWalk {
    /// A walk whose steps come from `seed` (0, which xorshift cannot use,
    /// stands for 1).
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            state: seed.max(1),
            value: START,
        }
    }

    /// The next temperature.
    pub(crate) fn next_value(&mut self) -> i32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        // Both fit in an i32: the remainder is at most 2 * STEP.
        let step = (x % (2 * STEP as u64 + 1)) as i32 - STEP;
        let value = self.value + step;
        self.value = if value > MAX {
            2 * MAX - value
        } else if value < MIN {
            2 * MIN - value
        } else {
            value
        };
        self.value
    }
}

/// One sample as the ring's words, laid out in memory as `struct
/// circbuf_sample`: the timestamp, the sequence number, then the value and
/// the flags sharing a word in declaration order.
pub(crate) fn encode(timestamp_ns: u64, seq: u64, value: i32, flags: u32) -> [u64; SAMPLE_WORDS] {
    let mut last = [0u8; 8];
    last[..4].copy_from_slice(&value.to_ne_bytes());
    last[4..].copy_from_slice(&flags.to_ne_bytes());
    [timestamp_ns, seq, u64::from_ne_bytes(last)]
}
