"""Decoding, encoding and atomic writes."""
import os

import numpy as np
import pytest
import soundfile as sf

from unetvocalsep.audio import AudioReader, AudioWriter, atomic_path, load_audio, resample, write_audio
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
