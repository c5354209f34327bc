# SPDX-License-Identifier: GPL-2.0
"""Overwrite (telemetry) mode, docs/semantics.md "Overwrite mode": writers
never wait, the oldest whole records make room, reads end at record
boundaries, and the statistics count what was dropped."""

import ctypes
import errno
import mmap
import os
import select
import struct
import time

import cbtest
from cbtest import (DEV, MODE_BLOCK, MODE_OVERWRITE, PIPE_BUF, Child, blocks, expect_errno,
                    reload_module, set_mode, stats)
from test_tools import SEED, STRESS, STRESS_SECONDS, _stress, _summary_value


def records(count, size, first=0):
    """`count` distinct records of `size` bytes, each starting with its number."""
    return [struct.pack("<I", first + i) + bytes([(first + i) % 251]) * (size - 4)
            for i in range(count)]


def test_mode_parameter_sets_the_initial_mode():
    reload_module(buffer_size=1000, mode=1)
    assert stats()["mode"] == MODE_OVERWRITE
    reload_module(buffer_size=1000, mode=0)
    assert stats()["mode"] == MODE_BLOCK
    reload_module(buffer_size=1000)
    assert stats()["mode"] == MODE_BLOCK, "block is the default"


def test_bad_mode_parameter_refused_with_message():
    """Each refused value gets its own message, found among the kernel
    messages logged by that insmod alone."""
    cbtest.unload_module()
    for value, message in (("2", "mode=2 is not a mode: it must be 0 (block) or 1 (overwrite)"),
                           ("-1", "`-1' invalid for parameter `mode'"),
                           ("overwrite", "`overwrite' invalid for parameter `mode'")):
        res, log = cbtest.kernel_messages_during(
            lambda: cbtest.load_module(f"mode={value}", check=False))
        assert res.returncode != 0, f"mode={value} was accepted"
        assert message in log, f"mode={value}: no {message!r} in {log!r}"
        assert not cbtest.module_loaded()
    cbtest.load_module("mode=1")
    assert stats()["mode"] == MODE_OVERWRITE


def test_set_mode_needs_write_access_and_a_known_mode():
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    w = os.open(DEV, os.O_WRONLY)
    expect_errno(errno.EBADF, set_mode, r, MODE_OVERWRITE)
    for bad in (2, 0xFFFFFFFF):
        expect_errno(errno.EINVAL, set_mode, w, bad)
    assert stats()["mode"] == MODE_BLOCK
    set_mode(w, MODE_OVERWRITE)
    assert stats()["mode"] == MODE_OVERWRITE
    set_mode(w, MODE_BLOCK)
    assert stats()["mode"] == MODE_BLOCK
    for address in (0, 0xffffffff81000000):
        assert cbtest.c_call(cbtest.libc.ioctl, w, cbtest.CIRCBUF_SET_MODE,
                             address) == (-1, errno.EFAULT)
    os.close(r)
    os.close(w)


def test_full_ring_drops_the_oldest_whole_records():
    reload_module(buffer_size=1000, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    sent = records(10, 300)
    for record in sent:
        assert os.write(w, record) == 300
    s = stats()
    assert (s["used"], s["dropped_records"], s["dropped_bytes"]) == (900, 7, 2100), s
    assert (s["writes"], s["bytes_written"], s["write_waits"]) == (10, 3000, 0), s
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    assert os.read(r, 4096) == b"".join(sent[7:]), "not the newest three records"
    os.close(w)
    os.close(r)


def test_writers_never_wait_or_get_eagain():
    reload_module(buffer_size=64, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    nb = os.open(DEV, os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, b"a" * 64)
    assert not blocks(lambda: os.write(w, b"b" * 10)), "a blocking write waited"
    assert os.write(nb, b"c" * 10) == 10, "a non-blocking write got less than all"
    assert stats()["write_waits"] == 0
    os.close(w)
    os.close(nb)


def test_poll_reports_a_full_ring_writable():
    reload_module(buffer_size=64, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    os.write(w, b"x" * 64)
    poller = select.poll()
    poller.register(w, select.POLLOUT)
    assert poller.poll(0) == [(w, select.POLLOUT)]
    os.close(w)


def test_reads_end_at_record_boundaries():
    reload_module(buffer_size=4096, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    sizes = (100, 250, 40, 300, 7)
    sent = [bytes([i + 1]) * n for i, n in enumerate(sizes)]
    for record in sent:
        os.write(w, record)
    assert os.read(r, 360) == sent[0] + sent[1], "a read split a record that fitting stopped"
    assert os.read(r, 39) == sent[2][:39], "a record larger than the buffer comes in pieces"
    assert os.read(r, 1000) == sent[2][39:] + sent[3] + sent[4]
    os.close(w)
    os.close(r)


def test_block_mode_reads_fill_the_buffer():
    """The boundary rule is overwrite mode's: in block mode reads stay pipe-like."""
    reload_module(buffer_size=4096)
    w = os.open(DEV, os.O_WRONLY)
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    os.write(w, b"a" * 100)
    os.write(w, b"b" * 100)
    assert os.read(r, 150) == b"a" * 100 + b"b" * 50
    os.close(w)
    os.close(r)


def test_long_writes_become_pipe_buf_records():
    reload_module(buffer_size=3 * PIPE_BUF, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    data = bytes(range(256)) * 40  # 10240 bytes: records of 4096, 4096, 2048
    assert os.write(w, data) == len(data)
    os.write(w, b"z" * 2048)  # fits: 10240 + 2048 = 12288, nothing dropped
    assert stats()["dropped_records"] == 0
    os.write(w, b"y")  # the first 4096-byte record goes
    s = stats()
    assert (s["dropped_records"], s["dropped_bytes"]) == (1, PIPE_BUF), s
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    assert os.read(r, 65536) == data[PIPE_BUF:] + b"z" * 2048 + b"y"
    os.close(w)
    os.close(r)


def test_write_longer_than_the_ring_keeps_its_newest_records():
    reload_module(buffer_size=100, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    data = bytes(range(250))
    assert os.write(w, data) == 250, "the whole write counts as written"
    s = stats()
    assert (s["used"], s["dropped_records"], s["dropped_bytes"]) == (50, 2, 200), s
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    assert os.read(r, 1000) == data[200:]
    os.close(w)
    os.close(r)


def test_rest_of_a_partly_read_record_is_dropped_whole():
    reload_module(buffer_size=1000, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    os.write(w, b"a" * 600)
    assert os.read(r, 100) == b"a" * 100
    os.write(w, b"b" * 400)
    os.write(w, b"c" * 300)  # needs the 500 left of the first record
    s = stats()
    assert (s["dropped_records"], s["dropped_bytes"]) == (1, 500), s
    assert os.read(r, 1000) == b"b" * 400 + b"c" * 300
    os.close(w)
    os.close(r)


def test_partly_faulting_write_stores_its_readable_prefix_as_a_record():
    """A write of PIPE_BUF bytes whose last 1000 bytes are unreadable stores
    its readable 3096 bytes as one record and returns their count. Into a
    full ring it drops only the records that prefix needs room for."""
    reload_module(buffer_size=2 * PIPE_BUF, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    area, base = cbtest.half_readable_buffer()
    readable = PIPE_BUF - 1000
    start = mmap.PAGESIZE - readable
    area[start:mmap.PAGESIZE] = bytes(i % 251 for i in range(readable))
    prefix = area[start:mmap.PAGESIZE]
    # Room for all of it.
    assert cbtest.c_call(cbtest.libc.write, w, base + start, PIPE_BUF) == (readable, 0)
    assert os.read(r, 2 * PIPE_BUF) == prefix
    # A full ring of two records: the oldest goes, the newer stays.
    old, new = (bytes([c]) * PIPE_BUF for c in b"on")
    os.write(w, old)
    os.write(w, new)
    assert cbtest.c_call(cbtest.libc.write, w, base + start, PIPE_BUF) == (readable, 0)
    s = stats()
    assert (s["dropped_records"], s["dropped_bytes"]) == (1, PIPE_BUF), s
    assert (s["writes"], s["bytes_written"]) == (4, 2 * readable + 2 * PIPE_BUF), s
    assert os.read(r, PIPE_BUF) == new
    assert os.read(r, PIPE_BUF) == prefix, "the prefix is not one record"
    os.close(w)
    os.close(r)


def test_faulting_write_drops_nothing():
    reload_module(buffer_size=100, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    os.write(w, b"k" * 100)
    for address in (0, 0xffffffff81000000):
        assert cbtest.c_call(cbtest.libc.write, w, address, 50) == (-1, errno.EFAULT)
    s = stats()
    assert (s["used"], s["dropped_records"], s["dropped_bytes"]) == (100, 0, 0), s
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    assert os.read(r, 1000) == b"k" * 100
    os.close(w)
    os.close(r)


def test_switching_to_overwrite_releases_blocked_writers():
    reload_module(buffer_size=100)
    w = os.open(DEV, os.O_WRONLY)
    os.write(w, b"o" * 100)
    writer = Child(lambda: os.write(w, b"n" * 60))
    writer.wait_asleep(write_waits=1)
    set_mode(w, MODE_OVERWRITE)
    assert writer.result() == b"60"
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    assert os.read(r, 1000) == b"n" * 60, "the old record should have made room"
    os.close(w)
    os.close(r)


def test_data_written_in_block_mode_drops_in_pipe_buf_records():
    """Block mode keeps no record boundaries. Switched to overwrite mode,
    what is waiting counts as records of PIPE_BUF bytes from the oldest
    byte on, so making room for a small record drops one of them, not
    everything that was written in block mode."""
    reload_module(buffer_size=3 * PIPE_BUF)
    w = os.open(DEV, os.O_WRONLY)
    old = bytes(i % 251 for i in range(3 * PIPE_BUF))
    assert os.write(w, old) == len(old)
    set_mode(w, MODE_OVERWRITE)
    assert os.write(w, b"new") == 3
    s = stats()
    assert (s["dropped_records"], s["dropped_bytes"]) == (1, PIPE_BUF), s
    r = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    assert os.read(r, 65536) == old[PIPE_BUF:] + b"new"
    os.close(r)
    os.close(w)


def test_back_to_block_mode_writers_wait_again():
    reload_module(buffer_size=100, mode=1)
    w = os.open(DEV, os.O_WRONLY)
    set_mode(w, MODE_BLOCK)
    os.write(w, b"x" * 100)
    assert blocks(lambda: os.write(w, b"y")), "block mode must wait on a full ring"
    nonblocking = os.open(DEV, os.O_WRONLY | os.O_NONBLOCK)
    expect_errno(errno.EAGAIN, os.write, nonblocking, b"y")
    os.close(nonblocking)
    os.close(w)


def test_concurrent_writers_and_a_reader_see_only_whole_records():
    """Four writers race one reader on a small ring: every record read is
    whole and each writer's records arrive in order; the books balance."""
    reload_module(buffer_size=2048, mode=1)
    size, count, writers = 64, 3000, 4

    def writer(n):
        fd = os.open(DEV, os.O_WRONLY)
        for seq in range(count):
            head = struct.pack("<II", n, seq)
            body = bytes([(n * 31 + seq) % 256]) * (size - 8)
            assert os.write(fd, head + body) == size
        os.close(fd)
        return b"ok"

    r = os.open(DEV, os.O_RDONLY)
    children = [Child(lambda n=n: writer(n)) for n in range(writers)]
    # The writers overrun the ring before reading starts.
    cbtest.wait_for_stat("dropped_records", 1)
    last = [-1] * writers
    received = 0
    while True:
        chunk = os.read(r, PIPE_BUF)
        if not chunk:
            break
        assert len(chunk) % size == 0, f"a read of {len(chunk)} bytes split a record"
        for at in range(0, len(chunk), size):
            n, seq = struct.unpack_from("<II", chunk, at)
            assert n < writers and seq > last[n], (n, seq, last[n])
            assert chunk[at + 8:at + size] == bytes([(n * 31 + seq) % 256]) * (size - 8)
            last[n] = seq
            received += 1
    for child in children:
        assert child.result(60) == b"ok"
    s = stats(r)
    os.close(r)
    total = size * count * writers
    assert s["bytes_written"] == total, s
    assert s["bytes_read"] == received * size, s
    assert s["bytes_read"] + s["dropped_bytes"] + s["used"] == total, s
    assert s["dropped_records"] > 0 and s["dropped_records"] * size == s["dropped_bytes"], s
    assert s["used"] == 0 and max(last) == count - 1, (s, last)


def test_unknown_set_mode_shapes_are_enotty():
    fd = os.open(DEV, os.O_RDWR)
    buf = ctypes.create_string_buffer(16)
    for cmd in (cbtest._ioc(1, 0xC1, 0x03, 8), cbtest._ioc(2, 0xC1, 0x03, 4),
                cbtest._ioc(0, 0xC1, 0x03, 0)):
        assert cbtest.c_call(cbtest.libc.ioctl, fd, cmd, buf) == (-1, errno.ENOTTY), hex(cmd)
    os.close(fd)


# The stress tool in overwrite mode (`stress --overwrite`), run as in
# test_tools.py: it must pass with drops really happening, put the device
# back in the mode it found, and fail when the books do not balance.

RECORD_MAGIC = 0xC1B05EED


def stress(*args, duration=STRESS_SECONDS):
    """Runs stress on the device; returns its exit status, summary line
    (the last line of its output) and error output."""
    cmd = [STRESS, DEV, f"--duration={duration}", f"--seed={SEED}", *args]
    result = cbtest.run(*cmd, check=False, timeout=duration + 90)
    lines = result.stdout.strip().splitlines()
    return result.returncode, lines[-1] if lines else "", result.stderr


def stress_overwrite_balances(*args):
    """Runs `stress --overwrite ARGS` on a device in block mode and checks
    its summary against the statistics; returns the records dropped."""
    before = stats()
    assert before["mode"] == MODE_BLOCK, before
    summary = _stress("--overwrite", *args)
    after = stats()
    assert "mode=records device-mode=overwrite" in summary, summary
    dropped = _summary_value(summary, "dropped-records")
    moved = {k: after[k] - before[k] for k in
             ("bytes_written", "bytes_read", "dropped_bytes", "dropped_records", "write_waits")}
    assert moved["dropped_records"] == dropped, (summary, moved)
    assert moved["bytes_read"] == _summary_value(summary, "bytes"), (summary, moved)
    assert moved["bytes_written"] == moved["bytes_read"] + moved["dropped_bytes"], moved
    assert moved["write_waits"] == 0, moved
    assert after["mode"] == MODE_BLOCK, "stress did not switch the device back"
    assert (after["used"], after["writers"]) == (0, 0), after
    assert after["readers"] == before["readers"], (before, after)
    return dropped


def test_stress_overwrite_on_a_small_ring_drops_and_balances():
    reload_module(buffer_size=256)
    dropped = stress_overwrite_balances("--writers=4", "--readers=2", "--record-size=32")
    assert dropped > 0, "four writers never overran an eight-record ring"


def test_stress_overwrite_on_a_64_kib_ring():
    reload_module(buffer_size=65536)
    stress_overwrite_balances("--writers=4", "--readers=2")


def test_stress_overwrite_with_processes_and_records_that_do_not_tile_the_ring():
    reload_module(buffer_size=4096)
    dropped = stress_overwrite_balances("--writers=8", "--readers=2", "--record-size=100",
                                        "--processes")
    assert dropped > 0, "eight writers never overran a 40-record ring"


def test_stress_runs_an_overwrite_device_in_block_mode_and_switches_it_back():
    reload_module(buffer_size=4096, mode=1)
    summary = _stress("--writers=4", "--readers=4")
    assert "device-mode" not in summary and "dropped" not in summary, summary
    s = stats()
    assert s["mode"] == MODE_OVERWRITE, "stress did not switch the device back"
    assert (s["dropped_records"], s["used"]) == (0, 0), s


def test_stress_overwrite_fails_when_a_record_is_taken_behind_its_back():
    """A reader outside the run takes one record. Overwrite mode excuses
    records the device dropped, not this one: the books must not balance."""
    reload_module(buffer_size=4096)
    # Opened here, before stress looks, so that it sees (and warns about)
    # the outsider whenever the child gets to run.
    fd = os.open(DEV, os.O_RDONLY)

    def outsider():
        deadline = time.monotonic() + 30
        # Until the run's writers open, reads see end-of-file: switching
        # the mode took a writer that has come and gone.
        while not (record := os.read(fd, 64)) and time.monotonic() < deadline:
            time.sleep(0.01)
        return record

    child = Child(outsider)
    os.close(fd)
    code, summary, errors = stress("--overwrite", "--writers=4", "--readers=2")
    taken = child.result(30)
    assert len(taken) == 64 and struct.unpack_from("<I", taken)[0] == RECORD_MAGIC, taken
    assert code == 1 and "verdict=FAIL" in summary, (code, summary, errors)
    assert "also open for reading by 1 other file" in errors, errors
    assert ("violation: the device's dropped_records delta = "
            in errors and "but records written but never received = " in errors), errors
    s = stats()
    assert s["mode"] == MODE_BLOCK, "a failed run must switch the device back too"
