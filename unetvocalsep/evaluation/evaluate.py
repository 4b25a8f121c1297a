"""The evaluate CLI: separate a dataset with the model and the baselines, and score it.

``python -m unetvocalsep.evaluate DATASET ROOT`` separates every track with
the model and with the baselines of :mod:`unetvocalsep.evaluation.baselines`, scores
them all with :mod:`unetvocalsep.evaluation.metrics` at the model's 16 kHz mono and at
the original rate, and writes ``<method>/<rate>/<track>.json``,
``summary.csv``, ``summary.md`` and ``boxplot.png`` (:mod:`unetvocalsep.evaluation.report`)
under RESULTS_DIR.  Finished results are not recomputed on a rerun.  The
metrics, methods and rates are explained in docs/EVALUATION.md.
"""
import os
import time

import numpy as np

from .. import constants
from ..training.datasets import DATASETS as READERS
from ..errors import AudioError, UserError
from ..resampling import to_mono16
from .metrics import (METRICS, TARGETS, bss_eval_v3, bss_eval_v4, energy_db, finite_or_nan,
                      fit_length, nanmedian, nsdr)
from .results import read_result, result_path, write_result

#: Methods, in the order of the results table.
METHODS = ("unet", "irm", "irm-full", "repet-sim", "mixture")


#: Evaluation rates: the model's 16 kHz mono and the original rate.
RATES = ("16k", "full")


#: Datasets the CLI reads.
DATASETS = tuple(d for d in READERS if d != "pairs")   # a pair's vocals are a residual


def list_tracks(dataset, root, split=None):
    """The tracks of a dataset, found by :func:`unetvocalsep.training.datasets.read_dataset`.

    Parameters
    ----------
    dataset : {'musdb18', 'musdb18hq', 'dsd100', 'ikala', 'medleydb', 'folder'}
        Layouts and stem rules as in :mod:`unetvocalsep.training.datasets` (``folder``:
        ``ROOT/<track>/{mixture,vocals,accompaniment}.wav``, what
        ``python -m unetvocalsep.synth`` writes).
    root : str
    split : str or None
        MUSDB18 / MUSDB18-HQ / DSD100 subset (see
        :data:`unetvocalsep.training.datasets.SPLITS`); ``None``: ``test``. Not used
        by the other datasets.

    Returns
    -------
    list of unetvocalsep.training.tracks.Track
        Without the tracks ``prepare`` skips (instrumental MedleyDB tracks).

    Raises
    ------
    UserError
        If ``root`` does not hold a dataset of that kind.
    """
    from ..training import datasets

    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset in datasets.SPLITS:
        split = split or "test"
    elif split not in (None, "test"):
        raise UserError(f"--split applies to {', '.join(sorted(datasets.SPLITS))} only, not {dataset}")
    else:
        split = None
    tracks = [t for t in datasets.read_dataset(dataset, os.fspath(root), split) if not t.skipped]
    if not tracks:
        raise UserError(f"no {dataset} tracks with vocals under {root}")
    return tracks


def load_track(track):
    """Read a track's mixture and references with all their channels, at their own rate.

    The readers of :mod:`unetvocalsep.training.datasets` mix everything down to mono
    (the network's input); here the same files and the same stem rules are
    read without the downmix, so that the ``full`` rate is scored on the
    original channels. iKala clips give one channel per source.

    Parameters
    ----------
    track : unetvocalsep.training.tracks.Track

    Returns
    -------
    mixture, vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
        Same shape.
    sr : int
    """
    from ..training.stems import match_channels

    if track.skipped:
        raise UserError(f"track skipped: {track.info.get('skip', 'no loader')}")
    stems = track.load(mono=False)
    mix, voc, acc, sr = stems.mixture, stems.vocals, stems.accompaniment, stems.sr
    if voc is None:
        raise UserError("no isolated vocals to score against")
    arrays = match_channels([np.atleast_2d(np.asarray(x, dtype=np.float32)) for x in (mix, voc, acc)])
    n = min(a.shape[1] for a in arrays)
    if n < 0.1 * sr:
        raise AudioError(f"track too short ({n / sr:.2f} s)")
    mix, voc, acc = (np.ascontiguousarray(a[:, :n]) for a in arrays)
    return mix, voc, acc, int(sr)


def method_rates(methods=METHODS, rates=RATES):
    """The (method, rate) pairs to run; ``irm-full`` only exists at the full rate.

    Parameters
    ----------
    methods : sequence of str
    rates : sequence of {'16k', 'full'}

    Returns
    -------
    list of (str, str)
    """
    for m in methods:
        if m not in METHODS:
            raise UserError(f"unknown method {m!r}; choose from {', '.join(METHODS)}")
    for r in rates:
        if r not in RATES:
            raise UserError(f"unknown rate {r!r}; choose from {', '.join(RATES)}")
    return [(m, r) for m in METHODS if m in methods for r in RATES
            if r in rates and not (m == "irm-full" and r == "16k")]


def separate_with(method, mixture, vocals, accompaniment, sr, rate, separator=None):
    """One method's estimates at one evaluation rate.

    Parameters
    ----------
    method : {'unet', 'irm', 'irm-full', 'repet-sim', 'mixture'}
    mixture, vocals, accompaniment : numpy.ndarray, shape (channels, samples)
        At the original rate ``sr``; the references are used only by the
        oracle methods.
    sr : int
    rate : {'16k', 'full'}
        ``16k``: 16 kHz mono output; ``full``: rate ``sr``, all channels.
    separator : Separator or None
        Needed for ``unet``.

    Returns
    -------
    vocals, accompaniment : numpy.ndarray, shape (channels_out, samples_out), float32
    """
    from . import baselines

    low = rate == "16k"
    if method == "unet":
        if separator is None:
            raise UserError("method 'unet' needs a model")
        out = separator.separate(mixture, sr, out_sr=constants.SR if low else None, mono=low)
        return out["vocals"], out["accompaniment"]
    if method == "irm":
        return baselines.irm16_separate(mixture, vocals, accompaniment, sr,
                                        out_sr=constants.SR if low else None, mono=low)
    if method == "irm-full":
        if low:
            raise UserError("irm-full is only defined at the full rate")
        return baselines.irm_full_separate(mixture, vocals, accompaniment, sr)
    x, xsr = (to_mono16(mixture, sr), constants.SR) if low else (mixture, sr)
    if method == "repet-sim":
        return baselines.repet_sim(x, xsr)
    if method == "mixture":
        return baselines.mixture_estimate(x)
    raise UserError(f"unknown method {method!r}")


def references_at(mixture, vocals, accompaniment, sr, rate):
    """Mixture and references at an evaluation rate.

    Parameters
    ----------
    mixture, vocals, accompaniment : numpy.ndarray, shape (channels, samples)
    sr : int
    rate : {'16k', 'full'}

    Returns
    -------
    mixture : numpy.ndarray, shape (channels_out, samples_out), float32
    references : numpy.ndarray, shape (2, channels_out, samples_out), float32
        Vocals and accompaniment; 16 kHz mono for ``16k``.
    sr_out : int
    """
    if rate == "16k":
        return (to_mono16(mixture, sr), np.stack([to_mono16(vocals, sr), to_mono16(accompaniment, sr)]),
                constants.SR)
    return mixture, np.stack([vocals, accompaniment]), sr


def _museval_version():
    try:
        from museval.version import _version
        return _version
    except Exception:
        return None


def score(references, estimates, mixture, sr, mixture_sdr=None, win=1.0, hop=1.0):
    """BSS Eval v4 per window and NSDR of one separation, as a museval-style dict.

    Parameters
    ----------
    references, estimates : numpy.ndarray, shape (2, channels, samples)
        Vocals then accompaniment.
    mixture : numpy.ndarray, shape (channels, samples)
    sr : int
    mixture_sdr : numpy.ndarray, shape (2,), or None
        The mixture's v3 SDR (see :func:`nsdr`), if known.
    win, hop : float
        BSS Eval window and hop, seconds.

    Returns
    -------
    dict
        ``targets`` (museval's per-window format), ``median`` (per target and
        metric), ``NSDR``, ``SDR_v3``, ``SDR_v3_mixture``, ``energy_db``
        (the estimate's energy relative to the mixture, :func:`~.metrics.energy_db`)
        and ``reference_silent`` (per target).
    """
    v4 = bss_eval_v4(references, estimates, sr, win, hop)
    n, sdr3, mix3 = nsdr(references, estimates, mixture, mixture_sdr)
    targets, median = [], {}
    for j, name in enumerate(TARGETS):
        frames = [{"time": float(v4["time"][t]), "duration": float(win),
                   "metrics": {m: finite_or_nan(v4[m][j, t]) for m in METRICS}}
                  for t in range(len(v4["time"]))]
        targets.append({"name": name, "frames": frames})
        median[name] = {m: finite_or_nan(nanmedian(v4[m][j])) for m in METRICS}
    return {"targets": targets, "median": median,
            "NSDR": {t: finite_or_nan(n[j]) for j, t in enumerate(TARGETS)},
            "SDR_v3": {t: finite_or_nan(sdr3[j]) for j, t in enumerate(TARGETS)},
            "SDR_v3_mixture": {t: finite_or_nan(mix3[j]) for j, t in enumerate(TARGETS)},
            "energy_db": {t: finite_or_nan(energy_db(estimates[j], mixture))
                          for j, t in enumerate(TARGETS)},
            "reference_silent": {t: not bool(np.any(references[j])) for j, t in enumerate(TARGETS)}}


def evaluate_track(mixture, vocals, accompaniment, sr, name="track", methods=METHODS,
                   rates=RATES, separator=None, results_dir=None, overwrite=False):
    """Separate one track with every method and score it at every rate.

    Parameters
    ----------
    mixture, vocals, accompaniment : numpy.ndarray, shape (channels, samples)
        At rate ``sr``.
    sr : int
    name : str
        Track name (file name of the results).
    methods : sequence of str
    rates : sequence of {'16k', 'full'}
    separator : Separator or None
        Needed for ``unet``.
    results_dir : str or None
        Write ``<results_dir>/<method>/<rate>/<name>.json``; results already
        there are read back instead of recomputed unless ``overwrite``.
    overwrite : bool

    Returns
    -------
    list of dict
        One result per (method, rate): the museval-format ``targets`` plus
        ``track``, ``method``, ``rate``, ``sr``, ``channels``, ``duration``
        (s), ``median``, ``NSDR``, ``SDR_v3``, ``SDR_v3_mixture``,
        ``seconds`` (separation + scoring), ``seconds_separation``,
        ``seconds_evaluation``.
    """
    from .. import __version__

    mixture = np.atleast_2d(np.asarray(mixture, dtype=np.float32))
    vocals = np.atleast_2d(np.asarray(vocals, dtype=np.float32))
    accompaniment = np.atleast_2d(np.asarray(accompaniment, dtype=np.float32))
    results, cache = [], {}
    same_rates = sr == constants.SR and mixture.shape[0] == 1   # 'full' is '16k' here
    for method, rate in method_rates(methods, rates):
        path = result_path(results_dir, method, rate, name) if results_dir else None
        if path and not overwrite:
            old = read_result(path)
            if old is not None:
                results.append(old)
                continue
        if same_rates and rate == "full":
            twin = next((r for r in results if r["method"] == method and r["rate"] == "16k"), None)
            if twin is not None:   # the same separation and scores: not computed twice
                res = dict(twin, rate="full", same_as="16k")
                if path:
                    write_result(path, res)
                results.append(res)
                continue
        if rate not in cache:
            mix_r, refs, sr_r = references_at(mixture, vocals, accompaniment, sr, rate)
            t0 = time.perf_counter()
            mix_sdr = bss_eval_v3(refs, np.broadcast_to(mix_r, refs.shape))[0]
            cache[rate] = (mix_r, refs, sr_r, mix_sdr, time.perf_counter() - t0)
        mix_r, refs, sr_r, mix_sdr, t_mix = cache[rate]
        t0 = time.perf_counter()
        est_v, est_a = separate_with(method, mixture, vocals, accompaniment, sr, rate, separator)
        t1 = time.perf_counter()
        est = np.stack([fit_length(np.atleast_2d(est_v), refs.shape[-1]),
                        fit_length(np.atleast_2d(est_a), refs.shape[-1])])
        res = score(refs, est, mix_r, sr_r, mix_sdr)
        t2 = time.perf_counter()
        res = {"targets": res.pop("targets"), "museval_version": _museval_version(),
               "track": name, "method": method, "rate": rate, "sr": int(sr_r),
               "channels": int(refs.shape[1]), "duration": refs.shape[-1] / float(sr_r),
               **res,
               "seconds": t2 - t0, "seconds_separation": t1 - t0, "seconds_evaluation": t2 - t1,
               "seconds_mixture_sdr": t_mix,
               "unetvocalsep_version": __version__}
        if path:
            write_result(path, res)
        results.append(res)
    return results


def method_order():
    """Table order of the (method, rate) groups: :data:`METHODS` x :data:`RATES`."""
    return [(m, r) for m in METHODS for r in RATES]


_WORKER = {}


def _init_worker(model, device, separator_kwargs):
    _WORKER.update(model=model, device=device, kwargs=separator_kwargs, separator=None)


def _worker_separator():
    if _WORKER.get("separator") is None:
        from ..separator import Separator

        _WORKER["separator"] = Separator(_WORKER["model"], device=_WORKER["device"],
                                         **_WORKER["kwargs"])
    return _WORKER["separator"]


def _pending(track, pairs, results_dir, overwrite):
    if overwrite or not results_dir:
        return list(pairs)
    return [(m, r) for m, r in pairs if read_result(result_path(results_dir, m, r, track.name)) is None]


def _track_job(track, methods, rates, results_dir, overwrite, separator=None):
    """Evaluate one track; returns (name, results, error message or None)."""
    import warnings

    try:
        todo = _pending(track, method_rates(methods, rates), results_dir, overwrite)
        if todo:
            mix, vocals, acc, sr = load_track(track)
        else:
            mix = vocals = acc = np.zeros((1, 1), dtype=np.float32)
            sr = constants.SR
        if any(m == "unet" for m, _ in todo) and separator is None:
            separator = _worker_separator()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = evaluate_track(mix, vocals, acc, sr, track.name, methods, rates,
                                     separator, results_dir, overwrite)
        return track.name, results, None
    except UserError as exc:
        return track.name, [], str(exc)
    except MemoryError:
        return track.name, [], "out of memory"
    except Exception as exc:  # a bad track must not stop the others
        return track.name, [], f"{type(exc).__name__}: {exc}"


def evaluate_dataset(dataset, root, split=None, methods=METHODS, rates=RATES, model=None,
                     results_dir="results", jobs=1, device=-1, max_tracks=None, overwrite=False,
                     progress=True, separator_kwargs=None, on_error=None):
    """Evaluate every track of a dataset; results are cached under ``results_dir``.

    Parameters
    ----------
    dataset, root, split
        See :func:`list_tracks`.
    methods : sequence of str
    rates : sequence of {'16k', 'full'}
    model : str, UNet, Separator or None
        For ``unet``; ``None`` uses the bundled model.
    results_dir : str
    jobs : int
        Tracks evaluated in parallel (processes; each loads the model once).
    device : int or str
    max_tracks : int or None
        Only the first N tracks (sorted by name).
    overwrite : bool
        Recompute results that exist.
    progress : bool
        Show a progress bar counting tracks.
    separator_kwargs : dict or None
        Further :class:`Separator` options (``hard_mask``, ``highband``...).
    on_error : callable or None
        Called with ``(track_name, message)`` for a track that failed.

    Returns
    -------
    results : list of dict
        Every (method, rate, track) result, see :func:`evaluate_track`.
    errors : list of (str, str)
        Tracks that failed and why.
    """
    check_eval_extra()   # one line naming the extra, not an ImportError per track
    from ..separator import Separator

    pairs = method_rates(methods, rates)
    tracks = list_tracks(dataset, root, split)
    if max_tracks is not None:
        tracks = tracks[:max(0, int(max_tracks))]
    separator_kwargs = dict(separator_kwargs or {})
    need_model = any(m == "unet" for t in tracks
                     for m, _ in _pending(t, pairs, results_dir, overwrite))
    separator = None
    if isinstance(model, Separator):
        separator = model
    elif need_model and jobs <= 1:
        separator = Separator(model, device=device, **separator_kwargs)
    elif need_model and not hasattr(model, "to_device"):
        from ..model_io import load_model

        load_model(model)     # fail before starting workers if the model is unusable
    os.makedirs(results_dir, exist_ok=True)
    results, errors = [], []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(tracks), unit="track", desc="evaluate")

    def done(name, res, err):
        results.extend(res)
        if err is not None:
            errors.append((name, err))
            if on_error is not None:
                on_error(name, err)
        if bar is not None:
            bar.update(1)

    try:
        import functools

        from ..parallel import each

        serial = jobs <= 1 or len(tracks) <= 1 or separator is not None
        if not serial:
            _limit_threads(jobs)
        # workers: spawned (safe with CUDA and chainer's threads), ended with this process
        job = functools.partial(_track_job, methods=methods, rates=rates,
                                results_dir=results_dir, overwrite=overwrite,
                                separator=separator if serial else None)
        for _, get in each(job, tracks, 0 if serial else min(jobs, len(tracks)),
                           initializer=_init_worker, initargs=(model, device, separator_kwargs)):
            done(*get())
    finally:
        if bar is not None:
            bar.close()
    return results, errors


def _limit_threads(jobs):
    """Give each worker process its share of the cores (inherited at spawn)."""
    per = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, per)


def check_eval_extra():
    """Raise one :class:`UserError` naming the ``[eval]`` extra when its packages are missing."""
    missing = []
    for module, package in (("museval", "museval"), ("fast_bss_eval", "fast-bss-eval")):
        try:
            __import__(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise UserError(f"evaluate needs {' and '.join(missing)} (the [eval] extra): "
                        "pip install 'unetvocalsep[eval]'")
