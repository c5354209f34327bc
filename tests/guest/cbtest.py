# SPDX-License-Identifier: GPL-2.0
"""Helpers for guest tests: loading circbuf, its ioctls, and watching
whether a call blocks, in a child process that can be killed."""

import ctypes
import errno
import fcntl
import os
import select
import signal
import struct
import subprocess
import time

DEV = "/dev/circbuf"
MODULE = os.environ.get("CIRCBUF_MODULE", "")
DEFAULT_PARAMS = os.environ.get("CIRCBUF_PARAMS", "").split()
PIPE_BUF = 4096

STATS_FIELDS = (
    "capacity", "used", "available", "reads", "writes", "bytes_read",
    "bytes_written", "readers", "writers", "read_waits", "write_waits",
    "mode", "dropped_bytes", "dropped_records",
)
STATS_FORMAT = "=" + "Q" * len(STATS_FIELDS)
STATS_SIZE = struct.calcsize(STATS_FORMAT)


def _ioc(direction, magic, number, size):
    return (direction << 30) | (size << 16) | (magic << 8) | number


CIRCBUF_GET_STATS = _ioc(2, 0xC1, 0x01, STATS_SIZE)
CIRCBUF_RESET = _ioc(0, 0xC1, 0x02, 0)
CIRCBUF_SET_MODE = _ioc(1, 0xC1, 0x03, 4)
MODE_BLOCK = 0
MODE_OVERWRITE = 1
FIONREAD = 0x541B

libc = ctypes.CDLL(None, use_errno=True)
libc.read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.read.restype = ctypes.c_ssize_t
libc.write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
libc.write.restype = ctypes.c_ssize_t
libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
libc.ioctl.restype = ctypes.c_int

_children = []


class Skip(Exception):
    """Raised by a test that cannot run on this kernel; not counted as passed."""


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, **kw)


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


def dmesg():
    return run("dmesg").stdout


def open_dev(flags=os.O_RDWR):
    return os.open(DEV, flags)


def stats(fd=None):
    """The CIRCBUF_GET_STATS result as a dict."""
    own = fd is None
    if own:
        fd = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    try:
        raw = fcntl.ioctl(fd, CIRCBUF_GET_STATS, bytes(STATS_SIZE))
    finally:
        if own:
            os.close(fd)
    return dict(zip(STATS_FIELDS, struct.unpack(STATS_FORMAT, raw)))


def set_mode(fd, mode):
    """CIRCBUF_SET_MODE with a __u32 mode."""
    fcntl.ioctl(fd, CIRCBUF_SET_MODE, struct.pack("I", mode))


def fionread(fd):
    return struct.unpack("i", fcntl.ioctl(fd, FIONREAD, bytes(4)))[0]


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

    def finished_within(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = status
                return True
            time.sleep(0.01)
        return False

    def result(self, seconds=10):
        assert self.finished_within(seconds), "child still blocked"
        chunks = []
        while chunk := os.read(self.reader, 65536):
            chunks.append(chunk)
        os.close(self.reader)
        _children.remove(self)
        out = b"".join(chunks)
        assert os.waitstatus_to_exitcode(self.status) == 0, out.decode(errors="replace")
        return out

    def kill(self, sig=signal.SIGKILL):
        os.kill(self.pid, sig)


def cleanup():
    """Kills a failed test's children and closes the files it left open,
    so that the next test can unload the module."""
    for fd in map(int, os.listdir("/proc/self/fd")):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == DEV:
                os.close(fd)
        except OSError:
            pass
    for child in list(_children):
        if child.status is None:
            try:
                child.kill()
                os.waitpid(child.pid, 0)
            except ChildProcessError:
                pass
        os.close(child.reader)
        _children.remove(child)


def blocks(fn, seconds=0.3):
    """Whether `fn` (in a child) is still blocked after `seconds`; the child is killed."""
    child = Child(fn)
    done = child.finished_within(seconds)
    if not done:
        child.kill()
        os.waitpid(child.pid, 0)
        child.status = 0
    return not done


def readable(fd, timeout=0):
    return bool(select.select([fd], [], [], timeout)[0])


def writable(fd, timeout=0):
    return bool(select.select([], [fd], [], timeout)[1])
