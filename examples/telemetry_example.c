/* SPDX-License-Identifier: GPL-2.0 */
/*
 * telemetry_example.c: the smallest complete use of /dev/circbuf_telemetry
 * from C.
 *
 * Starts the kernel's simulated temperature source at 1000 Hz with
 * CIRCBUF_SET_SOURCE, reads at least 100 samples with blocking reads,
 * checks that sequence numbers increase and timestamps never go back,
 * prints the first few as `seq / time / value` lines, stops the source and
 * prints what CIRCBUF_GET_STATS says about it. Exits non-zero if anything
 * differs from what the device promises.
 *
 * Build and run from the top of the checkout:
 *
 *   cc -Wall -Werror -I include/uapi -o /tmp/telemetry_example examples/telemetry_example.c
 *   /tmp/telemetry_example [DEVICE]
 *
 * The device should be idle: nobody else reading it or driving its source.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/circbuf.h>

/* The sample layout is UAPI: a header that changed it would break readers. */
_Static_assert(sizeof(struct circbuf_sample) == 24,
	       "struct circbuf_sample is 24 bytes");

#define RATE_HZ 1000
#define WANTED 100
#define PRINTED 5
/* One read takes as many whole samples as are waiting, up to this many. */
#define BATCH 32

static int fail(const char *path, const char *what)
{
	fprintf(stderr, "telemetry_example: %s: %s: %s\n", path, what,
		strerror(errno));
	return 1;
}

static int mismatch(const char *what, unsigned long long got,
		    unsigned long long want)
{
	fprintf(stderr, "telemetry_example: %s is %llu, expected %llu\n", what,
		got, want);
	return 1;
}

static int set_source(int fd, __u32 source, __u32 rate_hz)
{
	struct circbuf_source request = { .source = source, .rate_hz = rate_hz };

	return ioctl(fd, CIRCBUF_SET_SOURCE, &request);
}

static void print_sample(const struct circbuf_sample *s)
{
	printf("%llu / %llu.%09llu / %.3f\n", (unsigned long long)s->seq,
	       (unsigned long long)(s->timestamp_ns / 1000000000),
	       (unsigned long long)(s->timestamp_ns % 1000000000),
	       s->value / 1000.0);
}

/* What the samples read so far were like. */
struct run {
	struct circbuf_sample first, last;
	unsigned long count;
	/* Sequence numbers skipped: samples dropped before they were read. */
	unsigned long long skipped;
};

/* Checks `n` samples, in the order read, against those before them. */
static int check_samples(const struct circbuf_sample *samples, size_t n,
			 struct run *run)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const struct circbuf_sample *s = &samples[i];
		const struct circbuf_sample *last = &run->last;

		if (run->count == 0) {
			run->first = *s;
		} else if (s->seq <= last->seq) {
			fprintf(stderr, "telemetry_example: seq %llu follows seq %llu\n",
				(unsigned long long)s->seq,
				(unsigned long long)last->seq);
			return 1;
		} else if (s->timestamp_ns < last->timestamp_ns) {
			fprintf(stderr,
				"telemetry_example: seq %llu was taken at %llu ns, before seq %llu at %llu ns\n",
				(unsigned long long)s->seq,
				(unsigned long long)s->timestamp_ns,
				(unsigned long long)last->seq,
				(unsigned long long)last->timestamp_ns);
			return 1;
		} else {
			run->skipped += s->seq - last->seq - 1;
		}
		if (run->count < PRINTED)
			print_sample(s);
		run->last = *s;
		run->count++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/circbuf_telemetry";
	struct circbuf_sample samples[BATCH];
	struct run run = { .count = 0 };
	struct circbuf_stats stats;
	ssize_t n;
	int fd;

	/* Write access: starting and stopping the source needs it. */
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENXIO || errno == ENODEV)
			fprintf(stderr,
				"telemetry_example: %s: open: %s (is the circbuf module loaded?)\n",
				path, strerror(errno));
		else
			fail(path, "open");
		return 1;
	}

	if (set_source(fd, CIRCBUF_SOURCE_THERMAL, RATE_HZ) < 0)
		return fail(path, "ioctl(CIRCBUF_SET_SOURCE, THERMAL)");
	if (ioctl(fd, CIRCBUF_GET_STATS, &stats) < 0)
		return fail(path, "ioctl(CIRCBUF_GET_STATS)");
	if (stats.source != CIRCBUF_SOURCE_THERMAL)
		return mismatch("source after starting it", stats.source,
				CIRCBUF_SOURCE_THERMAL);
	if (stats.rate_hz != RATE_HZ)
		return mismatch("rate_hz after starting the source",
				stats.rate_hz, RATE_HZ);

	printf("seq / time (s) / value (degrees C)\n");
	while (run.count < WANTED) {
		/* Blocks until the source has taken a sample. */
		n = read(fd, samples, sizeof(samples));
		if (n < 0)
			return fail(path, "read");
		if (n == 0 || (size_t)n % sizeof(samples[0]) != 0) {
			fprintf(stderr,
				"telemetry_example: read returned %zd bytes, not whole samples\n",
				n);
			return 1;
		}
		if (check_samples(samples, (size_t)n / sizeof(samples[0]), &run))
			return 1;
	}

	if (set_source(fd, CIRCBUF_SOURCE_NONE, 0) < 0)
		return fail(path, "ioctl(CIRCBUF_SET_SOURCE, NONE)");
	if (ioctl(fd, CIRCBUF_GET_STATS, &stats) < 0)
		return fail(path, "ioctl(CIRCBUF_GET_STATS)");
	printf("read %lu samples, seq %llu to %llu, %llu skipped\n", run.count,
	       (unsigned long long)run.first.seq,
	       (unsigned long long)run.last.seq, run.skipped);
	printf("stats: source %s, rate_hz %llu, samples taken %llu, dropped %llu\n",
	       stats.source == CIRCBUF_SOURCE_NONE ? "none" : "thermal",
	       (unsigned long long)stats.rate_hz,
	       (unsigned long long)stats.writes,
	       (unsigned long long)stats.dropped_records);

	if (stats.source != CIRCBUF_SOURCE_NONE)
		return mismatch("source after stopping it", stats.source,
				CIRCBUF_SOURCE_NONE);
	if (stats.mode != CIRCBUF_MODE_OVERWRITE)
		return mismatch("mode", stats.mode, CIRCBUF_MODE_OVERWRITE);
	if (stats.writes < run.count)
		return mismatch("writes (samples taken, fewer than read)",
				stats.writes, run.count);
	/* Nobody else reads: every sequence number skipped was a drop. */
	if (stats.dropped_records < run.skipped)
		return mismatch("dropped_records (fewer than the gaps seen)",
				stats.dropped_records, run.skipped);

	if (close(fd) < 0)
		return fail(path, "close");
	printf("telemetry_example: OK\n");
	return 0;
}
