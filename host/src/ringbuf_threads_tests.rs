// SPDX-License-Identifier: GPL-2.0

//! One writer thread and one reader thread on the same ring, as the driver
//! uses it: every byte arrives once, in order, whatever the chunk sizes and
//! however the threads interleave.
//!
//! Under Miri (`cargo +nightly miri test threads`) these tests are also the
//! check of the ring's memory ordering: Miri reports any access to a byte
//! that is not ordered after the other end's last access by the
//! acquire/release pairs on `head` and `tail`, and explores weak-memory
//! outcomes of the atomic loads.

use crate::both_ends::BothEnds;
use crate::ringbuf::RingBuf;
use std::thread;

/// Bytes each test moves: enough to lap small rings many times, few enough
/// for Miri's interpreter.
const TOTAL: usize = if cfg!(miri) { 600 } else { 2_000_000 };

/// The byte at stream offset `i`: a period prime to every chunk size used.
fn byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// Streams `TOTAL` bytes from a writer thread to a reader thread through a
/// ring of `capacity`, the writer offering `write_chunk` and the reader
/// asking for `read_chunk` bytes at a time, spinning when they cannot move.
fn stream(capacity: usize, write_chunk: usize, read_chunk: usize) {
    let BothEnds {
        ring,
        mut writer,
        mut reader,
    } = BothEnds::new(capacity);
    thread::scope(|s| {
        let ring = &ring;
        s.spawn(move || {
            let mut sent = 0;
            while sent < TOTAL {
                let want = write_chunk.min(TOTAL - sent);
                ring.write_with(&mut writer, want, |chunk| {
                    for b in chunk.iter_mut() {
                        *b = byte(sent);
                        sent += 1;
                    }
                    chunk.len()
                });
                thread::yield_now();
            }
        });
        s.spawn(move || {
            let mut received = 0;
            while received < TOTAL {
                ring.read_with(&mut reader, read_chunk, |chunk| {
                    for &b in chunk {
                        assert_eq!(b, byte(received), "byte {received} of the stream");
                        received += 1;
                    }
                    chunk.len()
                });
                thread::yield_now();
            }
            assert_eq!(ring.readable(&reader), 0, "bytes beyond the stream");
        });
    });
}

#[test]
fn threads_stream_through_a_tiny_ring() {
    stream(3, 2, 2);
}

#[test]
fn threads_stream_with_uneven_chunks() {
    stream(17, 5, 7);
}

#[test]
fn threads_stream_chunks_larger_than_the_ring() {
    stream(64, 100, 30);
}

/// An end of one ring moves nothing in another: otherwise a second writer
/// (or reader) could race with the ring's own.
#[test]
fn an_end_of_another_ring_moves_nothing() {
    let BothEnds {
        ring: a,
        writer: mut a_writer,
        reader: mut a_reader,
    } = BothEnds::new(8);
    let (b, mut b_writer, _b_reader) = RingBuf::new(vec![0u8; 8]).unwrap();
    assert_eq!(b.write_with(&mut b_writer, 4, |c| c.len()), 4);
    assert_eq!(
        b.write_with(&mut a_writer, 4, |_| panic!("foreign writer")),
        0
    );
    assert_eq!(
        b.read_with(&mut a_reader, 4, |_| panic!("foreign reader")),
        0
    );
    assert_eq!(b.writable(&a_writer), 0);
    assert_eq!(b.unread(&a_writer), 0);
    assert_eq!(b.readable(&a_reader), 0);
    b.discard(&mut a_reader, 4);
    b.clear(&mut a_reader);
    assert_eq!(b.len(), 4);
    assert!(a.is_empty());
}
