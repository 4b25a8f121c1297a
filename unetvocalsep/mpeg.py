"""The true length of an mp3, and decoding one whose header understates it.

libsndfile (through mpg123) takes an mp3's length from its first header: a
Xing/Info frame, or else the first frame's bit rate and the file size. Two
ordinary files defeat that and were cut short without a word (issue 28):

- mp3 files joined with ``cat`` (the first part's Info frame counts only the
  first part: 5 s of 65 s);
- variable bit rate files without a Xing header (62 s of 1,202 s).

:func:`header_is_short` counts the MPEG frames with ``ffprobe`` (a demux, no
decoding: 0.09 s for a 20-minute file, 0.05 s of it starting ffprobe) and
compares that with the length libsndfile reports. Such a file is then read
through ffmpeg block by block (:class:`Decoder`), never whole into memory: its
true length comes from one counting pass, kept per file version
(:func:`decoded_length`: 2.8 s for a 20-minute file here), and each reading
pass streams ffmpeg's output. Separating a 20-minute file peaks at 643 MiB
instead of 1,769 (benchmarks/RESULTS.md). Without ffprobe the check is skipped.

Formats libsndfile does not read at all (m4a/AAC, wma, video files...) go the
same way: :func:`probe_audio` asks ffprobe for the first audio stream's rate
and channels, and the file is streamed by :class:`Decoder` instead of being
decoded whole into memory by librosa.

Examples
--------
>>> samples_per_frame(44100), samples_per_frame(16000)
(1152, 576)
"""
import functools
import os
import shutil
import subprocess
import tempfile

import numpy as np

from .errors import AudioError

__all__ = ["samples_per_frame", "count_frames", "header_is_short", "probe_audio", "decoded_length",
           "Decoder"]

#: Slack between the frame count and libsndfile's length, in MPEG frames: the
#: encoder delay and padding that gapless decoders trim, and an Info frame.
SLACK_FRAMES = 4


def samples_per_frame(sr):
    """Samples per channel in one MPEG layer III frame at rate ``sr``.

    Parameters
    ----------
    sr : int

    Returns
    -------
    int
        1152 for MPEG-1 (32, 44.1, 48 kHz), 576 for MPEG-2 and 2.5.
    """
    return 1152 if sr >= 32000 else 576


def count_frames(path, timeout=60):
    """Number of MPEG frames (packets) in the first audio stream, by ffprobe.

    A file is opened several times per separation (its length for the bar
    and the checks, then each pass), so the count is kept per file version
    (path, inode, size, modification time) and ffprobe runs once.

    Parameters
    ----------
    path : str
    timeout : float
        Seconds to wait for ffprobe.

    Returns
    -------
    int or None
        None where ffprobe is missing or fails.
    """
    try:
        version = _version(path)
    except OSError:
        return None
    return _count_frames(path, version, timeout)


def _version(path):
    """What identifies one version of a file for the caches here: (inode, size, mtime in ns)."""
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=256)
def _count_frames(path, version, timeout):
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-v", "error", "-select_streams", "a:0", "-count_packets",
                              "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0",
                              "--", path], capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        return int(out.stdout.strip().split(",")[0]) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def probe_audio(path, timeout=60):
    """Sample rate and channels of a file's first audio stream, by ffprobe.

    Parameters
    ----------
    path : str
    timeout : float
        Seconds to wait for ffprobe.

    Returns
    -------
    tuple of int (sr, channels), or None
        None where ffprobe or ffmpeg is missing, or the file has no audio
        stream ffprobe can read (a text file, a corrupt one). Kept per file
        version, as :func:`count_frames`: a file is opened several times per
        separation.

    Examples
    --------
    >>> probe_audio("song.m4a")                          # doctest: +SKIP
    (44100, 2)
    """
    exe = shutil.which("ffprobe")
    if exe is None or shutil.which("ffmpeg") is None:
        return None
    try:
        version = _version(path)
    except OSError:
        return None
    return _probe_audio(exe, path, version, timeout)


@functools.lru_cache(maxsize=256)
def _probe_audio(exe, path, version, timeout):
    try:
        out = subprocess.run([exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
                              "stream=sample_rate,channels", "-of", "csv=p=0", "--", path],
                             capture_output=True, text=True, timeout=timeout,
                             stdin=subprocess.DEVNULL)
        if out.returncode != 0 or not out.stdout.strip():
            return None
        sr, channels = (int(v) for v in out.stdout.strip().splitlines()[0].split(",")[:2])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return (sr, channels) if sr > 0 and channels > 0 else None


def header_is_short(path, frames, sr):
    """Whether an mp3's stream holds clearly more audio than ``frames``.

    Parameters
    ----------
    path : str
    frames : int
        The length libsndfile reports, samples per channel.
    sr : int

    Returns
    -------
    bool
    """
    packets = count_frames(path)
    if packets is None:
        return False
    return (packets - SLACK_FRAMES) * samples_per_frame(sr) > frames


class Decoder:
    """A file decoded by ffmpeg to its real end, read block by block.

    Memory stays at one block whatever the file's length (a whole decode of a
    2-hour mix at 44.1 kHz stereo would take 2.5 GB).

    Parameters
    ----------
    path : str
    channels : int
    sr : int
        Output rate (the file's own, so nothing is resampled).

    Raises
    ------
    AudioError
        ffmpeg is missing, or cannot decode the file (on the read that meets
        the error).

    Examples
    --------
    >>> with Decoder("song.mp3", 2, 44100) as d:          # doctest: +SKIP
    ...     block = d.read(44100)                        # (2, 44100) float32
    """

    def __init__(self, path, channels, sr):
        self.path, self.channels, self.sr = path, int(channels), int(sr)
        self._proc = self._err = None
        self._done = False   # ffmpeg starts at the first read: an open for the length costs nothing
        self._ffmpeg()       # but a missing ffmpeg is said at open

    def _ffmpeg(self):
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise AudioError(f"{self.path}: ffmpeg, needed to decode it (to its end), is not "
                             "installed")
        return exe

    def _start(self):
        exe = self._ffmpeg()
        self._err = tempfile.TemporaryFile()   # a pipe could fill and stall ffmpeg
        try:
            self._proc = subprocess.Popen(
                [exe, "-v", "error", "-nostdin", "-i", self.path, "-map", "0:a:0", "-f", "f32le",
                 "-ac", str(self.channels), "-ar", str(self.sr), "pipe:1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._err,
                # its own session: a Ctrl-C meant for us must not kill it first and
                # turn "interrupted" into "cannot decode" (close() stops it; should we
                # die, its next write fails and it exits)
                start_new_session=True)
        except OSError as exc:
            self.close()
            raise AudioError(f"cannot decode {self.path} with ffmpeg: {exc}") from None

    def read(self, n):
        """The next ``n`` samples per channel.

        Parameters
        ----------
        n : int

        Returns
        -------
        numpy.ndarray, shape (channels, m), float32
            ``m <= n``; ``m == 0`` at the end of the stream.
        """
        if self._proc is None:
            if self._done:
                return np.zeros((self.channels, 0), np.float32)
            self._start()
        want = int(n) * self.channels * 4
        parts, got = [], 0
        while got < want:
            b = self._proc.stdout.read(want - got)
            if not b:
                self._finish()
                break
            parts.append(b)
            got += len(b)
        y = np.frombuffer(b"".join(parts), dtype="<f4")
        y = y[:len(y) // self.channels * self.channels]
        return np.ascontiguousarray(y.reshape(-1, self.channels).T)

    def skip(self, n):
        """Read and drop ``n`` samples per channel (ffmpeg's own seek is not sample-exact here)."""
        left = int(n)
        while left > 0:
            got = self.read(min(left, 1 << 18)).shape[1]
            if not got:
                break
            left -= got

    def restart(self):
        """Go back to the start of the file (ffmpeg starts again at the next read)."""
        self.close()
        self._done = False

    def _finish(self):
        rc = self._proc.wait()
        self._proc.stdout.close()
        self._proc, self._done = None, True
        if rc != 0:
            self._err.seek(0)
            msg = self._err.read().decode(errors="replace").strip().splitlines()
            self.close()
            raise AudioError(f"cannot decode {self.path} with ffmpeg: {msg[-1] if msg else 'failed'}")

    def close(self):
        """Stop ffmpeg (if still running) and free its files; later reads return nothing."""
        self._done = True
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc.stdout.close()
            self._proc = None
        if self._err is not None:
            self._err.close()
            self._err = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:   # at interpreter exit
            pass


def decoded_length(path, channels, sr):
    """Samples per channel that ffmpeg decodes from a file, by one counting pass.

    Kept per file version (path, inode, size, modification time), as
    :func:`count_frames`: a file is opened several times per separation.

    Parameters
    ----------
    path : str
    channels : int
    sr : int

    Returns
    -------
    int

    Raises
    ------
    AudioError
        ffmpeg is missing or cannot decode the file.
    """
    return _decoded_length(path, _version(path), int(channels), int(sr))


@functools.lru_cache(maxsize=64)
def _decoded_length(path, version, channels, sr):
    total = 0
    with Decoder(path, channels, sr) as d:
        while True:
            got = d.read(1 << 18).shape[1]
            if not got:
                return total
            total += got

