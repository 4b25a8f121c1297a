"""Make an issue-26 milestone the bundled default model (issue 26, "Ship").

    python scripts/ship_singing_model.py MILESTONE_NPZ FIGURES_JSON [--models-dir DIR]

MILESTONE_NPZ  models/milestones/issue26-stage1.npz (its json gives the iterations
               and training seconds of the real-singing stage)
FIGURES_JSON   the test report's figures (scripts/evaluate_milestone.sh), e.g.
               {"musdb_test_whole_clip_sdr_db": 4.47, "leakage_db": -31.66, ...}

Writes unetvocalsep/models/default.npz (float16) and default.json (or into
``--models-dir``, which must hold free.json): the settings,
the stages of the whole training (the model `free`'s three, then this one), the
figures and the licence.  The model `free` (free.npz/json) must be there: it is
what the real-singing stage started from.  Afterwards regenerate the fingerprint
(python tests/separation_fingerprint.py) and update README.md and docs/MODEL.md.
"""
import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from unetvocalsep.model_io import load_model, save_model  # noqa: E402

KEEP = ('architecture', 'hop', 'n_bins', 'n_fft', 'patch', 'sr', 'target', 'win_length',
        'ema_decay', 'seed', 'train_frames', 'train_tracks', 'validation_tracks', 'optimizer',
        'processes')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('npz', help='the milestone to ship')
    p.add_argument('figures', help="a json of the test report's figures")
    p.add_argument('--models-dir', default=os.path.join(ROOT, 'unetvocalsep', 'models'))
    args = p.parse_args(argv)
    npz, models = args.npz, args.models_dir
    with open(args.figures) as f:
        figs = json.load(f)
    unet, cfg = load_model(npz)
    with open(os.path.join(models, 'free.json')) as f:
        free = json.load(f)
    n = int(cfg['iterations'])
    out = {k: cfg[k] for k in KEEP if k in cfg}
    out.update({
        'batchsize': 64,
        'iterations': n,
        'training_seconds': round(float(cfg['training_seconds']), 1),
        'weights': 'exponential moving average (decay 0.999) of the stage-3 weights',
        'data': [
            'MIR-1K, 12 training singers (688 clips), pitch-shifted -3/+3 semitones, '
            '700 re-mixes: 8.76 h',
            'MUSDB18 train previews (80 of 94, no validation track), -2/+2 semitones, '
            '240 re-mixes: 1.83 h',
            "500 of issue 12's songs over real game music (synth --real train --seed 12): 4.17 h",
        ],
        'stages': free['stages'] + [
            "3: real singing (issue 26: MIR-1K, MUSDB18 train previews, 500 songs over game "
            f"music), {n:,} iterations at batch 64 from stage 2, Adam's defaults, moving "
            "average of the weights"],
        'total_iterations': free['total_iterations'] + n,
        'total_crops': free['total_crops'] + 64 * n,
        'held_out_figures': figs,
        'licence': ('research and non-commercial use only: trained on MIR-1K (published for '
                    'research) and the MUSDB18 previews (research and non-commercial, each '
                    'track with its own licence), and on GPL-2+/GPL-3+/CC-BY-SA/CC-BY game '
                    "music and voices; the model 'free' is trained on free data only "
                    '(docs/MODEL.md)'),
        'exported_from': f'{os.path.relpath(os.path.abspath(npz), ROOT)} ({n:,} iterations of '
                         'issue 26 stage 1)',
    })
    save_model(os.path.join(models, 'default.npz'), unet, out, dtype='float16')
    print(f"default.npz: {out['total_iterations']:,} iterations, {out['total_crops']:,} crops")
    return 0


if __name__ == '__main__':
    sys.exit(main())
