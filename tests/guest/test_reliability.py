# SPDX-License-Identifier: GPL-2.0
"""What users and attackers actually do: failing user copies and allocations
at every injection point, hostile arguments, signals at random moments,
processes killed with the device open, and load/unload cycles.

Fault injection needs the debug kernel (CONFIG_FAULT_INJECTION*); on the
fast kernel those tests are reported as skipped.
The runner's kmemleak scan at the end of the run catches leaks."""

import ctypes
import errno
import mmap
import os
import random
import signal

import cbtest
from cbtest import DEV, Child, Skip, c_call, expect_errno, libc, reload_module, stats

# 200 load/unload cycles and the fault walks take minutes on the debug kernel
# under TCG; the runner's limit is there for hangs, not speed.
TEST_TIMEOUT = 600

DEBUGFS = "/sys/kernel/debug"
FAULT_KNOBS = os.path.exists(f"{DEBUGFS}/fail_usercopy")
SEED = int(os.environ.get("CIRCBUF_SEED", "20261125"))

SYS_FINIT_MODULE = 313  # x86_64; glibc has no wrapper
USER_SPACE_END = 0x7ffffffff000  # x86_64's TASK_SIZE_MAX with 4-level paging
libc.syscall.restype = ctypes.c_long


def _knob(path, value):
    with open(f"{DEBUGFS}/{path}", "w") as f:
        f.write(str(value))


def _quiet_fault_injection():
    """Fail-nth needs no probability; silence the stack dump of every
    injected failure, which would otherwise read as a kernel problem."""
    for attr in ("fail_usercopy", "failslab"):
        _knob(f"{attr}/verbose", 0)
    _knob("failslab/ignore-gfp-wait", "N")


def _with_fail_nth(nth, call):
    """Runs `call` with the nth fault-injection point of this task failing.
    Returns (result, whether the injected fault was reached).

    The control file is opened beforehand. Reading it back is itself a user
    copy, and so an injection point: if the call left the count at 1, that
    read fails with EFAULT, which also means the call did not reach it."""
    tid = ctypes.CDLL(None).gettid()
    control = os.open(f"/proc/self/task/{tid}/fail-nth", os.O_RDWR)
    try:
        os.pwrite(control, str(nth).encode(), 0)
        result = call()
        try:
            reached = int(os.pread(control, 32, 0).strip() or b"0") == 0
        except OSError as e:
            assert e.errno == errno.EFAULT, e
            reached = False
        try:
            os.pwrite(control, b"0", 0)
        except OSError as e:
            # The write's own copy used up the last count: now it is 0.
            assert e.errno == errno.EFAULT, e
    finally:
        os.close(control)
    return result, reached


def _drain(fd):
    out = b""
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def test_fault_injection_knobs_match_the_kernel():
    assert FAULT_KNOBS == (os.environ.get("CIRCBUF_KERNEL") == "debug")


SEGMENTS = (3000, 4000, 100, 5288)


def _place_head(fd, offset):
    """Moves the ring's read position to `offset`, so the next I/O wraps."""
    filler = b"\0" * offset
    while filler:
        n = os.write(fd, filler)
        _drain(fd)
        filler = filler[n:]


def test_write_with_failing_copy_at_every_point():
    if not FAULT_KNOBS:
        raise Skip("needs the debug kernel's fault injection")
    _quiet_fault_injection()
    reload_module(buffer_size=65536)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    rng = random.Random(SEED)
    data = bytes(rng.randrange(256) for _ in range(sum(SEGMENTS)))
    segments, at = [], 0
    for size in SEGMENTS:
        segments.append(data[at:at + size])
        at += size
    written_total = 0
    nth = 1
    while True:
        # A vectored write across the wrap point: several copies, each an
        # injection point, plus the import of the iovec array itself.
        _place_head(fd, 65536 - 6000)
        before = stats()["bytes_written"]
        try:
            n, reached = _with_fail_nth(nth, lambda: os.writev(fd, segments))
        except OSError as e:
            assert e.errno == errno.EFAULT, (nth, e)
            n, reached = 0, True
        written_total += n
        assert _drain(fd) == data[:n], f"fail-nth={nth}: stored bytes differ from the first {n}"
        assert stats()["bytes_written"] - before == n
        if not reached:
            assert n == len(data)
            break
        assert n < len(data), f"fail-nth={nth} injected a fault but the write completed"
        nth += 1
    assert nth > 2, "fewer than two injection points were reached"
    print(f"  write: failed the copy at each of {nth - 1} injection points, "
          f"{written_total} bytes stored in all, none lost or duplicated")
    os.close(fd)


def test_read_with_failing_copy_at_every_point():
    if not FAULT_KNOBS:
        raise Skip("needs the debug kernel's fault injection")
    _quiet_fault_injection()
    reload_module(buffer_size=65536)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    data = bytes(random.Random(SEED + 1).randrange(256) for _ in range(sum(SEGMENTS)))
    nth = 1
    while True:
        _place_head(fd, 65536 - 6000)
        assert os.write(fd, data) == len(data)
        buffers = [bytearray(size) for size in SEGMENTS]
        try:
            n, reached = _with_fail_nth(nth, lambda: os.readv(fd, buffers))
        except OSError as e:
            assert e.errno == errno.EFAULT, (nth, e)
            n, reached = 0, True
        assert b"".join(buffers)[:n] == data[:n], f"fail-nth={nth}: delivered bytes differ"
        assert _drain(fd) == data[n:], f"fail-nth={nth}: undelivered bytes lost or duplicated"
        if not reached:
            assert n == len(data)
            break
        nth += 1
    assert nth > 2
    print(f"  read: failed the copy at each of {nth - 1} injection points, nothing lost")
    os.close(fd)


def test_ioctl_with_failing_copy():
    if not FAULT_KNOBS:
        raise Skip("needs the debug kernel's fault injection")
    _quiet_fault_injection()
    fd = os.open(DEV, os.O_RDWR)
    buf = ctypes.create_string_buffer(cbtest.STATS_SIZE)
    (res, err), reached = _with_fail_nth(
        1, lambda: c_call(libc.ioctl, fd, cbtest.CIRCBUF_GET_STATS, buf))
    assert reached and (res, err) == (-1, errno.EFAULT)
    assert stats(fd)["capacity"] > 0
    os.close(fd)


def test_module_load_with_failing_allocation_at_every_point():
    if not FAULT_KNOBS:
        raise Skip("needs the debug kernel's fault injection")
    _quiet_fault_injection()
    cbtest.unload_module()
    module_fd = os.open(cbtest.MODULE, os.O_RDONLY)
    nth = 1
    failures = 0
    while True:
        (res, err), reached = _with_fail_nth(
            nth, lambda: c_call(libc.syscall, SYS_FINIT_MODULE, module_fd, b"buffer_size=100000", 0))
        if not reached:
            assert res == 0, (nth, res, errno.errorcode.get(err))
            break
        if res == 0:
            # The failed allocation was one the loader may retry or tolerate.
            cbtest.unload_module()
        else:
            failures += 1
            assert err in (errno.ENOMEM, errno.EINVAL, errno.EFAULT), (nth, errno.errorcode[err])
            assert not cbtest.module_loaded()
            assert not os.path.exists(DEV)
        nth += 1
    os.close(module_fd)
    assert failures > 0, "no allocation failure reached the module load"
    print(f"  insmod: walked {nth - 1} injection points, {failures} loads failed cleanly")
    assert stats()["capacity"] == 100000


def test_open_with_failing_allocation_at_every_point():
    if not FAULT_KNOBS:
        raise Skip("needs the debug kernel's fault injection")
    _quiet_fault_injection()
    nth = 1
    failures = 0
    while True:
        before = stats()
        try:
            fd, reached = _with_fail_nth(nth, lambda: os.open(DEV, os.O_RDWR))
        except OSError as e:
            # EFAULT: the injected failure hit the copy of the path name.
            assert e.errno in (errno.ENOMEM, errno.ENFILE, errno.EFAULT), (nth, e)
            failures += 1
            after = stats()
            assert (after["readers"], after["writers"]) == (before["readers"], before["writers"])
            nth += 1
            continue
        os.close(fd)
        if not reached:
            break
        nth += 1
    assert failures > 0, "no allocation of open() was failed"
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    assert os.write(fd, b"ok") == 2 and os.read(fd, 2) == b"ok"
    os.close(fd)
    print(f"  open: walked {nth - 1} injection points, {failures} opens failed cleanly")


def test_hostile_buffers_and_counts():
    reload_module(buffer_size=4096)
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    area = mmap.mmap(-1, 3 * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    # Unaligned buffers work like any other.
    area[1:6] = b"hello"
    assert c_call(libc.write, fd, base + 1, 5) == (5, 0)
    assert c_call(libc.read, fd, base + 4097, 5) == (5, 0)
    assert area[4097:4102] == b"hello"
    # Counts at and around the capacity.
    assert c_call(libc.write, fd, base, 4096) == (4096, 0)
    assert c_call(libc.write, fd, base, 1)[1] == errno.EAGAIN
    assert c_call(libc.read, fd, base, 4097) == (4096, 0)
    assert c_call(libc.write, fd, base, 4097) == (4096, 0)
    assert c_call(libc.read, fd, base, 1) == (1, 0)
    assert c_call(libc.read, fd, base, 4095) == (4095, 0)
    # SSIZE_MAX from a small buffer: the range runs past the end of user
    # space, so the VFS's access_ok() refuses it with EFAULT before circbuf
    # is asked, with data waiting (read) and with room (write) alike.
    ssize_max = (1 << 63) - 1
    before = stats()
    assert c_call(libc.write, fd, base, ssize_max) == (-1, errno.EFAULT)
    assert c_call(libc.write, fd, base, 10) == (10, 0)
    assert c_call(libc.read, fd, base, ssize_max) == (-1, errno.EFAULT)
    s = stats()
    assert (s["used"], s["reads"], s["writes"]) == (10, before["reads"], before["writes"] + 1), s
    # A count beyond MAX_RW_COUNT whose range stays inside user space gets
    # past access_ok() and reaches circbuf clamped to MAX_RW_COUNT: a write
    # stores what fits and stops at the full ring before its copy reaches
    # the end of the buffer; a read returns what is there. The buffer is on
    # the heap, far below the end of user space (mappings sit near it).
    huge = 1 << 32
    heap = ctypes.create_string_buffer(b"h" * 4096, 4096)
    assert ctypes.addressof(heap) + huge < USER_SPACE_END, hex(ctypes.addressof(heap))
    assert c_call(libc.write, fd, heap, huge) == (4096 - 10, 0)
    assert c_call(libc.read, fd, heap, huge) == (4096, 0)
    assert heap.raw == bytes(area[:10]) + b"h" * (4096 - 10)
    os.close(fd)
    area.close()


def test_unmapped_buffer_is_efault():
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    os.write(fd, b"xyz")
    area = mmap.mmap(-1, mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    # Keep the mapping object alive but unmap the page under it.
    assert libc.munmap(base, mmap.PAGESIZE) == 0
    assert c_call(libc.read, fd, base, 3) == (-1, errno.EFAULT)
    assert c_call(libc.write, fd, base, 3) == (-1, errno.EFAULT)
    assert os.read(fd, 10) == b"xyz"
    os.close(fd)


def _signalled_writer(restart, seed, records, size):
    """Writes `records` records under random SIGALRMs; returns bytes stored."""
    def run():
        rng = random.Random(seed)
        signal.signal(signal.SIGALRM, lambda *_: None)
        signal.siginterrupt(signal.SIGALRM, not restart)
        fd = os.open(DEV, os.O_WRONLY)
        stored = 0
        payload = ctypes.create_string_buffer(b"s" * size, size)
        for _ in range(records):
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.0005, 0.01))
            n, err = c_call(libc.write, fd, payload, size)
            if n > 0:
                stored += n
            else:
                assert err == errno.EINTR and not restart, err
        signal.setitimer(signal.ITIMER_REAL, 0)
        os.close(fd)
        return str(stored).encode()
    return run


def _signalled_reader(restart, seed):
    def run():
        rng = random.Random(seed)
        signal.signal(signal.SIGALRM, lambda *_: None)
        signal.siginterrupt(signal.SIGALRM, not restart)
        fd = os.open(DEV, os.O_RDONLY)
        got = 0
        buf = ctypes.create_string_buffer(3000)
        while True:
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.0005, 0.01))
            n, err = c_call(libc.read, fd, buf, rng.randrange(1, 3000))
            if n == 0:
                break
            if n > 0:
                got += n
            else:
                assert err == errno.EINTR and not restart, err
        signal.setitimer(signal.ITIMER_REAL, 0)
        os.close(fd)
        return str(got).encode()
    return run


def test_random_signals_lose_nothing():
    for restart in (False, True):
        reload_module(buffer_size=1024)
        before = stats()
        # Held while the children start, so readers cannot see EOF before
        # the writers open; every child drops its inherited copy at once.
        gate = os.open(DEV, os.O_WRONLY)

        def without_gate(fn):
            def run():
                os.close(gate)
                return fn()
            return run

        readers = [Child(without_gate(_signalled_reader(restart, SEED + i))) for i in range(2)]
        # Both readers must have opened while the gate was held, or one could
        # open after the writers have gone and wait for a writer forever.
        # (stats() counts its own file too, as `before` did.)
        cbtest.wait_for(lambda: stats()["readers"] == before["readers"] + 2, "the readers to open")
        writers = [Child(without_gate(_signalled_writer(restart, SEED + 10 + i, 150, 700)))
                   for i in range(3)]
        written = sum(int(w.result(120)) for w in writers)
        os.close(gate)
        read = sum(int(r.result(120)) for r in readers)
        after = stats()
        assert written == read, (restart, written, read)
        assert after["bytes_written"] - before["bytes_written"] == written
        assert after["bytes_read"] - before["bytes_read"] == read
        assert after["used"] == 0
        print(f"  signals (SA_RESTART={restart}): {written} bytes written and read exactly")


def _rmmod_refused():
    res = cbtest.run("rmmod", "circbuf", check=False)
    assert res.returncode != 0 and cbtest.module_loaded(), res


def test_sigkill_with_device_open_then_unload():
    """Blocked tasks SIGKILLed while they hold the device: first a reader
    asleep on an empty ring, then a writer and an O_RDWR writer asleep on a
    full one. rmmod is refused while they live; once each is killed the open
    counts are back, nothing it was blocked on is lost (the ring still works
    and the books balance), and rmmod succeeds."""
    reload_module(buffer_size=4096)
    gate = os.open(DEV, os.O_WRONLY)  # so that the reader waits rather than seeing EOF
    reader = Child(lambda: os.read(os.open(DEV, os.O_RDONLY), 1))
    reader.wait_asleep(read_waits=1)
    _rmmod_refused()
    reader.kill()
    # The data written afterwards all goes to the next reader.
    late = Child(lambda: os.read(os.open(DEV, os.O_RDONLY), 100))
    late.wait_asleep(read_waits=2)
    os.write(gate, b"after the kill")
    assert late.result() == b"after the kill"
    os.close(gate)

    writers = []
    for n, flags in enumerate((os.O_WRONLY, os.O_RDWR), 1):
        writers.append(Child(lambda flags=flags: os.write(os.open(DEV, flags), b"x" * 100000)))
        writers[-1].wait_asleep(write_waits=n)
    _rmmod_refused()
    for child in writers:
        child.kill()
    s = stats()
    assert s["readers"] == 1 and s["writers"] == 0, s  # the reader is stats() itself
    assert (s["used"], s["bytes_written"], s["bytes_read"]) == (4096, 4096 + 14, 14), s
    assert (s["reads"], s["writes"]) == (1, 2), s
    cbtest.run("rmmod", "circbuf")


def test_load_unload_cycles_with_io():
    # More cycles where kmemleak watches (the debug kernel); it reports an
    # object leaked even once, so 50 are plenty (200 took three minutes).
    default = "50" if os.environ.get("CIRCBUF_KERNEL") == "debug" else "20"
    cycles = int(os.environ.get("CIRCBUF_CYCLES", default))
    for i in range(cycles):
        cbtest.unload_module()
        cbtest.load_module(f"buffer_size={64 + i * 97}")
        fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
        data = bytes([i % 256]) * min(50 + i, 64 + i * 97)
        assert os.write(fd, data) == len(data)
        assert os.read(fd, len(data)) == data
        os.close(fd)
    print(f"  {cycles} load/unload cycles with I/O")
