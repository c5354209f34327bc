# SPDX-License-Identifier: GPL-2.0
"""A smoke test of the benchmark: it runs against the device and a pipe, and
its JSON output parses and holds both sides. Speed is never asserted."""

import json
import subprocess

from cbtest import reload_module


def test_bench_quick_runs_and_its_json_parses():
    reload_module(buffer_size=65536)
    res = subprocess.run(["tools/target/release/bench", "--quick", "--json", "/tmp/bench.json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    with open("/tmp/bench.json") as f:
        report = json.load(f)
    assert report["header"]["capacity"] == 65536
    assert report["header"]["pipe_size"]["actual"] == 65536
    assert report["points"], "no measurement points"
    for point in report["points"]:
        for side in ("circbuf", "pipe"):
            assert point[side]["bytes"] > 0, point
    assert report["copy"]["bound_mb_s"] > 0


def test_bench_mapped_consumer_runs_beside_read_and_the_pipe():
    reload_module(buffer_size=65536)
    res = subprocess.run(["tools/target/release/bench", "--quick", "--mapped", "--sizes", "64,4K,64K",
                          "--json", "/tmp/bench-mapped.json"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    with open("/tmp/bench-mapped.json") as f:
        report = json.load(f)
    assert len(report["points"]) == 3, report["points"]
    for point in report["points"]:
        for side in ("circbuf", "pipe", "mapped"):
            assert point[side]["bytes"] > 0, point
        assert point["mapped_over_pipe"] > 0 and point["mapped_over_read"] > 0, point
