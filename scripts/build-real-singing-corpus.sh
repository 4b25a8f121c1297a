#!/usr/bin/env bash
# Issue 26, stage 1: the training and validation caches of real singing.
#
# Sources (public GitHub copies; nothing else is downloaded; the data stay
# outside the repository):
#   MIR-1K    andabi/music-source-separation, dataset/mir-1k/Wavfile/
#             (16 kHz stereo: left accompaniment, right vocals = iKala's layout)
#   MUSDB18   7-second previews, skimura1/VocalExractionUnet at commit
#             02a669958fda94ed0915cbda1a31f97b57cb2e50, folder musdb/
#
# Reserved, never used here: the MIR-1K singers bug, jmzen, titon, davidson
# and heycat, and MUSDB18 test (report only). Our own validation: the MIR-1K
# singers abjones and annar, and MUSDB18's 14 standard validation tracks.
#
# Usage: scripts/build-real-singing-corpus.sh MIR1K_WAVFILE_DIR MUSDB_DIR OUT [JOBS]
#   MIR1K_WAVFILE_DIR  .../dataset/mir-1k/Wavfile
#   MUSDB_DIR          the previews' musdb/ folder ({train,test}/*.stem.mp4)
#   OUT                e.g. /work/runs/issue26: OUT/cache/{mir1k,musdb}, OUT/val/{mir1k,musdb}
#
# Augmentation: every training track also pitch-shifted (MIR-1K -3/+3
# semitones, MUSDB -2/+2: the MIR-1K singers span about 110-330 Hz, so low
# male and high female ranges are both covered), plus the article's random
# re-mixes (vocals of one clip over another's accompaniment, vocal gain
# uniform in +-RANDOM_MIX_GAIN_DB).
set -euo pipefail
MIR=${1:?MIR-1K Wavfile folder}
MUSDB=${2:?MUSDB previews folder}
OUT=${3:?output folder}
JOBS=${4:-2}
PY=${PYTHON:-python3}

RESERVED='^(bug|jmzen|titon|davidson|heycat)_'
VALID='^(abjones|annar)_'
mkdir -p "$OUT/mir1k_train/Wavfile" "$OUT/mir1k_val/Wavfile"
for f in "$MIR"/*.wav; do
    b=$(basename "$f")
    if [[ $b =~ $RESERVED ]]; then continue; fi
    if [[ $b =~ $VALID ]]; then dst="$OUT/mir1k_val/Wavfile/$b"; else dst="$OUT/mir1k_train/Wavfile/$b"; fi
    ln -sfn "$(cd "$(dirname "$f")" && pwd)/$b" "$dst"
done
echo "MIR-1K: $(ls "$OUT/mir1k_train/Wavfile" | wc -l) training clips, $(ls "$OUT/mir1k_val/Wavfile" | wc -l) validation clips"

$PY -m unetvocalsep.prepare ikala "$OUT/mir1k_train" -o "$OUT/cache/mir1k" -j "$JOBS" \
    --pitch-shift -3 3 --random-mixes 700 --seed 26 --prefix mir1k- --no-progress
$PY -m unetvocalsep.prepare ikala "$OUT/mir1k_val" -o "$OUT/val/mir1k" -j "$JOBS" \
    --prefix mir1kval- --no-progress
$PY -m unetvocalsep.prepare musdb18 "$MUSDB" --split train -o "$OUT/cache/musdb" -j "$JOBS" \
    --pitch-shift -2 2 --random-mixes 240 --seed 26 --prefix musdb- --no-progress
$PY -m unetvocalsep.prepare musdb18 "$MUSDB" --split valid -o "$OUT/val/musdb" -j "$JOBS" \
    --prefix musdbval- --no-progress
du -sh "$OUT/cache" "$OUT/val"
