"""Host memory: keep glibc's malloc from handing large blocks back to the OS every step.

A CPU time loop allocates and frees arrays of the same few sizes over and over (per-step
gates of (B, 4H), stacked (T, B, 4H) caches).  glibc serves blocks above its mmap threshold
(128 KiB to start with) with fresh ``mmap`` pages and trims the heap top when freed, so the
next call faults every page in again.  Measured here (2 cores, NumPy float32 LSTM forward at
(B, T, I, H) = (175, 25, 1, 100)): 20 ms per call with glibc's defaults, 9.4 ms with

    mallopt(M_MMAP_THRESHOLD, 32 MiB), mallopt(M_TRIM_THRESHOLD, 256 MiB), mallopt(M_TOP_PAD, 64 MiB)

(the same as the MALLOC_*_ environment variables).  Two more for compiled JAX: XLA's CPU
runtime allocates each call's temporary buffer (148 MB for the LSTM's forward + backward at
(16, 1000, 32, 128)) from a worker thread, and glibc serves a block that size in a thread's
arena with ``mmap`` whatever the threshold (its heaps stop at 64 MiB), so every call faulted
~38,000 fresh pages in.  ``mallopt(M_ARENA_MAX, 1)`` (one arena for all threads) and
``mallopt(M_MMAP_MAX, 0)`` (large blocks from the heap, kept below the trim threshold) let the
next call reuse it: 24,000 -> 540 faults per call, 122 -> 104 ms min (after the in-step
projection); (64, 100, 128, 512): 38,500 -> 6,400 faults, 346 -> 322 ms; NumPy and torch
rows unchanged within noise (A/B, min of 7).
It is process-wide, so rnnx never does it on import: the ``rnnx`` CLI calls :func:`tune` for
a run on NumPy, torch or CuPy, not JAX, whose small compiled updates ``M_ARENA_MAX=1`` slows
(:func:`rnnx.cli.tune_memory`; ``RNNX_MALLOC=default`` leaves malloc alone, ``RNNX_MALLOC=tuned``
tunes a JAX run too), and a program can call
``rnnx.backends.malloc.tune()`` once, before it starts threads.  The cost: freed memory stays
with the process (up to 256 MiB at the heap's top, plus whatever fragmentation holds below it)
instead of going back to the OS, and threads share one arena's lock.  Not glibc (macOS,
Windows, musl): nothing to do, and :func:`tune` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

PARAM = {"M_TRIM_THRESHOLD": -1, "M_TOP_PAD": -2, "M_MMAP_THRESHOLD": -3, "M_MMAP_MAX": -4, "M_ARENA_MAX": -8}
SETTINGS = {"M_MMAP_THRESHOLD": 32 << 20, "M_TRIM_THRESHOLD": 256 << 20, "M_TOP_PAD": 64 << 20,
            "M_MMAP_MAX": 0, "M_ARENA_MAX": 1}
_COUNTS = {"M_MMAP_MAX", "M_ARENA_MAX"}  # the other settings are bytes, shown in MiB
_applied: str | None = None


def tune() -> str:
    """Apply :data:`SETTINGS` with glibc's ``mallopt`` once; returns what was done, in words."""
    global _applied
    if _applied is not None:
        return _applied
    if os.environ.get("RNNX_MALLOC", "").lower() == "default":
        _applied = "malloc left at its defaults (RNNX_MALLOC=default)"
    elif not sys.platform.startswith("linux"):
        _applied = f"malloc left at its defaults (not glibc: {sys.platform})"
    else:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            _applied = "malloc left at its defaults (no glibc mallopt)"
        else:
            ok = [name for name, value in SETTINGS.items() if mallopt(PARAM[name], value) == 1]
            _applied = ("glibc mallopt " + ", ".join(_show(n) for n in ok)) if ok \
                else "malloc left at its defaults (mallopt refused)"
    return _applied


def _show(name: str) -> str:
    value = SETTINGS[name]
    return f"{name}={value}" if name in _COUNTS else f"{name}={value >> 20} MiB"


__all__ = ["SETTINGS", "tune"]
