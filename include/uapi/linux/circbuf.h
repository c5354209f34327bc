/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * circbuf: a bounded, pipe-like byte ring in kernel memory at /dev/circbuf,
 * and a ring of samples a timer in the kernel records at
 * /dev/circbuf_telemetry.
 *
 * Every field is a fixed-width __u64 so 32-bit and 64-bit processes share
 * one layout and one ioctl number.
 */
#ifndef _UAPI_LINUX_CIRCBUF_H
#define _UAPI_LINUX_CIRCBUF_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Writes of at most this many bytes (and at most the capacity) are atomic. */
#define CIRCBUF_ATOMIC_WRITE_MAX 4096

struct circbuf_stats {
	__u64 capacity;		/* size of the ring in bytes (buffer_size) */
	__u64 used;		/* bytes waiting to be read */
	__u64 available;	/* bytes that can be written without blocking */
	__u64 reads;		/* read calls that returned data, since load */
	__u64 writes;		/* write calls that stored data, since load */
	__u64 bytes_read;	/* bytes handed to readers, since load */
	__u64 bytes_written;	/* bytes accepted from writers, since load */
	__u64 readers;		/* open files with read access */
	__u64 writers;		/* open files with write access */
	__u64 read_waits;	/* times a reader slept on an empty ring */
	__u64 write_waits;	/* times a writer slept on a full ring */
	__u64 mode;		/* CIRCBUF_MODE_BLOCK or CIRCBUF_MODE_OVERWRITE */
	__u64 dropped_bytes;	/* bytes overwriting writes dropped, since load */
	__u64 dropped_records;	/* records overwriting writes dropped, since load */
	__u64 source;		/* CIRCBUF_SOURCE_*: what runs as the kernel source */
	__u64 rate_hz;		/* the source's sample rate; 0 on /dev/circbuf */
};
/*
 * On /dev/circbuf_telemetry every sample counts as one write of
 * sizeof(struct circbuf_sample) bytes, and dropped_records counts the
 * samples dropped to make room or discarded by CIRCBUF_RESET.
 * CIRCBUF_GET_STATS numbers built for the first 14 fields, before source
 * and rate_hz, still fill those 14.
 */

/*
 * What a write does when the ring is full. BLOCK (the default) waits, as on
 * a pipe. OVERWRITE never waits: it drops the oldest whole records to make
 * room, keeping the newest data. A record is what one write stored; writes
 * longer than CIRCBUF_ATOMIC_WRITE_MAX (or the capacity) are stored as
 * records of that length. In OVERWRITE mode reads end at a record boundary
 * unless the oldest record does not fit in the read buffer.
 */
#define CIRCBUF_MODE_BLOCK 0
#define CIRCBUF_MODE_OVERWRITE 1

/*
 * A sample of /dev/circbuf_telemetry. read(2) returns whole samples only,
 * and fails with EINVAL if the buffer cannot hold one; write(2) fails with
 * EBUSY, the ring belonging to the kernel's source.
 */
struct circbuf_sample {
	__u64 timestamp_ns;	/* CLOCK_MONOTONIC, when the sample was taken */
	__u64 seq;		/* 0, 1, 2, ... since load: a gap is samples dropped */
	__s32 value;		/* the simulated temperature, in milli-degrees Celsius */
	__u32 flags;		/* CIRCBUF_SAMPLE_* */
};

/* The first sample after the source (re)started: the spacing restarts. */
#define CIRCBUF_SAMPLE_FIRST 0x1

/* What produces into a ring: nothing in the kernel, or the simulated sensor. */
#define CIRCBUF_SOURCE_NONE 0
#define CIRCBUF_SOURCE_THERMAL 1

/* The rates the telemetry source takes, in Hz. */
#define CIRCBUF_RATE_MIN 1
#define CIRCBUF_RATE_MAX 10000

struct circbuf_source {
	__u32 source;		/* CIRCBUF_SOURCE_* */
	__u32 rate_hz;		/* CIRCBUF_RATE_MIN to CIRCBUF_RATE_MAX; unused for NONE */
};

#define CIRCBUF_IOC_MAGIC 0xC1

/* Fills a struct circbuf_stats. */
#define CIRCBUF_GET_STATS _IOR(CIRCBUF_IOC_MAGIC, 0x01, struct circbuf_stats)
/* Discards the content and wakes blocked writers; needs write access. */
#define CIRCBUF_RESET _IO(CIRCBUF_IOC_MAGIC, 0x02)
/*
 * Sets the mode from a __u32 CIRCBUF_MODE_*; needs write access. The
 * telemetry ring is always in OVERWRITE mode and refuses BLOCK (EINVAL).
 */
#define CIRCBUF_SET_MODE _IOW(CIRCBUF_IOC_MAGIC, 0x03, __u32)
/*
 * Starts the telemetry source, restarts it at another rate, or stops it
 * (CIRCBUF_SOURCE_NONE); needs write access. A bad source or rate fails
 * with EINVAL. Samples already in the ring stay, and sequence numbers go
 * on. /dev/circbuf has no kernel source: THERMAL fails there with ENOTTY.
 */
#define CIRCBUF_SET_SOURCE _IOW(CIRCBUF_IOC_MAGIC, 0x04, struct circbuf_source)

#endif /* _UAPI_LINUX_CIRCBUF_H */
