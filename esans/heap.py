"""Give the C heap's free pages back to the operating system (glibc's ``malloc_trim``).

A training step allocates and frees tensors whose sizes change every step (unique ids, sparse
gradients, candidate scores) between small allocations that outlive it. glibc's main heap
keeps the freed holes, cannot fit the next step's large blocks into them and grows at its top,
so a long run's resident memory grows many times beyond what it uses (measured:
bench/results/train-memory.json).
``malloc_trim(0)`` returns the free pages inside the heap, not only at its top; the freed
address range stays reserved and costs a page fault when reused, so call it every few dozen
steps, not every step.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL("libc.so.6")      # glibc; other C libraries have no malloc_trim
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def release_free_heap() -> bool:
    """Return the heap's free pages to the OS; False where the C library cannot (not glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def resident_bytes() -> int:
    """This process's resident set size now (Linux ``/proc/self/statm``; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except OSError:
        return 0
    import resource

    return pages * resource.getpagesize()
