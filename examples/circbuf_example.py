# SPDX-License-Identifier: GPL-2.0
"""The smallest complete use of /dev/circbuf from Python (standard library only).

Writes a message, waits with select() until it is readable, reads it back,
fetches the statistics with CIRCBUF_GET_STATS and prints them. Exits
non-zero if anything differs from what the device promises.

Usage: python3 examples/circbuf_example.py [DEVICE]

The device should be idle: nobody else reading or writing it.
"""

import errno
import fcntl
import os
import select
import struct
import sys

# struct circbuf_stats from include/uapi/linux/circbuf.h: 14 __u64 fields.
STATS_FIELDS = (
    "capacity",
    "used",
    "available",
    "reads",
    "writes",
    "bytes_read",
    "bytes_written",
    "readers",
    "writers",
    "read_waits",
    "write_waits",
    "mode",
    "dropped_bytes",
    "dropped_records",
)
STATS = struct.Struct("=" + "Q" * len(STATS_FIELDS))


def _ioc(direction, kind, number, size):
    # The asm-generic encoding of _IOC(), used by x86, arm64 and riscv;
    # powerpc, mips and sparc lay the bits out differently.
    return (direction << 30) | (size << 16) | (kind << 8) | number


_IOC_READ = 2
CIRCBUF_IOC_MAGIC = 0xC1
CIRCBUF_GET_STATS = _ioc(_IOC_READ, CIRCBUF_IOC_MAGIC, 0x01, STATS.size)

# Short enough to fit even a tiny ring in one atomic write.
MESSAGE = b"hello, circbuf"


def get_stats(fd):
    """Returns the device's statistics as a dict keyed by field name."""
    buf = bytearray(STATS.size)
    fcntl.ioctl(fd, CIRCBUF_GET_STATS, buf, True)
    return dict(zip(STATS_FIELDS, STATS.unpack(buf)))


def check(what, got, want):
    if got != want:
        raise SystemExit(f"circbuf_example.py: {what} is {got!r}, expected {want!r}")


def main(argv):
    path = argv[1] if len(argv) > 1 else "/dev/circbuf"
    try:
        # O_NONBLOCK so that an example can never hang: on a busy or
        # misbehaving device it fails with EAGAIN instead of sleeping.
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        hint = ""
        if e.errno in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
            hint = " (is the circbuf module loaded?)"
        raise SystemExit(f"circbuf_example.py: {path}: open: {e.strerror}{hint}")

    step = "ioctl(CIRCBUF_GET_STATS)"
    try:
        before = get_stats(fd)
        check("used before writing (is someone else using the device?)", before["used"], 0)
        if before["capacity"] < len(MESSAGE):
            raise SystemExit(f"circbuf_example.py: capacity {before['capacity']} is too small")

        step = "write"
        check("bytes written", os.write(fd, MESSAGE), len(MESSAGE))

        step = "select"
        readable, _, _ = select.select([fd], [], [], 1.0)
        check("readable after a write", readable, [fd])

        # Asking for more than is there returns what is there.
        step = "read"
        check("data read back", os.read(fd, len(MESSAGE) + 16), MESSAGE)

        step = "ioctl(CIRCBUF_GET_STATS)"
        after = get_stats(fd)
    except OSError as e:
        raise SystemExit(f"circbuf_example.py: {path}: {step}: {e.strerror}")
    finally:
        os.close(fd)

    width = max(len(name) for name in STATS_FIELDS)
    for name in STATS_FIELDS:
        print(f"{name:<{width}} {after[name]}")

    check("used after reading", after["used"], 0)
    check("available after reading", after["available"], after["capacity"])
    for counter, delta in (("bytes_written", len(MESSAGE)), ("bytes_read", len(MESSAGE)),
                           ("writes", 1), ("reads", 1)):
        check(f"{counter} delta", after[counter] - before[counter], delta)
    print("circbuf_example.py: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
