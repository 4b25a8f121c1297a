"""A web job's state, its files and its record on disk (``job.json``).

The record lets a restarted server serve finished jobs again.

Examples
--------
>>> sorted(FILES)
['accompaniment', 'original', 'spectrogram', 'vocals']
"""
import os
import re
import time

from ..files import atomic_path
from .uploads import INPUT_FORMATS

#: Highest output rate; uploads above it are separated at this rate.
MAX_OUTPUT_SR = 48000
#: A job id: 32 lower-case hex digits (``secrets.token_hex(16)``).
ID_RE = re.compile(r"^[0-9a-f]{32}$")
#: Extension -> mimetype of the stored upload.
MIMETYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg",
             "png": "image/png"}
#: What ``GET /api/jobs/<id>/<stem>`` may serve: stem -> file name (``None``: the upload).
FILES = {"vocals": "vocals.wav", "accompaniment": "accompaniment.wav",
         "original": None, "spectrogram": "spectrogram.png"}
#: Job states.
STATES = ("queued", "running", "done", "failed")


class Job:
    """One separation job (state only; the work is in :class:`JobManager`).

    Parameters
    ----------
    id : str
    folder : str
    ext : str
        Extension of the stored upload (a value of :data:`INPUT_FORMATS`).
    name : str
        The user's file name, for display only.
    duration : float
        Seconds, from the file header.
    sr, channels : int
    """

    def __init__(self, id, folder, ext, name, duration, sr, channels):
        self.id, self.folder, self.ext, self.name = id, folder, ext, name
        self.duration, self.sr, self.channels = float(duration), int(sr), int(channels)
        #: Rate of the stems: the upload's, at most :data:`MAX_OUTPUT_SR`.
        self.out_sr = min(self.sr, MAX_OUTPUT_SR)
        self.status = "queued"
        self.seconds_done = 0.0
        self.error = None
        self.created = time.time()
        self.started = self.finished = None
        #: Refine the stems with the multichannel Wiener filter (the page's checkbox).
        self.wiener = False

    #: What ``job.json`` keeps, so a restarted server can serve the job.
    RECORD = ("id", "ext", "name", "duration", "sr", "channels", "status", "error", "created",
              "started", "finished", "wiener", "seconds_done")

    def save(self):
        """Write ``job.json`` (atomically) with :attr:`RECORD`."""
        import json

        with atomic_path(os.path.join(self.folder, "job.json"), overwrite=True) as tmp:
            with open(tmp, "w") as f:
                json.dump({k: getattr(self, k) for k in self.RECORD}, f)

    @classmethod
    def load(cls, folder):
        """The finished job recorded in ``folder/job.json``, or None if there is none.

        Parameters
        ----------
        folder : str

        Returns
        -------
        Job or None
            None for a missing, unreadable or unfinished record, or one whose
            files are gone.
        """
        import json

        try:
            with open(os.path.join(folder, "job.json")) as f:
                rec = json.load(f)
            if not isinstance(rec, dict) or rec.get("id") != os.path.basename(folder) \
                    or rec.get("status") not in ("done", "failed") \
                    or rec.get("ext") not in set(INPUT_FORMATS.values()):
                return None
            job = cls(rec["id"], folder, rec["ext"], str(rec["name"]), rec["duration"],
                      rec["sr"], rec["channels"])
            for k in ("status", "error", "created", "started", "finished", "seconds_done"):
                setattr(job, k, rec[k])
            job.wiener = bool(rec["wiener"])
            float(job.finished)
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            return None
        need = ["original"] + (["vocals", "accompaniment"] if job.status == "done" else [])
        if not all(os.path.isfile(job.path(s)) for s in need):
            return None
        return job

    @property
    def input_path(self):
        """Path of the stored upload."""
        return os.path.join(self.folder, f"input.{self.ext}")

    def path(self, stem):
        """Path of a served file.

        Parameters
        ----------
        stem : str
            A key of :data:`FILES` (checked by the caller).

        Returns
        -------
        str
        """
        name = FILES[stem]
        return self.input_path if name is None else os.path.join(self.folder, name)

    @property
    def progress(self):
        """Fraction of the audio separated, 0..1."""
        if self.status == "done":
            return 1.0
        if self.duration <= 0:
            return 0.0
        return float(min(1.0, max(0.0, self.seconds_done / self.duration)))
