"""End to end: a toy corpus -> cache -> Trainer -> model npz + json -> separation."""
import json
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import toy_stems, write_toy_folder
from unetvocalsep.training.cache import SpectrogramDataset, article_iterations_per_epoch, make_example, open_track
from unetvocalsep.training.prepare import prepare
from unetvocalsep.errors import UserError
from unetvocalsep.model_io import load_model
from unetvocalsep.separate import Separator
from unetvocalsep.spectrogram import normalise, spectrogram
from unetvocalsep.train import main
from unetvocalsep.training.extensions import stored_step_size
from unetvocalsep.training.train import split_validation, train
import time
from hardening import small_cache, tampered_snapshot, cli, one_line_error, tiny_run  # noqa: F401  (fixtures and helpers)


@pytest.fixture(scope="module")
def toy_corpus(tmp_path_factory):
    """Five 8 s tracks in the synth layout, and their cache."""
    root = tmp_path_factory.mktemp("corpus")
    write_toy_folder(root / "raw", 5, seconds=8.0, sr=22050, channels=2, seed=10)
    cache = root / "cache"
    prepare("folder", str(root / "raw"), str(cache), progress=False)
    return root


def test_cache_is_the_articles_normalisation(toy_corpus):
    arr = open_track(str(toy_corpus / "cache" / "track0.npy"))
    assert isinstance(arr, np.memmap) and arr.dtype == np.float32 and arr.shape[:2] == (3, 513)
    mix, sr = sf.read(str(toy_corpus / "raw" / "track0" / "mixture.wav"), dtype="float32")
    voc, _ = sf.read(str(toy_corpus / "raw" / "track0" / "vocals.wav"), dtype="float32")
    m, _ = spectrogram(mix.T, sr)
    v, _ = spectrogram(voc.T, sr)
    np.testing.assert_allclose(arr[0], m / m.max(), atol=1e-6)
    np.testing.assert_allclose(arr[1], v / m.max(), atol=1e-6)   # same divisor: max of the mix
    assert arr[0].max() == pytest.approx(1.0)


def test_dataset_random_crops(toy_corpus):
    ds = SpectrogramDataset(str(toy_corpus / "cache"), seed=0)
    x, y = ds[0]
    assert x.shape == y.shape == (1, 512, 128) and x.dtype == np.float32
    arr = open_track(ds.files[0])
    # the crop is a real window of the cached track, bins 1..512
    row = arr[0, 1, :]
    start = int(np.argmin([np.abs(row[s:s + 128] - x[0, 0]).sum() for s in range(arr.shape[2] - 127)]))
    np.testing.assert_array_equal(arr[0, 1:, start:start + 128], x[0])
    np.testing.assert_array_equal(arr[1, 1:, start:start + 128], y[0])
    starts = {int(np.argmax(ds[0][0][0, 5] > -1)) for _ in range(3)}
    assert len({ds[0][0].tobytes() for _ in range(6)}) > 1         # crops are random
    frames = sum(open_track(f).shape[2] for f in ds.files)
    assert article_iterations_per_epoch(ds, 64) == frames // 128 // 64 * 4
    assert len(ds) == 4 * sum(max(1, open_track(f).shape[2] // 128) for f in ds.files)
    assert starts


def test_weights_draw_crops_in_proportion(tmp_path):
    # issue 26: one weight per data folder multiplies how often its frames are drawn
    from unetvocalsep.training.cache import track_weights, weighted_counts

    rng = np.random.default_rng(0)
    for d, frames in (("a", [256, 512]), ("b", [384])):
        os.makedirs(tmp_path / d)
        for i, n in enumerate(frames):
            np.save(tmp_path / d / f"{d}{i}.npy", rng.random((3, 513, n)).astype(np.float32))
    paths = [str(tmp_path / "a"), str(tmp_path / "b")]
    by_track = track_weights(paths, [1, 2.5])
    files = sorted(by_track)
    assert [by_track[f] for f in files] == [1.0, 1.0, 2.5]
    ds = SpectrogramDataset(files, seed=0, weights=[by_track[f] for f in files], epoch_factor=1)
    owners = [int(np.searchsorted(ds._bounds, i, side="right")) for i in range(len(ds))]
    assert np.bincount(owners).tolist() == [2, 4, 8]      # 2, 4, round(3 * 2.5)
    plain = SpectrogramDataset(files, seed=0, epoch_factor=1)
    assert len(plain) == 9 and len(ds) == 14
    # validation crops are every patch once, whatever the weights
    fixed = SpectrogramDataset(files, random=False, weights=[1, 1, 2.5])
    assert len(fixed) == 9
    assert weighted_counts(np.array([3, 1]), [0.1, 0.1]).tolist() == [1, 1]
    with pytest.raises(UserError, match="positive"):
        track_weights(paths, [1, 0])
    with pytest.raises(UserError, match="one per folder"):
        track_weights(paths, [1])


def test_set_labels_are_short_and_unique():
    from unetvocalsep.training.setvalidation import set_labels

    assert set_labels(["/w/val/mir1k/", "/w/cache/valid-leak", "x/mir1k", "t.npy"]) == \
        ["mir1k", "valid-leak", "mir1k-2", "t"]


def test_split_validation_is_disjoint():
    files = [f"t{i}.npy" for i in range(10)]
    tr, va = split_validation(files, 0.2, seed=1)
    assert len(va) == 2 and not set(tr) & set(va) and sorted(tr + va) == sorted(files)


def test_train_save_reload_separate(toy_corpus, tmp_path):
    out = tmp_path / "result"
    train(str(toy_corpus / "cache"), out=str(out), val_fraction=0.2, batchsize=4, iteration=40,
          log_interval=5, snapshot_interval=20, progress=False, seed=0)
    log = json.load(open(out / "log"))
    losses = [e["main/loss"] for e in log]
    assert len(losses) == 8
    assert np.mean(losses[-2:]) < 0.8 * np.mean(losses[:2]), losses
    assert any("validation/main/loss" in e for e in log)
    cfg = json.load(open(out / "unet.json"))
    assert cfg["iterations"] == 40 and cfg["sr"] == 16000 and cfg["hop"] == 512
    assert cfg["target"] == "vocal" and cfg["batchsize"] == 4 and cfg["validation_tracks"] == 1
    assert (out / "snapshot_iter_40").exists()
    unet, cfg2 = load_model(str(out / "unet.npz"))
    assert cfg2 == cfg
    v, a = toy_stems(seconds=3.0, sr=44100, channels=2, seed=99)
    stems = Separator(str(out / "unet.npz")).separate(v + a, 44100)
    assert stems["vocals"].shape == (2, 3 * 44100)
    outs = Separator(unet).separate_file(_write(tmp_path, v + a, 32000), str(tmp_path / "sep"),
                                         progress=False)
    info = sf.info(outs["accompaniment"])
    assert info.samplerate == 32000 and info.channels == 2 and info.frames == 3 * 32000
    # resume from the snapshot continues the iteration count
    train(str(toy_corpus / "cache"), out=str(out), val_fraction=0.2, batchsize=4, iteration=45, log_interval=5,
          snapshot_interval=20, progress=False, resume=str(out / "snapshot_iter_40"))
    assert json.load(open(out / "unet.json"))["iterations"] == 45


def _write(tmp_path, y, sr):
    from unetvocalsep.resampling import resample
    path = tmp_path / "in32k.wav"
    sf.write(str(path), resample(y, 44100, sr).T, sr)
    return str(path)


def test_train_cli_errors(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 1
    assert "no such cache" in capsys.readouterr().err
    assert main([str(tmp_path), "--target", "vocal", "-i", "1"]) == 1
    assert "no cached tracks" in capsys.readouterr().err


def test_make_example_uses_the_mix_maximum():
    v, a = toy_stems(seconds=2.0, sr=16000, channels=1, seed=1)
    arr = make_example(v + a, v, 16000)
    m, _ = spectrogram(v + a, 16000)
    assert arr[0].max() == pytest.approx(1.0)
    np.testing.assert_allclose(arr[2], normalise(spectrogram(a, 16000)[0], m.max())[0], atol=1e-6)


def test_crops_do_not_keep_the_cache_mapped(toy_corpus):
    """RSS must not grow with the cache: no track stays memory-mapped after a crop."""
    ds = SpectrogramDataset(str(toy_corpus / "cache"), seed=1)
    for i in range(20):
        ds[i]
    maps = open("/proc/self/maps").read()
    assert not any(os.path.basename(f) in maps for f in ds.files)


def test_final_alpha_lowers_adam_step_linearly_and_resumes(toy_corpus, tmp_path):
    """--final-alpha: alpha goes 0.001 -> final over the run, is logged, stored and resumed."""
    out = tmp_path / "decay"
    assert main([str(toy_corpus / "cache"), "-o", str(out), "--val-fraction", "0.2", "-b", "2",
                 "-i", "20", "--log-interval", "5", "--snapshot-interval", "10", "--no-progress",
                 "--final-alpha", "1e-4"]) == 0
    log = json.load(open(out / "log"))
    alphas = [e["alpha"] for e in log]
    # the logged alpha is the one the logged iteration's update used: alpha(iteration - 1)
    expected = [1e-3 + (1e-4 - 1e-3) * (it - 1) / 20 for it in (5, 10, 15, 20)]
    np.testing.assert_allclose(alphas, expected, rtol=1e-6)
    assert "linearly to 0.0001" in json.load(open(out / "unet.json"))["optimizer"]
    # a run resumed from the 10-iteration snapshot continues the same schedule
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    trainer = train(str(toy_corpus / "cache"), out=str(resumed), val_fraction=0.2, batchsize=2,
                    iteration=20, log_interval=5, snapshot_interval=10, progress=False,
                    resume=str(out / "snapshot_iter_10"), final_alpha=1e-4)
    assert trainer.updater.get_optimizer("main").alpha == pytest.approx(1e-4)
    np.testing.assert_allclose([e["alpha"] for e in json.load(open(resumed / "log"))], expected,
                               rtol=1e-6)
    # without the flag Adam keeps its defaults
    plain = train(str(toy_corpus / "cache"), out=str(tmp_path / "plain"), val_fraction=0.2, batchsize=2,
                  iteration=3, progress=False)
    assert plain.updater.get_optimizer("main").alpha == pytest.approx(1e-3)
    # in epochs, the schedule spans exactly the run
    by_epoch = train(str(toy_corpus / "cache"), out=str(tmp_path / "epoch"), val_fraction=0.2,
                     batchsize=2, epoch=1, progress=False, final_alpha=1e-4)
    assert by_epoch.updater.iteration > 1
    assert by_epoch.updater.get_optimizer("main").alpha == pytest.approx(1e-4)


def test_alpha_sets_the_start_of_the_schedule_or_a_constant_step(toy_corpus, tmp_path):
    """--alpha: the schedule starts there; alone, it holds for the whole run; both are stored."""
    out = tmp_path / "low"
    assert main([str(toy_corpus / "cache"), "-o", str(out), "--val-fraction", "0.2", "-b", "2",
                 "-i", "20", "--log-interval", "5", "--no-progress",
                 "--alpha", "3e-4", "--final-alpha", "3e-5"]) == 0
    expected = [3e-4 + (3e-5 - 3e-4) * (it - 1) / 20 for it in (5, 10, 15, 20)]
    np.testing.assert_allclose([e["alpha"] for e in json.load(open(out / "log"))], expected, rtol=1e-6)
    cfg = json.load(open(out / "unet.json"))
    assert cfg["optimizer"].startswith("Adam (alpha 0.0003 linearly to 3e-05")
    assert (cfg["adam_alpha"], cfg["final_alpha"]) == (3e-4, 3e-5)   # for scripts, not words
    const = tmp_path / "const"
    assert main([str(toy_corpus / "cache"), "-o", str(const), "--val-fraction", "0.2", "-b", "2",
                 "-i", "10", "--log-interval", "5", "--no-progress", "--alpha", "2e-4"]) == 0
    np.testing.assert_allclose([e["alpha"] for e in json.load(open(const / "log"))], [2e-4, 2e-4])
    cfg = json.load(open(const / "unet.json"))
    assert cfg["optimizer"].startswith("Adam (alpha 0.0002,")
    assert (cfg["adam_alpha"], cfg["final_alpha"]) == (2e-4, None)


def test_resume_keeps_the_step_size_settings_of_the_snapshot(toy_corpus, tmp_path, capsys):
    """--resume without --alpha/--final-alpha continues with the snapshot's; a different value is refused."""
    cache = str(toy_corpus / "cache")
    out = tmp_path / "sched"
    assert main([cache, "-o", str(out), "--val-fraction", "0.2", "-b", "2", "-i", "20",
                 "--log-interval", "5", "--snapshot-interval", "10", "--no-progress",
                 "--alpha", "5e-4", "--final-alpha", "5e-5"]) == 0
    snap = str(out / "snapshot_iter_10")
    assert stored_step_size(snap) == (pytest.approx(5e-4), pytest.approx(5e-5))
    again = tmp_path / "again"
    again.mkdir()
    trainer = train(cache, out=str(again), val_fraction=0.2, batchsize=2, iteration=20,
                    log_interval=5, snapshot_interval=10, progress=False, resume=snap)
    assert trainer.updater.get_optimizer("main").alpha == pytest.approx(5e-5)
    expected = [5e-4 + (5e-5 - 5e-4) * (it - 1) / 20 for it in (15, 20)]
    np.testing.assert_allclose([e["alpha"] for e in json.load(open(again / "log"))][-2:], expected,
                               rtol=1e-6)
    assert main([cache, "-o", str(tmp_path / "clash"), "--val-fraction", "0.2", "-b", "2", "-i", "20",
                 "--no-progress", "--resume", snap, "--alpha", "1e-3"]) != 0
    err = capsys.readouterr().err
    assert "--alpha 0.0005" in err and "Traceback" not in err
    # a constant --alpha is kept as well
    const = tmp_path / "const"
    assert main([cache, "-o", str(const), "--val-fraction", "0.2", "-b", "2", "-i", "10",
                 "--snapshot-interval", "5", "--no-progress", "--alpha", "2e-4"]) == 0
    resumed = tmp_path / "const2"
    resumed.mkdir()
    trainer = train(cache, out=str(resumed), val_fraction=0.2, batchsize=2, iteration=10,
                    progress=False, resume=str(const / "snapshot_iter_5"))
    assert trainer.updater.get_optimizer("main").alpha == pytest.approx(2e-4)
    # a snapshot of a run with Adam's defaults stores nothing and resumes with them
    plain = tmp_path / "plain"
    assert main([cache, "-o", str(plain), "--val-fraction", "0.2", "-b", "2", "-i", "4",
                 "--snapshot-interval", "2", "--no-progress"]) == 0
    assert stored_step_size(str(plain / "snapshot_iter_2")) is None


def test_alpha_must_be_positive(tmp_path, capsys):
    assert main([str(tmp_path), "--alpha", "-1"]) != 0
    assert "alpha" in capsys.readouterr().err


def test_final_alpha_must_be_positive(tmp_path, capsys):
    assert main([str(tmp_path), "--final-alpha", "0"]) != 0
    assert "final-alpha" in capsys.readouterr().err


# Issue 13, defect 13: NaN in the cache, and a loss that is not finite
def test_13_nan_cache_is_refused_before_training(tmp_path):
    cache = small_cache(tmp_path / "cache")
    arr = np.load(str(cache / "t1.npy"), mmap_mode="r+")
    arr[0, 5, 7] = np.nan
    arr.flush()
    del arr
    proc = cli("train", cache, "-o", tmp_path / "r", "-i", "2", "-b", "2", "--no-progress")
    one_line_error(proc, "NaN")
    assert not (tmp_path / "r" / "unet.npz").exists()


# Issue 13, defect 13: NaN in the cache, and a loss that is not finite
def test_13_non_finite_loss_stops_training(tmp_path):
    cache = small_cache(tmp_path / "cache", value=3e38)   # finite data, the loss overflows
    proc = cli("train", cache, "-o", tmp_path / "r", "-i", "5", "-b", "2", "--no-progress")
    one_line_error(proc, "training loss became")
    assert not (tmp_path / "r" / "unet.npz").exists()


# Issue 13, defect 14: train -o checked first
def test_14_train_output_checked_at_the_start(tmp_path):
    cache = small_cache(tmp_path / "cache")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    t0 = time.time()
    proc = cli("train", cache, "-o", blocker / "sub", "-i", "50", "-b", "2", "--no-progress")
    one_line_error(proc, "not a folder")
    proc = cli("train", cache, "-o", blocker, "-i", "50", "-b", "2", "--no-progress")
    one_line_error(proc, "not a folder")
    assert time.time() - t0 < 30


# Issue 13, defect 14: train -o checked first
def test_14_permission_problem_is_named(tmp_path, monkeypatch):
    import errno

    from unetvocalsep.files import check_writable_folder

    real_open = os.open

    def denied(path, *a, **k):
        if ".unetvocalsep-probe-" in str(path):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path, *a, **k)
    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(UserError, match="permission denied"):
        check_writable_folder(str(tmp_path))


# Issue 13: more of the same classes, found while fixing the 21
def test_more_train_never_replaces_an_earlier_model(tmp_path):
    cache = small_cache(tmp_path / "cache")
    out = tmp_path / "r"
    args = ["train", cache, "-o", out, "-i", "1", "-b", "2", "--no-progress"]
    assert cli(*args).returncode == 0
    before = (out / "unet.npz").read_bytes()
    one_line_error(cli(*args), "--overwrite")
    assert (out / "unet.npz").read_bytes() == before
    assert cli(*args, "--overwrite").returncode == 0


# Issue 28, defect 12, 13: memory from one option or field; a snapshot of the wrong shapes
@pytest.mark.parametrize("change, needle", [
    ({"iterator:main/current_position": np.array(10 ** 9)}, "position"),
    ({"unet/conv1/W/m": np.zeros((3, 3), np.float32)}, "shape"),
])
def test_12_13_hostile_snapshot_is_refused(tiny_run, tmp_path, change, needle):
    from unetvocalsep.errors import ModelError
    from unetvocalsep.training.train import train

    bad = tampered_snapshot(tiny_run / "out" / "snapshot_iter_2", tmp_path / "bad.npz", **change)
    with pytest.raises(ModelError, match=needle):
        train(str(tiny_run / "cache"), out=str(tmp_path / "o"), val_fraction=0.0, batchsize=2,
              iteration=4, progress=False, resume=bad)


# Issue 28, defect 12, 13: memory from one option or field; a snapshot of the wrong shapes
def test_12_batch_size_is_bounded_by_the_memory(tiny_run, tmp_path):
    from unetvocalsep.limits import check_batch_size

    one_line_error(cli("train", tiny_run / "cache", "-o", tmp_path / "o", "-b", "100000",
                       "-i", "1", "--no-progress"), "GiB is available")
    one_line_error(cli("finetune", "--pair", "a.wav", "b.wav", "-o", tmp_path / "f",
                       "-b", "100000"), "GiB is available")
    assert check_batch_size(64, available=2 * 2 ** 30) == 64
    with pytest.raises(UserError, match="-b 85 or less"):
        check_batch_size(100, available=2 * 2 ** 30)
