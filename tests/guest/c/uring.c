// SPDX-License-Identifier: GPL-2.0
/*
 * Built by test_uring.py: reads and writes /dev/circbuf through io_uring,
 * with raw system calls (no liburing). `uring CASE` runs one case on the
 * device and prints its results as NAME=VALUE pairs; a completion's `res`
 * is a byte count or a negative errno, as io_uring reports it.
 *
 *   read-later   a read of the empty ring, pending after submission, then
 *                write(2) of "later": the read completes with it
 *   read-nowait  a read of the empty ring with RWF_NOWAIT
 *   write        a write of "via-io_uring", then read(2) of what is stored
 *   write-nowait a write of one byte with RWF_NOWAIT into a full ring
 *
 * Exits 77 when the kernel has no io_uring (io_uring_setup fails with
 * ENOSYS), 1 on any other failure. An alarm ends a case that hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/circbuf.h>
#include <linux/io_uring.h>

#define DEADLINE 60

struct ring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static void fail(const char *what)
{
	perror(what);
	_exit(1);
}

static void setup(struct ring *r)
{
	struct io_uring_params p;
	size_t sq_size, cq_size;
	char *sq;

	memset(&p, 0, sizeof(p));
	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0 && errno == ENOSYS) {
		puts("ENOSYS");
		_exit(77);
	}
	if (r->fd < 0)
		fail("io_uring_setup");
	sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (!(p.features & IORING_FEAT_SINGLE_MMAP))
		fail("io_uring without IORING_FEAT_SINGLE_MMAP");
	if (cq_size > sq_size)
		sq_size = cq_size;
	sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		  IORING_OFF_SQ_RING);
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || r->sqes == MAP_FAILED)
		fail("mmap");
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(sq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(sq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(sq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(sq + p.cq_off.cqes);
}

/* Submits one read or write of the device at its current position. */
static void submit(struct ring *r, int opcode, int fd, void *buf, unsigned int len, int rw_flags)
{
	unsigned int tail = *r->sq_tail, index = tail & *r->sq_mask;
	struct io_uring_sqe *sqe = &r->sqes[index];

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = opcode;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)buf;
	sqe->len = len;
	sqe->off = -1;
	sqe->rw_flags = rw_flags;
	r->sq_array[index] = index;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 0, 0, NULL, 0) != 1)
		fail("io_uring_enter (submit)");
}

/* Whether a completion is there; if so, takes it and stores its result. */
static int take_completion(struct ring *r, int *res)
{
	unsigned int head = *r->cq_head;

	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		return 0;
	*res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return 1;
}

static int wait_completion(struct ring *r)
{
	int res;

	if (syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		fail("io_uring_enter (wait)");
	if (!take_completion(r, &res))
		fail("no completion after waiting for one");
	return res;
}

static struct circbuf_stats stats(int fd)
{
	struct circbuf_stats s;

	if (ioctl(fd, CIRCBUF_GET_STATS, &s))
		fail("CIRCBUF_GET_STATS");
	return s;
}

int main(int argc, char **argv)
{
	char buf[8192];
	struct ring r;
	int fd, res;
	ssize_t n;

	if (argc != 2)
		return 2;
	alarm(DEADLINE);
	setvbuf(stdout, NULL, _IONBF, 0);
	setup(&r);
	fd = open("/dev/circbuf", O_RDWR);
	if (fd < 0)
		fail("/dev/circbuf");
	memset(buf, 0, sizeof(buf));
	if (!strcmp(argv[1], "read-later")) {
		submit(&r, IORING_OP_READ, fd, buf, 64, 0);
		/* Submission tried the read at once and left it waiting. */
		printf("pending=%d", !take_completion(&r, &res));
		if (write(fd, "later", 5) != 5)
			fail("write");
		res = wait_completion(&r);
		printf(" res=%d data=%s\n", res, buf);
	} else if (!strcmp(argv[1], "read-nowait")) {
		submit(&r, IORING_OP_READ, fd, buf, 64, RWF_NOWAIT);
		printf("res=%d\n", wait_completion(&r));
	} else if (!strcmp(argv[1], "write")) {
		submit(&r, IORING_OP_WRITE, fd, "via-io_uring", 12, 0);
		res = wait_completion(&r);
		n = read(fd, buf, sizeof(buf) - 1);
		printf("res=%d read=%zd data=%s\n", res, n, buf);
	} else if (!strcmp(argv[1], "write-nowait")) {
		unsigned long long capacity = stats(fd).capacity;

		if (capacity > sizeof(buf) || write(fd, buf, capacity) != (ssize_t)capacity)
			fail("filling the ring");
		submit(&r, IORING_OP_WRITE, fd, "x", 1, RWF_NOWAIT);
		res = wait_completion(&r);
		printf("res=%d used=%llu capacity=%llu\n", res,
		       (unsigned long long)stats(fd).used, capacity);
	} else {
		return 2;
	}
	return 0;
}
