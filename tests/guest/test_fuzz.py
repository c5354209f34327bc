# SPDX-License-Identifier: GPL-2.0
"""The model-based fuzzer (tools/fuzz): random sequences of opens, closes,
reads, writes, polls and ioctls (CIRCBUF_SET_MODE switching between block
and overwrite mode among them), with bad pointers, and blocking reads and
writes made by child processes that the fuzzer sees fall asleep and then
wakes; each result is checked against the executable model of the
semantics. A bounded amount here; `tools/vm -- tools/target/release/fuzz
--ops 1000000` is the long run. The seeds are fixed so that a failure here
is reproducible, and every run must have slept and woken calls, several
readers at once among them, and dropped records in overwrite mode."""

import os
import re
import subprocess

from cbtest import reload_module

FUZZ = "tools/target/release/fuzz"
# Fewer on the debug kernel, where a run is there for KASAN's and lockdep's
# reports and takes about four times as long; the fast kernels check the
# model with the full count.
OPS = os.environ.get("CIRCBUF_FUZZ_OPS",
                     "10000" if os.environ.get("CIRCBUF_KERNEL") == "debug" else "20000")
TEST_TIMEOUT = 600


def _fuzz(capacity, seed, **params):
    reload_module(buffer_size=capacity, **params)
    res = subprocess.run([FUZZ, "--seed", str(seed), "--ops", OPS, "--processes", "3"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0 and "verdict=PASS" in res.stdout, res.stdout + res.stderr
    summary = res.stdout.strip().splitlines()[-1]
    print("  " + summary)
    counts = dict(re.findall(r"(\w+)=(\d+)", summary))
    # The blocking and overwrite coverage this run is there for happened.
    assert int(counts["sleeps"]) > 0 and int(counts["most_asleep"]) >= 2, summary
    assert int(counts["read_waits"]) > 0 and int(counts["write_waits"]) > 0, summary
    assert int(counts["set_mode"]) > 0 and int(counts["dropped_records"]) > 0, summary


def test_fuzz_one_byte_ring():
    _fuzz(1, 11)


def test_fuzz_small_ring():
    _fuzz(61, 12)


def test_fuzz_page_ring():
    _fuzz(4096, 13)


def test_fuzz_large_ring():
    _fuzz(65536, 14)


def test_fuzz_loaded_in_overwrite_mode():
    # mode=1 at load: the run starts in overwrite mode and restores it.
    _fuzz(61, 15, mode=1)
