#!/usr/bin/env bash
# Reproduce the bundled default model (docs/MODEL.md) from nothing.
#
#   scripts/train_default_model.sh [WORKDIR]
#
# Needs the [synth] extra, scripts/install-system-deps.sh and
# scripts/install-corpus-deps.sh (the Debian game-music beds). Three stages, each
# resumable (run the script again after a stop):
# 0. the synthetic-corpus model (the bundled model until 2026-12): 120 x 30 s
#    synthetic songs (seed 1), 12 held out (seed 2), 3,000 iterations at batch 16;
# 1. the real-music corpus (10.85 h over Debian game music, plus synthetic songs)
#    and 5,000 iterations at batch 16 from stage 0 (scripts/train_real_model.sh);
# 2. 2,000 iterations at batch 64 with Adam's alpha lowered linearly 1e-3 -> 1e-4
#    (--final-alpha), from stage 1;
# then the float16 copy of stage 2's final model goes into unetvocalsep/models/.
# About 1.2 h (stage 0) + 20 min (corpus) + 1 h (stage 1) + 1.5 h (stage 2) on 2 cores.
set -euo pipefail
WORK=${1:-work/default-model}
mkdir -p "$WORK"
python -m unetvocalsep.synth -o "$WORK/corpus/train" --tracks 120 --seconds 30 --seed 1 -j 2
python -m unetvocalsep.synth -o "$WORK/corpus/valid" --tracks 12 --seconds 30 --seed 2 -j 2
python -m unetvocalsep.prepare folder "$WORK/corpus/train" -o "$WORK/cache/train"
python -m unetvocalsep.prepare folder "$WORK/corpus/valid" -o "$WORK/cache/valid"
if [ ! -f "$WORK/stage0/unet.npz" ]; then
  python -m unetvocalsep.train "$WORK/cache/train" --validation "$WORK/cache/valid" \
      -o "$WORK/stage0" --batchsize 16 --iteration 3000 --seed 0 \
      --log-interval 25 --snapshot-interval 250
fi
INIT_MODEL="$WORK/stage0/unet.npz" bash "$(dirname "$0")/train_real_model.sh" "$WORK/real" 2000 5000
python scripts/export_model.py "$WORK/real/stage2/unet.npz" unetvocalsep/models/default.npz --float16
