"""OpenBLAS gets real kernels on Intel CPUs that NumPy 1.26's OpenBLAS does not recognise."""
import os
import subprocess
import sys

import pytest

from unetvocalsep.fast import blas

INTEL_512 = "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512dq avx512vl\n"
INTEL_2 = "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx avx2 fma\n"
INTEL_OLD = "vendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 avx\n"
AMD = "vendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512dq avx512vl\n"


@pytest.mark.parametrize("text, expected", [(INTEL_512, "SkylakeX"), (INTEL_2, "Haswell"),
                                            (INTEL_OLD, None), (AMD, None), ("", None)])
def test_core_type(text, expected):
    assert blas.core_type(text) == expected


def test_tune_sets_only_when_unset_and_numpy_not_loaded(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text(INTEL_512)
    env = {}
    assert blas.tune(env, str(info), modules={}) == "SkylakeX" and env[blas.ENV_VAR] == "SkylakeX"
    env = {blas.ENV_VAR: "Zen"}
    assert blas.tune(env, str(info), modules={}) is None and env[blas.ENV_VAR] == "Zen"
    env = {}
    assert blas.tune(env, str(info), modules={"numpy": object()}) is None and not env
    assert blas.tune({blas.OFF_VAR: "0"}, str(info), modules={}) is None
    assert blas.tune(env, str(tmp_path / "missing"), modules={}) is None and not env


def _cpuinfo():
    try:
        with open("/proc/cpuinfo") as f:
            return f.read(1 << 16)
    except OSError:
        return ""


@pytest.mark.skipif(blas.core_type(_cpuinfo()) is None, reason="not an Intel AVX2 CPU")
def test_fresh_process_gets_the_kernels():
    pytest.importorskip("threadpoolctl")
    code = ("import unetvocalsep, numpy, threadpoolctl; "
            "print([i['architecture'] for i in threadpoolctl.threadpool_info() "
            "if i['internal_api'] == 'openblas'])")
    env = {k: v for k, v in os.environ.items() if k not in (blas.ENV_VAR, blas.OFF_VAR)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert "Prescott" not in out and ("SkylakeX" in out or "Haswell" in out), out
