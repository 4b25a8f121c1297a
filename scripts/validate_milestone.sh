#!/usr/bin/env bash
# Issue 26: the validation figures of one model, the ones a training choice may
# be made on (never the MUSDB18 test tracks: scripts/evaluate_milestone.sh
# reports those).
#
#   scripts/validate_milestone.sh NAME MODEL WORKDIR MUSDB_DIR [OUT]
#
# Figures (OUT/NAME/*.txt):
#   MUSDB18's 14 validation tracks (previews): vocal SDR, museval median of
#     1 s frames and whole clip, and the vocal energy at 5.5-7.7 kHz against
#     the true vocals;
#   the two MIR-1K validation singers: vocal SDR and NSDR;
#   leakage on issue 12's held-out real instrumental music.
set -euo pipefail
NAME=${1:?name}; MODEL=${2:?model}; W=${3:?workdir}; MUSDB=${4:?musdb dir}
OUT=${5:-$W/validate}
PY=${PYTHON:-python}
R="$OUT/$NAME"
mkdir -p "$R"
run() { $PY -m unetvocalsep.evaluate "$@" --model "$MODEL" --method unet --rate 16k -j 2 --no-progress; }
run musdb18 "$MUSDB" --split valid -o "$R/musdb-valid" > "$R/musdb-valid.txt"
$PY "$(dirname "$0")/whole_clip_sdr.py" "$R/musdb-valid" >> "$R/musdb-valid.txt"
run ikala "$W/mir1k_val" -o "$R/mir1k-val" > "$R/mir1k-val.txt"
run folder "$W/corpus/valid-leak" -o "$R/valid-leak" > "$R/valid-leak.txt"
$PY "$(dirname "$0")/band_energy.py" musdb18 "$MUSDB" --split valid --model "$MODEL" > "$R/band.txt"
tail -n +1 "$R"/*.txt
