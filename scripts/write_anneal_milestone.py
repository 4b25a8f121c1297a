"""Write issue 26's stage-2 milestone from a stage-2 run: the moving average, float16.

    python scripts/write_anneal_milestone.py WORKDIR/stage2-anneal

Reads ``unet_ema.npz`` + ``unet_ema.json`` of the run (written at each snapshot) and
writes ``models/milestones/issue26-anneal.npz`` + ``.json``, whose json records the
stage-2 iterations done and the alpha reached (``anneal_iterations_done``,
``alpha_now``), so that ``scripts/anneal_singing_model.sh`` continues the schedule on
a new machine. A run that started at the schedule's beginning (alpha 1e-3) counts
from the stage-1 milestone; one that started from this milestone (alpha below 1e-3)
adds to it.
"""
import argparse
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TOTAL, ALPHA0, ALPHA1 = 4625, 1e-3, 1e-5
MILESTONES = os.path.join(ROOT, "models", "milestones")


def main(argv=None):
    from unetvocalsep.model_io import load_model, save_model

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", help="the stage-2 output folder (unet_ema.npz + unet_ema.json)")
    p.add_argument("--milestones", default=MILESTONES,
                   help="the folder of issue26-stage1.json and issue26-anneal.* (default: %(default)s)")
    args = p.parse_args(argv)
    stage1_json = os.path.join(args.milestones, "issue26-stage1.json")
    out_base = os.path.join(args.milestones, "issue26-anneal")
    with open(os.path.join(args.run, "unet_ema.json")) as f:
        cfg = json.load(f)
    start = cfg.get("adam_alpha")   # runs before 2026-12-07 (eighth session): in words only
    if start is None:
        start = float(re.match(r"Adam \(alpha ([0-9.e+-]+) linearly to ", cfg["optimizer"]).group(1))
    with open(stage1_json) as f:
        stage1 = json.load(f)
    if abs(start - ALPHA0) < 1e-12:      # the run began the schedule
        done, seconds = 0, stage1["training_seconds"]
    else:                                # the run went on from this milestone
        with open(out_base + ".json") as f:
            prev = json.load(f)
        if abs(prev["alpha_now"] - start) > 1e-9:
            sys.exit(f"the run started at alpha {start:g}, the milestone is at {prev['alpha_now']:g}")
        done, seconds = prev["anneal_iterations_done"], prev["training_seconds"]
    done += cfg["iterations"]
    total_iterations = stage1["iterations"] + done
    out = dict(stage1)
    out.update(
        iterations=total_iterations, iterations_this_run=cfg["iterations"],
        anneal_iterations_done=done, anneal_iterations_total=TOTAL,
        alpha_now=ALPHA0 + (ALPHA1 - ALPHA0) * done / TOTAL,
        optimizer=f"Adam, alpha {ALPHA0:g} linearly to {ALPHA1:g} over {TOTAL:,} iterations "
                  "(stage 2), other hyperparameters chainer defaults",
        seed=cfg["seed"], processes=cfg["processes"], batchsize=cfg["batchsize"],
        training_seconds=seconds + cfg["training_seconds"],
        weights="exponential moving average", ema_decay=cfg.get("ema_decay"),
        note=(f"issue 26 stage 2 after {done:,} of its {TOTAL:,} iterations "
              f"({total_iterations:,} in issue 26's line, {64 * total_iterations:,} crops): "
              "from the stage-1 moving average at 11,000 iterations, Adam's alpha falling "
              f"linearly from {ALPHA0:g} to {ALPHA1:g} (scripts/anneal_singing_model.sh); "
              "these are the moving average (decay 0.999) of the weights; research and "
              "non-commercial terms (MIR-1K, MUSDB18)"))
    unet, _ = load_model(os.path.join(args.run, "unet_ema.npz"))
    save_model(out_base + ".npz", unet, out, dtype="float16")
    print(f"{out_base}.npz: stage 2 at {done:,} / {TOTAL:,}, alpha {out['alpha_now']:.3g}, "
          f"{total_iterations:,} iterations, {out['training_seconds']:,.0f} s of training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
