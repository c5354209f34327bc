// SPDX-License-Identifier: GPL-2.0

//! The simulated sensor: its walk stays in bounds, moves by at most a step,
//! and depends only on its seed; a sample's words lay out as `struct
//! circbuf_sample`.

use crate::sensor::{encode, RandomWalk, FLAG_FIRST, MAX, MIN, START, STEP};

fn walk(seed: u64, samples: usize) -> Vec<i32> {
    let mut walk = RandomWalk::new(seed);
    (0..samples).map(|_| walk.next_value()).collect()
}

#[test]
fn stays_in_bounds_and_steps_at_most_step() {
    for seed in [0, 1, 2, 0xdead_beef, u64::MAX] {
        let values = walk(seed, 200_000);
        let mut previous = START;
        for value in values {
            assert!((MIN..=MAX).contains(&value), "{value} with seed {seed}");
            assert!((value - previous).abs() <= STEP);
            previous = value;
        }
    }
}

#[test]
fn reaches_both_bounds_over_a_long_walk() {
    let values = walk(7, 5_000_000);
    assert!(values.iter().any(|&v| v < MIN + 1000), "never near MIN");
    assert!(values.iter().any(|&v| v > MAX - 1000), "never near MAX");
}

#[test]
fn is_reproducible_from_its_seed() {
    assert_eq!(walk(42, 1000), walk(42, 1000));
    assert_ne!(walk(42, 1000), walk(43, 1000));
    // Seed 0 cannot drive xorshift; it stands for 1.
    assert_eq!(walk(0, 1000), walk(1, 1000));
}

/// The first values for seed 1, which `tests/guest/test_telemetry.py`
/// restates in Python: both implementations must agree.
#[test]
fn first_values_for_seed_one() {
    assert_eq!(walk(1, 5), [60035, 60012, 60068, 60090, 60010]);
}

#[test]
fn encodes_as_struct_circbuf_sample() {
    let words = encode(0x0102_0304_0506_0708, 9, -5, 0x8000_0000 | FLAG_FIRST);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    assert_eq!(bytes[0..8], 0x0102_0304_0506_0708u64.to_ne_bytes());
    assert_eq!(bytes[8..16], 9u64.to_ne_bytes());
    assert_eq!(bytes[16..20], (-5i32).to_ne_bytes());
    assert_eq!(bytes[20..24], 0x8000_0001u32.to_ne_bytes());
}
