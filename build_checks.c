// SPDX-License-Identifier: GPL-2.0
/*
 * Compile-time checks of the values circbuf's Rust code restates because
 * bindgen cannot evaluate their C definitions, and of the UAPI header
 * against the layout the Rust code writes. Nothing here is linked into the
 * module: if the two disagree, the build stops.
 */
#include <linux/build_bug.h>
#include <linux/fs.h>
#include <linux/stddef.h>
#include <linux/version.h>
#include <asm/ioctls.h>
#include <uapi/linux/circbuf.h>

/* fileops.rs: IOCB_NOWAIT */
static_assert(IOCB_NOWAIT == 0x8, "update IOCB_NOWAIT in fileops.rs");

/* fileops.rs: FMODE_NOWAIT */
static_assert(FMODE_NOWAIT == (__force fmode_t)(1 << 27), "update FMODE_NOWAIT in fileops.rs");

#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 3, 0)
/* compat.rs: FIONREAD, which 7.2's Rust bindings lack */
static_assert(FIONREAD == 0x541B, "update FIONREAD in compat.rs");
#endif

/*
 * stats.rs: UapiStats is [u64; 16], filled by Stats::to_uapi() in this
 * field order; ioctl.rs: the command numbers, built from that size.
 */
#define CIRCBUF_FIELD_AT(field, index)                                         \
	static_assert(offsetof(struct circbuf_stats, field) == (index) * 8 &&  \
			      sizeof_field(struct circbuf_stats, field) == 8,  \
		      "update Stats::to_uapi() in stats.rs: " #field)
CIRCBUF_FIELD_AT(capacity, 0);
CIRCBUF_FIELD_AT(used, 1);
CIRCBUF_FIELD_AT(available, 2);
CIRCBUF_FIELD_AT(reads, 3);
CIRCBUF_FIELD_AT(writes, 4);
CIRCBUF_FIELD_AT(bytes_read, 5);
CIRCBUF_FIELD_AT(bytes_written, 6);
CIRCBUF_FIELD_AT(readers, 7);
CIRCBUF_FIELD_AT(writers, 8);
CIRCBUF_FIELD_AT(read_waits, 9);
CIRCBUF_FIELD_AT(write_waits, 10);
CIRCBUF_FIELD_AT(mode, 11);
CIRCBUF_FIELD_AT(dropped_bytes, 12);
CIRCBUF_FIELD_AT(dropped_records, 13);
CIRCBUF_FIELD_AT(source, 14);
CIRCBUF_FIELD_AT(rate_hz, 15);
static_assert(sizeof(struct circbuf_stats) == 16 * 8, "update UapiStats in stats.rs");

static_assert(CIRCBUF_GET_STATS == _IOR(0xC1, 0x01, __u64[16]), "update ioctl.rs");
static_assert(CIRCBUF_SET_SOURCE == _IOW(0xC1, 0x04, __u32[2]), "update ioctl.rs");
/* rules.rs: Source and the rate range */
static_assert(CIRCBUF_SOURCE_NONE == 0 && CIRCBUF_SOURCE_THERMAL == 1, "update rules.rs");
static_assert(CIRCBUF_RATE_MIN == 1 && CIRCBUF_RATE_MAX == 10000, "update rules.rs");
/* sensor.rs: encode() and sample_ring.rs: SAMPLE_BYTES */
static_assert(offsetof(struct circbuf_sample, timestamp_ns) == 0 &&
	      offsetof(struct circbuf_sample, seq) == 8 &&
	      offsetof(struct circbuf_sample, value) == 16 &&
	      offsetof(struct circbuf_sample, flags) == 20 &&
	      sizeof(struct circbuf_sample) == 24, "update sensor.rs and sample_ring.rs");
static_assert(CIRCBUF_SAMPLE_FIRST == 1, "update sensor.rs");
static_assert(CIRCBUF_RESET == _IO(0xC1, 0x02), "update ioctl.rs");
static_assert(CIRCBUF_SET_MODE == _IOW(0xC1, 0x03, __u32), "update ioctl.rs");
/* rules.rs: Mode::to_uapi() and Mode::from_uapi() */
static_assert(CIRCBUF_MODE_BLOCK == 0 && CIRCBUF_MODE_OVERWRITE == 1, "update rules.rs");
/* rules.rs and records.rs: the largest atomic write */
static_assert(CIRCBUF_ATOMIC_WRITE_MAX == 4096, "update rules.rs");
/* mapping.rs: the pages of the mapped consumer and their words */
static_assert(CIRCBUF_MMAP_CONSUMER_PGOFF == 0 && CIRCBUF_MMAP_PRODUCER_PGOFF == 1,
	      "update mapping.rs");
static_assert(offsetof(struct circbuf_mmap_producer, tail) == 0 * 8 &&
	      offsetof(struct circbuf_mmap_producer, capacity) == 1 * 8 &&
	      offsetof(struct circbuf_mmap_producer, flags) == 2 * 8 &&
	      sizeof(struct circbuf_mmap_producer) == 3 * 8, "update mapping.rs");
static_assert(offsetof(struct circbuf_mmap_consumer, head) == 0 &&
	      sizeof(struct circbuf_mmap_consumer) == 8, "update mapping.rs");
static_assert(CIRCBUF_MMAP_WRITERS_WAITING == 1, "update mapping.rs");
static_assert(CIRCBUF_WAKE_WRITERS == _IO(0xC1, 0x05), "update ioctl.rs");
