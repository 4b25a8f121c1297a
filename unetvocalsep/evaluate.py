"""BSS Eval scores of the separator and of reference separations, and the evaluate CLI.

``python -m unetvocalsep.evaluate DATASET ROOT`` separates every track of a
dataset with the model and with the baselines of :mod:`unetvocalsep.baselines`,
and scores all of them with the same code:

- **BSS Eval v4** exactly as museval computes it for SiSEC 2018
  (:func:`museval.metrics.bss_eval` with time-invariant 512-tap distortion
  filters estimated on the whole track, vocals and accompaniment evaluated
  together, metrics in 1 s windows with a 1 s hop). SDR, SIR, SAR and ISR per
  window; a window where a reference or an estimate is silent is NaN, and
  so is an infinite value (museval writes both as NaN in its JSON). A
  track's score is the median over its windows, ignoring NaN; a method's
  score is the median over tracks of those medians.
- **NSDR** (the paper's iKala metric): ``SDR(estimate) - SDR(mixture)``,
  both BSS Eval v3 ``bss_eval_sources`` SDRs (512-tap time-invariant filter,
  no permutation, vocals and accompaniment as the two sources) on the
  **whole track, mixed to mono**, computed with fast-bss-eval (numpy).
  **GNSDR** is the mean NSDR over tracks weighted by track length.

Every method is scored at two rates (the ``rate`` field of the results):

- ``16k``: mixture, references and estimates mixed to mono and resampled to
  16 kHz -- the model's native output (``out_sr=16000, mono=True``), as in
  the article;
- ``full``: the original rate and channels, with the separator's full-band
  output (its default).

Methods: ``unet`` (the model), ``irm`` (the oracle ratio mask on the model's
16 kHz grid, applied like the network's mask: this model's ceiling),
``irm-full`` (the oracle mask at the original rate; ``full`` only),
``repet-sim`` and ``mixture`` (the mixture as both estimates).

Outputs under ``RESULTS_DIR``: ``<method>/<rate>/<track>.json`` (museval's
per-track format plus our fields), ``summary.csv``, ``summary.md`` and
``boxplot.png``. Finished results are not recomputed on a rerun.
"""
import json
import math
import os
import sys
import time

import numpy as np

from . import config
from .errors import AudioError, UserError

#: Methods, in the order of the results table.
METHODS = ("unet", "irm", "irm-full", "repet-sim", "mixture")
#: Evaluation rates: the model's 16 kHz mono and the original rate.
RATES = ("16k", "full")
#: Datasets the CLI reads.
DATASETS = ("musdb18", "musdb18hq", "dsd100", "ikala", "medleydb", "folder")
#: The two targets, in the order of the BSS Eval sources.
TARGETS = config.STEMS
#: BSS Eval v4 metrics per window.
METRICS = ("SDR", "SIR", "SAR", "ISR")
#: Columns of summary.csv.
CSV_COLUMNS = ("method", "rate", "track", "target", "SDR", "SIR", "SAR", "ISR", "NSDR",
               "seconds", "duration")


# -- metrics --------------------------------------------------------------------------------
def _as_sources(x):
    """(nsrc, samples) or (nsrc, channels, samples) -> float64 (nsrc, channels, samples)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise ValueError(f"expected (sources, channels, samples), got shape {x.shape}")
    return x


def _fit_length(est, n):
    """Truncate or zero-pad the last axis to ``n`` (museval's pad_or_truncate)."""
    if est.shape[-1] > n:
        return est[..., :n]
    if est.shape[-1] < n:
        pad = [(0, 0)] * (est.ndim - 1) + [(0, n - est.shape[-1])]
        return np.pad(est, pad)
    return est


def _silent(source):
    """museval's test: the channel sum is zero at every sample."""
    return not np.any(np.sum(source, axis=0))


def _dither_silent(est, seed=0):
    """Replace all-zero estimates by -200 dB noise so BSS Eval stays defined (SDR ~ 0 dB)."""
    est = est.copy()
    rng = np.random.default_rng(seed)
    for k in range(est.shape[0]):
        if _silent(est[k]):
            est[k] = 1e-10 * rng.standard_normal(est[k].shape)
    return est


def n_windows(n_samples, win, hop):
    """Number of BSS Eval windows (museval's ``Framing.nwin``).

    Parameters
    ----------
    n_samples, win, hop : int
        Lengths in samples.

    Returns
    -------
    int
    """
    if win < n_samples:
        return int(np.floor((n_samples - win + hop) / hop))
    return 1


def bss_eval_v4(references, estimates, sr, win=1.0, hop=1.0):
    """BSS Eval v4 image metrics per window, as museval computes them for SiSEC 2018.

    Calls :func:`museval.metrics.bss_eval` with ``framewise_filters=False``
    (one set of 512-tap distortion filters for the whole signal),
    ``bsseval_sources_version=False`` and no permutation, after museval's
    ``pad_or_truncate`` of the estimates.

    Parameters
    ----------
    references, estimates : numpy.ndarray, shape (sources, channels, samples) or (sources, samples)
        True sources and their estimates, in the same order.
    sr : int
    win, hop : float
        Window length and hop in seconds.

    Returns
    -------
    dict
        ``'SDR', 'SIR', 'SAR', 'ISR'``: numpy.ndarray, shape (sources, windows),
        in dB; NaN where a window's reference or estimate is silent, where a
        value is infinite (museval writes those as NaN), and for every window
        of a source whose reference is silent over the whole signal (the
        other sources are then evaluated without it). ``'time'``: shape
        (windows,), window starts in seconds; ``'duration'``: ``win``.
    """
    import museval.metrics

    ref = _as_sources(references)
    est = _fit_length(_as_sources(estimates), ref.shape[-1])
    if est.shape[:2] != ref.shape[:2]:
        raise ValueError(f"estimates {est.shape} do not match references {ref.shape}")
    win_s, hop_s = int(win * sr), int(hop * sr)
    nwin = n_windows(ref.shape[-1], win_s, hop_s)
    out = {m: np.full((ref.shape[0], nwin), np.nan) for m in METRICS}
    keep = [j for j in range(ref.shape[0]) if not _silent(ref[j])]
    if keep:
        r = np.ascontiguousarray(ref[keep].transpose(0, 2, 1))
        e = np.ascontiguousarray(_dither_silent(est[keep]).transpose(0, 2, 1))
        sdr, isr, sir, sar, _ = museval.metrics.bss_eval(
            r, e, compute_permutation=False, window=win_s, hop=hop_s,
            framewise_filters=False, bsseval_sources_version=False)
        for name, value in zip(("SDR", "ISR", "SIR", "SAR"), (sdr, isr, sir, sar)):
            value = np.asarray(value, dtype=np.float64)
            out[name][keep] = np.where(np.isfinite(value), value, np.nan)
    out["time"] = np.arange(nwin) * float(hop)
    out["duration"] = float(win)
    return out


def nanmedian(x, axis=None):
    """Median ignoring NaN; NaN (without a warning) where everything is NaN.

    Parameters
    ----------
    x : array_like
    axis : int or None

    Returns
    -------
    float or numpy.ndarray
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.asarray(x, dtype=np.float64), axis=axis)


def _fast_bss_eval_numpy2_fix():
    """Give fast-bss-eval 0.1.4 NumPy 1's ``linalg.solve`` rule for stacks of vectors.

    fast-bss-eval calls ``np.linalg.solve(R, b)`` with ``R (..., n, n)`` and
    ``b (..., n)``, meaning a stack of vectors. NumPy < 2 read ``b`` as vectors
    whenever ``b.ndim == R.ndim - 1``; NumPy 2 reads it as vectors only when it
    is 1-D and raises otherwise. Only under NumPy 2, and only inside that one
    module, its ``np`` is replaced by a proxy whose ``linalg.solve`` applies the
    old rule (``solve(R, b[..., None])[..., 0]``); everything else is numpy.
    """
    import types

    import fast_bss_eval.numpy.metrics as metrics

    if int(np.__version__.split(".")[0]) < 2 or getattr(metrics.np, "_unetvocalsep_fix", False):
        return

    def solve(a, b):
        b = np.asarray(b)
        if b.ndim == np.ndim(a) - 1 and b.ndim > 1:
            return np.linalg.solve(a, b[..., None])[..., 0]
        return np.linalg.solve(a, b)

    class _NumpyProxy(types.ModuleType):
        _unetvocalsep_fix = True

        def __getattr__(self, name):
            return getattr(np, name)

    proxy = _NumpyProxy("numpy")
    proxy.linalg = types.SimpleNamespace(**{k: getattr(np.linalg, k) for k in dir(np.linalg)
                                            if not k.startswith("__")})
    proxy.linalg.solve = solve
    metrics.np = proxy


def bss_eval_v3(references, estimates):
    """Whole-signal BSS Eval v3 ``bss_eval_sources`` on mono signals (fast-bss-eval, numpy).

    Parameters
    ----------
    references, estimates : numpy.ndarray, shape (sources, channels, samples) or (sources, samples)
        Mixed to mono (mean over channels) first; estimates are truncated or
        zero-padded to the references' length.

    Returns
    -------
    sdr, sir, sar : numpy.ndarray, shape (sources,)
        In dB, 512-tap distortion filters, no permutation. NaN for a source
        whose reference is silent (the others are evaluated without it).
    """
    import fast_bss_eval

    _fast_bss_eval_numpy2_fix()
    ref = _as_sources(references).mean(axis=1)
    est = _fit_length(_as_sources(estimates).mean(axis=1), ref.shape[-1])
    out = [np.full(ref.shape[0], np.nan) for _ in range(3)]
    keep = [j for j in range(ref.shape[0]) if np.any(ref[j])]
    if keep:
        e = _dither_silent(est[keep][:, None, :])[:, 0, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            res = fast_bss_eval.bss_eval_sources(ref[keep], e, filter_length=512,
                                                 compute_permutation=False)
        for o, v in zip(out, res[:3]):
            v = np.asarray(v, dtype=np.float64)
            o[keep] = np.where(np.isfinite(v), v, np.nan)
    return tuple(out)


def nsdr(references, estimates, mixture, mixture_sdr=None):
    """Normalised SDR: ``SDR(estimate) - SDR(mixture)`` per source (see :func:`bss_eval_v3`).

    Parameters
    ----------
    references, estimates : numpy.ndarray, shape (sources, channels, samples)
    mixture : numpy.ndarray, shape (channels, samples)
    mixture_sdr : numpy.ndarray, shape (sources,), or None
        ``bss_eval_v3(references, [mixture] * sources)[0]`` when already known.

    Returns
    -------
    nsdr : numpy.ndarray, shape (sources,)
    sdr : numpy.ndarray, shape (sources,)
        The estimates' whole-signal v3 SDR.
    mixture_sdr : numpy.ndarray, shape (sources,)
    """
    ref = _as_sources(references)
    if mixture_sdr is None:
        mix = np.broadcast_to(_as_sources(np.asarray(mixture)[None])[0], ref.shape)
        mixture_sdr = bss_eval_v3(ref, mix)[0]
    sdr = bss_eval_v3(ref, estimates)[0]
    return sdr - mixture_sdr, sdr, mixture_sdr


# -- datasets -------------------------------------------------------------------------------
def list_tracks(dataset, root, split=None):
    """The tracks of a dataset, found by :func:`unetvocalsep.prepare.read_dataset`.

    Parameters
    ----------
    dataset : {'musdb18', 'musdb18hq', 'dsd100', 'ikala', 'medleydb', 'folder'}
        Layouts and stem rules as in :mod:`unetvocalsep.prepare` (``folder``:
        ``ROOT/<track>/{mixture,vocals,accompaniment}.wav``, what
        ``python -m unetvocalsep.synth`` writes).
    root : str
    split : str or None
        MUSDB18 / MUSDB18-HQ / DSD100 subset (see
        :data:`unetvocalsep.prepare.SPLITS`); ``None``: ``test``. Not used
        by the other datasets.

    Returns
    -------
    list of unetvocalsep.prepare.Track
        Without the tracks ``prepare`` skips (instrumental MedleyDB tracks).

    Raises
    ------
    UserError
        If ``root`` does not hold a dataset of that kind.
    """
    from . import prepare

    if dataset not in DATASETS:
        raise UserError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset in prepare.SPLITS:
        split = split or "test"
    elif split not in (None, "test"):
        raise UserError(f"--split applies to {', '.join(sorted(prepare.SPLITS))} only, not {dataset}")
    else:
        split = None
    tracks = [t for t in prepare.read_dataset(dataset, os.fspath(root), split) if t.load is not None]
    if not tracks:
        raise UserError(f"no {dataset} tracks with vocals under {root}")
    return tracks


def load_track(track):
    """Read a track's mixture and references with all their channels, at their own rate.

    The readers of :mod:`unetvocalsep.prepare` mix everything down to mono
    (the network's input); here the same files and the same stem rules are
    read without the downmix, so that the ``full`` rate is scored on the
    original channels. iKala clips give one channel per source.

    Parameters
    ----------
    track : unetvocalsep.prepare.Track

    Returns
    -------
    mixture, vocals, accompaniment : numpy.ndarray, shape (channels, samples), float32
        Same shape.
    sr : int
    """
    import functools

    from . import prepare

    load = track.load
    if load is None:
        raise UserError(f"track skipped: {track.info.get('skip', 'no loader')}")
    if isinstance(load, functools.partial) and load.func in (prepare.load_stems, prepare.load_musdb_stem):
        stems = load(mono=False)
    else:   # iKala (one channel per source) and anything else: the reader's own arrays
        stems = load()
    mix, voc, acc, sr = stems.mixture, stems.vocals, stems.accompaniment, stems.sr
    if voc is None:
        raise UserError("no isolated vocals to score against")
    arrays = prepare.match_channels([np.atleast_2d(np.asarray(x, dtype=np.float32)) for x in (mix, voc, acc)])
    n = min(a.shape[1] for a in arrays)
    if n < 0.1 * sr:
        raise AudioError(f"track too short ({n / sr:.2f} s)")
    mix, voc, acc = (np.ascontiguousarray(a[:, :n]) for a in arrays)
    return mix, voc, acc, int(sr)


# -- one track ------------------------------------------------------------------------------
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
    from .audio import to_mono16

    low = rate == "16k"
    if method == "unet":
        if separator is None:
            raise UserError("method 'unet' needs a model")
        out = separator.separate(mixture, sr, out_sr=config.SR if low else None, mono=low)
        return out["vocals"], out["accompaniment"]
    if method == "irm":
        return baselines.irm16_separate(mixture, vocals, accompaniment, sr,
                                        out_sr=config.SR if low else None, mono=low)
    if method == "irm-full":
        if low:
            raise UserError("irm-full is only defined at the full rate")
        return baselines.irm_full_separate(mixture, vocals, accompaniment, sr)
    x, xsr = (to_mono16(mixture, sr), config.SR) if low else (mixture, sr)
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
    from .audio import to_mono16

    if rate == "16k":
        return (to_mono16(mixture, sr), np.stack([to_mono16(vocals, sr), to_mono16(accompaniment, sr)]),
                config.SR)
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
        metric), ``NSDR``, ``SDR_v3``, ``SDR_v3_mixture`` (per target).
    """
    v4 = bss_eval_v4(references, estimates, sr, win, hop)
    n, sdr3, mix3 = nsdr(references, estimates, mixture, mixture_sdr)
    targets, median = [], {}
    for j, name in enumerate(TARGETS):
        frames = [{"time": float(v4["time"][t]), "duration": float(win),
                   "metrics": {m: _num(v4[m][j, t]) for m in METRICS}}
                  for t in range(len(v4["time"]))]
        targets.append({"name": name, "frames": frames})
        median[name] = {m: _num(nanmedian(v4[m][j])) for m in METRICS}
    return {"targets": targets, "median": median,
            "NSDR": {t: _num(n[j]) for j, t in enumerate(TARGETS)},
            "SDR_v3": {t: _num(sdr3[j]) for j, t in enumerate(TARGETS)},
            "SDR_v3_mixture": {t: _num(mix3[j]) for j, t in enumerate(TARGETS)}}


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else float("nan")


def result_path(results_dir, method, rate, track_name):
    """``RESULTS_DIR/<method>/<rate>/<track>.json``.

    Parameters
    ----------
    results_dir, method, rate, track_name : str

    Returns
    -------
    str
    """
    return os.path.join(os.fspath(results_dir), method, rate, track_name + ".json")


def read_result(path):
    """A per-track JSON written by :func:`evaluate_track`, or None if missing or unreadable."""
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(res, dict) or "median" not in res or "targets" not in res:
        return None
    return res


def write_result(path, result):
    """Write one result JSON atomically (NaN written as museval does: ``NaN``)."""
    from .audio import atomic_path

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


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
    from . import __version__

    mixture = np.atleast_2d(np.asarray(mixture, dtype=np.float32))
    vocals = np.atleast_2d(np.asarray(vocals, dtype=np.float32))
    accompaniment = np.atleast_2d(np.asarray(accompaniment, dtype=np.float32))
    results, cache = [], {}
    for method, rate in method_rates(methods, rates):
        path = result_path(results_dir, method, rate, name) if results_dir else None
        if path and not overwrite:
            old = read_result(path)
            if old is not None:
                results.append(old)
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
        est = np.stack([_fit_length(np.atleast_2d(est_v), refs.shape[-1]),
                        _fit_length(np.atleast_2d(est_a), refs.shape[-1])])
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


def result_rows(result):
    """The summary.csv rows of one result (one per target).

    Parameters
    ----------
    result : dict

    Returns
    -------
    list of dict
        Keys :data:`CSV_COLUMNS`.
    """
    rows = []
    for t in TARGETS:
        med = result["median"].get(t, {})
        rows.append({"method": result["method"], "rate": result["rate"], "track": result["track"],
                     "target": t, **{m: _num(med.get(m, float("nan"))) for m in METRICS},
                     "NSDR": _num(result["NSDR"].get(t, float("nan"))),
                     "seconds": float(result.get("seconds", float("nan"))),
                     "duration": float(result.get("duration", float("nan")))})
    return rows


# -- a whole dataset ------------------------------------------------------------------------
_WORKER = {}


def _init_worker(model, device, separator_kwargs):
    _WORKER.update(model=model, device=device, kwargs=separator_kwargs, separator=None)


def _worker_separator():
    if _WORKER.get("separator") is None:
        from .separate import Separator

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
            sr = config.SR
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
    from .separate import Separator

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
        from .model_io import load_model

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
        if jobs <= 1 or len(tracks) <= 1 or separator is not None:
            for t in tracks:
                done(*_track_job(t, methods, rates, results_dir, overwrite, separator))
        else:
            import concurrent.futures as cf

            from .parallel import process_pool

            _limit_threads(jobs)
            # spawned (safe with CUDA and chainer's threads), ended with this process
            with process_pool(min(jobs, len(tracks)), initializer=_init_worker,
                              initargs=(model, device, separator_kwargs)) as pool:
                futures = [pool.submit(_track_job, t, methods, rates, results_dir, overwrite) for t in tracks]
                for fut in cf.as_completed(futures):
                    done(*fut.result())
    finally:
        if bar is not None:
            bar.close()
    return results, errors


def _limit_threads(jobs):
    """Give each worker process its share of the cores (inherited at spawn)."""
    per = str(max(1, (os.cpu_count() or 1) // max(1, jobs)))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, per)


# -- summaries ------------------------------------------------------------------------------
def summarise(rows):
    """Median over tracks of the per-track medians, and GNSDR, per (method, rate).

    Parameters
    ----------
    rows : list of dict
        :func:`result_rows` of every result.

    Returns
    -------
    list of dict
        In table order: ``method``, ``rate``, ``tracks``, ``<target> <metric>``
        (median over tracks, NaN tracks ignored), ``GNSDR <target>``
        (``sum(duration * NSDR) / sum(duration)`` over tracks with a finite
        NSDR) and ``seconds per track`` (mean).
    """
    groups = {}
    for r in rows:
        groups.setdefault((r["method"], r["rate"]), []).append(r)
    order = {p: i for i, p in enumerate((m, r) for m in METHODS for r in RATES)}
    out = []
    for key in sorted(groups, key=lambda k: order.get(k, len(order))):
        g = groups[key]
        s = {"method": key[0], "rate": key[1], "tracks": len({r["track"] for r in g})}
        for t in TARGETS:
            gt = [r for r in g if r["target"] == t]
            for m in METRICS:
                s[f"{t} {m}"] = _num(nanmedian([r[m] for r in gt])) if gt else float("nan")
            ok = [r for r in gt if math.isfinite(r["NSDR"]) and r["duration"] > 0]
            w = sum(r["duration"] for r in ok)
            s[f"GNSDR {t}"] = sum(r["duration"] * r["NSDR"] for r in ok) / w if w else float("nan")
        per_track = {}
        for r in g:
            per_track[r["track"]] = r["seconds"]
        s["seconds per track"] = float(np.mean(list(per_track.values()))) if per_track else float("nan")
        out.append(s)
    return out


def markdown_table(summary):
    """The results table in Markdown.

    Parameters
    ----------
    summary : list of dict
        From :func:`summarise`.

    Returns
    -------
    str
    """
    head = ["method", "rate", "tracks", "voc SDR", "voc SIR", "voc SAR", "acc SDR", "acc SIR",
            "acc SAR", "GNSDR voc", "GNSDR acc", "s/track"]
    keys = ["vocals SDR", "vocals SIR", "vocals SAR", "accompaniment SDR", "accompaniment SIR",
            "accompaniment SAR", "GNSDR vocals", "GNSDR accompaniment"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 3 + ["---:"] * 9) + "|"]
    for s in summary:
        cells = [s["method"], s["rate"], str(s["tracks"])]
        cells += [_fmt(s[k]) for k in keys] + [f"{s['seconds per track']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _fmt(x, digits=2):
    return f"{x:.{digits}f}" if math.isfinite(x) else "nan"


def write_csv(rows, path):
    """Write summary.csv atomically (columns :data:`CSV_COLUMNS`)."""
    import csv

    from .audio import atomic_path

    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(CSV_COLUMNS)
            for r in rows:
                w.writerow([r[c] if isinstance(r[c], str) else f"{r[c]:.4f}" for c in CSV_COLUMNS])


def read_csv(path):
    """Read a summary.csv back into rows.

    Parameters
    ----------
    path : str

    Returns
    -------
    list of dict
    """
    import csv

    with open(path, newline="") as f:
        return [{k: (v if k in ("method", "rate", "track", "target") else float(v))
                 for k, v in row.items()} for row in csv.DictReader(f)]


def boxplot(rows, path, target="vocals", metric="SDR"):
    """Box plot of per-track median ``metric`` of ``target`` per (method, rate), as PNG.

    Parameters
    ----------
    rows : list of dict
    path : str
    target : str
    metric : str
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .audio import atomic_path

    labels, data = [], []
    for s in summarise(rows):
        vals = [r[metric] for r in rows if r["method"] == s["method"] and r["rate"] == s["rate"]
                and r["target"] == target and math.isfinite(r[metric])]
        labels.append(f"{s['method']}\n{s['rate']}")
        data.append(vals or [float("nan")])
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(labels) + 1), 4.0))
    ax.boxplot(data, showmeans=False)
    ax.set_xticks(range(1, len(labels) + 1))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel(f"{target} {metric} (dB, median over 1 s windows)")
    ax.set_title(f"{target} {metric} per track (BSS Eval v4)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def write_summary(results, results_dir):
    """Write summary.csv, summary.md and boxplot.png; return the Markdown table.

    Parameters
    ----------
    results : list of dict
    results_dir : str

    Returns
    -------
    str
    """
    rows = [row for res in sorted(results, key=lambda r: (r["method"], r["rate"], r["track"]))
            for row in result_rows(res)]
    write_csv(rows, os.path.join(results_dir, "summary.csv"))
    table = markdown_table(summarise(rows))
    from .audio import atomic_path

    with atomic_path(os.path.join(results_dir, "summary.md"), overwrite=True) as tmp:
        with open(tmp, "w") as f:
            f.write("Median over tracks of the per-track median over 1 s windows (BSS Eval v4, dB); "
                    "GNSDR: length-weighted mean NSDR (whole-track mono BSS Eval v3, dB).\n\n")
            f.write(table)
    if rows:
        boxplot(rows, os.path.join(results_dir, "boxplot.png"))
    return table


# -- command line ---------------------------------------------------------------------------
def get_parser():
    """The ``python -m unetvocalsep.evaluate`` argument parser."""
    from .argtypes import Parser, positive_int

    p = Parser(
        prog="python -m unetvocalsep.evaluate",
        description="Score the separator and baselines with BSS Eval v4 (museval: SDR, SIR, SAR, "
                    "ISR in 1 s windows, median) and NSDR/GNSDR, at 16 kHz mono and at the "
                    "original rate. Writes RESULTS_DIR/<method>/<rate>/<track>.json, "
                    "summary.csv, summary.md and boxplot.png; finished results are reused.")
    p.add_argument("dataset", choices=DATASETS, help="dataset layout of ROOT")
    p.add_argument("root", metavar="ROOT", help="dataset folder")
    p.add_argument("--split", default=None,
                   help="MUSDB18(-HQ): test, train, valid, train+valid, all; DSD100: test, dev, "
                        "all (default: test)")
    p.add_argument("--model", default=None, help="model npz (default: the bundled model)")
    p.add_argument("--method", action="append", choices=METHODS, dest="methods",
                   help="method to run; repeat for several (default: all)")
    p.add_argument("--rate", action="append", choices=RATES, dest="rates",
                   help="evaluation rate; repeat for both (default: 16k and full)")
    p.add_argument("-o", "--results-dir", default="results", help="output folder (default: results)")
    p.add_argument("-j", "--jobs", type=positive_int, default=1, help="tracks in parallel (processes)")
    p.add_argument("--device", default="-1", help="-1 for the CPU, 0 for the first GPU")
    p.add_argument("--max-tracks", type=positive_int, default=None, help="only the first N tracks")
    p.add_argument("--hard-mask", action="store_true", help="the model's binary mask (mask > 0.5)")
    p.add_argument("--overwrite", action="store_true", help="recompute finished results")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _main(argv=None):
    args = get_parser().parse_args(argv)
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.max_tracks is not None and args.max_tracks < 1:
        raise UserError("--max-tracks must be at least 1")

    def report(name, msg):
        print(f"unetvocalsep.evaluate: error: track {name}: {msg}", file=sys.stderr)

    results, errors = evaluate_dataset(
        args.dataset, args.root, args.split, methods=args.methods or METHODS,
        rates=args.rates or RATES, model=args.model, results_dir=args.results_dir,
        jobs=args.jobs, device=args.device, max_tracks=args.max_tracks,
        overwrite=args.overwrite, progress=not args.no_progress,
        separator_kwargs={"hard_mask": args.hard_mask}, on_error=report)
    if results:
        table = write_summary(results, args.results_dir)
        print(table, end="")
        print(f"results: {args.results_dir}{os.sep} (summary.csv, summary.md, boxplot.png)")
    if errors:
        print(f"unetvocalsep.evaluate: {len(errors)} track(s) failed: "
              f"{', '.join(n for n, _ in errors)}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.evaluate``; returns the exit status."""
    from .errors import run_cli

    return run_cli(_main, argv, prog="unetvocalsep.evaluate")


if __name__ == "__main__":
    raise SystemExit(main())
