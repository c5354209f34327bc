# SPDX-License-Identifier: GPL-2.0
"""The mapped consumer of /dev/circbuf (include/uapi/linux/circbuf.h, the
comment before CIRCBUF_MMAP_CONSUMER_PGOFF): a reader that maps the ring and
reads its bytes in place, publishing how far it got in `head`.

The bytes written are a fixed random stream, STREAM, and every byte seen in
place or read back afterwards is compared with it, so a misplaced, torn,
repeated or lost byte fails. Positions are bytes since load: after the
runner's reload the ring is empty, and stream byte i sits at position
base + i, where base is the device's bytes_written when the test starts."""

import ctypes
import errno
import fcntl
import mmap
import os
import random
import resource
import select
import signal
import threading
import time

import cbtest
from cbtest import (CIRCBUF_RESET, CIRCBUF_WAKE_WRITERS, DEV, MMAP_CONSUMER_PGOFF,
                    MMAP_PRODUCER_PGOFF, MODE_BLOCK,
                    MODE_OVERWRITE, PAGE_SIZE, TELEMETRY, U64, Child, MappedConsumer, c_call,
                    expect_errno, fionread, libc, map_area, map_consumer_page, map_producer_area,
                    open_dev, reload_module, set_mode, stats, wait_for, with_signal_handler)

STREAM = random.Random(1).randbytes(1 << 20)
CAPACITY = 2 * PAGE_SIZE


# Helpers


def fresh(capacity=CAPACITY):
    """Reloads circbuf with a ring of `capacity` bytes; returns the position
    of the stream's first byte (the ring is empty: head == tail there)."""
    reload_module(buffer_size=capacity)
    return stats()["bytes_written"]


def write_stream(fd, start, length):
    """Writes stream bytes [start, start + length) to `fd`, all of them."""
    done = 0
    while done < length:
        done += os.write(fd, STREAM[start + done:start + length])


def read_all(fd):
    """Everything a non-blocking `fd` can read now."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


POLL_SYSCALL = 7


def in_syscall(tid, number):
    """Whether thread `tid` of this process is inside system call `number`."""
    with open(f"/proc/self/task/{tid}/syscall") as f:
        return f.read().split()[0] == str(number)


def poll_events(fd):
    """The events poll(2) reports for `fd` asked for POLLIN (POLLHUP comes
    unasked); for the mapped consumer's file the kernel takes in `head`."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return dict(poller.poll(0)).get(fd, 0)


def consume(m, n, base):
    """What a consumer does: checks the n bytes after `head` in place
    against the stream, then publishes head + n. Returns the new head."""
    head = m.head
    assert m.data(head, n) == STREAM[head - base:head - base + n], f"bytes at {head} + {n}"
    m.head = head + n
    return head + n


def used_and_available():
    s = stats()
    return s["used"], s["available"]


def rmmod_refused(why):
    res = cbtest.run("rmmod", "circbuf", check=False)
    assert res.returncode != 0, f"rmmod succeeded {why}"
    assert "in use" in res.stderr, res.stderr
    assert cbtest.module_loaded()


def mapping_start(length):
    """The address of this process's one mapping of /dev/circbuf that is
    `length` bytes long, from /proc/self/maps (a PROT_READ mmap object gives
    no address)."""
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            start, _, end = fields[0].partition("-")
            if len(fields) >= 6 and fields[5] == DEV and int(end, 16) - int(start, 16) == length:
                return int(start, 16)
    raise AssertionError(f"no mapping of {DEV} of {length} bytes")


def status_of_child_touching(touch):
    """Runs `touch` in a forked child without core dumps; returns the
    child's wait status (exit 0 if `touch` returned, 2 if it raised)."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            touch()
        except BaseException:
            code = 2
        os._exit(code)
    return os.waitpid(pid, 0)[1]


def writer_child(data):
    """A Child writing `data` with one write(2) on a file of its own;
    returns the count."""
    def write():
        fd = os.open(DEV, os.O_WRONLY)
        return os.write(fd, data)
    return Child(write)


# Layout


def test_layout_capacity_positions_and_bytes_in_place():
    """The producer page holds the capacity of the stats, a tail equal to
    bytes_written, no flag; the kernel sets head so that tail - head is what
    waits (FIONREAD, used), after a read(2) moved head on; the waiting bytes,
    and those written while mapped, are at data + head % capacity."""
    base = fresh()
    fd, w = open_dev(), open_dev(os.O_WRONLY)
    try:
        write_stream(w, 0, 3000)
        assert os.read(fd, 1000) == STREAM[:1000]
        with MappedConsumer(fd) as m:
            s = stats()
            assert m.capacity == s["capacity"] == CAPACITY, (m.capacity, s)
            assert m.tail == s["bytes_written"] == base + 3000, (m.tail, s)
            assert m.head == base + 1000, (m.head, base)
            assert m.tail - m.head == fionread(fd) == s["used"] == 2000, (m.tail, m.head, s)
            assert m.flags == 0, m.flags
            assert m.data(m.head, 2000) == STREAM[1000:3000]
            write_stream(w, 3000, 500)
            assert m.tail == base + 3500 and fionread(fd) == 2500
            assert m.data(m.head, 2500) == STREAM[1000:3500]
    finally:
        os.close(w)
        os.close(fd)


def test_double_mapping_makes_a_span_across_the_end_contiguous():
    """With head 1000 bytes before the end of the ring, 5000 waiting bytes
    read straight from data + head % capacity, across the end: the data
    pages follow themselves once more, byte for byte."""
    base = fresh()
    fd, w = open_dev(os.O_RDWR | os.O_NONBLOCK), open_dev(os.O_WRONLY)
    try:
        skip = (CAPACITY - 1000 - base) % CAPACITY
        write_stream(w, 0, skip)
        assert read_all(fd) == STREAM[:skip]
        write_stream(w, skip, 5000)
        with MappedConsumer(fd) as m:
            assert m.head == base + skip and m.head % CAPACITY == CAPACITY - 1000
            assert m.data(m.head, 5000) == STREAM[skip:skip + 5000]
            area = m.producer_area
            first = area[PAGE_SIZE:PAGE_SIZE + CAPACITY]
            assert first == area[PAGE_SIZE + CAPACITY:PAGE_SIZE + 2 * CAPACITY]
            assert first[:4000] == STREAM[skip + 1000:skip + 5000], "wrong bytes after the wrap"
    finally:
        os.close(w)
        os.close(fd)


# Consuming


def test_consuming_frees_room_once_the_kernel_takes_in_head():
    """On a full ring, head += n and then a poll of the consumer's file,
    CIRCBUF_WAKE_WRITERS from another file, or a writer finding the ring
    full: used drops by n, available is n, and a writer stores exactly n
    more bytes, which appear in place. Each take-in counts one read of n
    bytes (docs/semantics.md: bytes_read counts the bytes taken in, reads
    how many times one was). Positions add up: head is bytes_written - used."""
    base = fresh()
    fd = open_dev()
    w = open_dev(os.O_WRONLY | os.O_NONBLOCK)
    other = open_dev(os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_stream(w, 0, CAPACITY)
        written = CAPACITY
        with MappedConsumer(fd) as m:
            takers = (("a poll", lambda: poll_events(fd)),
                      ("CIRCBUF_WAKE_WRITERS", lambda: fcntl.ioctl(other, CIRCBUF_WAKE_WRITERS)),
                      ("a writer finding the ring full", lambda: None))
            for (what, take_in), n in zip(takers, (3000, PAGE_SIZE, 1)):
                before = stats()
                consume(m, n, base)
                take_in()
                assert os.write(w, STREAM[written:written + n]) == n, what
                written += n
                expect_errno(errno.EAGAIN, os.write, w, b"x")
                after = stats()
                assert (after["used"], after["available"]) == (CAPACITY, 0), (what, after)
                assert (after["reads"] - before["reads"],
                        after["bytes_read"] - before["bytes_read"]) == (1, n), (what, before, after)
                assert m.tail == base + written
                assert m.data(m.tail - n, n) == STREAM[written - n:written], what
            consume(m, CAPACITY, base)
            assert poll_events(fd) == 0
            assert used_and_available() == (0, CAPACITY)
            assert m.head == m.tail == base + written
            s = stats()
            assert s["bytes_written"] - s["used"] == m.head, (s, m.head)
    finally:
        for x in (other, w, fd):
            os.close(x)


def test_wake_writers_without_a_mapped_consumer_does_nothing():
    """CIRCBUF_WAKE_WRITERS succeeds on a file of any access mode and, with
    no mapped consumer (before one, and after it closed), changes nothing."""
    fresh()
    r = open_dev(os.O_RDONLY | os.O_NONBLOCK)
    w = open_dev(os.O_WRONLY)
    try:
        write_stream(w, 0, CAPACITY)
        for _ in range(2):
            before = stats()
            for fd in (r, w):
                assert fcntl.ioctl(fd, CIRCBUF_WAKE_WRITERS) == 0
            assert stats() == before
            consumer = open_dev()
            MappedConsumer(consumer).close()
            os.close(consumer)
        assert read_all(r) == STREAM[:CAPACITY]
    finally:
        os.close(w)
        os.close(r)


# poll


def test_poll_says_readable_exactly_while_bytes_are_unconsumed():
    """POLLIN on the consumer's file iff tail != head once poll took head
    in; a consumer asleep in select(2) is woken by a write."""
    base = fresh()
    fd, w = open_dev(), open_dev(os.O_WRONLY)
    try:
        with MappedConsumer(fd) as m:
            assert poll_events(fd) == 0
            write_stream(w, 0, 100)
            assert poll_events(fd) == select.POLLIN
            consume(m, 40, base)
            assert poll_events(fd) == select.POLLIN
            assert stats()["used"] == 60
            consume(m, 60, base)
            assert poll_events(fd) == 0, "POLLIN with tail == head"
            assert stats()["used"] == 0
            child = Child(lambda: select.select([fd], [], [], cbtest.DEADLINE)[0])
            child.wait_asleep()
            write_stream(w, 100, 1)
            assert child.result() == repr([fd]).encode()
            assert poll_events(fd) == select.POLLIN
    finally:
        os.close(w)
        os.close(fd)


def test_poll_says_hup_at_end_of_file_as_the_consumers_file_is_no_writer():
    """Unmapped, the O_RDWR file counts as a writer and never sees end of
    file; mapped, it does not count: with the last other writer gone it gets
    POLLHUP, with POLLIN while bytes wait, and not while a writer is open."""
    base = fresh()
    fd, w = open_dev(), open_dev(os.O_WRONLY)
    write_stream(w, 0, 10)
    os.close(w)
    try:
        assert poll_events(fd) == select.POLLIN, "the O_RDWR file saw end of file unmapped"
        with MappedConsumer(fd) as m:
            assert poll_events(fd) == select.POLLIN | select.POLLHUP
            consume(m, 10, base)
            assert poll_events(fd) == select.POLLHUP
            w = open_dev(os.O_WRONLY)
            assert poll_events(fd) == 0, "POLLHUP with a writer open"
            os.close(w)
            assert poll_events(fd) == select.POLLHUP
    finally:
        os.close(fd)


def test_consumer_asleep_in_poll_is_woken_by_the_last_writer_closing():
    """A mapped consumer that sleeps in poll for data wakes with POLLHUP
    when the last writer other than its own file closes: that close leaves
    one writer counted, the consumer's, and must wake it all the same."""
    fresh()
    fd, w = open_dev(), open_dev(os.O_WRONLY)
    try:
        with MappedConsumer(fd):
            woken = []

            def sleep_in_poll():
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                # No timeout: poll's last pass after one would see end of
                # file without any wake-up.
                woken.append(dict(poller.poll()).get(fd, 0))

            def poller_asleep():
                # Asleep in poll(2) itself (x86-64 number 7), not waiting for
                # the interpreter's lock on its way there.
                others = (int(t) for t in os.listdir("/proc/self/task"))
                return any(cbtest.asleep_in_syscall(t) and in_syscall(t, POLL_SYSCALL)
                           for t in others if t != threading.get_native_id())

            poller = threading.Thread(target=sleep_in_poll)
            poller.start()
            wait_for(poller_asleep, "the consumer to sleep in poll")
            os.close(w)
            w = None
            poller.join(cbtest.DEADLINE)
            if poller.is_alive():
                # Let it go with a byte, then fail.
                w = open_dev(os.O_WRONLY)
                os.write(w, b"x")
                poller.join()
            assert woken == [select.POLLHUP], f"poll woke with {woken} for the writer's close"
    finally:
        os.close(fd)
        if w is not None:
            os.close(w)


# Blocking writers


def test_blocked_writer_sets_writers_waiting_and_wake_writers_wakes_it():
    """A writer asleep on a full ring has set WRITERS_WAITING, which is
    still set when the consumer has published the room and checks it;
    CIRCBUF_WAKE_WRITERS then lets the writer store its bytes, in place, and
    the flag is clear again once no writer waits."""
    base = fresh()
    fd, w = open_dev(), open_dev(os.O_WRONLY)
    try:
        write_stream(w, 0, CAPACITY)
        with MappedConsumer(fd) as m:
            assert m.flags == 0, "WRITERS_WAITING with no writer waiting"
            waits = stats()["write_waits"]
            writer = writer_child(STREAM[CAPACITY:CAPACITY + 2000])
            writer.wait_asleep(write_waits=waits + 1)
            assert m.writers_waiting(), "a writer sleeps, WRITERS_WAITING is clear"
            consume(m, 2000, base)
            assert m.writers_waiting(), "WRITERS_WAITING cleared before the consumer called"
            fcntl.ioctl(fd, CIRCBUF_WAKE_WRITERS)
            assert writer.result() == b"2000"
            assert m.flags == 0, "WRITERS_WAITING left set with no writer waiting"
            assert m.tail == base + CAPACITY + 2000
            assert m.data(m.head, CAPACITY) == STREAM[2000:CAPACITY + 2000]
            assert used_and_available() == (CAPACITY, 0)
    finally:
        os.close(w)
        os.close(fd)


# One mapped consumer at a time


def test_one_mapped_consumer_at_a_time_and_read_is_ebusy_meanwhile():
    """While a file is the mapped consumer, another file's mmap of either
    area is EBUSY and read(2)/readv(2) on every file, the consumer's too,
    even an O_NONBLOCK one, is EBUSY; closing it ends that, and read(2) then
    returns exactly the bytes it had not consumed. Another file may map."""
    base = fresh()
    fd, other = open_dev(), open_dev()
    r = open_dev(os.O_RDONLY | os.O_NONBLOCK)
    w = open_dev(os.O_WRONLY)
    try:
        write_stream(w, 0, 5000)
        m = MappedConsumer(fd)
        late = open_dev(os.O_RDWR | os.O_NONBLOCK)
        for f in (other, late):
            expect_errno(errno.EBUSY, map_consumer_page, f)
            expect_errno(errno.EBUSY, map_producer_area, f, CAPACITY)
        for f in (fd, other, r, late):
            expect_errno(errno.EBUSY, os.read, f, 100)
            expect_errno(errno.EBUSY, os.readv, f, [bytearray(100)])
        assert stats()["used"] == 5000, "a refused read consumed"
        # Taken in by the close, with no call in between.
        consume(m, 1234, base)
        m.close()
        os.close(fd)
        fd = None
        assert read_all(r) == STREAM[1234:5000]
        with MappedConsumer(other) as m2:
            assert m2.head == m2.tail == base + 5000
        os.close(late)
    finally:
        for x in (w, r, other) + ((fd,) if fd is not None else ()):
            os.close(x)


# Refused mappings


def test_other_readers_poll_not_readable_while_mapped_and_readable_after():
    """Another reader's read(2) fails with EBUSY while the ring is mapped,
    so its poll does not say POLLIN, whatever waits; once the mapped
    consumer's file is closed it does."""
    fresh()
    fd, other, w = open_dev(), open_dev(os.O_RDONLY | os.O_NONBLOCK), open_dev(os.O_WRONLY)
    try:
        write_stream(w, 0, 100)
        assert poll_events(other) == select.POLLIN
        with MappedConsumer(fd):
            assert poll_events(other) == 0
            expect_errno(errno.EBUSY, os.read, other, 10)
        os.close(fd)
        fd = None
        assert poll_events(other) == select.POLLIN
        assert read_all(other) == STREAM[:100]
    finally:
        for x in (w, other) + ((fd,) if fd is not None else ()):
            os.close(x)


def test_mmap_needs_a_capacity_that_is_a_page_multiple():
    """A ring of 5000 or 64 bytes cannot be mapped (EINVAL), and a refused
    mmap leaves no mapped consumer behind: read(2) goes on."""
    for capacity in (5000, 64):
        fresh(capacity)
        fd = open_dev(os.O_RDWR | os.O_NONBLOCK)
        try:
            expect_errno(errno.EINVAL, map_consumer_page, fd)
            expect_errno(errno.EINVAL, map_producer_area, fd, capacity)
            write_stream(fd, 0, 10)
            assert os.read(fd, 100) == STREAM[:10]
        finally:
            os.close(fd)


def test_mmap_of_a_wrong_length_or_an_unknown_offset_is_einval():
    """The consumer page is one page, the producer area one page plus twice
    the capacity, and no other page offset maps: anything else is EINVAL,
    and leaves no mapped consumer behind (read(2) still works, where a file
    left holding the consumer half with nothing mapped would make every
    read(2) EBUSY until it closed)."""
    fresh()
    fd = open_dev(os.O_RDWR | os.O_NONBLOCK)
    rw, ro = mmap.PROT_READ | mmap.PROT_WRITE, mmap.PROT_READ
    area = PAGE_SIZE + 2 * CAPACITY
    try:
        for i, (pgoff, length, prot) in enumerate((
                (0, 2 * PAGE_SIZE, rw), (0, area, rw),
                (1, PAGE_SIZE, ro), (1, PAGE_SIZE + CAPACITY, ro), (1, area + PAGE_SIZE, ro),
                (1, PAGE_SIZE + 3 * CAPACITY, ro),
                (2, PAGE_SIZE, rw), (2, area, ro), (3, PAGE_SIZE, ro),
                (1 + area // PAGE_SIZE, PAGE_SIZE, ro), (1 << 20, PAGE_SIZE, rw))):
            expect_errno(errno.EINVAL, map_area, fd, pgoff, length, prot)
            write_stream(fd, i, 1)
            try:
                assert os.read(fd, 100) == STREAM[i:i + 1]
            except OSError as e:
                raise AssertionError(f"after the refused mmap of {length} bytes at page "
                                     f"offset {pgoff}, read(2) fails: {e!r}") from e
        MappedConsumer(fd).close()
    finally:
        os.close(fd)


def test_producer_area_is_read_only_and_nothing_is_executable():
    """mmap of the producer area with PROT_WRITE or PROT_EXEC, or of the
    consumer page with PROT_EXEC, fails with EPERM (docs/semantics.md; the
    driver checks VM_WRITE and VM_EXEC itself, before
    VmaNew::try_clear_maywrite(), whose own error would be EINVAL). Mapped,
    mprotect(2) cannot add what was refused: with VM_MAYWRITE and
    VM_MAYEXEC cleared, mm/mprotect.c fails with EACCES."""
    fresh()
    fd = open_dev()
    area = PAGE_SIZE + 2 * CAPACITY
    rw = mmap.PROT_READ | mmap.PROT_WRITE
    try:
        for prot in (rw, mmap.PROT_READ | mmap.PROT_EXEC):
            expect_errno(errno.EPERM, map_area, fd, MMAP_PRODUCER_PGOFF, area, prot)
        expect_errno(errno.EPERM, map_area, fd, MMAP_CONSUMER_PGOFF, PAGE_SIZE,
                     rw | mmap.PROT_EXEC)
        with MappedConsumer(fd):
            for length, prot in ((area, rw), (area, mmap.PROT_READ | mmap.PROT_EXEC),
                                 (PAGE_SIZE, rw | mmap.PROT_EXEC)):
                start = mapping_start(length)
                assert c_call(libc.mprotect, ctypes.c_void_p(start), ctypes.c_size_t(length),
                              prot) == (-1, errno.EACCES), (length, prot)
    finally:
        os.close(fd)


def test_files_without_write_or_read_access_cannot_map():
    """The VFS refuses a writable shared mapping of a file opened O_RDONLY,
    and any mapping of one opened O_WRONLY, with EACCES: no mapped consumer
    comes of it."""
    fresh()
    r = open_dev(os.O_RDONLY | os.O_NONBLOCK)
    w = open_dev(os.O_WRONLY)
    try:
        expect_errno(errno.EACCES, map_consumer_page, r)
        expect_errno(errno.EACCES, map_consumer_page, w)
        expect_errno(errno.EACCES, map_producer_area, w, CAPACITY)
        write_stream(w, 0, 10)
        assert os.read(r, 100) == STREAM[:10]
    finally:
        os.close(w)
        os.close(r)


def test_overwrite_mode_and_the_mapped_consumer_exclude_each_other():
    """A ring in overwrite mode cannot be mapped (EINVAL); while mapped,
    CIRCBUF_RESET and CIRCBUF_SET_MODE to overwrite fail with EBUSY from any
    file and change nothing (block mode may be set again). Both work once
    the consumer is gone."""
    base = fresh()
    fd, w = open_dev(), open_dev(os.O_WRONLY)
    try:
        set_mode(w, MODE_OVERWRITE)
        expect_errno(errno.EINVAL, map_consumer_page, fd)
        expect_errno(errno.EINVAL, map_producer_area, fd, CAPACITY)
        set_mode(w, MODE_BLOCK)
        write_stream(w, 0, 100)
        with MappedConsumer(fd) as m:
            for f in (fd, w):
                expect_errno(errno.EBUSY, fcntl.ioctl, f, CIRCBUF_RESET)
                expect_errno(errno.EBUSY, set_mode, f, MODE_OVERWRITE)
            set_mode(w, MODE_BLOCK)
            s = stats()
            assert (s["mode"], s["used"]) == (MODE_BLOCK, 100), s
            assert m.tail - m.head == 100 and m.data(m.head, 100) == STREAM[:100]
        os.close(fd)
        fd = None
        fcntl.ioctl(w, CIRCBUF_RESET)
        set_mode(w, MODE_OVERWRITE)
        s = stats()
        assert (s["mode"], s["used"], s["bytes_written"]) == (MODE_OVERWRITE, 0, base + 100), s
    finally:
        os.close(w)
        if fd is not None:
            os.close(fd)


def test_telemetry_device_cannot_be_mapped():
    """/dev/circbuf_telemetry refuses both areas with ENODEV, and has no
    CIRCBUF_WAKE_WRITERS (ENOTTY, docs/semantics.md)."""
    fresh()
    fd = os.open(TELEMETRY, os.O_RDWR)
    try:
        expect_errno(errno.ENODEV, map_consumer_page, fd)
        expect_errno(errno.ENODEV, map_producer_area, fd, stats(fd)["capacity"])
        expect_errno(errno.ENOTTY, fcntl.ioctl, fd, CIRCBUF_WAKE_WRITERS)
    finally:
        os.close(fd)


# A hostile consumer


def test_garbage_heads_are_ignored_and_lose_nothing():
    """On a full ring, heads of 2^64 - 1, tail + 1, far ahead, behind the
    last head taken in, and random, each followed by a poll, a
    CIRCBUF_WAKE_WRITERS and a writer finding the ring full, are ignored:
    used stays, writers still find no room, and the kernel leaves the page
    alone. A good head afterwards is taken in as usual, a garbage head left
    at close is ignored, and read(2) then returns the rest of the stream."""
    base = fresh()
    fd = open_dev()
    w = open_dev(os.O_WRONLY | os.O_NONBLOCK)
    r = open_dev(os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_stream(w, 0, CAPACITY)
        m = MappedConsumer(fd)
        accepted = consume(m, 1000, base)
        assert poll_events(fd) == select.POLLIN and stats()["used"] == CAPACITY - 1000
        write_stream(w, CAPACITY, 1000)
        tail = m.tail
        assert tail - accepted == CAPACITY
        rng = random.Random(2)
        randoms = [g for g in (rng.getrandbits(64) for _ in range(40))
                   if not 0 <= (g - accepted) % U64 <= CAPACITY][:32]
        garbage = [U64 - 1, tail + 1, tail + CAPACITY, tail + (1 << 40), tail + (1 << 63),
                   accepted - 1, accepted - 500, base, accepted - CAPACITY - 1] + randoms
        for g in garbage:
            m.head = g
            poll_events(fd)
            fcntl.ioctl(fd, CIRCBUF_WAKE_WRITERS)
            expect_errno(errno.EAGAIN, os.write, w, b"x")
            assert used_and_available() == (CAPACITY, 0), f"head {g:#x} was taken in"
            assert fionread(fd) == CAPACITY
            assert m.head == g % U64, "the kernel wrote the consumer's head"
            assert m.tail == tail
        m.head = accepted
        accepted = consume(m, 300, base)
        fcntl.ioctl(fd, CIRCBUF_WAKE_WRITERS)
        assert used_and_available() == (CAPACITY - 300, 300)
        m.head = U64 - 1
        m.close()
        os.close(fd)
        fd = None
        assert read_all(r) == STREAM[1300:CAPACITY + 1000]
    finally:
        for x in (r, w) + ((fd,) if fd is not None else ()):
            os.close(x)


def _write_in_chunks(total, seed):
    """For a Child: writes stream bytes [0, total) with blocking writes of
    random sizes, some atomic, some larger than PIPE_BUF."""
    def run():
        rng = random.Random(seed)
        fd = os.open(DEV, os.O_WRONLY)
        done = 0
        while done < total:
            size = min(rng.randint(1, 9000), total - done)
            write_stream(fd, done, size)
            done += size
        return b"done"
    return run


def test_heads_changing_in_threads_while_a_child_writes_keep_the_stream_intact():
    """A consumer thread publishing random good heads, each after checking
    its bytes in place, and garbage ones in between (far ahead, behind where
    it started, behind its last good one); a thread polling, calling
    CIRCBUF_WAKE_WRITERS from two files and reading stats; a child writing
    256 KiB into a 16 KiB ring. The writer never overwrites a byte not yet
    consumed (tail - head <= capacity and every byte checks), finishes, and
    after close the kernel's head is one the consumer published: read(2)
    returns exactly the stream from there on, used agrees, and bytes_read
    counts every byte once, taken in or read."""
    capacity, total = 4 * PAGE_SIZE, 256 * 1024
    base = fresh(capacity)
    bytes_read = stats()["bytes_read"]
    writer = Child(_write_in_chunks(total, seed=4))
    fd = open_dev()
    other = open_dev(os.O_RDONLY | os.O_NONBLOCK)
    m = MappedConsumer(fd)
    start = m.head
    assert start == base
    published, errors, stop = {start}, [], threading.Event()

    def consumer():
        rng, good = random.Random(3), start
        while not stop.is_set():
            tail = m.tail
            assert tail - good <= capacity, f"tail {tail} is more than the ring past head {good}"
            if tail != good:
                new = rng.randint(good + 1, tail)
                assert m.data(good, new - good) == STREAM[good - base:new - base], \
                    f"bytes {good}..{new} are not the stream's"
                good = new
            garbage = rng.choice((U64 - 1,
                                  good + capacity + 1 + rng.getrandbits(62),
                                  start - 1 - rng.getrandbits(32),
                                  good - 1 - rng.randrange(capacity)))
            for head in (garbage, good)[:rng.randint(1, 2)]:
                published.add(head % U64)
                m.head = head

    def pinger():
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not stop.is_set():
            poller.poll(0)
            for f in (fd, other):
                fcntl.ioctl(f, CIRCBUF_WAKE_WRITERS)
            used = stats(other)["used"]
            assert used <= capacity, f"used {used}"

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as e:  # reported by the main thread
                errors.append(e)
        return run

    threads = [threading.Thread(target=guarded(fn)) for fn in (consumer, pinger)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: errors or writer.finished(), "the writer to finish")
    finally:
        stop.set()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
    assert writer.result() == b"done"
    tail = m.tail
    assert tail == base + total
    m.head = U64 - 1
    m.close()
    os.close(fd)
    try:
        before = stats()
        rest = read_all(other)
        head = tail - len(rest)
        assert before["used"] == len(rest), (before, len(rest))
        assert head in published, f"the kernel's head {head} was never published"
        assert rest == STREAM[head - base:total], "the bytes left are not the stream's"
        after = stats()
        assert after["used"] == 0 and after["bytes_read"] - before["bytes_read"] == len(rest)
        assert after["bytes_written"] == base + total
        # Taken in from the consumer, then read(2): every byte once.
        assert after["bytes_read"] - bytes_read == total, (bytes_read, after)
        assert before["bytes_read"] - bytes_read == head - start, (bytes_read, before, head)
    finally:
        os.close(other)


def test_writer_stuck_behind_a_consumer_that_never_advances_is_interrupted():
    """A consumer that only publishes garbage, polls and calls
    CIRCBUF_WAKE_WRITERS never frees room. A writer of 5000 bytes with 100
    free stores 100 and sleeps; a signal ends it with 100. A writer of 10
    bytes on the full ring sleeps; a signal ends it with EINTR. Both slept
    with WRITERS_WAITING set; the ring then holds exactly the stream."""
    base = fresh()
    fd, w = open_dev(), open_dev(os.O_WRONLY)
    rng = random.Random(5)
    try:
        write_stream(w, 0, CAPACITY - 100)
        m = MappedConsumer(fd)
        m.head = U64 - 1
        for data, expected in ((STREAM[CAPACITY - 100:CAPACITY + 4900], (100, 0)),
                               (STREAM[CAPACITY:CAPACITY + 10], (-1, errno.EINTR))):
            def write(data=data):
                own = os.open(DEV, os.O_WRONLY)
                buf = ctypes.create_string_buffer(data, len(data))
                return c_call(libc.write, own, buf, len(data))
            waits = stats()["write_waits"]
            writer = Child(with_signal_handler(write))
            writer.wait_asleep(write_waits=waits + 1)
            for _ in range(20):
                m.head = rng.choice((U64 - 1, m.tail + 1 + rng.getrandbits(40),
                                     m.tail - CAPACITY - 1 - rng.getrandbits(20)))
                poll_events(fd)
                fcntl.ioctl(fd, CIRCBUF_WAKE_WRITERS)
            writer.wait_asleep()
            assert m.writers_waiting(), "a writer sleeps, WRITERS_WAITING is clear"
            writer.signal(signal.SIGUSR1)
            assert writer.result() == repr(expected).encode()
            assert used_and_available() == (CAPACITY, 0)
            assert m.tail == base + CAPACITY
        m.close()
        os.close(fd)
        fd = None
        r = open_dev(os.O_RDONLY | os.O_NONBLOCK)
        assert read_all(r) == STREAM[:CAPACITY]
        os.close(r)
    finally:
        os.close(w)
        if fd is not None:
            os.close(fd)


# Lifetimes


def test_fork_child_does_not_inherit_the_mapping():
    """A child of the mapping process has neither area: its maps list no
    /dev/circbuf, and reading the producer area or writing the consumer page
    kills it with SIGSEGV. The parent's mapping goes on unchanged."""
    base = fresh()
    fd, w = open_dev(), open_dev(os.O_WRONLY)
    try:
        write_stream(w, 0, 100)
        with MappedConsumer(fd) as m:
            lists_it = Child(lambda: any(DEV in line for line in open("/proc/self/maps")))
            assert lists_it.result() == b"False", "the child has the mapping"
            for what, touch in (("read the producer area", lambda: m.tail),
                                ("write the consumer page", lambda: setattr(m, "head", 7))):
                status = status_of_child_touching(touch)
                assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSEGV, \
                    f"a child that tried to {what}: wait status {status:#x}"
            assert (m.head, m.tail) == (base, base + 100)
            consume(m, 100, base)
            assert poll_events(fd) == 0 and stats()["used"] == 0
    finally:
        os.close(w)
        os.close(fd)


def test_munmap_then_close_ends_the_mapped_consumer_at_close():
    """Unmapping does not end the mapped consumer: until its file is closed,
    read(2) stays EBUSY and another file cannot map. The close takes in the
    head published before the munmap; read(2) returns the rest."""
    base = fresh()
    fd = open_dev()
    other = open_dev(os.O_RDWR | os.O_NONBLOCK)
    w = open_dev(os.O_WRONLY)
    try:
        write_stream(w, 0, 3000)
        m = MappedConsumer(fd)
        consume(m, 1000, base)
        m.close()
        expect_errno(errno.EBUSY, os.read, other, 10)
        expect_errno(errno.EBUSY, map_consumer_page, other)
        os.close(fd)
        fd = None
        assert read_all(other) == STREAM[1000:3000]
    finally:
        for x in (w, other) + ((fd,) if fd is not None else ()):
            os.close(x)


def test_close_then_munmap_keeps_the_mapping_live_until_munmap():
    """Closing the descriptor does not end the mapped consumer: the mapping
    holds the file (vma->vm_file), so its release runs at munmap. Until then
    the areas stay live, not stale: a write shows in tail and in place,
    CIRCBUF_WAKE_WRITERS from another file takes in the published head, and
    read(2) stays EBUSY. After munmap, read(2) returns the rest."""
    base = fresh()
    fd = open_dev()
    other = open_dev(os.O_RDONLY | os.O_NONBLOCK)
    w = open_dev(os.O_WRONLY)
    try:
        write_stream(w, 0, 3000)
        m = MappedConsumer(fd)
        os.close(fd)
        consume(m, 1000, base)
        write_stream(w, 3000, 500)
        assert m.tail == base + 3500
        assert m.data(m.head, 2500) == STREAM[1000:3500]
        expect_errno(errno.EBUSY, os.read, other, 10)
        fcntl.ioctl(other, CIRCBUF_WAKE_WRITERS)
        assert stats()["used"] == 2500
        consume(m, 500, base)
        m.close()
        assert read_all(other) == STREAM[1500:3500]
    finally:
        os.close(w)
        os.close(other)


def test_consumer_killed_with_its_mapping_leaves_the_device_usable():
    """A process killed while mapped, having published head + 1000 without
    any call: its exit closes the file, which takes that head in; read(2)
    returns the rest, and another file can map, from that head."""
    base = fresh()
    w = open_dev(os.O_WRONLY)
    r = open_dev(os.O_RDONLY | os.O_NONBLOCK)
    ready_r, ready_w = os.pipe()
    try:
        write_stream(w, 0, 3000)

        def consume_then_hang():
            m = MappedConsumer(os.open(DEV, os.O_RDWR))
            consume(m, 1000, base)
            os.write(ready_w, b"!")
            while True:
                time.sleep(60)

        child = Child(consume_then_hang)
        os.close(ready_w)
        ready_w = None
        assert os.read(ready_r, 1) == b"!", "the consumer child died before consuming"
        expect_errno(errno.EBUSY, os.read, r, 10)
        child.kill()
        assert read_all(r) == STREAM[1000:3000]
        write_stream(w, 3000, 10)
        fd = open_dev()
        with MappedConsumer(fd) as m:
            assert (m.head, m.tail) == (base + 3000, base + 3010)
            consume(m, 10, base)
        os.close(fd)
    finally:
        for x in (ready_r, ready_w, r, w):
            if x is not None:
                os.close(x)


def test_rmmod_refused_while_a_file_or_a_mapping_holds_the_device():
    """rmmod fails ("in use") while the mapped consumer's file is open, and
    still after close(2) while its mapping lives: the mapping holds the
    file, and the file the module (fops owner), until munmap. After munmap
    rmmod succeeds."""
    if cbtest.built_in():
        raise cbtest.Skip("circbuf is built in: it cannot be unloaded")
    base = fresh()
    fd = open_dev()
    try:
        write_stream(fd, 0, 10)
        m = MappedConsumer(fd)
        rmmod_refused("with the mapped consumer's file open")
        os.close(fd)
        fd = None
        rmmod_refused("with the device mapped")
        assert m.tail == base + 10 and m.data(m.head, 10) == STREAM[:10]
        m.close()
        cbtest.run("rmmod", "circbuf")
        assert not cbtest.module_loaded() and not os.path.exists(DEV)
    finally:
        if fd is not None:
            os.close(fd)
    reload_module()
