"""The web demo's job queue: uploads checked, queued, separated in worker threads, expired.

Nothing here imports Flask, so the queue can be used (and tested) on its own.

Layout on disk, one folder per job under ``jobs_dir``::

    <jobs_dir>/<id>/input.<wav|flac|ogg|mp3>   the upload, as sent
    <jobs_dir>/<id>/vocals.wav                  16-bit, the input's rate and channels
    <jobs_dir>/<id>/accompaniment.wav
    <jobs_dir>/<id>/spectrogram.png             mixture spectrogram and vocal mask
    <jobs_dir>/<id>/job.json                    the finished job's record

``<id>`` is ``secrets.token_hex(16)``; the name the user gave the file is
kept for display and download names, in memory and in ``job.json``, and
never becomes part of a path. A server started again on the same
``jobs_dir`` serves the finished jobs it finds there (until they expire) and
removes the folders of jobs that had not finished (:meth:`JobManager.recover`). Every id from a URL is checked against :data:`ID_RE` and every
stem against :data:`FILES` before any path is built.

Workers share one :class:`~unetvocalsep.separator.Separator`; a job is one call
of :meth:`Separator.separate_file` with a per-window observer that records
the picture's magnitudes and masks. The network serialises its own calls
(see :func:`unetvocalsep.backends.load_network`), so several workers overlap
the STFTs, resampling and file work but never run the network at once.
"""
import collections
import copy
import errno
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time


from .. import constants
from ..errors import UserError, describe_error, describe_os_error
from .picture import MaskRecorder, render_spectrogram
from .uploads import RequestError, check_upload, display_name, job_disk_bytes
from .records import ID_RE, Job

log = logging.getLogger("unetvocalsep.web")

#: Disk one job may use by default (upload + two 32-bit float stems + picture), MB.
MAX_JOB_MB = 1024
#: Defaults shared by :class:`JobManager`, :func:`~unetvocalsep.web.create_app` and the CLI.
MAX_UPLOAD_MB = 50.0
MAX_SECONDS = 600.0
WORKERS = 1
KEEP_MINUTES = 60.0
MAX_QUEUE = 20
#: Most connections the server holds at once (``--max-connections``).
MAX_CONNECTIONS = 100
#: Seconds a connection may stay silent before it is closed (``--timeout``).
IDLE_TIMEOUT = 30.0
#: Free disk kept in reserve beyond a job's own need, bytes.
DISK_RESERVE_BYTES = 64 * 2 ** 20


class _Progress:
    """The ``progress`` object :meth:`Separator.stream` updates (like a tqdm bar)."""

    def __init__(self, job):
        self.job = job

    def update(self, seconds):
        self.job.seconds_done += float(seconds)


# -- the spectrogram picture ---------------------------------------------------------------
def separate_job(separator, job):
    """Do one job: stems next to the input, then the picture.

    Parameters
    ----------
    separator : Separator
        Shared by the workers.
    job : Job
        ``job.seconds_done`` is updated as the work goes on.
    """
    if job.wiener != separator.wiener:   # the same network, the job's own setting
        separator = copy.copy(separator)
        separator.wiener = job.wiener
    rec = MaskRecorder(separator, job.out_sr, job.duration)
    # 16-bit, or 32-bit float for a stem that 16 bits would clip
    separator.separate_file(job.input_path, fmt="wav", bits=None, overwrite=True,
                            out_sr=job.out_sr if job.out_sr != job.sr else None,
                            progress=_Progress(job), on_window=rec.add,
                            outputs={name: job.path(name) for name in constants.STEMS})
    try:
        import matplotlib  # noqa: F401  (the picture is optional)
    except ImportError:
        log.warning("matplotlib is not installed: no spectrogram picture")
        return
    mag, mask = rec.assemble()
    render_spectrogram(job.path("spectrogram"), mag, mask, job.duration)


class JobManager:
    """Accept uploads, run them in worker threads, delete them when old.

    Parameters
    ----------
    separator : Separator
        Shared by all workers.
    jobs_dir : str or None
        Where job folders go; a new temporary folder (removed by
        :meth:`close`) when ``None``.
    max_seconds : float
        Longest audio accepted.
    workers : int
        Worker threads.
    keep_minutes : float
        Finished jobs (and their files) are deleted this long after they end.
    max_queue : int
        Most jobs waiting at once; more are refused with 503.
    janitor_seconds : float or None
        How often the janitor looks for old jobs; ``min(60, keep / 4)`` when ``None``.
    process : callable or None
        ``process(separator, job)``; :func:`separate_job` by default.
    max_job_mb : float
        Most disk one job may use (its upload and its results, estimated
        from the header before any work); larger jobs get 413.
    """

    def __init__(self, separator, jobs_dir=None, max_seconds=MAX_SECONDS, workers=WORKERS,
                 keep_minutes=KEEP_MINUTES, max_queue=MAX_QUEUE, janitor_seconds=None, process=None,
                 max_job_mb=MAX_JOB_MB):
        if workers < 1:
            raise UserError("--workers must be at least 1")
        if not max_seconds > 0 or not keep_minutes > 0 or max_queue < 1:
            raise UserError("--max-seconds, --keep-minutes and --max-queue must be positive")
        self.separator = separator
        self._own_dir = jobs_dir is None
        if jobs_dir is None:
            jobs_dir = tempfile.mkdtemp(prefix="unetvocalsep-web-")
        else:
            try:
                os.makedirs(jobs_dir, exist_ok=True)
            except OSError as exc:
                raise UserError(f"cannot create the jobs folder: {describe_os_error(exc)}") from None
        self.jobs_dir = os.path.abspath(jobs_dir)
        self.max_seconds = float(max_seconds)
        self.keep_seconds = float(keep_minutes) * 60.0
        self.max_queue = int(max_queue)
        if not max_job_mb > 0:
            raise UserError("--max-job-mb must be positive")
        self.max_job_bytes = float(max_job_mb) * 2 ** 20
        self._reserved = 0   # uploads being stored and checked; they count against max_queue
        self.process = process or separate_job
        self.jobs = {}
        self.queue = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._work, name=f"unetvocalsep-worker-{i}", daemon=True)
                        for i in range(int(workers))]
        interval = janitor_seconds if janitor_seconds is not None else min(60.0, self.keep_seconds / 4)
        self.threads.append(threading.Thread(target=self._janitor, args=(max(0.01, interval),),
                                             name="unetvocalsep-janitor", daemon=True))
        self.recovered, self.removed = self.recover() if not self._own_dir else (0, 0)
        for t in self.threads:
            t.start()

    def recover(self):
        """Take up the finished jobs of an earlier server on this ``jobs_dir``.

        Finished jobs (their ``job.json`` and files intact) are served again and
        expire ``keep_minutes`` after they ended, as if the server had not
        stopped. The folders of jobs that were queued or running when it
        stopped, and of broken records, are removed: they would never be
        served or cleaned up. Only folders named like a job id are touched.

        Returns
        -------
        recovered, removed : int
        """
        recovered = removed = 0
        try:
            names = os.listdir(self.jobs_dir)
        except OSError as exc:
            raise UserError(f"cannot read the jobs folder: {describe_os_error(exc)}") from None
        for name in sorted(names):
            folder = os.path.join(self.jobs_dir, name)
            if not ID_RE.match(name) or os.path.islink(folder) or not os.path.isdir(folder):
                continue
            job = Job.load(folder)
            if job is None:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
            else:
                self.jobs[job.id] = job
                recovered += 1
        if recovered or removed:
            log.info("jobs folder %s: %d finished jobs served again, %d unfinished removed",
                     self.jobs_dir, recovered, removed)
        return recovered, removed

    # -- uploads ------------------------------------------------------------------------
    def submit(self, stream, filename="", wiener=False):
        """Store an upload, check it, and queue a job.

        Parameters
        ----------
        stream : file-like
            The uploaded bytes (``FileStorage.stream`` or any binary file).
        filename : str
            The user's name for it; for display only.
        wiener : bool
            Refine this job's stems with the multichannel Wiener filter.

        Returns
        -------
        Job

        Raises
        ------
        RequestError
            400 for anything that is not wav/flac/ogg/mp3 audio that decodes,
            is long enough and not longer than ``max_seconds``; 503 when the
            queue is full.
        """
        with self._cond:   # the check and the reservation are one step
            waiting = len(self.queue) + self._reserved
            if waiting >= self.max_queue:
                raise RequestError(f"the server is busy ({waiting} songs waiting); "
                                   "try again in a few minutes", 503)
            self._reserved += 1
        try:
            job = self._store(stream, filename)
            job.wiener = bool(wiener)
            with self._cond:
                self.jobs[job.id] = job
                self.queue.append(job.id)
                self._cond.notify()
        finally:
            with self._cond:
                self._reserved -= 1
        log.info("job %s queued: %s, %.1f s", job.id, job.name, job.duration)
        return job

    def _store(self, stream, filename):
        """Write the upload to a new job folder and check it; the :class:`Job`."""
        job_id = secrets.token_hex(16)
        folder = os.path.join(self.jobs_dir, job_id)
        try:
            os.mkdir(folder, 0o700)
            upload = os.path.join(folder, "upload.part")
            with open(upload, "wb") as f:
                shutil.copyfileobj(stream, f, 1 << 20)
            ext, info = check_upload(upload, self.max_seconds)
            job = Job(job_id, folder, ext, display_name(filename), *info)
            self._check_disk(job, os.path.getsize(upload))
            os.replace(upload, job.input_path)
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if exc.errno == errno.ENOSPC:
                raise RequestError("the server has no space left on device; try again later",
                                   507) from None
            raise
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return job

    def _check_disk(self, job, upload_bytes):
        """Refuse a job whose results would not fit its share of the disk (413) or the disk (507)."""
        need = job_disk_bytes(job.duration, job.out_sr, job.channels) + upload_bytes
        if need > self.max_job_bytes:
            raise RequestError(f"the results would take {need / 2 ** 20:.0f} MB; this server "
                               f"allows {self.max_job_bytes / 2 ** 20:.0f} MB per song", 413)
        free = shutil.disk_usage(self.jobs_dir).free
        if need + DISK_RESERVE_BYTES > free:
            raise RequestError("the server has no space left on device for this song; "
                               "try again later", 507)

    def get(self, job_id):
        """The job with this id, or ``None`` (also for a malformed id).

        Parameters
        ----------
        job_id : str

        Returns
        -------
        Job or None
        """
        if not isinstance(job_id, str) or not ID_RE.match(job_id):
            return None
        with self._cond:
            return self.jobs.get(job_id)

    def queue_position(self, job):
        """1 for the next job to start, 2 behind it...; 0 when not waiting.

        Parameters
        ----------
        job : Job

        Returns
        -------
        int
        """
        with self._cond:
            try:
                return self.queue.index(job.id) + 1
            except ValueError:
                return 0

    def status(self, job):
        """The job's state as a JSON-ready dict (URLs are added by the web layer).

        Parameters
        ----------
        job : Job

        Returns
        -------
        dict
        """
        return {"id": job.id, "name": job.name, "status": job.status,
                "queue_position": self.queue_position(job), "progress": round(job.progress, 4),
                "seconds_done": round(min(job.seconds_done, job.duration), 3),
                "duration": round(job.duration, 3), "sample_rate": job.sr,
                "output_sample_rate": job.out_sr, "channels": job.channels,
                "wiener": job.wiener, "error": job.error}

    # -- workers ------------------------------------------------------------------------
    def _work(self):
        while True:
            with self._cond:
                while not self.queue and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                job = self.jobs[self.queue.popleft()]
                job.status, job.started = "running", time.time()
            self.run_job(job)

    def run_job(self, job):
        """Run one job in the calling thread; any error marks it failed.

        Parameters
        ----------
        job : Job
        """
        try:
            self.process(self.separator, job)
        except (UserError, OSError, MemoryError) as exc:
            job.error = describe_error(exc)
        except Exception as exc:  # a bug or a broken model: say so, keep serving
            log.exception("job %s failed", job.id)
            job.error = describe_error(exc)
        if job.error:  # the user never sees the server's paths
            job.error = job.error.replace(job.input_path, "the uploaded file").replace(self.jobs_dir, "")
        with self._cond:
            job.finished = time.time()
            job.status = "failed" if job.error else "done"
        try:
            job.save()   # a restarted server serves it again
        except OSError as exc:
            log.warning("job %s: cannot save its record: %s", job.id, describe_os_error(exc))
        if job.error:
            log.warning("job %s failed: %s", job.id, job.error)
        else:
            log.info("job %s done in %.1f s", job.id, job.finished - job.started)

    # -- clean-up -----------------------------------------------------------------------
    def cleanup(self, now=None):
        """Delete the finished jobs older than ``keep_minutes`` and their files.

        Parameters
        ----------
        now : float or None
            ``time.time()`` when ``None``.

        Returns
        -------
        list of str
            The ids deleted.
        """
        now = time.time() if now is None else now
        with self._cond:
            old = [j for j in self.jobs.values()
                   if j.finished is not None and now - j.finished >= self.keep_seconds]
            for j in old:
                del self.jobs[j.id]
        for j in old:
            shutil.rmtree(j.folder, ignore_errors=True)
            log.info("job %s deleted", j.id)
        return [j.id for j in old]

    def _janitor(self, interval):
        while not self._stop.wait(interval):
            try:
                self.cleanup()
            except Exception:  # never let the janitor die
                log.exception("janitor")

    def close(self, timeout=5.0):
        """Stop the threads (a running job may finish first) and remove a temporary jobs folder.

        Parameters
        ----------
        timeout : float
            Seconds to wait for each thread.
        """
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        for t in self.threads:
            if t is not threading.current_thread():
                t.join(timeout)
        if self._own_dir:
            shutil.rmtree(self.jobs_dir, ignore_errors=True)


