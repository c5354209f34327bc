#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Runs guest tests: `tests/guest/run.py [FILE.py[::TEST] ...]`, inside tools/vm.

Each test is a top-level `test_*` function of a `test_*.py` file here; it
fails by raising. Before each test circbuf is reloaded with the parameters
the VM started it with, so every test starts from an empty ring and zero
counters. Prints one PASS/FAIL/SKIP line per test (a test skips by raising
cbtest.Skip; skipped tests are not counted as passed) and ends with
`N passed, N failed, N skipped`; exits non-zero if anything failed.
"""

import importlib.util
import os
import signal
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cbtest  # noqa: E402  (needs the path above)

PER_TEST_TIMEOUT = int(os.environ.get("CIRCBUF_TEST_TIMEOUT", "120"))


class TestTimeout(Exception):
    pass


def on_alarm(_sig, _frame):
    raise TestTimeout("test did not finish within its time limit")


def collect(args):
    selected = []
    specs = args or sorted(p.name for p in HERE.glob("test_*.py"))
    for spec in specs:
        file, _, only = spec.partition("::")
        path = HERE / Path(file).name
        mod_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(mod_spec)
        try:
            mod_spec.loader.exec_module(module)
        except Exception as error:  # reported as a failing test, not a crash
            def import_failed(error=error):
                raise error
            selected.append((f"{path.stem}::import", import_failed, PER_TEST_TIMEOUT))
            continue
        # A file whose tests are long by design (the fuzzer under KASAN, say)
        # sets its own TEST_TIMEOUT; the limit only catches hangs.
        timeout = max(PER_TEST_TIMEOUT, getattr(module, "TEST_TIMEOUT", 0))
        for name in dir(module):
            if name.startswith("test_") and callable(getattr(module, name)):
                if not only or name == only:
                    selected.append((f"{path.stem}::{name}", getattr(module, name), timeout))
    return selected


def main():
    signal.signal(signal.SIGALRM, on_alarm)
    passed = failed = skipped = 0
    for name, test, timeout in collect(sys.argv[1:]):
        started = time.monotonic()
        try:
            cbtest.reload_module()
            signal.alarm(timeout)
            try:
                test()
            finally:
                signal.alarm(0)
                cbtest.cleanup()
        except cbtest.Skip as why:
            skipped += 1
            print(f"SKIP {name}: {why}", flush=True)
        except Exception:  # a failing test must not stop the others
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - started:.1f} s)", flush=True)
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        else:
            passed += 1
            print(f"PASS {name} ({time.monotonic() - started:.1f} s)", flush=True)
    print(f"{passed} passed, {failed} failed, {skipped} skipped", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
