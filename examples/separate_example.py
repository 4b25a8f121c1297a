"""Separate the bundled example song and score the result against its true stems.

    python examples/separate_example.py
"""
import os

import numpy as np

import unetvocalsep

HERE = os.path.dirname(os.path.abspath(__file__))


def sdr(reference, estimate):
    """Signal-to-distortion ratio in dB (plain energy ratio)."""
    return 10 * np.log10(np.sum(reference ** 2) / np.sum((reference - estimate) ** 2))


def main():
    y, sr = unetvocalsep.load_audio(os.path.join(HERE, "example.wav"))      # (2, samples)
    stems = unetvocalsep.separate_audio(y, sr)                               # bundled model
    for name, ref_file in (("vocals", "example_vocals.flac"),
                           ("accompaniment", "example_accompaniment.flac")):
        ref, _ = unetvocalsep.load_audio(os.path.join(HERE, ref_file))
        mix_sdr = sdr(ref, y)
        print(f"{name:14s} SDR {sdr(ref, stems[name]):6.2f} dB   (mixture as estimate: {mix_sdr:6.2f} dB)")
    out = os.path.join("separated", "example")          # relative to the current folder
    os.makedirs(out, exist_ok=True)
    for name, x in stems.items():
        unetvocalsep.write_audio(os.path.join(out, f"{name}.wav"), x, sr, overwrite=True)
    print(f"stems written to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
