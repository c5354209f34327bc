// SPDX-License-Identifier: GPL-2.0

//! The mapped consumer's rules against a model: positions as unbounded
//! counts of bytes, of which the 64-bit positions are the low bits.

use crate::mapped::{mappable, newly_consumed};
use proptest::prelude::*;

/// The model: a consumer that has taken `accepted` bytes of the `tail`
/// written may hand back any count up to the difference, and claims
/// nothing else.
fn model(accepted: u128, tail: u128, published: u128) -> Option<u64> {
    (accepted..=tail)
        .contains(&published)
        .then(|| (published - accepted) as u64)
}

proptest! {
    /// Every published value, honest or not, is taken in exactly when it
    /// lies between the accepted head and the tail, positions wrapping at
    /// 2^64 included.
    #[test]
    fn takes_in_exactly_the_heads_between_accepted_and_tail(
        accepted in any::<u64>(),
        waiting in 0u64..1 << 30,
        offset in prop_oneof![0u64..1 << 31, any::<u64>()],
    ) {
        let accepted_total = u128::from(accepted) + (1 << 64);
        let tail_total = accepted_total + u128::from(waiting);
        // Any 64-bit value, as the low bits of a total near the accepted one.
        let published = accepted.wrapping_add(offset);
        let published_total = accepted_total + u128::from(offset);
        prop_assert_eq!(
            newly_consumed(published, accepted, tail_total as u64),
            model(accepted_total, tail_total, published_total),
        );
    }
}

#[test]
fn heads_behind_ahead_or_at_the_edges() {
    assert_eq!(newly_consumed(10, 10, 20), Some(0));
    assert_eq!(newly_consumed(20, 10, 20), Some(10));
    assert_eq!(newly_consumed(21, 10, 20), None);
    assert_eq!(newly_consumed(9, 10, 20), None);
    assert_eq!(newly_consumed(u64::MAX, 10, 20), None);
    // Across the wrap of the positions.
    assert_eq!(newly_consumed(3, u64::MAX - 1, 5), Some(5));
    assert_eq!(newly_consumed(u64::MAX - 2, u64::MAX - 1, 5), None);
}

#[test]
fn only_whole_pages_map() {
    assert!(mappable(4096, 4096));
    assert!(mappable(3 * 4096, 4096));
    assert!(!mappable(5000, 4096));
    assert!(!mappable(0, 4096));
    assert!(!mappable(2048, 4096));
}
