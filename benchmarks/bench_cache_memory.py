"""Memory of training-like reading from a large spectrogram cache.

Builds synthetic caches (the real format: ``<track>.npy`` float32
(3, 513, frames) + ``<track>.json``, written with ``dataset.save_example``) of
several sizes, then, in a fresh process per case, draws random 128-frame crops
through ``SpectrogramDataset`` with a ``SerialIterator`` or a
``MultiprocessIterator`` (batch 64, as in training, without the network) and
reports the peak memory of the reading process and of its workers:

- ``maxrss``: ``resource.getrusage`` peak RSS (self, and children after the
  workers exit). It counts file pages mapped by the memory maps.
- ``anon``: peak ``RssAnon`` from ``/proc/<pid>/status`` (private memory: what
  really competes for RAM), sampled after every batch, summed over workers.
- ``file``: peak ``RssFile`` (file-backed pages of the memory maps that are
  mapped in; page cache, shared, reclaimable by the kernel).

Usage::

    python benchmarks/bench_cache_memory.py --hours 1 4 17 --iterations 300
    python benchmarks/bench_cache_memory.py --hours 2 --epochs 1 --keep --dir /tmp/cache

Results are printed as a Markdown table (append them to
``benchmarks/RESULTS.md``). Caches are deleted afterwards unless ``--keep``.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

FRAME_BYTES = 3 * 513 * 4
FRAMES_PER_HOUR = 3600 * 16000 / 512


def build_cache(folder, hours, track_minutes=4.0, seed=0):
    """Write a synthetic cache of ``hours`` of audio in tracks of ``track_minutes``.

    Returns
    -------
    (int, int)
        Number of tracks and total frames.
    """
    from unetvocalsep.training.cache import save_example

    os.makedirs(folder, exist_ok=True)
    total = int(round(hours * FRAMES_PER_HOUR))
    per = int(round(track_minutes * 60 * 16000 / 512))
    rng = np.random.default_rng(seed)
    block = rng.random((3, 513, per), dtype=np.float32)  # content does not matter for memory
    done, k = 0, 0
    while done < total:
        n = min(per, total - done)
        arr = block[:, :, :n] if n < per else block
        arr = np.roll(arr, k, axis=2)  # different bytes per track
        save_example(folder, f"track{k:05d}", arr, {"source": "synthetic"})
        done += n
        k += 1
    return k, done


def _status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "RssAnon", "RssFile", "RssShmem")):
                    key, val = line.split(":")
                    out[key] = int(val.split()[0]) * 1024
    except OSError:
        pass
    return out


def reopen_dataset_class():
    """A ``SpectrogramDataset`` that maps a track only for the duration of one crop.

    The variant ``--variant reopen``: ``np.load(mmap_mode='r')`` per crop, so the
    mapping (and the file pages it pulled into the process's RSS) is released
    as soon as the crop is copied. Same crops, same format.
    """
    from unetvocalsep.training.cache import SpectrogramDataset, open_track

    class ReopenDataset(SpectrogramDataset):
        def _array(self, f):
            return open_track(f)

    return ReopenDataset


def pread_dataset_class():
    """A ``SpectrogramDataset`` that reads each crop with ``os.preadv`` (no memory map).

    The variant ``--variant pread``: one ``preadv`` of the crop's rows
    (bins 1..512 of the mix and of the target) per part, straight into the
    output array. Pages go to the kernel's page cache, never into the
    process's RSS. Same crops, same format.
    """
    from unetvocalsep import constants
    from unetvocalsep.training.cache import SpectrogramDataset

    class PreadDataset(SpectrogramDataset):
        _offsets = None

        def _header(self, f):
            if self._offsets is None:
                self._offsets = {}
            off = self._offsets.get(f)
            if off is None:
                with open(f, "rb") as fh:
                    np.lib.format.read_magic(fh)
                    np.lib.format.read_array_header_1_0(fh)
                    off = self._offsets[f] = fh.tell()
            return off

        def get_example(self, i):
            j = int(np.searchsorted(self._bounds, i % int(self._bounds[-1]), side="right"))
            f, t = self.files[j], int(self.frames[j])
            start = int(self._random().integers(0, max(1, t - self.patch + 1)))
            n = min(self.patch, t - start)
            x = np.zeros((1, constants.N_BINS, self.patch), dtype=np.float32)
            y = np.zeros_like(x)
            base = self._header(f)
            fd = os.open(f, os.O_RDONLY)
            try:
                for part, out in ((0, x), (self.target, y)):
                    for b in range(1, constants.N_BINS + 1):
                        pos = base + ((part * (constants.N_BINS + 1) + b) * t + start) * 4
                        os.preadv(fd, [memoryview(out[0, b - 1, :n]).cast("B")], pos)
            finally:
                os.close(fd)
            return x, y

    return PreadDataset


def measure(folder, iterator, iterations, loaderjob, batchsize, seed, variant="cached"):
    """Read ``iterations`` batches of random crops; returns a dict of peaks (bytes)."""
    import multiprocessing

    from unetvocalsep import _compat  # noqa: F401
    from chainer import iterators
    from unetvocalsep.training.cache import SpectrogramDataset, article_iterations_per_epoch

    cls = {"cached": lambda: SpectrogramDataset, "reopen": reopen_dataset_class,
           "pread": pread_dataset_class}[variant]()
    ds = cls(folder, seed=seed)
    per_epoch = article_iterations_per_epoch(ds, batchsize)
    if iterations <= 0:
        iterations = per_epoch * -iterations if iterations < 0 else per_epoch
    if iterator == "serial":
        it = iterators.SerialIterator(ds, batchsize)
    else:
        it = iterators.MultiprocessIterator(ds, batchsize, n_processes=loaderjob,
                                            shared_mem=4 * 2 * 512 * 128 * 4)
    peaks = {"anon_self": 0, "file_self": 0, "anon_workers": 0, "file_workers": 0,
             "rss_total": 0}
    t0 = time.perf_counter()
    checksum = 0.0
    for i in range(iterations):
        batch = it.next()
        checksum += float(batch[0][0][0, 0, 0])
        s = _status(os.getpid())
        kids = [_status(p.pid) for p in multiprocessing.active_children()]
        a_w = sum(k.get("RssAnon", 0) for k in kids)
        f_w = sum(k.get("RssFile", 0) for k in kids)
        peaks["anon_self"] = max(peaks["anon_self"], s.get("RssAnon", 0))
        peaks["file_self"] = max(peaks["file_self"], s.get("RssFile", 0))
        peaks["anon_workers"] = max(peaks["anon_workers"], a_w)
        peaks["file_workers"] = max(peaks["file_workers"], f_w)
        peaks["rss_total"] = max(peaks["rss_total"], s.get("VmRSS", 0) + sum(k.get("VmRSS", 0) for k in kids))
    elapsed = time.perf_counter() - t0
    if hasattr(it, "finalize"):
        it.finalize()
    peaks.update(
        iterations=iterations, article_epoch_iterations=per_epoch, seconds=elapsed,
        crops_per_s=iterations * batchsize / elapsed, tracks=len(ds.files), frames=int(ds.frames.sum()),
        maxrss_self=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        maxrss_children=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
    return peaks


def _drop_page_cache_hint(folder):
    """Ask the kernel to forget the cache files (posix_fadvise DONTNEED): cold-ish reads."""
    for f in os.listdir(folder):
        fd = os.open(os.path.join(folder, f), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hours", type=float, nargs="+", default=[1.0, 4.0])
    p.add_argument("--dir", default="/tmp/unetvocalsep-bench-cache")
    p.add_argument("--track-minutes", type=float, default=4.0)
    p.add_argument("--iterations", type=int, default=300,
                   help="batches per case (0: one article epoch; -N: N article epochs)")
    p.add_argument("--batchsize", type=int, default=64)
    p.add_argument("--loaderjob", type=int, default=2)
    p.add_argument("--iterators", nargs="+", default=["serial", "multiprocess"])
    p.add_argument("--variants", nargs="+", default=["cached"], choices=["cached", "reopen", "pread"],
                   help="cached: SpectrogramDataset as is (memory maps kept open); "
                        "reopen: a memory map per crop; pread: os.preadv per crop, no map")
    p.add_argument("--keep", action="store_true", help="keep the caches")
    p.add_argument("--variant", default="cached", help=argparse.SUPPRESS)
    p.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    p.add_argument("--iterator", default="serial", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.measure:  # child process: one case
        res = measure(args.measure, args.iterator, args.iterations, args.loaderjob, args.batchsize, 0,
                      args.variant)
        print(json.dumps(res))
        return 0

    free = shutil.disk_usage(os.path.dirname(os.path.abspath(args.dir)) or "/").free
    need = max(args.hours) * FRAMES_PER_HOUR * FRAME_BYTES
    print(f"free disk {free / 2**30:.1f} GiB; largest cache {need / 2**30:.1f} GiB", file=sys.stderr)
    if need > 0.8 * free:
        raise SystemExit("not enough disk space for the largest cache; pass smaller --hours")
    rows = []
    try:
        for h in args.hours:
            folder = os.path.join(args.dir, f"{h:g}h")
            t0 = time.perf_counter()
            if not os.path.isdir(folder):
                n, frames = build_cache(folder, h, args.track_minutes)
                print(f"built {folder}: {n} tracks, {frames} frames, "
                      f"{frames * FRAME_BYTES / 2**30:.2f} GiB in {time.perf_counter() - t0:.0f} s",
                      file=sys.stderr)
            for variant in args.variants:
                for kind in args.iterators:
                    _drop_page_cache_hint(folder)
                    cmd = [sys.executable, os.path.abspath(__file__), "--measure", folder, "--iterator", kind,
                           "--iterations", str(args.iterations), "--batchsize", str(args.batchsize),
                           "--loaderjob", str(args.loaderjob), "--variant", variant]
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                    res = json.loads(out.strip().splitlines()[-1])
                    res.update(hours=h, iterator=kind, variant=variant,
                               cache_gib=res["frames"] * FRAME_BYTES / 2**30)
                    rows.append(res)
                    print(json.dumps(res), file=sys.stderr)
            if not args.keep:
                shutil.rmtree(folder)
    finally:
        if not args.keep and os.path.isdir(args.dir):
            shutil.rmtree(args.dir, ignore_errors=True)
    mib = lambda b: f"{b / 2**20:.0f}"  # noqa: E731
    print("| corpus | cache | dataset | iterator | batches (article epoch) | crops/s | maxrss self | maxrss workers "
          "| peak anon (self + workers) | peak file-backed (self + workers) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        workers = "-" if r["iterator"] == "serial" else f"{mib(r['maxrss_children'])} MiB"
        print(f"| {r['hours']:g} h | {r['cache_gib']:.2f} GiB | {r['variant']} | {r['iterator']}"
              f"{'' if r['iterator'] == 'serial' else ' x' + str(args.loaderjob)} "
              f"| {r['iterations']} ({r['article_epoch_iterations']}) | {r['crops_per_s']:.0f} "
              f"| {mib(r['maxrss_self'])} MiB | {workers} "
              f"| {mib(r['anon_self'])} + {mib(r['anon_workers'])} MiB "
              f"| {mib(r['file_self'])} + {mib(r['file_workers'])} MiB |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
