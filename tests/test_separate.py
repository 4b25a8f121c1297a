"""Separation: library API, the article's exact path, chunking, the CLI and bad input."""
import errno
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from conftest import sdr, toy_stems
from unetvocalsep.resampling import resample, to_mono
from unetvocalsep.model_io import DEFAULT_MODEL, load_model, save_model
from unetvocalsep.masking import compute_mask, map_mask, stft_params
from unetvocalsep.separate import Separator, main, separate_audio
from unetvocalsep.spectrogram import istft, magphase, stft
from hardening import hidden, song  # noqa: F401  (fixtures and helpers)
from unetvocalsep.errors import AudioError, UserError


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "unetvocalsep.separate", *args],
                          capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(proc):
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, proc.stderr
    assert "error" in lines[0] and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def sep(random_model):
    return Separator(random_model)


def test_separate_function_shapes_and_sum(sep, toy_song):
    _, v, a, sr = toy_song
    y = v + a
    out = separate_audio(y, sr, model=sep)
    assert set(out) == {"vocals", "accompaniment"}
    for s in out.values():
        assert s.shape == y.shape and s.dtype == np.float32
    # with a soft mask the stems add up to the input, to float precision
    assert np.max(np.abs(out["vocals"] + out["accompaniment"] - y)) < 1e-5
    mono = separate_audio(y[0], sr, model=sep)
    assert mono["vocals"].shape == y[0].shape


def _article_path(unet, y, sr, hard=False):
    """The article's LoadAudio -> ComputeMask -> SaveAudio, written out by hand."""
    y16 = resample(to_mono(y), sr, 16000)[0]
    spec = stft(y16)
    mag, phase = magphase(spec)
    mask = compute_mask(unet, mag / mag.max(), hard=hard)
    assert np.all(mask[0] == 0)                      # the DC bin gets mask 0
    return istft(mag * mask * phase, len(y16)), istft(mag * (1 - mask) * phase, len(y16))


@pytest.mark.parametrize("hard", [False, True])
def test_sr16k_mono_is_the_article_output(sep, toy_song, tmp_path, hard):
    path, v, a, sr = toy_song
    s = Separator(sep.unet, hard_mask=hard, highband="article")
    outs = s.separate_file(path, str(tmp_path), bits=32, out_sr=16000, mono=True, progress=False)
    voc, sr_v = sf.read(outs["vocals"], dtype="float32")
    acc, _ = sf.read(outs["accompaniment"], dtype="float32")
    ref_v, ref_a = _article_path(sep.unet, v + a, sr, hard)
    assert sr_v == 16000 and voc.shape == ref_v.shape
    np.testing.assert_allclose(voc, ref_v, atol=1e-5)
    np.testing.assert_allclose(acc, ref_a, atol=1e-5)


def test_hard_mask_is_binary():
    mag = np.random.default_rng(0).random((513, 64)).astype(np.float32)
    from unetvocalsep.network import UNet
    m = compute_mask(UNet(), mag, hard=True)
    assert set(np.unique(m)) <= {0.0, 1.0}


def test_map_mask_identity_and_highband():
    rng = np.random.default_rng(1)
    mask = rng.random((513, 40)).astype(np.float32)
    np.testing.assert_array_equal(map_mask(mask, 16000, 40, highband="article"), mask)
    m44 = map_mask(mask, 44100, 40, highband="article")
    n_fft, hop = stft_params(44100)
    assert n_fft == 2 * hop and 2822 <= n_fft <= 2822 * 1.03   # 32 ms, an FFT-friendly size
    assert m44.shape == (n_fft // 2 + 1, 40)
    # at 1 kHz (exactly bin 64 at 16 kHz) the mask is the model's own value, frame 0 too
    f_bin = 1000 / (44100 / n_fft)
    i = int(round(f_bin))
    assert abs(m44[i, 0] - np.interp(i * 44100 / n_fft / 15.625, np.arange(513), mask[:, 0])) < 1e-5
    top = mask[256:, 0].mean()
    assert abs(m44[-1, 0] - top) < 1e-5                  # 'article': the 4-8 kHz mean above
    assert np.all(map_mask(mask, 44100, 40, highband="zero")[-1] == 0)


def test_chunked_equals_one_pass_within_0_1_db():
    """Cross-faded windows give the same separation quality as one pass."""
    if not os.path.exists(DEFAULT_MODEL):
        pytest.fail("the bundled model is missing")
    unet, _ = load_model()
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
    y, sr = sf.read(os.path.join(root, "example.wav"), dtype="float32", always_2d=True)
    v, _ = sf.read(os.path.join(root, "example_vocals.flac"), dtype="float32", always_2d=True)
    a, _ = sf.read(os.path.join(root, "example_accompaniment.flac"), dtype="float32", always_2d=True)
    y, v, a = y.T, v.T, a.T                                   # a 12 s song with its true stems
    one = Separator(unet).separate(y, sr)                     # 60 s windows: one pass
    many = Separator(unet, chunk_seconds=5.5, margin_seconds=2.5,
                     crossfade_seconds=0.5).separate(y, sr)   # three windows, two joins
    for name, ref in (("vocals", v), ("accompaniment", a)):
        d = sdr(ref, many[name]) - sdr(ref, one[name])
        # two joins in 12 s (real songs get one per 55 s): the synthetic-corpus model
        # moved by under 0.1 dB, the real-music model by about 0.1 dB
        assert abs(d) < 0.2, (name, d)
    assert np.max(np.abs(many["vocals"] + many["accompaniment"] - y)) < 1e-5
    # no click at the joins: the sample-to-sample step is never much larger than in one pass
    step_many = np.max(np.abs(np.diff(many["vocals"][0])))
    step_one = np.max(np.abs(np.diff(one["vocals"][0])))
    assert step_many < 1.2 * step_one + 1e-4


def test_windows_cover_input_exactly(sep):
    sr = 8000
    for seconds in (0.1, 5.9, 6.0, 6.1, 17.3):
        y = np.random.default_rng(7).standard_normal((1, int(seconds * sr))).astype(np.float32) * 0.1
        s = Separator(sep.unet, chunk_seconds=6.0, margin_seconds=2.0, crossfade_seconds=0.5)
        out = s.separate(y, sr)
        assert out["vocals"].shape == y.shape
        assert np.max(np.abs(out["vocals"] + out["accompaniment"] - y)) < 1e-5


def test_cli_writes_stems_and_keeps_existing(random_model, toy_song, tmp_path):
    path, v, a, sr = toy_song
    out = tmp_path / "sep"
    proc = run_cli(path, "-o", str(out), "--model", random_model)
    assert proc.returncode == 0, proc.stderr
    track = out / "toy song"
    assert sorted(os.listdir(track)) == ["accompaniment.wav", "vocals.wav"]
    info = sf.info(str(track / "vocals.wav"))
    assert info.samplerate == sr and info.channels == 2 and info.frames == v.shape[1]
    before = (track / "vocals.wav").read_bytes()
    (track / "vocals.wav").write_bytes(b"user's file")
    proc = run_cli(path, "-o", str(out), "--model", random_model)
    assert proc.returncode != 0 and "--overwrite" in proc.stderr
    assert (track / "vocals.wav").read_bytes() == b"user's file"
    proc = run_cli(path, "-o", str(out), "--model", random_model, "--overwrite", "--format", "flac")
    assert proc.returncode == 0
    assert (track / "vocals.flac").exists()
    proc = run_cli(path, "-o", str(out), "--model", random_model, "--overwrite")
    assert proc.returncode == 0 and (track / "vocals.wav").read_bytes() == before


def test_cli_never_writes_over_its_input(random_model, toy_song, tmp_path):
    src = tmp_path / "out" / "vocals"
    src.mkdir(parents=True)
    target = src / "vocals.wav"
    target.write_bytes(open(toy_song[0], "rb").read())
    before = target.read_bytes()
    proc = run_cli(str(target), "-o", str(tmp_path / "out"), "--model", random_model, "--overwrite")
    assert_one_line_error(proc)
    assert "input" in proc.stderr
    assert target.read_bytes() == before


def test_model_loaded_once_for_many_files(random_model, toy_song, tmp_path, monkeypatch):
    import unetvocalsep.model_io as mio

    calls = []
    for name in ("load_model", "load_params"):  # chainer path / fast CPU path
        real = getattr(mio, name)
        monkeypatch.setattr(mio, name, lambda p=None, real=real: calls.append(p) or real(p))
    files = []
    for i in range(3):
        f = tmp_path / f"s{i}.wav"
        sf.write(str(f), (toy_song[1] + toy_song[2]).T[:22050], 44100)
        files.append(str(f))
    assert main([*files, "-o", str(tmp_path / "o"), "--model", random_model, "--no-progress"]) == 0
    assert len(calls) == 1
    assert all((tmp_path / "o" / f"s{i}" / "vocals.wav").exists() for i in range(3))


def test_very_short_file(random_model, tmp_path):
    f = tmp_path / "short.wav"
    y = np.random.default_rng(0).standard_normal((4410, 2)).astype(np.float32) * 0.1
    sf.write(str(f), y, 44100, subtype="FLOAT")
    proc = run_cli(str(f), "-o", str(tmp_path / "o"), "--model", random_model, "--bits", "32")
    assert proc.returncode == 0, proc.stderr
    voc, _ = sf.read(str(tmp_path / "o" / "short" / "vocals.wav"), dtype="float32")
    acc, _ = sf.read(str(tmp_path / "o" / "short" / "accompaniment.wav"), dtype="float32")
    assert voc.shape == y.shape == acc.shape
    assert np.max(np.abs(voc + acc - y)) < 1e-5


@pytest.mark.parametrize("case", ["missing", "not_audio", "empty", "nan", "folder", "too_short"])
def test_bad_input_one_line(random_model, tmp_path, case):
    f = tmp_path / "in.wav"
    if case == "not_audio":
        f.write_text("hello\n" * 200)
    elif case == "empty":
        f.write_bytes(b"")
    elif case == "nan":
        y = np.zeros(16000, np.float32)
        y[5000] = np.nan
        sf.write(str(f), y, 16000, subtype="FLOAT")
    elif case == "folder":
        f.mkdir()
    elif case == "too_short":
        sf.write(str(f), np.zeros(3, np.float32), 16000)
    out = tmp_path / "out"
    proc = run_cli(str(f), "-o", str(out), "--model", random_model)
    assert_one_line_error(proc)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))


@pytest.mark.parametrize("case", ["corrupt", "wrong_shape", "missing", "text"])
def test_bad_model_one_line(toy_song, tmp_path, case):
    m = tmp_path / "m.npz"
    if case == "corrupt":
        m.write_bytes(b"PK\x03\x04" + os.urandom(300))
    elif case == "wrong_shape":
        np.savez(str(m), **{"conv1/W": np.zeros((3, 3), np.float32)})
    elif case == "text":
        m.write_text("not a model")
    proc = run_cli(toy_song[0], "-o", str(tmp_path / "o"), "--model", str(m))
    assert_one_line_error(proc)
    assert "model" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_unwritable_output_folder(random_model, toy_song, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli(toy_song[0], "-o", str(blocker / "sub"), "--model", random_model)
    assert_one_line_error(proc)


def test_full_disk_leaves_no_file(random_model, toy_song, tmp_path, monkeypatch, capsys):
    import unetvocalsep.audio as audio

    def full(self, y):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(audio.AudioWriter, "write", full)
    rc = main([toy_song[0], "-o", str(tmp_path / "o"), "--model", random_model, "--no-progress"])
    err = capsys.readouterr().err
    assert rc != 0 and "no space left" in err.lower() and "Traceback" not in err
    assert not any(p.is_file() for p in (tmp_path / "o").rglob("*")) if (tmp_path / "o").exists() else True


def test_gpu_request_without_gpu_is_clear(random_model, toy_song, tmp_path):
    import chainer
    if chainer.backends.cuda.available:
        pytest.skip("a GPU is present")
    proc = run_cli(toy_song[0], "-o", str(tmp_path / "o"), "--model", random_model, "--device", "0")
    assert_one_line_error(proc)
    assert "GPU" in proc.stderr


def test_missing_bundled_model_says_how_to_train(monkeypatch, tmp_path):
    import unetvocalsep.model_io as mio
    from unetvocalsep.errors import ModelError

    monkeypatch.setattr(mio, "DEFAULT_MODEL", str(tmp_path / "none.npz"))
    with pytest.raises(ModelError, match="unetvocalsep.train"):
        mio.load_model()


def test_float16_model_loads(tmp_path):
    from unetvocalsep.network import UNet
    u = UNet()
    save_model(str(tmp_path / "h.npz"), u, dtype="float16")
    back, cfg = load_model(str(tmp_path / "h.npz"))
    assert cfg["storage_dtype"] == "float16" and back.conv3.W.dtype == np.float32
    np.testing.assert_allclose(back.conv3.W.array, u.conv3.W.array, atol=1e-3)


def test_jobs_share_one_model_and_match_serial(random_model, toy_song, tmp_path):
    files = []
    for i in range(3):
        f = tmp_path / f"j{i}.wav"
        sf.write(str(f), (toy_song[1] + toy_song[2]).T[: 22050 * (i + 1)], 44100, subtype="FLOAT")
        files.append(str(f))
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    rc = main([*files, str(bad), "-o", str(tmp_path / "par"), "--model", random_model, "-j", "3",
               "--no-progress", "--bits", "32"])
    assert rc == 1                                       # the bad file failed, the others went on
    assert main([*files, "-o", str(tmp_path / "ser"), "--model", random_model,
                 "--no-progress", "--bits", "32"]) == 0
    for i in range(3):
        a, _ = sf.read(str(tmp_path / "par" / f"j{i}" / "vocals.wav"))
        b, _ = sf.read(str(tmp_path / "ser" / f"j{i}" / "vocals.wav"))
        np.testing.assert_array_equal(a, b)


def test_mp3_input_and_flac_output(random_model, toy_song, tmp_path):
    f = tmp_path / "song.mp3"
    sf.write(str(f), (toy_song[1] + toy_song[2]).T, 44100, format="MP3")
    assert main([str(f), "-o", str(tmp_path / "o"), "--model", random_model, "--no-progress",
                 "--format", "flac", "--bits", "24"]) == 0
    info = sf.info(str(tmp_path / "o" / "song" / "vocals.flac"))
    assert info.samplerate == 44100 and info.channels == 2 and info.subtype == "PCM_24"
    assert abs(info.frames - sf.info(str(f)).frames) < 2000


def _small_windows(model):
    return Separator(model, chunk_seconds=1.5, margin_seconds=0.5, crossfade_seconds=0.25)


def test_first_pass_cache_and_prefetch_change_nothing(random_model, toy_song, tmp_path,
                                                      monkeypatch):
    """Kept audio/magnitudes and the network thread give bit-identical stems."""
    import unetvocalsep.pipeline as pipeline
    from unetvocalsep.pipeline import array_reader as _array_reader

    path, v, a, sr = toy_song
    s = _small_windows(random_model)
    y = (v + a).astype(np.float32)
    peak, audio, mags = s.first_pass(_array_reader(y), sr)
    assert audio is not None and np.array_equal(np.concatenate(audio, axis=1), y)
    assert len(mags) == len(list(s._windows(_array_reader(y), sr))) >= 3
    assert peak == s.track_peak(_array_reader(y), sr)

    def run(**kw):
        return [np.concatenate([b[i] for b in blocks], axis=1) for i in range(2)
                for blocks in [list(s.stream(_array_reader(y), sr, peak, **kw))]]

    base = run(prefetch=False)
    for kw in ({"prefetch": True}, {"mags": mags}, {"mags": mags, "prefetch": True}):
        got = run(**kw)
        assert all(np.array_equal(g, b) for g, b in zip(got, base)), kw

    # files: with the cache (one decode) and without (budget 0: decoded twice)
    outs = {}
    for budget in (None, 0):
        monkeypatch.setattr(pipeline, "CACHE_BYTES", pipeline.CACHE_BYTES if budget is None else 0)
        out_dir = tmp_path / f"o{budget}"
        s.separate_file(path, str(out_dir), bits=32, progress=False)
        outs[budget] = sf.read(str(out_dir / "toy song" / "vocals.wav"), dtype="float32")[0]
    assert np.array_equal(outs[None], outs[0])


def test_first_pass_drops_the_cache_beyond_its_budget(random_model, toy_song):
    from unetvocalsep.pipeline import array_reader as _array_reader

    _, v, a, sr = toy_song
    s = _small_windows(random_model)
    y = (v + a).astype(np.float32)
    peak, audio, mags = s.first_pass(_array_reader(y), sr, cache_bytes=y.nbytes // 2)
    assert audio is None and mags is None
    assert peak == s.first_pass(_array_reader(y), sr)[0]


def test_second_decode_only_without_cache(random_model, toy_song, tmp_path, monkeypatch):
    import unetvocalsep.audio as audio_mod
    import unetvocalsep.pipeline as pipeline

    opened = []
    real = audio_mod.AudioReader.__init__

    def counting(self, *args, **kw):
        opened.append(args[0])
        real(self, *args, **kw)
    monkeypatch.setattr(audio_mod.AudioReader, "__init__", counting)
    path = toy_song[0]
    s = _small_windows(random_model)
    s.separate_file(path, str(tmp_path / "a"), progress=False)
    with_cache = len(opened)
    opened.clear()
    monkeypatch.setattr(pipeline, "CACHE_BYTES", 0)
    s.separate_file(path, str(tmp_path / "b"), progress=False)
    assert len(opened) == with_cache + 1   # the second pass opens the file again


def test_network_errors_surface_from_the_prefetch_thread(random_model, toy_song):
    class Broken(Separator):
        def mask16(self, y, sr, peak, mag=None):
            raise RuntimeError("boom in the network")

    _, v, a, sr = toy_song
    s = Broken(random_model, chunk_seconds=1.5, margin_seconds=0.5, crossfade_seconds=0.25)
    with pytest.raises(RuntimeError, match="boom in the network"):
        s.separate(v + a, sr)


def test_choose_jobs_respects_memory_cores_and_files():
    from unetvocalsep.batch import JOB_MEMORY_BYTES, choose_jobs

    big = 64 * 2 ** 30
    assert choose_jobs(1, 10, available=big, cores=8) == 1
    assert choose_jobs(4, 10, available=big, cores=2) == 4          # an explicit request stands
    assert choose_jobs(0, 10, available=big, cores=3) == 3          # auto: the cores
    assert choose_jobs(0, 2, available=big, cores=8) == 2           # never more than the files
    assert choose_jobs(4, 10, available=2 * JOB_MEMORY_BYTES + 1, cores=8) == 2
    assert choose_jobs(4, 10, available=JOB_MEMORY_BYTES // 2, cores=8) == 1


def test_cli_lowers_jobs_when_memory_is_short(random_model, toy_song, tmp_path, monkeypatch,
                                              capsys):
    import unetvocalsep.batch as batch

    monkeypatch.setattr(batch, "mem_available", lambda: batch.JOB_MEMORY_BYTES + 1)
    files = []
    for i in range(2):
        f = tmp_path / f"t{i}.wav"
        sf.write(str(f), (toy_song[1] + toy_song[2]).T[:22050], 44100)
        files.append(str(f))
    assert main([*files, "-o", str(tmp_path / "o"), "--model", random_model, "-j", "2",
                 "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "-j 2 lowered to 1" in err
    assert all((tmp_path / "o" / f"t{i}" / "vocals.wav").exists() for i in range(2))


def test_blocks_reader_reads_across_blocks_and_frees_them():
    from unetvocalsep.pipeline import array_reader, blocks_reader

    rng = np.random.default_rng(3)
    y = rng.standard_normal((2, 1000)).astype(np.float32)
    blocks = [y[:, :300].copy(), y[:, 300:310].copy(), y[:, 310:].copy()]
    read, ref = blocks_reader(blocks), array_reader(y)
    assert blocks == []   # the reader owns them now
    for n in (250, 100, 7, 600, 600, 5):
        got, want = read(n), ref(n)
        assert got.shape == want.shape and np.array_equal(got, want)
    assert read(10).shape == (2, 0)


@pytest.mark.parametrize("sr, seconds", [(44100, 65.003), (48000, 25.0001), (16000, 40.0),
                                         (22050, 20.5)])
@pytest.mark.parametrize("first_frame", [0, 3])
def test_apply_mask_in_blocks_gives_the_same_samples(sr, seconds, first_frame):
    """Blocks with one STFT window of context are bit-identical to the whole window."""
    from unetvocalsep.masking import apply_mask

    rng = np.random.default_rng(11)
    n = int(seconds * sr)
    y = rng.standard_normal((2, n)).astype(np.float32)
    mask = rng.random((513, n * 16000 // sr // 512 + 2)).astype(np.float32)
    whole = apply_mask(y, sr, mask, first_frame=first_frame)
    blocks = apply_mask(y, sr, mask, first_frame=first_frame, block_seconds=10.0)
    assert all(np.array_equal(w, b) for w, b in zip(whole, blocks))
    # and the blocks really are smaller than the window
    assert n > 2 * 10.0 * sr


# Issue 13, defect 9: array layouts and dtypes
def test_09_array_layouts(random_model):
    from unetvocalsep.separate import Separator

    sep = Separator(random_model)
    v, a = toy_stems(seconds=2.0, sr=22050)
    y = v + a
    ref = sep.separate(y, 22050)
    got = sep.separate(y.T.copy(), 22050)                       # soundfile's (samples, channels)
    assert got["vocals"].shape == y.T.shape
    np.testing.assert_allclose(got["vocals"], ref["vocals"].T, atol=1e-6)
    pcm = np.round(y.T * 32767).astype(np.int16)                 # integer PCM is scaled
    got16 = sep.separate(pcm, 22050)
    assert np.abs(got16["vocals"]).max() < 2.0
    np.testing.assert_allclose(got16["vocals"], ref["vocals"].T, atol=2e-3)
    with pytest.raises(AudioError, match=r"shape \(1, 2, 44100\)"):
        sep.separate(y[None], 22050)
    with pytest.raises(AudioError, match="complex"):
        sep.separate(y.astype(np.complex64), 22050)


# Issue 13: more of the same classes, found while fixing the 21
@pytest.mark.parametrize("kw", [{"chunk_seconds": float("nan")}, {"margin_seconds": float("inf")},
                                {"crossfade_seconds": -1.0}, {"chunk_seconds": "60"}])
def test_more_separator_settings_are_checked(random_model, kw):
    from unetvocalsep.separate import Separator

    with pytest.raises(UserError, match="positive number of seconds"):
        Separator(random_model, **kw)


# Issue 13: more of the same classes, found while fixing the 21
def test_more_stdin_is_refused_in_python_too(random_model, tmp_path):
    from unetvocalsep.separate import Separator

    with pytest.raises(UserError, match="standard input"):
        Separator(random_model).separate_file("-", str(tmp_path / "o"), progress=False)


# Issue 28, defect 8: an input that shrank between the two passes
def test_08_input_that_changes_between_passes_writes_nothing(random_model, tmp_path, monkeypatch):
    from unetvocalsep.separator import Separator

    v, a = toy_stems(seconds=6.0, sr=44100)
    path = tmp_path / "song.wav"
    sf.write(str(path), (v + a).T, 44100, subtype="FLOAT")
    sep = Separator(random_model)
    real = Separator.first_pass

    def first_pass_then_shrink(self, read, sr, cache_bytes=None):
        res = real(self, read, sr, cache_bytes=0)   # no cache: the second pass decodes again
        sf.write(str(path), (v + a).T[:44100 * 2], 44100, subtype="FLOAT")
        return res

    monkeypatch.setattr(Separator, "first_pass", first_pass_then_shrink)
    with pytest.raises(UserError, match="changed while it was being separated"):
        sep.separate_file(str(path), str(tmp_path / "o"), progress=False)
    assert not (tmp_path / "o").exists() or hidden(tmp_path / "o") == [] and \
        not list((tmp_path / "o").rglob("*.wav"))
