"""Fine-tune a model on your own song + instrumental pairs, and say honestly whether it helped.

``finetune(pairs, out)`` is the plain function; ``python -m unetvocalsep.finetune``
wraps it. What it does, in order (docs/FINETUNE.md has the details and the
measured figures):

1. each pair is aligned, scaled, checked and trimmed (:mod:`unetvocalsep.training.pairs`);
   the last ``val_fraction`` of every pair is held out;
2. the held-out validation loss and vocal SDR/SIR/SAR of the starting model
   (the bundled one, or ``init_model``) are measured;
3. the article's training (L1 on ``X * mask``, random 128-frame crops, Adam)
   runs for a time budget, ``minutes``; the validation loss is measured
   every ``eval_seconds``, the best checkpoint is kept, and training stops
   early after ``patience`` measurements without improvement;
4. the same figures are measured for the best checkpoint, and
   ``OUT/report.md`` / ``report.json`` say whether fine-tuning helped.
   ``OUT/unet.npz`` + ``unet.json`` is the fine-tuned model if it did, the
   starting model (with a note) if it did not.

An interrupted run (Ctrl-C, ``kill``) keeps ``OUT/snapshot``; ``resume=True``
(``--resume``) continues it with the time that was left.
"""
import contextlib
import json
import os
import sys
import time

import numpy as np

from ..errors import UserError
from ..fast import allocator
from ..files import atomic_path, check_writable_folder
from ..limits import check_batch_size
from .validation import HeldOutValidation, loss_change, save_copy, validation_loss

#: Defaults shared by :func:`finetune` and the command line.
MINUTES = 15.0
VAL_FRACTION = 0.15
BATCHSIZE = 16
PATIENCE = 4

#: The default amount of training when neither ``minutes`` nor
#: ``max_iterations`` is given: this many passes of random 128-frame crops
#: over the training audio, at least :data:`MIN_ITERATIONS` iterations, within
#: :data:`MINUTES`. Chosen from docs/FINETUNE.md's two measured families:
#: the held-out SDR rose after about 220-250 passes (69 iterations of batch 16
#: on 2 x 10 s, 173 on 46 s) and not after 100 (32 iterations on 2 x 10 s).
PASSES = 300
MIN_ITERATIONS = 60

#: Below this much held-out audio the verdict is flagged as resting on too little.
MIN_HELDOUT_SECONDS = 20.0


def default_iterations(train_seconds, batchsize=BATCHSIZE, passes=PASSES):
    """The default iteration budget for ``train_seconds`` of training audio.

    Parameters
    ----------
    train_seconds : float
    batchsize : int
    passes : float

    Returns
    -------
    int

    Examples
    --------
    >>> default_iterations(20.4), default_iterations(600.0)
    (94, 2747)
    """
    crops_per_pass = train_seconds * 16000 / 512 / 128
    return max(MIN_ITERATIONS, int(np.ceil(passes * crops_per_pass / batchsize)))


def finetune(pairs, out, minutes=None, init_model=None, device=-1, rule="difference",
             val_fraction=VAL_FRACTION, batchsize=BATCHSIZE, patience=PATIENCE,
             eval_seconds=None, resume=False, overwrite=False, progress=True, seed=0,
             max_offset_s=None, log=None, max_iterations=None, keep_snapshot=False,
             float16=True):
    """Fine-tune a model on song + instrumental pairs within a budget scaled to the data.

    Parameters
    ----------
    pairs : list of (str, str)
        ``(song, instrumental)`` paths (see :func:`unetvocalsep.training.pairs.find_pairs`
        for a folder).
    out : str
        Output folder: ``unet.npz`` + ``unet.json``, ``report.md`` +
        ``report.json``, ``best.npz``, ``snapshot``, ``cache/``.
    minutes : float or None
        Training time budget (wall clock, resumed runs included). With
        neither ``minutes`` nor ``max_iterations``, the budget is
        :func:`default_iterations` of the training audio (:data:`PASSES`
        passes of crops) within :data:`MINUTES` minutes.
    init_model : str or None
        Starting weights; the bundled model when ``None``.
    device : int or str
        ``-1`` CPU, ``0`` first GPU.
    rule : {'difference', 'article'}
        Vocal target (see :mod:`unetvocalsep.training.pairs`).
    val_fraction : float
        The last part of every pair held out for validation, in (0, 0.5].
    batchsize : int
    patience : int
        Validation measurements without improvement before an early stop.
    eval_seconds : float or None
        Time between validation measurements; ``minutes * 60 / 12`` (at
        least 10 s) when ``None``.
    resume : bool
        Continue from ``OUT/snapshot``.
    overwrite : bool
        Use an ``out`` that already holds a model.
    progress : bool
        A progress bar in minutes.
    seed : int
    max_offset_s : float or None
        Alignment search range (:data:`unetvocalsep.training.pairs.MAX_OFFSET_S`).
    log : callable or None
        Receives each line of the report (default: print to stderr).
    max_iterations : int or None
        Also stop after this many training iterations (resumed ones
        included), whichever of the two budgets ends first: the same amount
        of training on a fast and a slow machine.
    keep_snapshot : bool
        Keep ``OUT/snapshot``, ``best.npz`` and the spectrogram cache after a
        run that finished (they are removed otherwise; an interrupted run
        keeps them for ``resume``).
    float16 : bool
        Store ``unet.npz`` in float16 (half the size, as the bundled model).

    Returns
    -------
    dict
        The report (what ``report.json`` holds): ``helped``, ``before`` /
        ``after`` (``validation_loss`` and vocal ``SDR``/``SIR``/``SAR``),
        ``verdict`` (``helped``, ``uncertain``: the loss fell by less than its
        95 % interval, or ``did not help``), ``heldout`` (seconds, the loss
        change and its interval), ``pairs`` (offset, gain, correlation,
        hash), ``training`` (iterations, seconds, stopped early, budget).

    Examples
    --------
    >>> from unetvocalsep.finetune import finetune
    >>> report = finetune([("song.wav", "song_instrumental.wav")], "mymodel",
    ...                   minutes=5)                                # doctest: +SKIP
    >>> report["helped"], report["after"]["validation_loss"]      # doctest: +SKIP
    (True, 0.0061)
    """
    from .. import _compat  # noqa: F401
    from chainer import iterators, optimizers, training

    from .cache import SpectrogramDataset, save_example
    from ..device import get_device
    from ..fast.fastunet import for_device
    from ..model_io import DEFAULT_MODEL, load_model
    from .snapshots import load_snapshot
    from ..network import UNetTrainmodel
    from .pairs import MAX_OFFSET_S, load_pair, pair_example, sha256
    from .extensions import StopOnNonFiniteLoss

    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if not pairs:
        raise UserError("no pairs given (--pair SONG INSTRUMENTAL, or a folder)")
    if minutes is not None and not (isinstance(minutes, (int, float)) and not isinstance(minutes, bool)
                                    and np.isfinite(minutes) and minutes > 0):
        raise UserError(f"minutes must be a positive number, got {minutes!r}")
    if not 0 < val_fraction <= 0.5:
        raise UserError("the held-out fraction must be in (0, 0.5]")
    if max_iterations is not None and (isinstance(max_iterations, bool) or
                                       not isinstance(max_iterations, (int, np.integer))
                                       or max_iterations < 1):
        raise UserError(f"max_iterations must be a positive integer, got {max_iterations!r}")
    check_batch_size(batchsize)
    out = os.fspath(out)
    check_writable_folder(out)
    if os.path.exists(os.path.join(out, "unet.npz")) and not (overwrite or resume):
        raise UserError(f"{os.path.join(out, 'unet.npz')} exists (use --overwrite, or --resume "
                        "to continue)")
    snapshot = os.path.join(out, "snapshot")
    if resume and not os.path.isfile(snapshot):
        raise UserError(f"nothing to resume: no {snapshot}")
    names = [os.path.splitext(os.path.basename(s))[0] for s, _ in pairs]
    if len(set(names)) != len(names):
        raise UserError("two pairs have the same song name; rename one")

    loaded = []
    for song, inst in pairs:
        p = load_pair(song, inst, MAX_OFFSET_S if max_offset_s is None else max_offset_s)
        p["paths"] = (os.path.abspath(song), os.path.abspath(inst))
        loaded.append(p)
        say(f"{p['name']}: instrumental offset {p['offset_s']:+.4f} s ({p['offset_samples']:+d} "
            f"samples at {p['sr']} Hz), gain {p['gain']:.3f}, correlation {p['correlation']:.3f}, "
            f"vocal residual {p['residual_db']:+.1f} dB, silence trimmed: "
            f"{p['trimmed_s'][0]:.2f} s at the start, {p['trimmed_s'][1]:.2f} s at the end")
    train_dir, val_dir = os.path.join(out, "cache", "train"), os.path.join(out, "cache", "val")
    split = 1 - val_fraction
    for p in loaded:
        save_example(train_dir, p["name"], pair_example(p, rule, 0.0, split))
        save_example(val_dir, p["name"], pair_example(p, rule, split, 1.0))
    train_set = SpectrogramDataset(train_dir, random=True, seed=seed)
    val_set = SpectrogramDataset(val_dir, random=False)
    lengths = [p["song"].shape[1] / p["sr"] for p in loaded]
    train_seconds = sum(split * n for n in lengths)
    heldout_seconds = sum(val_fraction * n for n in lengths)
    budget_note = "given"
    if minutes is None and max_iterations is None:
        max_iterations = default_iterations(train_seconds, batchsize)
        budget_note = (f"default: {PASSES} passes of crops over {train_seconds:.1f} s of "
                       f"training audio = {max_iterations} iterations, within {MINUTES:g} min")
    if minutes is None:
        minutes = MINUTES
    say(f"budget: {max_iterations or 'no'} iterations / {minutes:g} min ({budget_note}); "
        f"held out: {heldout_seconds:.1f} s")

    np.random.seed(seed)
    dev = get_device(device)
    if dev.xp is np:
        allocator.keep_freed_memory()  # see allocator.py: no page faults per step
    start_path = DEFAULT_MODEL if init_model is None else os.fspath(init_model)
    unet, start_cfg = load_model(start_path)
    unet = for_device(unet, dev.xp)   # the fast CPU kernels, chosen once
    start_weights = unet.copy(mode="copy")
    unet.to_device(dev)
    say("measuring the starting model on the held-out parts ...")
    before = {"validation_loss": validation_loss(unet, val_set, dev)}
    if not np.isfinite(before["validation_loss"]):   # NaN is never a verdict
        raise UserError(f"the held-out loss is {before['validation_loss']}: the validation "
                        f"audio gives no usable target; check the pairs")
    before.update(heldout_scores(start_weights, loaded, val_fraction) or {})

    cfg = dict(start_cfg)
    for k in ("note", "iterations", "epoch_detail", "training_seconds", "validation_loss"):
        cfg.pop(k, None)
    cfg.update(finetuned_from=os.path.abspath(start_path), finetuned_from_sha256=sha256(start_path),
               target="vocal", target_rule=rule, batchsize=batchsize, minutes=minutes,
               val_fraction=val_fraction, optimizer="Adam (chainer defaults)", seed=seed,
               pairs=[{"name": p["name"], "song": os.path.basename(p["paths"][0]),
                       "instrumental": os.path.basename(p["paths"][1]),
                       "song_sha256": sha256(p["paths"][0]),
                       "instrumental_sha256": sha256(p["paths"][1]),
                       "offset_samples": p["offset_samples"], "offset_s": round(p["offset_s"], 6),
                       "sr": p["sr"], "gain": round(p["gain"], 6),
                       "correlation": round(p["correlation"], 4)} for p in loaded])

    model = UNetTrainmodel(unet)
    optimizer = optimizers.Adam()
    optimizer.setup(model)
    updater = training.updaters.StandardUpdater(iterators.SerialIterator(train_set, batchsize),
                                                optimizer, device=dev)
    budget = float(minutes) * 60
    eval_s = max(10.0, budget / 12) if eval_seconds is None else float(eval_seconds)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(float(minutes), 2), unit="min", desc="fine-tune",
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} min")
    validate = HeldOutValidation(unet, val_set, dev, out, cfg, eval_s, patience, before["validation_loss"],
                         bar, budget, max_iterations)
    def stop(t):
        return (t.elapsed_time >= budget or validate.stop
                or (max_iterations is not None and t.updater.iteration >= max_iterations))

    trainer = training.Trainer(updater, stop, out=out)
    trainer.extend(StopOnNonFiniteLoss())
    trainer.extend(validate)
    if resume:
        load_snapshot(snapshot, trainer)
    t0 = time.time()
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            trainer.run(show_loop_exception_msg=False)
    finally:
        if bar is not None:
            bar.close()
    best_path = os.path.join(out, "best.npz")
    if not np.isfinite(validate.best):
        raise UserError(f"the held-out loss became {validate.best} during fine-tuning; "
                        f"no verdict and no model (try a lower learning rate)")
    improved = validate.best < before["validation_loss"] and os.path.exists(best_path)
    if improved:
        best_unet, _ = load_model(best_path)
        after = {"validation_loss": validate.best}
        after.update(heldout_scores(best_unet, loaded, val_fraction) or {})
        change = loss_change(start_weights, best_unet, val_set)
    else:
        best_unet, after = start_weights, dict(before)
        change = {"relative": 0.0, "interval": 0.0, "seconds": 0.0}
    if not improved:
        verdict = "did not help"
    elif change["relative"] + change["interval"] < 0:
        verdict = "helped"
    else:
        verdict = "uncertain"
    helped = verdict == "helped"
    result_cfg = dict(cfg, iterations=validate.best_iteration if improved else 0,
                      training_seconds=round(float(trainer.elapsed_time), 1),
                      finetune_helped=helped, finetune_verdict=verdict,
                      validation_loss=after["validation_loss"], minutes=minutes,
                      max_iterations=max_iterations)
    if not improved:
        result_cfg["note"] = ("fine-tuning did not lower the held-out loss; these are the "
                              "starting model's weights")
    elif not helped:
        result_cfg["note"] = ("fine-tuning lowered the held-out loss by less than its "
                              "uncertainty; listen before trusting it")
    save_copy(best_unet, os.path.join(out, "unet.npz"), result_cfg,
          dtype="float16" if float16 else None)
    report = {"helped": helped, "verdict": verdict, "before": before, "after": after,
              "heldout": dict(change, seconds=round(heldout_seconds, 2),
                              enough=heldout_seconds >= MIN_HELDOUT_SECONDS),
              "pairs": cfg["pairs"], "settings": {k: result_cfg[k] for k in (
                  "target_rule", "batchsize", "minutes", "max_iterations", "val_fraction", "seed")},
              "start_model": cfg["finetuned_from"],
              "training": {"iterations": int(updater.iteration),
                           "best_iteration": validate.best_iteration,
                           "seconds": round(float(trainer.elapsed_time), 1),
                           "this_run_seconds": round(time.time() - t0, 1),
                           "stopped_early": bool(validate.stop), "budget": budget_note,
                           "validations": validate.history}}
    _write_report(out, report)
    if not keep_snapshot:   # a finished run: only the model and the report stay
        import shutil

        for name in ("snapshot", "best.npz", "best.json"):
            with contextlib.suppress(OSError):
                os.remove(os.path.join(out, name))
        shutil.rmtree(os.path.join(out, "cache"), ignore_errors=True)
    for line in report_lines(report):
        say(line)
    return report


def report_lines(report):
    """The report as lines of Markdown (what ``report.md`` holds).

    Parameters
    ----------
    report : dict
        As returned by :func:`finetune`.

    Returns
    -------
    list of str
    """
    b, a, t = report["before"], report["after"], report["training"]
    h = report.get("heldout", {})
    verdict = report.get("verdict", "helped" if report["helped"] else "did not help")
    head = {
        "helped": "**Fine-tuning helped**: the held-out loss went down by more than its "
                  "uncertainty, and `unet.npz` is the fine-tuned model.",
        "uncertain": "**Fine-tuning may not have helped**: the held-out loss went down, but "
                     "by less than its uncertainty; `unet.npz` is the fine-tuned model: "
                     "listen to a song of yours before trusting it.",
        "did not help": "**Fine-tuning did not help**: the held-out loss did not go down, so "
                        "`unet.npz` is the starting model, unchanged."}[verdict]
    lines = ["# Fine-tuning report", "", head, ""]
    if h:
        rel, half = 100 * h.get("relative", 0.0), 100 * h.get("interval", 0.0)
        lines += [f"The verdict rests on {h.get('seconds', 0):.1f} s of held-out audio (the last "
                  f"part of every pair): held-out loss {rel:+.0f} % (95 % interval ±{half:.0f} %, "
                  f"over {h.get('chunks', 0)} one-second chunks)."
                  + ("" if h.get("enough", True) else
                     f" **That is under {MIN_HELDOUT_SECONDS:g} s**: too little to tell whether "
                     "it generalises; give more or longer pairs, or a larger --val-fraction."), ""]
    lines += [
             f"Trained {t['iterations']} iterations in {t['seconds'] / 60:.1f} min"
             f"{' (stopped early: no improvement)' if t['stopped_early'] else ''}; "
             f"best at iteration {t['best_iteration']}"
             f"{'; budget: ' + t['budget'] if t.get('budget') else ''}.", "",
             "| held-out parts | before | after |", "|---|---|---|",
             f"| validation loss | {b['validation_loss']:.5f} | {a['validation_loss']:.5f} |"]
    for m in ("SDR", "SIR", "SAR"):
        if m in b and m in a:
            lines.append(f"| vocal {m} (dB, median) | {b[m]:.2f} | {a[m]:.2f} |")
    if "SDR" not in b:
        lines.append("| vocal SDR/SIR/SAR | install `unetvocalsep[eval]` | |")
    lines += ["", "| pair | offset (s) | gain | correlation |", "|---|---|---|---|"]
    lines += [f"| {p['name']} | {p['offset_s']:+.4f} | {p['gain']:.3f} | {p['correlation']:.3f} |"
              for p in report["pairs"]]
    return lines


def _write_report(out, report):
    with atomic_path(os.path.join(out, "report.json"), overwrite=True) as tmp:
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    with atomic_path(os.path.join(out, "report.md"), overwrite=True) as tmp:
        with open(tmp, "w") as f:
            f.write("\n".join(report_lines(report)) + "\n")


def heldout_scores(model, pairs, val_fraction):
    """Vocal SDR / SIR / SAR (BSS Eval v3, whole signal) of a model on the held-out parts.

    Parameters
    ----------
    model : str, UNet or None
    pairs : list of dict
        From :func:`unetvocalsep.training.pairs.load_pair`.
    val_fraction : float

    Returns
    -------
    dict or None
        ``{'SDR', 'SIR', 'SAR'}``: medians over the pairs in dB, and
        ``per_pair``; ``None`` when fast-bss-eval (the ``[eval]`` extra) is
        not installed.
    """
    try:
        import fast_bss_eval  # noqa: F401
    except ImportError:
        return None
    from ..evaluation.metrics import bss_eval_v3
    from ..separator import Separator

    sep = Separator(model)
    rows = []
    for p in pairs:
        n = p["song"].shape[1]
        a = int(round((1 - val_fraction) * n))
        song, voc, inst = p["song"][:, a:], p["vocals"][:, a:], p["instrumental"][:, a:]
        est = sep.separate(song, p["sr"])
        sdr, sir, sar = bss_eval_v3(np.stack([voc, inst]), np.stack([est["vocals"],
                                                                     est["accompaniment"]]))
        rows.append({"pair": p["name"], "SDR": float(sdr[0]), "SIR": float(sir[0]),
                     "SAR": float(sar[0])})
    med = {m: float(np.nanmedian([r[m] for r in rows])) for m in ("SDR", "SIR", "SAR")}
    return dict(med, per_pair=rows)
