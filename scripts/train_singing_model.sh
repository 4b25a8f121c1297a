#!/usr/bin/env bash
# Issue 26: a model that has heard real singing. Builds what it needs and
# trains, resuming after any stop (snapshots in WORKDIR, outside the repository).
#
#   scripts/train_singing_model.sh MIR1K_WAVFILE_DIR MUSDB_DIR WORKDIR [ITERATIONS]
# (ITERATIONS 0: build the caches only, e.g. for scripts/anneal_singing_model.sh)
#
# Data, in crops (proportional to frames; docs/MODEL.md keeps the record):
#   - real singing: MIR-1K (12 singers) and MUSDB18 train previews, pitch-shifted
#     and re-mixed (scripts/build-real-singing-corpus.sh);
#   - part of issue 12's corpus, so that what it won (no instruments in the
#     vocals, spoken voices) is kept: 500 songs over real game music
#     (synth --real train, same seed as issue 12, fewer tracks).
# Validation: the MIR-1K singers abjones and annar, MUSDB18's 14 validation
# tracks, and issue 12's three held-out sets (leakage, real voices, synthetic).
# Needs scripts/install-corpus-deps.sh (the game music) and the [synth] extra.
# Starts from the bundled model (issue 12: better than scratch after the same
# budget), the article's batch 64 and Adam's defaults. Since the fourth session
# (2026-12-06) it also keeps a moving average of the weights (--ema 0.999, saved
# as WORKDIR/stage1/unet_ema.npz), because single snapshots swing by several dB
# of leakage (docs/MODEL.md); snapshots of a run without it are refused, so a run
# begun before then continues from the committed milestone instead.
#
# NPROC=2 (the fifth session's choice on a 2-core machine): data-parallel with
# ChainerMN, 2 processes of one thread and 32 crops each (64 per update, as the
# article), 1.8 s per iteration against 2.9 s for one process of two threads.
# Its snapshots go to WORKDIR/stage1-np2 (a snapshot resumes only with the same
# number of processes); a new run there starts from the committed milestone.
set -euo pipefail
MIR=${1:?MIR-1K Wavfile folder}
MUSDB=${2:?MUSDB previews folder}
W=${3:?work folder}
ITERS=${4:-8000}
PY=${PYTHON:-python}
NPROC=${NPROC:-1}
. "$(dirname "$0")/singing-run-setup.sh"
singing_launch "$PY" "$NPROC"
mkdir -p "$W"
[ -d "$W/cache/mir1k" ] && [ -d "$W/val/musdb" ] || \
    PYTHON=$PY "$(dirname "$0")/build-real-singing-corpus.sh" "$MIR" "$MUSDB" "$W" 2
TIM=$($PY -c 'from unetvocalsep.synth.accompaniment import timgm6mb_path; print(timgm6mb_path())')
$PY -m unetvocalsep.synth --real train -o "$W/corpus/realmix" --tracks 500 --seconds 30 --seed 12 -j 2 -q
$PY -m unetvocalsep.synth --real leak -o "$W/corpus/valid-leak" --tracks 16 --seconds 30 --seed 21 -j 2 -q
$PY -m unetvocalsep.synth --real voice -o "$W/corpus/valid-voice" --tracks 16 --seconds 30 --seed 22 -j 2 -q
$PY -m unetvocalsep.synth -o "$W/corpus/valid-synth" --tracks 12 --seconds 30 --seed 23 -j 2 -q \
    --language pt_BR --soundfont "$TIM"
# low voices (issue 26: a reserved singer near 110 Hz failed): the validation singer
# abjones (about 151 Hz) 5 semitones down, for scripts/evaluate_milestone.sh
[ -d "$W/corpus/low-voice" ] || $PY "$(dirname "$0")/make_low_voice_set.py" \
    "$W/mir1k_val/Wavfile" "$W/corpus/low-voice" --singer abjones --semitones -5
for s in realmix valid-leak valid-voice valid-synth; do
  $PY -m unetvocalsep.prepare folder "$W/corpus/$s" -o "$W/cache/$s" -j 2 --no-progress
done
[ "$ITERS" -gt 0 ] || { echo "caches built in $W; no training asked (ITERATIONS 0)"; exit 0; }
singing_sets "$W"
# Resume from the newest snapshot; on a new machine (snapshots gone) start from the
# newest committed float16 milestone of this run, else from the bundled model.
STAGE=$W/stage1$([ "$NPROC" -eq 1 ] || echo "-np$NPROC")   # a snapshot resumes with its NPROC
last=$(ls -t "$STAGE"/snapshot_iter_* 2>/dev/null | head -1 || true)
MILESTONE=models/milestones/issue26-stage1.npz
if [ -n "$last" ]; then START=(--resume "$last")
elif [ -f "$MILESTONE" ]; then START=(--init-model "$MILESTONE")
else START=(--init-model unetvocalsep/models/default.npz); fi
"${LAUNCH[@]}" -m unetvocalsep.train "${DATA[@]}" --validation "${VAL[@]}" -o "$STAGE" \
    --batchsize $((64 / NPROC)) --iteration "$ITERS" --seed 26 --log-interval 50 \
    --snapshot-interval 100 --no-progress --ema 0.999 "${PAR[@]}" "${START[@]}"
