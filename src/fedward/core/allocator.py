"""Process-wide allocator tuning for large messages (glibc only; a no-op elsewhere).

Every round allocates a few megabytes per site for safetensors payloads. By default glibc serves each of
those with a fresh `mmap`, so every page is faulted in and zeroed again: on a 1M-parameter model that
costs about 4 ms per message, ten times the copy itself (measured in benchmarks/overhead.py). Raising the
mmap and trim thresholds lets freed payload buffers be reused instead. This changes the whole process, so
only process owners call it: the CLI entry point, the services, and the benchmarks that stand in for them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["tune_for_bounded_memory", "tune_for_large_messages"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_for_bounded_memory() -> bool:
    """For a long-running coordinator, whose peak memory matters more than a few milliseconds a message:
    buffers of 8 MiB and more are mapped and unmapped on their own (a model-sized payload goes back to
    the system when freed), and at most two malloc arenas serve its many request threads (glibc gives
    each thread an arena of its own otherwise, each holding on to freed memory)."""
    return tune_for_large_messages(mmap_threshold=8 << 20, trim_threshold=32 << 20, arena_max=2)


def tune_for_large_messages(
    mmap_threshold: int = 256 << 20, trim_threshold: int = 1 << 30, arena_max: int | None = None
) -> bool:
    """Returns True when the setting took effect (Linux with glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
    if arena_max is not None:
        ok = bool(mallopt(_M_ARENA_MAX, arena_max)) and ok
    return ok
