#!/usr/bin/env bash
# Reproduce the bundled default model (docs/MODEL.md) from nothing.
#
#   scripts/train_default_model.sh [WORKDIR] [ITERATIONS]
#
# Needs the [synth] extra and the Debian packages of scripts/install-system-deps.sh.
# 1. a synthetic corpus: 120 x 30 s tracks (seed 1) for training and 12 x 30 s
#    tracks (seed 2) held out for validation and the model card's scores;
# 2. the spectrogram caches;
# 3. training with the project's own train command (CPU), batch 16;
# 4. the float16 copy that ships in unetvocalsep/models/.
set -euo pipefail
WORK=${1:-work/default-model}
ITERS=${2:-3000}
mkdir -p "$WORK"
python -m unetvocalsep.synth -o "$WORK/corpus/train" --tracks 120 --seconds 30 --seed 1 -j 2
python -m unetvocalsep.synth -o "$WORK/corpus/valid" --tracks 12 --seconds 30 --seed 2 -j 2
python -m unetvocalsep.prepare folder "$WORK/corpus/train" -o "$WORK/cache/train"
python -m unetvocalsep.prepare folder "$WORK/corpus/valid" -o "$WORK/cache/valid"
python -m unetvocalsep.train "$WORK/cache/train" --validation "$WORK/cache/valid" \
    -o "$WORK/result" --batchsize 16 --iteration "$ITERS" --seed 0 \
    --log-interval 25 --snapshot-interval 250
python scripts/export_model.py "$WORK/result/unet.npz" unetvocalsep/models/default.npz --float16
