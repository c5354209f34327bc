// SPDX-License-Identifier: GPL-2.0
/*
 * Built with -m32 by test_compat.py: a 32-bit process uses the ioctls through
 * compat_ioctl and must see the same layout, values and errors as a 64-bit
 * one. Writes the five bytes given as argv[1] and prints the statistics,
 * then what CIRCBUF_SET_MODE and CIRCBUF_RESET return, with good and bad
 * arguments and without write access, as NAME=RESULT pairs: RESULT is 0 or
 * the errno's name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/circbuf.h>

static const char *outcome(int ret)
{
	if (ret == 0)
		return "0";
	switch (errno) {
	case EBADF:
		return "EBADF";
	case EFAULT:
		return "EFAULT";
	case EINVAL:
		return "EINVAL";
	case ENOTTY:
		return "ENOTTY";
	default:
		return strerror(errno);
	}
}

static const char *set_mode(int fd, __u32 mode)
{
	return outcome(ioctl(fd, CIRCBUF_SET_MODE, &mode));
}

static unsigned long long field(int fd, int offset)
{
	struct circbuf_stats stats;

	if (ioctl(fd, CIRCBUF_GET_STATS, &stats))
		return ~0ULL;
	return *(__u64 *)((char *)&stats + offset);
}

int main(int argc, char **argv)
{
	struct circbuf_stats stats;
	int fd, rd, available;

	if (argc != 2)
		return 2;
	fd = open("/dev/circbuf", O_RDWR);
	rd = open("/dev/circbuf", O_RDONLY | O_NONBLOCK);
	if (fd < 0 || rd < 0 || write(fd, argv[1], strlen(argv[1])) != (ssize_t)strlen(argv[1])) {
		perror("circbuf");
		return 1;
	}
	if (ioctl(fd, CIRCBUF_GET_STATS, &stats) || ioctl(fd, FIONREAD, &available)) {
		perror("ioctl");
		return 1;
	}
	printf("sizeof=%zu capacity=%llu used=%llu writes=%llu bytes_written=%llu fionread=%d\n",
	       sizeof(stats), (unsigned long long)stats.capacity,
	       (unsigned long long)stats.used, (unsigned long long)stats.writes,
	       (unsigned long long)stats.bytes_written, available);

	printf("set_overwrite=%s", set_mode(fd, CIRCBUF_MODE_OVERWRITE));
	printf(" mode_then=%llu", field(fd, offsetof(struct circbuf_stats, mode)));
	printf(" set_mode_2=%s", set_mode(fd, 2));
	printf(" set_mode_max=%s", set_mode(fd, UINT32_MAX));
	printf(" set_mode_null=%s", outcome(ioctl(fd, CIRCBUF_SET_MODE, NULL)));
	printf(" set_mode_read_only=%s", set_mode(rd, CIRCBUF_MODE_BLOCK));
	printf(" mode_after_errors=%llu", field(fd, offsetof(struct circbuf_stats, mode)));
	printf(" set_block=%s", set_mode(fd, CIRCBUF_MODE_BLOCK));
	printf(" mode_at_end=%llu\n", field(fd, offsetof(struct circbuf_stats, mode)));

	printf("reset_read_only=%s", outcome(ioctl(rd, CIRCBUF_RESET)));
	printf(" used_then=%llu", field(fd, offsetof(struct circbuf_stats, used)));
	printf(" reset=%s", outcome(ioctl(fd, CIRCBUF_RESET)));
	printf(" used_after_reset=%llu", field(fd, offsetof(struct circbuf_stats, used)));
	printf(" bytes_written_after_reset=%llu\n", field(fd, offsetof(struct circbuf_stats, bytes_written)));
	return 0;
}
