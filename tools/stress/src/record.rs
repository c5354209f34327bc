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

use std::fmt;

use circbuf::testing::Rng;
use serde::{Deserialize, Serialize};

use crate::rng::{derive, Purpose};

/// Marks the start of every record; a misaligned read lands on it only by
/// accident, and then the length and checksum still have to agree.
pub const MAGIC: u32 = 0xC1B0_5EED;

/// Bytes of header before the payload: the smallest valid record size.
pub const HEADER_SIZE: usize = 24;

const CHECKSUMMED_HEADER: usize = 20;

/// Which record: the writer that sent it and its place in that writer's
/// sequence (0, 1, 2, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordId {
    /// The writer's index, `0..writers`.
    pub writer: u32,
    /// The record's sequence number within its writer.
    pub seq: u64,
}

/// Why a read did not yield one valid record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecordError {
    /// The read returned another amount than one record's size.
    WrongSize {
        /// Bytes the read returned.
        got: usize,
        /// The record size.
        want: usize,
    },
    /// The first four bytes are not `MAGIC`: the stream is misaligned or
    /// overwritten.
    BadMagic {
        /// What was found instead.
        found: u32,
    },
    /// The length field disagrees with the record size.
    BadLength {
        /// The payload length in the header.
        found: u32,
        /// The payload length the record size implies.
        want: u32,
    },
    /// Header and payload do not match the checksum.
    BadChecksum {
        /// The record as its (possibly damaged) header names it.
        id: RecordId,
    },
    /// The checksum holds but the payload is not what that writer sent for
    /// that sequence number.
    BadPayload {
        /// The record as its header names it.
        id: RecordId,
        /// Offset of the first wrong payload byte.
        offset: usize,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::WrongSize { got, want } => {
                write!(
                    f,
                    "read returned {got} bytes instead of one {want}-byte record"
                )
            }
            RecordError::BadMagic { found } => {
                write!(
                    f,
                    "bad magic {found:#010x} (misaligned or overwritten record)"
                )
            }
            RecordError::BadLength { found, want } => {
                write!(f, "payload length field is {found}, expected {want}")
            }
            RecordError::BadChecksum { id } => write!(
                f,
                "checksum mismatch in record writer {} seq {}",
                id.writer, id.seq
            ),
            RecordError::BadPayload { id, offset } => write!(
                f,
                "payload of writer {} seq {} differs from what was sent at byte {offset}",
                id.writer, id.seq
            ),
        }
    }
}

fn fnv1a(parts: [&[u8]; 2]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in parts.into_iter().flatten() {
        hash ^= u32::from(*byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn payload_rng(seed: u64, id: RecordId) -> Rng {
    Rng::new(derive(seed, Purpose::Payload, u64::from(id.writer), id.seq))
}

fn payload_len(size: usize) -> u32 {
    u32::try_from(size - HEADER_SIZE).expect("record sizes are at most a few KiB")
}

/// Fills `out` (whose length is the record size, at least `HEADER_SIZE`)
/// with record `id`.
pub fn encode(seed: u64, id: RecordId, out: &mut [u8]) {
    assert!(
        out.len() >= HEADER_SIZE,
        "record of {} bytes cannot hold a header",
        out.len()
    );
    let (header, payload) = out.split_at_mut(HEADER_SIZE);
    header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    header[4..8].copy_from_slice(&id.writer.to_le_bytes());
    header[8..16].copy_from_slice(&id.seq.to_le_bytes());
    header[16..20].copy_from_slice(&payload_len(HEADER_SIZE + payload.len()).to_le_bytes());
    payload_rng(seed, id).fill(payload);
    let sum = fnv1a([&header[..CHECKSUMMED_HEADER], payload]);
    header[20..24].copy_from_slice(&sum.to_le_bytes());
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("four bytes"))
}

/// Checks that `buf` is exactly one intact `size`-byte record sent under
/// `seed`, and says which.
pub fn decode(seed: u64, buf: &[u8], size: usize) -> Result<RecordId, RecordError> {
    if buf.len() != size || size < HEADER_SIZE {
        return Err(RecordError::WrongSize {
            got: buf.len(),
            want: size,
        });
    }
    let (header, payload) = buf.split_at(HEADER_SIZE);
    let magic = le_u32(&header[0..4]);
    if magic != MAGIC {
        return Err(RecordError::BadMagic { found: magic });
    }
    let length = le_u32(&header[16..20]);
    if length != payload_len(size) {
        return Err(RecordError::BadLength {
            found: length,
            want: payload_len(size),
        });
    }
    let id = RecordId {
        writer: le_u32(&header[4..8]),
        seq: u64::from_le_bytes(header[8..16].try_into().expect("eight bytes")),
    };
    if le_u32(&header[20..24]) != fnv1a([&header[..CHECKSUMMED_HEADER], payload]) {
        return Err(RecordError::BadChecksum { id });
    }
    let mut rng = payload_rng(seed, id);
    let mut expected = [0u8; 8];
    for (i, chunk) in payload.chunks(8).enumerate() {
        rng.fill(&mut expected);
        if let Some(j) = chunk.iter().zip(&expected).position(|(a, b)| a != b) {
            return Err(RecordError::BadPayload {
                id,
                offset: i * 8 + j,
            });
        }
    }
    Ok(id)
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
            let buf = record(id, size);
            assert_eq!(decode(SEED, &buf, size), Ok(id), "size {size}");
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
        assert_ne!(a[HEADER_SIZE..], other_seed[HEADER_SIZE..]);
        assert!(matches!(
            decode(SEED, &other_seed, 64),
            Err(RecordError::BadPayload { .. })
        ));
    }

    #[test]
    fn every_single_byte_corruption_is_detected() {
        let id = RecordId { writer: 2, seq: 77 };
        let clean = record(id, 48);
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
    fn corruption_is_classified() {
        let id = RecordId { writer: 1, seq: 5 };
        let clean = record(id, 64);

        let mut bad = clean.clone();
        bad[0] ^= 1;
        assert!(matches!(
            decode(SEED, &bad, 64),
            Err(RecordError::BadMagic { .. })
        ));

        let mut bad = clean.clone();
        bad[16] ^= 1;
        assert_eq!(
            decode(SEED, &bad, 64),
            Err(RecordError::BadLength {
                found: 41,
                want: 40
            })
        );

        let mut bad = clean.clone();
        bad[40] ^= 1;
        assert_eq!(decode(SEED, &bad, 64), Err(RecordError::BadChecksum { id }));
    }

    #[test]
    fn short_long_and_misaligned_reads_are_rejected() {
        let a = record(RecordId { writer: 0, seq: 0 }, 32);
        let b = record(RecordId { writer: 0, seq: 1 }, 32);
        assert_eq!(
            decode(SEED, &a[..31], 32),
            Err(RecordError::WrongSize { got: 31, want: 32 })
        );
        assert_eq!(
            decode(SEED, &[], 32),
            Err(RecordError::WrongSize { got: 0, want: 32 })
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

    #[test]
    fn errors_read_clearly() {
        let text = RecordError::WrongSize { got: 5, want: 64 }.to_string();
        assert_eq!(text, "read returned 5 bytes instead of one 64-byte record");
        let id = RecordId { writer: 2, seq: 9 };
        assert!(RecordError::BadChecksum { id }
            .to_string()
            .contains("writer 2 seq 9"));
    }
}
