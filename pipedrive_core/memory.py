"""Fewer malloc arenas for a process whose threads pass large pages between them.

glibc gives a thread that allocates while another holds the main heap an arena of its own, up to eight per core.
The tap's request threads read pages of a megabyte or more, and its readers parse and free them: the freed
memory stays in whichever arena it came from, so every arena keeps a high-water mark of its own and the process
holds several times the pages it actually has in hand. Two arenas keep the peak close to what is held, at no
measurable CPU cost (the threads mostly wait on the network, or on the GIL, not on the allocator). Figures are
in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: ``M_ARENA_MAX`` of glibc's ``<malloc.h>``
M_ARENA_MAX = -8
#: the arenas a tap process keeps
TAP_ARENAS = 2


def limit_malloc_arenas(arenas: int = TAP_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process (and processes it forks); ``False`` where the C library is not
    glibc (musl, macOS, Windows), which leaves the allocator as it is. Call it before threads start: arenas made
    earlier stay."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))
