/* SPDX-License-Identifier: GPL-2.0 */
/*
 * circbuf_example.c: the smallest complete use of /dev/circbuf from C.
 *
 * Writes a message, waits until it is readable, reads it back, fetches the
 * statistics with CIRCBUF_GET_STATS and prints them. Exits non-zero if
 * anything differs from what the device promises.
 *
 * Build and run from the top of the checkout:
 *
 *   cc -Wall -Werror -I include/uapi -o /tmp/circbuf_example examples/circbuf_example.c
 *   /tmp/circbuf_example [DEVICE]
 *
 * The device should be idle: nobody else reading or writing it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/circbuf.h>

/* Short enough to fit even a tiny ring in one atomic write. */
static const char message[] = "hello, circbuf";
#define MESSAGE_LEN (sizeof(message) - 1)

static int fail(const char *path, const char *what)
{
	fprintf(stderr, "circbuf_example: %s: %s: %s\n", path, what,
		strerror(errno));
	return 1;
}

static int mismatch(const char *what, unsigned long long got,
		    unsigned long long want)
{
	fprintf(stderr, "circbuf_example: %s is %llu, expected %llu\n", what,
		got, want);
	return 1;
}

static void print_field(const char *name, __u64 value)
{
	printf("%-15s %llu\n", name, (unsigned long long)value);
}

static void print_stats(const struct circbuf_stats *s)
{
	print_field("capacity", s->capacity);
	print_field("used", s->used);
	print_field("available", s->available);
	print_field("reads", s->reads);
	print_field("writes", s->writes);
	print_field("bytes_read", s->bytes_read);
	print_field("bytes_written", s->bytes_written);
	print_field("readers", s->readers);
	print_field("writers", s->writers);
	print_field("read_waits", s->read_waits);
	print_field("write_waits", s->write_waits);
	printf("%-15s %s\n", "mode",
	       s->mode == CIRCBUF_MODE_OVERWRITE ? "overwrite" : "block");
	print_field("dropped_bytes", s->dropped_bytes);
	print_field("dropped_records", s->dropped_records);
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/circbuf";
	struct circbuf_stats before, after;
	struct pollfd pfd;
	char buf[MESSAGE_LEN + 16];
	ssize_t n;
	int pending;
	int fd;

	/*
	 * O_NONBLOCK so that an example can never hang: on a busy or
	 * misbehaving device it fails with EAGAIN instead of sleeping.
	 */
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			fprintf(stderr,
				"circbuf_example: %s: open: %s (is the circbuf module loaded?)\n",
				path, strerror(errno));
		else
			fail(path, "open");
		return 1;
	}

	if (ioctl(fd, CIRCBUF_GET_STATS, &before) < 0)
		return fail(path, "ioctl(CIRCBUF_GET_STATS)");
	if (before.used != 0)
		return mismatch("used before writing (is someone else using the device?)",
				before.used, 0);
	if (before.capacity < MESSAGE_LEN)
		return mismatch("capacity", before.capacity, MESSAGE_LEN);

	n = write(fd, message, MESSAGE_LEN);
	if (n < 0)
		return fail(path, "write");
	if ((size_t)n != MESSAGE_LEN)
		return mismatch("bytes written", n, MESSAGE_LEN);

	pfd.fd = fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 1000) < 0)
		return fail(path, "poll");
	if (!(pfd.revents & POLLIN))
		return mismatch("POLLIN after a write", 0, 1);

	if (ioctl(fd, FIONREAD, &pending) < 0)
		return fail(path, "ioctl(FIONREAD)");
	if ((size_t)pending != MESSAGE_LEN)
		return mismatch("FIONREAD", pending, MESSAGE_LEN);

	/* Asking for more than is there returns what is there. */
	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		return fail(path, "read");
	if ((size_t)n != MESSAGE_LEN)
		return mismatch("bytes read", n, MESSAGE_LEN);
	if (memcmp(buf, message, MESSAGE_LEN) != 0) {
		fprintf(stderr, "circbuf_example: read back \"%.*s\", wrote \"%s\"\n",
			(int)n, buf, message);
		return 1;
	}

	if (ioctl(fd, CIRCBUF_GET_STATS, &after) < 0)
		return fail(path, "ioctl(CIRCBUF_GET_STATS)");
	print_stats(&after);

	if (after.used != 0)
		return mismatch("used after reading", after.used, 0);
	if (after.available != after.capacity)
		return mismatch("available after reading", after.available,
				after.capacity);
	if (after.bytes_written - before.bytes_written != MESSAGE_LEN)
		return mismatch("bytes_written delta",
				after.bytes_written - before.bytes_written,
				MESSAGE_LEN);
	if (after.bytes_read - before.bytes_read != MESSAGE_LEN)
		return mismatch("bytes_read delta",
				after.bytes_read - before.bytes_read, MESSAGE_LEN);
	if (after.writes - before.writes != 1)
		return mismatch("writes delta", after.writes - before.writes, 1);
	if (after.reads - before.reads != 1)
		return mismatch("reads delta", after.reads - before.reads, 1);

	if (close(fd) < 0)
		return fail(path, "close");
	printf("circbuf_example: OK\n");
	return 0;
}
