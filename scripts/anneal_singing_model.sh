#!/usr/bin/env bash
# Issue 26, stage 2: the last 4,625 iterations of 64 crops (to 1,000,000 crops in
# issue 26's line), with Adam's alpha falling linearly from 1e-3 to 1e-5, from the
# moving average at 11,000 iterations (models/milestones/issue26-stage1.npz).
# Stage 1 (scripts/train_singing_model.sh, alpha 1e-3 throughout) had reached a
# plateau of the validation loss; a falling step is the usual last leg.
# (Not the third session's scripts/train_singing_stage2.sh, a --weights experiment
# that was dropped: that one writes WORKDIR/stage2, this one WORKDIR/stage2-anneal.)
#
#   scripts/anneal_singing_model.sh WORKDIR
#
# WORKDIR is train_singing_model.sh's: it needs its caches (run that script first,
# with 0 iterations on a new machine, to build them). Snapshots go to
# WORKDIR/stage2-anneal and a stopped run resumes from them. On a new machine
# (snapshots gone) the run starts again from the newest committed stage-2
# milestone, models/milestones/issue26-anneal.npz, with the alpha its json records
# and the iterations left; else from the stage-1 milestone.
# NPROC=2 as in stage 1 (ChainerMN, 2 processes x 32 crops); NPROC=1 runs one process.
set -euo pipefail
W=${1:?work folder (train_singing_model.sh WORKDIR)}
PY=${PYTHON:-python}
NPROC=${NPROC:-2}
TOTAL=4625 ALPHA0=1e-3 ALPHA1=1e-5
. "$(dirname "$0")/singing-run-setup.sh"
singing_launch "$PY" "$NPROC"
singing_sets "$W"
for d in "${DATA[@]}" "${VAL[@]}"; do
  [ -d "$d" ] || { echo "no $d: run scripts/train_singing_model.sh first" >&2; exit 2; }
done
STAGE=$W/stage2-anneal$([ "$NPROC" -eq 2 ] || echo "-np$NPROC")   # a snapshot resumes with its NPROC
last=$(ls -t "$STAGE"/snapshot_iter_* 2>/dev/null | head -1 || true)
M2=models/milestones/issue26-anneal
if [ -n "$last" ]; then
  START=(--resume "$last"); ITERS=$TOTAL; A0=$ALPHA0
elif [ -f "$M2.npz" ]; then   # the schedule goes on from where the milestone left it
  read -r DONE A0 < <("$PY" -c "import json; c = json.load(open('$M2.json')); \
print(c['anneal_iterations_done'], c['alpha_now'])")
  START=(--init-model "$M2.npz"); ITERS=$((TOTAL - DONE))
else
  START=(--init-model models/milestones/issue26-stage1.npz); ITERS=$TOTAL; A0=$ALPHA0
fi
[ "$ITERS" -gt 0 ] || { echo "stage 2 is complete ($M2.npz)"; exit 0; }
"${LAUNCH[@]}" -m unetvocalsep.train "${DATA[@]}" --validation "${VAL[@]}" -o "$STAGE" --batchsize $((64 / NPROC)) --iteration "$ITERS" \
    --seed 27 --log-interval 50 --snapshot-interval 100 --no-progress --ema 0.999 \
    --alpha "$A0" --final-alpha "$ALPHA1" "${PAR[@]}" "${START[@]}"
