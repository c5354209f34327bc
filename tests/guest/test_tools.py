# SPDX-License-Identifier: GPL-2.0
"""Guest tests of the user-space tools: query_stats, stress and the examples.

They run inside the test VM as root with the circbuf module loaded, from
the top of the checkout, with only /tmp writable. Each test_* function
raises AssertionError on failure. Tests that need a particular buffer size
reload the module with it and restore the VM's parameters afterwards, and
every test leaves the device empty and closed.
"""

import json
import os
import re
import subprocess
import sys

DEVICE = "/dev/circbuf"
QUERY_STATS = os.path.join("tools", "target", "release", "query_stats")
STRESS = os.path.join("tools", "target", "release", "stress")
SEED = 20240601
STRESS_SECONDS = 2
# (writers, readers) combinations every buffer size is stressed with.
RATIOS = ((1, 1), (4, 4), (8, 2))


def _run(args, timeout=60):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def _describe(args, result):
    return (
        f"{' '.join(map(str, args))}: exit {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )


def _stats():
    args = [QUERY_STATS, DEVICE, "--json"]
    result = _run(args)
    assert result.returncode == 0, _describe(args, result)
    return json.loads(result.stdout)


def _payload(n):
    return bytes((i * 7 + 3) % 251 for i in range(n))


def _drain():
    """Reads the device empty without blocking."""
    fd = os.open(DEVICE, os.O_RDONLY | os.O_NONBLOCK)
    try:
        while True:
            try:
                if not os.read(fd, 65536):
                    return
            except BlockingIOError:
                return
    finally:
        os.close(fd)


def _reload(buffer_size):
    from cbtest import reload_module

    reload_module(buffer_size=buffer_size)
    capacity = _stats()["capacity"]
    assert capacity == buffer_size, f"capacity {capacity} after loading with {buffer_size}"


def _restore():
    from cbtest import reload_module

    reload_module()


def _stress(*args, duration=STRESS_SECONDS):
    """Runs stress on the device and returns its summary line; it must pass."""
    cmd = [STRESS, DEVICE, f"--duration={duration}", f"--seed={SEED}", *args]
    result = _run(cmd, timeout=duration + 90)
    assert result.returncode == 0, _describe(cmd, result)
    lines = result.stdout.strip().splitlines()
    assert lines and "verdict=PASS" in lines[-1], _describe(cmd, result)
    assert f"seed={SEED}" in lines[-1], lines[-1]
    return lines[-1]


def _summary_value(summary, key):
    match = re.search(rf"\b{key}=(\d+)", summary)
    assert match, f"no {key}= in {summary!r}"
    return int(match.group(1))


def _stress_matrix(buffer_size, record_size):
    _reload(buffer_size)
    try:
        for writers, readers in RATIOS:
            summary = _stress(
                f"--writers={writers}",
                f"--readers={readers}",
                f"--record-size={record_size}",
            )
            assert f"writers={writers} readers={readers}" in summary, summary
            assert _summary_value(summary, "bytes") > 0, summary
            assert _summary_value(summary, "bytes") % record_size == 0, summary
    finally:
        _restore()


def test_query_stats_counts_a_known_write():
    _drain()
    before = _stats()
    assert before["used"] == 0, before
    k = min(100, before["capacity"])
    data = _payload(k)

    fd = os.open(DEVICE, os.O_WRONLY | os.O_NONBLOCK)
    try:
        assert os.write(fd, data) == k
        during = _stats()
    finally:
        os.close(fd)
    assert during["capacity"] == before["capacity"], during
    assert during["used"] == k, during
    assert during["available"] == during["capacity"] - k, during
    assert during["bytes_written"] - before["bytes_written"] == k, (before, during)
    assert during["writes"] - before["writes"] == 1, (before, during)
    assert during["writers"] == before["writers"] + 1, (before, during)
    # Our descriptor is write-only: the reader count must not move.
    assert during["readers"] == before["readers"], (before, during)

    fd = os.open(DEVICE, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert os.read(fd, k + 10) == data
    finally:
        os.close(fd)
    after = _stats()
    assert after["used"] == 0, after
    assert after["available"] == after["capacity"], after
    assert after["bytes_read"] - before["bytes_read"] == k, (before, after)
    assert after["reads"] - before["reads"] == 1, (before, after)
    assert after["bytes_written"] == during["bytes_written"], (during, after)
    assert after["writers"] == before["writers"], (before, after)


def test_query_stats_json_has_exactly_the_struct_fields():
    stats = _stats()
    assert list(stats) == [
        "capacity", "used", "available", "reads", "writes", "bytes_read",
        "bytes_written", "readers", "writers", "read_waits", "write_waits",
        "mode", "dropped_bytes", "dropped_records", "source", "rate_hz",
    ], stats
    assert all(isinstance(v, int) and v >= 0 for v in stats.values()), stats
    assert stats["capacity"] > 0, stats
    assert stats["used"] + stats["available"] == stats["capacity"], stats


def test_query_stats_table_is_readable():
    capacity = _stats()["capacity"]
    args = [QUERY_STATS]
    result = _run(args)
    assert result.returncode == 0, _describe(args, result)
    lines = result.stdout.splitlines()
    assert lines[0] == DEVICE, result.stdout
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert len(rows) == 16, result.stdout
    assert rows.pop("mode") == "block", result.stdout
    assert rows.pop("source") == "none", result.stdout
    rows = {name: int(value) for name, value in rows.items()}
    assert rows["capacity"] == capacity, result.stdout
    assert rows["available"] == rows["capacity"] - rows["used"], result.stdout


def test_query_stats_watch_refreshes_until_stopped():
    """--watch goes on printing samples of the device's current state: after
    each of three writes a sample showing it arrives, without a restart."""
    capacity = _stats()["capacity"]
    fd = os.open(DEVICE, os.O_RDWR | os.O_NONBLOCK)
    proc = subprocess.Popen(
        [QUERY_STATS, DEVICE, "--json", "--watch", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    used = []
    for size in (1, 2, 3):
        os.write(fd, b"u" * size)
        # Samples come until one shows this write.
        while not used or used[-1] != sum(range(1, size + 1)):
            line = proc.stdout.readline()
            assert line, proc.communicate(timeout=10)
            sample = json.loads(line)
            assert sample["capacity"] == capacity, line
            used.append(sample["used"])
    proc.terminate()
    proc.communicate(timeout=10)
    os.close(fd)


def test_query_stats_reports_a_missing_device():
    path = f"/tmp/circbuf-missing-{os.getpid()}"
    args = [QUERY_STATS, path]
    result = _run(args)
    assert result.returncode != 0, _describe(args, result)
    assert result.stdout == "", _describe(args, result)
    assert f"{path}: open: No such file or directory" in result.stderr, result.stderr
    assert "module loaded" in result.stderr, result.stderr

    result = _run([QUERY_STATS, path, "--json"])
    assert result.returncode != 0 and result.stdout == "", result


def test_query_stats_reports_a_foreign_device():
    args = [QUERY_STATS, "/dev/null"]
    result = _run(args)
    assert result.returncode != 0, _describe(args, result)
    assert "is this a circbuf device?" in result.stderr, result.stderr


def test_stress_records_64_byte_buffer():
    _stress_matrix(64, 32)


def test_stress_records_4096_byte_buffer():
    _stress_matrix(4096, 64)


def test_stress_records_65536_byte_buffer():
    _stress_matrix(65536, 64)


def test_stress_largest_atomic_records():
    _reload(65536)
    try:
        _stress("--writers=4", "--readers=4", "--record-size=4096")
    finally:
        _restore()


def test_stress_with_processes_agrees_with_the_device_counters():
    _reload(4096)
    try:
        before = _stats()
        summary = _stress("--writers=4", "--readers=4", "--processes")
        after = _stats()
    finally:
        _restore()
    moved = after["bytes_read"] - before["bytes_read"]
    assert moved == _summary_value(summary, "bytes"), (summary, before, after)
    assert after["bytes_written"] - before["bytes_written"] == moved, (before, after)
    assert after["used"] == 0 and after["readers"] == before["readers"], after
    assert after["writers"] == 0, after


def test_stress_4_to_4_for_30_seconds_on_the_debug_kernel():
    """The long run under KASAN, lockdep and kmemleak; the runner fails the
    whole run on any kernel report. Elsewhere the short runs above do."""
    from cbtest import Skip

    if os.environ.get("CIRCBUF_KERNEL") != "debug":
        raise Skip("the 30 s run is for the debug kernel")
    _reload(4096)
    try:
        summary = _stress("--writers=4", "--readers=4", "--record-size=64", duration=30)
        print("  " + summary)
    finally:
        _restore()


def test_stress_stream():
    for buffer_size in (4096, 64):
        _reload(buffer_size)
        try:
            summary = _stress("--mode=stream")
        finally:
            _restore()
        assert "mode=stream" in summary, summary
        assert _summary_value(summary, "bytes") > 0, summary


def test_stress_refuses_records_that_cannot_be_atomic():
    _reload(64)
    try:
        args = [STRESS, DEVICE, "--record-size=128", "--duration=1"]
        result = _run(args)
        assert result.returncode == 2, _describe(args, result)
        assert "capacity of 64 bytes" in result.stderr, result.stderr
    finally:
        _restore()


def test_stress_reports_a_missing_device():
    path = f"/tmp/circbuf-missing-{os.getpid()}"
    args = [STRESS, path, "--duration=1"]
    result = _run(args)
    assert result.returncode != 0, _describe(args, result)
    assert "module loaded" in result.stderr, result.stderr


def test_c_example():
    exe = f"/tmp/circbuf_example-{os.getpid()}"
    compile_args = ["cc", "-Wall", "-Werror", "-I", "include/uapi", "-o", exe,
                    "examples/circbuf_example.c"]
    # A bound for a hang, not for speed: cc's first run in a guest reads
    # the compiler over 9p.
    result = _run(compile_args, timeout=300)
    assert result.returncode == 0, _describe(compile_args, result)
    try:
        result = _run([exe], timeout=30)
        assert result.returncode == 0, _describe([exe], result)
        assert "circbuf_example: OK" in result.stdout, result.stdout
    finally:
        os.unlink(exe)


def test_python_example():
    args = [sys.executable, "examples/circbuf_example.py"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 0, _describe(args, result)
    assert "circbuf_example.py: OK" in result.stdout, result.stdout
