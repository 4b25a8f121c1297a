#!/usr/bin/env bash
# Issue 26: every figure of the model-card table for one model, with `evaluate`.
#
#   scripts/evaluate_milestone.sh NAME MODEL WORKDIR MUSDB_DIR [OUT]
#
# NAME      a label (results go to OUT/NAME/...)
# MODEL     an npz, or a bundled model's name (default)
# WORKDIR   what scripts/train_singing_model.sh built (mir1k_val/, corpus/valid-*)
# MUSDB_DIR the MUSDB18 previews' musdb/ folder ({train,test}/*.stem.mp4)
# OUT       results folder (default WORKDIR/eval)
#
# Figures (summary.md of each folder; docs/MODEL.md keeps the table):
#   MUSDB18 test previews (50, report only): vocal SDR, museval median of 1 s
#     frames, and the whole-clip SDR (the NSDR's SDR term, at 16 kHz);
#   the two MIR-1K validation singers: vocal SDR and NSDR;
#   issue 12's held-out sets: leakage on real instrumental music, real voices
#     over real music (NSDR), synthetic songs (SDR);
#   the vocal energy at 5.5-7.7 kHz against the true vocals (scripts/band_energy.py);
#   low voices: the validation singer abjones 5 semitones down, about 113 Hz
#     (scripts/make_low_voice_set.py; train_singing_model.sh builds it).
set -euo pipefail
NAME=${1:?name}; MODEL=${2:?model}; W=${3:?workdir}; MUSDB=${4:?musdb dir}
OUT=${5:-$W/eval}
PY=${PYTHON:-python}
R="$OUT/$NAME"
mkdir -p "$R"
run() { $PY -m unetvocalsep.evaluate "$@" --model "$MODEL" --method unet --rate 16k -j 2 --no-progress; }
run musdb18 "$MUSDB" --split test -o "$R/musdb-test" > "$R/musdb-test.txt"
# the whole-clip vocal SDR (BSS Eval v3 over the whole clip, stored as SDR_v3)
$PY "$(dirname "$0")/whole_clip_sdr.py" "$R/musdb-test" >> "$R/musdb-test.txt"
run ikala "$W/mir1k_val" -o "$R/mir1k-val" > "$R/mir1k-val.txt"
for s in valid-leak valid-voice valid-synth low-voice; do
  run folder "$W/corpus/$s" -o "$R/$s" > "$R/$s.txt"
done
$PY "$(dirname "$0")/band_energy.py" musdb18 "$MUSDB" --split test --model "$MODEL" > "$R/band.txt"
tail -n +1 "$R"/*.txt
