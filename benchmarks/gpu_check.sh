#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU (runs in well under 8 minutes).
#
#   bash benchmarks/gpu_check.sh [WHEEL_DIR] [--dry-run]
#
# 1. installs unetvocalsep from this checkout with no network: into a venv that
#    sees the machine's site-packages, from packages already on the machine or
#    from the wheels in WHEEL_DIR (pip --no-index --find-links), e.g. the
#    cupy-cuda12x and chainer wheels (pip wheel 'chainer==7.8.1' builds one);
# 2. compares the mask of the same input on the CPU and the GPU
#    (max |difference| must be < 1e-4);
# 3. trains 200 iterations at batch 64 on the GPU on a generated cache and
#    reports iterations/s and patches/s (steady state, from the LogReport);
# 4. separates a generated 3-minute 44.1 kHz stereo song on the GPU and reports
#    the real-time factor (processing time / duration);
# 5. times onnxruntime's CUDA provider on the same graph as the CPU backend, when
#    the installed onnxruntime has it (onnxruntime-gpu), and checks its mask;
# and appends the results to benchmarks/RESULTS.md.
#
# Environment:
#   GPU_CHECK_DEVICE=N     the GPU (default 0); -1 runs everything on the CPU with
#                          tiny sizes (the same as --dry-run): a check of this
#                          script, whose "GPU" side is chainer's own CPU kernels
#   GPU_CHECK_ITERS, GPU_CHECK_BATCH, GPU_CHECK_SONG_SECONDS   override the sizes
#   GPU_CHECK_RESULTS      where to append (default benchmarks/RESULTS.md; a file
#                          in the work folder for CPU runs)
#   PYTHON                 interpreter (default python3)
#   GPU_CHECK_NO_INSTALL=1 use the current interpreter's packages as they are
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WHEELS=""
for arg in "$@"; do
    case "$arg" in
        --dry-run) export GPU_CHECK_DEVICE=-1 ;;
        -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) WHEELS=$(cd "$arg" && pwd) ;;
    esac
done
export GPU_CHECK_DEVICE=${GPU_CHECK_DEVICE:-0}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
if [ "$GPU_CHECK_DEVICE" -lt 0 ]; then
    export GPU_CHECK_RESULTS=${GPU_CHECK_RESULTS:-$WORK/RESULTS.md}
else
    export GPU_CHECK_RESULTS=${GPU_CHECK_RESULTS:-$ROOT/benchmarks/RESULTS.md}
fi
PYTHON=${PYTHON:-python3}

# ---- 1. install from the checkout, no network
if [ "${GPU_CHECK_NO_INSTALL:-0}" = 1 ]; then
    PY=$PYTHON
else
    "$PYTHON" -m venv --system-site-packages "$WORK/venv"
    PY=$WORK/venv/bin/python
    # also see the packages of $PYTHON's own environment when it is a venv
    "$PYTHON" -c 'import site; print("\n".join(site.getsitepackages()))' \
        > "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/gpu_check_parent.pth"
    export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
    if [ -n "$WHEELS" ]; then
        shopt -s nullglob
        wheels=("$WHEELS"/*.whl)
        if [ ${#wheels[@]} -gt 0 ]; then
            "$PY" -m pip install -q --no-index --find-links "$WHEELS" "${wheels[@]}"
        fi
    fi
    # A copy of the checkout's files (the build writes build/ and *.egg-info into
    # its source); --no-deps: the dependencies are what is already here
    # (checked just below).
    mkdir "$WORK/src"
    (cd "$ROOT" && { git ls-files -co --exclude-standard 2>/dev/null || find . -path ./.git -prune -o -type f -print; } \
        | tar -cf - -T - ) | tar -C "$WORK/src" -xf -
    if ! "$PY" -m pip install -q --no-index ${WHEELS:+--find-links "$WHEELS"} \
            --no-build-isolation --no-deps "$WORK/src" 2>"$WORK/pip.err"; then
        echo "gpu_check: pip could not install the checkout offline ($(tail -1 "$WORK/pip.err")); using PYTHONPATH" >&2
        export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
    fi
fi
"$PY" -c "import unetvocalsep.network, soundfile, scipy" || {
    echo "gpu_check: unetvocalsep's dependencies are missing; pass a folder of wheels as \$1" >&2
    exit 1
}

# ---- 2-4. the measurements
cd "$WORK"
timeout 450 "$PY" - <<'PY'
import datetime
import json
import os
import platform
import sys
import time

import numpy as np

from unetvocalsep import _compat
import chainer

from unetvocalsep.fast import fastconv
from unetvocalsep.training.cache import make_example, save_example
from unetvocalsep.device import get_device
from unetvocalsep.errors import UserError
from unetvocalsep.model_io import load_model
from unetvocalsep.network import UNet
from unetvocalsep.separate import Separator
from unetvocalsep.training.train import train

dev_id = int(os.environ["GPU_CHECK_DEVICE"])
cpu_mode = dev_id < 0
iters = int(os.environ.get("GPU_CHECK_ITERS", 6 if cpu_mode else 200))
batch = int(os.environ.get("GPU_CHECK_BATCH", 2 if cpu_mode else 64))
song_seconds = float(os.environ.get("GPU_CHECK_SONG_SECONDS", 20 if cpu_mode else 180))
results_path = os.environ["GPU_CHECK_RESULTS"]
work = os.getcwd()
try:
    device = get_device(dev_id)
except UserError as exc:
    sys.exit(f"gpu_check: {exc}")
failures = []


def sync():
    if not cpu_mode:
        import cupy
        cupy.cuda.Device().synchronize()


# -- versions
import unetvocalsep

print("gpu_check: unetvocalsep from", os.path.dirname(unetvocalsep.__file__), flush=True)
info = {"python": platform.python_version(), "numpy": np.__version__,
        "chainer": chainer.__version__, "compat": ",".join(_compat.APPLIED) or "none"}
if cpu_mode:
    info["device"] = f"CPU fallback ({platform.processor() or platform.machine()}), script check only"
else:
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(dev_id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    info["device"] = f"{name} (GPU {dev_id})"
    info["cupy"] = cupy.__version__
    info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    info["cudnn"] = bool(chainer.backends.cuda.cudnn_enabled)
print("gpu_check:", json.dumps(info), flush=True)

# -- 2. mask: CPU vs device
np.random.seed(0)
unet = UNet()
rng = np.random.default_rng(0)
x = (rng.random((1, 1, 512, 256), dtype=np.float32) ** 4).astype(np.float32)
x /= x.max()
with chainer.using_config("train", False), chainer.no_backprop_mode():
    mask_cpu = unet(x).array
    gpu_unet = unet.copy(mode="copy")
    gpu_unet.to_device(device)
    with fastconv.use_fast_path(False):  # on the CPU fallback: chainer's own kernels
        mask_dev = chainer.backend.CpuDevice().send(gpu_unet(device.send(x)).array)
mask_diff = float(np.abs(mask_cpu - mask_dev).max())
print(f"gpu_check: mask max |CPU - device| = {mask_diff:.3g}", flush=True)
if not mask_diff < 1e-4 or mask_dev.dtype != np.float32:
    failures.append(f"mask difference {mask_diff:.3g} (dtype {mask_dev.dtype})")

# -- 3. training throughput on a generated cache
sr = 16000
cache = os.path.join(work, "cache")
n_tracks, track_seconds = (2, 10) if cpu_mode else (8, 60)
t = np.arange(int(track_seconds * sr)) / sr
for k in range(n_tracks):
    r = np.random.default_rng(k)
    vocals = 0.3 * np.sin(2 * np.pi * (180 + 30 * k) * t * (1 + 0.02 * np.sin(3 * t)))
    vocals *= np.sin(2 * np.pi * 0.5 * t) > -0.3
    acc = 0.1 * r.standard_normal(t.size) + 0.2 * np.sin(2 * np.pi * 55 * t)
    save_example(cache, f"track{k}", make_example(vocals + acc, vocals, sr))
out = os.path.join(work, "result")
log_every = max(1, iters // 4)
t0 = time.perf_counter()
train(cache, out=out, batchsize=batch, iteration=iters, device=dev_id,
      snapshot_interval=10 ** 9, log_interval=log_every, progress=False)
sync()
train_wall = time.perf_counter() - t0
log = json.load(open(os.path.join(out, "log")))
first, last = log[0], log[-1]
steady = (last["iteration"] - first["iteration"]) / (last["elapsed_time"] - first["elapsed_time"])
losses = [round(e["main/loss"], 5) for e in log]
print(f"gpu_check: training {iters} it at batch {batch}: {steady:.2f} it/s "
      f"({steady * batch:.1f} patches/s) steady, {train_wall:.1f} s in all; loss {losses}",
      flush=True)
if not all(np.isfinite(losses)):
    failures.append(f"training loss not finite: {losses}")

# -- 4. separation of a generated song on the device
import soundfile as sf

song_sr = 44100
ts = np.arange(int(song_seconds * song_sr)) / song_sr
voice = 0.2 * np.sin(2 * np.pi * 220 * ts * (1 + 0.01 * np.sin(2 * np.pi * 5 * ts)))
band = 0.1 * np.random.default_rng(1).standard_normal(ts.size)
song = np.stack([voice + band, 0.8 * voice + band]).T.astype(np.float32)
song_path = os.path.join(work, "song.wav")
sf.write(song_path, song, song_sr, subtype="PCM_16")
sep = Separator(load_model(os.path.join(out, "unet.npz"))[0], device=dev_id)
warm = os.path.join(work, "warm.wav")
sf.write(warm, song[: 5 * song_sr], song_sr, subtype="PCM_16")
sep.separate_file(warm, output_dir=os.path.join(work, "sep"), overwrite=True, progress=False)
sync()
t0 = time.perf_counter()
sep.separate_file(song_path, output_dir=os.path.join(work, "sep"), overwrite=True, progress=False)
sync()
sep_wall = time.perf_counter() - t0
rtf = sep_wall / song_seconds
outs = [os.path.join(work, "sep", "song", f"{s}.wav") for s in ("vocals", "accompaniment")]
n_out = [sf.info(p).frames for p in outs]
print(f"gpu_check: separation of {song_seconds:.0f} s 44.1 kHz stereo: {sep_wall:.2f} s, "
      f"real-time factor {rtf:.4f} ({1 / rtf:.0f}x real time)", flush=True)
if n_out != [len(song)] * 2:
    failures.append(f"separated lengths {n_out} != {len(song)}")

# -- 5. onnxruntime's CUDA provider, when the installed onnxruntime has one
# (pip install onnxruntime-gpu); the same graph as the CPU backend
ort_line = "onnxruntime CUDA provider: not available (install onnxruntime-gpu)"
try:
    import onnxruntime as ort
    from unetvocalsep.fast.inference import unet_params
    from unetvocalsep.fast.ortbackend import build_model

    providers = ort.get_available_providers()
    want = "CPUExecutionProvider" if cpu_mode else "CUDAExecutionProvider"
    if want in providers:
        sess = ort.InferenceSession(build_model(*unet_params(unet)).SerializeToString(),
                                    providers=[want])
        xo = (rng.random((1, 1, 512, 1024), dtype=np.float32) ** 4).astype(np.float32)
        sess.run(None, {"magnitude": xo})
        t0 = time.perf_counter()
        for _ in range(5):
            mo = sess.run(None, {"magnitude": xo})[0]
        ort_s = (time.perf_counter() - t0) / 5
        with chainer.using_config("train", False), chainer.no_backprop_mode():
            ref = unet(xo).array
        ort_diff = float(np.abs(mo - ref).max())
        ort_line = (f"onnxruntime {ort.__version__} {want}: {ort_s:.4f} s per 1024 frames "
                    f"({1024 * 512 / 16000 / ort_s:.0f}x real time), max |diff| vs chainer "
                    f"{ort_diff:.3g}")
        if not ort_diff < 1e-4:
            failures.append(f"onnxruntime mask difference {ort_diff:.3g}")
except ImportError as exc:
    ort_line = f"onnxruntime CUDA provider: not checked ({exc})"
print("gpu_check:", ort_line, flush=True)

# -- results
stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
lines = [
    f"\n## GPU check ({stamp}, benchmarks/gpu_check.sh)\n",
    "",
    f"- machine: {info['device']}; " + ", ".join(f"{k} {v}" for k, v in info.items() if k != "device"),
    f"- mask, CPU vs device, same input (1x1x512x256): max |diff| = {mask_diff:.3g} "
    f"({'< 1e-4: ok' if mask_diff < 1e-4 else 'FAIL: >= 1e-4'})",
    f"- training, {iters} iterations at batch {batch} (128-frame patches, Adam), generated cache: "
    f"{steady:.2f} iterations/s = {steady * batch:.1f} patches/s (steady state, "
    f"iterations {first['iteration']}-{last['iteration']}); {train_wall:.1f} s including setup",
    f"- separation, generated {song_seconds:.0f} s 44.1 kHz stereo song: {sep_wall:.2f} s, "
    f"real-time factor {rtf:.4f}",
    f"- {ort_line}",
    f"- result: {'ok' if not failures else 'FAILED: ' + '; '.join(failures)}",
    "",
]
with open(results_path, "a") as f:
    f.write("\n".join(lines))
print(f"gpu_check: appended to {results_path}")
if cpu_mode:
    print(open(results_path).read())
sys.exit(1 if failures else 0)
PY
