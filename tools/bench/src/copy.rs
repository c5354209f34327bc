// SPDX-License-Identifier: GPL-2.0
//! The copy bound: how fast this process copies memory. Every byte through
//! a pipe or circbuf is copied twice (writer's buffer into the kernel, the
//! kernel into the reader's buffer), and both channels serialise their
//! copies on one lock, so one thread's memcpy bandwidth halved is as fast as
//! either can go.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Copy sizes timed: one that stays in cache like a small ring, one that
/// spills out of most L2 caches like a large one.
pub const SIZES: [usize; 2] = [64 << 10, 1 << 20];

/// The bandwidth of copies of one size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bandwidth {
    /// Bytes per copy.
    pub size: usize,
    /// Megabytes (10^6 bytes) copied per second.
    pub mb_per_s: f64,
}

/// Copies `size` bytes from one buffer to another for `duration`.
pub fn measure(size: usize, duration: Duration) -> Bandwidth {
    let source = vec![0x5a_u8; size];
    let mut target = vec![0_u8; size];
    // The first copy faults the target's pages in; that is not memcpy.
    target.copy_from_slice(&source);
    let began = Instant::now();
    let mut copies: u64 = 0;
    while began.elapsed() < duration {
        target.copy_from_slice(black_box(&source));
        black_box(&mut target);
        copies += 1;
    }
    let mb_per_s = (copies * size as u64) as f64 / 1e6 / began.elapsed().as_secs_f64();
    Bandwidth { size, mb_per_s }
}

/// memcpy bandwidths and the bound they set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CopyBound {
    /// One per copy size.
    pub bandwidths: Vec<Bandwidth>,
    /// The best bandwidth over two, in MB/s: the most a channel that copies
    /// every byte twice can move.
    pub bound_mb_s: f64,
}

impl CopyBound {
    /// The bound that `bandwidths` set.
    pub fn of(bandwidths: Vec<Bandwidth>) -> CopyBound {
        let best = bandwidths.iter().map(|b| b.mb_per_s).fold(0.0, f64::max);
        CopyBound {
            bandwidths,
            bound_mb_s: best / 2.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copying_takes_the_time_asked_and_moves_data() {
        let bandwidth = measure(4096, Duration::from_millis(5));
        assert_eq!(bandwidth.size, 4096);
        assert!(bandwidth.mb_per_s > 1.0, "{bandwidth:?}");
    }

    #[test]
    fn the_bound_halves_the_best_bandwidth() {
        let bandwidths = [
            Bandwidth {
                size: 1,
                mb_per_s: 8000.0,
            },
            Bandwidth {
                size: 2,
                mb_per_s: 12000.0,
            },
        ];
        assert_eq!(CopyBound::of(bandwidths.to_vec()).bound_mb_s, 6000.0);
        assert_eq!(CopyBound::of(vec![]).bound_mb_s, 0.0);
    }
}
