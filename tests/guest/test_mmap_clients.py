# SPDX-License-Identifier: GPL-2.0
"""Guest tests of the mapped consumer's clients: the C example
(examples/mapped_consumer.c), which uses only the UAPI header, reading a
stream that a writer pushes through a ring it keeps full, so that the
writers' flag and CIRCBUF_WAKE_WRITERS are on the path; its checksum must
be the stream's."""

import errno
import os
import random
import subprocess
import zlib

from cbtest import DEV, PAGE_SIZE, reload_module, stats, wait_for
from test_tools import _describe, _run

STREAM = random.Random(2).randbytes(1 << 20)


def _is_mapped():
    """Whether some file is the mapped consumer: read(2) then fails with
    EBUSY, where an empty unmapped ring says EAGAIN."""
    fd = os.open(DEV, os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.read(fd, 1)
    except OSError as error:
        return error.errno == errno.EBUSY
    finally:
        os.close(fd)
    return False


def test_c_mapped_consumer_example_reads_the_whole_stream_in_place():
    reload_module(buffer_size=4 * PAGE_SIZE)
    exe = f"/tmp/mapped_consumer-{os.getpid()}"
    compile_args = ["cc", "-Wall", "-Wextra", "-Werror", "-std=c11", "-I", "include/uapi",
                    "-o", exe, "examples/mapped_consumer.c"]
    # A bound for a hang, not for speed: cc's first run in a guest reads
    # the compiler over 9p.
    result = _run(compile_args, timeout=300)
    assert result.returncode == 0, _describe(compile_args, result)
    consumer = subprocess.Popen([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(_is_mapped, "the example to map the ring")
        fd = os.open(DEV, os.O_WRONLY)
        try:
            # 1 MiB through 16 KiB: the writer waits for room over and over.
            view = memoryview(STREAM)
            while view:
                view = view[os.write(fd, view[:PAGE_SIZE]):]
        finally:
            os.close(fd)
        out, err = consumer.communicate(timeout=120)
    finally:
        consumer.kill()
        consumer.wait()
        os.unlink(exe)
    assert consumer.returncode == 0, f"exit {consumer.returncode}\n{out}\n{err}"
    last = out.splitlines()[-1]
    assert last == (f"mapped_consumer: consumed {len(STREAM)} bytes, "
                    f"crc32 {zlib.crc32(STREAM):08x}"), out
    after = stats()
    assert after["bytes_read"] == len(STREAM) and after["used"] == 0, after
    assert after["write_waits"] > 0, f"the writer never waited for room: {after}"
