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

/*
 * The mapped consumer. A reader of /dev/circbuf may map the ring and read
 * its bytes in place instead of calling read(2). It opens the device
 * O_RDWR (a shared mapping that user space writes needs a file open for
 * writing) and maps two areas from one file:
 *
 *   page offset CIRCBUF_MMAP_CONSUMER_PGOFF, one page, PROT_READ|PROT_WRITE:
 *     struct circbuf_mmap_consumer, which only the consumer writes once
 *     the kernel has set it to the current head at the first mmap;
 *   page offset CIRCBUF_MMAP_PRODUCER_PGOFF, one page plus twice the
 *     capacity, PROT_READ only: struct circbuf_mmap_producer in the first
 *     page, then the ring's data pages, twice in a row, so that the
 *     `tail - head` bytes from `data + head % capacity` are contiguous.
 *
 * The first mmap of either area makes the file the mapped consumer, until
 * its last close; a mapping holds its file open, so that is after the last
 * munmap too. From that mmap on, the file's own write access no longer
 * counts as a writer for its end of file (CIRCBUF_GET_STATS's `writers`
 * still counts it).
 *
 * Positions count bytes since the device was loaded; the consumer needs
 * 64-bit atomic loads and stores. They wrap at 2^64, which keeps
 * `head % capacity` right only for a capacity that is a power of two; no
 * device lives to move 2^64 bytes. The consumer loads `tail` with acquire
 * ordering, reads the bytes before it, then stores the new `head` with
 * release ordering. The kernel takes in a `head` only when it lies between
 * the last one it took and `tail`, and ignores any other value: a consumer
 * that writes garbage loses only its own data. The kernel reads `head` when
 * the consumer polls, when a writer finds the ring full, on
 * CIRCBUF_WAKE_WRITERS and CIRCBUF_GET_STATS, and at the last close;
 * whatever is left unread then stays for read(2).
 *
 * One file at a time is the mapped consumer; mmap from another fails with
 * EBUSY, and so does every read(2). The first mmap fails with EAGAIN while
 * a read(2) or CIRCBUF_GET_STATS holds the reader side: try again. The
 * ring must be in block mode and its capacity a multiple of the page size
 * (EINVAL otherwise); while it is mapped, CIRCBUF_RESET and
 * CIRCBUF_SET_MODE to OVERWRITE fail with EBUSY. Mappings are not
 * inherited across fork(). /dev/circbuf_telemetry cannot be mapped
 * (ENODEV), and CIRCBUF_WAKE_WRITERS fails there with ENOTTY.
 */
#define CIRCBUF_MMAP_CONSUMER_PGOFF 0
#define CIRCBUF_MMAP_PRODUCER_PGOFF 1

struct circbuf_mmap_producer {
	__u64 tail;		/* bytes ever written; the consumer reads up to here */
	__u64 capacity;		/* data bytes, a multiple of the page size */
	__u64 flags;		/* CIRCBUF_MMAP_* flags */
};

/*
 * A writer is waiting for room. After it stores `head`, the consumer issues
 * a full memory barrier, loads `flags`, and if this is set calls
 * CIRCBUF_WAKE_WRITERS; a consumer that keeps up makes no system call.
 */
#define CIRCBUF_MMAP_WRITERS_WAITING 0x1

struct circbuf_mmap_consumer {
	__u64 head;		/* bytes consumed; only the consumer writes it */
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

/*
 * Takes in the mapped consumer's `head` and wakes the writers waiting for
 * the room it frees. Any file may call it; without a mapped consumer it
 * does nothing.
 */
#define CIRCBUF_WAKE_WRITERS _IO(CIRCBUF_IOC_MAGIC, 0x05)

#endif /* _UAPI_LINUX_CIRCBUF_H */
