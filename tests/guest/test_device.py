# SPDX-License-Identifier: GPL-2.0
"""The semantics of /dev/circbuf (docs/semantics.md), one behaviour per test,
checked with real clients: the shell, dd, cat and python3's os, select and
fcntl modules. Every test starts with a freshly loaded module."""

import ctypes
import errno
import mmap
import os
import select
import signal
import stat
import subprocess
import time

import cbtest
from cbtest import DEV, PIPE_BUF, Child, blocks, expect_errno, reload_module, stats


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
    for size in (1, 64, 65536, 16 << 20):
        reload_module(buffer_size=size)
        s = stats()
        assert s["capacity"] == size and s["available"] == size and s["used"] == 0, s


def test_bad_buffer_size_refused_with_message():
    cbtest.unload_module()
    for value, message in (("0", "buffer_size=0 is out of range"),
                           (str((64 << 20) + 1), f"buffer_size={(64 << 20) + 1} is out of range"),
                           ("-1", "buffer_size"), ("lots", "buffer_size"),
                           ("99999999999999999999999", "buffer_size")):
        res = cbtest.load_module(f"buffer_size={value}", check=False)
        assert res.returncode != 0, f"buffer_size={value} was accepted"
        assert "Invalid parameters" in res.stderr, res.stderr  # kmod's words for EINVAL
        assert message in cbtest.dmesg(), f"no message naming buffer_size={value}"
        assert not cbtest.module_loaded()
        assert not os.path.exists(DEV)
    cbtest.load_module("buffer_size=128")
    assert stats()["capacity"] == 128


# Data path


def test_echo_then_cat():
    assert sh(f"echo hi > {DEV}; cat {DEV}") == "hi\n"


def test_cat_started_first_waits_for_writer_then_ends():
    cat = subprocess.Popen(["cat", DEV], stdout=subprocess.PIPE)
    time.sleep(0.5)
    assert cat.poll() is None, "cat ended before any writer came"
    sh(f"printf one > {DEV}; printf two > {DEV}")
    out, _ = cat.communicate(timeout=10)
    assert out == b"onetwo" or out == b"one", out  # cat may see EOF between writers
    assert cat.returncode == 0


def test_cat_with_open_writer_blocks():
    w = os.open(DEV, os.O_WRONLY)
    try:
        os.write(w, b"data")
        cat = subprocess.Popen(["cat", DEV], stdout=subprocess.PIPE)
        time.sleep(0.5)
        assert cat.poll() is None, "cat ended although a writer is open"
    finally:
        os.close(w)
    out, _ = cat.communicate(timeout=10)
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
    assert not child.finished_within(0.5), "read on an empty device returned"
    w = os.open(DEV, os.O_WRONLY)
    os.write(w, b"wake")
    assert child.result(10) == b"wake"
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
        assert not child.finished_within(0.2), "a reader returned with a writer open"
    os.close(w)
    for child in readers:
        assert child.result(10) == b""


def test_blocking_write_waits_for_room():
    reload_module(buffer_size=64)
    fd = os.open(DEV, os.O_RDWR)
    data = bytes(range(200))
    child = Child(lambda: os.write(fd, data))
    got = b""
    while len(got) < 200:
        got += os.read(fd, 50)
    assert child.result(10) == b"200"
    assert got == data
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
    os.close(r)
    for i in range(0, len(data), PIPE_BUF):
        record = data[i:i + PIPE_BUF]
        assert record == record[:1] * PIPE_BUF, f"record at {i} is interleaved"


# Signals


def test_signal_interrupts_blocked_read_without_restart():
    fd = os.open(DEV, os.O_RDWR)

    def read_with_alarm():
        signal.signal(signal.SIGALRM, lambda *_: None)
        signal.siginterrupt(signal.SIGALRM, True)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        buf = ctypes.create_string_buffer(16)
        return repr(cbtest.c_call(cbtest.libc.read, fd, buf, 16)).encode()

    assert Child(read_with_alarm).result(10) == repr((-1, errno.EINTR)).encode()
    assert stats()["reads"] == 0
    os.close(fd)


def test_signal_with_sa_restart_restarts_read():
    fd = os.open(DEV, os.O_RDWR)

    def read_with_alarm():
        signal.signal(signal.SIGALRM, lambda *_: None)
        signal.siginterrupt(signal.SIGALRM, False)
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        buf = ctypes.create_string_buffer(16)
        n, _ = cbtest.c_call(cbtest.libc.read, fd, buf, 16)
        return buf.raw[:n]

    child = Child(read_with_alarm)
    assert not child.finished_within(0.8), "read returned instead of restarting"
    os.write(fd, b"after")
    assert child.result(10) == b"after"
    os.close(fd)


def test_signal_during_write_returns_partial_count():
    reload_module(buffer_size=4096)
    fd = os.open(DEV, os.O_RDWR)

    def write_with_alarm():
        signal.signal(signal.SIGALRM, lambda *_: None)
        signal.siginterrupt(signal.SIGALRM, True)
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        buf = ctypes.create_string_buffer(b"z" * 10000)
        return repr(cbtest.c_call(cbtest.libc.write, fd, buf, 10000)).encode()

    assert Child(write_with_alarm).result(10) == repr((4096, 0)).encode()
    s = stats()
    assert s["used"] == 4096 and s["bytes_written"] == 4096, s
    assert os.read(fd, 5000) == b"z" * 4096
    os.close(fd)


def test_killed_blocked_reader_loses_nothing():
    fd = os.open(DEV, os.O_RDWR)
    child = Child(lambda: os.read(fd, 10))
    assert not child.finished_within(0.3)
    child.kill()
    os.waitpid(child.pid, 0)
    child.status = 0
    os.write(fd, b"safe")
    assert os.read(fd, 10) == b"safe"
    os.close(fd)


# User copies


def _until_read_waits(count, seconds=5):
    """Waits until the device has counted `count` reads that went to sleep."""
    deadline = time.monotonic() + seconds
    while stats()["read_waits"] < count:
        assert time.monotonic() < deadline, "reader never went to sleep"
        time.sleep(0.01)


def test_reader_whose_buffer_faults_passes_the_wake_up_on():
    # Two readers asleep on an empty ring; the first queued gets the one
    # wake-up for the data but faults on its buffer. The second must still
    # be woken and get the data.
    fd = os.open(DEV, os.O_RDWR)
    waits = stats()["read_waits"]
    faulting = Child(lambda: cbtest.c_call(cbtest.libc.read, fd, ctypes.c_void_p(1), 10))
    _until_read_waits(waits + 1)
    reader = Child(lambda: os.read(fd, 10))
    _until_read_waits(waits + 2)
    os.write(fd, b"for you")
    assert faulting.result() == repr((-1, errno.EFAULT)).encode()
    assert reader.result(5) == b"for you"
    os.close(fd)


def test_fault_in_second_page_returns_first_page():
    reload_module(buffer_size=65536)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    data = bytes(i % 253 for i in range(8192))
    assert os.write(fd, data) == 8192
    area = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    assert cbtest.libc.mprotect(ctypes.c_void_p(base + mmap.PAGESIZE), mmap.PAGESIZE, 0) == 0
    n, err = cbtest.c_call(cbtest.libc.read, fd, base, 8192)
    assert n == mmap.PAGESIZE, (n, err)
    assert area[:mmap.PAGESIZE] == data[:mmap.PAGESIZE]
    assert stats()["used"] == 8192 - mmap.PAGESIZE
    # The undelivered bytes are still there, in order.
    assert os.read(fd, 8192) == data[mmap.PAGESIZE:]
    # A write from the same buffer stores only the readable page.
    n, err = cbtest.c_call(cbtest.libc.write, fd, base, 8192)
    assert n == mmap.PAGESIZE, (n, err)
    s = stats()
    assert s["used"] == mmap.PAGESIZE and s["bytes_written"] == 8192 + mmap.PAGESIZE, s
    os.close(fd)


def test_bad_pointers_are_efault_and_change_nothing():
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    os.write(fd, b"keep")
    kernel_address = 0xffffffff81000000
    for address in (0, kernel_address, 8):
        assert cbtest.c_call(cbtest.libc.read, fd, address, 4) == (-1, errno.EFAULT)
        assert cbtest.c_call(cbtest.libc.write, fd, address, 4) == (-1, errno.EFAULT)
    s = stats()
    assert s["used"] == 4 and s["reads"] == 0 and s["writes"] == 1, s
    assert os.read(fd, 10) == b"keep"
    os.close(fd)


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


def test_select_wakes_on_write():
    r = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    child = Child(lambda: select.select([r], [], [], 10)[0])
    assert not child.finished_within(0.3)
    os.write(r, b"!")
    assert child.result(10) == repr([r]).encode()
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
                 "dropped_records": 0}, s
    os.close(w)
    os.close(r)
    assert stats()["readers"] == 1 and stats()["writers"] == 0


def test_stats_count_waits():
    fd = os.open(DEV, os.O_RDWR)
    child = Child(lambda: os.read(fd, 10))
    assert not child.finished_within(0.3)
    os.write(fd, b"x")
    child.result(10)
    assert stats()["read_waits"] >= 1
    os.close(fd)


def test_fionread():
    fd = os.open(DEV, os.O_RDWR)
    assert cbtest.fionread(fd) == 0
    os.write(fd, b"12345")
    assert cbtest.fionread(fd) == 5
    os.close(fd)


def test_reset_discards_and_wakes_writer():
    reload_module(buffer_size=64)
    fd = os.open(DEV, os.O_RDWR)
    os.write(fd, b"q" * 64)
    child = Child(lambda: os.write(fd, b"new"))
    assert not child.finished_within(0.3), "write into a full ring returned"
    import fcntl
    fcntl.ioctl(fd, cbtest.CIRCBUF_RESET)
    assert child.result(10) == b"3"
    assert os.read(fd, 100) == b"new"
    os.close(fd)


def test_reset_needs_write_access():
    import fcntl
    r = os.open(DEV, os.O_RDONLY)
    expect_errno(errno.EBADF, fcntl.ioctl, r, cbtest.CIRCBUF_RESET)
    os.close(r)


def test_unknown_ioctls_are_enotty():
    fd = os.open(DEV, os.O_RDWR)
    buf = ctypes.create_string_buffer(256)
    for cmd in (0, 0xC103, cbtest._ioc(1, 0xC1, 0x01, 88), cbtest._ioc(2, 0xC1, 0x01, 80),
                cbtest._ioc(2, 0xC2, 0x01, 88), cbtest._ioc(3, 0xC1, 0x01, 88),
                cbtest._ioc(2, 0xC1, 0x09, 88), cbtest._ioc(1, 0xC1, 0x02, 0)):
        assert cbtest.c_call(cbtest.libc.ioctl, fd, cmd, buf) == (-1, errno.ENOTTY), hex(cmd)
    os.close(fd)


def test_ioctl_bad_pointer_is_efault():
    fd = os.open(DEV, os.O_RDWR)
    for cmd in (cbtest.CIRCBUF_GET_STATS, cbtest.FIONREAD):
        for address in (0, 0xffffffff81000000):
            assert cbtest.c_call(cbtest.libc.ioctl, fd, cmd, address) == (-1, errno.EFAULT)
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
