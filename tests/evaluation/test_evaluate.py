"""Tests of unetvocalsep.evaluate (BSS Eval v4 via museval, NSDR, baselines, the CLI)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import toy_stems

pytest.importorskip("museval")
pytest.importorskip("fast_bss_eval")

from unetvocalsep import evaluate as ev_cli  # noqa: E402
from unetvocalsep.evaluation import evaluate as ev  # noqa: E402
from unetvocalsep.evaluation import report  # noqa: E402
from unetvocalsep.evaluation import baselines  # noqa: E402


def _noisy(ref, snr_db, rng):
    """``ref`` plus white noise scaled to exactly ``snr_db`` per source."""
    noise = rng.standard_normal(ref.shape)
    e_ref = np.sum(ref ** 2, axis=(-2, -1), keepdims=True)
    e_noise = np.sum(noise ** 2, axis=(-2, -1), keepdims=True)
    return ref + noise * np.sqrt(e_ref / e_noise / 10 ** (snr_db / 10))


@pytest.fixture(scope="module")
def white_refs():
    """Two independent stationary sources, 4 s at 8 kHz, stereo: (2, 2, 32000)."""
    rng = np.random.default_rng(0)
    return rng.standard_normal((2, 2, 32000)) * 0.1, 8000


def test_known_noise_gives_its_snr(white_refs):
    ref, sr = white_refs
    rng = np.random.default_rng(1)
    for snr in (10.0, 0.0):
        scores = ev.bss_eval_v4(ref, _noisy(ref, snr, rng), sr)
        assert scores["SDR"].shape == (2, 4)
        np.testing.assert_allclose(ev.nanmedian(scores["SDR"], axis=1), snr, atol=0.2)
        # the noise is independent of the other source: interference is tiny
        assert np.all(ev.nanmedian(scores["SIR"], axis=1) > snr + 10)
    # the whole-track v3 SDR (NSDR's building block) on the mono downmix
    sdr, _, _ = ev.bss_eval_v3(ref, _noisy(ref, 10.0, rng))
    np.testing.assert_allclose(sdr, 10.0, atol=0.2)


def test_perfect_swapped_and_silent(white_refs):
    ref, sr = white_refs
    near = ev.bss_eval_v4(ref, ref.astype(np.float32), sr)  # what a float wav round trip gives
    assert np.all(ev.nanmedian(near["SDR"], axis=1) > 60)
    # an exact copy gives +inf, which museval stores as NaN: the median is NaN
    assert np.all(np.isnan(ev.bss_eval_v4(ref, ref, sr)["SDR"]))
    swapped = ev.bss_eval_v4(ref, ref[::-1], sr)
    assert np.all(ev.nanmedian(swapped["SDR"], axis=1) < 0)
    assert np.all(ev.nanmedian(swapped["SIR"], axis=1) < -10)
    # a silent first second of the vocals: that window is NaN, the others are scored
    ref2 = ref.copy()
    ref2[0, :, :sr] = 0
    est = _noisy(ref2, 10.0, np.random.default_rng(2))
    est[0, :, :sr] = 0
    s = ev.bss_eval_v4(ref2, est, sr)
    assert np.isnan(s["SDR"][0, 0]) and np.all(np.isfinite(s["SDR"][:, 1:]))
    # a fully silent reference: NaN for it, the other source is still scored
    ref3 = ref.copy()
    ref3[0] = 0
    s = ev.bss_eval_v4(ref3, _noisy(ref3, 10.0, np.random.default_rng(3)), sr)
    assert np.all(np.isnan(s["SDR"][0]))
    np.testing.assert_allclose(ev.nanmedian(s["SDR"][1]), 10.0, atol=0.2)


def test_matches_museval_directly():
    """One stereo track, scored by museval.evaluate and TrackStore, and by us."""
    import museval
    from museval.aggregate import TrackStore

    v, a = toy_stems(seconds=3.0, sr=22050, seed=3)
    mix = v + a
    est_v, est_a = baselines.repet_sim(mix, 22050)
    res = ev.evaluate_track(mix, v, a, 22050, "t", methods=["repet-sim"], rates=["full"])[0]
    sdr, isr, sir, sar = museval.evaluate(np.stack([v, a]).transpose(0, 2, 1),
                                          np.stack([est_v, est_a]).transpose(0, 2, 1),
                                          win=22050, hop=22050)
    store = TrackStore("t", win=1.0, hop=1.0)
    for j, name in enumerate(ev.TARGETS):
        store.add_target(name, {"SDR": sdr[j], "SIR": sir[j], "ISR": isr[j], "SAR": sar[j]})
    theirs = json.loads(store.json)
    for target, ours in zip(theirs["targets"], res["targets"]):
        assert target["name"] == ours["name"]
        assert len(target["frames"]) == len(ours["frames"]) == 3
        for f_theirs, f_ours in zip(target["frames"], ours["frames"]):
            assert f_theirs["time"] == f_ours["time"]
            for m in ev.METRICS:
                assert f_ours["metrics"][m] == pytest.approx(float(f_theirs["metrics"][m]), abs=1e-3)
        for m in ev.METRICS:
            expected = np.nanmedian([float(f["metrics"][m]) for f in target["frames"]])
            assert res["median"][target["name"]][m] == pytest.approx(expected, abs=1e-3)


def test_v3_matches_museval_bss_eval_sources():
    """fast-bss-eval's whole-signal SDR agrees with museval's own v3 (bss_eval_sources)."""
    import museval.metrics

    v, a = toy_stems(seconds=2.0, sr=8000, channels=1, seed=4)
    refs = np.stack([v[0], a[0]]).astype(np.float64)
    noise = np.random.default_rng(4).standard_normal(refs.shape) * 0.02
    est = np.stack([v[0] + 0.3 * a[0], a[0] + 0.2 * v[0]]) + noise
    ours = ev.bss_eval_v3(refs, est)
    sdr, sir, sar, _ = museval.metrics.bss_eval_sources(refs, est, compute_permutation=False)
    np.testing.assert_allclose(ours[0], sdr.ravel(), atol=0.05)
    np.testing.assert_allclose(ours[1], sir.ravel(), atol=0.05)
    np.testing.assert_allclose(ours[2], sar.ravel(), atol=0.05)


def test_irm_beats_random_model_and_nsdr():
    from unetvocalsep.network import UNet
    from unetvocalsep.separate import Separator

    np.random.seed(0)
    v, a = toy_stems(seconds=4.0, sr=22050, seed=5)
    res = ev.evaluate_track(v + a, v, a, 22050, "toy", methods=["unet", "irm", "mixture"],
                            rates=["16k"], separator=Separator(UNet()))
    by = {r["method"]: r for r in res}
    assert {r["rate"] for r in res} == {"16k"} and all(r["sr"] == 16000 for r in res)
    assert by["irm"]["median"]["vocals"]["SDR"] > by["unet"]["median"]["vocals"]["SDR"] + 5
    assert by["irm"]["NSDR"]["vocals"] > 5
    # NSDR of the mixture itself is 0 by definition
    assert by["mixture"]["NSDR"]["vocals"] == pytest.approx(0.0, abs=1e-6)
    assert by["mixture"]["SDR_v3"]["vocals"] == pytest.approx(by["irm"]["SDR_v3_mixture"]["vocals"])


def test_irm16_path_equals_ideal_mask_at_16k():
    """At 16k mono the IRM path is stft -> |V|/(|V|+|A|) -> istft (no mapping)."""
    from unetvocalsep.spectrogram import istft, stft

    v, a = toy_stems(seconds=1.0, sr=16000, channels=1, seed=6)
    est_v, est_a = baselines.irm16_separate(v + a, v, a, 16000, out_sr=16000, mono=True,
                                            highband="article")   # no passband fill
    sv, sa = stft(v[0]), stft(a[0])
    den = np.abs(sv) + np.abs(sa)
    mask = np.divide(np.abs(sv), den, out=np.zeros_like(den), where=den > 0)
    mask[0] = 0
    np.testing.assert_allclose(est_v[0], istft((sv + sa) * mask, v.shape[1]), atol=1e-5)
    np.testing.assert_allclose(est_v + est_a, v + a, atol=1e-5)
    # at a different rate the mask goes through map_mask and the stems still add up
    v2, a2 = toy_stems(seconds=1.0, sr=22050, seed=6)
    ev2, ea2 = baselines.irm16_separate(v2 + a2, v2, a2, 22050)
    assert ev2.shape == v2.shape
    np.testing.assert_allclose(ev2 + ea2, v2 + a2, atol=1e-4)


def test_summarise_gnsdr_and_medians():
    rows = []
    for track, dur, nsdr, sdr in (("a", 10.0, 1.0, 2.0), ("b", 30.0, 3.0, 8.0), ("c", 20.0, np.nan, 5.0)):
        for target in ev.TARGETS:
            rows.append({"method": "unet", "rate": "16k", "track": track, "target": target,
                         "SDR": sdr, "SIR": 1.0, "SAR": 1.0, "ISR": 1.0, "NSDR": nsdr,
                         "seconds": 2.0, "duration": dur})
    s = report.summarise(rows)[0]
    assert s["tracks"] == 3
    assert s["vocals SDR"] == pytest.approx(5.0)
    assert s["GNSDR vocals"] == pytest.approx((10 * 1 + 30 * 3) / 40)
    table = report.markdown_table([s])
    assert "| unet | 16k | 3 | 5.00 |" in table


def test_cli_on_fake_musdb18hq(tmp_path, random_model):
    import fakedata

    root = tmp_path / "musdb18hq"
    fakedata.make_musdb18hq(str(root), train=(), seconds=2.5, sr=22050)
    bad = root / "test" / "Zz Broken - Track"
    bad.mkdir()
    for stem in ("mixture", "drums", "bass", "other", "vocals"):
        (bad / f"{stem}.wav").write_bytes(b"this is not audio")
    out = tmp_path / "results"
    argv = ["musdb18hq", str(root), "--model", random_model, "-o", str(out), "--no-progress",
            "--method", "unet", "--method", "irm", "--method", "irm-full", "--method", "mixture"]
    rc = ev_cli.main(argv)
    assert rc == 1                      # the broken track fails, the others are scored
    tracks = sorted(os.listdir(out / "unet" / "16k"))
    assert tracks == ["Al James - Schoolboy Facination.json", "Arise - Run Run Run.json"]
    assert not (out / "irm-full" / "16k").exists()
    res = json.loads((out / "irm" / "full" / tracks[0]).read_text())
    assert res["rate"] == "full" and res["sr"] == 22050 and res["channels"] == 2
    assert [t["name"] for t in res["targets"]] == ["vocals", "accompaniment"]
    assert len(res["targets"][0]["frames"]) == 2
    assert set(res["targets"][0]["frames"][0]["metrics"]) == {"SDR", "SIR", "SAR", "ISR"}
    with open(out / "summary.csv") as f:
        header = f.readline().strip().split(",")
        lines = f.readlines()
    assert header == ["method", "rate", "track", "target", "SDR", "SIR", "SAR", "ISR", "NSDR",
                      "energy_db", "reference_silent", "seconds", "duration"]
    assert len(lines) == 7 * 2 * 2     # 7 (method, rate) pairs x 2 tracks x 2 targets
    rows = report.read_csv(str(out / "summary.csv"))
    irm = report.summarise([r for r in rows if r["method"] == "irm" and r["rate"] == "16k"])[0]
    unet = report.summarise([r for r in rows if r["method"] == "unet" and r["rate"] == "16k"])[0]
    assert irm["vocals SDR"] > unet["vocals SDR"]
    md = (out / "summary.md").read_text()
    assert "| irm-full | full | 2 |" in md
    assert (out / "boxplot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a rerun reuses every finished result and recomputes nothing
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.json")}
    import shutil
    shutil.rmtree(bad)
    assert ev_cli.main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.json")} == stamps


def test_cli_parallel_jobs_folder(tmp_path):
    import fakedata

    root = tmp_path / "corpus"
    fakedata.make_folder(str(root), names=("s0", "s1", "s2"), seconds=2.0, sr=16000)
    out = tmp_path / "res"
    rc = ev_cli.main(["folder", str(root), "-o", str(out), "-j", "2", "--method", "mixture",
                  "--method", "irm", "--rate", "16k", "--max-tracks", "2", "--no-progress"])
    assert rc == 0
    assert sorted(os.listdir(out / "mixture" / "16k")) == ["s0.json", "s1.json"]
    rows = report.read_csv(str(out / "summary.csv"))
    assert {r["track"] for r in rows} == {"s0", "s1"}
    assert all(r["NSDR"] == pytest.approx(0.0, abs=1e-3) for r in rows if r["method"] == "mixture")


def test_bad_root_one_line_and_light_import(tmp_path):
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep.evaluate", "musdb18hq",
                           str(tmp_path / "nowhere"), "-o", str(tmp_path / "r")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nowhere" in lines[0] and lines[0].startswith("unetvocalsep.evaluate: error:")
    code = ("import sys, unetvocalsep.evaluate as e; e.get_parser(); "
            "print(sorted(m for m in ('museval', 'matplotlib', 'chainer', 'librosa', 'fast_bss_eval')"
            " if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[]", proc.stderr


def test_load_track_keeps_stereo_for_musdb18(tmp_path):
    """Scoring at the original rate reads the same files as prepare, without the downmix."""
    import fakedata
    from unetvocalsep.training import datasets
    from unetvocalsep.evaluation import evaluate

    made = fakedata.make_musdb18(str(tmp_path / "musdb18"), train=(), seconds=2.0)
    tracks = [t for t in datasets.read_dataset("musdb18", str(tmp_path / "musdb18"), "test") if not t.skipped]
    mix, voc, acc, sr = evaluate.load_track(tracks[0])
    assert mix.shape[0] == 2 and voc.shape == mix.shape == acc.shape and sr == 44100
    ref = made[tracks[0].name]
    n = min(voc.shape[1], ref["vocals"].shape[1])
    # AAC: close to the stereo stems, channel by channel (not a downmix)
    for c in range(2):
        corr = np.corrcoef(voc[c, 1000:n - 1000], ref["vocals"][c, 1000:n - 1000])[0, 1]
        assert corr > 0.9
    mono = tracks[0].load()
    assert mono.vocals.shape[0] == 1


def test_leakage_on_instrumental_tracks(tmp_path):
    """Tracks with silent vocals report how much each method still calls voice."""
    import soundfile as sf

    root = tmp_path / "corpus"
    rng = np.random.default_rng(4)
    t = np.arange(2 * 16000) / 16000
    for k, name in enumerate(("inst0", "inst1")):
        acc = (0.3 * np.sin(2 * np.pi * (220 + 50 * k) * t) + 0.01 * rng.normal(size=t.size))
        (root / name).mkdir(parents=True)
        sf.write(root / name / "mixture.wav", acc.astype(np.float32), 16000, subtype="FLOAT")
        sf.write(root / name / "vocals.wav", np.zeros_like(acc, np.float32), 16000, subtype="FLOAT")
    out = tmp_path / "res"
    rc = ev_cli.main(["folder", str(root), "-o", str(out), "--method", "mixture", "--method", "irm",
                  "--rate", "16k", "--no-progress"])
    assert rc == 0
    rows = report.read_csv(str(out / "summary.csv"))
    voc = {(r["method"], r["track"]): r for r in rows if r["target"] == "vocals"}
    assert all(r["reference_silent"] == 1.0 for r in voc.values())
    # the mixture as the vocal estimate puts all of it there: 0 dB; the oracle nothing
    assert voc[("mixture", "inst0")]["energy_db"] == pytest.approx(0.0, abs=1e-6)
    assert voc[("irm", "inst0")]["energy_db"] < -60
    summary = {s["method"]: s for s in report.summarise(rows)}
    assert summary["mixture"]["vocals leak"] == pytest.approx(0.0, abs=1e-6)
    assert summary["irm"]["vocals leak worst"] < -60 and summary["irm"]["vocals leak tracks"] == 2
    md = (out / "summary.md").read_text()
    assert "voc leak" in md and "voc leak worst" in md


def test_missing_eval_extra_is_one_line_up_front(tmp_path):
    """Without museval / fast-bss-eval: one line naming the extra, before any track (issue 29)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['museval'] = None; sys.modules['fast_bss_eval'] = None\n"
            "from unetvocalsep.evaluate import main\n"
            f"raise SystemExit(main(['musdb18hq', {str(tmp_path)!r}]))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert "[eval]" in lines[0] and "ModuleNotFoundError" not in proc.stderr


def test_16k_mono_input_is_scored_once_and_inf_is_printed():
    from unetvocalsep.evaluation.report import _fmt

    v, a = toy_stems(seconds=2.0, sr=16000, channels=1, seed=8)
    res = ev.evaluate_track(v + a, v, a, 16000, "toy", methods=["mixture"], rates=["16k", "full"])
    by = {r["rate"]: r for r in res}
    assert by["full"]["same_as"] == "16k" and by["full"]["targets"] == by["16k"]["targets"]
    assert _fmt(265.25) == "inf" and _fmt(12.345) == "12.35" and _fmt(float("nan")) == "nan"
