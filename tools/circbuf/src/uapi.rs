// SPDX-License-Identifier: GPL-2.0
//! The Rust mirror of `include/uapi/linux/circbuf.h`: the statistics and
//! sample layouts, the modes and sources, the mapped consumer's pages and
//! flags, and the ioctl numbers.
//! `tests/abi.rs` compiles the C header and checks that both sides agree
//! field by field.

use std::mem::offset_of;

use rustix::ioctl::{opcode, Opcode};
use serde::{Deserialize, Serialize};

/// Writes of at most this many bytes (and at most the capacity) are atomic:
/// they are never interleaved with another writer's data.
pub const ATOMIC_WRITE_MAX: usize = 4096;

/// The ioctl type ("magic") byte shared by all circbuf ioctls.
pub const CIRCBUF_IOC_MAGIC: u8 = 0xC1;

/// `_IOR(CIRCBUF_IOC_MAGIC, 0x01, struct circbuf_stats)`: fills a [`Stats`].
pub const CIRCBUF_GET_STATS: Opcode = opcode::read::<Stats>(CIRCBUF_IOC_MAGIC, 0x01);

/// `_IO(CIRCBUF_IOC_MAGIC, 0x02)`: discards the content and wakes blocked
/// writers; the file must be open for writing.
pub const CIRCBUF_RESET: Opcode = opcode::none(CIRCBUF_IOC_MAGIC, 0x02);

/// `_IOW(CIRCBUF_IOC_MAGIC, 0x03, __u32)`: sets the [`Mode`]; the file must
/// be open for writing.
pub const CIRCBUF_SET_MODE: Opcode = opcode::write::<u32>(CIRCBUF_IOC_MAGIC, 0x03);

/// `_IOW(CIRCBUF_IOC_MAGIC, 0x04, struct circbuf_source)`: starts, restarts
/// or stops the telemetry [`Source`]; the file must be open for writing.
pub const CIRCBUF_SET_SOURCE: Opcode = opcode::write::<SourceRequest>(CIRCBUF_IOC_MAGIC, 0x04);

/// `_IO(CIRCBUF_IOC_MAGIC, 0x05)`: takes in the mapped consumer's `head` and
/// wakes the writers waiting for the room it frees. Any file may call it;
/// without a mapped consumer it does nothing.
pub const CIRCBUF_WAKE_WRITERS: Opcode = opcode::none(CIRCBUF_IOC_MAGIC, 0x05);

/// `CIRCBUF_MMAP_CONSUMER_PGOFF`: the page offset of the mapped consumer's
/// page (one page, read-write), which holds its `head`.
pub const MMAP_CONSUMER_PGOFF: u64 = 0;

/// `CIRCBUF_MMAP_PRODUCER_PGOFF`: the page offset of the producer area (read
/// only): a page with `tail`, `capacity` and `flags`, then the ring's data
/// pages twice in a row.
pub const MMAP_PRODUCER_PGOFF: u64 = 1;

/// `CIRCBUF_MMAP_WRITERS_WAITING`: a bit of the producer page's `flags`, set
/// while a writer waits for room; the consumer then calls
/// [`CIRCBUF_WAKE_WRITERS`] after publishing its `head`.
pub const MMAP_WRITERS_WAITING: u64 = 0x1;

/// The lowest rate the telemetry source takes, in Hz (`CIRCBUF_RATE_MIN`).
pub const RATE_MIN: u32 = 1;

/// The highest rate the telemetry source takes, in Hz (`CIRCBUF_RATE_MAX`).
pub const RATE_MAX: u32 = 10_000;

/// What a write does when the ring is full (`CIRCBUF_MODE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `CIRCBUF_MODE_BLOCK`: wait for room, as on a pipe.
    Block,
    /// `CIRCBUF_MODE_OVERWRITE`: never wait; drop the oldest whole records.
    Overwrite,
}

impl Mode {
    /// The mode's number in the UAPI.
    pub fn to_uapi(self) -> u32 {
        match self {
            Mode::Block => 0,
            Mode::Overwrite => 1,
        }
    }

    /// The mode with UAPI number `value`, if there is one.
    pub fn from_uapi(value: u64) -> Option<Mode> {
        match value {
            0 => Some(Mode::Block),
            1 => Some(Mode::Overwrite),
            _ => None,
        }
    }

    /// The mode's name: `block` or `overwrite`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Block => "block",
            Mode::Overwrite => "overwrite",
        }
    }
}

/// What produces into a ring (`CIRCBUF_SOURCE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `CIRCBUF_SOURCE_NONE`: nothing in the kernel; on the telemetry
    /// device, the source is stopped.
    None,
    /// `CIRCBUF_SOURCE_THERMAL`: the telemetry device's timer sampling the
    /// simulated temperature sensor.
    Thermal,
}

impl Source {
    /// The source's number in the UAPI.
    pub fn to_uapi(self) -> u32 {
        match self {
            Source::None => 0,
            Source::Thermal => 1,
        }
    }

    /// The source with UAPI number `value`, if there is one.
    pub fn from_uapi(value: u64) -> Option<Source> {
        match value {
            0 => Some(Source::None),
            1 => Some(Source::Thermal),
            _ => None,
        }
    }

    /// The source's name, as sysfs shows it: `none` or `thermal`.
    pub fn name(self) -> &'static str {
        match self {
            Source::None => "none",
            Source::Thermal => "thermal",
        }
    }
}

/// `struct circbuf_source`, the argument of [`CIRCBUF_SET_SOURCE`]. Its
/// offsets, 0 and 4, are checked here and against the header in
/// `tests/abi.rs`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SourceRequest {
    pub(crate) source: u32,
    pub(crate) rate_hz: u32,
}

/// `struct circbuf_mmap_producer`: the start of the producer page, which
/// only the kernel writes. Never read through this type: the mapping is
/// shared with the kernel, so [`MappedReader`](crate::MappedReader) loads
/// each field atomically at its `offset_of!`. Its offsets, 0, 8 and 16, are
/// checked here and against the header in `tests/abi.rs`.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MmapProducer {
    pub(crate) tail: u64,
    pub(crate) capacity: u64,
    pub(crate) flags: u64,
}

/// `struct circbuf_mmap_consumer`: the start of the consumer page, which
/// only the consumer writes; used, like [`MmapProducer`], for its offset.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MmapConsumer {
    pub(crate) head: u64,
}

/// `struct circbuf_stats`: a snapshot of the device's state and counters.
///
/// Field order and widths are part of the UAPI; every field is a `u64` so
/// 32-bit and 64-bit processes share one layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Size of the ring in bytes (the module's `buffer_size`).
    pub capacity: u64,
    /// Bytes waiting to be read.
    pub used: u64,
    /// Bytes that can be written without blocking.
    pub available: u64,
    /// Read calls that returned data, since the module was loaded.
    pub reads: u64,
    /// Write calls that stored data, since the module was loaded.
    pub writes: u64,
    /// Bytes handed to readers, since the module was loaded.
    pub bytes_read: u64,
    /// Bytes accepted from writers, since the module was loaded.
    pub bytes_written: u64,
    /// Open files with read access.
    pub readers: u64,
    /// Open files with write access.
    pub writers: u64,
    /// Times a reader slept on an empty ring.
    pub read_waits: u64,
    /// Times a writer slept on a full ring.
    pub write_waits: u64,
    /// The [`Mode`], as its UAPI number (see [`Stats::mode`]).
    pub mode: u64,
    /// Bytes that overwriting writes dropped, since the module was loaded.
    pub dropped_bytes: u64,
    /// Records that overwriting writes dropped, since the module was loaded;
    /// on the telemetry device, samples dropped to make room or discarded.
    pub dropped_records: u64,
    /// The [`Source`], as its UAPI number (see [`Stats::source`]).
    pub source: u64,
    /// The rate the source runs or would run at, in Hz; 0 on `/dev/circbuf`.
    pub rate_hz: u64,
}

// The ioctl size field and the C layout both depend on this; a mistake here
// would let the kernel write past the end of a `Stats`.
const _: () = assert!(core::mem::size_of::<Stats>() == Stats::FIELD_NAMES.len() * 8);

impl Stats {
    /// The field names, in the UAPI's order.
    pub const FIELD_NAMES: [&'static str; 16] = [
        "capacity",
        "used",
        "available",
        "reads",
        "writes",
        "bytes_read",
        "bytes_written",
        "readers",
        "writers",
        "read_waits",
        "write_waits",
        "mode",
        "dropped_bytes",
        "dropped_records",
        "source",
        "rate_hz",
    ];

    /// The mode, or `None` for a number this crate does not know.
    pub fn mode(&self) -> Option<Mode> {
        Mode::from_uapi(self.mode)
    }

    /// The source, or `None` for a number this crate does not know.
    pub fn source(&self) -> Option<Source> {
        Source::from_uapi(self.source)
    }

    /// Each field as a `(name, value)` pair, in the UAPI's order.
    pub fn fields(&self) -> [(&'static str, u64); 16] {
        let values = [
            self.capacity,
            self.used,
            self.available,
            self.reads,
            self.writes,
            self.bytes_read,
            self.bytes_written,
            self.readers,
            self.writers,
            self.read_waits,
            self.write_waits,
            self.mode,
            self.dropped_bytes,
            self.dropped_records,
            self.source,
            self.rate_hz,
        ];
        let mut out = [("", 0); 16];
        for (slot, (name, value)) in out
            .iter_mut()
            .zip(Self::FIELD_NAMES.into_iter().zip(values))
        {
            *slot = (name, value);
        }
        out
    }
}

/// `struct circbuf_sample`: one reading of the telemetry device's source.
///
/// The ring hands these out as native-endian bytes in the header's layout;
/// [`Sample::from_ne_bytes`] decodes one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// When the sample was taken, in nanoseconds of `CLOCK_MONOTONIC`.
    pub timestamp_ns: u64,
    /// 0, 1, 2, ... since the module was loaded: a gap is samples dropped.
    pub seq: u64,
    /// The simulated temperature, in milli-degrees Celsius.
    pub value: i32,
    /// `CIRCBUF_SAMPLE_*` bits, such as [`Sample::FIRST`].
    pub flags: u32,
}

// The decoder reads the fields at these offsets from this many bytes, and
// readers size their buffers with it.
const _: () = assert!(core::mem::size_of::<Sample>() == Sample::SIZE);

impl Sample {
    /// `sizeof(struct circbuf_sample)`: the unit of every read.
    pub const SIZE: usize = 24;

    /// `CIRCBUF_SAMPLE_FIRST`: the first sample after the source (re)started,
    /// where the spacing of timestamps restarts.
    pub const FIRST: u32 = 0x1;

    /// Decodes a sample from the bytes a read of the device returned.
    pub fn from_ne_bytes(bytes: &[u8; Sample::SIZE]) -> Sample {
        fn field<const N: usize>(bytes: &[u8; Sample::SIZE], offset: usize) -> [u8; N] {
            bytes[offset..offset + N]
                .try_into()
                .expect("the slice is N bytes long")
        }
        Sample {
            timestamp_ns: u64::from_ne_bytes(field(bytes, offset_of!(Sample, timestamp_ns))),
            seq: u64::from_ne_bytes(field(bytes, offset_of!(Sample, seq))),
            value: i32::from_ne_bytes(field(bytes, offset_of!(Sample, value))),
            flags: u32::from_ne_bytes(field(bytes, offset_of!(Sample, flags))),
        }
    }

    /// Whether this is the first sample after the source (re)started.
    pub fn is_first(&self) -> bool {
        self.flags & Sample::FIRST != 0
    }

    /// The temperature in degrees Celsius.
    pub fn celsius(&self) -> f64 {
        f64::from(self.value) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_uapi_order() {
        let stats = Stats {
            capacity: 1,
            used: 2,
            available: 3,
            reads: 4,
            writes: 5,
            bytes_read: 6,
            bytes_written: 7,
            readers: 8,
            writers: 9,
            read_waits: 10,
            write_waits: 11,
            mode: 12,
            dropped_bytes: 13,
            dropped_records: 14,
            source: 15,
            rate_hz: 16,
        };
        let fields = stats.fields();
        for (i, (name, value)) in fields.iter().enumerate() {
            assert_eq!(*name, Stats::FIELD_NAMES[i]);
            assert_eq!(*value, i as u64 + 1, "field {name}");
        }
    }

    #[test]
    fn modes_round_trip() {
        for mode in [Mode::Block, Mode::Overwrite] {
            assert_eq!(Mode::from_uapi(mode.to_uapi().into()), Some(mode));
        }
        assert_eq!(Mode::from_uapi(2), None);
        let stats = Stats {
            mode: 1,
            ..Stats::default()
        };
        assert_eq!(stats.mode(), Some(Mode::Overwrite));
    }

    #[test]
    fn sources_round_trip() {
        for source in [Source::None, Source::Thermal] {
            assert_eq!(Source::from_uapi(source.to_uapi().into()), Some(source));
        }
        assert_eq!(Source::from_uapi(2), None);
        let stats = Stats {
            source: 1,
            ..Stats::default()
        };
        assert_eq!(stats.source(), Some(Source::Thermal));
        assert_eq!(Source::Thermal.name(), "thermal");
    }

    #[test]
    fn source_request_has_the_header_layout() {
        assert_eq!(offset_of!(SourceRequest, source), 0);
        assert_eq!(offset_of!(SourceRequest, rate_hz), 4);
        assert_eq!(core::mem::size_of::<SourceRequest>(), 8);
    }

    #[test]
    fn mapped_pages_have_the_header_layout() {
        assert_eq!(offset_of!(MmapProducer, tail), 0);
        assert_eq!(offset_of!(MmapProducer, capacity), 8);
        assert_eq!(offset_of!(MmapProducer, flags), 16);
        assert_eq!(core::mem::size_of::<MmapProducer>(), 24);
        assert_eq!(offset_of!(MmapConsumer, head), 0);
        assert_eq!(core::mem::size_of::<MmapConsumer>(), 8);
    }

    #[test]
    fn sample_decodes_native_endian_fields_at_their_offsets() {
        let mut bytes = [0u8; Sample::SIZE];
        bytes[0..8].copy_from_slice(&1_234_567_890_123u64.to_ne_bytes());
        bytes[8..16].copy_from_slice(&42u64.to_ne_bytes());
        bytes[16..20].copy_from_slice(&(-1_250i32).to_ne_bytes());
        bytes[20..24].copy_from_slice(&Sample::FIRST.to_ne_bytes());
        let sample = Sample::from_ne_bytes(&bytes);
        assert_eq!(
            sample,
            Sample {
                timestamp_ns: 1_234_567_890_123,
                seq: 42,
                value: -1_250,
                flags: Sample::FIRST,
            }
        );
        assert!(sample.is_first());
        assert_eq!(sample.celsius(), -1.25);
        assert!(!Sample::default().is_first());
    }

    #[test]
    fn json_uses_struct_field_names_in_order() {
        let stats = Stats {
            bytes_written: 42,
            ..Stats::default()
        };
        let json = serde_json::to_string(&stats).expect("Stats serializes");
        let mut last = 0;
        for name in Stats::FIELD_NAMES {
            let at = json
                .find(&format!("\"{name}\":"))
                .unwrap_or_else(|| panic!("{name} missing in {json}"));
            assert!(at >= last, "{name} out of order in {json}");
            last = at;
        }
        assert!(json.contains("\"bytes_written\":42"), "{json}");
        let back: Stats = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, stats);
    }
}
