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
import threading
import time

import numpy as np

from . import constants, pipeline
from .backends import load_network
from .errors import UserError
from .highband import DEFAULT_HIGHBAND, check_highband, fill_highband
from .inputs import as_channels_first, check_signal
from .limits import MAX_CHUNK_SECONDS, check_out_sr
from .masking import BLOCK_SECONDS, compute_mask, vocal_mask, vocals_of
from .pipeline import CHUNK_SECONDS, CROSSFADE_SECONDS, MARGIN_SECONDS
from .resampling import resample, to_mono
from .spectrogram import stft


class Separator:
    """Load a model once and separate any number of signals or files with it.

    Parameters
    ----------
    model : str, UNet or None
        Path of an npz model, a bundled model's name (``'default'``: real singing,
        research and non-commercial use only; ``'free'``: free data only; see
        :func:`unetvocalsep.model_io.bundled_models`), a UNet instance, or ``None``
        for ``'default'``.
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
    def model_info(self):
        """Which model this separator runs and its licence: :func:`~unetvocalsep.model_io.describe_model`.

        Examples
        --------
        >>> Separator(model="free").model_info["name"]
        'free'
        """
        from .model_io import describe_model

        return describe_model(self._model, self.config)

    @property
    def unet(self):
        """The chainer :class:`~unetvocalsep.network.UNet` (loaded on first use on the fast CPU path)."""
        if self._unet is None:
            from .model_io import load_model

            if getattr(self.net, "unet", None) is not None:   # a UNet given, or a ChainerNetwork
                self._unet = self.net.unet
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
        out_sr = check_out_sr(out_sr)
        x, one_d, transposed = as_channels_first(y)
        check_signal(x, sr, "input")
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

        The parameters, return value and errors are those of
        :func:`unetvocalsep.writing.write_stems`, which does the work.
        """
        from .writing import write_stems

        return write_stems(self, path, output_dir=output_dir, fmt=fmt, bits=bits, overwrite=overwrite,
                           out_sr=out_sr, mono=mono, progress=progress, gain_db=gain_db,
                           outputs=outputs, on_window=on_window, vocal_level_db=vocal_level_db,
                           stems=stems, filename=filename, start=start, duration=duration,
                           mp3_bitrate=mp3_bitrate, cancel=cancel)


_array_reader = pipeline.array_reader
