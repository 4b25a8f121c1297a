"""The true length of an mp3, and decoding one whose header understates it.

libsndfile (through mpg123) takes an mp3's length from its first header: a
Xing/Info frame, or else the first frame's bit rate and the file size. Two
ordinary files defeat that and were cut short without a word (issue 28):

- mp3 files joined with ``cat`` (the first part's Info frame counts only the
  first part: 5 s of 65 s);
- variable bit rate files without a Xing header (62 s of 1,202 s).

:func:`header_is_short` counts the MPEG frames with ``ffprobe`` (a demux, no
decoding: 0.09 s for a 20-minute file, 0.05 s of it starting ffprobe) and
compares that with the length libsndfile reports; :func:`decode` then decodes
the whole stream with ffmpeg. Without ffprobe the check is skipped.

Examples
--------
>>> samples_per_frame(44100), samples_per_frame(16000)
(1152, 576)
"""
import functools
import os
import shutil
import subprocess

import numpy as np

from .errors import AudioError

__all__ = ["samples_per_frame", "count_frames", "header_is_short", "decode"]

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
        st = os.stat(path)
    except OSError:
        return None
    return _count_frames(path, (st.st_ino, st.st_size, st.st_mtime_ns), timeout)


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


def decode(path, channels, sr, timeout=None):
    """Decode a whole file with ffmpeg, to its real end.

    Parameters
    ----------
    path : str
    channels : int
    sr : int
        Output rate (the file's own, so nothing is resampled).
    timeout : float or None

    Returns
    -------
    numpy.ndarray, shape (channels, samples), float32

    Raises
    ------
    AudioError
        ffmpeg is missing or cannot decode the file.
    """
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise AudioError(f"{path}: its header understates its length and ffmpeg, needed to "
                         "decode it to the end, is not installed")
    try:
        out = subprocess.run([exe, "-v", "error", "-nostdin", "-i", path, "-map", "0:a:0",
                              "-f", "f32le", "-ac", str(channels), "-ar", str(sr), "pipe:1"],
                             capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise AudioError(f"cannot decode {path} with ffmpeg: {exc}") from None
    if out.returncode != 0:
        msg = out.stderr.decode(errors="replace").strip().splitlines()
        raise AudioError(f"cannot decode {path} with ffmpeg: {msg[-1] if msg else 'failed'}")
    y = np.frombuffer(out.stdout, dtype="<f4")
    return np.ascontiguousarray(y[:len(y) // channels * channels].reshape(-1, channels).T)
