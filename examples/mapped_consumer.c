/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mapped_consumer.c: reads /dev/circbuf in place, as its mapped (zero-copy)
 * consumer, from C.
 *
 * Maps the consumer page and the producer area the way
 * include/uapi/linux/circbuf.h lays them out, waits for data with poll,
 * checksums each byte where the kernel put it, hands the room back by
 * storing head, wakes the writers that wait for that room, and stops at end
 * of file: when no writer has the device open and nothing is left. Then it
 * prints, as its last line,
 *
 *   mapped_consumer: consumed N bytes, crc32 XXXXXXXX
 *
 * the CRC-32 that zlib.crc32 (and `gzip -l`, and Python's binascii.crc32)
 * computes, so a test can compare it with a checksum of what it wrote.
 * Exits non-zero if anything differs from what the device promises.
 *
 * Build and run from the top of the checkout:
 *
 *   cc -Wall -Wextra -Werror -std=c11 -I include/uapi -o /tmp/mapped_consumer examples/mapped_consumer.c
 *   /tmp/mapped_consumer [DEVICE] &
 *   head -c 1000000 /dev/urandom > /dev/circbuf
 *
 * The ring must be in block mode and nobody else reading it: while this
 * runs, read(2) on the device fails with EBUSY.
 */
/* O_CLOEXEC, which -std=c11 alone does not declare. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/circbuf.h>

/* The page layouts are UAPI: a header that changed them would break us. */
_Static_assert(sizeof(struct circbuf_mmap_producer) == 24,
	       "struct circbuf_mmap_producer is 24 bytes");
_Static_assert(sizeof(struct circbuf_mmap_consumer) == 8,
	       "struct circbuf_mmap_consumer is 8 bytes");

static int fail(const char *path, const char *what)
{
	fprintf(stderr, "mapped_consumer: %s: %s: %s\n", path, what,
		strerror(errno));
	return 1;
}

static uint32_t crc_table[256];

/* The table of the reflected CRC-32 polynomial 0xEDB88320 (zlib's). */
static void crc32_init(void)
{
	uint32_t i, c;
	int k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* Extends `crc` (0 to start) over `n` more bytes, as zlib.crc32(p, crc). */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/*
 * Sleeps until the ring has data (returns POLLIN) or no writer is left
 * (POLLHUP); -1 with errno set on failure. poll also makes the kernel take
 * in the head we stored.
 */
static int wait_for_data(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	for (;;) {
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd.revents & POLLIN)
			return POLLIN;
		if (pfd.revents & POLLHUP)
			return POLLHUP;
		if (pfd.revents & (POLLERR | POLLNVAL)) {
			errno = EIO;
			return -1;
		}
	}
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/circbuf";
	const struct circbuf_mmap_producer *producer;
	struct circbuf_mmap_consumer *consumer;
	unsigned long long batches = 0, polls = 0, wakes = 0;
	const unsigned char *data;
	struct circbuf_stats stats;
	size_t page, producer_len;
	__u64 capacity, head, tail, n, total = 0;
	uint32_t crc = 0;
	void *consumer_map, *producer_map;
	int woken = 0; /* what poll last said, or 0 */
	int fd;

	crc32_init();
	page = (size_t)sysconf(_SC_PAGESIZE);

	/*
	 * Write access: the consumer page is a shared writable mapping, which
	 * needs a file open for writing. Once mapped, the file no longer
	 * counts as a writer, so end of file still comes.
	 */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			fprintf(stderr,
				"mapped_consumer: %s: open: %s (is the circbuf module loaded?)\n",
				path, strerror(errno));
		else
			fail(path, "open");
		return 1;
	}

	/* The capacity sizes the producer area, so learn it first. */
	if (ioctl(fd, CIRCBUF_GET_STATS, &stats) < 0)
		return fail(path, "ioctl(CIRCBUF_GET_STATS)");
	capacity = stats.capacity;
	if (capacity == 0 || capacity % page != 0 ||
	    capacity > (SIZE_MAX - page) / 2) {
		fprintf(stderr,
			"mapped_consumer: %s: a capacity of %llu bytes cannot be mapped with %zu-byte pages\n",
			path, (unsigned long long)capacity, page);
		return 1;
	}
	producer_len = page + 2 * (size_t)capacity;

	consumer_map = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			    (off_t)(CIRCBUF_MMAP_CONSUMER_PGOFF * page));
	if (consumer_map == MAP_FAILED)
		return fail(path, "mmap(consumer page)");
	/* The producer page, then the data pages twice: read-only. */
	producer_map = mmap(NULL, producer_len, PROT_READ, MAP_SHARED, fd,
			    (off_t)(CIRCBUF_MMAP_PRODUCER_PGOFF * page));
	if (producer_map == MAP_FAILED)
		return fail(path, "mmap(producer area)");
	consumer = consumer_map;
	producer = producer_map;
	data = (const unsigned char *)producer_map + page;

	/* The kernel shares these words: every access is atomic, none plain. */
	n = __atomic_load_n(&producer->capacity, __ATOMIC_RELAXED);
	if (n != capacity) {
		fprintf(stderr,
			"mapped_consumer: the producer page says capacity %llu, CIRCBUF_GET_STATS %llu\n",
			(unsigned long long)n, (unsigned long long)capacity);
		return 1;
	}
	/* Where read(2) left off; from now on only we store head. */
	head = __atomic_load_n(&consumer->head, __ATOMIC_RELAXED);

	for (;;) {
		/* Pairs with the kernel's release store: the bytes are there. */
		tail = __atomic_load_n(&producer->tail, __ATOMIC_ACQUIRE);
		n = tail - head; /* positions wrap at 2^64 */
		if (n > capacity) {
			fprintf(stderr,
				"mapped_consumer: tail %llu is %llu bytes past head %llu, more than the capacity\n",
				(unsigned long long)tail, (unsigned long long)n,
				(unsigned long long)head);
			return 1;
		}
		if (n == 0) {
			/*
			 * Hung up and still nothing: end of file. POLLIN only
			 * means "look again": poll counts bytes a writer has
			 * stored but not yet published in tail.
			 */
			if (woken == POLLHUP)
				break;
			woken = wait_for_data(fd);
			if (woken < 0)
				return fail(path, "poll");
			polls++;
			continue;
		}
		woken = 0;

		/* In place: the second copy of the data pages makes it one run. */
		crc = crc32_update(crc, data + head % capacity, (size_t)n);
		head += n;
		total += n;
		batches++;

		/* Our reads of those bytes come before the kernel may reuse them. */
		__atomic_store_n(&consumer->head, head, __ATOMIC_RELEASE);
		/*
		 * A writer that finds the ring full sets WRITERS_WAITING, issues a
		 * full barrier and reads head again; with this one, either it sees
		 * our head or we see its flag, so no writer sleeps on room we freed.
		 */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n(&producer->flags, __ATOMIC_RELAXED) &
		    CIRCBUF_MMAP_WRITERS_WAITING) {
			if (ioctl(fd, CIRCBUF_WAKE_WRITERS) < 0)
				return fail(path, "ioctl(CIRCBUF_WAKE_WRITERS)");
			wakes++;
		}
	}

	if (munmap(producer_map, producer_len) < 0)
		return fail(path, "munmap(producer area)");
	if (munmap(consumer_map, page) < 0)
		return fail(path, "munmap(consumer page)");
	if (close(fd) < 0)
		return fail(path, "close");
	printf("mapped_consumer: capacity %llu, %llu batches, %llu polls, %llu writer wake-ups\n",
	       (unsigned long long)capacity, batches, polls, wakes);
	printf("mapped_consumer: consumed %llu bytes, crc32 %08x\n",
	       (unsigned long long)total, (unsigned)crc);
	return 0;
}
