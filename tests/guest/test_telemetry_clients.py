# SPDX-License-Identifier: GPL-2.0
"""Guest tests of the user-space clients of /dev/circbuf_telemetry: the C and
Python examples, the Python example's plot, and query_stats on it.

They run like test_tools.py (inside the test VM, as root, from the top of
the checkout, with only /tmp writable), with its helpers. run.py reloads
the module before each test, so each starts with an empty ring and the
source stopped; each leaves the source stopped and the device closed.
"""

import json
import os
import re
import subprocess
import sys

from cbtest import SOURCE_NONE, SOURCE_THERMAL, TELEMETRY, Skip, set_source
from test_tools import QUERY_STATS, _describe, _run

# A `seq / time / value` line of both examples: the sequence number, the
# CLOCK_MONOTONIC time in seconds to the nanosecond, degrees Celsius.
SAMPLE_LINE = re.compile(r"(\d+) / (\d+\.\d{9}) / (-?\d+\.\d{3})")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _samples(stdout):
    """The (seq, seconds, degrees) of every sample line in `stdout`."""
    found = []
    for line in stdout.splitlines():
        match = SAMPLE_LINE.fullmatch(line)
        if match:
            seq, seconds, degrees = match.groups()
            found.append((int(seq), float(seconds), float(degrees)))
    return found


def _assert_in_order(samples, output):
    for (s0, t0, _), (s1, t1, _) in zip(samples, samples[1:]):
        assert s1 > s0, f"seq {s1} follows seq {s0}\n{output}"
        assert t1 >= t0, f"seq {s1} at {t1} s is before seq {s0} at {t0} s\n{output}"


def _python_example(*args, env=None, timeout=60):
    cmd = [sys.executable, "examples/telemetry_example.py", *args]
    # The checkout is read-only in the guest.
    env = dict(env or os.environ, PYTHONDONTWRITEBYTECODE="1")
    return cmd, subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def _telemetry_stats():
    cmd = [QUERY_STATS, TELEMETRY, "--json"]
    result = _run(cmd)
    assert result.returncode == 0, _describe(cmd, result)
    return json.loads(result.stdout)


def test_c_telemetry_example():
    exe = f"/tmp/telemetry_example-{os.getpid()}"
    compile_args = ["cc", "-Wall", "-Werror", "-I", "include/uapi", "-o", exe,
                    "examples/telemetry_example.c"]
    # A bound for a hang, not for speed: cc's first run in a guest reads
    # the compiler over 9p.
    result = _run(compile_args, timeout=300)
    assert result.returncode == 0, _describe(compile_args, result)
    try:
        result = _run([exe], timeout=60)
    finally:
        os.unlink(exe)
    assert result.returncode == 0, _describe([exe], result)
    assert "telemetry_example: OK" in result.stdout.splitlines(), result.stdout
    samples = _samples(result.stdout)
    assert samples, f"no `seq / time / value` line\n{result.stdout}"
    _assert_in_order(samples, result.stdout)
    stats = _telemetry_stats()
    assert stats["source"] == SOURCE_NONE, f"the example left the source running: {stats}"
    assert stats["writes"] >= 100, stats


def test_python_telemetry_example():
    cmd, result = _python_example()
    assert result.returncode == 0, _describe(cmd, result)
    lines = result.stdout.splitlines()
    assert lines[0] == "seq / time (s) / value (degrees C)", result.stdout
    assert lines[-1] == "telemetry_example.py: OK", result.stdout
    # Every line between the heading and the verdict is a sample.
    samples = _samples(result.stdout)
    assert len(samples) == len(lines) - 2, result.stdout
    assert samples, result.stdout
    _assert_in_order(samples, result.stdout)
    assert _telemetry_stats()["source"] == SOURCE_NONE


def test_python_telemetry_example_plots_a_png():
    if os.environ.get("CIRCBUF_KERNEL") == "debug":
        # Importing matplotlib takes a minute there, and the plot is user
        # space: the fast kernels check it.
        raise Skip("the plot is checked on the fast kernels")
    # matplotlib keeps a font cache; the default place, under $HOME, is
    # read-only in the guest. The check below builds it, the plot reuses it.
    env = dict(os.environ, MPLCONFIGDIR=f"/tmp/matplotlib-{os.getpid()}")
    check = [sys.executable, "-c", "import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot"]
    result = subprocess.run(check, capture_output=True, text=True, timeout=90, env=env)
    if result.returncode != 0:
        why = (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        raise Skip(f"{sys.executable} cannot import matplotlib: {why}")

    png = f"/tmp/telemetry-{os.getpid()}.png"
    try:
        cmd, result = _python_example("--seconds", "1", "--plot", png, "--last", "0.5",
                                      env=env, timeout=90)
        assert result.returncode == 0, _describe(cmd, result)
        lines = result.stdout.splitlines()
        assert lines[-2:] == [f"telemetry_example.py: plotted to {png}",
                              "telemetry_example.py: OK"], result.stdout
        with open(png, "rb") as f:
            head = f.read(len(PNG_SIGNATURE))
        assert head == PNG_SIGNATURE, f"{png} starts with {head!r}, not a PNG signature"
    finally:
        if os.path.exists(png):
            os.unlink(png)


def test_query_stats_shows_the_telemetry_source():
    rate_hz = 250
    fd = os.open(TELEMETRY, os.O_RDWR)
    try:
        set_source(fd, SOURCE_THERMAL, rate_hz)
        cmd = [QUERY_STATS, TELEMETRY]
        result = _run(cmd)
        assert result.returncode == 0, _describe(cmd, result)
        lines = result.stdout.splitlines()
        assert lines[0] == TELEMETRY, result.stdout
        rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
        assert rows["source"] == "thermal", result.stdout
        assert rows["rate_hz"] == str(rate_hz), result.stdout
        assert rows["mode"] == "overwrite", result.stdout
        assert {"dropped_bytes", "dropped_records"} <= rows.keys(), result.stdout

        stats = _telemetry_stats()
        assert stats["source"] == SOURCE_THERMAL and stats["rate_hz"] == rate_hz, stats

        set_source(fd, SOURCE_NONE)
        result = _run(cmd)
        assert result.returncode == 0, _describe(cmd, result)
        rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:]}
        assert rows["source"] == "none", result.stdout
    finally:
        os.close(fd)
