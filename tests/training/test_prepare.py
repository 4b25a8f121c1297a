"""Tests of ``python -m unetvocalsep.prepare`` on fake dataset trees (tests/fakedata.py)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soxr

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
import fakedata as fd  # noqa: E402

from unetvocalsep.training import datasets as D  # noqa: E402
from unetvocalsep.training.medleydb import is_vocal_instrument  # noqa: E402
from unetvocalsep import prepare as P_cli  # noqa: E402
from unetvocalsep.spectrogram import n_frames, stft  # noqa: E402
import os
import signal
import sys
import time
from conftest import write_toy_folder
from hardening import PY, pid_alive, children_of, wait_for, cli, folder_dataset, hidden, leftovers, one_line_error  # noqa: F401  (fixtures and helpers)

SR16 = 16000


def mag16(y, sr):
    """|STFT| at 16 kHz of the channel average, computed here independently."""
    y = np.asarray(y, dtype=np.float64).mean(axis=0).astype(np.float32)
    if sr != SR16:
        y = soxr.resample(y, sr, SR16, quality="HQ")
    return np.abs(stft(y))


def expected(mix, voc, acc, sr):
    """The article's cache array: [mix, vocal, inst] all divided by max(|mix|)."""
    mags = [mag16(x, sr) for x in (mix, voc, acc)]
    return np.stack(mags) / mags[0].max()


def cached(cache, name):
    arr = np.load(os.path.join(cache, name + ".npy"))
    with open(os.path.join(cache, name + ".json")) as f:
        return arr, json.load(f)


def names_in(cache):
    return sorted(f[:-4] for f in os.listdir(cache) if f.endswith(".npy"))


def run(argv, capsys):
    rc = P_cli.main(list(map(str, argv)) + ["--no-progress"])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("datasets")
    return {
        "root": root,
        "musdb18hq": fd.make_musdb18hq(root / "musdb18hq"),
        "dsd100": fd.make_dsd100(root / "DSD100"),
        "ikala": fd.make_ikala(root / "iKala"),
        "medleydb": fd.make_medleydb(root / "MedleyDB"),
        "pairs": fd.make_pairs(root / "pairs"),
    }


@pytest.fixture(scope="module")
def hq_caches(trees, tmp_path_factory):
    """MUSDB18-HQ train and valid caches, as data/README.md tells users to make them."""
    out = tmp_path_factory.mktemp("hq")
    root = trees["root"] / "musdb18hq"
    assert P_cli.main(["musdb18hq", str(root), "-o", str(out / "train"), "--split", "train", "--no-progress"]) == 0
    assert P_cli.main(["musdb18hq", str(root), "-o", str(out / "valid"), "--split", "valid", "--no-progress"]) == 0
    return out / "train", out / "valid"


def test_musdb18hq_arrays_and_official_split(trees, hq_caches):
    train, valid = hq_caches
    tracks = trees["musdb18hq"]
    val = set(D.MUSDB_VALIDATION_TRACKS)
    want_train = sorted(n for n, t in tracks.items() if t["split"] == "train" and n not in val)
    assert names_in(train) == want_train
    assert names_in(valid) == sorted(n for n, t in tracks.items() if t["split"] == "train" and n in val)
    assert not set(names_in(train)) & val
    for name in want_train:
        t = tracks[name]
        arr, meta = cached(train, name)
        assert arr.dtype == np.float32 and arr.shape[:2] == (3, 513)
        np.testing.assert_allclose(arr, expected(t["mixture"], t["vocals"], t["accompaniment"], t["sr"]),
                                   atol=2e-5)
        assert arr[0].max() == pytest.approx(1.0)
        assert meta["dataset"] == "musdb18hq" and meta["split"] == "train"


def test_musdb_splits_partition_the_train_folder(trees, tmp_path):
    root = trees["root"] / "musdb18hq"
    got = {s: [t.name for t in D.read_dataset("musdb18hq", str(root), s)]
           for s in ("train", "valid", "train+valid", "test", "all")}
    assert sorted(got["train"] + got["valid"]) == sorted(got["train+valid"])
    assert not set(got["train"]) & set(got["valid"])
    assert set(got["valid"]) <= set(D.MUSDB_VALIDATION_TRACKS)
    assert sorted(got["all"]) == sorted(got["train+valid"] + got["test"])
    assert len(D.MUSDB_VALIDATION_TRACKS) == 14 == len(set(D.MUSDB_VALIDATION_TRACKS))


def test_dsd100_dev_split_with_parallel_jobs(trees, tmp_path, capsys):
    rc, out, _ = run(["dsd100", trees["root"] / "DSD100", "-o", tmp_path / "c", "-j", "2"], capsys)
    assert rc == 0, out
    tracks = trees["dsd100"]
    dev = sorted(n for n, t in tracks.items() if t["split"] == "Dev")
    assert names_in(tmp_path / "c") == dev
    for name in dev:
        t = tracks[name]
        arr, _ = cached(tmp_path / "c", name)
        np.testing.assert_allclose(arr, expected(t["mixture"], t["vocals"], t["accompaniment"], t["sr"]),
                                   atol=2e-5)
    rc, _, _ = run(["dsd100", trees["root"] / "DSD100", "-o", tmp_path / "t", "--split", "test"], capsys)
    assert rc == 0 and names_in(tmp_path / "t") == [n for n, t in tracks.items() if t["split"] == "Test"]


def test_musdb18_stem_mp4_stream_order(tmp_path, capsys):
    tracks = fd.make_musdb18(tmp_path / "musdb18", train=fd.MUSDB_TRAIN[:1] + fd.MUSDB_TRAIN[2:3], test=())
    rc, out, err = run(["musdb18", tmp_path / "musdb18", "-o", tmp_path / "c", "--split", "train+valid"], capsys)
    assert rc == 0, err
    assert names_in(tmp_path / "c") == sorted(tracks)
    for name, t in tracks.items():
        arr, meta = cached(tmp_path / "c", name)
        # AAC is lossy: compare with the stems before coding, loosely, and check
        # that each part is closest to its own stem (stream order 0 mix .. 4 vocals).
        refs = {k: mag16(t[k], t["sr"]) for k in ("mixture", "vocals", "accompaniment", "drums", "bass", "other")}
        peak = refs["mixture"].max()
        n = min(arr.shape[2], refs["mixture"].shape[1])
        for part, key in zip(arr, ("mixture", "vocals", "accompaniment")):
            errs = {k: np.linalg.norm(part[:, :n] - r[:, :n] / peak) for k, r in refs.items()}
            assert min(errs, key=errs.get) == key
            assert errs[key] < 0.2 * np.linalg.norm(refs[key][:, :n] / peak)
        assert -60 < meta["mixture_vs_stems_db"] < -10


def test_ikala_left_accompaniment_right_vocals(trees, tmp_path, capsys):
    rc, _, err = run(["ikala", trees["root"] / "iKala", "-o", tmp_path / "c"], capsys)
    assert rc == 0, err
    for name, t in trees["ikala"].items():
        arr, _ = cached(tmp_path / "c", name)
        exp = expected(t["mixture"], t["vocals"], t["accompaniment"], t["sr"])
        np.testing.assert_allclose(arr, exp, atol=2e-5)
        swapped = expected(t["mixture"], t["accompaniment"], t["vocals"], t["sr"])
        assert np.abs(arr[1] - swapped[1]).max() > 0.05


def test_medleydb_vocal_rule():
    assert is_vocal_instrument("female singer")
    assert is_vocal_instrument(" Male Rapper ")
    assert is_vocal_instrument(["clean electric guitar", "vocalists"])
    assert is_vocal_instrument("choir")
    assert not is_vocal_instrument("beatboxing")
    assert not is_vocal_instrument(["violin", "flute"])
    assert not is_vocal_instrument(None)


def test_medleydb_stems_skip_and_metadata_locations(trees, tmp_path, capsys):
    rc, out, err = run(["medleydb", trees["root"] / "MedleyDB", "-o", tmp_path / "c"], capsys)
    assert rc == 0, err
    tracks = trees["medleydb"]
    vocal_tracks = sorted(n for n, t in tracks.items() if not t["instrumental"])
    assert names_in(tmp_path / "c") == vocal_tracks
    assert "Phoenix_ScotchMorris: skipped (instrumental)" in err
    assert "skipped 1" in out
    # one track has its YAML in the track folder, one in Metadata/
    where = {os.path.basename(os.path.dirname(tracks[n]["metadata"])) for n in vocal_tracks}
    assert "Metadata" in where and len(where) == 2
    for name in vocal_tracks:
        t = tracks[name]
        arr, meta = cached(tmp_path / "c", name)
        assert meta["vocal_stems"] == t["vocal_stems"]
        assert meta["metadata"] == os.path.abspath(t["metadata"])
        np.testing.assert_allclose(arr, expected(t["mixture"], t["vocals"], t["accompaniment"], t["sr"]),
                                   atol=2e-5)
    # the list-valued label ["female singer", "vocalists"] counts; beatboxing does not
    assert tracks["AClassicEducation_NightOwl"]["vocal_stems"] == ["S03", "S05"]
    assert tracks["Grants_PunchDrunk"]["vocal_stems"] == ["S01"]


def test_medleydb_missing_metadata_fails_that_track(tmp_path, capsys):
    tracks = fd.make_medleydb(tmp_path / "mdb", tracks=fd.MEDLEYDB_TRACKS[:1] + fd.MEDLEYDB_TRACKS[2:])
    os.remove(tracks["Grants_PunchDrunk"]["metadata"])
    rc, out, err = run(["medleydb", tmp_path / "mdb", "-o", tmp_path / "c"], capsys)
    assert rc == 1
    assert "error: Grants_PunchDrunk: no Grants_PunchDrunk_METADATA.yaml" in err
    assert names_in(tmp_path / "c") == ["AClassicEducation_NightOwl"]


def test_pairs_realigned_within_one_hop(trees, tmp_path, capsys):
    rc, out, err = run(["pairs", trees["root"] / "pairs", "-o", tmp_path / "c"], capsys)
    assert rc == 0, err
    for name, t in trees["pairs"].items():
        arr, meta = cached(tmp_path / "c", name)
        true_lag = t["offset_s"] * SR16
        assert abs(meta["offset_samples"] - true_lag) <= 512
        assert f"{name}: instrumental offset {t['offset_s']:+.3f} s" in out
        # the cached mix and instrumental are those of the aligned truth
        mix, inst = mag16(t["accompaniment"] + t["vocals"], t["sr"]), mag16(t["accompaniment"], t["sr"])
        n = min(arr.shape[2], mix.shape[1]) - 2
        peak = arr[0].max()
        assert peak == pytest.approx(1.0)
        scale = mix[:, :n].max()
        np.testing.assert_allclose(arr[0, :, 1:n], mix[:, 1:n] / scale, atol=2e-3)
        np.testing.assert_allclose(arr[2, :, 1:n], inst[:, 1:n] / scale, atol=2e-3)
        # vocal magnitude = max(0, |mix| - |inst|), both normalised by max |mix|
        np.testing.assert_allclose(arr[1], np.maximum(arr[0] - arr[2], 0), atol=1e-6)
        assert arr[1].max() > 0.05


def test_find_offset_ignores_a_lead_that_is_not_silence():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(20000).astype(np.float32)
    song = np.concatenate([0.3 * rng.standard_normal(1234), x + 0.5 * rng.standard_normal(20000)])
    from unetvocalsep.training.pairs import find_offset

    assert find_offset(song, x, 5000) == 1234
    assert find_offset(x[700:], x, 5000) == -700


def test_pairs_from_csv(trees, tmp_path, capsys):
    csv_file = tmp_path / "pairs.csv"
    csv_file.write_text("song,instrumental\nSongB.wav,SongB_instrumental.wav\n")
    rc, out, err = run(["pairs", trees["root"] / "pairs", "--csv", csv_file, "-o", tmp_path / "c"], capsys)
    assert rc == 0, err
    assert names_in(tmp_path / "c") == ["SongB"]
    assert cached(tmp_path / "c", "SongB")[1]["offset_s"] == pytest.approx(-0.81, abs=512 / SR16)


def test_random_mixes_pair_different_training_tracks(trees, tmp_path, capsys):
    root = trees["root"] / "musdb18hq"
    args = ["musdb18hq", root, "--split", "train", "--random-mixes", "4", "--seed", "7"]
    rc, _, err = run(args + ["-o", tmp_path / "a"], capsys)
    assert rc == 0, err
    rc, _, _ = run(args + ["-o", tmp_path / "b"], capsys)
    assert rc == 0
    mixes = [n for n in names_in(tmp_path / "a") if n.startswith("randmix-")]
    assert mixes == [f"randmix-s7-{k:04d}" for k in range(4)]
    train = set(names_in(tmp_path / "a")) - set(mixes)
    tracks = trees["musdb18hq"]
    for name in mixes:
        arr, meta = cached(tmp_path / "a", name)
        arr_b, meta_b = cached(tmp_path / "b", name)
        np.testing.assert_array_equal(arr, arr_b)  # deterministic with --seed
        assert meta["vocals_from"] != meta["accompaniment_from"]
        assert {meta["vocals_from"], meta["accompaniment_from"]} <= train  # never a validation track
        a, b = tracks[meta["vocals_from"]], tracks[meta["accompaniment_from"]]
        g = 10 ** (meta["vocal_gain_db"] / 20)
        assert abs(meta["vocal_gain_db"]) <= D.RANDOM_MIX_GAIN_DB
        voc = soxr.resample(a["vocals"].mean(axis=0), a["sr"], SR16, quality="HQ") * g
        acc = soxr.resample(b["accompaniment"].mean(axis=0), b["sr"], SR16, quality="HQ")
        np.testing.assert_allclose(arr, expected((voc + acc)[None], voc[None], acc[None], SR16), atol=1e-4)
    tr = D.read_dataset("musdb18hq", str(root), "train")
    draw = lambda seed: [(t.info["vocals_from"], t.info["accompaniment_from"], t.info["vocal_gain_db"])  # noqa: E731
                         for t in D.random_mixes(tr, 4, seed)]
    assert draw(7) == [(cached(tmp_path / "a", n)[1]["vocals_from"], cached(tmp_path / "a", n)[1]["accompaniment_from"],
                        cached(tmp_path / "a", n)[1]["vocal_gain_db"]) for n in mixes]
    assert draw(8) != draw(7)


def test_resume_skips_done_tracks_and_overwrite_redoes_them(trees, tmp_path, capsys):
    args = ["ikala", trees["root"] / "iKala", "-o", tmp_path / "c"]
    rc, out, _ = run(args, capsys)
    assert rc == 0 and out.strip().startswith("prepared 3")
    victim = tmp_path / "c" / "10164_verse.npy"
    victim.unlink()
    mtimes = {n: os.stat(tmp_path / "c" / (n + ".npy")).st_mtime_ns for n in ("10161_chorus", "21025_chorus")}
    rc, out, _ = run(args, capsys)
    assert rc == 0
    assert "prepared 1 " in out and "skipped 2 (already done 2)" in out
    assert victim.exists()
    assert all(os.stat(tmp_path / "c" / (n + ".npy")).st_mtime_ns == t for n, t in mtimes.items())
    rc, out, _ = run(args + ["--overwrite"], capsys)
    assert rc == 0 and "prepared 3 " in out and "already done 0" in out
    assert not [f for f in os.listdir(tmp_path / "c") if f.startswith(".")]  # no temp files left


def test_bad_tracks_are_reported_skipped_and_fail_the_run(tmp_path, capsys):
    names = ("Good - One", "Missing - Vocals", "Rate - Mismatch", "Long - Mismatch", "Short - Trim", "Broken - File")
    tracks = fd.make_musdb18hq(tmp_path / "hq", train=names, test=())
    root = tmp_path / "hq" / "train"
    os.remove(root / "Missing - Vocals" / "vocals.wav")
    t = tracks["Rate - Mismatch"]
    fd.write_wav(root / "Rate - Mismatch" / "bass.wav", t["bass"][:, ::2], t["sr"] // 2)
    t = tracks["Long - Mismatch"]
    fd.write_wav(root / "Long - Mismatch" / "other.wav", t["other"][:, : t["sr"]], t["sr"])
    t = tracks["Short - Trim"]
    fd.write_wav(root / "Short - Trim" / "drums.wav", t["drums"][:, :-100], t["sr"])
    (root / "Broken - File" / "mixture.wav").write_bytes(b"RIFF but not really a wav file")
    rc, out, err = run(["musdb18hq", tmp_path / "hq", "-o", tmp_path / "c"], capsys)
    assert rc == 1
    assert names_in(tmp_path / "c") == ["Good - One", "Short - Trim"]
    assert "error: Missing - Vocals: missing file" in err and "vocals.wav" in err
    assert "error: Rate - Mismatch: sample rates differ" in err
    assert "error: Long - Mismatch: stems differ in length" in err
    assert "error: Broken - File:" in err
    assert "warning: Short - Trim: cut" in err
    summary = err.strip().splitlines()[-1]
    assert summary.startswith("prepared 2 ") and "failed 4: " in summary
    for n in ("Missing - Vocals", "Rate - Mismatch", "Long - Mismatch", "Broken - File"):
        assert n in summary
    assert "Traceback" not in err
    arr, meta = cached(tmp_path / "c", "Short - Trim")
    n16 = -(-(tracks["Short - Trim"]["mixture"].shape[1] - 100) * SR16 // 44100)
    assert arr.shape[2] == n_frames(n16)
    assert meta["warnings"]


def test_user_errors_are_one_line(trees, tmp_path, capsys):
    rc, _, err = run(["dsd100", tmp_path / "nowhere", "-o", tmp_path / "c"], capsys)
    assert rc == 1 and err.strip() == f"unetvocalsep.prepare: error: no such folder: {tmp_path / 'nowhere'}"
    rc, _, err = run(["dsd100", trees["root"] / "musdb18hq", "-o", tmp_path / "c"], capsys)
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "not a DSD100 folder" in err
    rc, _, err = run(["ikala", trees["root"] / "iKala", "--split", "train", "-o", tmp_path / "c"], capsys)
    assert rc == 1 and "--split applies to" in err
    rc, _, err = run(["musdb18hq", trees["root"] / "musdb18hq", "--split", "dev", "-o", tmp_path / "c"], capsys)
    assert rc == 1 and "splits are" in err
    rc, _, err = run(["pairs", trees["root"] / "pairs", "--random-mixes", "2", "-o", tmp_path / "c"], capsys)
    assert rc == 1 and "isolated vocals" in err
    res = subprocess.run([sys.executable, "-m", "unetvocalsep.prepare", "medleydb", str(tmp_path / "x"),
                          "-o", str(tmp_path / "c")], capture_output=True, text=True)
    assert res.returncode == 1 and res.stderr.strip().count("\n") == 0 and "no such folder" in res.stderr


def test_folder_layout(tmp_path, capsys):
    tracks = fd.make_folder(tmp_path / "synth")
    rc, _, err = run(["folder", tmp_path / "synth", "-o", tmp_path / "c"], capsys)
    assert rc == 0, err
    for name, t in tracks.items():
        arr, _ = cached(tmp_path / "c", name)
        np.testing.assert_allclose(arr, expected(t["mixture"], t["vocals"], t["accompaniment"], t["sr"]),
                                   atol=2e-5)


def test_pitch_shift_and_time_stretch_copies(trees, tmp_path, capsys):
    rc, _, err = run(["ikala", trees["root"] / "iKala", "-o", tmp_path / "c",
                      "--pitch-shift", "2", "--time-stretch", "0.5"], capsys)
    assert rc == 0, err
    base, _ = cached(tmp_path / "c", "10161_chorus")
    up, meta = cached(tmp_path / "c", "10161_chorus_pitch+2")
    slow, _ = cached(tmp_path / "c", "10161_chorus_stretch0.5")
    assert meta["augmentation"] == {"kind": "pitch", "amount": 2.0, "of": "10161_chorus"}
    assert abs(slow.shape[2] - 2 * base.shape[2]) <= 2
    assert up.shape == base.shape and up[0].max() == pytest.approx(1.0)
    # independently: shift the 16 kHz vocals and accompaniment, mix = their sum
    import librosa

    t = trees["ikala"]["10161_chorus"]
    v16, a16 = (soxr.resample(x[0], t["sr"], SR16, quality="HQ") for x in (t["vocals"], t["accompaniment"]))
    v2, a2 = (librosa.effects.pitch_shift(x, sr=SR16, n_steps=2) for x in (v16, a16))
    np.testing.assert_allclose(up, expected((v2 + a2)[None], v2[None], a2[None], SR16), atol=1e-4)
    bins = np.arange(513)
    centroid = lambda m: float((bins * m.sum(axis=1)).sum() / m.sum())  # noqa: E731
    assert centroid(up[1]) > 1.05 * centroid(base[1])


def test_train_runs_on_prepared_caches_with_multiprocess_iterator(hq_caches, tmp_path):
    from unetvocalsep.training.train import train

    tr, va = hq_caches
    trainer = train(str(tr), out=str(tmp_path / "result"), validation=str(va), iteration=2,
                    batchsize=2, loaderjob=2, progress=False, log_interval=1, snapshot_interval=100)
    assert trainer.updater.iteration == 2
    assert os.path.isfile(tmp_path / "result" / "unet.npz")
    with open(tmp_path / "result" / "log") as f:
        log = json.load(f)
    assert len(log) == 2 and all(np.isfinite(e["main/loss"]) and e["main/loss"] > 0 for e in log)


# Issue 13, defect 10/11: signals and worker processes
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_11_prepare_workers_end_with_the_parent(folder_dataset, tmp_path, sig):
    out = tmp_path / "cache"
    # pitch-shifted copies make each track slow enough to be caught at work
    proc = subprocess.Popen([PY, "-m", "unetvocalsep.prepare", "folder", str(folder_dataset),
                             "-o", str(out), "-j", "2", "--no-progress", "--pitch-shift", "-2", "2",
                             "--time-stretch", "0.9", "1.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until both workers run (spawned children that import the package)
    assert wait_for(lambda: len(children_of(proc.pid)) >= 2 or proc.poll() is not None, 90)
    time.sleep(1.5)
    assert proc.poll() is None, proc.stderr.read()
    kids = children_of(proc.pid)
    proc.send_signal(sig)
    proc.wait(30)
    assert wait_for(lambda: not any(pid_alive(k) for k in kids), 20), \
        [k for k in kids if pid_alive(k)]
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
    assert wait_for(lambda: not leftovers(out), 10), leftovers(out)


# Issue 28, defect 16: prepare on a full disk
def test_16_prepare_on_a_full_disk_says_so_and_keeps_pairs(tmp_path):
    import contextlib
    import shutil

    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    raw = tmp_path / "raw"
    write_toy_folder(raw, 3, seconds=8.0, sr=16000, channels=1, seed=30)
    disk = tmp_path / "disk"
    disk.mkdir()
    # one 8 s track is 3 x 513 x 251 float32 = 1.5 MB: room for one and a half
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2400k", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        proc = cli("prepare", "folder", raw, "-o", disk / "cache")   # no bar on a pipe
        line = one_line_error(proc, "no space left on device")
        assert "requested and" not in line and ".part" not in line
        npy = {p.stem for p in (disk / "cache").glob("*.npy")}
        js = {p.stem for p in (disk / "cache").glob("*.json")}
        assert npy == js and len(npy) >= 1               # whole pairs only
        assert hidden(disk) == []
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)
