# SPDX-License-Identifier: GPL-2.0
"""The UAPI header from C, in a 64-bit and a 32-bit (compat_ioctl) process."""

import os
import subprocess
from pathlib import Path

from cbtest import stats

SOURCE = Path(__file__).resolve().parent / "c" / "compat32.c"
INCLUDE = Path(__file__).resolve().parents[2] / "include" / "uapi"


def _build_and_run(bits):
    binary = f"/tmp/compat{bits}"
    subprocess.run(["gcc", f"-m{bits}", "-Wall", "-Werror", "-I", str(INCLUDE), "-o", binary,
                    str(SOURCE)], check=True, capture_output=True, text=True)
    out = subprocess.run([binary, "hello"], check=True, capture_output=True, text=True).stdout
    return dict(kv.split("=") for kv in out.split())


def test_64_bit_process_sees_the_stats():
    got = _build_and_run(64)
    assert got == {"sizeof": "112", "capacity": str(stats()["capacity"]), "used": "5",
                   "writes": "1", "bytes_written": "5", "fionread": "5"}, got


def test_32_bit_process_sees_the_same_stats():
    got = _build_and_run(32)
    assert got == {"sizeof": "112", "capacity": str(stats()["capacity"]), "used": "5",
                   "writes": "1", "bytes_written": "5", "fionread": "5"}, got
