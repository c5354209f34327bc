// SPDX-License-Identifier: GPL-2.0
/*
 * Built with -m32 by test_compat.py: a 32-bit process uses the ioctls through
 * compat_ioctl and must see the same layout and values as a 64-bit one.
 * Prints the statistics after writing the five bytes given as argv[1].
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/circbuf.h>

int main(int argc, char **argv)
{
	struct circbuf_stats stats;
	int fd, available;

	if (argc != 2)
		return 2;
	fd = open("/dev/circbuf", O_RDWR);
	if (fd < 0 || write(fd, argv[1], strlen(argv[1])) != (ssize_t)strlen(argv[1])) {
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
	return 0;
}
