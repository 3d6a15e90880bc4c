"""The tap caps glibc's malloc arenas (:mod:`pipedrive_core.memory`): threads that each take an arena of their own
keep a high-water mark each. Counted with glibc's own ``malloc_info``, in fresh processes."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from pipedrive_core.memory import TAP_ARENAS

#: eight threads allocating at once, then the arenas glibc reports
ARENAS = r"""
import ctypes, sys, tempfile, threading
from pipedrive_core.memory import limit_malloc_arenas
if sys.argv[1] == "tap":
    from tap_pipedrive.tap import TapPipedrive
    TapPipedrive.run_cli_sync = classmethod(lambda cls, *a, **k: None)  # the CLI's start, not a sync
    TapPipedrive.invoke()
barrier = threading.Barrier(8)
def work():
    barrier.wait()
    keep = [bytearray(4096) for _ in range(2000)]
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
path = tempfile.mktemp()
out = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(out))
libc.fclose(ctypes.c_void_p(out))
print(open(path).read().count("<heap nr="))
"""


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the C library is not glibc")
def test_the_tap_process_keeps_two_malloc_arenas_however_many_threads_allocate() -> None:
    assert _arenas("plain") > TAP_ARENAS  # eight threads at once: an arena each, up to eight per core
    assert _arenas("tap") <= TAP_ARENAS
