# SPDX-License-Identifier: GPL-2.0
"""Clients circbuf's authors did not write: stress-ng's dev stressor opens the
device with many flag combinations and polls, selects, seeks, mmaps and
ioctls it; then the device must still be correct."""

import os
import re
import subprocess

from cbtest import DEV, stats


def test_stress_ng_dev_stressor():
    res = subprocess.run(
        ["stress-ng", "--dev", "2", "--dev-file", DEV, "--timeout", "10s", "--metrics-brief"],
        cwd="/tmp", capture_output=True, text=True, timeout=120)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert "1 of 1 devices opened and exercised" in out, out
    # stress-ng reports calls slower than 0.25 s and failed calls as warnings.
    complaints = [line for line in out.splitlines()
                  if re.search(r"took|fail|warn|error", line, re.I) and "successful run" not in line]
    assert not complaints, "\n".join(complaints)
    # Still a correct FIFO afterwards.
    fd = os.open(DEV, os.O_RDWR | os.O_NONBLOCK)
    before = stats(fd)
    assert before["readers"] == 1 and before["writers"] == 1, before
    leftover = os.read(fd, 1 << 20) if before["used"] else b""
    assert len(leftover) == before["used"]
    assert os.write(fd, b"after stress-ng") == 15
    assert os.read(fd, 100) == b"after stress-ng"
    after = stats(fd)
    assert after["used"] == after["bytes_written"] - after["bytes_read"], after
    os.close(fd)
