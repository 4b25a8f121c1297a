"""The :class:`Separator` object: a model loaded once, applied to arrays, streams and files.

The mask maths are in :mod:`unetvocalsep.masking`, the windowing, first pass,
prefetch and cross-fades in :mod:`unetvocalsep.pipeline`, the network (the
onnxruntime backend or the NumPy inference plan on a CPU, chainer on a GPU)
comes from :func:`unetvocalsep.backends.load_network`. For each window of a file:

1. the 16 kHz mono magnitude, divided by the **whole track's** maximum (the
   article's normalisation, found in a first pass);
2. the network's mask (DC bin 0), above the resampler's passband edge
   replaced by the ``highband`` rule (:func:`~unetvocalsep.highband.fill_highband`);
   ``on_window(window, mag16, mask)`` sees it;
3. the mask mapped onto each channel's STFT at the file's own rate;
   vocals = STFT · mask (or its Wiener refinement), accompaniment = input − vocals.

With ``sr=16000, mono=True, highband='article'`` a short input gives exactly the
article's output.
:mod:`unetvocalsep.separate` holds the plain functions and the command line.
"""
import contextlib
import os
import threading
import time

import numpy as np

from . import constants
from .errors import AudioError, UserError, stderr_is_terminal
from .limits import MAX_CHUNK_SECONDS
from .masking import compute_mask
from .masking import BLOCK_SECONDS
from .highband import DEFAULT_HIGHBAND, check_highband, fill_highband
from .masking import vocal_mask, vocals_of
from .outputs import (Outputs, check_output_settings, commit_all, make_output_folders,
                      plan_outputs, vocal_mix)
from .pipeline import CHUNK_SECONDS, CROSSFADE_SECONDS, MARGIN_SECONDS  # noqa: F401
from . import pipeline

#: Shortest input accepted, seconds (one STFT hop at 16 kHz).
MIN_INPUT_SECONDS = 0.02


class Separator:
    """Load a model once and separate any number of signals or files with it.

    Parameters
    ----------
    model : str, UNet or None
        Path of an npz model, a UNet instance, or ``None`` for the bundled model.
    device : int or str
        ``-1`` for the CPU, ``N`` or ``'@cupy:N'`` for a GPU.
    hard_mask : bool
        Use the binary mask ``mask > 0.5``.
    highband : str
        What the mask is above the resampler's passband edge (about 7.6 kHz)
        and above 8 kHz: one of :data:`~unetvocalsep.highband.HIGHBANDS`
        (``'article'``: the network's raw mask, as the article).
    chunk_seconds, margin_seconds, crossfade_seconds : float
        Window length, context per side and half cross-fade for long inputs.
    wiener : bool
        Refine the stems with a multichannel Wiener filter (norbert;
        :mod:`unetvocalsep.wiener`). Off by default: docs/HIGHBAND.md has
        the figures.
    """

    def __init__(self, model=None, device=-1, hard_mask=False, highband=DEFAULT_HIGHBAND,
                 chunk_seconds=CHUNK_SECONDS, margin_seconds=MARGIN_SECONDS,
                 crossfade_seconds=CROSSFADE_SECONDS, wiener=False):
        from .backends import load_network

        for name, value in (("chunk_seconds", chunk_seconds), ("margin_seconds", margin_seconds),
                            ("crossfade_seconds", crossfade_seconds)):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
                    or not np.isfinite(value) or value <= 0 or value > MAX_CHUNK_SECONDS:
                raise UserError(f"{name} must be a positive number of seconds, at most "
                                f"{MAX_CHUNK_SECONDS:g}, got {value!r}")
        if not crossfade_seconds <= margin_seconds or chunk_seconds <= 2 * margin_seconds:
            raise UserError("need crossfade <= margin and chunk > 2 * margin")
        check_highband(highband)
        if not isinstance(wiener, (bool, np.bool_)):
            raise UserError(f"wiener must be True or False, got {wiener!r}")
        #: The network: ``net(x) -> mask`` for x of shape (1, 1, 512, frames).
        self.net, self.config = load_network(model, device)
        self._model = model
        self._unet = None   # the chainer UNet, loaded on first use of .unet
        self.hard_mask = hard_mask
        self.highband = highband
        self.wiener = bool(wiener)
        self.chunk_seconds = chunk_seconds
        self.margin_seconds = margin_seconds
        self.crossfade_seconds = crossfade_seconds
        #: Seconds spent per stage (decode, resample, stft, network, istft, encode), summed
        #: over every call; reset it to measure one run.
        self.timings = {}
        self._timings_lock = threading.Lock()

    @property
    def plan(self):
        """The :class:`~unetvocalsep.fast.inference.InferencePlan` when the network is one, else None."""
        from .fast.inference import InferencePlan

        return self.net if isinstance(self.net, InferencePlan) else None

    @property
    def unet(self):
        """The chainer :class:`~unetvocalsep.network.UNet` (loaded on first use on the fast CPU path)."""
        if self._unet is None:
            from .backends import is_unet
            from .model_io import load_model

            if getattr(self.net, "unet", None) is not None:   # a ChainerNetwork holds it
                self._unet = self.net.unet
            elif is_unet(self._model):
                self._unet = self._model
            else:
                self._unet, _ = load_model(self._model)
        return self._unet

    @contextlib.contextmanager
    def _stage(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            with self._timings_lock:   # several threads may share this Separator
                self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0

    # -- one window --------------------------------------------------------------------
    def mask16(self, y, sr, peak, mag=None):
        """Vocal mask of a window at 16 kHz.

        Parameters
        ----------
        y : numpy.ndarray, shape (channels, samples), float32
        sr : int
        peak : float
            Normalisation divisor (maximum of the track's 16 kHz magnitude).
        mag : numpy.ndarray, shape (513, frames16), optional
            The window's 16 kHz magnitude if already known (from the first
            pass); computed from ``y`` otherwise.

        Returns
        -------
        numpy.ndarray, shape (513, frames16), float32
            Above the passband edge, the ``highband`` rule's value.
        """
        if mag is None:
            mag = self.mag16(y, sr)
        with self._stage("network"):
            mask = compute_mask(self.net, mag / np.float32(peak))
        return fill_highband(vocal_mask(mask, self.config), self.highband, mag=mag, copy=False)

    def mag16(self, y, sr):
        """16 kHz mono magnitude of a window, shape (513, frames16), not normalised."""
        from .resampling import resample, to_mono
        from .spectrogram import stft

        with self._stage("resample"):
            y16 = resample(to_mono(y)[0], sr, constants.SR)
        with self._stage("stft"):
            return np.abs(stft(y16))

    def vocals(self, y, sr, mask, spec=None):
        """The vocal stem of a window at its own rate (the accompaniment is ``y`` minus it).

        Parameters
        ----------
        y : numpy.ndarray, shape (channels, samples), float32
        sr : int
        mask : numpy.ndarray, shape (513, frames16), float32
            The 16 kHz mask (:func:`unetvocalsep.masking.apply_mask` maps it).
        spec : numpy.ndarray, shape (k, frames, bins), complex64, optional
            The STFT of the first ``k`` channels, if already computed; without
            it the window is transformed in blocks of
            :data:`unetvocalsep.masking.BLOCK_SECONDS` (same samples, less memory).

        Returns
        -------
        numpy.ndarray, shape (channels, samples), float32
        """
        with self._stage("istft"):
            return vocals_of(y, sr, mask, spec, self.highband, self.hard_mask,
                             block_seconds=BLOCK_SECONDS, wiener=self.wiener)

    # -- streaming over windows -------------------------------------------------------
    def _windows(self, read, sr):
        """The :class:`~unetvocalsep.pipeline.Window` s of a sequential reader."""
        return pipeline.windows(read, sr, self.chunk_seconds, self.margin_seconds)

    def track_peak(self, read, sr):
        """First pass: the maximum 16 kHz magnitude over the whole input.

        Parameters
        ----------
        read : callable
            ``read(n) -> array (channels, m)``, sequential.
        sr : int

        Returns
        -------
        float
        """
        return self.first_pass(read, sr, cache_bytes=0).peak

    def first_pass(self, read, sr, cache_bytes=None):
        """:meth:`track_peak`, keeping what the second pass would compute again.

        Parameters
        ----------
        read : callable
        sr : int
        cache_bytes : int or None
            See :func:`unetvocalsep.pipeline.first_pass`.

        Returns
        -------
        unetvocalsep.pipeline.FirstPass
            ``(peak, audio, mags)``.
        """
        return pipeline.first_pass(read, sr, self.mag16, self.chunk_seconds,
                                   self.margin_seconds, cache_bytes)

    def stream(self, read, sr, peak, progress=None, mags=None, prefetch=True, on_window=None):
        """Separate a sequential input; yields output blocks in order.

        Parameters
        ----------
        read : callable
            ``read(n) -> numpy.ndarray (channels, m)``; ``m == 0`` at the end.
        sr : int
        peak : float
            From :meth:`track_peak`.
        progress : object with ``update(seconds)`` (a tqdm bar), or None
        mags : list of numpy.ndarray or None
            The windows' 16 kHz magnitudes from :meth:`first_pass`.
        prefetch : bool
            Run the network of the next window in a worker thread while this
            one is transformed back, cross-faded and written (at most two
            windows are in memory).
        on_window : callable or None
            ``on_window(window, mag16, mask)`` for each window, in order, in
            the caller's thread: the :class:`~unetvocalsep.pipeline.Window`,
            its 16 kHz magnitude (not normalised) and its vocal mask, both
            shape (513, frames16).

        Yields
        ------
        vocals, accompaniment : numpy.ndarray, shape (channels, n), float32
            Consecutive blocks; together they cover the whole input.
        """
        def mask_of(w):
            mag = mags[w.index] if mags is not None and w.index < len(mags) else None
            if on_window is not None and mag is None:
                mag = self.mag16(w.samples, sr)
            return mag, self.mask16(w.samples, sr, peak, mag)

        def separated():
            for w, get in pipeline.prefetched(self._windows(read, sr), mask_of, prefetch):
                mag, mask = get()
                if on_window is not None:
                    on_window(w, mag, mask)
                # full-rate work in blocks (masking.BLOCK_SECONDS) while the
                # network works on the next window
                yield w, self.vocals(w.samples, sr, mask)   # crossfade computes the accompaniment

        yield from pipeline.crossfade(separated(), sr, self.chunk_seconds, self.crossfade_seconds,
                                      progress)

    # -- public entry points --------------------------------------------------------------
    def separate(self, y, sr, out_sr=None, mono=False, progress=None):
        """Separate an array.

        Parameters
        ----------
        y : numpy.ndarray, shape (samples,), (channels, samples) or (samples, channels)
            The longer axis is time, so ``soundfile.read``'s (samples,
            channels) works as it is. Floats are taken as they are (full
            scale 1.0); integer PCM is scaled (int16 by 1/32768, int32 by
            1/2**31, uint8 around 128).
        sr : int
        out_sr : int or None
            Output rate; the input's rate when ``None``.
        mono : bool
            Mix the output down to one channel.
        progress : tqdm or None

        Returns
        -------
        dict
            ``{'vocals': array, 'accompaniment': array}``, each in the layout
            of ``y`` (after ``mono`` / ``out_sr``), float32.

        Raises
        ------
        AudioError
            A shape or dtype that is not audio, too short, not finite.
        """
        from .resampling import resample, to_mono

        from .limits import check_out_sr

        out_sr = check_out_sr(out_sr)
        x, one_d, transposed = as_channels_first(y)
        _check_signal(x, sr, "input")
        if mono:
            x = to_mono(x)
        if out_sr and out_sr != sr:
            x = resample(x, sr, out_sr)
            sr = out_sr
        peak, _, mags = self.first_pass(_array_reader(x), sr)
        blocks = list(self.stream(_array_reader(x), sr, peak, progress, mags=mags))
        out = {}
        for i, name in enumerate(constants.STEMS):
            s = np.concatenate([b[i] for b in blocks], axis=1)
            out[name] = s[0] if one_d else (np.ascontiguousarray(s.T) if transposed else s)
        return out

    def separate_file(self, path, output_dir="separated", fmt="wav", bits=None, overwrite=False,
                      out_sr=None, mono=False, progress="auto", gain_db=0.0, outputs=None,
                      on_window=None, vocal_level_db=None, stems=None, filename=None,
                      start=0.0, duration=None, mp3_bitrate=None, cancel=None):
        """Separate one file into ``<output_dir>/<track>/{vocals,accompaniment}.<fmt>``.

        Parameters
        ----------
        path : str
        output_dir : str
        fmt : {'wav', 'flac', 'ogg', 'mp3'}
        bits : {None, 16, 24, 32}
            ``None``: 16-bit, except that a wav stem that would clip is
            written as 32-bit float (see :class:`~unetvocalsep.audio.AudioWriter`).
        overwrite : bool
            Replace existing outputs; otherwise :class:`UserError` is raised
            before any work is done (and at the end, should one appear
            meanwhile).
        out_sr : int or None
        mono : bool
        progress : bool, 'auto' or object
            Show a progress bar counting seconds of audio (``'auto'``, the
            default: only when stderr is a terminal, so not in notebooks or
            logs); or an object whose ``update(seconds)`` is called as the
            work goes on.
        gain_db : float
            Gain applied to both stems (they then add up to the input at this
            gain); a negative gain makes room in 16/24-bit and lossy files.
        outputs : dict or None
            Stem name -> path, instead of ``<output_dir>/<track>/<stem>.<fmt>``
            (the folder must exist).
        on_window : callable or None
            See :meth:`stream`.
        cancel : callable or None
            ``cancel()`` is asked at every block read and written and before
            the stems are committed; when it returns True the call raises
            :class:`~unetvocalsep.signals.Cancelled` and writes nothing (a
            batch stopping on a signal: :func:`unetvocalsep.batch.separate_files`).
        vocal_level_db : float or None
            Also write ``mix.<fmt>``: the accompaniment plus the vocals at this
            level, -inf (the accompaniment) to 0 dB (the input); None writes
            no mix.
        stems : sequence of str or None
            Write only these of ``'vocals'`` and ``'accompaniment'`` (the
            mix is written whenever ``vocal_level_db`` is given); None: both.
        filename : str or None
            Output name template under ``output_dir``, with ``{track}``,
            ``{parent}``, ``{stem}`` and ``{ext}``
            (:func:`unetvocalsep.outputs.check_filename`); None:
            ``{track}/{stem}.{ext}``.
        start : float
            Separate from this many seconds into the file.
        duration : float or None
            Separate at most this many seconds (None: to the end).
        mp3_bitrate : int or None
            Constant bit rate of mp3 outputs, kb/s (default 320).

        Returns
        -------
        Outputs
            Stem name -> written path; ``.notes`` lists what the user should
            know (a stem written as float, samples clipped), ``.peaks`` the
            peak of each stem.

        Raises
        ------
        UserError
            Bad input or settings, an output that exists, or another run
            writing the same outputs (checked before the work).
        """
        from .audio import AudioReader, AudioWriter, check_format, check_output_format
        from .files import check_target, claim

        from .audio import check_mp3_bitrate

        check_format(fmt, bits)
        mp3_bitrate = check_mp3_bitrate(mp3_bitrate) if fmt == "mp3" else None
        stems, gain, out_sr, mix = check_output_settings(stems, start, duration, gain_db, out_sr,
                                                         vocal_level_db)
        outputs = plan_outputs(path, output_dir, fmt, outputs, stems, mix, filename, overwrite)
        with AudioReader(path) as reader:
            sr_in, channels = reader.sr, reader.channels
            if start and start >= reader.duration:
                raise UserError(f"the start ({start:g} s) is at or past the end of {path} "
                                f"({reader.duration:.2f} s)")
            first = int(round(start * sr_in))
            n_in = reader.frames - first
            if duration is not None:
                n_in = min(n_in, int(round(duration * sr_in)))
            seconds = n_in / sr_in
            if seconds < MIN_INPUT_SECONDS:
                raise AudioError(f"audio too short ({seconds:.3f} s): {path}")
        sr = out_sr or sr_in
        ch = 1 if mono else channels
        check_output_format(fmt, sr, ch, path)

        passes = []   # samples decoded by each pass

        def check_cancel():
            if cancel is not None and cancel():
                from .signals import Cancelled

                raise Cancelled(path)

        def counted(n):
            passes[-1] += n

        def opened():
            passes.append(0)
            return pipeline.open_excerpt(path, first, n_in, mono, sr, ch, before=check_cancel,
                                         after=counted, stage=lambda: self._stage("decode"))

        created = make_output_folders(outputs)   # removed again on failure
        bar = None
        try:
            with claim(outputs.values()):
                for out in outputs.values():   # a run that finished before our claim
                    check_target(out, overwrite)
                reader, read = opened()
                with reader:
                    peak, audio, mags = self.first_pass(read, sr)
                if progress == "auto":
                    progress = stderr_is_terminal()
                if progress is True:
                    bar = _progress_bar(seconds, os.path.basename(path))
                elif progress:
                    bar = progress
                with contextlib.ExitStack() as stack:
                    if audio is not None:   # kept by the first pass: no second decode
                        read = pipeline.blocks_reader(audio)
                        audio = None   # the reader frees each block once read
                    else:
                        reader, read = opened()
                        stack.enter_context(reader)
                    names = [n for n in constants.STEMS + (("mix",) if mix else ())
                             if n in outputs]
                    outputs = {n: outputs[n] for n in names}
                    n_out = -(-n_in * sr // sr_in)   # what the resampler gives, rounded up
                    writers = [stack.enter_context(AudioWriter(outputs[n], sr, ch, fmt, bits,
                                                               overwrite, commit=False,
                                                               mp3_bitrate=mp3_bitrate,
                                                               frames=n_out))
                               for n in names]
                    for blocks in self.stream(read, sr, peak, bar, mags=mags, on_window=on_window):
                        if mix:
                            blocks = (*blocks, vocal_mix(blocks[0], blocks[1], vocal_level_db))
                        by_name = dict(zip(constants.STEMS + ("mix",), blocks))
                        check_cancel()
                        with self._stage("encode"):
                            for n, w in zip(names, writers):
                                b = by_name[n]
                                w.write(b * gain if gain != 1 else b)
                    if len(passes) == 2 and passes[0] != passes[1]:
                        raise AudioError(f"{path} changed while it was being separated "
                                         f"({passes[0] / sr_in:.2f} s on the first pass, "
                                         f"{passes[1] / sr_in:.2f} s on the second); nothing "
                                         f"was written")
                    check_cancel()
                commit_all(writers)
        except BaseException:
            for folder in sorted(created, key=len, reverse=True):   # deepest first, if empty
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
            raise
        finally:
            if bar is not None and progress is True:
                bar.close()
        return Outputs(outputs, writers, gain_db)


def to_float32(y):
    """Samples as float32 at full scale 1.0: floats as they are, integer PCM scaled.

    Parameters
    ----------
    y : array_like
        Float, or integer PCM: int16 is scaled by 1/32768, int32 by 1/2**31,
        uint8 around 128.

    Returns
    -------
    numpy.ndarray, float32, the shape of ``y``

    Raises
    ------
    AudioError
        A dtype that is not audio (bool, complex, text...).

    Examples
    --------
    >>> import numpy as np
    >>> to_float32(np.array([-32768, 16384], dtype=np.int16))
    array([-1. ,  0.5], dtype=float32)
    """
    a = np.asarray(y)
    kind = a.dtype.kind
    if kind == "f":
        return a.astype(np.float32, copy=False)
    if kind == "i":
        return (a.astype(np.float64) / float(2 ** (8 * a.dtype.itemsize - 1))).astype(np.float32)
    if kind == "u":
        half = float(2 ** (8 * a.dtype.itemsize - 1))
        return ((a.astype(np.float64) - half) / half).astype(np.float32)
    raise AudioError(f"audio must be float or integer PCM samples, got dtype {a.dtype}")


def as_channels_first(y):
    """An audio array as float32 ``(channels, samples)``, and how to give it back.

    Parameters
    ----------
    y : array_like
        1-D, or 2-D in either layout (the longer axis is time); float, or
        integer PCM (scaled to full scale 1.0).

    Returns
    -------
    x : numpy.ndarray, shape (channels, samples), float32
    one_d : bool
        ``y`` was 1-D.
    transposed : bool
        ``y`` was (samples, channels).

    Raises
    ------
    AudioError
        Not 1-D or 2-D, or a dtype that is not audio (bool, complex, text...).

    Examples
    --------
    >>> import numpy as np
    >>> x, one_d, transposed = as_channels_first(np.zeros((44100, 2), dtype=np.int16))
    >>> x.shape, x.dtype, transposed
    ((2, 44100), dtype('float32'), True)
    """
    a = np.asarray(y)
    if a.ndim not in (1, 2):
        raise AudioError(f"audio must be 1-D (samples,) or 2-D (channels, samples) or "
                         f"(samples, channels); got an array of shape {a.shape}")
    x = to_float32(a)
    one_d = x.ndim == 1
    x = np.atleast_2d(x)
    transposed = x.shape[0] > x.shape[1]
    if transposed:
        x = x.T
    return np.ascontiguousarray(x), one_d, transposed


def _check_signal(x, sr, what):
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise UserError(f"invalid sample rate: {sr!r}")
    from .audio import check_rate

    check_rate(int(sr), what)
    if x.ndim != 2 or x.shape[1] == 0:
        raise AudioError(f"{what} has no samples")
    if x.shape[1] < MIN_INPUT_SECONDS * sr:
        raise AudioError(f"{what} too short ({x.shape[1] / sr:.3f} s)")
    from .limits import check_samples

    check_samples(x, what)


_array_reader = pipeline.array_reader


class ClampedBar:
    """A tqdm bar in seconds of audio that never counts past its total.

    The stream's blocks add up to the input's length, which the total
    (from the header) may undercount by a fraction of a sample; tqdm then
    warned "clamping frac to range [0, 1]" and showed a negative ETA.
    """

    def __init__(self, bar):
        self.bar = bar

    def update(self, seconds):
        left = max(self.bar.total - self.bar.n, 0.0)
        step = min(float(seconds), left)
        if step > 0:
            self.bar.update(step)

    def close(self):
        self.bar.close()


def _progress_bar(seconds, desc):
    from tqdm.auto import tqdm

    return ClampedBar(tqdm(total=float(seconds), unit="s", desc=desc[:30], leave=False,
                           bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s "
                                      "audio [{elapsed}<{remaining}, {rate_fmt}]"))
