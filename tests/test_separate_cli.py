"""The separate command line as a new user meets it (issue 29): names, stems, excerpts, folders."""
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from unetvocalsep.argtypes import Parser, vocal_level
from unetvocalsep.errors import UserError
from unetvocalsep.outputs import check_filename, output_paths, track_name
from unetvocalsep.separate import expand_inputs
from conftest import toy_stems
from hardening import PY, cli, hidden, one_line_error, song, tiny_disk  # noqa: F401  (fixtures and helpers)


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "unetvocalsep.separate", *args, "--no-progress"],
                          capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def musdb_layout(tmp_path_factory):
    """Two tracks in the <track>/mixture.wav layout of MUSDB18-HQ and DSD100."""
    d = tmp_path_factory.mktemp("layout")
    rng = np.random.default_rng(1)
    for name, seconds in (("Track A", 3.0), ("Track B", 2.0)):
        (d / name).mkdir()
        sf.write(str(d / name / "mixture.wav"), rng.standard_normal((int(seconds * 22050), 2)) * 0.1,
                 22050)
    return d


def test_same_file_names_need_a_template_and_the_error_gives_it(musdb_layout, tmp_path):
    proc = run(str(musdb_layout / "Track A" / "mixture.wav"), str(musdb_layout / "Track B" / "mixture.wav"),
               "-o", str(tmp_path))
    assert proc.returncode == 1 and "--filename '{parent}/{stem}.{ext}'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run(str(musdb_layout / "Track A" / "mixture.wav"), str(musdb_layout / "Track B" / "mixture.wav"),
               "-o", str(tmp_path), "--filename", "{parent}/{stem}.{ext}")
    assert proc.returncode == 0, proc.stderr
    assert sorted(os.listdir(tmp_path)) == ["Track A", "Track B"]
    assert (tmp_path / "Track B" / "accompaniment.wav").is_file()


def test_filename_templates_are_checked():
    for bad in ("{track}.{ext}", "../{stem}.{ext}", "/tmp/{stem}", "{nope}/{stem}", "{stem"):
        with pytest.raises(UserError):
            check_filename(bad)
    assert output_paths("d/x.mp3", "o", template="{track}_{stem}.{ext}")["vocals"] == "o/x_vocals.wav"


def test_track_name_never_leaves_the_output_folder():
    """A file named ``..stem.mp4`` (issue 28) or ``....`` gives a folder inside -o."""
    for name in ("...stem.mp4", "..stem.mp4", ".stem.mp4", "..", "a/..."):
        t = track_name(name)
        assert t not in ("", ".", "..") and "/" not in t, (name, t)


@pytest.mark.parametrize("text, value", [("-inf", float("-inf")), ("-12", -12.0), ("off", float("-inf")),
                                         ("-1.5e1", -15.0), ("0", 0.0)])
def test_negative_numbers_as_written(text, value):
    p = Parser(prog="x")
    p.add_argument("--vocal-level", type=vocal_level)
    p.add_argument("--gain", type=float)
    assert p.parse_args(["--vocal-level", text]).vocal_level == value
    assert p.parse_args(["--gain", "-3"]).gain == -3.0


def test_vocal_level_minus_inf_cli_and_stems_excerpt_mp3(toy_song, tmp_path):
    path = toy_song[0]
    proc = run(path, "-o", str(tmp_path), "--vocal-level", "-inf", "--stems", "vocals",
               "--start", "1", "--duration", "1.5", "--format", "mp3", "--mp3-bitrate", "128")
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "toy song"
    assert sorted(os.listdir(out)) == ["mix.mp3", "vocals.mp3"]
    info = sf.info(str(out / "vocals.mp3"))
    assert abs(info.duration - 1.5) < 0.06
    kbps = os.path.getsize(out / "vocals.mp3") * 8 / info.duration / 1000
    assert 110 < kbps < 150, kbps
    # the default is 320 kb/s constant
    proc = run(path, "-o", str(tmp_path / "d"), "--format", "mp3", "--duration", "1")
    v = tmp_path / "d" / "toy song" / "vocals.mp3"
    assert proc.returncode == 0 and os.path.getsize(v) * 8 / sf.info(str(v)).duration / 1000 > 280


def test_excerpt_is_the_same_audio(toy_song, tmp_path):
    """--start/--duration separate that stretch of the file, at its own place."""
    from unetvocalsep.separator import Separator

    sep = Separator()
    whole = sep.separate_file(toy_song[0], str(tmp_path / "w"), bits=32, progress=False)
    part = sep.separate_file(toy_song[0], str(tmp_path / "p"), bits=32, progress=False,
                             start=1.0, duration=2.0)
    acc_w, sr = sf.read(whole["accompaniment"], dtype="float32")
    acc_p, _ = sf.read(part["accompaniment"], dtype="float32")
    v_p, _ = sf.read(part["vocals"], dtype="float32")
    x, _ = sf.read(toy_song[0], dtype="float32")
    assert len(acc_p) == 2 * sr
    np.testing.assert_allclose(acc_p + v_p, x[sr:3 * sr], atol=1e-5)
    with pytest.raises(UserError, match="past the end"):
        sep.separate_file(toy_song[0], str(tmp_path / "q"), start=60.0, progress=False)
    with pytest.raises(UserError, match="duration"):
        sep.separate_file(toy_song[0], str(tmp_path / "q"), duration=0, progress=False)


def test_folder_input(musdb_layout, tmp_path):
    files = expand_inputs([str(musdb_layout / "Track A")])
    assert files == [str(musdb_layout / "Track A" / "mixture.wav")]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(UserError, match="no audio files"):
        expand_inputs([str(tmp_path / "empty")])
    proc = run(str(musdb_layout / "Track B"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 0 and (tmp_path / "o" / "mixture" / "vocals.wav").is_file()


def test_progress_counts_files_and_never_overshoots(musdb_layout, tmp_path):
    """-j 2: one bar headed file k/N, no tqdm clamping warning, '->' lines intact.

    The CLI draws the bar only on a terminal; this runs the batch with it on.
    """
    a = str(musdb_layout / "Track A" / "mixture.wav")
    b = str(musdb_layout / "Track B" / "mixture.wav")
    code = ("import sys\nfrom unetvocalsep import batch\nfrom unetvocalsep.separator import Separator\n"
            f"n = batch.separate_files(Separator(), [{a!r}, {b!r}], {str(tmp_path)!r}, jobs=2, "
            "progress=True, filename='{parent}/{stem}.{ext}')\nsys.exit(n)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "file 2/2" in proc.stderr and "clamping" not in proc.stderr
    arrows = [l for l in proc.stdout.splitlines() if "->" in l]
    assert len(arrows) == 2 and all(l.count("->") == 1 for l in arrows)
    # on a pipe the CLI draws no bar, so an error is one clean line
    proc = run(str(tmp_path / "missing.wav"), "-o", str(tmp_path / "x"))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1


def test_library_draws_no_bar_by_default(toy_song, tmp_path):
    """Separator.separate_file in a script or notebook (stderr not a terminal): no bar."""
    code = ("import unetvocalsep, sys\n"
            f"unetvocalsep.Separator().separate_file({toy_song[0]!r}, {str(tmp_path)!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "%|" not in proc.stderr and "audio" not in proc.stderr, proc.stderr


def test_bundled_model_by_name(toy_song, tmp_path):
    from unetvocalsep.model_io import DEFAULT_MODEL, bundled_models, model_path

    assert bundled_models()["default"] == DEFAULT_MODEL
    assert model_path("default") == DEFAULT_MODEL and model_path(None) is None
    proc = run(toy_song[0], "-o", str(tmp_path), "--model", "default", "--stems", "accompaniment")
    assert proc.returncode == 0, proc.stderr
    assert os.listdir(tmp_path / "toy song") == ["accompaniment.wav"]
    proc = run(toy_song[0], "-o", str(tmp_path / "x"), "--model", "nosuchmodel")
    assert proc.returncode == 1 and "bundled models by name: default" in proc.stderr
    help_text = subprocess.run([sys.executable, "-m", "unetvocalsep.separate", "--help"],
                               capture_output=True, text=True).stdout
    assert "--wiener" in help_text and "bundled model by name" in help_text


def test_a_person_at_a_terminal_is_told_the_model_and_its_licence(toy_song, tmp_path):
    """On a terminal the first stderr line names the model and its terms; on a pipe, nothing."""
    import pty

    def first_lines(*args):
        master, slave = pty.openpty()
        try:
            proc = subprocess.run([sys.executable, "-m", "unetvocalsep.separate", toy_song[0],
                                   "--no-progress", "--stems", "vocals", *args],
                                  stdout=subprocess.PIPE, stderr=slave, timeout=300)
            os.close(slave)
            chunks = []
            while True:
                try:
                    data = os.read(master, 4096)
                except OSError:  # the pty is closed once the child is gone
                    break
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(master)
        assert proc.returncode == 0
        return b"".join(chunks).decode().splitlines()

    lines = first_lines("-o", str(tmp_path / "a"))
    assert lines[0].startswith("unetvocalsep.separate: model default (")
    assert "non-commercial" in lines[0], lines
    lines = first_lines("-o", str(tmp_path / "b"), "--model", "free")
    assert lines[0] == "unetvocalsep.separate: model free (GPL-3.0-or-later, to be safe)", lines
    proc = run(toy_song[0], "-o", str(tmp_path / "c"), "--stems", "vocals")  # stderr a pipe
    assert proc.returncode == 0 and "model" not in proc.stderr, proc.stderr


def test_the_free_model_is_kept_by_name_with_its_own_licence(toy_song, tmp_path):
    """Issue 26: the default was trained on research-only data; the free one stays."""
    from unetvocalsep.model_io import bundled_models, load_model

    assert set(bundled_models()) >= {"default", "free"}
    (a, cfg), (b, free) = load_model("default"), load_model("free")
    assert "non-commercial" in cfg["licence"] and "'free'" in cfg["licence"]
    assert free["licence"].startswith("GPL-3.0-or-later")
    assert cfg["total_iterations"] > free["total_iterations"]
    assert not np.array_equal(a.conv1.W.array, b.conv1.W.array)
    outs = {}
    for name in ("default", "free"):
        proc = run(toy_song[0], "-o", str(tmp_path / name), "--model", name)
        assert proc.returncode == 0, proc.stderr
        outs[name], _ = sf.read(str(tmp_path / name / "toy song" / "vocals.wav"))
    assert outs["default"].shape == outs["free"].shape
    assert np.abs(outs["default"] - outs["free"]).max() > 1e-3       # each model really ran


# Issue 13, defect 4/5/6: the web server's resources
def test_06_full_disk_cli_says_so(random_model, song, tmp_path):
    with tiny_disk(tmp_path / "disk") as disk:
        proc = cli("separate", song, "-o", disk / "o", "--model", random_model, "--no-progress")
        one_line_error(proc, "no space left on device")
        assert not [p for p in disk.rglob("*") if p.is_file()]


# Issue 13, defect 12: a format that cannot hold one file of a batch
def test_12_mp3_of_a_96k_file_fails_that_file_only(random_model, song, tmp_path):
    v, a = toy_stems(seconds=2.0, sr=96000)
    hi = tmp_path / "hires.wav"
    sf.write(str(hi), (v + a).T, 96000, subtype="PCM_24")
    proc = cli("separate", hi, song, "-o", tmp_path / "o", "--model", random_model,
               "--no-progress", "--format", "mp3")
    assert proc.returncode == 1
    errors = [l for l in proc.stderr.splitlines() if "error" in l]
    assert len(errors) == 1 and "96000 Hz" in errors[0] and "hires" in errors[0]
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "o" / "song" / "vocals.mp3").exists()
    assert not (tmp_path / "o" / "hires").exists()


# Issue 28, defect 15: -j 2 and a plain kill ran on and committed both files
def test_15_kill_stops_a_parallel_batch_at_once(random_model, tmp_path):
    import glob
    import signal
    import time

    sr = 44100
    t = np.arange(sr * 300) / sr
    files = []
    for i in range(2):
        y = (0.3 * np.sin(2 * np.pi * (220 + 110 * i) * t)).astype(np.float32)
        files.append(tmp_path / f"long{i}.wav")
        sf.write(str(files[-1]), np.stack([y, y], 1), sr, subtype="PCM_16")
    out = tmp_path / "out"
    p = subprocess.Popen([PY, "-m", "unetvocalsep.separate", *map(str, files), "-o", str(out),
                          "-j", "2", "--model", random_model],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not glob.glob(str(out / "*" / ".*.lock")) and time.time() - t0 < 120:
        time.sleep(0.02)
    time.sleep(0.5)                        # both files are being separated
    assert p.poll() is None
    t1 = time.time()
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=60)
    stopped = time.time() - t1
    assert p.returncode == 143, stderr
    assert stopped < 1.5, stopped
    assert "->" not in stdout                       # no file reported done
    assert not list(out.rglob("*.wav")) and hidden(out) == []
    assert stderr.strip().count("\n") == 0 and "terminated" in stderr
