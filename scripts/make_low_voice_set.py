#!/usr/bin/env python3
"""A low-voice test set from MIR-1K clips: the vocals pitch-shifted down (issue 26).

Issue 26 found that low male voices (around 110 Hz) fail: the model handed them
to the accompaniment. The validation singers here are ``abjones`` (a man, median
F0 about 151 Hz by pYIN) and ``annar`` (a woman, about 248 Hz). This writes each
clip of the given singers with its vocals shifted down ``--semitones``
(``librosa.effects.pitch_shift``, as ``prepare --pitch-shift`` does) over its own,
unchanged accompaniment, in the folder layout ``evaluate folder`` reads
(``OUT/<clip>/{mixture,vocals,accompaniment}.wav``, 16 kHz mono)::

    python scripts/make_low_voice_set.py WORKDIR/mir1k_val/Wavfile OUT --singer abjones \\
        --semitones -5
    python -m unetvocalsep.evaluate folder OUT --method unet --rate 16k --model MODEL

abjones 5 semitones down has a median F0 of about 113 Hz. Only validation
singers may be used (never the reserved ``bug``, ``jmzen``, ``titon``,
``davidson`` and ``heycat``: refused by name).
"""
import argparse
import glob
import os
import sys

import numpy as np

RESERVED = ("bug", "jmzen", "titon", "davidson", "heycat")


def main(argv=None):
    import librosa
    import soundfile as sf

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("wavfile", help="a MIR-1K Wavfile folder (left accompaniment, right vocals)")
    p.add_argument("out")
    p.add_argument("--singer", action="append", required=True)
    p.add_argument("--semitones", type=float, default=-5.0)
    args = p.parse_args(argv)
    if set(args.singer) & set(RESERVED):
        sys.exit("make_low_voice_set: the singers " + ", ".join(RESERVED) + " are reserved "
                 "for independent testing")
    n = 0
    for singer in args.singer:
        for path in sorted(glob.glob(os.path.join(args.wavfile, f"{singer}_*.wav"))):
            y, sr = sf.read(path, dtype="float32", always_2d=True)
            acc, voc = y[:, 0], y[:, 1]
            voc = librosa.effects.pitch_shift(voc, sr=sr, n_steps=args.semitones).astype(np.float32)
            name = os.path.splitext(os.path.basename(path))[0] + f"_pitch{args.semitones:+g}"
            d = os.path.join(args.out, name)
            os.makedirs(d, exist_ok=True)
            for stem, a in (("mixture", acc + voc), ("vocals", voc), ("accompaniment", acc)):
                sf.write(os.path.join(d, stem + ".wav"), a, sr, subtype="FLOAT")
            n += 1
    if not n:
        sys.exit(f"make_low_voice_set: no clips of {', '.join(args.singer)} in {args.wavfile}")
    print(f"{n} clips, vocals {args.semitones:+g} semitones, in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
