"""Peers on the same file: Demucs v4 and Open-Unmix next to this package (issue 17).

Runs only when given a separate Python environment with torch, demucs and
openunmix (large, and not a dependency of this package)::

    python3 -m venv ~/peers-venv
    ~/peers-venv/bin/pip install torch demucs openunmix soundfile
    python benchmarks/peers.py --peers-python ~/peers-venv/bin/python
    python benchmarks/peers.py --peers-python ~/peers-venv/bin/python --no-write --minutes 1

Pretrained weights cannot be downloaded on the benchmark machines, and the
cost of a network does not depend on its weights, so each peer's architecture
is built with random weights:

* **Demucs v4** (``htdemucs``): ``HTDemucs`` with the pretrained model's
  hyper-parameters, through ``demucs.apply.apply_model`` with ``split=True``,
  ``overlap=0.25``, ``shifts=1``, as ``python -m demucs`` runs it;
* **Open-Unmix** (``umxhq`` shape: 2049 bins, 512 hidden units, 16 kHz
  bandwidth): vocals + residual through ``openunmix.model.Separator`` with one
  Wiener iteration, as ``umx`` runs it.

Every tool separates the same generated 3-minute 44.1 kHz stereo wav in a
fresh process, decoding it and writing its stems; the wall clock is from the
process's own start of work (imports included) to the last file written, and
peak memory is the process's ``VmHWM`` (benchmarks/bench_separate.py uses the
same two methods). torch runs on all cores (``torch.get_num_threads()``).
The table goes to benchmarks/RESULTS.md; README's speed section quotes the
ratio to Demucs.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

#: HTDemucs hyper-parameters of the released ``htdemucs`` model, as its grid
#: (demucs/grids/mmi.py) sets them: dconv_mode 3, depth 4, 5 transformer layers,
#: 512 bottom channels, and the 7.8 s segment the released model runs on; the
#: class defaults (those of demucs' config) for everything else.
HTDEMUCS_KWARGS = dict(sources=["drums", "bass", "other", "vocals"], audio_channels=2,
                       samplerate=44100, segment=7.8, channels=48, depth=4, t_layers=5,
                       dconv_mode=3, bottom_channels=512)


def _vm_hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def child(tool, path, out):
    """(In the peers' environment) separate ``path`` with ``tool``; print JSON."""
    t0 = time.perf_counter()
    import numpy as np
    import soundfile as sf
    import torch

    torch.manual_seed(0)
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    wav = torch.from_numpy(np.ascontiguousarray(y.T))[None]   # (1, 2, samples)
    with torch.no_grad():
        if tool == "demucs":
            from demucs.apply import apply_model
            from demucs.htdemucs import HTDemucs

            model = HTDemucs(**HTDEMUCS_KWARGS).eval()
            ref = wav.mean(1)   # demucs' CLI normalisation
            x = (wav - ref.mean()) / ref.std()
            stems = apply_model(model, x, shifts=1, split=True, overlap=0.25, progress=False)[0]
            stems = stems * ref.std() + ref.mean()
            names = model.sources
        else:
            from openunmix.model import OpenUnmix, Separator
            from openunmix.utils import bandwidth_to_max_bin

            unmix = OpenUnmix(nb_bins=2049, nb_channels=2, hidden_size=512,
                              max_bin=bandwidth_to_max_bin(44100, 4096, 16000)).eval()
            sep = Separator({"vocals": unmix}, niter=1, residual=True, n_fft=4096,
                            n_hop=1024, nb_channels=2, sample_rate=44100.0).eval()
            stems = sep(wav)[0]
            names = ["vocals", "residual"]
    for name, s in zip(names, stems):
        sf.write(os.path.join(out, name + ".wav"), s.numpy().T, sr, subtype="PCM_16")
    print(json.dumps({"total": time.perf_counter() - t0, "hwm_mb": _vm_hwm_mb(),
                      "threads": torch.get_num_threads(), "torch": torch.__version__}))


def run_peer(python, tool, path):
    out = tempfile.mkdtemp(prefix=f"peer_{tool}_")
    r = subprocess.run([python, __file__, "--child", tool, path, out],
                       capture_output=True, text=True)
    subprocess.run(["rm", "-rf", out])
    if r.returncode:
        raise RuntimeError(f"{tool} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def versions(python):
    code = ("import importlib.metadata as m; print(' '.join(f'{p} {m.version(p)}' "
            "for p in ('torch', 'demucs', 'openunmix')))")
    return subprocess.run([python, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", nargs=3, metavar=("TOOL", "FILE", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--peers-python", help="python of an environment with torch, demucs, openunmix")
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--reps", type=int, default=3, help="runs of this package (peers: 1)")
    p.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    args = p.parse_args(argv)
    if args.child:
        return child(*args.child)
    if not args.peers_python:
        p.error("give --peers-python (see the module docstring for the environment)")
    import bench_separate

    work = tempfile.mkdtemp(prefix="bench_peers_")
    path = os.path.join(work, "song.wav")
    bench_separate.make_song(path, args.minutes)
    seconds = args.minutes * 60
    ours = [bench_separate.measure(path, None) for _ in range(args.reps)]
    rows = [("unetvocalsep (this package, bundled model)",
             statistics.median(r["total"] for r in ours), max(r["maxrss_mb"] for r in ours))]
    for tool, label in (("openunmix", "Open-Unmix (umxhq shape, vocals + residual, 1 Wiener iteration)"),
                        ("demucs", "Demucs v4 (htdemucs, split, overlap 0.25, shifts 1)")):
        r = run_peer(args.peers_python, tool, path)
        rows.append((label, r["total"], r["hwm_mb"]))
    subprocess.run(["rm", "-rf", work])
    base = rows[0][1]
    lines = [f"Same generated {args.minutes:g}-minute 44.1 kHz stereo wav, fresh process each, "
             f"decode to written stems; peers with random weights ({versions(args.peers_python)}, "
             f"all cores); this package median of {args.reps}.", "",
             "| tool | wall s | x real time | peak RSS MB | this package is faster by |",
             "|---|---:|---:|---:|---:|"]
    for label, wall, hwm in rows:
        lines.append(f"| {label} | {wall:.2f} | {seconds / wall:.1f} | {hwm:.0f} | "
                     f"{wall / base:.0f}x |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        from results import append_section

        append_section("Peers on the same file (peers.py)", text)


if __name__ == "__main__":
    main()
