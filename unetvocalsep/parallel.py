"""Worker processes that never outlive the run that started them.

Every process pool of the package (``prepare -j``, ``evaluate -j``,
``synth -j``) comes from :func:`process_pool`:

- workers are *spawned*, not forked (a fork of a process that holds BLAS,
  tqdm or CUDA threads can deadlock);
- each worker asks the kernel for SIGTERM when its parent dies (Linux
  ``PR_SET_PDEATHSIG``; elsewhere a watchdog thread polls the parent), and
  handles SIGTERM like Ctrl-C (:mod:`unetvocalsep.signals`), so it removes
  its temporary files and exits;
- when the block ends with an exception (an error, Ctrl-C, ``kill``) the
  queued tasks are cancelled and the running workers are terminated at once
  instead of being waited for.

Examples
--------
>>> from unetvocalsep.parallel import process_pool
>>> with process_pool(2) as pool:                     # doctest: +SKIP
...     print(sorted(pool.map(abs, [-1, -2])))
[1, 2]
"""
import contextlib
import functools
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from . import signals
from .signals import Terminated

#: Seconds between checks of the parent where ``PR_SET_PDEATHSIG`` is not available.
WATCHDOG_SECONDS = 1.0


def _die_with_parent(parent_pid):
    """In a worker: get SIGTERM when the parent process ends."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) == 0:   # PR_SET_PDEATHSIG
            if os.getppid() != parent_pid:   # the parent died before the prctl
                os.kill(os.getpid(), signal.SIGTERM)
            return
    except (OSError, AttributeError):
        pass

    def watch():
        while True:
            time.sleep(WATCHDOG_SECONDS)
            if os.getppid() != parent_pid:
                os.kill(os.getpid(), signal.SIGTERM)
                return

    threading.Thread(target=watch, name="unetvocalsep-parent-watch", daemon=True).start()


def _init_worker(parent_pid, initializer, initargs):
    signals.install()
    _die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


def _run_task(fn, *args, **kwargs):
    """Run one task in a worker; a termination signal ends the worker after clean-up.

    Without this, :class:`~unetvocalsep.signals.Terminated` raised inside a
    task would be sent back as the task's exception, and the worker would
    wait for the next task of a parent that is gone.
    """
    try:
        return fn(*args, **kwargs)
    except Terminated as exc:   # the task's own finally blocks have run
        os._exit(exc.exit_status)


class _Pool(ProcessPoolExecutor):
    def submit(self, fn, /, *args, **kwargs):
        return super().submit(_run_task, fn, *args, **kwargs)


@contextlib.contextmanager
def process_pool(jobs, initializer=None, initargs=()):
    """A :class:`concurrent.futures.ProcessPoolExecutor` whose workers end with the run.

    Parameters
    ----------
    jobs : int
        Worker processes.
    initializer : callable or None
        Run once in each worker, after the signal set-up.
    initargs : tuple

    Yields
    ------
    concurrent.futures.ProcessPoolExecutor
    """
    pool = _Pool(max_workers=int(jobs), mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker,
                               initargs=(os.getpid(), initializer, tuple(initargs)))
    try:
        yield pool
    except BaseException:
        terminate(pool)
        raise
    pool.shutdown(wait=True)


def terminate(pool, timeout=5.0):
    """Cancel what is queued and end the running workers of ``pool`` (SIGTERM, then SIGKILL).

    Parameters
    ----------
    pool : concurrent.futures.ProcessPoolExecutor
    timeout : float
        Seconds each worker gets to clean up before it is killed.
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in processes:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1.0)


def each(fn, items, jobs, initializer=None, initargs=()):
    """Run ``fn(item)`` for every item; yield ``(item, get)`` as each one finishes.

    The one per-item loop of ``prepare``, ``evaluate`` and ``synth``: with
    ``jobs`` of 0 or less the items run one after the other in this process
    (``get`` runs it); otherwise in :func:`process_pool` workers, yielded in
    the order they finish. ``get()`` returns the result or raises the item's
    exception, so each caller keeps its own rule for a failed item. Leaving
    the loop early (an error, Ctrl-C, a signal) ends the workers.

    Parameters
    ----------
    fn : callable
        Picklable for ``jobs >= 1`` (a module-level function or a
        :func:`functools.partial` of one).
    items : sequence
    jobs : int
        Worker processes; ``<= 0``: none (in this process).
    initializer, initargs
        Run once in each worker (see :func:`process_pool`).

    Yields
    ------
    item, get : object, callable

    Examples
    --------
    >>> sorted(get() for _, get in each(abs, [-2, 1], jobs=0))
    [1, 2]
    """
    if jobs <= 0:
        for item in items:
            yield item, functools.partial(fn, item)
        return
    from concurrent.futures import as_completed

    with process_pool(jobs, initializer=initializer, initargs=initargs) as pool:
        futures = {pool.submit(fn, item): k for k, item in enumerate(items)}
        for fut in as_completed(futures):
            yield items[futures[fut]], fut.result
