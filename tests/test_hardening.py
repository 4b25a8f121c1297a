"""The 21 defects of issue 13, one test (or more) each, numbered as in the issue.

Each test fails on the code before the fix: it drives the package the way a
hostile or clumsy user did and checks the promise of README: one line on
stderr, a non-zero exit, nothing half-written, no user file lost.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import toy_stems
from unetvocalsep import constants
from unetvocalsep.errors import AudioError, ModelError, UserError

PY = sys.executable


def cli(module, *args, **kw):
    kw.setdefault("timeout", 300)   # a defect such as a 1 Hz header once meant minutes of work
    return subprocess.run([PY, "-m", f"unetvocalsep.{module}", *map(str, args)],
                          capture_output=True, text=True, **kw)


def one_line_error(proc, needle=None):
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    if needle is not None:
        assert needle in lines[0], lines[0]
    return lines[0]


def leftovers(folder):
    """Hidden temporary files under ``folder``."""
    return [p for p in (folder.rglob(".*") if folder.exists() else []) if ".part" in p.name]


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    d = tmp_path_factory.mktemp("hsong")
    v, a = toy_stems(seconds=4.0, sr=44100)
    path = d / "song.wav"
    sf.write(str(path), (v + a).T, 44100, subtype="FLOAT")
    return path


class _Evil:
    """Pickles to a call that creates a marker file when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_copy(src, dst, marker, key="evil"):
    """``src`` npz plus one object array that runs code when unpickled."""
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[key] = np.array([_Evil(marker)], dtype=object)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return str(dst)


# -- 1. a model file can run code ----------------------------------------------------------
def test_01_pickled_object_in_model_never_runs(random_model, song, tmp_path):
    from unetvocalsep.model_io import load_model, load_params

    marker = tmp_path / "pwned"
    evil = _evil_copy(random_model, tmp_path / "evil.npz", marker)
    for load in (load_model, load_params):
        with pytest.raises(ModelError, match="pickled Python object"):
            load(evil)
    # every command-line path that reads a model: --device 0, the chainer CPU path
    one_line_error(cli("separate", song, "-o", tmp_path / "o", "--model", evil, "--device", "0"),
                   "pickled")
    env = dict(os.environ, UNETVOCALSEP_FAST_PATH="0")
    one_line_error(cli("separate", song, "-o", tmp_path / "o", "--model", evil, env=env), "pickled")
    assert not marker.exists()
    assert not (tmp_path / "o").exists()


def test_01_pickle_in_init_model_and_snapshot(random_model, tmp_path):
    from unetvocalsep.npzfile import read_npz_safely

    cache = tmp_path / "cache"
    _small_cache(cache)
    marker = tmp_path / "pwned"
    evil = _evil_copy(random_model, tmp_path / "evil.npz", marker)
    one_line_error(cli("train", cache, "-o", tmp_path / "r1", "-i", "1", "-b", "2", "--no-progress",
                       "--init-model", evil), "pickled")
    # a real snapshot, then the same with a pickled object added
    proc = cli("train", cache, "-o", tmp_path / "r2", "-i", "2", "-b", "2", "--no-progress",
               "--snapshot-interval", "2", "--log-interval", "1")
    assert proc.returncode == 0, proc.stderr
    snap = tmp_path / "r2" / "snapshot_iter_2"
    assert snap.exists()
    assert read_npz_safely(str(snap))   # a genuine snapshot reads without pickle
    evil_snap = _evil_copy(str(snap), tmp_path / "evil_snapshot", marker,
                           key="updater/iterator:main/evil")
    one_line_error(cli("train", cache, "-o", tmp_path / "r3", "-i", "3", "-b", "2",
                       "--no-progress", "--resume", evil_snap), "pickled")
    assert not marker.exists()


def test_01_none_as_chainer_writes_it_is_accepted(random_model, tmp_path):
    from unetvocalsep.npzfile import read_npz_safely

    with np.load(random_model) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["some/state"] = np.asarray(None)   # what chainer's serializer writes for None
    path = tmp_path / "with_none.npz"
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    out = read_npz_safely(str(path))
    assert out["some/state"][()] is None and out["conv1/W"].shape == (16, 1, 4, 4)


def _small_cache(cache, n=2, value=None):
    """A cache of ``n`` tracks of 200 frames; every value set to ``value`` if given."""
    from unetvocalsep.training.cache import save_example

    rng = np.random.default_rng(0)
    for i in range(n):
        mix = rng.random((constants.N_BINS + 1, 200)).astype(np.float32)
        voc = mix * 0.5
        arr = np.stack([mix, voc, mix - voc])
        if value is not None:
            arr[...] = value
        save_example(str(cache), f"t{i}", arr, {"source": "test"})
    return cache


# -- 2. two runs into one folder -----------------------------------------------------------
def test_02_claimed_output_fails_the_second_run(random_model, song, tmp_path):
    from unetvocalsep.files import claim

    out = tmp_path / "o" / "song"
    out.mkdir(parents=True)
    with claim([out / "vocals.wav", out / "accompaniment.wav"]):
        proc = cli("separate", song, "-o", tmp_path / "o", "--model", random_model, "--no-progress")
    one_line_error(proc, "another run is writing")
    assert not (out / "vocals.wav").exists() and not leftovers(tmp_path)


def test_02_two_concurrent_runs_one_wins_whole(random_model, tmp_path):
    paths = []
    for k in range(2):
        v, a = toy_stems(seconds=6.0, sr=44100, seed=40 + k)
        d = tmp_path / f"in{k}"
        d.mkdir()
        paths.append(d / "same.wav")
        sf.write(str(paths[-1]), (v + a).T, 44100, subtype="FLOAT")
    procs = [subprocess.Popen([PY, "-m", "unetvocalsep.separate", str(p), "-o", str(tmp_path / "o"),
                               "--model", random_model, "--no-progress", "--bits", "32"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in paths]
    results = [(p.wait(), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes[0] == 0 and codes[1] == 1, results
    loser = [err for rc, err in results if rc == 1][0]
    assert len(loser.strip().splitlines()) == 1
    assert "another run is writing" in loser or "output exists" in loser
    winner = paths[[rc for rc, _ in results].index(0)]
    v, _ = sf.read(str(tmp_path / "o" / "same" / "vocals.wav"), dtype="float32")
    a, _ = sf.read(str(tmp_path / "o" / "same" / "accompaniment.wav"), dtype="float32")
    mix, _ = sf.read(str(winner), dtype="float32")
    assert np.max(np.abs(v + a - mix)) < 1e-5   # both stems from the same (winning) run
    assert not leftovers(tmp_path) and not list((tmp_path / "o").rglob("*.lock"))


def test_02_output_appearing_during_the_run_is_kept(random_model, song, tmp_path, monkeypatch):
    from unetvocalsep.separate import Separator

    sep = Separator(random_model)
    target = tmp_path / "o" / "song" / "vocals.wav"
    inner = sep.stream

    def stream(*a, **k):
        for blocks in inner(*a, **k):
            if not target.exists():
                target.write_bytes(b"someone else's file")
            yield blocks
    monkeypatch.setattr(sep, "stream", stream)
    with pytest.raises(UserError, match="output exists"):
        sep.separate_file(str(song), str(tmp_path / "o"), progress=False)
    assert target.read_bytes() == b"someone else's file"
    assert not (target.parent / "accompaniment.wav").exists() and not leftovers(tmp_path)


# -- 3. silent clipping --------------------------------------------------------------------
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


# -- 4/5/6. the web server's resources -----------------------------------------------------
@pytest.fixture
def manager(random_model, tmp_path):
    pytest.importorskip("flask")
    from unetvocalsep.separate import Separator
    from unetvocalsep.web.jobs import JobManager

    made = []

    def make(**kw):
        kw.setdefault("jobs_dir", str(tmp_path / "jobs"))
        m = JobManager(Separator(random_model), **kw)
        made.append(m)
        return m
    yield make
    for m in made:
        m.close()


def _wav_bytes(seconds, sr, channels, fmt="WAV", subtype="PCM_16", silent=False):
    import io

    rng = np.random.default_rng(1)
    n = int(seconds * sr)
    y = np.zeros((n, channels), np.float32) if silent else \
        (0.1 * rng.standard_normal((n, channels))).astype(np.float32)
    b = io.BytesIO()
    sf.write(b, y, sr, format=fmt, subtype=subtype)
    b.seek(0)
    return b


def _wait(job, timeout=60):
    t0 = time.time()
    while job.status in ("queued", "running") and time.time() - t0 < timeout:
        time.sleep(0.05)
    return job.status


def test_04_many_channels_refused_high_rates_reduced(manager):
    from unetvocalsep.web.uploads import RequestError

    m = manager()
    with pytest.raises(RequestError, match="8 channels") as info:
        m.submit(_wav_bytes(2.0, 192000, 8, "FLAC", "PCM_16", silent=True), "x.flac")
    assert info.value.status == 400 and not os.listdir(m.jobs_dir)
    job = m.submit(_wav_bytes(2.0, 96000, 2), "hi.wav")
    assert _wait(job) == "done", job.error
    info = sf.info(job.path("vocals"))
    assert info.samplerate == 48000 and info.channels == 2
    assert m.status(job)["output_sample_rate"] == 48000


def test_04_disk_per_job_is_bounded(manager):
    from unetvocalsep.web.uploads import RequestError

    m = manager(max_job_mb=2)
    with pytest.raises(RequestError, match="MB per song") as info:
        m.submit(_wav_bytes(10.0, 44100, 2), "long.wav")
    assert info.value.status == 413 and not os.listdir(m.jobs_dir)


def test_05_max_queue_is_atomic(manager, monkeypatch):
    import unetvocalsep.web.jobs as jobs
    from unetvocalsep.web.uploads import RequestError

    release = threading.Event()
    m = manager(max_queue=3, process=lambda sep, job: release.wait(30))
    inner = jobs.check_upload

    def slow(*a, **k):   # widen the window between the check and the enqueue
        time.sleep(0.3)
        return inner(*a, **k)
    monkeypatch.setattr(jobs, "check_upload", slow)
    results = []
    barrier = threading.Barrier(20)

    def send():
        barrier.wait()
        try:
            m.submit(_wav_bytes(0.5, 16000, 1), "a.wav")
            results.append(202)
        except RequestError as exc:
            results.append(exc.status)
    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    release.set()
    assert results.count(202) <= 3 + 1, results   # the queue, plus one the worker took
    assert results.count(503) >= 16 and len(m.queue) <= 3


@contextlib.contextmanager
def tiny_disk(path, size="600k"):
    """A small tmpfs at ``path`` (root only; skips otherwise)."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_06_full_disk_cli_says_so(random_model, song, tmp_path):
    with tiny_disk(tmp_path / "disk") as disk:
        proc = cli("separate", song, "-o", disk / "o", "--model", random_model, "--no-progress")
        one_line_error(proc, "no space left on device")
        assert not [p for p in disk.rglob("*") if p.is_file()]


def test_06_full_disk_web_says_507(manager, tmp_path):
    from unetvocalsep.web.uploads import RequestError

    with tiny_disk(tmp_path / "disk", "300k") as disk:
        m = manager(jobs_dir=str(disk / "jobs"))
        with pytest.raises(RequestError, match="no space left") as info:
            m.submit(_wav_bytes(10.0, 44100, 2), "big.wav")
        assert info.value.status == 507
        assert os.listdir(m.jobs_dir) == []
        m.close()


def test_06_libsndfile_system_error_becomes_enospc(tmp_path, monkeypatch):
    import errno

    import unetvocalsep.audio as audio

    class Full:
        f_bavail, f_frsize = 0, 4096
    monkeypatch.setattr(os, "statvfs", lambda p: Full())
    exc = audio._write_error(sf.LibsndfileError(0, "System error."), str(tmp_path / "x.wav"))
    assert isinstance(exc, OSError) and exc.errno == errno.ENOSPC and exc.filename.endswith("x.wav")


# -- 7. the public name `separate` ---------------------------------------------------------
def test_07_public_function_is_callable_after_the_module_import():
    code = ("import numpy as np, unetvocalsep, unetvocalsep.separate\n"
            "from unetvocalsep import separate_audio\n"
            "f = unetvocalsep.separate_audio\n"
            "assert callable(f) and f is separate_audio\n"
            "assert type(unetvocalsep.separate).__name__ == 'module'\n"
            "assert 'separate' not in unetvocalsep.__all__\n"
            "print('ok')")
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr


# -- 8. import unetvocalsep; import chainer ------------------------------------------------
def test_08_chainer_imports_after_the_package():
    code = ("import sys, unetvocalsep\n"
            "assert 'chainer' not in sys.modules\n"
            "import chainer\n"
            "assert 'unetvocalsep._compat' in sys.modules\n"
            "unet, cfg = unetvocalsep.load_model()\n"
            "import numpy as np\n"
            "print('ok', np.__version__)")
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), proc.stderr[-2000:]


# -- 9. array layouts and dtypes -----------------------------------------------------------
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


# -- 10/11. signals and worker processes ---------------------------------------------------
def _long_song(tmp_path, seconds=90):
    v, a = toy_stems(seconds=seconds, sr=44100, seed=3)
    path = tmp_path / "long.wav"
    sf.write(str(path), (v + a).T, 44100, subtype="PCM_16")
    return path


def _wait_for(cond, timeout=60.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_10_sigterm_leaves_no_part_files(random_model, tmp_path):
    path = _long_song(tmp_path)
    out = tmp_path / "o"
    proc = subprocess.Popen([PY, "-m", "unetvocalsep.separate", str(path), "-o", str(out),
                             "--model", random_model, "--no-progress", "--chunk-seconds", "10"],
                            stderr=subprocess.PIPE, text=True)
    assert _wait_for(lambda: leftovers(out)), "no temporary output appeared"
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(30)
    err = proc.stderr.read()
    assert rc == 128 + signal.SIGTERM and "terminated" in err and "Traceback" not in err
    assert not leftovers(out) and not list(out.rglob("*.lock"))


def test_10_rerun_removes_stale_parts_of_dead_runs(random_model, song, tmp_path):
    folder = tmp_path / "o" / "song"
    folder.mkdir(parents=True)
    dead = folder / ".vocals.2147483646-0badf00d.part.wav"       # no such pid
    alive = folder / f".vocals.{os.getpid()}-0badf00d.part.wav"  # a run still going
    dead.write_bytes(b"x" * 100)
    alive.write_bytes(b"x" * 100)
    proc = cli("separate", song, "-o", tmp_path / "o", "--model", random_model, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert not dead.exists() and alive.exists()


def _children(pid):
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                kids.append(int(d))
    return kids


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def folder_dataset(tmp_path):
    root = tmp_path / "raw"
    for i in range(6):
        v, a = toy_stems(seconds=30.0, sr=44100, seed=60 + i)
        d = root / f"t{i}"
        d.mkdir(parents=True)
        for name, x in (("mixture", v + a), ("vocals", v)):
            sf.write(str(d / f"{name}.wav"), x.T, 44100, subtype="FLOAT")
    return root


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_11_prepare_workers_end_with_the_parent(folder_dataset, tmp_path, sig):
    out = tmp_path / "cache"
    # pitch-shifted copies make each track slow enough to be caught at work
    proc = subprocess.Popen([PY, "-m", "unetvocalsep.prepare", "folder", str(folder_dataset),
                             "-o", str(out), "-j", "2", "--no-progress", "--pitch-shift", "-2", "2",
                             "--time-stretch", "0.9", "1.1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until both workers run (spawned children that import the package)
    assert _wait_for(lambda: len(_children(proc.pid)) >= 2 or proc.poll() is not None, 90)
    time.sleep(1.5)
    assert proc.poll() is None, proc.stderr.read()
    kids = _children(proc.pid)
    proc.send_signal(sig)
    proc.wait(30)
    assert _wait_for(lambda: not any(_alive(k) for k in kids), 20), \
        [k for k in kids if _alive(k)]
    if sig == signal.SIGTERM:
        assert proc.returncode == 128 + signal.SIGTERM
    assert _wait_for(lambda: not leftovers(out), 10), leftovers(out)


# -- 12. a format that cannot hold one file of a batch -------------------------------------
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


# -- 13. NaN in the cache, and a loss that is not finite -----------------------------------
def test_13_nan_cache_is_refused_before_training(tmp_path):
    cache = _small_cache(tmp_path / "cache")
    arr = np.load(str(cache / "t1.npy"), mmap_mode="r+")
    arr[0, 5, 7] = np.nan
    arr.flush()
    del arr
    proc = cli("train", cache, "-o", tmp_path / "r", "-i", "2", "-b", "2", "--no-progress")
    one_line_error(proc, "NaN")
    assert not (tmp_path / "r" / "unet.npz").exists()


def test_13_non_finite_loss_stops_training(tmp_path):
    cache = _small_cache(tmp_path / "cache", value=3e38)   # finite data, the loss overflows
    proc = cli("train", cache, "-o", tmp_path / "r", "-i", "5", "-b", "2", "--no-progress")
    one_line_error(proc, "training loss became")
    assert not (tmp_path / "r" / "unet.npz").exists()


# -- 14. train -o checked first ------------------------------------------------------------
def test_14_train_output_checked_at_the_start(tmp_path):
    cache = _small_cache(tmp_path / "cache")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    t0 = time.time()
    proc = cli("train", cache, "-o", blocker / "sub", "-i", "50", "-b", "2", "--no-progress")
    one_line_error(proc, "not a folder")
    proc = cli("train", cache, "-o", blocker, "-i", "50", "-b", "2", "--no-progress")
    one_line_error(proc, "not a folder")
    assert time.time() - t0 < 30


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


# -- 15. nan / inf in numeric options ------------------------------------------------------
@pytest.mark.parametrize("module, args, needle", [
    ("separate", ["x.wav", "--chunk-seconds", "nan"], "--chunk-seconds"),
    ("separate", ["x.wav", "--chunk-seconds", "inf"], "--chunk-seconds"),
    ("separate", ["x.wav", "--gain", "inf"], "--gain"),
    ("separate", ["x.wav", "-j", "-1"], "--jobs"),
    ("separate", ["x.wav", "--sr", "10"], "--sr"),
    ("train", ["c", "--val-fraction", "nan"], "--val-fraction"),
    ("train", ["c", "-b", "0"], "--batchsize"),
    ("prepare", ["folder", ".", "-o", "c", "--max-offset", "inf"], "--max-offset"),
    ("prepare", ["folder", ".", "-o", "c", "--time-stretch", "nan"], "--time-stretch"),
    ("evaluate", ["-j", "0"], "--jobs"),
    ("synth", ["-o", "x", "--tracks", "1", "--seconds", "inf"], "--seconds"),
])
def test_15_numeric_options_are_validated(module, args, needle, tmp_path):
    if module == "web":
        pytest.importorskip("flask")
    proc = cli(module, *args, cwd=str(tmp_path))
    one_line_error(proc, needle)


def test_15_web_numeric_options(tmp_path):
    pytest.importorskip("flask")
    for args, needle in ((["--max-seconds", "nan"], "--max-seconds"), (["--port", "70000"], "--port"),
                         (["--max-job-mb", "-1"], "--max-job-mb")):
        one_line_error(cli("web", *args, cwd=str(tmp_path)), needle)


# -- 16. unreadable files and pipes --------------------------------------------------------
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


def test_16_pipes_and_stdin_are_refused_clearly(random_model, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    one_line_error(cli("separate", fifo, "-o", tmp_path / "o", "--model", random_model),
                   "pipes and devices are not supported")
    one_line_error(cli("separate", "-", "-o", tmp_path / "o", "--model", random_model),
                   "standard input is not supported")


# -- 17. --bits for every format -----------------------------------------------------------
@pytest.mark.parametrize("fmt, bits, needle", [("ogg", "16", "lossy"), ("mp3", "24", "lossy"),
                                               ("flac", "32", "cannot store 32-bit")])
def test_17_bits_refused_consistently(random_model, song, tmp_path, fmt, bits, needle):
    proc = cli("separate", song, "-o", tmp_path / "o", "--model", random_model,
               "--format", fmt, "--bits", bits)
    one_line_error(proc, needle)
    assert not (tmp_path / "o").exists()


# -- 18. an output path that is a folder ---------------------------------------------------
def test_18_folder_in_the_way_is_named_and_nothing_written(random_model, song, tmp_path):
    (tmp_path / "o" / "song" / "vocals.wav").mkdir(parents=True)
    proc = cli("separate", song, "-o", tmp_path / "o", "--model", random_model, "--overwrite",
               "--no-progress")
    line = one_line_error(proc, "vocals.wav")
    assert ".part" not in line and "folder" in line
    assert not (tmp_path / "o" / "song" / "accompaniment.wav").exists() and not leftovers(tmp_path)


def test_18_failed_second_commit_takes_the_first_back(random_model, song, tmp_path, monkeypatch):
    from unetvocalsep import files
    from unetvocalsep.separate import Separator

    real = files.AtomicFile.commit

    def commit(self):
        if self.path.endswith("accompaniment.wav"):
            self.discard()
            raise OSError(28, "No space left on device", self.path)
        real(self)
    monkeypatch.setattr(files.AtomicFile, "commit", commit)
    with pytest.raises(OSError):
        Separator(random_model).separate_file(str(song), str(tmp_path / "o"), progress=False)
    assert not (tmp_path / "o" / "song").exists() and not leftovers(tmp_path)


# -- 19. absurd sample rates ---------------------------------------------------------------
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


# -- 20/21. model dtypes and settings ------------------------------------------------------
def _model_copy(src, dst, change=None, cfg=None):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    if change:
        arrays = change(arrays)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    if cfg is not None:
        with open(str(dst)[:-4] + ".json", "w") as f:
            json.dump(cfg, f)
    return str(dst)


def test_20_integer_weights_are_refused(random_model, tmp_path):
    from unetvocalsep.model_io import load_model, load_params

    def to_int(arrays):
        return {k: (v * 100).astype(np.int32) if k.endswith("/W") else v for k, v in arrays.items()}
    path = _model_copy(random_model, tmp_path / "int.npz", to_int)
    for load in (load_params, load_model):
        with pytest.raises(ModelError, match="int32 weights"):
            load(path)


@pytest.mark.parametrize("cfg, needle", [({"target": ["inst"]}, "'target' must be a JSON string"),
                                         ({"target": "drums"}, "unknown target"),
                                         ({"sr": "16000"}, "'sr' must be a JSON integer"),
                                         ({"hop": True}, "'hop' must be a JSON integer")])
def test_21_model_settings_are_validated(random_model, tmp_path, cfg, needle):
    from unetvocalsep.model_io import load_params

    path = _model_copy(random_model, tmp_path / "m.npz", cfg=cfg)
    with pytest.raises(ModelError, match=needle):
        load_params(path)


# -- more of the same classes, found while fixing the 21 -----------------------------------
def test_more_train_never_replaces_an_earlier_model(tmp_path):
    cache = _small_cache(tmp_path / "cache")
    out = tmp_path / "r"
    args = ["train", cache, "-o", out, "-i", "1", "-b", "2", "--no-progress"]
    assert cli(*args).returncode == 0
    before = (out / "unet.npz").read_bytes()
    one_line_error(cli(*args), "--overwrite")
    assert (out / "unet.npz").read_bytes() == before
    assert cli(*args, "--overwrite").returncode == 0


@pytest.mark.parametrize("kw", [{"chunk_seconds": float("nan")}, {"margin_seconds": float("inf")},
                                {"crossfade_seconds": -1.0}, {"chunk_seconds": "60"}])
def test_more_separator_settings_are_checked(random_model, kw):
    from unetvocalsep.separate import Separator

    with pytest.raises(UserError, match="positive number of seconds"):
        Separator(random_model, **kw)


def test_more_errors_name_the_real_file_not_the_temporary(tmp_path):
    import errno

    from unetvocalsep.errors import describe_error
    from unetvocalsep.files import atomic_path

    target = tmp_path / "cache.npy"
    with pytest.raises(OSError) as info:
        with atomic_path(str(target)) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", tmp)
    assert describe_error(info.value) == f"no space left on device: {target}"
    assert not list(tmp_path.iterdir())


def test_more_stdin_is_refused_in_python_too(random_model, tmp_path):
    from unetvocalsep.separate import Separator

    with pytest.raises(UserError, match="standard input"):
        Separator(random_model).separate_file("-", str(tmp_path / "o"), progress=False)
