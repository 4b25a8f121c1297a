"""Separating a file into stem files, written atomically, nothing left behind on failure.

:func:`write_stems` is the work of ``Separator.separate_file`` (and so of
``python -m unetvocalsep.separate``): the output settings are checked and the
paths planned (:mod:`unetvocalsep.outputs`) before any work; the outputs are
claimed, so that a second run cannot write them too; the file is read in two
passes (the first finds the whole track's peak, the article's normalisation);
the stems go to temporary files block by block and are committed together
at the end. On any error, or a cancel, nothing is written and the folders
made for the outputs are removed again.

Examples
--------
>>> from unetvocalsep.separator import Separator
>>> out = write_stems(Separator(), 'song.mp3', output_dir='separated')   # doctest: +SKIP
>>> sorted(out)                                                          # doctest: +SKIP
['accompaniment', 'vocals']
"""
import contextlib
import os

from . import constants, pipeline
from .audio import AudioReader, AudioWriter, check_format, check_mp3_bitrate, check_output_format
from .errors import AudioError, UserError, stderr_is_terminal
from .files import check_target, claim
from .inputs import MIN_INPUT_SECONDS
from .outputs import (Outputs, check_output_settings, commit_all, make_output_folders, plan_outputs,
                      vocal_mix)
from .signals import Cancelled


def write_stems(sep, path, output_dir="separated", fmt="wav", bits=None, overwrite=False,
                  out_sr=None, mono=False, progress="auto", gain_db=0.0, outputs=None,
                  on_window=None, vocal_level_db=None, stems=None, filename=None,
                  start=0.0, duration=None, mp3_bitrate=None, cancel=None):
    """Separate one file into ``<output_dir>/<track>/{vocals,accompaniment}.<fmt>``.

    The work of :meth:`Separator.separate_file <unetvocalsep.separator.Separator.separate_file>`:
    the outputs planned and claimed, the file read in two passes (the
    first finds the track's peak, and keeps the audio when it is small),
    the stems written block by block to temporaries and committed together.

    Parameters
    ----------
    sep : unetvocalsep.separator.Separator
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
            raise Cancelled(path)

    def counted(n):
        passes[-1] += n

    def opened():
        passes.append(0)
        return pipeline.open_excerpt(path, first, n_in, mono, sr, ch, before=check_cancel,
                                     after=counted, stage=lambda: sep._stage("decode"))

    created = make_output_folders(outputs)   # removed again on failure
    bar = None
    try:
        with claim(outputs.values()):
            for out in outputs.values():   # a run that finished before our claim
                check_target(out, overwrite)
            reader, read = opened()
            with reader:
                peak, audio, mags = sep.first_pass(read, sr)
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
                for blocks in sep.stream(read, sr, peak, bar, mags=mags, on_window=on_window):
                    if mix:
                        blocks = (*blocks, vocal_mix(blocks[0], blocks[1], vocal_level_db))
                    by_name = dict(zip(constants.STEMS + ("mix",), blocks))
                    check_cancel()
                    with sep._stage("encode"):
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
