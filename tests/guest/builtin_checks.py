# SPDX-License-Identifier: GPL-2.0
"""Guest tests for a kernel with circbuf built in (CONFIG_CIRCBUF=y), run by
tests/intree_test as `run.py builtin_checks.py` with circbuf's parameters on
the kernel command line.

A built-in circbuf cannot be unloaded, reloaded with other parameters or
have its counters start from zero; between tests the runner only empties
its ring (cbtest.reload_module). So the device semantics tests of
test_device.py that rely on none of that run here as they are: those that
neither reload or unload the module, nor read the device-wide counters, nor
assume the default capacity. The tests written here check what only a
built-in driver has to get right."""

import os
import re

import cbtest
from cbtest import DEV, module_loaded, run, stats
from test_device import (  # noqa: F401  (collected by run.py)
    test_cat_started_first_waits_for_writer_then_ends,
    test_cat_with_open_writer_blocks,
    test_data_outlives_the_writer,
    test_echo_then_cat,
    test_empty_nonblocking_read_is_eagain,
    test_empty_read_blocks_until_data,
    test_fdinfo_shows_the_files_own_counters,
    test_fionread,
    test_ioctl_bad_pointer_is_efault,
    test_killed_blocked_reader_loses_nothing,
    test_last_writer_close_wakes_every_reader,
    test_lseek_and_pread_are_espipe,
    test_misc_device_node,
    test_rdwr_opener_never_sees_eof,
    test_read_returns_what_is_there_in_order,
    test_reader_without_writer_waits_then_sees_eof,
    test_reset_needs_write_access,
    test_select_wakes_on_write,
    test_signal_with_sa_restart_restarts_read,
    test_unknown_ioctls_are_enotty,
)
from test_tools import _stress


def command_line_parameter(name):
    """The value of circbuf.NAME on the kernel command line."""
    with open("/proc/cmdline") as f:
        match = re.search(rf"\bcircbuf\.{name}=(\S+)", f.read())
    assert match, f"circbuf.{name}= is not on the kernel command line"
    return match.group(1)


def test_device_exists_without_a_module():
    assert cbtest.built_in(), "circbuf should be built in, not loaded"
    assert os.path.exists(DEV)
    assert not module_loaded()


def test_command_line_sets_the_capacity():
    capacity = int(command_line_parameter("buffer_size"))
    assert capacity != 4096, "pick a capacity other than the default to test this"
    assert stats()["capacity"] == capacity


def test_built_in_driver_cannot_be_removed():
    fd = os.open(DEV, os.O_RDWR)
    os.write(fd, b"still here")
    assert run("rmmod", "circbuf", check=False).returncode != 0
    assert os.read(fd, 100) == b"still here"
    os.close(fd)


def test_stress_4_writers_4_readers():
    _stress("--writers=4", "--readers=4", duration=5)
