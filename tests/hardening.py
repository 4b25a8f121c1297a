"""Helpers and fixtures of the hardening tests (issues 13 and 28), shared by the module tests.

A test module imports the fixtures it needs by name (``from hardening import song``).
"""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile as sf
from conftest import toy_stems, write_toy_folder

from unetvocalsep import constants

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


def evil_copy(src, dst, marker, key="evil"):
    """``src`` npz plus one object array that runs code when unpickled."""
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[key] = np.array([_Evil(marker)], dtype=object)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return str(dst)


def small_cache(cache, n=2, value=None):
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


def wav_bytes(seconds, sr, channels, fmt="WAV", subtype="PCM_16", silent=False):
    import io

    rng = np.random.default_rng(1)
    n = int(seconds * sr)
    y = np.zeros((n, channels), np.float32) if silent else \
        (0.1 * rng.standard_normal((n, channels))).astype(np.float32)
    b = io.BytesIO()
    sf.write(b, y, sr, format=fmt, subtype=subtype)
    b.seek(0)
    return b


def wait_for_job(job, timeout=60):
    t0 = time.time()
    while job.status in ("queued", "running") and time.time() - t0 < timeout:
        time.sleep(0.05)
    return job.status


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


def make_long_song(tmp_path, seconds=90):
    v, a = toy_stems(seconds=seconds, sr=44100, seed=3)
    path = tmp_path / "long.wav"
    sf.write(str(path), (v + a).T, 44100, subtype="PCM_16")
    return path


def wait_for(cond, timeout=60.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if cond():
            return True
        time.sleep(0.05)
    return False


def children_of(pid):
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


def pid_alive(pid):
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


def model_copy(src, dst, change=None, cfg=None):
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


def hidden(folder):
    """Temporary and lock files of the package under ``folder``."""
    return sorted(p.name for p in folder.rglob(".*") if ".part" in p.name or
                  p.name.endswith(".lock"))


def make_mp3(path, seconds, *extra, freq=440):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=f={freq}:d={seconds}", "-ar", "44100", "-ac", "2", *extra, str(path)],
                   check=True)
    return path


@pytest.fixture(scope="module")
def joined_mp3(tmp_path_factory):
    import shutil

    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        pytest.skip("needs ffmpeg and ffprobe")
    d = tmp_path_factory.mktemp("mp3")
    a, b = make_mp3(d / "a.mp3", 3), make_mp3(d / "b.mp3", 20, freq=660)
    joined = d / "joined.mp3"
    joined.write_bytes(a.read_bytes() + b.read_bytes())   # cat a.mp3 b.mp3
    return joined


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from unetvocalsep.training.prepare import prepare
    from unetvocalsep.training.train import train

    root = tmp_path_factory.mktemp("tinyrun")
    write_toy_folder(root / "raw", 3, seconds=6.0, sr=16000, channels=1, seed=20)
    prepare("folder", str(root / "raw"), str(root / "cache"), progress=False)
    train(str(root / "cache"), out=str(root / "out"), val_fraction=0.0, batchsize=2,
          iteration=2, snapshot_interval=2, progress=False)
    return root


def tampered_snapshot(snapshot, dst, **changes):
    with np.load(snapshot) as z:
        arrays = {k: z[k] for k in z.files}
    for suffix, value in changes.items():
        keys = [k for k in arrays if k.endswith(suffix)]
        assert keys, (suffix, sorted(arrays)[:20])
        for k in keys:
            arrays[k] = value
    np.savez(dst, **arrays)
    return str(dst)


@pytest.fixture
def web_client(random_model, tmp_path):
    pytest.importorskip("flask")
    from unetvocalsep.separator import Separator
    from unetvocalsep.web import EXTENSION_KEY, create_app

    app = create_app(separator=Separator(random_model), jobs_dir=str(tmp_path / "jobs"),
                     allow_hosts=["sep.example.com"], allow_origins=["https://sep.example.com"])
    yield app.test_client()
    app.extensions[EXTENSION_KEY].close()


def toy_wav_bytes(seconds=2.0):
    import io

    v, a = toy_stems(seconds=seconds, sr=22050)
    buf = io.BytesIO()
    sf.write(buf, (v + a).T, 22050, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def post_song(client, headers, base_url="http://127.0.0.1:8000"):
    import io

    return client.post("/api/separate", data={"file": (io.BytesIO(toy_wav_bytes()), "song.wav")},
                       content_type="multipart/form-data", headers=headers, base_url=base_url)


def serve_cli(random_model, jobs_dir, *extra):
    import re
    import time

    pytest.importorskip("waitress")
    proc = subprocess.Popen([PY, "-m", "unetvocalsep.web", "--model", random_model, "--port", "0",
                             "--quiet", "--jobs-dir", str(jobs_dir), *extra],
                            stderr=subprocess.PIPE, text=True)
    lines, end = [], time.time() + 120
    while not any("http://" in x for x in lines) and time.time() < end:
        lines.append(proc.stderr.readline())
        assert lines[-1] or proc.poll() is None, f"server exited: {lines}"
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", lines[-1]).group(1))
    return proc, port, lines


def stop_server(proc):
    import signal

    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
