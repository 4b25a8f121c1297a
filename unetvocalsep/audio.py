"""Decoding and encoding audio files (resampling is :mod:`unetvocalsep.resampling`).

Arrays are always ``float32`` of shape ``(channels, samples)`` inside the
package. Files are read with soundfile (wav, flac, ogg, mp3 and the other
formats of libsndfile); anything else (m4a, mp4, ...) is streamed through
ffmpeg (:mod:`unetvocalsep.mpeg`), or without ffprobe decoded whole by
audioread.

Outputs are written atomically: to a hidden temporary file in the target
folder, renamed over the final name only when complete. The one module over
500 lines outside the measured kernels: reading and writing share the format
tables and checks, and split apart they would import each other.
"""
import os

import numpy as np

from .errors import AudioError, UserError
from .files import AtomicFile
# Sample rates accepted (Hz): below 8 kHz no voice is left to find, above
# 768 kHz the header is almost certainly wrong; defined with the other bounds.
from .resampling import resample, to_mono
from .limits import check_rate, check_samples
#: Output formats and their soundfile format names.
FORMATS = {"wav": "WAV", "flac": "FLAC", "ogg": "OGG", "mp3": "MP3"}
#: Sample encodings (``--bits``) per output format. ogg and mp3 are lossy
#: and have no bit depth: ``--bits`` is refused for them.
SUBTYPES = {
    "wav": {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"},
    "flac": {16: "PCM_16", 24: "PCM_24"},
    "ogg": {None: "VORBIS"},
    "mp3": {None: "MPEG_LAYER_III"},
}
#: What each output format can hold: (most channels, highest sample rate).
FORMAT_LIMITS = {"wav": (1024, 768000), "flac": (8, 655350), "ogg": (255, 192000),
                 "mp3": (2, 48000)}
#: Sample rates MP3 can store.
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def _check_path(path):
    import stat

    path = os.fspath(path)
    if path == "-":
        raise UserError("reading audio from standard input is not supported; save it to a file first")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"no such file: {path}") from None
    except PermissionError:
        raise UserError(f"permission denied: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot open {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"is a folder, not an audio file: {path}")
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"not a regular file (pipes and devices are not supported as input; "
                        f"save the audio to a file first): {path}")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise UserError(f"permission denied: {path}") from None
    except OSError as exc:
        raise UserError(f"cannot open {path}: {exc.strerror}") from None
    if st.st_size == 0:
        raise AudioError(f"empty file: {path}")
    return path


def sf_path(path):
    """``path`` as soundfile can open it: bytes when the name is not valid UTF-8.

    Python holds such a name (``caf\\xe9.wav`` from a Latin-1 file system) with
    surrogate escapes, which soundfile cannot encode; the bytes name works.

    Parameters
    ----------
    path : str

    Returns
    -------
    str or bytes
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return path


def _check_finite(y, path):
    check_samples(y, path)


class AudioReader:
    """Sequential reader of an audio file, block by block.

    Parameters
    ----------
    path : str or os.PathLike
        Any file libsndfile decodes; other formats (m4a/AAC, wma, the audio of
        a video...) and an mp3 whose header understates its length (joined
        files, VBR without a Xing header) are read through ffmpeg block by
        block (:mod:`unetvocalsep.mpeg`). Without ffmpeg, other formats are
        decoded whole into memory by audioread.

    Attributes
    ----------
    sr : int
        Sample rate of the file.
    channels : int
    frames : int
        Length in samples per channel.
    """

    def __init__(self, path):
        import soundfile as sf

        self.path = _check_path(path)
        self._sf = None
        self._data = None
        self._ff = None   # an mpeg.Decoder, for an mp3 whose header is short
        self._pos = 0
        try:
            self._sf = sf.SoundFile(sf_path(self.path))
            self.sr = self._sf.samplerate
            self.channels = self._sf.channels
            self.frames = self._sf.frames
        except Exception:  # not decodable by libsndfile: stream it through ffmpeg
            self._sf = None
            if not self._open_with_ffmpeg():   # no ffmpeg/ffprobe: audioread, whole
                y, self.sr = _load_fallback(self.path)
                self._data = y
                self.channels, self.frames = y.shape
        if self.frames <= 0 or self.sr <= 0:
            self.close()
            raise AudioError(f"no audio samples in: {self.path}")
        try:
            check_rate(self.sr, self.path)
        except AudioError:
            self.close()
            raise
        if self._sf is not None and self._sf.format == "MP3":
            self._check_mp3_length()

    def _open_with_ffmpeg(self):
        """Stream a format libsndfile cannot read (m4a...) through ffmpeg; False if it cannot."""
        from . import mpeg

        probed = mpeg.probe_audio(self.path)
        if probed is None:
            return False
        self.sr, self.channels = probed
        self._stream_with_ffmpeg()
        return True

    def _stream_with_ffmpeg(self):
        """Count the samples ffmpeg decodes (``frames``) and read through a :class:`.mpeg.Decoder`."""
        from . import mpeg

        try:
            self.frames = mpeg.decoded_length(self.path, self.channels, self.sr)
            self._ff = mpeg.Decoder(self.path, self.channels, self.sr)
        except OSError as exc:
            raise AudioError(f"cannot read {self.path}: {exc.strerror or exc}") from None

    def _check_mp3_length(self):
        """Read through ffmpeg an mp3 whose header understates its length (:mod:`.mpeg`)."""
        from . import mpeg

        if not mpeg.header_is_short(self.path, self.frames, self.sr):
            return
        self.close()
        self._stream_with_ffmpeg()

    @property
    def duration(self):
        """Length in seconds (float)."""
        return self.frames / float(self.sr)

    def read(self, n):
        """Read the next ``n`` samples per channel.

        Parameters
        ----------
        n : int

        Returns
        -------
        numpy.ndarray, shape (channels, m), float32
            ``m <= n``; ``m == 0`` at the end of the file.

        Raises
        ------
        AudioError
            If the samples are not finite or the stream is corrupt.
        """
        if self._data is not None:
            y = self._data[:, self._pos:self._pos + n]
            self._pos += y.shape[1]
        elif self._ff is not None:   # never past the counted length, should the file grow
            y = self._ff.read(max(min(n, self.frames - self._pos), 0))
            self._pos += y.shape[1]
        else:
            try:
                y = self._sf.read(n, dtype="float32", always_2d=True).T
            except Exception as exc:
                raise AudioError(f"cannot decode {self.path}: {exc}") from None
        _check_finite(y, self.path)
        return np.ascontiguousarray(y, dtype=np.float32)

    def seek(self, frame):
        """Go to sample ``frame`` (per channel) of the file, for an excerpt.

        Parameters
        ----------
        frame : int
            ``0 <= frame <= frames``.
        """
        frame = int(min(max(frame, 0), self.frames))
        if self._data is not None:
            self._pos = frame
            return
        if self._ff is not None:
            if frame < self._pos:
                self._ff.restart()
                self._pos = 0
            self._ff.skip(frame - self._pos)
            self._pos = frame
            return
        try:
            self._sf.seek(frame)
        except Exception:   # a stream libsndfile cannot seek: read up to it
            self._sf.seek(0)
            left = frame
            while left > 0:
                got = self._sf.read(min(left, 1 << 18), dtype="float32", always_2d=True)
                if not len(got):
                    break
                left -= len(got)

    def close(self):
        """Close the underlying file."""
        if self._sf is not None:
            self._sf.close()
            self._sf = None
        if self._ff is not None:
            self._ff.close()
            self._ff = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _load_fallback(path):
    """Decode a whole file with audioread (its ffmpeg, GStreamer or Core Audio
    backend): the path for formats libsndfile lacks when ffprobe is absent.

    audioread is called directly: librosa 1.0 no longer falls back to it.
    """
    try:
        import audioread

        chunks = []
        with audioread.audio_open(path) as f:
            sr, channels = int(f.samplerate), int(f.channels)
            for buf in f:
                chunks.append(np.frombuffer(buf, dtype="<i2"))
    except Exception:
        raise AudioError(f"not an audio file (or a format that cannot be decoded): {path}") from None
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype="<i2")
    c = max(channels, 1)
    # int16 at full scale 1.0, as inputs.to_float32 does (importing it here
    # would put audio a floor higher in the import graph, past test_layout's bound)
    return (pcm[: len(pcm) // c * c].reshape(-1, c).T / 32768.0).astype(np.float32), sr


def load_audio(path, sr=None, mono=False):
    """Load a whole audio file.

    Parameters
    ----------
    path : str or os.PathLike
    sr : int or None
        Resample to this rate; ``None`` keeps the file's rate.
    mono : bool
        Average the channels into one.

    Returns
    -------
    y : numpy.ndarray, shape (channels, samples), float32
        ``channels == 1`` when ``mono``.
    sr : int
    """
    with AudioReader(path) as reader:
        blocks = [reader.read(reader.frames)]
        while blocks[-1].shape[1]:  # the header's length can be short (mp3)
            blocks.append(reader.read(reader.sr * 60))
        y = np.concatenate(blocks, axis=1) if len(blocks) > 2 else blocks[0]
        file_sr = reader.sr
    if y.shape[1] == 0:
        raise AudioError(f"no audio samples in: {path}")
    if mono:
        y = to_mono(y)
    if sr is not None and sr != file_sr:
        y = resample(y, file_sr, sr)
        file_sr = sr
    return y, file_sr


#: The constant bit rates ``--mp3-bitrate`` takes, kb/s (MPEG-1 layer III).
MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)

#: mp3 bit rate by default, kb/s (as Demucs; libsndfile's own VBR default
#: gave about 133 kb/s).
DEFAULT_MP3_BITRATE = 320


def check_mp3_bitrate(kbps):
    """``kbps`` if it is one of :data:`MP3_BITRATES` (None: the default), else :class:`UserError`."""
    if kbps is None:
        return DEFAULT_MP3_BITRATE
    if isinstance(kbps, bool) or kbps not in MP3_BITRATES:
        raise UserError(f"the mp3 bit rate must be one of {', '.join(map(str, MP3_BITRATES))} "
                        f"kb/s, got {kbps!r}")
    return int(kbps)


def mp3_compression_level(kbps):
    """libsndfile's compression level for a constant mp3 bit rate.

    libsndfile (1.1+) maps a level ``c`` in [0, 1) to about ``32 + (1 - c) * 288``
    kb/s in constant mode; LAME then takes the nearest standard rate.

    Examples
    --------
    >>> mp3_compression_level(320), round(mp3_compression_level(128), 3)
    (0.0, 0.667)
    """
    return min(1.0 - (kbps - 32) / 288.0, 0.999)


def check_format(fmt, bits=None):
    """Validate an output format / bit depth and return the soundfile names.

    Parameters
    ----------
    fmt : {'wav', 'flac', 'ogg', 'mp3'}
    bits : {None, 16, 24, 32}
        ``None``: 16 for wav and flac (a wav stem that would clip is written
        as 32-bit float, see :class:`AudioWriter`), nothing for ogg and mp3.

    Returns
    -------
    (str, str)
        soundfile ``format`` and ``subtype``.

    Raises
    ------
    UserError
        Unknown format, a depth the format cannot store, or any ``bits`` for
        the lossy ogg and mp3.
    """
    if fmt not in FORMATS:
        raise UserError(f"unknown output format {fmt!r}; choose one of {', '.join(FORMATS)}")
    table = SUBTYPES[fmt]
    if bits is None:
        bits = 16 if 16 in table else None
    if bits not in table:
        if None in table:
            raise UserError(f"{fmt} is a lossy format with no bit depth; --bits is for wav and flac")
        raise UserError(f"{fmt} cannot store {bits}-bit samples (choose {' or '.join(map(str, table))})")
    return FORMATS[fmt], table[bits]


def check_output_format(fmt, sr, channels, what="input"):
    """Refuse a rate or channel count the output format cannot store.

    Parameters
    ----------
    fmt : str
    sr, channels : int
    what : str
        Named in the message.

    Raises
    ------
    UserError
    """
    max_ch, max_sr = FORMAT_LIMITS[fmt]
    if channels > max_ch:
        raise UserError(f"{fmt} cannot store {channels} channels (at most {max_ch}; use --mono "
                        f"or another --format): {what}")
    if sr > max_sr or (fmt == "mp3" and sr not in MP3_RATES):
        hint = "44100 or 48000" if fmt == "mp3" else f"at most {max_sr}"
        raise UserError(f"{fmt} cannot store {sr} Hz (use --sr {hint}, or another --format): {what}")


#: The most data bytes a plain WAV can hold (its sizes are 32-bit), less room
#: for the header; a longer output is written as RF64.
WAV_MAX_BYTES = 2 ** 32 - 2 ** 20
#: libsndfile's command that turns an RF64 being written into a WAV if small.
_SFC_RF64_AUTO_DOWNGRADE = 0x1210


def _write_error(exc, path):
    """An exception for a failed write of ``path``: ENOSPC when the disk is full."""
    import errno

    folder = os.path.dirname(os.path.abspath(path))
    try:
        st = os.statvfs(folder)
        full = st.f_bavail * st.f_frsize < 4 * 2 ** 20
    except (OSError, AttributeError):
        full = False
    if full or "No space left" in str(exc):
        return OSError(errno.ENOSPC, "No space left on device", path)
    if isinstance(exc, OSError):
        return OSError(exc.errno, exc.strerror or str(exc), path)
    return AudioError(f"cannot write {path}: {exc}")


class AudioWriter:
    """Write an audio file block by block, atomically, and never clip silently.

    Parameters
    ----------
    path : str
        Final file name.
    sr : int
    channels : int
    fmt : {'wav', 'flac', 'ogg', 'mp3'}
    bits : {None, 16, 24, 32}
        See :func:`check_format`. With ``None`` and ``fmt='wav'`` the file
        starts as 16-bit PCM and becomes 32-bit float at the first block that
        16 bits cannot hold (:attr:`promoted`), so nothing clips and the
        samples keep their values.
    overwrite : bool
    commit : bool
        Rename the file into place when the block exits without an
        exception. With ``False`` the caller calls :meth:`commit` (to commit
        several files together, after all of them are complete).
    mp3_bitrate : int or None
        Constant bit rate of an mp3 in kb/s (:data:`MP3_BITRATES`); None:
        :data:`DEFAULT_MP3_BITRATE`.
    frames : int or None
        The length that will be written, samples per channel, if known. A
        WAV whose data could pass :data:`WAV_MAX_BYTES` (counting a
        promotion to 32-bit float) is written as RF64, the 64-bit WAV that
        libsndfile, ffmpeg and most editors read; a plain WAV's 32-bit sizes
        would wrap. ``None`` (unknown length): RF64 that libsndfile turns
        back into a plain WAV (WAVE_FORMAT_EXTENSIBLE) on closing if it
        stayed small enough.

    Attributes
    ----------
    peak : float
        Largest absolute sample written.
    clipped : int
        Samples that did not fit the encoding and were clipped (0 for float).
    promoted : bool
        Whether the file was switched to 32-bit float.

    Notes
    -----
    Use as a context manager; the file appears under ``path`` only if the
    block exits without an exception.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "loud.wav")
    >>> with AudioWriter(path, 8000, 1) as w:
    ...     w.write(np.full((1, 100), 1.5, dtype=np.float32))
    >>> w.promoted, w.clipped
    (True, 0)
    """

    def __init__(self, path, sr, channels, fmt="wav", bits=None, overwrite=False, commit=True,
                 mp3_bitrate=None, frames=None):
        self.path = os.fspath(path)
        self.mp3_bitrate = check_mp3_bitrate(mp3_bitrate) if fmt == "mp3" else None
        self.sr, self.channels = int(sr), int(channels)
        self.format, self.subtype = check_format(fmt, bits)
        self.promote = fmt == "wav" and bits is None
        self._downgrade = False
        if self.format == "WAV":
            width = 4 if self.promote else {"PCM_16": 2, "PCM_24": 3}.get(self.subtype, 4)
            if frames is None:
                self.format, self._downgrade = "RF64", True
            elif int(frames) * self.channels * width > WAV_MAX_BYTES:
                self.format = "RF64"
        self.overwrite = overwrite
        self.auto_commit = commit
        self.peak = 0.0
        self.clipped = 0
        self.promoted = False
        self._atomic = None
        self._file = None

    def _open(self, tmp, subtype):
        import soundfile as sf

        extra = {}
        if self.mp3_bitrate:
            extra = {"bitrate_mode": "CONSTANT",
                     "compression_level": mp3_compression_level(self.mp3_bitrate)}
        try:
            f = sf.SoundFile(sf_path(tmp), "w", samplerate=self.sr, channels=self.channels,
                             format=self.format, subtype=subtype, **extra)
        except (RuntimeError, OSError) as exc:
            raise _write_error(exc, self.path) from None
        if self._downgrade:   # SFC_RF64_AUTO_DOWNGRADE: a plain WAV unless it grew past 4 GiB
            sf._snd.sf_command(f._file, _SFC_RF64_AUTO_DOWNGRADE, sf._ffi.NULL, 1)
        return f

    def __enter__(self):
        self._atomic = AtomicFile(self.path, self.overwrite)
        try:
            self._file = self._open(self._atomic.tmp, self.subtype)
        except BaseException:
            self._atomic.discard()
            raise
        return self

    def write(self, y):
        """Append samples.

        Parameters
        ----------
        y : numpy.ndarray, shape (channels, samples)
        """
        y = np.asarray(y, dtype=np.float32)
        if y.size:
            hi, lo = float(y.max()), float(y.min())
            self.peak = max(self.peak, hi, -lo)
            if self.subtype != "FLOAT" and (hi > 1.0 or lo < -1.0):
                if self.promote:
                    self._to_float()
                else:
                    self.clipped += int(np.count_nonzero(np.abs(y) > 1.0))
        try:
            if self.subtype == "PCM_16":
                self._file.write(to_pcm16(y))
            else:
                self._file.write(np.ascontiguousarray(y.T))
        except (RuntimeError, OSError) as exc:
            raise _write_error(exc, self.path) from None

    def _to_float(self):
        """Rewrite what is written so far as 32-bit float and go on in float."""
        import soundfile as sf

        try:
            self._file.close()
        except (RuntimeError, OSError) as exc:
            raise _write_error(exc, self.path) from None
        new = AtomicFile(self.path, overwrite=True)   # only a second temporary name
        try:
            out = self._open(new.tmp, "FLOAT")
            with sf.SoundFile(sf_path(self._atomic.tmp)) as old:
                while True:
                    block = old.read(2 ** 18, dtype="float32", always_2d=True)
                    if not len(block):
                        break
                    out.write(block)
        except BaseException:
            new.discard()
            raise
        self._atomic.discard()
        new.overwrite, new.path = self.overwrite, self.path
        self._atomic, self._file = new, out
        self.subtype, self.promoted = "FLOAT", True

    def commit(self):
        """Move the finished file into place (after the block, with ``commit=False``)."""
        self._atomic.commit()

    def discard(self):
        """Remove the temporary file instead of committing it."""
        self._atomic.discard()

    def __exit__(self, exc_type, exc, tb):
        try:
            self._file.close()
        except BaseException as close_exc:  # e.g. disk full on the final flush
            if exc is None:
                self._atomic.discard()
                if isinstance(close_exc, (RuntimeError, OSError)):
                    raise _write_error(close_exc, self.path) from None
                raise
        if exc is not None:
            self._atomic.discard()
            return False
        if self.auto_commit:
            self._atomic.commit()
        return False


def to_pcm16(y):
    """Float samples to interleaved 16-bit integers for a PCM_16 file.

    The scale and clipping are libsndfile's (``x * 32768``, clipped to
    [-32768, 32767], so full scale reads back as 1.0); the rounding is to the
    nearest integer, where libsndfile (1.2) rounds down, which adds a bias of
    half a step. The two differ by at most one step. Done in a few vectorised
    passes instead of a transpose copy plus libsndfile's per-sample loop:
    about 2.5x faster, which matters when encoding runs beside the network.

    Parameters
    ----------
    y : numpy.ndarray, shape (channels, samples), float32

    Returns
    -------
    numpy.ndarray, shape (samples, channels), int16
    """
    z = y.T * np.float32(32768.0)
    np.clip(z, -32768.0, 32767.0, out=z)
    np.rint(z, out=z)
    out = np.empty(z.shape, dtype=np.int16)
    out[...] = z
    return out


def write_audio(path, y, sr, fmt=None, bits=None, overwrite=False):
    """Write a whole array to an audio file atomically.

    Parameters
    ----------
    path : str or os.PathLike
    y : numpy.ndarray, shape (channels, samples) or (samples,)
    sr : int
    fmt : str or None
        Taken from the file extension when ``None``.
    bits : {None, 16, 24, 32}
        See :func:`check_format`.
    overwrite : bool

    Returns
    -------
    AudioWriter
        The closed writer (its ``peak``, ``clipped`` and ``promoted``).
    """
    y = np.atleast_2d(np.asarray(y, dtype=np.float32))
    if fmt is None:
        fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "wav"
    with AudioWriter(path, sr, y.shape[0], fmt=fmt, bits=bits, overwrite=overwrite,
                     frames=y.shape[1]) as w:
        w.write(y)
    return w
