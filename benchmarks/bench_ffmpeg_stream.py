"""Time and memory of reading a file through ffmpeg: a short-header mp3, or an m4a.

An mp3 whose header understates its length (VBR without a Xing header, or mp3
files joined with ``cat``) and a format libsndfile cannot read (m4a/AAC) are
read through ffmpeg (:mod:`unetvocalsep.mpeg`). This compares, each in a fresh
process, for such a file of ``--minutes`` minutes (44.1 kHz stereo; ``--format
vbr-mp3``, a VBR mp3 without a Xing header, or ``m4a``, AAC at 192 kb/s):

- ``decode whole``: the whole file into memory at once, as ``AudioReader`` did
  before: for the mp3 ffmpeg's output with ``subprocess.run`` (until
  2026-12-07), for the m4a ``librosa.load`` (audioread; until 2026-12-07);
- ``open``: ``AudioReader(path)``, which counts the samples in one ffmpeg pass
  (kept per file version, so later opens are free);
- ``open + read``: the same, then every block read, as a separation does;
- ``separate``: the whole ``separate_file`` on it, bundled model, 2 threads.

Peak memory is ``ru_maxrss`` of the process (ffmpeg, a child, is not in it).

Usage::

    python benchmarks/bench_ffmpeg_stream.py --minutes 20
    python benchmarks/bench_ffmpeg_stream.py --minutes 20 --format m4a
    git worktree add /tmp/before <commit>
    python benchmarks/bench_ffmpeg_stream.py --root /tmp/before   # the same cases on that tree

Prints a Markdown table to append to ``benchmarks/RESULTS.md``.
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CASE = r'''
import resource, sys, time
sys.path.insert(0, {root!r})
case, path, out = sys.argv[1:4]
t = time.perf_counter()
if case == "decode whole" and path.endswith(".m4a"):
    import warnings, librosa
    warnings.simplefilter("ignore")
    y, sr = librosa.load(path, sr=None, mono=False, dtype="float32")
elif case == "decode whole":
    import subprocess, numpy as np
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "f32le", "pipe:1"],
                         capture_output=True, check=True).stdout
    y = np.ascontiguousarray(np.frombuffer(raw, "<f4").reshape(-1, 2).T)
elif case.startswith("open"):
    from unetvocalsep.audio import AudioReader
    with AudioReader(path) as r:
        if case == "open + read":
            while r.read(1 << 18).shape[1]:
                pass
else:
    from unetvocalsep.separate import separate_file
    separate_file(path, out, progress=False)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
'''


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=20.0)
    p.add_argument("--root", default=ROOT, help="the source tree to measure (default: this one)")
    p.add_argument("--format", default="vbr-mp3", choices=["vbr-mp3", "m4a"])
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        mp3 = args.format == "vbr-mp3"
        path = os.path.join(tmp, "vbr.mp3" if mp3 else "song.m4a")
        codec = ["-q:a", "4", "-write_xing", "0"] if mp3 else ["-c:a", "aac", "-b:a", "192k"]
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        f"sine=f=440:d={args.minutes * 60:g}", "-ar", "44100", "-ac", "2",
                        *codec, path], check=True)
        code = CASE.format(root=os.path.abspath(args.root))
        rows = []
        for case in ("decode whole", "open", "open + read", "separate"):
            out = subprocess.run([sys.executable, "-c", code, case, path,
                                  os.path.join(tmp, "out")], capture_output=True, text=True,
                                 check=True).stdout.split()
            rows.append((case, float(out[0]), float(out[1])))
        mb = os.path.getsize(path) / 2 ** 20
    what = "VBR mp3 without a Xing header" if mp3 else "m4a (AAC 192 kb/s)"
    print(f"{what}, {args.minutes:g} min, 44.1 kHz stereo, {mb:.1f} MB; "
          f"tree {args.root}\n")
    print("| case | seconds | peak RSS (MiB) |\n|---|---:|---:|")
    for case, sec, rss in rows:
        print(f"| {case} | {sec:.2f} | {rss:.0f} |")


if __name__ == "__main__":
    main()
