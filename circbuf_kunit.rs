// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of the byte ring, its pages, its records, the rules and the
//! telemetry ring, run inside the kernel on the very files `circbuf.ko` is
//! built from, with kernel-allocated storage and the kernel's atomics.
//!
//! Built as its own module, `circbuf_kunit.ko`, when the kernel has KUnit,
//! so loading circbuf itself never runs tests. The host runs the same checks
//! and more with `cargo test` in `host/`.

mod pages;
mod records;
mod ring;
mod rules;
mod sample_ring;
mod spsc;

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
        pages::{ring_page, SharedPage},
        records::{start_map_words, Dropped, RecordRing, RecordStarts},
        ring::{new_ring, new_sample_ring, ByteRing, Consumer, Producer},
        rules,
        sample_ring::{SAMPLE_BYTES, SAMPLE_WORDS},
        spsc::Storage,
    };
    use kernel::{
        page::PAGE_SIZE,
        prelude::*,
        sync::{atomic::Relaxed, Arc},
    };

    /// The two halves of a new ring, on one thread.
    struct Ring {
        producer: Producer,
        consumer: Consumer,
        shared: Arc<ByteRing>,
    }

    fn ring(capacity: usize) -> Ring {
        let (producer, consumer, shared) = new_ring(capacity).expect("allocation");
        Ring {
            producer,
            consumer,
            shared,
        }
    }

    /// Writes `data` through the producer's fill interface; returns bytes stored.
    fn put(ring: &mut Ring, data: &[u8]) -> usize {
        let mut at = 0;
        ring.producer.write_with(data.len(), |chunk| {
            for (dst, src) in chunk.iter_mut().zip(data.iter().skip(at)) {
                *dst = *src;
            }
            at += chunk.len();
            chunk.len()
        })
    }

    /// Reads up to `out.len()` bytes into `out`; returns how many.
    fn take(ring: &mut Ring, out: &mut [u8]) -> usize {
        let mut at = 0;
        let max = out.len();
        ring.consumer.read_with(max, |chunk| {
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
                    assert_eq!(r.producer.free(), capacity - size);
                    assert_eq!(take(&mut r, &mut out[..size]), size);
                    assert_eq!(out[..size], data[..size]);
                    assert!(r.consumer.is_empty());
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
            r.consumer.read_with(8, |c| {
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
        assert_eq!(r.consumer.len(), 4);
        assert_eq!(r.shared.len(), 4);
        assert_eq!(r.producer.free(), 6);
        assert_eq!(r.shared.capacity(), 10);
        r.consumer.discard(usize::MAX);
        assert!(r.consumer.is_empty());
        assert!(r.shared.is_empty());
        assert_eq!(r.producer.free(), 10);
        let mut out = [0u8; 4];
        assert_eq!(take(&mut r, &mut out), 0);
    }

    /// The pages a mapping gets are the ring's bytes, in storage order, and
    /// the totals the mapped consumer sees follow the positions.
    #[test]
    fn ring_pages_hold_its_bytes_and_totals_follow_the_positions() {
        let capacity = 3 * PAGE_SIZE;
        let mut r = ring(capacity);
        let pattern = |n: usize| (n % 251) as u8;
        let mut data = KVVec::with_capacity(capacity, GFP_KERNEL).expect("allocation");
        for n in 0..capacity {
            data.push(pattern(n), GFP_KERNEL).expect("allocation");
        }
        // 100 bytes in and out, so the next write wraps.
        assert_eq!(put(&mut r, &data[..100]), 100);
        r.consumer.discard(100);
        assert_eq!(put(&mut r, &data), capacity);
        assert_eq!(r.producer.written(), 100 + capacity as u64);
        assert_eq!(r.consumer.taken(), 100);
        assert_eq!(r.shared.storage().capacity(), capacity);
        let mut page_bytes = KVVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL).expect("allocation");
        for offset in (0..capacity).step_by(PAGE_SIZE) {
            let page = ring_page(&r.shared, offset).expect("a page of the ring");
            // SAFETY: `page_bytes` holds a page of writable bytes, and
            // nothing writes the ring on this thread meanwhile.
            unsafe { page.read_raw(page_bytes.as_mut_ptr(), 0, PAGE_SIZE) }.expect("read");
            for (i, byte) in page_bytes.iter().enumerate() {
                // Storage index `offset + i` holds byte n of the second write
                // with 100 + n = offset + i modulo the capacity.
                let n = (offset + i + capacity - 100) % capacity;
                assert_eq!(*byte, pattern(n));
            }
        }
        assert!(ring_page(&r.shared, capacity).is_err());
    }

    /// A shared page starts zeroed, and its page is where its words are.
    #[test]
    fn shared_page_words_are_its_page() {
        let shared = SharedPage::new().expect("allocation");
        shared.word(2).store(0x0123_4567_89ab_cdef, Relaxed);
        let mut words = [u64::MAX; 4];
        // SAFETY: `words` holds 32 writable bytes, and nothing writes the
        // page on this thread meanwhile.
        unsafe { shared.page().read_raw(words.as_mut_ptr().cast(), 0, 32) }.expect("read");
        assert_eq!(words, [0, 0, 0x0123_4567_89ab_cdef, 0]);
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

    fn record_starts(capacity: usize) -> RecordStarts<KVVec<u64>> {
        let map =
            KVVec::from_elem(0u64, start_map_words(capacity), GFP_KERNEL).expect("allocation");
        RecordStarts::new(map, capacity).expect("a clear map of the right size")
    }

    type Records<'a> = RecordRing<'a, Arc<ByteRing>, KVVec<u64>>;

    /// Stores `data` as one record, first dropping the oldest records to
    /// make room, as an overwriting write does; returns what was dropped.
    fn overwrite(r: &mut Records<'_>, data: &[u8]) -> Dropped {
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
        let mut h = ring(100);
        let mut starts = record_starts(100);
        for (i, len) in [30usize, 30, 30].into_iter().enumerate() {
            let mut r = RecordRing::new(&mut h.producer, &mut h.consumer, &mut starts);
            assert_eq!(
                overwrite(&mut r, &[i as u8; 100][..len]),
                Dropped::default()
            );
        }
        // 50 bytes need two of the 30-byte records gone, and wrap.
        let mut r = RecordRing::new(&mut h.producer, &mut h.consumer, &mut starts);
        let dropped = overwrite(&mut r, &[7u8; 50]);
        assert_eq!(
            dropped,
            Dropped {
                bytes: 60,
                records: 2
            }
        );
        assert_eq!(r.free(), 20);
        assert_eq!(h.consumer.len(), 80);
        // Readers taking whole records stop at the boundary after record 2.
        let (head, len) = (h.consumer.head_index(), h.consumer.len());
        assert_eq!(starts.whole_records_within(head, len, 69), 30);
        assert_eq!(starts.whole_records_within(head, len, 10), 10);
        let mut out = [0u8; 100];
        assert_eq!(take(&mut h, &mut out[..30]), 30);
        assert!(out[..30].iter().all(|&b| b == 2));
        // A record longer than the ring empties it.
        let mut r = RecordRing::new(&mut h.producer, &mut h.consumer, &mut starts);
        assert_eq!(
            r.make_room(101),
            Dropped {
                bytes: 50,
                records: 1
            }
        );
        assert_eq!(r.free(), 100);
        overwrite(&mut r, &[9u8; 60]);
        h.consumer.discard(usize::MAX);
        assert!(h.consumer.is_empty());
        assert_eq!(h.producer.free(), 100);
    }

    #[test]
    fn adopted_block_mode_data_drops_one_record_at_a_time() {
        let mut h = ring(100);
        let mut starts = record_starts(100);
        // Moves the head past the start of the storage, so the records wrap.
        assert_eq!(put(&mut h, &[0u8; 70]), 70);
        h.consumer.discard(70);
        assert_eq!(put(&mut h, &[1u8; 95]), 95);
        starts.adopt(h.consumer.head_index(), h.consumer.len(), 40);
        let mut r = RecordRing::new(&mut h.producer, &mut h.consumer, &mut starts);
        assert_eq!(
            r.make_room(10),
            Dropped {
                bytes: 40,
                records: 1
            }
        );
        assert_eq!(
            r.make_room(50),
            Dropped {
                bytes: 40,
                records: 1
            }
        );
        assert_eq!(h.consumer.len(), 15);
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
        let watch = rules::WriterWatch::new(0, false, 3);
        assert!(!watch.at_eof(0, 3));
        assert!(watch.at_eof(0, 4));
    }

    #[test]
    fn sources_and_rates_follow_the_uapi() {
        use rules::{Mode, Source};
        for source in [Source::None, Source::Thermal] {
            assert_eq!(Source::from_uapi(source.to_uapi()), Some(source));
        }
        assert_eq!(Source::from_uapi(2), None);
        assert_eq!(Source::Thermal.name(), "thermal");
        assert_eq!(Mode::Overwrite.name(), "overwrite");
        assert!(rules::rate_is_valid(rules::RATE_MIN.into()));
        assert!(rules::rate_is_valid(rules::RATE_MAX.into()));
        assert!(!rules::rate_is_valid(0));
        assert!(!rules::rate_is_valid(u64::from(rules::RATE_MAX) + 1));
    }

    #[test]
    fn telemetry_ring_keeps_the_newest_whole_samples() {
        let (mut producer, mut consumer, shared) = new_sample_ring(3).expect("allocation");
        assert_eq!(shared.capacity(), 3);
        let mut dropped = 0;
        for seq in 0..5u64 {
            dropped += u64::from(producer.push([seq; SAMPLE_WORDS]));
        }
        assert_eq!(dropped, 2);
        assert_eq!(shared.len(), 3);
        assert_eq!(shared.produced(), producer.next_position());
        let mut out = [0u8; 2 * SAMPLE_BYTES];
        assert_eq!(consumer.take_into(&mut out), 2);
        for (sample, seq) in out.chunks_exact(SAMPLE_BYTES).zip(2u64..) {
            for word in sample.chunks_exact(8) {
                assert_eq!(word, seq.to_ne_bytes());
            }
        }
        assert_eq!(consumer.take_into(&mut out[..SAMPLE_BYTES - 1]), 0);
        assert_eq!(consumer.discard(), 1);
        assert!(shared.is_empty());
    }
}
