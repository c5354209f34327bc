// SPDX-License-Identifier: GPL-2.0
//! The self-describing record that writers send in records mode, and its
//! strict decoder.
//!
//! Layout (little-endian), `HEADER_SIZE` bytes of header then the payload:
//!
//! | offset | size | field                                        |
//! |--------|------|----------------------------------------------|
//! | 0      | 4    | magic `MAGIC`                                |
//! | 4      | 4    | writer id                                    |
//! | 8      | 8    | sequence number within that writer           |
//! | 16     | 4    | payload length                               |
//! | 20     | 4    | FNV-1a over bytes 0..20 and the payload      |
//!
//! The payload is pseudo-random from (seed, writer, seq), so the decoder
//! recomputes it and compares byte for byte: the checksum catches damage
//! cheaply and names it, the comparison makes detection certain.

use circbuf::testing::Rng;

use crate::rng::{derive, Purpose};

/// Marks the start of every record; a misaligned read lands on it only by
/// accident, and then the length and checksum still have to agree.
pub const MAGIC: u32 = 0xC1B0_5EED;

/// Bytes of header before the payload: the smallest valid record size.
pub const HEADER_SIZE: usize = 24;

const CHECKSUMMED_HEADER: usize = 20;

/// Which record: the writer that sent it and its place in that writer's
/// sequence (0, 1, 2, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordId {
    /// The writer's index, `0..writers`.
    pub writer: u32,
    /// The record's sequence number within its writer.
    pub seq: u64,
}

fn fnv1a(parts: [&[u8]; 2]) -> u32 {
    parts.into_iter().flatten().fold(0x811c_9dc5, |hash, byte| {
        (hash ^ u32::from(*byte)).wrapping_mul(0x0100_0193)
    })
}

fn payload_rng(seed: u64, id: RecordId) -> Rng {
    Rng::new(derive(seed, Purpose::Payload, u64::from(id.writer), id.seq))
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("four bytes"))
}

/// Fills `out` (whose length is the record size, at least `HEADER_SIZE`
/// and at most a few KiB) with record `id`.
pub fn encode(seed: u64, id: RecordId, out: &mut [u8]) {
    let payload_len = (out.len() - HEADER_SIZE) as u32;
    let (header, payload) = out.split_at_mut(HEADER_SIZE);
    header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    header[4..8].copy_from_slice(&id.writer.to_le_bytes());
    header[8..16].copy_from_slice(&id.seq.to_le_bytes());
    header[16..20].copy_from_slice(&payload_len.to_le_bytes());
    payload_rng(seed, id).fill(payload);
    let sum = fnv1a([&header[..CHECKSUMMED_HEADER], payload]);
    header[20..24].copy_from_slice(&sum.to_le_bytes());
}

/// Checks that `buf` is exactly one intact `size`-byte record sent under
/// `seed`, and says which; the error says what is wrong with it.
pub fn decode(seed: u64, buf: &[u8], size: usize) -> Result<RecordId, String> {
    if buf.len() != size || size < HEADER_SIZE {
        let got = buf.len();
        return Err(format!(
            "read returned {got} bytes instead of one {size}-byte record"
        ));
    }
    let (header, payload) = buf.split_at(HEADER_SIZE);
    let len = payload.len();
    let magic = le_u32(&header[0..4]);
    let length = le_u32(&header[16..20]);
    let writer = le_u32(&header[4..8]);
    let seq = u64::from_le_bytes(header[8..16].try_into().expect("eight bytes"));
    let id = RecordId { writer, seq };
    // The first check that fails names what is wrong.
    let problem = if magic != MAGIC {
        format!("bad magic {magic:#010x} (misaligned or overwritten record)")
    } else if length as usize != len {
        format!("payload length field is {length}, expected {len}")
    } else if le_u32(&header[20..24]) != fnv1a([&header[..CHECKSUMMED_HEADER], payload]) {
        format!("checksum mismatch in record writer {writer} seq {seq}")
    } else {
        let mut expected = vec![0u8; len];
        payload_rng(seed, id).fill(&mut expected);
        let Some(at) = payload.iter().zip(&expected).position(|(a, b)| a != b) else {
            return Ok(id);
        };
        format!("payload of writer {writer} seq {seq} differs from what was sent at byte {at}")
    };
    Err(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: u64 = 42;

    fn record(id: RecordId, size: usize) -> Vec<u8> {
        let mut buf = vec![0u8; size];
        encode(SEED, id, &mut buf);
        buf
    }

    #[test]
    fn round_trips_for_all_sizes() {
        for size in [HEADER_SIZE, HEADER_SIZE + 1, 32, 64, 100, 4096] {
            let id = RecordId {
                writer: 7,
                seq: 123_456_789_012,
            };
            assert_eq!(decode(SEED, &record(id, size), size), Ok(id), "size {size}");
        }
    }

    #[test]
    fn header_fields_sit_at_documented_offsets() {
        let buf = record(RecordId { writer: 3, seq: 9 }, 64);
        assert_eq!(le_u32(&buf[0..4]), MAGIC);
        assert_eq!(le_u32(&buf[4..8]), 3);
        assert_eq!(u64::from_le_bytes(buf[8..16].try_into().unwrap()), 9);
        assert_eq!(le_u32(&buf[16..20]), 40);
    }

    #[test]
    fn payload_depends_on_seed_writer_and_seq() {
        let a = record(RecordId { writer: 0, seq: 0 }, 64);
        let b = record(RecordId { writer: 1, seq: 0 }, 64);
        let c = record(RecordId { writer: 0, seq: 1 }, 64);
        assert_ne!(a[HEADER_SIZE..], b[HEADER_SIZE..]);
        assert_ne!(a[HEADER_SIZE..], c[HEADER_SIZE..]);
        let mut other_seed = vec![0u8; 64];
        encode(SEED + 1, RecordId { writer: 0, seq: 0 }, &mut other_seed);
        let err = decode(SEED, &other_seed, 64).unwrap_err();
        assert!(
            err.starts_with("payload of writer 0 seq 0 differs"),
            "{err}"
        );
    }

    #[test]
    fn every_single_byte_corruption_is_detected() {
        let clean = record(RecordId { writer: 2, seq: 77 }, 48);
        for i in 0..clean.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = clean.clone();
                bad[i] ^= flip;
                assert!(
                    decode(SEED, &bad, 48).is_err(),
                    "byte {i} ^ {flip:#x} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn corruption_is_named() {
        let clean = record(RecordId { writer: 1, seq: 5 }, 64);
        let damaged = |at: usize| {
            let mut bad = clean.clone();
            bad[at] ^= 1;
            decode(SEED, &bad, 64).unwrap_err()
        };
        assert!(damaged(0).starts_with("bad magic"));
        assert_eq!(damaged(16), "payload length field is 41, expected 40");
        assert_eq!(damaged(40), "checksum mismatch in record writer 1 seq 5");
    }

    #[test]
    fn short_long_and_misaligned_reads_are_rejected() {
        let a = record(RecordId { writer: 0, seq: 0 }, 32);
        let b = record(RecordId { writer: 0, seq: 1 }, 32);
        assert_eq!(
            decode(SEED, &a[..31], 32).unwrap_err(),
            "read returned 31 bytes instead of one 32-byte record"
        );
        let both: Vec<u8> = a.iter().chain(&b).copied().collect();
        assert!(decode(SEED, &both, 32).is_err());
        for shift in 1..32 {
            assert!(
                decode(SEED, &both[shift..shift + 32], 32).is_err(),
                "a record straddling two others at shift {shift} was accepted"
            );
        }
    }
}
