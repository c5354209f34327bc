# SPDX-License-Identifier: GPL-2.0
"""The semantics of /dev/circbuf (docs/semantics.md), one behaviour per test,
checked with real clients: the shell, dd, cat and python3's os, select and
fcntl modules. Every test starts with a freshly loaded module."""

import ctypes
import errno
import fcntl
import mmap
import os
import select
import signal
import stat
import struct
import subprocess
import termios

import cbtest
from cbtest import (DEV, PIPE_BUF, Child, asleep_in_syscall, blocks, c_call, expect_errno, libc,
                    reload_module, stats, wait_for, wait_for_stat, with_signal_handler)

MAX_CAPACITY = 64 << 20


def sh(script, timeout=20):
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                          timeout=timeout, check=True).stdout


# Registration and module parameter


def test_misc_device_node():
    st = os.stat(DEV)
    assert stat.S_ISCHR(st.st_mode)
    assert os.major(st.st_rdev) == 10, "a misc device has major 10"
    with open("/proc/misc") as f:
        assert any(line.split()[1] == "circbuf" for line in f)


def test_rmmod_refused_while_open():
    fd = os.open(DEV, os.O_RDONLY)
    try:
        res = cbtest.run("rmmod", "circbuf", check=False)
        assert res.returncode != 0, "rmmod succeeded with the device open"
        assert "in use" in res.stderr, res.stderr
        assert cbtest.module_loaded()
    finally:
        os.close(fd)
    cbtest.run("rmmod", "circbuf")
    assert not os.path.exists(DEV)


def test_default_capacity_is_4096():
    cbtest.unload_module()
    cbtest.load_module()
    assert stats()["capacity"] == 4096


def test_buffer_size_parameter_sets_capacity():
    for size in (1, 64, 65536, 16 << 20, MAX_CAPACITY):
        reload_module(buffer_size=size)
        s = stats()
        assert s["capacity"] == size and s["available"] == size and s["used"] == 0, s


def test_bad_buffer_size_refused_with_message():
    """Each refused value gets its own message, found among the kernel
    messages logged by that insmod alone: an accumulating log would still
    hold the first value's message when a later one printed none."""
    cbtest.unload_module()
    range_message = f"is out of range: it must be 1 to {MAX_CAPACITY} bytes"
    for value, message in (("0", f"buffer_size=0 {range_message}"),
                           (str(MAX_CAPACITY + 1), f"buffer_size={MAX_CAPACITY + 1} {range_message}"),
                           ("-1", "`-1' invalid for parameter `buffer_size'"),
                           ("lots", "`lots' invalid for parameter `buffer_size'"),
                           ("99999999999999999999999",
                            "`99999999999999999999999' invalid for parameter `buffer_size'")):
        res, log = cbtest.kernel_messages_during(
            lambda: cbtest.load_module(f"buffer_size={value}", check=False))
        assert res.returncode != 0, f"buffer_size={value} was accepted"
        assert "Invalid parameters" in res.stderr, res.stderr  # kmod's words for EINVAL
        assert message in log, f"buffer_size={value}: no {message!r} in {log!r}"
        assert not cbtest.module_loaded()
        assert not os.path.exists(DEV)
    cbtest.load_module("buffer_size=128")
    assert stats()["capacity"] == 128


# Data path


def test_echo_then_cat():
    assert sh(f"echo hi > {DEV}; cat {DEV}") == "hi\n"


def _wait_for_cat_to_sleep(cat, read_waits):
    """Waits until `cat` sleeps in a read of the device: the device counted
    the read's wait and the process sleeps in a system call."""
    def asleep():
        assert cat.poll() is None, f"cat ended instead of waiting: {cat.communicate()}"
        return stats()["read_waits"] >= read_waits and cbtest.asleep_in_syscall(cat.pid)
    wait_for(asleep, "cat to wait in read")


def test_cat_started_first_waits_for_writer_then_ends():
    cat = subprocess.Popen(["cat", DEV], stdout=subprocess.PIPE)
    _wait_for_cat_to_sleep(cat, 1)
    sh(f"printf one > {DEV}")
    out, _ = cat.communicate(timeout=cbtest.DEADLINE)
    assert out == b"one", out
    assert cat.returncode == 0


def test_cat_with_open_writer_blocks():
    w = os.open(DEV, os.O_WRONLY)
    try:
        os.write(w, b"data")
        cat = subprocess.Popen(["cat", DEV], stdout=subprocess.PIPE)
        _wait_for_cat_to_sleep(cat, 1)
    finally:
        os.close(w)
    out, _ = cat.communicate(timeout=cbtest.DEADLINE)
    assert out == b"data"


def test_data_outlives_the_writer():
    fd = os.open(DEV, os.O_WRONLY)
    os.write(fd, b"kept")
    os.close(fd)
    fd = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    assert os.read(fd, 100) == b"kept"
    os.close(fd)


def test_read_returns_what_is_there_in_order():
    fd = os.open(DEV, os.O_RDWR)
    os.write(fd, b"abcdef")
    assert os.read(fd, 4) == b"abcd"
    assert os.read(fd, 100) == b"ef"
    assert os.read(fd, 0) == b""
    os.close(fd)


def test_wrap_around_every_offset():
    reload_module(buffer_size=61)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    counter = 0
    for offset in range(61):
        for size in (1, 7, 30, 61):
            data = bytes((counter + i) % 251 for i in range(size))
            counter += size
            assert os.write(fd, data) == size
            got = b""
            while len(got) < size:
                got += os.read(fd, size)
            assert got == data, (offset, size)
        os.write(fd, b"x")
        assert os.read(fd, 1) == b"x"
    os.close(fd)


def test_dd_moves_large_data_intact():
    reload_module(buffer_size=4096)
    sh("dd if=/dev/urandom of=/tmp/src bs=1k count=512 2>/dev/null")
    reader = subprocess.Popen(["dd", f"if={DEV}", "of=/tmp/dst", "bs=3000"],
                              stderr=subprocess.DEVNULL)
    sh(f"dd if=/tmp/src of={DEV} bs=7000 2>/dev/null")
    reader.wait(timeout=60)
    assert open("/tmp/src", "rb").read() == open("/tmp/dst", "rb").read()


def test_empty_nonblocking_read_is_eagain():
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    expect_errno(errno.EAGAIN, os.read, fd, 10)
    os.close(fd)


def test_rwf_nowait_does_not_block():
    fd = os.open(DEV, os.O_RDWR)
    expect_errno(errno.EAGAIN, os.preadv, fd, [bytearray(10)], -1, os.RWF_NOWAIT)
    os.write(fd, b"x" * 4000)
    expect_errno(errno.EAGAIN, os.pwritev, fd, [b"y" * 200], -1, os.RWF_NOWAIT)
    buf = bytearray(10)
    assert os.preadv(fd, [buf], -1, os.RWF_NOWAIT) == 10 and buf == b"x" * 10
    os.close(fd)


def test_empty_read_blocks_until_data():
    fd = os.open(DEV, os.O_RDWR)
    child = Child(lambda: os.read(fd, 100))
    child.wait_asleep()
    w = os.open(DEV, os.O_WRONLY)
    os.write(w, b"wake")
    assert child.result() == b"wake"
    os.close(w)
    os.close(fd)


def test_reader_without_writer_waits_then_sees_eof():
    r = os.open(DEV, os.O_RDONLY)
    assert blocks(lambda: os.read(r, 10)), "EOF before any writer came"
    w = os.open(DEV, os.O_WRONLY)
    os.close(w)
    assert os.read(r, 10) == b"", "no EOF after the writer left"
    os.close(r)


def test_rdwr_opener_never_sees_eof():
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    w = os.open(DEV, os.O_WRONLY)
    os.close(w)
    expect_errno(errno.EAGAIN, os.read, fd, 10)
    os.close(fd)


def test_last_writer_close_wakes_every_reader():
    w = os.open(DEV, os.O_WRONLY)
    readers = []
    for _ in range(4):
        r = os.open(DEV, os.O_RDONLY)

        def read_after_dropping_writer(r=r):
            os.close(w)  # the inherited copy would keep the writer open
            return os.read(r, 10)

        readers.append(Child(read_after_dropping_writer))
        os.close(r)
    for child in readers:
        child.wait_asleep()
    os.close(w)
    for child in readers:
        assert child.result() == b""


def test_blocking_write_waits_for_room():
    reload_module(buffer_size=64)
    fd = os.open(DEV, os.O_RDWR)
    data = bytes(range(200))
    child = Child(lambda: os.write(fd, data))
    child.wait_asleep(write_waits=1)
    got = b""
    while len(got) < 200:
        got += os.read(fd, 50)
    assert child.result() == b"200"
    assert got == data
    os.close(fd)


def _set_nonblock_with_fcntl(fd, on):
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_NONBLOCK if on else flags & ~os.O_NONBLOCK)


def _set_nonblock_with_fionbio(fd, on):
    fcntl.ioctl(fd, termios.FIONBIO, struct.pack("i", on))


def test_o_nonblock_changed_after_open():
    """Whether a read or a write waits follows the file's O_NONBLOCK as it
    is at the call: set and cleared after open with fcntl(F_SETFL), and with
    ioctl(FIONBIO), on an empty ring (reads) and a full one (writes)."""
    reload_module(buffer_size=64)
    fd = os.open(DEV, os.O_RDWR)
    for set_nonblock in (_set_nonblock_with_fcntl, _set_nonblock_with_fionbio):
        set_nonblock(fd, True)
        assert not blocks(lambda: expect_errno(errno.EAGAIN, os.read, fd, 1))
        os.write(fd, b"f" * 64)
        assert not blocks(lambda: expect_errno(errno.EAGAIN, os.write, fd, b"y"))
        set_nonblock(fd, False)
        assert blocks(lambda: os.write(fd, b"y")), f"{set_nonblock.__name__}: write did not wait"
        assert os.read(fd, 100) == b"f" * 64
        assert blocks(lambda: os.read(fd, 1)), f"{set_nonblock.__name__}: read did not wait"
    os.close(fd)


def test_nonblocking_writes():
    reload_module(buffer_size=8192)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    assert os.write(fd, b"a" * 5000) == 5000
    # An atomic write that does not fit whole fails, storing nothing.
    expect_errno(errno.EAGAIN, os.write, fd, b"b" * 4000)
    assert stats()["used"] == 5000
    # A larger write stores what fits.
    assert os.write(fd, b"c" * 6000) == 3192
    expect_errno(errno.EAGAIN, os.write, fd, b"d" * 6000)
    expect_errno(errno.EAGAIN, os.write, fd, b"e")
    os.close(fd)


def test_atomic_writes_never_interleave():
    reload_module(buffer_size=16384)
    r = os.open(DEV, os.O_RDONLY)
    # Held open so that the reader never sees end of file between writers.
    keep = os.open(DEV, os.O_WRONLY)
    writers = []
    for tag in b"ABCD":
        def write_records(tag=tag):
            w = os.open(DEV, os.O_WRONLY)
            for _ in range(40):
                assert os.write(w, bytes([tag]) * PIPE_BUF) == PIPE_BUF
            os.close(w)
            return b"ok"
        writers.append(Child(write_records))
    data = b""
    while len(data) < 4 * 40 * PIPE_BUF:
        chunk = os.read(r, 65536)
        assert chunk, "early EOF"
        data += chunk
    for child in writers:
        assert child.result(30) == b"ok"
    os.close(keep)
    os.close(r)
    for i in range(0, len(data), PIPE_BUF):
        record = data[i:i + PIPE_BUF]
        assert record == record[:1] * PIPE_BUF, f"record at {i} is interleaved"


# Signals


def test_signal_interrupts_blocked_read_without_restart():
    """A reader asleep on an empty ring, signalled with a handler installed
    without SA_RESTART, gets EINTR and consumes nothing."""
    fd = os.open(DEV, os.O_RDWR)
    buf = ctypes.create_string_buffer(16)
    child = Child(with_signal_handler(lambda: c_call(libc.read, fd, buf, 16)))
    child.wait_asleep(read_waits=1)
    child.signal(signal.SIGUSR1)
    assert child.result() == repr((-1, errno.EINTR)).encode()
    assert stats()["reads"] == 0
    os.close(fd)


def test_signal_with_sa_restart_restarts_read():
    """With SA_RESTART the interrupted read goes back to sleep (the device
    counts a second wait) and returns the data written afterwards."""
    fd = os.open(DEV, os.O_RDWR)

    def read():
        buf = ctypes.create_string_buffer(16)
        n, err = c_call(libc.read, fd, buf, 16)
        assert n > 0, errno.errorcode[err]
        return buf.raw[:n]

    # Counted from here: a built-in circbuf's counters never start from zero.
    waits = stats()["read_waits"]
    child = Child(with_signal_handler(read, restart=True))
    child.wait_asleep(read_waits=waits + 1)
    child.signal(signal.SIGUSR1)
    child.wait_asleep(read_waits=waits + 2)
    os.write(fd, b"after")
    assert child.result() == b"after"
    os.close(fd)


def test_signal_during_write_returns_partial_count():
    """A write of 10000 bytes into an empty 4096-byte ring stores 4096 and
    sleeps; a signal then ends it with the count stored, not EINTR."""
    reload_module(buffer_size=4096)
    fd = os.open(DEV, os.O_RDWR)
    buf = ctypes.create_string_buffer(b"z" * 10000)
    child = Child(with_signal_handler(lambda: c_call(libc.write, fd, buf, 10000)))
    child.wait_asleep(write_waits=1)
    child.signal(signal.SIGUSR1)
    assert child.result() == repr((4096, 0)).encode()
    s = stats()
    assert s["used"] == 4096 and s["bytes_written"] == 4096, s
    assert os.read(fd, 5000) == b"z" * 4096
    os.close(fd)


def test_signal_interrupts_blocked_write_that_stored_nothing_with_eintr():
    """A write asleep on a full ring, having stored nothing, gets EINTR from
    a signal without SA_RESTART, and the ring is as it was."""
    reload_module(buffer_size=64)
    fd = os.open(DEV, os.O_RDWR)
    os.write(fd, b"f" * 64)
    buf = ctypes.create_string_buffer(b"n" * 10)
    child = Child(with_signal_handler(lambda: c_call(libc.write, fd, buf, 10)))
    child.wait_asleep(write_waits=1)
    child.signal(signal.SIGUSR1)
    assert child.result() == repr((-1, errno.EINTR)).encode()
    s = stats()
    assert (s["used"], s["writes"], s["bytes_written"]) == (64, 1, 64), s
    assert os.read(fd, 100) == b"f" * 64
    os.close(fd)


def test_killed_blocked_reader_loses_nothing():
    """A reader killed while asleep on an empty ring takes nothing with it,
    not even a wake-up: the next reader to sleep gets the data written
    afterwards."""
    fd = os.open(DEV, os.O_RDWR)
    # Counted from here: a built-in circbuf's counters never start from zero.
    before = stats()
    killed = Child(lambda: os.read(fd, 10))
    killed.wait_asleep(read_waits=before["read_waits"] + 1)
    killed.kill()
    reader = Child(lambda: os.read(fd, 10))
    reader.wait_asleep(read_waits=before["read_waits"] + 2)
    os.write(fd, b"safe")
    assert reader.result() == b"safe"
    s = stats()
    moved = (s["reads"] - before["reads"], s["bytes_read"] - before["bytes_read"], s["used"])
    assert moved == (1, 4, 0), s
    os.close(fd)


def test_reader_woken_for_data_takes_it_despite_a_signal():
    """Two readers sleep on an empty ring. A write wakes only the first
    (readers wait exclusively, as on a pipe), and a signal reaches it before
    it runs again. As `___wait_event()` does, the woken reader checks for
    data before it looks at signals, so it takes the data and the handler
    runs afterwards: the wake-up is not wasted on a reader that leaves with
    EINTR while the second sleeps on with data waiting. The second reader
    stays asleep until there is data for it.

    The write and the signal come from a child running SCHED_FIFO on the
    one CPU the first reader may use: the first reader cannot run between
    its wake-up and the signal."""
    fd = os.open(DEV, os.O_RDWR)
    cpu = min(os.sched_getaffinity(0))

    def first_read():
        os.sched_setaffinity(0, {cpu})
        buf = ctypes.create_string_buffer(16)
        n, err = c_call(libc.read, fd, buf, 16)
        return repr((buf.raw[:n] if n >= 0 else n, err)).encode()

    first = Child(with_signal_handler(first_read))
    first.wait_asleep(read_waits=1)
    second = Child(lambda: os.read(fd, 16))
    second.wait_asleep(read_waits=2)

    def write_then_signal():
        os.sched_setaffinity(0, {cpu})
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        os.write(fd, b"for the first")
        os.kill(first.pid, signal.SIGUSR1)
        return b"done"

    assert Child(write_then_signal).result() == b"done"
    assert first.result() == repr((b"for the first", 0)).encode()
    assert not second.finished() and asleep_in_syscall(second.pid)
    os.write(fd, b"for the second")
    assert second.result() == b"for the second"
    os.close(fd)


# User copies


def test_reader_whose_buffer_faults_passes_the_wake_up_on():
    # Two readers asleep on an empty ring; the first queued gets the one
    # wake-up for the data but faults on its buffer. The second must still
    # be woken and get the data.
    fd = os.open(DEV, os.O_RDWR)
    faulting = Child(lambda: c_call(libc.read, fd, ctypes.c_void_p(1), 10))
    faulting.wait_asleep(read_waits=1)
    reader = Child(lambda: os.read(fd, 10))
    reader.wait_asleep(read_waits=2)
    os.write(fd, b"for you")
    assert faulting.result() == repr((-1, errno.EFAULT)).encode()
    assert reader.result() == b"for you"
    os.close(fd)


def test_fault_in_second_page_returns_first_page():
    reload_module(buffer_size=65536)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    data = bytes(i % 253 for i in range(8192))
    assert os.write(fd, data) == 8192
    area, base = cbtest.half_readable_buffer()
    n, err = c_call(libc.read, fd, base, 8192)
    assert n == mmap.PAGESIZE, (n, err)
    assert area[:mmap.PAGESIZE] == data[:mmap.PAGESIZE]
    assert stats()["used"] == 8192 - mmap.PAGESIZE
    # The undelivered bytes are still there, in order.
    assert os.read(fd, 8192) == data[mmap.PAGESIZE:]
    # A write from the same buffer stores only the readable page.
    n, err = c_call(libc.write, fd, base, 8192)
    assert n == mmap.PAGESIZE, (n, err)
    s = stats()
    assert s["used"] == mmap.PAGESIZE and s["bytes_written"] == 8192 + mmap.PAGESIZE, s
    os.close(fd)


def test_partly_faulting_atomic_write_stores_the_readable_prefix():
    """A write of PIPE_BUF bytes whose last 1000 bytes are unreadable, into
    a ring with room for all of it: atomicity is about other writers, not
    about the caller's memory, so the readable 3096 bytes are stored, alone,
    and their count is returned (docs/semantics.md, User memory)."""
    reload_module(buffer_size=8192)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    area, base = cbtest.half_readable_buffer()
    readable = PIPE_BUF - 1000
    start = mmap.PAGESIZE - readable
    area[start:mmap.PAGESIZE] = bytes(i % 251 for i in range(readable))
    assert c_call(libc.write, fd, base + start, PIPE_BUF) == (readable, 0)
    s = stats()
    assert (s["used"], s["writes"], s["bytes_written"]) == (readable, 1, readable), s
    assert os.read(fd, 8192) == area[start:mmap.PAGESIZE]
    os.close(fd)


def test_bad_pointers_are_efault_and_change_nothing():
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    os.write(fd, b"keep")
    kernel_address = 0xffffffff81000000
    for address in (0, kernel_address, 8):
        assert c_call(libc.read, fd, address, 4) == (-1, errno.EFAULT)
        assert c_call(libc.write, fd, address, 4) == (-1, errno.EFAULT)
    s = stats()
    assert s["used"] == 4 and s["reads"] == 0 and s["writes"] == 1, s
    assert os.read(fd, 10) == b"keep"
    os.close(fd)


def test_null_buffer_faults_only_when_a_copy_is_attempted():
    """NULL is an unmapped user address, not one the VFS refuses: on an
    empty ring a non-blocking read of it is EAGAIN and at end of file 0,
    while a kernel address is EFAULT even on an empty ring."""
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(DEV, os.O_WRONLY)
    assert c_call(libc.read, r, None, 4) == (-1, errno.EAGAIN)
    assert c_call(libc.read, r, 0xffffffff81000000, 4) == (-1, errno.EFAULT)
    os.close(w)
    assert c_call(libc.read, r, None, 4) == (0, 0)
    os.close(r)


# Vectored and spliced I/O


def test_writev_is_atomic_and_readv_fills_in_order():
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    assert os.writev(fd, [b"ab", b"", b"cdef", b"g"]) == 7
    a, b, c = bytearray(3), bytearray(0), bytearray(10)
    assert os.readv(fd, [a, b, c]) == 7
    assert bytes(a) == b"abc" and bytes(c[:4]) == b"defg"
    # An atomic writev that does not fit whole is refused.
    os.write(fd, b"x" * 4000)
    expect_errno(errno.EAGAIN, os.writev, fd, [b"1" * 50, b"2" * 50])
    os.close(fd)


def test_reader_leaving_data_behind_wakes_the_next_reader():
    """Two readers of 10 bytes sleep on an empty ring. One write of 20 bytes
    wakes only the first (readers wait exclusively, as on a pipe), which
    takes 10 and leaves 10: it must wake the second, or that one sleeps on
    with data waiting."""
    fd = os.open(DEV, os.O_RDWR)
    first = Child(lambda: os.read(fd, 10))
    first.wait_asleep(read_waits=1)
    second = Child(lambda: os.read(fd, 10))
    second.wait_asleep(read_waits=2)
    os.write(fd, b"0123456789abcdefghij")
    assert first.result() == b"0123456789"
    assert second.result() == b"abcdefghij"
    os.close(fd)


def test_splice_out_of_an_empty_device_waits_or_is_eagain():
    """splice(2) from the device reads it as read(2) does: on an empty ring
    it waits, even with SPLICE_F_NONBLOCK, which is about the pipe only (the
    kernel's copy_splice_read() makes a blocking read), and fails with
    EAGAIN when the device's file is O_NONBLOCK."""
    fd = os.open(DEV, os.O_RDWR)
    pr, pw = os.pipe()
    for flags in (0, os.SPLICE_F_NONBLOCK):
        waits = stats()["read_waits"]
        child = Child(lambda: os.splice(fd, pw, 100, flags=flags))
        child.wait_asleep(read_waits=waits + 1)
        os.write(fd, b"spliced")
        assert child.result() == b"7"
        assert os.read(pr, 100) == b"spliced"
    nonblocking = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    expect_errno(errno.EAGAIN, os.splice, nonblocking, pw, 100)
    for x in (nonblocking, pr, pw, fd):
        os.close(x)


def test_splice_out_returns_0_at_end_of_file():
    r = os.open(DEV, os.O_RDONLY)
    w = os.open(DEV, os.O_WRONLY)
    os.write(w, b"last")
    os.close(w)
    pr, pw = os.pipe()
    assert os.splice(r, pw, 100) == 4
    assert os.splice(r, pw, 100) == 0, "no end of file after the last writer closed"
    assert os.read(pr, 100) == b"last"
    for x in (r, pr, pw):
        os.close(x)


def test_splice_into_a_full_device_waits_or_is_eagain():
    """splice(2) into the device writes it as write(2) does: into a full
    ring it waits until a reader makes room, and fails with EAGAIN, leaving
    the pipe's data in the pipe, when the device's file is O_NONBLOCK."""
    reload_module(buffer_size=64)
    fd = os.open(DEV, os.O_RDWR)
    os.write(fd, b"f" * 64)
    pr, pw = os.pipe()
    os.write(pw, b"more")
    child = Child(lambda: os.splice(pr, fd, 4))
    child.wait_asleep(write_waits=1)
    assert os.read(fd, 100) == b"f" * 64
    assert child.result() == b"4"
    assert os.read(fd, 100) == b"more"
    os.write(fd, b"f" * 64)
    os.write(pw, b"kept")
    nonblocking = os.open(DEV, os.O_WRONLY | os.O_NONBLOCK)
    expect_errno(errno.EAGAIN, os.splice, pr, nonblocking, 4)
    assert os.read(pr, 100) == b"kept"
    for x in (nonblocking, pr, pw, fd):
        os.close(x)


def test_splice_and_sendfile():
    reload_module(buffer_size=65536)
    fd = os.open(DEV, os.O_RDWR)
    with open("/tmp/payload", "wb") as f:
        f.write(b"0123456789" * 1000)
    src = os.open("/tmp/payload", os.O_RDONLY)
    assert os.sendfile(fd, src, 0, 10000) == 10000
    pr, pw = os.pipe()
    os.write(pw, b"spliced-in")
    assert os.splice(pr, fd, 10) == 10
    assert os.splice(fd, pw, 10000) == 10000
    assert os.read(pr, 20000) == b"0123456789" * 1000
    # sendfile(2) reads only from regular files, block devices and pipes;
    # out of a character device the kernel refuses it before circbuf runs.
    out = os.open("/tmp/sent", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    expect_errno(errno.EINVAL, os.sendfile, out, fd, None, 100)
    assert os.splice(fd, pw, 100) == 10
    assert os.read(pr, 100) == b"spliced-in"
    s = stats()
    assert s["bytes_written"] == 10010 and s["bytes_read"] == 10010 and s["used"] == 0, s
    for x in (src, pr, pw, fd, out):
        os.close(x)


# poll, select, epoll


def test_poll_reports_readable_writable_and_hup():
    reload_module(buffer_size=8192)
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(DEV, os.O_WRONLY | os.O_NONBLOCK)
    p = select.poll()
    p.register(r, select.POLLIN | select.POLLRDNORM | select.POLLOUT | select.POLLWRNORM)
    assert p.poll(0) == [], "empty ring reported readable"
    assert cbtest.writable(w)
    os.write(w, b"x")
    assert p.poll(0) == [(r, select.POLLIN | select.POLLRDNORM)]
    os.write(w, b"y" * 4100)
    assert not cbtest.writable(w), "writable with less than PIPE_BUF free"
    os.read(r, 10)
    assert cbtest.writable(w)
    os.close(w)
    events = dict(p.poll(0))
    assert events[r] & select.POLLHUP and events[r] & select.POLLIN
    os.read(r, 10000)
    assert dict(p.poll(0))[r] == select.POLLHUP
    os.close(r)


def test_poll_reports_no_hup_before_the_first_writer():
    """A reader opened before any writer came is not at end of file (its
    read would wait, as a FIFO reader's does), so poll reports nothing for
    it, nor while a writer is open; once that writer has gone, POLLHUP."""
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    p = select.poll()
    p.register(r, select.POLLIN)
    assert p.poll(0) == [], "POLLHUP before any writer came"
    expect_errno(errno.EAGAIN, os.read, r, 10)
    w = os.open(DEV, os.O_WRONLY)
    assert p.poll(0) == [], "POLLHUP with a writer open"
    os.close(w)
    assert p.poll(0) == [(r, select.POLLHUP)]
    assert os.read(r, 10) == b""
    os.close(r)


def test_select_wakes_on_write():
    r = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    child = Child(lambda: select.select([r], [], [], cbtest.DEADLINE)[0])
    child.wait_asleep()
    os.write(r, b"!")
    assert child.result() == repr([r]).encode()
    os.close(r)


def test_epoll_edge_triggered_sees_every_transition():
    reload_module(buffer_size=8192)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    ep = select.epoll()
    ep.register(fd, select.EPOLLIN | select.EPOLLET)
    assert ep.poll(0) == []
    os.write(fd, b"a")
    assert ep.poll(1) == [(fd, select.EPOLLIN)]
    assert ep.poll(0) == [], "edge-triggered event repeated without a transition"
    os.write(fd, b"b")
    assert ep.poll(1) == [(fd, select.EPOLLIN)]
    os.read(fd, 10)
    ep.modify(fd, select.EPOLLOUT | select.EPOLLET)
    assert ep.poll(1) == [(fd, select.EPOLLOUT)]
    os.write(fd, b"c" * 8192)
    assert ep.poll(0) == []
    os.read(fd, 8192)
    assert ep.poll(1) == [(fd, select.EPOLLOUT)]
    ep.close()
    os.close(fd)


# ioctl, text statistics, lseek


def test_stats_count_operations():
    reload_module(buffer_size=1000)
    w = os.open(DEV, os.O_WRONLY)
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    os.write(w, b"x" * 300)
    os.write(w, b"y" * 200)
    os.read(r, 100)
    s = stats(r)
    assert s == {"capacity": 1000, "used": 400, "available": 600, "reads": 1, "writes": 2,
                 "bytes_read": 100, "bytes_written": 500, "readers": 1, "writers": 1,
                 "read_waits": 0, "write_waits": 0, "mode": 0, "dropped_bytes": 0,
                 "dropped_records": 0, "source": 0, "rate_hz": 0}, s
    os.close(w)
    os.close(r)
    assert stats()["readers"] == 1 and stats()["writers"] == 0


def test_stats_count_waits():
    """A reader that sleeps once on an empty ring and a writer that sleeps
    once on a full one count one wait each."""
    reload_module(buffer_size=64)
    fd = os.open(DEV, os.O_RDWR)
    reader = Child(lambda: os.read(fd, 10))
    reader.wait_asleep()
    os.write(fd, b"x")
    assert reader.result() == b"x"
    os.write(fd, b"f" * 64)
    writer = Child(lambda: os.write(fd, b"y"))
    writer.wait_asleep()
    os.read(fd, 64)
    assert writer.result() == b"1"
    s = stats()
    assert (s["read_waits"], s["write_waits"]) == (1, 1), s
    os.close(fd)


def test_fionread():
    fd = os.open(DEV, os.O_RDWR)
    assert cbtest.fionread(fd) == 0
    os.write(fd, b"12345")
    assert cbtest.fionread(fd) == 5
    os.close(fd)


def test_reset_discards_and_wakes_writer():
    """RESET empties the ring, wakes the writer waiting for room, and
    changes no counter: what it discarded is written - read - used."""
    reload_module(buffer_size=64)
    fd = os.open(DEV, os.O_RDWR)
    os.write(fd, b"q" * 64)
    os.read(fd, 4)
    os.write(fd, b"q" * 4)
    child = Child(lambda: os.write(fd, b"new"))
    child.wait_asleep(write_waits=1)
    before = stats()
    fcntl.ioctl(fd, cbtest.CIRCBUF_RESET)
    assert child.result() == b"3"
    s = stats()
    assert {k: s[k] - before[k] for k in ("reads", "writes", "bytes_read", "bytes_written")} == \
        {"reads": 0, "writes": 1, "bytes_read": 0, "bytes_written": 3}, (before, s)
    assert s["bytes_written"] - s["bytes_read"] - s["used"] == 64, s
    assert os.read(fd, 100) == b"new"
    os.close(fd)


def test_reset_needs_write_access():
    r = os.open(DEV, os.O_RDONLY)
    expect_errno(errno.EBADF, fcntl.ioctl, r, cbtest.CIRCBUF_RESET)
    os.close(r)


def test_unknown_ioctls_are_enotty():
    fd = os.open(DEV, os.O_RDWR)
    buf = ctypes.create_string_buffer(256)
    for cmd in (0, 0xC103, cbtest._ioc(1, 0xC1, 0x01, 88), cbtest._ioc(2, 0xC1, 0x01, 80),
                cbtest._ioc(2, 0xC2, 0x01, 88), cbtest._ioc(3, 0xC1, 0x01, 88),
                cbtest._ioc(2, 0xC1, 0x09, 88), cbtest._ioc(1, 0xC1, 0x02, 0)):
        assert c_call(libc.ioctl, fd, cmd, buf) == (-1, errno.ENOTTY), hex(cmd)
    os.close(fd)


def test_ioctl_bad_pointer_is_efault():
    fd = os.open(DEV, os.O_RDWR)
    for cmd in (cbtest.CIRCBUF_GET_STATS, cbtest.FIONREAD):
        for address in (0, 0xffffffff81000000):
            assert c_call(libc.ioctl, fd, cmd, address) == (-1, errno.EFAULT)
    os.close(fd)


def test_debugfs_text_statistics():
    fd = os.open(DEV, os.O_RDWR)
    os.write(fd, b"abc")
    with open("/sys/kernel/debug/circbuf/stats") as f:
        text = dict(line.split(": ") for line in f.read().splitlines())
    expected = {k: str(v) for k, v in stats().items()}
    expected["readers"] = "1"
    expected["writers"] = "1"
    assert text == expected, text
    os.close(fd)


def test_fdinfo_shows_the_files_own_counters():
    a = os.open(DEV, os.O_RDWR)
    b = os.open(DEV, os.O_RDWR)
    os.write(a, b"12345")
    os.read(b, 2)
    with open(f"/proc/self/fdinfo/{a}") as f:
        info_a = f.read()
    with open(f"/proc/self/fdinfo/{b}") as f:
        info_b = f.read()
    assert "circbuf_writes:\t1" in info_a and "circbuf_bytes_written:\t5" in info_a, info_a
    assert "circbuf_reads:\t0" in info_a, info_a
    assert "circbuf_reads:\t1" in info_b and "circbuf_bytes_read:\t2" in info_b, info_b
    os.close(a)
    os.close(b)


def test_lseek_and_pread_are_espipe():
    fd = os.open(DEV, os.O_RDWR)
    os.write(fd, b"abc")
    expect_errno(errno.ESPIPE, os.lseek, fd, 0, os.SEEK_SET)
    expect_errno(errno.ESPIPE, os.pread, fd, 1, 0)
    expect_errno(errno.ESPIPE, os.pwrite, fd, b"x", 0)
    os.close(fd)
