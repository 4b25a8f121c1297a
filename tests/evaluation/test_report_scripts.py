"""The scripts that produce issue 26's model-card figures (scripts/*.py), on generated audio."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import load_script
from unetvocalsep.evaluation import bands

SR = 16000


def _voice(seconds=2.0, f0=220.0, top=7600.0):
    """A harmonic tone with harmonics up to ``top`` Hz, so that 5.5-7.7 kHz has energy."""
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k ** 0.5 for k in range(1, int(top // f0) + 1))
    return (0.3 * y / np.abs(y).max()).astype(np.float32)


def _folder_track(root, name, voc, acc):
    d = os.path.join(root, name)
    os.makedirs(d)
    for stem, a in (("mixture", voc + acc), ("vocals", voc), ("accompaniment", acc)):
        sf.write(os.path.join(d, stem + ".wav"), a, SR, subtype="FLOAT")


def test_hole_share_counts_voiced_frames_only():
    s = vars(bands)
    f = np.linspace(0, 8000, 65)
    true = np.zeros((65, 20))
    band = (f >= 5500) & (f < 7700)
    true[band, :10] = 1.0            # 10 voiced frames
    true[band, 10:] = 1e-6           # 10 frames 60 dB down: not voiced
    est = true.copy()
    est[band, :3] = 1e-3             # 30 dB under the truth in 3 voiced frames
    est[band, 3] = 0.02              # 17 dB under: not a hole
    est[band, 10:] = 0.0             # silent where the truth is silent: not counted
    assert s["hole_share"](f, est, true) == pytest.approx(0.3)
    voiced, hole = s["hole_frames"](f, est, true)
    assert list(np.flatnonzero(voiced)) == list(range(10)) and list(np.flatnonzero(hole)) == [0, 1, 2]
    acc = np.ones_like(true) * band[:, None] * 10.0
    assert s["band_ratio_db"](f, acc, true)[:10] == pytest.approx([10.0] * 10)
    assert s["hole_share"](f, true, true) == 0.0
    assert np.isnan(s["hole_share"](f, est, np.zeros_like(true)))


def test_band_sums_and_ratio():
    s = vars(bands)
    f = np.arange(0, 1000, 100.0)
    power = np.arange(10.0)
    assert list(s["band_sums"](f, power, [0, 300, 1000])) == [0 + 1 + 2, sum(range(3, 10))]
    r = s["ratio_db"](np.array([10.0, 1.0, 5.0]), np.array([1.0, 10.0, 0.0]))
    assert r[:2] == pytest.approx([10.0, -10.0]) and np.isnan(r[2])


def test_band_profile_end_to_end(tmp_path, capsys):
    # with silent accompaniment the ideal ratio mask gives back the true vocals:
    # 0 dB in every band with energy, and no holes; the model's row and the figure are there
    root = str(tmp_path / "set")
    rng = np.random.default_rng(0)
    for i, f0 in enumerate((180.0, 260.0)):
        voc = _voice(f0=f0)
        acc = (1e-4 * rng.standard_normal(voc.shape)).astype(np.float32)
        _folder_track(root, f"t{i}", voc, acc)
    png = str(tmp_path / "bands.png")
    s = load_script("band_profile.py")
    assert s["main"](["folder", root, "--model", "mine=default", "--irm", "--top", "8000",
                      "--plot", png]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in out.splitlines()
            if line.startswith("| ") and not line.startswith("| method")}
    assert set(rows) == {"mine", "16 kHz ideal ratio mask"}
    irm = [float(v) for v in rows["16 kHz ideal ratio mask"][:5]]   # 0 to 7.7 kHz
    assert max(abs(v) for v in irm) < 0.5, irm
    assert "- 16 kHz ideal ratio mask: 0.0 % / 0.0 %" in out
    # no holes to name; the accompaniment is 70 dB under the vocals in the band
    irm_line = [ln for ln in out.splitlines() if ln.startswith("- 16 kHz ideal ratio mask: no holes")]
    assert len(irm_line) == 1 and "holes none" in irm_line[0]
    other = float(irm_line[0].split("other voiced frames ")[1].split()[0])
    assert -90 < other < -50, irm_line
    assert all(np.isfinite(float(v)) for v in rows["mine"][:5])
    with open(png, "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"


def test_band_energy_finds_a_tone_in_its_band():
    s = vars(bands)
    t = np.arange(SR) / SR
    y = np.sin(2 * np.pi * 6000 * t)[None]
    inside = s["band_energy"](y, SR, 5500, 7700)
    outside = s["band_energy"](y, SR, 0, 5500) + s["band_energy"](y, SR, 7700, 8001)
    assert inside > 1e3 * outside      # the clip's ends splatter a little
    assert s["band_energy"](2 * y, SR, 5500, 7700) == pytest.approx(4 * inside)


def test_band_sums_per_frame_and_spectrogram_sums_channels():
    f = np.arange(0, 1000, 100.0)
    power = np.stack([np.arange(10.0), 2 * np.arange(10.0)], axis=1)      # (bins, frames)
    assert bands.band_sums(f, power, [0, 300, 1000]).tolist() == [[3.0, 6.0], [42.0, 84.0]]
    y = np.random.default_rng(1).standard_normal((2, 3 * SR))
    _, both = bands.spectrogram(y, SR)
    _, left = bands.spectrogram(y[0], SR)
    _, right = bands.spectrogram(y[1], SR)
    np.testing.assert_allclose(both, left + right)


def test_band_energy_script_end_to_end(tmp_path, capsys):
    # the ideal ratio mask gives back the true vocals (0 dB); a model gives a finite ratio
    root = str(tmp_path / "set")
    rng = np.random.default_rng(2)
    for i, f0 in enumerate((180.0, 260.0, 320.0)):
        voc = _voice(f0=f0)
        _folder_track(root, f"t{i}", voc, (0.05 * rng.standard_normal(voc.shape)).astype(np.float32))
    s = load_script("band_energy.py")
    assert s["main"](["folder", root, "--method", "unet", "--method", "irm", "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    per_track = [json.loads(line) for line in out if line.startswith("{")]
    assert len(per_track) == 6 and {r["track"] for r in per_track} == {"t0", "t1", "t2"}
    irm = [r["band_db"] for r in per_track if r["method"] == "irm"]
    assert max(abs(v) for v in irm) < 3.0, irm
    summary = [line for line in out if line.startswith(("unet:", "irm:"))]
    assert len(summary) == 2 and all("over 3 tracks, band 5500-7700 Hz" in line for line in summary)
    assert all(np.isfinite(r["band_db"]) for r in per_track)


def test_whole_clip_sdr_median_skips_missing(tmp_path, capsys):
    d = tmp_path / "res" / "unet" / "16k"
    d.mkdir(parents=True)
    for name, v in (("a", 3.0), ("b", 5.0), ("c", None), ("d", 9.0)):
        (d / f"{name}.json").write_text(json.dumps({"SDR_v3": {"vocals": v}}))
    s = load_script("whole_clip_sdr.py")
    assert s["main"]([str(tmp_path / "res")]) == 0
    assert capsys.readouterr().out.strip() == \
        "whole-clip vocal SDR (v3), median of 3 clips: 5.00 dB"
    assert s["main"]([str(tmp_path / "none")]) == 1
    assert "no finite vocal SDR_v3" in capsys.readouterr().err


def _mir1k_clip(folder, name, acc, voc):
    os.makedirs(folder, exist_ok=True)
    sf.write(os.path.join(folder, name), np.stack([acc, voc], axis=1), SR)


def test_low_voice_set_shifts_the_vocals_only(tmp_path, capsys):
    wav = str(tmp_path / "Wavfile")
    t = np.arange(2 * SR) / SR
    voc = (0.4 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    acc = (0.2 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    _mir1k_clip(wav, "abjones_1_01.wav", acc, voc)
    _mir1k_clip(wav, "annar_1_01.wav", acc, voc)
    out = str(tmp_path / "low")
    s = load_script("make_low_voice_set.py")
    assert s["main"]([wav, out, "--singer", "abjones", "--semitones", "-5"]) == 0
    assert os.listdir(out) == ["abjones_1_01_pitch-5"]
    d = os.path.join(out, "abjones_1_01_pitch-5")
    stems = {k: sf.read(os.path.join(d, k + ".wav"))[0] for k in
             ("mixture", "vocals", "accompaniment")}
    np.testing.assert_allclose(stems["accompaniment"], acc, atol=1e-4)
    np.testing.assert_allclose(stems["mixture"], stems["vocals"] + stems["accompaniment"],
                               atol=1e-6)
    spec = np.abs(np.fft.rfft(stems["vocals"] * np.hanning(len(t))))
    peak = np.argmax(spec) * SR / len(t)
    assert peak == pytest.approx(220 * 2 ** (-5 / 12), abs=2.0)


@pytest.mark.parametrize("singer, message", [("bug", "reserved"), ("nobody", "no clips")])
def test_low_voice_set_refuses(tmp_path, singer, message):
    wav = str(tmp_path / "Wavfile")
    z = np.zeros(SR, np.float32)
    _mir1k_clip(wav, "bug_1_01.wav", z, z)
    s = load_script("make_low_voice_set.py")
    with pytest.raises(SystemExit) as e:
        s["main"]([wav, str(tmp_path / "low"), "--singer", singer])
    assert message in str(e.value)
    assert not os.path.exists(str(tmp_path / "low"))
