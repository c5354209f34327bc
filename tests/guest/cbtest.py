# SPDX-License-Identifier: GPL-2.0
"""Helpers for guest tests: loading circbuf, its ioctls, and watching
whether a call blocks, in a child process that can be killed."""

import ctypes
import errno
import fcntl
import mmap
import os
import select
import signal
import struct
import subprocess
import threading
import time
from pathlib import Path

DEV = "/dev/circbuf"
TELEMETRY = "/dev/circbuf_telemetry"
MODULE = os.environ.get("CIRCBUF_MODULE", "")
DEFAULT_PARAMS = os.environ.get("CIRCBUF_PARAMS", "").split()
PIPE_BUF = 4096

STATS_FIELDS = (
    "capacity", "used", "available", "reads", "writes", "bytes_read",
    "bytes_written", "readers", "writers", "read_waits", "write_waits",
    "mode", "dropped_bytes", "dropped_records", "source", "rate_hz",
)
STATS_FORMAT = "=" + "Q" * len(STATS_FIELDS)
STATS_SIZE = struct.calcsize(STATS_FORMAT)


def _ioc(direction, magic, number, size):
    return (direction << 30) | (size << 16) | (magic << 8) | number


CIRCBUF_GET_STATS = _ioc(2, 0xC1, 0x01, STATS_SIZE)
CIRCBUF_RESET = _ioc(0, 0xC1, 0x02, 0)
CIRCBUF_SET_MODE = _ioc(1, 0xC1, 0x03, 4)
CIRCBUF_SET_SOURCE = _ioc(1, 0xC1, 0x04, 8)
CIRCBUF_WAKE_WRITERS = _ioc(0, 0xC1, 0x05, 0)
MODE_BLOCK = 0
MODE_OVERWRITE = 1
SOURCE_NONE = 0
SOURCE_THERMAL = 1
FIONREAD = 0x541B

# The mapped consumer: include/uapi/linux/circbuf.h, the comment before
# CIRCBUF_MMAP_CONSUMER_PGOFF.
PAGE_SIZE = mmap.PAGESIZE
MMAP_CONSUMER_PGOFF = 0
MMAP_PRODUCER_PGOFF = 1
MMAP_WRITERS_WAITING = 0x1
# struct circbuf_mmap_producer (tail, capacity, flags) and struct
# circbuf_mmap_consumer (head). Native "Q", not "=Q": struct moves a native
# u64 with one 8-byte memcpy, an aligned 8-byte mov on x86-64, which is
# single-copy atomic; "=Q" goes byte by byte and the kernel could see a torn
# head. Under x86's TSO that plain load of `tail` is an acquire load and that
# plain store of `head` a release store, which is what the UAPI asks for.
MMAP_PRODUCER = struct.Struct("QQQ")
MMAP_CONSUMER = struct.Struct("Q")
U64 = 1 << 64

libc = ctypes.CDLL(None, use_errno=True)
libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.read.restype = ctypes.c_ssize_t
libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.write.restype = ctypes.c_ssize_t
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.ioctl.restype = ctypes.c_int

_children = []
_mappings = []


class Skip(Exception):
    """Raised by a test that cannot run on this kernel; not counted as passed."""


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


def build_c(name, bits=64):
    """Compiles tests/guest/c/NAME.c against the UAPI header with the guest's
    gcc, for a 64- or 32-bit process; returns the program's path."""
    here = Path(__file__).resolve().parent
    binary = f"/tmp/{name}-m{bits}"
    run("gcc", f"-m{bits}", "-Wall", "-Werror", "-I", str(here.parents[1] / "include" / "uapi"),
        "-o", binary, str(here / "c" / f"{name}.c"))
    return binary


def module_loaded():
    with open("/proc/modules") as f:
        return any(line.startswith("circbuf ") for line in f)


def unload_module():
    if module_loaded():
        run("rmmod", "circbuf")


def load_module(*params, check=True):
    """insmod circbuf.ko with NAME=VALUE params; returns the CompletedProcess."""
    res = run("insmod", MODULE, *params, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"insmod {' '.join(params)} failed: {res.stderr}")
    return res


def built_in():
    """Whether circbuf is part of the kernel rather than a module: the
    device is there though no module was loaded."""
    return not MODULE and os.path.exists(DEV) and not module_loaded()


def reload_module(**params):
    """Fresh module: empty ring, zero counters. No params: the VM's defaults.
    A built-in circbuf cannot be reloaded: its ring is emptied in block mode
    instead, and its counters go on from where they were."""
    if built_in():
        if params:
            raise Skip(f"circbuf is built in; its parameters {params} are fixed at boot")
        fd = os.open(DEV, os.O_WRONLY)
        try:
            set_mode(fd, MODE_BLOCK)
            fcntl.ioctl(fd, CIRCBUF_RESET)
        finally:
            os.close(fd)
        return
    unload_module()
    load_module(*(f"{k}={v}" for k, v in params.items()) if params else DEFAULT_PARAMS)
    assert os.path.exists(DEV), f"{DEV} missing after insmod"


def kernel_messages_during(fn):
    """Runs `fn`; returns its result and the text of the kernel messages
    logged while it ran, one per line. Reads /dev/kmsg from its end rather
    than clearing the log, which the VM runner scans for kernel reports."""
    kmsg = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.lseek(kmsg, 0, os.SEEK_END)
        result = fn()
        messages = []
        while True:
            try:
                record = os.read(kmsg, 8192).decode(errors="replace")
            except BlockingIOError:
                break
            # "LEVEL,SEQ,TIME,FLAGS;TEXT\n" followed by continuation lines.
            messages.append(record.partition(";")[2].partition("\n")[0])
    finally:
        os.close(kmsg)
    return result, "\n".join(messages)


def open_dev(flags=os.O_RDWR):
    return os.open(DEV, flags)


def stats(fd=None, dev=DEV):
    """The CIRCBUF_GET_STATS result of `fd`, or of a file of `dev` opened
    for the call, as a dict."""
    own = fd is None
    if own:
        fd = os.open(dev, os.O_RDONLY | os.O_NONBLOCK)
    try:
        raw = fcntl.ioctl(fd, CIRCBUF_GET_STATS, bytes(STATS_SIZE))
    finally:
        if own:
            os.close(fd)
    return dict(zip(STATS_FIELDS, struct.unpack(STATS_FORMAT, raw)))


def set_mode(fd, mode):
    """CIRCBUF_SET_MODE with a __u32 mode."""
    fcntl.ioctl(fd, CIRCBUF_SET_MODE, struct.pack("I", mode))


def set_source(fd, source, rate_hz=0):
    """CIRCBUF_SET_SOURCE with a struct circbuf_source."""
    fcntl.ioctl(fd, CIRCBUF_SET_SOURCE, struct.pack("II", source, rate_hz))


def fionread(fd):
    return struct.unpack("i", fcntl.ioctl(fd, FIONREAD, bytes(4)))[0]


def half_readable_buffer():
    """Two pages of anonymous memory whose second page is PROT_NONE: returns
    the mapping and the address of its first byte. A copy from or to it
    stops at the page boundary."""
    area = mmap.mmap(-1, 2 * mmap.PAGESIZE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(area))
    assert libc.mprotect(ctypes.c_void_p(base + mmap.PAGESIZE), mmap.PAGESIZE, 0) == 0
    return area, base


def c_call(fn, *args):
    """Calls a libc function; returns (result, errno) without Python's EINTR retry."""
    ctypes.set_errno(0)
    res = fn(*args)
    return res, ctypes.get_errno()


def expect_errno(code, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except OSError as e:
        assert e.errno == code, f"expected {errno.errorcode[code]}, got {e!r}"
        return
    raise AssertionError(f"expected {errno.errorcode[code]}, call succeeded")


# How long a test waits for something that must happen. Only a hang runs
# into it, and QEMU TCG is slow: it is not a speed requirement.
DEADLINE = 60


def wait_for(condition, what, seconds=DEADLINE):
    """Polls `condition()` until it is true; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {seconds} s waiting for {what}"
        time.sleep(0.01)


def asleep_in_syscall(pid):
    """Whether task `pid` sleeps interruptibly inside a system call: 'S' in
    /proc/PID/stat (circbuf waits interruptibly; a task waiting for a mutex
    is 'D') and /proc/PID/syscall naming a call rather than "running"."""
    with open(f"/proc/{pid}/stat") as f:
        state = f.read().rpartition(")")[2].split()[0]
    with open(f"/proc/{pid}/syscall") as f:
        syscall = f.read()
    return state == "S" and not syscall.startswith("running")


def wait_for_stat(field, value):
    """Waits until the device's statistic `field` has reached `value`."""
    wait_for(lambda: stats()[field] >= value, f"{field} to reach {value}")


class Child:
    """A forked child running `fn`; its return value comes back as bytes."""

    def __init__(self, fn):
        r, w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(r)
            code = 0
            try:
                out = fn()
                os.write(w, out if isinstance(out, bytes) else repr(out).encode())
            except BaseException as e:  # report anything to the parent
                os.write(w, f"EXC {e!r}".encode())
                code = 1
            os._exit(code)
        os.close(w)
        self.reader = r
        _children.append(self)
        self.status = None

    def finished(self):
        """Whether the child has exited (reaping it if so)."""
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
        return self.status is not None

    def result(self, seconds=DEADLINE):
        """Waits for the child to finish; returns what `fn` returned, and
        fails if it raised."""
        wait_for(self.finished, f"child {self.pid} to finish", seconds)
        chunks = []
        while chunk := os.read(self.reader, 65536):
            chunks.append(chunk)
        os.close(self.reader)
        _children.remove(self)
        out = b"".join(chunks)
        assert os.waitstatus_to_exitcode(self.status) == 0, out.decode(errors="replace")
        return out

    def wait_asleep(self, **counts):
        """Waits until the child sleeps in a system call and each statistic
        named in `counts` (read_waits=2, say) has reached its value, which
        tells that the sleep is circbuf's; fails if the child finishes
        instead, saying what it returned."""
        def asleep():
            if self.finished():
                raise AssertionError(f"child returned {self.result()!r} instead of blocking")
            now = stats() if counts else {}
            return (all(now[k] >= v for k, v in counts.items())
                    and asleep_in_syscall(self.pid))
        wait_for(asleep, f"child {self.pid} to sleep in a system call with {counts}")

    def signal(self, sig):
        os.kill(self.pid, sig)

    def kill(self):
        """SIGKILLs the child and reaps it."""
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.reader)
        _children.remove(self)


def cleanup():
    """Kills a failed test's children and unmaps and closes the mappings
    and files it left, so that the next test can unload the module."""
    for area in _mappings:
        area.close()
    _mappings.clear()
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") in (DEV, TELEMETRY):
                os.close(fd)
        except OSError:
            pass
    for child in list(_children):
        if child.status is None:
            child.kill()
        else:
            os.close(child.reader)
            _children.remove(child)


def blocks(fn):
    """Whether `fn`, run in a child, blocks: either the child comes to sleep
    in a system call (it is then killed) or it finishes, and then it must
    have succeeded."""
    child = Child(fn)
    wait_for(lambda: child.finished() or asleep_in_syscall(child.pid),
             f"child {child.pid} to finish or to sleep")
    if child.finished():
        child.result()
        return False
    child.kill()
    return True


def with_signal_handler(fn, sig=signal.SIGUSR1, restart=False):
    """Wraps `fn` for a Child: it runs with a handler for `sig` that does
    nothing, installed with SA_RESTART or without. Call the libc function
    under test through c_call, so that Python does not retry on EINTR."""
    def run():
        signal.signal(sig, lambda *_: None)
        signal.siginterrupt(sig, not restart)
        return fn()
    return run


def readable(fd, timeout=0):
    return bool(select.select([fd], [], [], timeout)[0])


def writable(fd, timeout=0):
    return bool(select.select([], [fd], [], timeout)[1])


def _fds_open_on(path):
    """This process's file descriptors whose file is `path`."""
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == path:
                fds.add(int(name))
        except OSError:  # the descriptor listdir() itself used
            pass
    return fds


def map_area(fd, pgoff, length, prot):
    """mmap(2) of `length` bytes of `fd` from page offset `pgoff`,
    MAP_SHARED, as an mmap object; an OSError carries the errno.

    Python 3.11's mmap keeps a dup() of `fd` for size() and resize(), which
    would hold the file open after the test closes `fd` and unmaps nothing:
    unlike a C consumer, whose mapping is the only other hold on the file.
    That copy is pointed at /dev/null, so that the mapping's own reference
    (vma->vm_file) is the one the lifetime tests see."""
    path = os.readlink(f"/proc/self/fd/{fd}")
    before = _fds_open_on(path)
    area = mmap.mmap(fd, length, mmap.MAP_SHARED, prot, offset=pgoff * PAGE_SIZE)
    _mappings.append(area)
    (copy,) = _fds_open_on(path) - before
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    os.dup2(null, copy, inheritable=False)
    os.close(null)
    return area


def map_consumer_page(fd):
    """The consumer page: one page, PROT_READ|PROT_WRITE."""
    return map_area(fd, MMAP_CONSUMER_PGOFF, PAGE_SIZE, mmap.PROT_READ | mmap.PROT_WRITE)


def map_producer_area(fd, capacity):
    """The producer area: its page, then the data twice; PROT_READ."""
    return map_area(fd, MMAP_PRODUCER_PGOFF, PAGE_SIZE + 2 * capacity, mmap.PROT_READ)


def full_barrier():
    """A full memory barrier, between the consumer's store of `head` and its
    load of `flags`. CPython's locks are glibc semaphores on Linux, whose
    sem_trywait() and sem_post() are lock-prefixed read-modify-writes: full
    barriers on x86-64."""
    lock = threading.Lock()
    lock.acquire(False)
    lock.release()


class MappedConsumer:
    """The two areas of a mapped consumer, mapped from `fd` (which must be
    open O_RDWR): the consumer page first, then the producer area. Usable
    as a context manager that unmaps both."""

    def __init__(self, fd):
        self.capacity_mapped = stats(fd)["capacity"]
        self.consumer_page = map_consumer_page(fd)
        try:
            self.producer_area = map_producer_area(fd, self.capacity_mapped)
        except BaseException:
            self.consumer_page.close()
            raise

    @property
    def tail(self):
        return MMAP_PRODUCER.unpack_from(self.producer_area)[0]

    @property
    def capacity(self):
        return MMAP_PRODUCER.unpack_from(self.producer_area)[1]

    @property
    def flags(self):
        return MMAP_PRODUCER.unpack_from(self.producer_area)[2]

    @property
    def head(self):
        return MMAP_CONSUMER.unpack_from(self.consumer_page)[0]

    @head.setter
    def head(self, value):
        """Publishes `value` (modulo 2^64) as the consumer's head."""
        MMAP_CONSUMER.pack_into(self.consumer_page, 0, value % U64)

    def writers_waiting(self):
        """What the consumer checks after publishing a head: a full barrier,
        then whether the kernel says a writer waits for room."""
        full_barrier()
        return bool(self.flags & MMAP_WRITERS_WAITING)

    def data(self, position, length):
        """The `length` bytes from byte position `position`, read in place:
        from `position % capacity` in the first copy of the data, running on
        into the second copy across the end."""
        assert 0 <= length <= self.capacity_mapped, length
        start = PAGE_SIZE + position % self.capacity_mapped
        return self.producer_area[start:start + length]

    def close(self):
        """munmap(2)s both areas."""
        self.producer_area.close()
        self.consumer_page.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()
