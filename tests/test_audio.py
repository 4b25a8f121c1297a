"""Decoding, encoding and atomic writes."""
import os

import numpy as np
import pytest
import soundfile as sf

from unetvocalsep.audio import AudioReader, AudioWriter, load_audio, write_audio
from unetvocalsep.resampling import resample
from unetvocalsep.files import atomic_path
from unetvocalsep.errors import AudioError, UserError
import subprocess
from hardening import PY, make_mp3, cli, joined_mp3, one_line_error, song  # noqa: F401  (fixtures and helpers)


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


# Issue 13, defect 3: silent clipping
def test_03_wav_stems_never_clip_and_add_up(random_model, song, tmp_path):
    from unetvocalsep.separate import Separator

    sep = Separator(random_model)
    outs = sep.separate_file(str(song), str(tmp_path / "o"), progress=False, gain_db=12.0)
    mix, _ = sf.read(str(song), dtype="float32")
    v, _ = sf.read(outs["vocals"], dtype="float32")
    a, _ = sf.read(outs["accompaniment"], dtype="float32")
    gain = 10 ** (12 / 20)
    assert max(np.abs(v).max(), np.abs(a).max()) > 1.0        # would have clipped at 16 bits
    assert np.max(np.abs(v + a - gain * mix)) < 1e-4            # nothing clipped
    assert sf.info(outs["vocals"]).subtype == "FLOAT" and outs.notes
    assert "32-bit float" in outs.notes[0]


# Issue 13, defect 3: silent clipping
def test_03_loud_master_default_output_adds_up(song, tmp_path):
    """A limited master through the bundled model and the default settings."""
    y, sr = sf.read(str(song), dtype="float32")
    loud = np.clip(y / np.abs(y).max() * 4.0, -0.999, 0.999)   # brick-wall limited, full scale
    path = tmp_path / "loud.wav"
    sf.write(str(path), loud, sr, subtype="FLOAT")
    proc = cli("separate", path, "-o", tmp_path / "o", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    v, _ = sf.read(str(tmp_path / "o" / "loud" / "vocals.wav"), dtype="float32")
    a, _ = sf.read(str(tmp_path / "o" / "loud" / "accompaniment.wav"), dtype="float32")
    # 16-bit where it fits (one step is 3e-5 per stem), float where it would clip
    assert np.max(np.abs(v + a - loud)) < 1e-4


# Issue 13, defect 3: silent clipping
def test_03_formats_that_cannot_hold_it_say_so(random_model, song, tmp_path):
    proc = cli("separate", song, "-o", tmp_path / "o", "--model", random_model, "--no-progress",
               "--format", "flac", "--gain", "12")
    assert proc.returncode == 0, proc.stderr
    notes = [l for l in proc.stderr.splitlines() if "note:" in l]
    assert notes and "samples clipped" in notes[0] and "--gain " in notes[0]
    # the advice works: with the suggested gain (in place of 12 dB) nothing clips
    gain = float(notes[0].split("--gain ")[1].split()[0])
    assert gain < 12
    proc = cli("separate", song, "-o", tmp_path / "o2", "--model", random_model, "--no-progress",
               "--format", "flac", "--gain", gain)
    assert proc.returncode == 0 and "clipped" not in proc.stderr, proc.stderr


# Issue 13, defect 4/5/6: the web server's resources
def test_06_libsndfile_system_error_becomes_enospc(tmp_path, monkeypatch):
    import errno

    import unetvocalsep.audio as audio

    class Full:
        f_bavail, f_frsize = 0, 4096
    monkeypatch.setattr(os, "statvfs", lambda p: Full())
    exc = audio._write_error(sf.LibsndfileError(0, "System error."), str(tmp_path / "x.wav"))
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC and exc.filename.endswith("x.wav")


# Issue 13, defect 16: unreadable files and pipes
def test_16_permission_denied_is_said(song, monkeypatch):
    import builtins

    import unetvocalsep.audio as audio

    real_open = builtins.open

    def denied(path, *a, **k):
        if os.fspath(path) == str(song):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)
    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(UserError, match="permission denied"):
        audio.AudioReader(str(song))


# Issue 13, defect 16: unreadable files and pipes
def test_16_pipes_and_stdin_are_refused_clearly(random_model, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    one_line_error(cli("separate", fifo, "-o", tmp_path / "o", "--model", random_model),
                   "pipes and devices are not supported")
    one_line_error(cli("separate", "-", "-o", tmp_path / "o", "--model", random_model),
                   "standard input is not supported")


# Issue 13, defect 17: --bits for every format
@pytest.mark.parametrize("fmt, bits, needle", [("ogg", "16", "lossy"), ("mp3", "24", "lossy"),
                                               ("flac", "32", "cannot store 32-bit")])
def test_17_bits_refused_consistently(random_model, song, tmp_path, fmt, bits, needle):
    proc = cli("separate", song, "-o", tmp_path / "o", "--model", random_model,
               "--format", fmt, "--bits", bits)
    one_line_error(proc, needle)
    assert not (tmp_path / "o").exists()


# Issue 13, defect 19: absurd sample rates
def test_19_one_hertz_header_is_refused(song, random_model, tmp_path):
    data = bytearray(song.read_bytes())
    assert data[12:16] == b"fmt "
    data[24:28] = (1).to_bytes(4, "little")          # sample rate
    data[28:32] = (1 * 2 * 4).to_bytes(4, "little")  # byte rate
    bad = tmp_path / "one_hz.wav"
    bad.write_bytes(bytes(data))
    assert sf.info(str(bad)).samplerate == 1
    one_line_error(cli("separate", bad, "-o", tmp_path / "o", "--model", random_model),
                   "unsupported sample rate 1 Hz")


# Issue 28, defect 5: an mp3 was cut to the length in its first header
def test_05_joined_mp3_is_decoded_to_its_end(joined_mp3, random_model, tmp_path):
    from unetvocalsep.audio import AudioReader, load_audio

    assert sf.info(str(joined_mp3)).duration < 4          # libsndfile believes the header
    with AudioReader(joined_mp3) as r:
        assert 22.9 < r.duration < 23.2
    y, sr = load_audio(joined_mp3)
    assert 22.9 < y.shape[1] / sr < 23.2
    assert np.abs(y[:, 10 * sr:11 * sr]).max() > 0.05     # the second file's tone is there
    proc = cli("separate", joined_mp3, "-o", tmp_path, "--model", random_model)
    assert proc.returncode == 0, proc.stderr
    assert 22.9 < sf.info(str(tmp_path / "joined" / "vocals.wav")).duration < 23.2


# Issue 28, defect 5: an mp3 was cut to the length in its first header
def test_05_vbr_mp3_without_xing_header(tmp_path):
    import shutil

    from unetvocalsep.audio import AudioReader

    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        pytest.skip("needs ffmpeg and ffprobe")
    path = make_mp3(tmp_path / "vbr.mp3", 40, "-q:a", "4", "-write_xing", "0")
    with AudioReader(path) as r:
        assert 39.9 < r.duration < 40.2
    plain = make_mp3(tmp_path / "plain.mp3", 5)   # a normal file keeps libsndfile's decoder
    with AudioReader(plain) as r:
        assert r._sf is not None and 4.9 < r.duration < 5.1


def test_05_short_header_mp3_streams_through_ffmpeg_and_seeks(tmp_path, monkeypatch):
    """Such a file is read block by block (not decoded whole), sample for sample as ffmpeg."""
    import shutil

    from unetvocalsep import mpeg
    from unetvocalsep.audio import AudioReader

    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        pytest.skip("needs ffmpeg and ffprobe")
    path = make_mp3(tmp_path / "vbr.mp3", 12, "-q:a", "4", "-write_xing", "0")
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-ac", "2",
                          "-ar", "44100", "pipe:1"], capture_output=True, check=True).stdout
    ref = np.frombuffer(raw, "<f4").reshape(-1, 2).T
    with AudioReader(path) as r:
        assert r._ff is not None and r._data is None and r.frames == ref.shape[1]
        assert r._ff._proc is None                       # no ffmpeg until the first read
        blocks = [r.read(7777)]
        # ffmpeg has its own session: a Ctrl-C or a group kill meant for us does not make
        # it fail first ("cannot decode" instead of "interrupted")
        assert os.getsid(r._ff._proc.pid) != os.getsid(0)
        while True:
            y = r.read(7777)
            assert y.shape[1] <= 7777
            if not y.shape[1]:
                break
            blocks.append(y)
        assert np.array_equal(np.concatenate(blocks, 1), ref)
        for at in (300000, 1000, ref.shape[1] - 5):     # forwards, back, to the end
            r.seek(at)
            assert np.array_equal(r.read(4410), ref[:, at:at + 4410])
    assert r._ff is None                                  # closed: no ffmpeg left running
    monkeypatch.setattr(mpeg, "Decoder", None)            # the count is kept, not redone
    assert mpeg.decoded_length(str(path), 2, 44100) == ref.shape[1]
    monkeypatch.undo()
    monkeypatch.setattr(mpeg.shutil, "which", lambda name: None if name == "ffmpeg" else "/x")
    with pytest.raises(mpeg.AudioError, match="ffmpeg, needed to decode it"):
        mpeg.Decoder(str(path), 2, 44100)


def test_05_decoder_reports_ffmpeg_failure(tmp_path):
    import shutil

    from unetvocalsep import mpeg

    if not shutil.which("ffmpeg"):
        pytest.skip("needs ffmpeg")
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"not audio at all" * 100)
    with pytest.raises(mpeg.AudioError, match=r"cannot decode .*bad\.mp3 with ffmpeg: "):
        with mpeg.Decoder(str(bad), 2, 44100) as d:
            d.read(1000)


def test_m4a_streams_through_ffmpeg_sample_for_sample(tmp_path, monkeypatch, random_model):
    """m4a (which libsndfile cannot read) is streamed, not decoded whole by librosa."""
    import shutil

    from unetvocalsep import mpeg

    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        pytest.skip("needs ffmpeg and ffprobe")
    path = tmp_path / "song.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=330:d=4", "-f", "lavfi",
                    "-i", "anoisesrc=d=4:a=0.05", "-filter_complex", "[0][1]amerge=inputs=2",
                    "-ar", "22050", "-c:a", "aac", str(path)], check=True)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "pipe:1"],
                         capture_output=True, check=True).stdout
    ref = np.frombuffer(raw, "<f4").reshape(-1, 2).T
    assert mpeg.probe_audio(str(path)) == (22050, 2)
    probes = []   # kept per file version: the opens of one separation run ffprobe once
    real_run = subprocess.run
    monkeypatch.setattr(mpeg.subprocess, "run", lambda *a, **k: probes.append(a) or real_run(*a, **k))
    assert mpeg.probe_audio(str(path)) == (22050, 2) and probes == []
    monkeypatch.setattr(mpeg.subprocess, "run", real_run)
    with AudioReader(path) as r:
        assert r._data is None and r._ff is not None       # streamed, nothing held whole
        assert (r.sr, r.channels, r.frames) == (22050, 2, ref.shape[1])
        first = r.read(5000)
        r.seek(30000)
        later = r.read(1000)
    np.testing.assert_array_equal(first, ref[:, :5000])
    np.testing.assert_array_equal(later, ref[:, 30000:31000])
    y, sr = load_audio(path)
    np.testing.assert_array_equal(y, ref)
    out = tmp_path / "out"
    proc = subprocess.run([PY, "-m", "unetvocalsep.separate", str(path), "-o", str(out), "--model",
                           random_model, "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    v, vsr = sf.read(str(out / "song" / "vocals.wav"), always_2d=True)
    assert vsr == 22050 and v.shape == (ref.shape[1], 2)
    # a file ffprobe finds no audio in still gets the one-line refusal
    bad = tmp_path / "notes.m4a"
    bad.write_text("not audio")
    assert mpeg.probe_audio(str(bad)) is None
    with pytest.raises(AudioError, match="not an audio file"):
        AudioReader(bad)
    # without ffprobe, the old way: audioread decodes it whole (called directly,
    # as librosa 1.0 no longer falls back to it)
    monkeypatch.setattr(mpeg, "probe_audio", lambda p: None)
    with AudioReader(path) as r:
        assert r._data is not None and r._data.shape == ref.shape and r.sr == 22050
        whole = r.read(ref.shape[1])
    np.testing.assert_allclose(whole, ref, atol=2 / 32768)


# Issue 28, defect 6: stems over 4 GiB were written as plain WAV
def test_06_long_wav_outputs_are_rf64(random_model, song, tmp_path, monkeypatch):
    from unetvocalsep import audio
    from unetvocalsep.separator import Separator

    y = np.zeros((2, 1000), np.float32)
    audio.write_audio(str(tmp_path / "small.wav"), y, 8000)
    assert (tmp_path / "small.wav").read_bytes()[:4] == b"RIFF"
    # what passes the limit is RF64 (the limit lowered, as 4 GiB is too much for a test)
    monkeypatch.setattr(audio, "WAV_MAX_BYTES", 4 * 2 * 8000)
    audio.write_audio(str(tmp_path / "big.wav"), np.zeros((2, 8001), np.float32), 8000)
    assert (tmp_path / "big.wav").read_bytes()[:4] == b"RF64"
    assert sf.info(str(tmp_path / "big.wav")).frames == 8001
    monkeypatch.setattr(audio, "WAV_MAX_BYTES", 44100 * 2 * 4 * 3)   # 3 s of float stereo
    Separator(random_model).separate_file(str(song), str(tmp_path / "o"), progress=False)
    for stem in ("vocals", "accompaniment"):
        p = tmp_path / "o" / "song" / f"{stem}.wav"
        assert p.read_bytes()[:4] == b"RF64"
        assert sf.info(str(p)).frames == sf.info(str(song)).frames


# Issue 28, defect 6: stems over 4 GiB were written as plain WAV
def test_06_unknown_length_is_rf64_until_it_closes_small(tmp_path):
    from unetvocalsep.audio import AudioWriter

    path = tmp_path / "s.wav"
    with AudioWriter(str(path), 8000, 1) as w:   # frames not given
        w.write(np.zeros((1, 100), np.float32))
    assert path.read_bytes()[:4] == b"RIFF" and sf.info(str(path)).frames == 100


# Issue 28, defect 17: a valid WAV whose name is not UTF-8
def test_17_non_utf8_file_name(random_model, song, tmp_path):
    from unetvocalsep.audio import AudioReader

    raw = os.fsencode(str(tmp_path)) + b"/caf\xe9.wav"      # Latin-1 e-acute
    with open(song, "rb") as src, open(raw, "wb") as dst:
        dst.write(src.read())
    name = os.fsdecode(raw)
    with AudioReader(name) as r:
        assert r.frames == sf.info(str(song)).frames
    proc = subprocess.run([PY, "-m", "unetvocalsep.separate", raw, b"-o",
                           os.fsencode(str(tmp_path / "o")), b"--model",
                           os.fsencode(random_model)], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    out = os.fsencode(str(tmp_path / "o")) + b"/caf\xe9"
    assert sorted(os.listdir(out)) == [b"accompaniment.wav", b"vocals.wav"]
    assert sf.info(os.fsdecode(out + b"/vocals.wav").encode("utf-8", "surrogateescape")).frames \
        == sf.info(str(song)).frames
