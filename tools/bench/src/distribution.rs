// SPDX-License-Identifier: GPL-2.0
//! Order statistics of latency samples: [`percentile`] by the nearest-rank
//! method, so every reported value is one that was actually measured, and
//! the [`Summary`] the report shows.

use serde::{Deserialize, Serialize};

/// The `p`-th percentile (0 < p ≤ 100) of ascending `sorted` samples by
/// nearest rank: the smallest sample with at least p % of the samples at or
/// below it. `None` without samples.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// What the report says about one channel's latency samples, in
/// nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub samples: usize,
    /// Smallest sample.
    pub min_ns: u64,
    /// The 50th percentile by nearest rank.
    pub median_ns: u64,
    /// The 99th percentile by nearest rank.
    pub p99_ns: u64,
    /// Largest sample.
    pub max_ns: u64,
}

impl Summary {
    /// Summarises `samples` in any order; `None` when there are none.
    pub fn of(samples: &[u64]) -> Option<Summary> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        Some(Summary {
            samples: sorted.len(),
            min_ns: *sorted.first()?,
            median_ns: percentile(&sorted, 50.0)?,
            p99_ns: percentile(&sorted, 99.0)?,
            max_ns: *sorted.last()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_picks_measured_values() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 50.0), Some(50));
        assert_eq!(percentile(&sorted, 99.0), Some(99));
        assert_eq!(percentile(&sorted, 100.0), Some(100));
        assert_eq!(percentile(&sorted, 0.1), Some(1));
        assert_eq!(percentile(&[7, 9], 50.0), Some(7));
        assert_eq!(percentile(&[7, 9], 51.0), Some(9));
        assert_eq!(percentile(&[3], 99.0), Some(3));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn p99_of_few_samples_is_the_largest() {
        let sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(percentile(&sorted, 99.0), Some(10));
        assert_eq!(percentile(&sorted, 90.0), Some(9));
    }

    #[test]
    fn summary_sorts_first() {
        let summary = Summary::of(&[30, 10, 20, 1000, 40]).unwrap();
        assert_eq!(
            summary,
            Summary {
                samples: 5,
                min_ns: 10,
                median_ns: 30,
                p99_ns: 1000,
                max_ns: 1000
            }
        );
        assert_eq!(Summary::of(&[]), None);
    }
}
