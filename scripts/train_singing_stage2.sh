#!/usr/bin/env bash
# Issue 26, stage 2: more commercial-song crops, a moving average of the weights,
# and each validation set's loss in the log. Runs on the caches that
# scripts/train_singing_model.sh built, resuming after any stop.
#
#   scripts/train_singing_stage2.sh WORKDIR INIT_MODEL [ITERATIONS] [WEIGHTS...]
#
# INIT_MODEL  stage 1's weights to start from (its snapshots keep Adam's
#             moments for stage 1 only: stage 2 is a new run with new data weights)
# WEIGHTS     crop weights of cache/mir1k, cache/musdb, cache/realmix
#             (default 1 4 1: MUSDB18 train previews from 10 % to 31 % of the crops,
#             MIR-1K 55 -> 42 %, issue 12's songs 35 -> 27 %; docs/MODEL.md)
set -euo pipefail
W=${1:?work folder}
INIT=${2:?stage 1 model}
ITERS=${3:-8000}
shift $(( $# < 3 ? $# : 3 ))
WEIGHTS=("$@")
[ ${#WEIGHTS[@]} -eq 0 ] && WEIGHTS=(1 4 1)
PY=${PYTHON:-python}
OUT=${OUT:-$W/stage2}
. "$(dirname "$0")/singing-run-setup.sh"
singing_sets "$W"
last=$(ls -t "$OUT"/snapshot_iter_* 2>/dev/null | head -1 || true)
if [ -n "$last" ]; then START=(--resume "$last"); else START=(--init-model "$INIT"); fi
$PY -m unetvocalsep.train "${DATA[@]}" --weights "${WEIGHTS[@]}" --validation "${VAL[@]}" \
    -o "$OUT" --batchsize 64 --iteration "$ITERS" --seed 27 --ema 0.999 \
    --log-interval 50 --snapshot-interval 100 --no-progress "${START[@]}"
