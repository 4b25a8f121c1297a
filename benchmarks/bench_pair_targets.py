"""Which vocal target is closer to the true vocals: the time-domain residual or the article's rule?

Builds song + instrumental pairs from generated songs whose vocals are known
(tests/conftest.toy_stems), in four conditions (the same master; an EQ on the
instrumental; a level ride on it; both), runs them through
``unetvocalsep.training.pairs.load_pair`` and compares each target's 16 kHz vocal
magnitude with the true one (magnitude SDR, dB; higher is better)::

    python benchmarks/bench_pair_targets.py            # prints a Markdown table
"""
import os
import sys
import tempfile

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from conftest import toy_stems  # noqa: E402
from unetvocalsep.training.pairs import load_pair, pair_example  # noqa: E402
from unetvocalsep.spectrogram import normalise, spectrogram  # noqa: E402

SR = 44100


def make_pair(folder, name, seed, eq=False, ride=False, offset_s=0.37, gain=0.8, seconds=20.0):
    v, a = toy_stems(seconds=seconds, sr=SR, seed=seed)
    inst = a.copy()
    if eq:      # a bass shelf: +20 dB-down one-pole low-pass added back
        inst = inst + 0.3 * lfilter([0.05], [1, -0.95], inst, axis=1).astype(np.float32)
    if ride:    # a slow level difference of +-1 dB
        t = np.arange(inst.shape[1]) / SR
        inst = inst * (10 ** (np.sin(2 * np.pi * t / 7) / 20)).astype(np.float32)
    inst = np.concatenate([np.zeros((2, int(round(offset_s * SR))), np.float32), gain * inst], 1)
    song = os.path.join(folder, f"{name}.wav")
    ins = os.path.join(folder, f"{name}_instrumental.wav")
    sf.write(song, (v + a).T, SR, subtype="FLOAT")
    sf.write(ins, inst.T, SR, subtype="FLOAT")
    return song, ins, v, a


def magnitude_sdr(ref, est):
    err = np.sum((ref - est) ** 2)
    return 10 * np.log10(np.sum(ref ** 2) / max(err, 1e-20))


def main():
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for label, eq, ride in (("same master", False, False), ("EQ on the instrumental", True, False),
                                ("level ride on the instrumental", False, True), ("EQ and ride", True, True)):
            scores = {"difference": [], "article": []}
            for seed in (1, 2, 3):
                song, ins, v, a = make_pair(d, f"p{seed}", seed, eq, ride)
                pair = load_pair(song, ins)
                mix_mag = spectrogram(v + a, SR)[0]
                _, peak = normalise(mix_mag)
                # the true vocals, cut as load_pair cut the song
                true = normalise(spectrogram(v[:, :pair["song"].shape[1]], SR)[0], peak)[0]
                for rule in scores:
                    est = pair_example(pair, rule)[1]
                    n = min(est.shape[1], true.shape[1])
                    scores[rule].append(magnitude_sdr(true[:, :n], est[:, :n]))
            rows.append((label, np.mean(scores["difference"]), np.mean(scores["article"])))
    print("| pair | difference (dB) | article's max(0, |mix| - |inst|) (dB) |")
    print("|---|---|---|")
    for label, a, b in rows:
        print(f"| {label} | {a:.1f} | {b:.1f} |")


if __name__ == "__main__":
    main()
