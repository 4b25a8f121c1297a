"""Give OpenBLAS the right CPU kernels on Intel CPUs it does not recognise.

NumPy 1.26's bundled OpenBLAS (0.3.23) does not know recent Xeons (for
example family 6, model 207, Emerald Rapids, as cloud VMs report them) and
falls back to its generic "Prescott" SSE3 kernels: a float32 GEMM then runs
at 22 GFLOP/s instead of 140 on 2 cores, and training and separation are 2-6
times slower.  OpenBLAS reads ``OPENBLAS_CORETYPE`` once, when NumPy loads
it, so :func:`tune` must run before the first ``import numpy``; the package
calls it from ``unetvocalsep/__init__.py``, which imports nothing heavy.

It only ever sets the variable when it is unset, on an Intel CPU whose
flags have AVX2 and FMA (``Haswell`` kernels) or also AVX-512 F/BW/DQ/VL
(``SkylakeX``).  AMD CPUs are left alone (OpenBLAS knows them).  Set
``OPENBLAS_CORETYPE`` yourself to choose, or ``UNETVOCALSEP_BLAS_TUNE=0``
to turn this off.  NumPy 2's OpenBLAS (0.3.27 and later) detects these CPUs
itself and gets the same kernels.  docs/INFERENCE.md has the measurements.

Examples
--------
>>> core_type("vendor_id : GenuineIntel\\nflags : sse2 avx avx2 fma")
'Haswell'
>>> core_type("vendor_id : AuthenticAMD\\nflags : sse2 avx avx2 fma") is None
True
"""
import os
import sys

ENV_VAR = "OPENBLAS_CORETYPE"
OFF_VAR = "UNETVOCALSEP_BLAS_TUNE"
_AVX512 = {"avx512f", "avx512bw", "avx512dq", "avx512vl"}


def core_type(cpuinfo):
    """The OpenBLAS core type to ask for, from the text of /proc/cpuinfo.

    Parameters
    ----------
    cpuinfo : str

    Returns
    -------
    str or None
        ``"SkylakeX"``, ``"Haswell"`` or None (leave OpenBLAS to decide).
    """
    vendor, flags = "", set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    if vendor != "GenuineIntel" or not {"avx2", "fma"} <= flags:
        return None
    return "SkylakeX" if _AVX512 <= flags else "Haswell"


def tune(environ=os.environ, cpuinfo_path="/proc/cpuinfo", modules=sys.modules):
    """Set ``OPENBLAS_CORETYPE`` if it helps and is still possible.

    Parameters
    ----------
    environ : mapping
    cpuinfo_path : str
    modules : mapping
        ``sys.modules``: nothing is done once NumPy is loaded.

    Returns
    -------
    str or None
        The core type set, or None when nothing was changed (already set,
        turned off, NumPy already loaded, not needed, or no /proc/cpuinfo).
    """
    if ENV_VAR in environ or environ.get(OFF_VAR, "1") == "0" or "numpy" in modules:
        return None
    try:
        with open(cpuinfo_path) as f:
            text = f.read(1 << 16)
    except OSError:
        return None
    kind = core_type(text)
    if kind:
        environ[ENV_VAR] = kind
    return kind
