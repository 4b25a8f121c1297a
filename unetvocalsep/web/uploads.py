"""What the web page accepts: an upload checked (format, length, channels, disk) before a job is made.

Examples
--------
>>> display_name('../../etc/passwd')
'passwd'
"""
import os
import re

from ..audio import AudioReader
from ..errors import AudioError, UserError
from ..inputs import MIN_INPUT_SECONDS

#: libsndfile format name -> file extension of the stored upload.
INPUT_FORMATS = {"WAV": "wav", "WAVEX": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}
#: Most channels an upload may have (more are refused: the page plays stereo).
MAX_CHANNELS = 2


class RequestError(UserError):
    """An upload refused; carries the HTTP status to answer with.

    Parameters
    ----------
    message : str
    status : int
    """

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def check_upload(path, max_seconds):
    """Check a stored upload: a wav/flac/ogg/mp3 that decodes, of an acceptable length.

    Only the header and the first second are decoded; the job decodes the rest.

    Parameters
    ----------
    path : str
    max_seconds : float

    Returns
    -------
    ext : str
        ``'wav'``, ``'flac'``, ``'ogg'`` or ``'mp3'``.
    info : tuple
        ``(duration, sr, channels)``.

    Raises
    ------
    RequestError
        400 with a message for the user.
    """
    import soundfile as sf

    if os.path.getsize(path) == 0:
        raise RequestError("the file is empty")
    try:
        fmt = sf.info(path).format
    except Exception:
        raise RequestError("not an audio file: upload a wav, flac, ogg or mp3 file") from None
    ext = INPUT_FORMATS.get(fmt)
    if ext is None:
        raise RequestError(f"unsupported audio format {fmt}: upload a wav, flac, ogg or mp3 file")
    if ext == "mp3":   # the real length, before an understating header sends it to ffmpeg
        from ..mpeg import count_frames, samples_per_frame

        packets, rate = count_frames(path), sf.info(path).samplerate
        if packets and packets * samples_per_frame(rate) / rate > max_seconds + 1:
            raise RequestError(f"the audio is too long ({packets * samples_per_frame(rate) / rate:.0f}"
                               f" s); this server accepts at most {max_seconds:g} s")
    try:
        with AudioReader(path) as reader:
            duration, sr, channels = reader.duration, reader.sr, reader.channels
            first = reader.read(max(1, min(reader.frames, sr)))
    except AudioError as exc:
        detail = str(exc).split(f"{path}: ", 1)[-1].replace(path, "the file")
        raise RequestError(f"the {fmt} audio cannot be decoded: {detail}") from None
    except Exception as exc:
        raise RequestError(f"the {fmt} audio cannot be decoded ({type(exc).__name__})") from None
    if first.shape[1] == 0:
        raise RequestError("the audio cannot be decoded (no samples)")
    if channels > MAX_CHANNELS:
        raise RequestError(f"the audio has {channels} channels; this server accepts mono or "
                           "stereo (mix it down first)")
    if duration < MIN_INPUT_SECONDS:
        raise RequestError(f"the audio is too short ({duration:.3f} s)")
    if duration > max_seconds:
        raise RequestError(f"the audio is too long ({duration:.0f} s); this server accepts "
                           f"at most {max_seconds:g} s")
    return ext, (duration, sr, channels)


def job_disk_bytes(duration, sr, channels):
    """Disk a job's results can take at most: two 32-bit float stems and the picture.

    Parameters
    ----------
    duration : float
        Seconds.
    sr, channels : int
        Of the stems.

    Returns
    -------
    int
        Bytes.
    """
    return int(2 * duration * sr * channels * 4 + 4 * 2 ** 20)


def display_name(filename):
    """A safe, short display name for a user's file name (never used as a path).

    Parameters
    ----------
    filename : str or None

    Returns
    -------
    str
        Letters, digits, ``-``, ``_``, ``.`` and spaces; at most 80 characters;
        ``'song'`` when nothing is left.
    """
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" ._")[:80]
    return base or "song"
