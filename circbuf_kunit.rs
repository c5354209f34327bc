// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the ring, its records and the rules, run inside the kernel on the very
//! files `circbuf.ko` is built from, with kernel-allocated (kvmalloc) storage.
//!
//! Built as its own module, `circbuf_kunit.ko`, when the kernel has KUnit,
//! so loading circbuf itself never runs tests. The host runs the same checks
//! and more with `cargo test` in `host/`.

mod records;
mod ringbuf;
mod rules;

use kernel::prelude::*;

module! {
    type: CircbufKunit,
    name: "circbuf_kunit",
    authors: ["The circbuf developers"],
    description: "KUnit tests of circbuf's ring and rules",
    license: "GPL",
}

struct CircbufKunit;

impl kernel::Module for CircbufKunit {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Self)
    }
}

#[kunit_tests(circbuf_ring)]
mod tests {
    use super::{
        records::{start_map_words, Dropped, RecordRing},
        ringbuf::RingBuf,
        rules,
    };
    use kernel::prelude::*;

    fn ring(capacity: usize) -> RingBuf<KVVec<u8>> {
        let storage = KVVec::from_elem(0u8, capacity, GFP_KERNEL).expect("allocation");
        RingBuf::new(storage).expect("non-empty storage")
    }

    /// Writes `data` through the ring's fill interface; returns bytes stored.
    fn put(ring: &mut RingBuf<KVVec<u8>>, data: &[u8]) -> usize {
        let mut at = 0;
        ring.write_with(data.len(), |chunk| {
            for (dst, src) in chunk.iter_mut().zip(data.iter().skip(at)) {
                *dst = *src;
            }
            at += chunk.len();
            chunk.len()
        })
    }

    /// Reads up to `out.len()` bytes into `out`; returns how many.
    fn take(ring: &mut RingBuf<KVVec<u8>>, out: &mut [u8]) -> usize {
        let mut at = 0;
        let max = out.len();
        ring.read_with(max, |chunk| {
            for (dst, src) in out.iter_mut().skip(at).zip(chunk) {
                *dst = *src;
            }
            at += chunk.len();
            chunk.len()
        })
    }

    #[test]
    fn every_size_at_every_offset_round_trips() {
        let mut data = [0u8; 16];
        let mut out = [0u8; 16];
        for capacity in 1..=16 {
            for offset in 0..capacity {
                for size in 1..=capacity {
                    let mut r = ring(capacity);
                    put(&mut r, &data[..offset]);
                    take(&mut r, &mut out[..offset]);
                    for (i, byte) in data.iter_mut().enumerate() {
                        *byte = (i * 7 + size) as u8;
                    }
                    assert_eq!(put(&mut r, &data[..size]), size);
                    assert_eq!(r.free(), capacity - size);
                    assert_eq!(take(&mut r, &mut out[..size]), size);
                    assert_eq!(out[..size], data[..size]);
                    assert!(r.is_empty());
                }
            }
        }
    }

    #[test]
    fn full_ring_refuses_and_empty_ring_gives_nothing() {
        let mut r = ring(8);
        assert_eq!(put(&mut r, &[1u8; 20]), 8);
        assert_eq!(put(&mut r, &[2u8; 1]), 0);
        let mut out = [0u8; 20];
        assert_eq!(take(&mut r, &mut out), 8);
        assert_eq!(take(&mut r, &mut out), 0);
    }

    #[test]
    fn short_copy_keeps_the_rest_in_order() {
        let mut r = ring(8);
        put(&mut r, b"abcdefgh");
        let mut first = [0u8; 3];
        assert_eq!(
            r.read_with(8, |c| {
                first.copy_from_slice(&c[..3]);
                3
            }),
            3
        );
        let mut rest = [0u8; 8];
        assert_eq!(take(&mut r, &mut rest), 5);
        assert_eq!(&first, b"abc");
        assert_eq!(&rest[..5], b"defgh");
    }

    #[test]
    fn length_free_space_and_clear_agree() {
        let mut r = ring(10);
        assert_eq!(put(&mut r, b"abcd"), 4);
        assert_eq!(r.len(), 4);
        assert_eq!(r.free(), 6);
        assert_eq!(r.capacity(), 10);
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.free(), 10);
        let mut out = [0u8; 4];
        assert_eq!(take(&mut r, &mut out), 0);
    }

    #[test]
    fn large_kvmalloc_ring_wraps() {
        let capacity = 1 << 20;
        let mut r = ring(capacity);
        let block = KVVec::from_elem(0x5au8, capacity - 100, GFP_KERNEL).expect("allocation");
        let mut out = KVVec::from_elem(0u8, capacity, GFP_KERNEL).expect("allocation");
        assert_eq!(put(&mut r, &block), capacity - 100);
        assert_eq!(take(&mut r, &mut out[..capacity - 100]), capacity - 100);
        assert_eq!(put(&mut r, &block), capacity - 100);
        assert_eq!(take(&mut r, &mut out), capacity - 100);
        assert!(out[..capacity - 100].iter().all(|&b| b == 0x5a));
    }

    fn record_ring(capacity: usize) -> RecordRing<KVVec<u8>, KVVec<u64>> {
        let starts =
            KVVec::from_elem(0u64, start_map_words(capacity), GFP_KERNEL).expect("allocation");
        RecordRing::new(ring(capacity), starts).expect("a clear map of the right size")
    }

    /// Stores `data` as one record, first dropping the oldest records to
    /// make room, as an overwriting write does; returns what was dropped.
    fn overwrite(r: &mut RecordRing<KVVec<u8>, KVVec<u64>>, data: &[u8]) -> Dropped {
        let dropped = r.make_room(data.len());
        let mut at = 0;
        let stored = r.write_with(data.len(), |chunk| {
            chunk.copy_from_slice(&data[at..at + chunk.len()]);
            at += chunk.len();
            chunk.len()
        });
        assert_eq!(stored, data.len());
        dropped
    }

    #[test]
    fn overwriting_drops_whole_records_across_the_wrap() {
        // 100 bytes: the start map spans two words and records wrap.
        let mut r = record_ring(100);
        for (i, len) in [30usize, 30, 30].into_iter().enumerate() {
            assert_eq!(
                overwrite(&mut r, &[i as u8; 100][..len]),
                Dropped::default()
            );
        }
        // 50 bytes need two of the 30-byte records gone, and wrap.
        let dropped = overwrite(&mut r, &[7u8; 50]);
        assert_eq!(
            dropped,
            Dropped {
                bytes: 60,
                records: 2
            }
        );
        assert_eq!(r.len(), 80);
        assert_eq!(r.free(), 20);
        // Readers taking whole records stop at the boundary after record 2.
        assert_eq!(r.whole_records_within(69), 30);
        assert_eq!(r.whole_records_within(10), 10);
        let mut out = [0u8; 100];
        assert_eq!(
            r.read_with(30, |c| {
                out[..c.len()].copy_from_slice(c);
                c.len()
            }),
            30
        );
        assert!(out[..30].iter().all(|&b| b == 2));
        // A record longer than the ring empties it.
        assert_eq!(
            r.make_room(101),
            Dropped {
                bytes: 50,
                records: 1
            }
        );
        assert!(r.is_empty());
        overwrite(&mut r, &[9u8; 60]);
        r.clear();
        assert!(r.is_empty());
        assert_eq!(r.free(), 100);
    }

    #[test]
    fn overwrite_mode_rules() {
        use rules::Mode;
        for mode in [Mode::Block, Mode::Overwrite] {
            assert_eq!(Mode::from_uapi(mode.to_uapi()), Some(mode));
        }
        assert_eq!(Mode::from_uapi(2), None);
        assert!(rules::poll_writable_in(Mode::Overwrite, 0, 64));
        assert!(!rules::poll_writable_in(Mode::Block, 0, 64));
        assert_eq!(
            rules::overwrite_record_max(1 << 16),
            rules::ATOMIC_WRITE_MAX
        );
        assert_eq!(rules::overwrite_record_max(100), 100);
    }

    #[test]
    fn rules_match_the_documented_semantics() {
        assert!(rules::write_is_atomic(rules::ATOMIC_WRITE_MAX, 1 << 16));
        assert!(!rules::write_is_atomic(
            rules::ATOMIC_WRITE_MAX + 1,
            1 << 16
        ));
        assert_eq!(rules::write_room(10, 9, true), 0);
        assert_eq!(rules::write_room(10, 9, false), 9);
        assert!(rules::poll_writable(64, 64));
        // A write that must wait always leaves the device below the mark at
        // which readers wake writers.
        for free in 0..=64 {
            for len in 1..=129 {
                let atomic = rules::write_is_atomic(len, 64);
                if rules::write_room(len, free, atomic) == 0 {
                    assert!(rules::writers_may_wait(free, 64));
                }
            }
        }
        let watch = rules::WriterWatch::new(0, false, 3);
        assert!(!watch.at_eof(0, 3));
        assert!(watch.at_eof(0, 4));
    }
}
