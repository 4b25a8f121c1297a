"""Batch mode of ``separate``: several files in parallel, with the model loaded once.

Examples
--------
>>> choose_jobs(4, 10, available=2 * JOB_MEMORY_BYTES, cores=4)   # memory for 2 files
2
>>> choose_jobs(0, 10, available=64 * JOB_MEMORY_BYTES, cores=4)  # -j 0: one per core
4
"""
import os

from .errors import UserError


#: Peak memory one file in flight adds (measured, docs/INFERENCE.md: a second
#: 3-minute 44.1 kHz stereo file with its first-pass cache and two windows in
#: the pipeline added 260-300 MB once the full-rate work ran in blocks; it
#: was about 400 MB before).
JOB_MEMORY_BYTES = 350 * 2 ** 20


def mem_available():
    """``MemAvailable`` from /proc/meminfo in bytes, or None where there is none."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


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


def separate_files(sep, files, output_dir, jobs=1, **kwargs):
    """Separate many files with one model, ``jobs`` at a time.

    With ``jobs > 1`` files are processed by that many threads sharing the
    loaded model, so one file's decoding and encoding overlap another's
    network pass (NumPy and the BLAS release the GIL). Each error is printed
    as one line on stderr and the other files go on.

    Parameters
    ----------
    sep : Separator
    files : list of str
    output_dir : str
    jobs : int
    **kwargs
        Passed to :meth:`Separator.separate_file`.

    Returns
    -------
    int
        Number of files that failed.
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from .errors import describe_error

    def one(f):
        try:
            outs = sep.separate_file(f, output_dir, **kwargs)
        except (UserError, OSError, MemoryError) as exc:
            print(f"unetvocalsep.separate: error: {describe_error(exc)}", file=sys.stderr, flush=True)
            return False
        for note in getattr(outs, "notes", ()):
            print(f"unetvocalsep.separate: note: {note}", file=sys.stderr, flush=True)
        print(f"{f} -> {os.path.dirname(outs['vocals'])}{os.sep} ({', '.join(outs)})", flush=True)
        return True

    if jobs <= 1:
        ok = [one(f) for f in files]
    else:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            ok = list(pool.map(one, files))
    return ok.count(False)
