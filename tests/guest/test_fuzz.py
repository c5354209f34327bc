# SPDX-License-Identifier: GPL-2.0
"""The model-based fuzzer (tools/fuzz): random sequences of opens, closes,
reads, writes, polls and ioctls from several processes, with bad pointers,
each result checked against the executable model of the semantics. A bounded
amount here; `tools/vm -- tools/target/release/fuzz --ops 1000000` is the
long run. The seed is fixed so that a failure here is reproducible."""

import os
import subprocess

from cbtest import reload_module

FUZZ = "tools/target/release/fuzz"
OPS = os.environ.get("CIRCBUF_FUZZ_OPS", "20000")
# 20,000 operations take about 90 s on the debug kernel under TCG.
TEST_TIMEOUT = 600


def _fuzz(capacity, seed):
    reload_module(buffer_size=capacity)
    res = subprocess.run([FUZZ, "--seed", str(seed), "--ops", OPS, "--processes", "3"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "verdict=PASS" in res.stdout, res.stdout + res.stderr
    print("  " + res.stdout.strip().splitlines()[-1])


def test_fuzz_one_byte_ring():
    _fuzz(1, 11)


def test_fuzz_small_ring():
    _fuzz(61, 12)


def test_fuzz_page_ring():
    _fuzz(4096, 13)


def test_fuzz_large_ring():
    _fuzz(65536, 14)
