# SPDX-License-Identifier: GPL-2.0
"""Reads and writes through io_uring (tests/guest/c/uring.c, raw system
calls): the device sets FMODE_NOWAIT and honours IOCB_NOWAIT, so a request
that would wait is either left pending until the device is ready or, with
RWF_NOWAIT, completed at once with -EAGAIN."""

import errno

from cbtest import Skip, build_c, reload_module, run, stats


def _uring(case):
    res = run(build_c("uring"), case, check=False)
    if res.returncode == 77:
        raise Skip("the kernel has no io_uring (io_uring_setup: ENOSYS)")
    assert res.returncode == 0, (case, res)
    return dict(kv.split("=") for kv in res.stdout.split())


def test_uring_read_of_an_empty_ring_completes_when_data_comes():
    """The read is still pending when submission returns and completes with
    the bytes written afterwards."""
    assert _uring("read-later") == {"pending": "1", "res": "5", "data": "later"}
    assert stats()["used"] == 0


def test_uring_read_with_rwf_nowait_on_an_empty_ring_is_eagain():
    assert _uring("read-nowait") == {"res": str(-errno.EAGAIN)}
    assert stats()["reads"] == 0


def test_uring_write_stores_what_read_returns():
    assert _uring("write") == {"res": "12", "read": "12", "data": "via-io_uring"}
    s = stats()
    assert (s["writes"], s["bytes_written"], s["bytes_read"]) == (1, 12, 12), s


def test_uring_write_with_rwf_nowait_into_a_full_ring_is_eagain():
    reload_module(buffer_size=4096)
    assert _uring("write-nowait") == {"res": str(-errno.EAGAIN), "used": "4096",
                                      "capacity": "4096"}
    assert stats()["writes"] == 1
