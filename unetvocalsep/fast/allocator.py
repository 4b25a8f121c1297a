"""Keep freed memory inside a CPU-training process (glibc ``mallopt``).

A CPU training step allocates and frees the same few hundred arrays every
iteration, many of them tens of megabytes.  glibc serves blocks above 32 MB
(and, by its dynamic threshold, many smaller ones) with fresh ``mmap`` calls
and gives them back on ``free``, so every step page-faults and zeroes
gigabytes again: at batch 64 on a 2-core VM that was 3.6 s of a 5.2 s step in
the kernel.  :func:`keep_freed_memory` tells glibc to serve every block from
its heap and not to trim it, so a step reuses the previous step's memory.
The resident size then stays at the step's peak (measured flat over 30
steps: 883 MB at batch 16, 2.8 GB at batch 64).  :func:`unetvocalsep.train.train`
and :func:`unetvocalsep.finetune.finetune` call it for CPU training;
``UNETVOCALSEP_MALLOC_TUNE=0`` leaves the allocator alone.  Other platforms
and C libraries: nothing happens.  docs/FASTCONV.md has the measurements.

Examples
--------
>>> isinstance(keep_freed_memory(), bool)
True
"""
import ctypes
import os
import sys

__all__ = ["keep_freed_memory", "ENV_VAR"]

#: Environment variable; ``0`` switches the tuning off.
ENV_VAR = "UNETVOCALSEP_MALLOC_TUNE"

# glibc <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

#: Freed heap memory above this size is still kept (1 GiB, glibc's maximum is
#: the address space; trimming would bring back the page faults).
TRIM_THRESHOLD = 1 << 30

_done = []


def keep_freed_memory():
    """Make glibc's malloc keep freed blocks for reuse, once per process.

    Returns
    -------
    bool
        True when the settings are in effect (glibc on Linux, not switched
        off by ``UNETVOCALSEP_MALLOC_TUNE=0``), False otherwise.
    """
    if _done:
        return _done[0]
    ok = False
    if os.environ.get(ENV_VAR, "1") != "0" and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None)
            mallopt = libc.mallopt
            gnu = libc.gnu_get_libc_version  # glibc only (musl's mallopt does nothing)
        except (OSError, AttributeError):
            mallopt = gnu = None
        if gnu is not None:
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            ok = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _done.append(ok)
    return ok
