# SPDX-License-Identifier: GPL-2.0
"""Reads /dev/circbuf_telemetry from Python (standard library only; matplotlib
for --plot).

Starts the kernel's simulated temperature source with CIRCBUF_SET_SOURCE,
reads samples for a while and prints each as a `seq / time / value` line
(CLOCK_MONOTONIC seconds, degrees Celsius), stops the source, and with
--plot draws the temperature against time into a PNG file. Exits non-zero
if sequence numbers did not increase or timestamps went back.

Usage: python3 examples/telemetry_example.py [--rate HZ] [--seconds SECONDS]
           [--plot FILE.png [--last SECONDS]] [DEVICE]

The device should be idle: nobody else reading it or driving its source.
"""

import argparse
import errno
import fcntl
import os
import select
import struct
import sys
import time

PROGRAM = "telemetry_example.py"

# struct circbuf_sample from include/uapi/linux/circbuf.h.
SAMPLE = struct.Struct("=QQiI")  # timestamp_ns, seq, value (m°C), flags
# struct circbuf_source: the source and the rate in Hz.
SOURCE = struct.Struct("=II")
SOURCE_NONE = 0
SOURCE_THERMAL = 1
RATE_MIN = 1
RATE_MAX = 10000
# The most samples one read asks for: the driver hands out at most 256.
BATCH = 256


def _ioc(direction, kind, number, size):
    # The asm-generic encoding of _IOC(), used by x86, arm64 and riscv;
    # powerpc, mips and sparc lay the bits out differently.
    return (direction << 30) | (size << 16) | (kind << 8) | number


_IOC_WRITE = 1
CIRCBUF_IOC_MAGIC = 0xC1
CIRCBUF_SET_SOURCE = _ioc(_IOC_WRITE, CIRCBUF_IOC_MAGIC, 0x04, SOURCE.size)


def set_source(fd, source, rate_hz=0):
    fcntl.ioctl(fd, CIRCBUF_SET_SOURCE, SOURCE.pack(source, rate_hz))


def call(path, step, fn, *args):
    """Returns fn(*args); a failed system call ends the program, naming the
    device and the step."""
    try:
        return fn(*args)
    except OSError as e:
        raise SystemExit(f"{PROGRAM}: {path}: {step}: {e.strerror}")


def read_for(fd, seconds):
    """Returns the samples read in `seconds`, as (timestamp_ns, seq, value,
    flags) tuples in the order read."""
    samples = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        # Waiting in select() rather than in read() ends the wait on time
        # even when no sample comes.
        if select.select([fd], [], [], left)[0]:
            data = os.read(fd, BATCH * SAMPLE.size)
            if len(data) % SAMPLE.size:
                raise SystemExit(f"{PROGRAM}: read returned {len(data)} bytes, not whole samples")
            samples.extend(SAMPLE.iter_unpack(data))
    return samples


def line(timestamp_ns, seq, value):
    seconds, ns = divmod(timestamp_ns, 1_000_000_000)
    return f"{seq} / {seconds}.{ns:09d} / {value / 1000:.3f}"


def first_disorder(samples):
    """What is wrong with the order of `samples`, or None."""
    for (t0, s0, _, _), (t1, s1, _, _) in zip(samples, samples[1:]):
        if s1 <= s0:
            return f"seq {s1} follows seq {s0}"
        if t1 < t0:
            return f"seq {s1} was taken at {t1} ns, before seq {s0} at {t0} ns"
    return None


def plot(pyplot, samples, last, path):
    """Draws the temperature of the samples of the last `last` seconds
    (all when None) against time since the first of them into `path`."""
    if last is not None:
        since = samples[-1][0] - last * 1e9
        samples = [s for s in samples if s[0] >= since]
    start = samples[0][0]
    figure, axes = pyplot.subplots(figsize=(8, 4.5))
    axes.plot([(t - start) / 1e9 for t, _, _, _ in samples],
              [value / 1000 for _, _, value, _ in samples], linewidth=0.8)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("temperature (°C)")
    axes.set_title(f"circbuf telemetry: {len(samples)} samples")
    axes.grid(True)
    figure.savefig(path, format="png")
    pyplot.close(figure)


def rate(text):
    value = int(text)
    if not RATE_MIN <= value <= RATE_MAX:
        raise argparse.ArgumentTypeError(f"{value} is not {RATE_MIN} to {RATE_MAX} Hz")
    return value


def positive(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="Reads samples of the circbuf telemetry device.")
    parser.add_argument("device", nargs="?", default="/dev/circbuf_telemetry")
    parser.add_argument("--rate", type=rate, default=1000, help="sample rate in Hz")
    parser.add_argument("--seconds", type=positive, default=2.0, help="how long to read")
    parser.add_argument("--plot", metavar="FILE.png", help="draw the samples into FILE.png")
    parser.add_argument("--last", type=positive, metavar="SECONDS",
                        help="plot only the last SECONDS of the samples read")
    args = parser.parse_args(argv[1:])
    if args.last is not None and not args.plot:
        parser.error("--last only applies to --plot")
    return args


def main(argv):
    args = parse_args(argv)
    pyplot = None
    if args.plot:
        # Before touching the device: without matplotlib there is no plot.
        try:
            import matplotlib

            matplotlib.use("Agg")  # draws into files; needs no display
            import matplotlib.pyplot as pyplot
        except ImportError as e:
            raise SystemExit(f"{PROGRAM}: --plot needs matplotlib: {e}")

    path = args.device
    try:
        # Write access: starting and stopping the source needs it.
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        hint = ""
        if e.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
            hint = " (is the circbuf module loaded?)"
        raise SystemExit(f"{PROGRAM}: {path}: open: {e.strerror}{hint}")

    try:
        call(path, "ioctl(CIRCBUF_SET_SOURCE, THERMAL)", set_source, fd, SOURCE_THERMAL,
             args.rate)
        try:
            samples = call(path, "read", read_for, fd, args.seconds)
        finally:
            # Stopped however reading ended: nothing else would stop it.
            call(path, "ioctl(CIRCBUF_SET_SOURCE, NONE)", set_source, fd, SOURCE_NONE)
    finally:
        os.close(fd)

    print("seq / time (s) / value (degrees C)")
    for timestamp_ns, seq, value, _ in samples:
        print(line(timestamp_ns, seq, value))
    if not samples:
        raise SystemExit(f"{PROGRAM}: no sample in {args.seconds} s at {args.rate} Hz")
    disorder = first_disorder(samples)
    if disorder:
        raise SystemExit(f"{PROGRAM}: {disorder}")
    if pyplot:
        plot(pyplot, samples, args.last, args.plot)
        print(f"{PROGRAM}: plotted to {args.plot}")
    print(f"{PROGRAM}: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
