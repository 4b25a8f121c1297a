"""Fine-tuning on song + instrumental pairs: alignment, refusal, a real short fine-tune, resume."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from conftest import toy_stems
from unetvocalsep.errors import UserError
from unetvocalsep.training.pairs import PairError, find_pairs, load_pair, pair_example

SR = 44100
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def lead_line(seconds, seed):
    """A synth lead: harmonic notes without vibrato, which the bundled model takes for a voice."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    notes = 330 * 2 ** (rng.integers(0, 12, size=int(seconds * 4)) / 12)
    phase = 2 * np.pi * np.cumsum(np.repeat(notes, -(-n // len(notes)))[:n]) / SR
    return (0.25 * sum((0.6 / k) * np.sin(k * phase) for k in range(1, 9))).astype(np.float32)


def make_pair(folder, name, seed, offset_s=0.37, gain=0.8, eq=False, seconds=12.0, lead=False):
    """A song and its instrumental: the accompaniment delayed by ``offset_s``, times ``gain``.

    ``eq`` adds a bass shelf and a 0.5 dB level difference; ``lead`` adds a
    synth lead to the accompaniment (an instrument family the bundled model
    handles poorly: vocal SDR about 0 dB).
    """
    v, a = toy_stems(seconds=seconds, sr=SR, seed=seed)
    if lead:
        a = a + lead_line(seconds, seed + 100)[None, :] * np.array([[1.0], [0.8]], np.float32)
    inst = a
    if eq:
        inst = (inst + 0.1 * lfilter([0.05], [1, -0.95], inst, axis=1)) * 10 ** (0.5 / 20)
    inst = np.concatenate([np.zeros((2, int(round(offset_s * SR)))), gain * inst], axis=1)
    song, ins = os.path.join(folder, f"{name}.wav"), os.path.join(folder, f"{name}_instrumental.wav")
    sf.write(song, (v + a).T, SR, subtype="FLOAT")
    sf.write(ins, inst.astype(np.float32).T, SR, subtype="FLOAT")
    return song, ins


def test_offset_and_gain_are_recovered(tmp_path):
    song, ins = make_pair(str(tmp_path), "exact", 1)
    p = load_pair(song, ins)
    assert p["offset_samples"] == -int(round(0.37 * SR))          # to the sample at 44.1 kHz
    assert abs(p["gain"] * 0.8 - 1) < 2e-3        # least squares: the vocals bias it a little
    assert np.max(np.abs(p["song"] - p["instrumental"] - p["vocals"])) < 1e-6
    song, ins = make_pair(str(tmp_path), "eq", 2, offset_s=1.234567, gain=0.6, eq=True)
    p = load_pair(song, ins)
    assert p["offset_samples"] == -int(round(1.234567 * SR))
    # with an EQ no gain is exact; the least-squares one leaves a residual close to the vocals
    v, _ = toy_stems(seconds=12.0, sr=SR, seed=2)
    n = p["vocals"].shape[1]
    err = np.sum((p["vocals"] - v[:, :n]) ** 2) / np.sum(v[:, :n] ** 2)
    assert 0.5 < p["gain"] * 0.6 < 1.0 and 10 * np.log10(1 / err) > 10


def test_instrumental_that_starts_first(tmp_path):
    v, a = toy_stems(seconds=8.0, sr=SR, seed=3)
    lead = int(0.25 * SR)
    song = np.concatenate([np.zeros((2, lead), np.float32), v + a], axis=1)
    sf.write(str(tmp_path / "s.wav"), song.T, SR, subtype="FLOAT")
    sf.write(str(tmp_path / "s_instrumental.wav"), a.T, SR, subtype="FLOAT")
    p = load_pair(str(tmp_path / "s.wav"), str(tmp_path / "s_instrumental.wav"))
    assert p["offset_samples"] == lead and p["trimmed_s"][0] == pytest.approx(0.0, abs=0.06)


EXAMPLE_ACC = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "example_accompaniment.flac")


def test_mismatched_pair_is_refused(tmp_path):
    # a toy song with the instrumental of a different song (the bundled example's)
    song, _ = make_pair(str(tmp_path), "wrong", 4)
    ins = EXAMPLE_ACC
    with pytest.raises(PairError, match="pair wrong .*not the same recording"):
        load_pair(song, ins)
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep.finetune", "--pair", song, ins,
                           "-o", str(tmp_path / "out"), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode == 1 and len(lines) == 1 and "not the same recording" in lines[0]
    assert not (tmp_path / "out" / "unet.npz").exists()


def test_difference_target_beats_the_articles_rule_on_the_same_master(tmp_path):
    from unetvocalsep.spectrogram import normalise, spectrogram

    v, a = toy_stems(seconds=12.0, sr=SR, seed=1)
    p = load_pair(*make_pair(str(tmp_path), "t", 1))
    peak = normalise(spectrogram(v + a, SR)[0])[1]
    true = normalise(spectrogram(v, SR)[0], peak)[0]

    def sdr(rule):
        est = pair_example(p, rule)[1]
        n = min(est.shape[1], true.shape[1])
        return 10 * np.log10(np.sum(true[:, :n] ** 2) / np.sum((true[:, :n] - est[:, :n]) ** 2))
    assert sdr("difference") > 60 and sdr("difference") > sdr("article") + 20


def test_folder_naming_rule(tmp_path):
    for name in ("b.flac", "b_instrumental.mp3", "a.wav", "a_instrumental.wav", "lonely.wav",
                 ".hidden.wav", ".hidden_instrumental.wav"):
        (tmp_path / name).write_bytes(b"")
    pairs = find_pairs(str(tmp_path))
    assert [(os.path.basename(s), os.path.basename(i)) for s, i in pairs] == [
        ("a.wav", "a_instrumental.wav"), ("b.flac", "b_instrumental.mp3")]
    with pytest.raises(UserError, match="no such folder"):
        find_pairs(str(tmp_path / "nothing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="_instrumental"):
        find_pairs(str(tmp_path / "empty"))


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("pairs")
    make_pair(str(d), "one", 21, offset_s=0.37, gain=0.8, eq=True, lead=True)
    make_pair(str(d), "two", 22, offset_s=0.0, gain=1.0, lead=True)
    return d


def test_short_finetune_improves_the_heldout_loss(pair_dir, tmp_path):
    pytest.importorskip("fast_bss_eval")
    from unetvocalsep.training.finetune import finetune
    from unetvocalsep.separate import Separator

    out = tmp_path / "ft"
    # a budget in iterations, not minutes: the same training on any machine
    # (32 iterations, what one minute gave on a slower host, are not enough
    # for the SDR to rise; 69 were). The time is measured in benchmarks.
    report = finetune(find_pairs(str(pair_dir)), str(out), minutes=30, max_iterations=72,
                      eval_seconds=10, progress=False, log=lambda line: None)
    assert report["training"]["iterations"] == 72, report["training"]
    b, a = report["before"], report["after"]
    assert report["helped"] and a["validation_loss"] < 0.8 * b["validation_loss"]
    assert {"SDR", "SIR", "SAR"} <= set(a) and a["SDR"] > b["SDR"] and a["SIR"] > b["SIR"], (b, a)
    cfg = json.loads((out / "unet.json").read_text())
    assert cfg["finetune_helped"] and [p["name"] for p in cfg["pairs"]] == ["one", "two"]
    assert cfg["pairs"][0]["offset_samples"] == -int(round(0.37 * SR))
    assert len(cfg["pairs"][0]["song_sha256"]) == 64
    md = (out / "report.md").read_text()
    assert "Fine-tuning helped" in md and "validation loss" in md
    # issue 29: the verdict says what it rests on, with its uncertainty, and
    # warns below 20 s of held-out audio (here 2 x 15 % of 12 s)
    h = report["heldout"]
    assert report["verdict"] == "helped" and 3 < h["seconds"] < 4 and not h["enough"]
    assert h["relative"] + h["interval"] < 0 and h["chunks"] >= 3
    assert f"rests on {h['seconds']:.1f} s of held-out audio" in md and "under 20 s" in md
    # a finished run leaves one float16 model and the report, no snapshot or cache
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md", "unet.json",
                                                     "unet.npz"]
    with np.load(out / "unet.npz") as z:
        assert {z[k].dtype for k in z.files if z[k].dtype.kind == 'f'} == {np.dtype(np.float16)}
    # the result is a model separate can use
    stems = Separator(str(out / "unet.npz")).separate(np.zeros((2, SR), np.float32) + 0.01, SR)
    assert stems["vocals"].shape == (2, SR)


def test_no_improvement_keeps_the_starting_model(pair_dir, tmp_path, monkeypatch):
    import unetvocalsep.training.finetune as ft
    from unetvocalsep.model_io import DEFAULT_MODEL

    losses = iter([0.001] + [0.002] * 100)   # before, then every validation is worse
    import unetvocalsep.training.validation as val

    monkeypatch.setattr(ft, "validation_loss", lambda *a, **k: next(losses))
    monkeypatch.setattr(val, "validation_loss", lambda *a, **k: next(losses))
    monkeypatch.setattr(ft, "heldout_scores", lambda *a, **k: None)
    out = tmp_path / "ft"
    report = ft.finetune(find_pairs(str(pair_dir)), str(out), minutes=0.2, eval_seconds=1,
                         patience=2, progress=False, log=lambda line: None)
    assert not report["helped"] and report["training"]["stopped_early"]
    assert "did not help" in (out / "report.md").read_text()
    with np.load(DEFAULT_MODEL) as a, np.load(out / "unet.npz") as b:
        for k in a.files:
            np.testing.assert_array_equal(a[k].astype(np.float32), b[k].astype(np.float32))
    assert "starting model" in json.loads((out / "unet.json").read_text())["note"]


def test_interrupt_and_resume(pair_dir, tmp_path):
    out = tmp_path / "ft"
    cmd = [sys.executable, "-m", "unetvocalsep.finetune", str(pair_dir), "-o", str(out),
           "--minutes", "0.5", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / "snapshot").exists() and proc.poll() is None and time.time() - t0 < 120:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 128 + signal.SIGTERM
    assert "terminated" in proc.stderr.read()
    assert not (out / "unet.npz").exists()
    assert not [p for p in out.rglob(".*") if ".part" in p.name]
    # a plain rerun does not silently start over a model folder; --resume continues
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["training"]["seconds"] >= 30 - 1                # the budget counts both runs
    assert report["training"]["this_run_seconds"] < report["training"]["seconds"]
    assert (out / "unet.npz").exists()


def test_default_budget_scales_with_the_data():
    from unetvocalsep.training.finetune import MIN_ITERATIONS, PASSES, default_iterations

    assert default_iterations(1.0) == MIN_ITERATIONS
    ten_min = default_iterations(600.0)
    assert ten_min == int(np.ceil(PASSES * 600 * 16000 / 512 / 128 / 16))
    assert default_iterations(1200.0) > 1.9 * ten_min


def test_max_iterations_is_checked(tmp_path):
    from unetvocalsep.training.finetune import finetune

    for bad in (0, -3, 2.5, True):
        with pytest.raises(UserError, match="max_iterations"):
            finetune([("a.wav", "b.wav")], str(tmp_path / "o"), max_iterations=bad)
