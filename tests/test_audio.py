"""Decoding, encoding and atomic writes."""
import os

import numpy as np
import pytest
import soundfile as sf

from unetvocalsep.audio import AudioReader, AudioWriter, load_audio, write_audio
from unetvocalsep.resampling import resample
from unetvocalsep.files import atomic_path
from unetvocalsep.errors import AudioError, UserError


@pytest.mark.parametrize("fmt,tol", [("wav", 1e-4), ("flac", 1e-4), ("ogg", 0.2), ("mp3", 0.2)])
def test_formats_keep_rate_and_channels(tmp_path, fmt, tol):
    sr = 22050
    t = np.arange(sr) / sr
    y = np.stack([0.4 * np.sin(2 * np.pi * 330 * t), 0.2 * np.sin(2 * np.pi * 550 * t)]).astype(np.float32)
    path = tmp_path / f"x.{fmt}"
    write_audio(str(path), y, sr)
    back, sr2 = load_audio(str(path))
    assert sr2 == sr and back.shape[0] == 2
    assert abs(back.shape[1] - sr) < 2000          # lossy codecs may pad a little
    n = min(back.shape[1], sr)
    if fmt in ("wav", "flac"):
        np.testing.assert_allclose(back[:, :n], y[:, :n], atol=tol)
    else:                                         # same loudness in each channel
        assert np.all(np.abs(np.sqrt(np.mean(back ** 2, axis=1)) - np.sqrt(np.mean(y ** 2, axis=1))) < tol)


def test_resample_length():
    y = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32)
    out = resample(y, 44100, 16000)
    assert out.shape == (2, 16000) and out.dtype == np.float32


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        AudioReader(str(tmp_path / "missing.wav"))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        AudioReader(str(empty))
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 100)
    with pytest.raises(AudioError, match="not an audio file"):
        AudioReader(str(text))
    nan = tmp_path / "nan.wav"
    sf.write(str(nan), np.full(1000, np.nan, np.float32), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN"):
        load_audio(str(nan))


def test_atomic_path_keeps_existing_and_cleans_up(tmp_path):
    target = tmp_path / "out.wav"
    target.write_bytes(b"precious")
    with pytest.raises(UserError, match="--overwrite"):
        with atomic_path(str(target)):
            pass
    assert target.read_bytes() == b"precious"
    with pytest.raises(RuntimeError):
        with atomic_path(str(target), overwrite=True) as tmp:
            open(tmp, "wb").write(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"precious"
    assert os.listdir(tmp_path) == ["out.wav"]


def test_writer_interrupted_leaves_nothing(tmp_path):
    path = tmp_path / "v.wav"
    with pytest.raises(KeyboardInterrupt):
        with AudioWriter(str(path), 16000, 1) as w:
            w.write(np.zeros((1, 100), np.float32))
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_outputs_get_normal_permissions(tmp_path):
    path = tmp_path / "p.wav"
    write_audio(str(path), np.zeros((1, 100), np.float32), 16000)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_pcm16_conversion_matches_libsndfile_within_one_step(tmp_path):
    from unetvocalsep.audio import to_pcm16

    rng = np.random.default_rng(0)
    y = (rng.standard_normal((2, 50000)) * 0.7).astype(np.float32)  # some samples clip
    y[0, :4] = [1.0, -1.0, 1.5, -1.5]
    ref_path = str(tmp_path / "ref.wav")
    sf.write(ref_path, y.T, 44100, subtype="PCM_16")   # libsndfile's own conversion
    ref, _ = sf.read(ref_path, dtype="int16")
    got = to_pcm16(y)
    assert got.shape == ref.shape and got.dtype == np.int16
    assert np.max(np.abs(got.astype(int) - ref)) <= 1
    assert list(got[:4, 0]) == [32767, -32768, 32767, -32768]
    # nearest rounding: the error is at most half a step
    assert np.max(np.abs(got / 32768.0 - np.clip(y.T, -1, 32767 / 32768))) <= 0.5 / 32768 + 1e-9


def test_writer_pcm16_file_reads_back(tmp_path):
    from unetvocalsep.audio import AudioWriter

    y = np.stack([np.linspace(-0.9, 0.9, 1000), np.zeros(1000)]).astype(np.float32)
    path = str(tmp_path / "w.wav")
    with AudioWriter(path, 8000, 2, "wav", 16) as w:
        w.write(y[:, :400])
        w.write(y[:, 400:])
    back, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == 8000 and back.shape == (1000, 2)
    assert np.max(np.abs(back.T - y)) <= 0.5 / 32768 + 1e-7
