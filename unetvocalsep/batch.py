"""Batch mode of ``separate``: several files in parallel, with the model loaded once.

Examples
--------
>>> choose_jobs(4, 10, available=2 * JOB_MEMORY_BYTES, cores=4)   # memory for 2 files
2
>>> choose_jobs(0, 10, available=64 * JOB_MEMORY_BYTES, cores=4)  # -j 0: one per core
4
"""
import os

from .audio import AudioReader
from .errors import UserError, cli_name, describe_error


from .limits import mem_available
from .signals import Cancelled

#: Peak memory one file in flight adds (measured, docs/INFERENCE.md: a second
#: 3-minute 44.1 kHz stereo file with its first-pass cache and two windows in
#: the pipeline added 260-300 MB once the full-rate work ran in blocks; it
#: was about 400 MB before).
JOB_MEMORY_BYTES = 350 * 2 ** 20


def choose_jobs(requested, n_files, available=None, cores=None):
    """How many files to separate at once.

    Parameters
    ----------
    requested : int
        The user's ``-j``; 0 means as many as the cores allow.
    n_files : int
    available : int or None
        Free memory in bytes; read from /proc/meminfo when None (no limit
        where it cannot be read).
    cores : int or None
        ``os.cpu_count()`` when None.

    Returns
    -------
    int
        At least 1; at most ``n_files``, the request (or the cores) and what
        fits into ``available`` at :data:`JOB_MEMORY_BYTES` per file.
    """
    cores = cores or os.cpu_count() or 1
    want = min(requested or cores, max(1, n_files))
    if available is None:
        available = mem_available()
    if available is not None:
        want = min(want, max(1, int(available // JOB_MEMORY_BYTES)))
    return max(1, want)


def separate_files(sep, files, output_dir, jobs=1, progress=True, **kwargs):
    """Separate many files with one model, ``jobs`` at a time.

    With ``jobs > 1`` files are processed by that many threads sharing the
    loaded model, so one file's decoding and encoding overlap another's
    network pass (NumPy and the BLAS release the GIL). Each error is printed
    as one line on stderr and the other files go on. Ctrl-C or a ``kill``
    stops every thread at its next block (within about a second) and commits
    no file that was not finished.

    Progress is one bar for the whole batch, in seconds of audio, headed
    ``file k/N`` (k files finished); the ``input -> folder`` lines and the
    notes are written above it, never through it.

    Parameters
    ----------
    sep : Separator
    files : list of str
    output_dir : str
    jobs : int
    progress : bool
        Draw the bar (on stderr).
    **kwargs
        Passed to :meth:`Separator.separate_file`.

    Returns
    -------
    int
        Number of files that failed.
    """
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    prog = cli_name("unetvocalsep.separate")
    bar = _batch_bar(files, kwargs) if progress else None
    lock = threading.Lock()
    stop = threading.Event()   # set when the main thread is interrupted (Ctrl-C, kill)
    finished = [0]

    def say(line, err=False):
        stream = sys.stderr if err else sys.stdout
        if bar is not None:
            with lock:
                bar.write(line, file=stream)
        else:
            print(line, file=stream, flush=True)

    class FileProgress:
        """This file's share of the batch bar, never more than its length."""

        def __init__(self, seconds):
            self.left = seconds

        def update(self, seconds):
            step = min(float(seconds), self.left)
            if step > 0:
                self.left -= step
                with lock:
                    bar.update(step)

    def one(item):
        f, seconds = item
        fp = FileProgress(seconds) if bar is not None else False
        try:
            outs = sep.separate_file(f, output_dir, progress=fp, cancel=stop.is_set, **kwargs)
        except Cancelled:
            return False
        except (UserError, OSError, MemoryError) as exc:
            say(f"{prog}: error: {describe_error(exc)}", err=True)
            ok = False
        else:
            for note in getattr(outs, "notes", ()):
                say(f"{prog}: note: {note}", err=True)
            folders = sorted({os.path.dirname(p) for p in outs.values()})
            where = folders[0] + os.sep if len(folders) == 1 else ", ".join(outs.values())
            say(f"{f} -> {where} ({', '.join(outs)})")
            ok = True
        if bar is not None:
            with lock:
                if fp.left > 0:              # a failed or shorter file: its share is done
                    bar.update(fp.left)
                finished[0] += 1
                bar.set_description_str(f"file {finished[0]}/{len(files)}")
        return ok

    items = list(zip(files, bar.lengths if bar is not None else [0.0] * len(files)))
    try:
        if jobs <= 1:
            ok = [one(i) for i in items]
        else:
            pool = ThreadPoolExecutor(max_workers=jobs)
            try:
                ok = list(pool.map(one, items))
            except BaseException:   # Ctrl-C or a signal: the workers stop at their next block
                stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown()
    finally:
        if bar is not None:
            bar.close()
    return ok.count(False)


def _batch_bar(files, kwargs):
    """The batch's tqdm bar; ``bar.lengths``: each file's seconds (0 if unreadable)."""
    from tqdm.auto import tqdm

    lengths = []
    for f in files:
        try:
            with AudioReader(f) as r:
                seconds = r.duration
        except (UserError, OSError, MemoryError):
            seconds = 0.0
        start = kwargs.get("start") or 0.0
        seconds = max(seconds - start, 0.0)
        if kwargs.get("duration") is not None:
            seconds = min(seconds, kwargs["duration"])
        lengths.append(seconds)
    bar = tqdm(total=float(sum(lengths)) or 1.0, unit="s", desc=f"file 0/{len(files)}",
               leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s "
                                       "audio [{elapsed}<{remaining}]")
    bar.lengths = lengths
    return bar
