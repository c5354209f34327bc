# SPDX-License-Identifier: GPL-2.0
"""The UAPI header from C, in a 64-bit and a 32-bit (compat_ioctl) process:
the same statistics, and the same results and errors from CIRCBUF_SET_MODE
and CIRCBUF_RESET."""

from cbtest import build_c, run, stats


def _expected():
    return {"sizeof": "128", "capacity": str(stats()["capacity"]), "used": "5",
            "writes": "1", "bytes_written": "5", "fionread": "5",
            "set_overwrite": "0", "mode_then": "1", "set_mode_2": "EINVAL",
            "set_mode_max": "EINVAL", "set_mode_null": "EFAULT", "set_mode_read_only": "EBADF",
            "mode_after_errors": "1", "set_block": "0", "mode_at_end": "0",
            "reset_read_only": "EBADF", "used_then": "5", "reset": "0",
            "used_after_reset": "0", "bytes_written_after_reset": "5"}


def _run(bits):
    res = run(build_c("compat32", bits), "hello", check=False)
    assert res.returncode == 0, res
    return dict(kv.split("=") for kv in res.stdout.split())


def test_64_bit_process_sees_the_stats_and_errors():
    got = _run(64)
    assert got == _expected(), got


def test_32_bit_process_sees_the_same_stats_and_errors():
    got = _run(32)
    assert got == _expected(), got
