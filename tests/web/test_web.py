"""The web demo (``unetvocalsep.web``) through Flask's test client: endpoints, refusals, jobs."""
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from html import escape as html_escape

import numpy as np
import pytest

flask = pytest.importorskip("flask")
sf = pytest.importorskip("soundfile")

from conftest import toy_stems  # noqa: E402

from unetvocalsep.errors import AudioError  # noqa: E402
from unetvocalsep.pipeline import array_reader as _array_reader  # noqa: E402
from unetvocalsep.separate import Separator  # noqa: E402
from unetvocalsep.web import EXTENSION_KEY, create_app  # noqa: E402
from unetvocalsep.web.records import ID_RE  # noqa: E402
from unetvocalsep.web.picture import MaskRecorder  # noqa: E402
from unetvocalsep.web.uploads import check_upload, display_name
import pytest
import soundfile as sf
from hardening import post_song, serve_cli, stop_server, wait_for_job, toy_wav_bytes, wav_bytes, cli, joined_mp3, manager, one_line_error, song, tiny_disk, web_client  # noqa: F401  (fixtures and helpers)

SUBTYPES = {"WAV": "PCM_16", "FLAC": "PCM_16", "OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}


def audio_bytes(seconds=1.5, sr=22050, channels=2, fmt="WAV", seed=0):
    """A toy song encoded in memory; returns (bytes, samples (samples, channels))."""
    v, a = toy_stems(seconds=seconds, sr=sr, channels=channels, seed=seed)
    y = (v + a).T
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt, subtype=SUBTYPES[fmt])
    return buf.getvalue(), y


@pytest.fixture(scope="module")
def separator(random_model):
    return Separator(random_model)


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(**kwargs):
        kwargs.setdefault("jobs_dir", str(tmp_path / "jobs"))
        app = create_app(**kwargs)
        apps.append(app)
        return app
    yield make
    for app in apps:
        app.extensions[EXTENSION_KEY].close()


@pytest.fixture
def client(make_app, separator):
    return make_app(separator=separator).test_client()


def token(client):
    """The page token a POST needs (issue 28: CSRF)."""
    return {"X-Unetvocalsep-Token": client.get("/api/token").json["token"]}


def post(client, data, name="song.wav"):
    return client.post("/api/separate", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", headers=token(client))


def wait(client, status_url, timeout=120, until=("done", "failed")):
    end = time.time() + timeout
    while time.time() < end:
        r = client.get(status_url)
        assert r.status_code == 200, r.json
        if r.json["status"] in until:
            return r.json
        time.sleep(0.05)
    raise AssertionError(f"job still {r.json['status']} after {timeout} s")


def job_folders(app):
    root = app.extensions[EXTENSION_KEY].jobs_dir
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


# -- the page ----------------------------------------------------------------------------
def test_page_is_self_contained(client):
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert 'id="drop"' in html and 'type="file"' in html
    accept = re.search(r'accept="([^"]+)"', html).group(1)
    assert {".wav", ".flac", ".ogg", ".mp3"} <= set(accept.split(","))
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    local = [a for a in assets if a.startswith("/static/")]
    assert len(local) == 3, assets     # style.css, remix.js, app.js
    for url in local:
        asset = client.get(url)
        assert asset.status_code == 200, url
        text = asset.get_data(as_text=True)
        assert not re.search(r"https?://", text), f"{url} loads something from elsewhere"
    assert not re.search(r"(?:src|href)=\"https?://", html)
    js = client.get("/static/app.js").get_data(as_text=True)
    assert "upload.onprogress" in js and "'drop'" in js
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_page_and_api_name_the_model_and_its_licence(client, make_app, random_model):
    info = client.get("/api/model").json
    assert info["name"] == random_model and info["bundled"] is False
    assert info["licence_short"] == "not recorded with these weights"
    html = client.get("/").get_data(as_text=True)
    assert re.search(r'id="model"[^>]*>Model: <strong>' + re.escape(html_escape(random_model)), html)
    app = make_app(model="free")
    info = app.test_client().get("/api/model").json
    assert info["name"] == "free" and info["bundled"] and info["licence"].startswith("GPL-3.0")
    page = app.test_client().get("/").get_data(as_text=True)
    assert "<strong>free</strong>" in page and "(GPL-3.0-or-later, to be safe)" in page


# -- a whole job -------------------------------------------------------------------------
def test_separate_roundtrip(client, tmp_path):
    data, y = audio_bytes(seconds=2.0, sr=22050, channels=2)
    r = post(client, data, "../../My Song!.wav")
    assert r.status_code == 202, r.json
    job_id = r.json["id"]
    assert ID_RE.match(job_id)
    assert r.json["status_url"] == f"/api/jobs/{job_id}"
    job = wait(client, r.json["status_url"])
    assert job["status"] == "done", job["error"]
    assert job["progress"] == 1.0 and job["queue_position"] == 0 and job["error"] is None
    assert job["duration"] == pytest.approx(2.0, abs=1e-3)
    assert job["name"] == "My Song_.wav"
    assert set(job["stems"]) == {"vocals", "accompaniment", "original"}

    stems = {}
    for name in ("vocals", "accompaniment"):
        f = client.get(job["stems"][name])
        assert f.status_code == 200 and f.mimetype == "audio/wav"
        stems[name], sr = sf.read(io.BytesIO(f.data), dtype="float32")
        assert sr == 22050 and stems[name].shape == y.shape
    # a soft mask: the two stems add up to the mix (up to 16-bit rounding)
    mix = y.astype(np.float32)
    np.testing.assert_allclose(stems["vocals"] + stems["accompaniment"], mix, atol=2e-3)
    assert np.std(stems["vocals"]) > 1e-3 and np.std(stems["accompaniment"]) > 1e-3

    orig = client.get(job["stems"]["original"])
    assert orig.status_code == 200 and orig.mimetype == "audio/wav" and orig.data == data
    pic = client.get(job["spectrogram"])
    assert pic.status_code == 200 and pic.mimetype == "image/png"
    assert pic.data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    img = matplotlib.image.imread(io.BytesIO(pic.data))
    assert img.shape[0] >= 300 and img.shape[1] >= 600

    dl = client.get(job["stems"]["vocals"] + "?download=1")
    assert dl.headers["Content-Disposition"].startswith("attachment")
    assert "My Song_-vocals.wav" in dl.headers["Content-Disposition"]
    # the user's name never became a path (it is in the job's record, job.json)
    folder = os.path.join(client.application.extensions[EXTENSION_KEY].jobs_dir, job_id)
    assert sorted(os.listdir(folder)) == ["accompaniment.wav", "input.wav", "job.json",
                                          "spectrogram.png", "vocals.wav"]


def test_range_requests_for_seeking(client):
    data, _ = audio_bytes(seconds=0.5)
    job = wait(client, post(client, data).json["status_url"])
    r = client.get(job["stems"]["vocals"], headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and len(r.data) == 100


@pytest.mark.parametrize("fmt,mimetype", [("FLAC", "audio/flac"), ("OGG", "audio/ogg"),
                                          ("MP3", "audio/mpeg")])
def test_other_formats(client, fmt, mimetype):
    data, _ = audio_bytes(seconds=1.0, sr=44100, channels=1, fmt=fmt)
    r = post(client, data, "no extension")
    assert r.status_code == 202, r.json
    job = wait(client, r.json["status_url"])
    assert job["status"] == "done", job["error"]
    orig = client.get(job["stems"]["original"])
    assert orig.mimetype == mimetype and orig.data == data
    vocals, sr = sf.read(io.BytesIO(client.get(job["stems"]["vocals"]).data))
    assert sr == 44100 and abs(len(vocals) / sr - job["duration"]) < 0.1


def test_stems_not_ready_while_queued(make_app, separator):
    gate = threading.Event()
    app = make_app(separator=separator)
    manager = app.extensions[EXTENSION_KEY]
    manager.process = lambda sep, job: gate.wait(30)
    c = app.test_client()
    job = post(c, audio_bytes(seconds=0.5)[0]).json
    try:
        r = c.get(f"/api/jobs/{job['id']}/vocals")
        assert r.status_code == 409 and "not ready" in r.json["error"]
        assert c.get(f"/api/jobs/{job['id']}/original").status_code == 200
        assert "vocals" not in c.get(job["status_url"]).json["stems"]
    finally:
        gate.set()


# -- refusals ----------------------------------------------------------------------------
def test_too_large_is_413(make_app, separator):
    app = make_app(separator=separator, max_upload_mb=0.05)
    data, _ = audio_bytes(seconds=1.0, sr=44100, channels=2)   # ~176 kB
    r = post(app.test_client(), data)
    assert r.status_code == 413
    assert r.is_json and "too large" in r.json["error"] and "0.05 MB" in r.json["error"]
    assert job_folders(app) == []
    small, _ = audio_bytes(seconds=0.5, sr=22050, channels=2)   # ~44 kB
    assert len(small) < 0.05 * 1024 * 1024
    assert post(app.test_client(), small).status_code == 202


def test_not_audio_is_400(client):
    r = post(client, b"Hello, I am a text file, not a song.\n" * 20, "song.mp3")
    assert r.status_code == 400 and r.is_json
    assert "not an audio file" in r.json["error"]
    assert job_folders(client.application) == []


def test_undecodable_is_400(client):
    data, _ = audio_bytes(seconds=1.0, fmt="FLAC")
    r = post(client, data[:300], "song.flac")       # a FLAC header, then nothing that decodes
    assert r.status_code == 400
    assert "cannot be decoded" in r.json["error"] and "FLAC" in r.json["error"]
    assert client.application.extensions[EXTENSION_KEY].jobs_dir not in r.json["error"]
    assert job_folders(client.application) == []


def test_unsupported_format_is_400(client):
    y = np.zeros((4000, 1), dtype=np.float32)
    buf = io.BytesIO()
    sf.write(buf, y, 8000, format="AIFF", subtype="PCM_16")
    r = post(client, buf.getvalue(), "song.aiff")
    assert r.status_code == 400 and "unsupported audio format AIFF" in r.json["error"]


def test_empty_and_missing_file_are_400(client):
    r = post(client, b"", "song.wav")
    assert r.status_code == 400 and "empty" in r.json["error"]
    r = client.post("/api/separate", data={"other": "x"}, content_type="multipart/form-data",
                    headers=token(client))
    assert r.status_code == 400 and "'file'" in r.json["error"]


def test_too_long_is_400(make_app, separator):
    app = make_app(separator=separator, max_seconds=1.0)
    c = app.test_client()
    r = post(c, audio_bytes(seconds=1.5)[0])
    assert r.status_code == 400 and "too long" in r.json["error"] and "1 s" in r.json["error"]
    assert post(c, audio_bytes(seconds=0.8)[0]).status_code == 202


def test_unknown_job_bad_stem_and_traversal_are_404(client, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    job = wait(client, post(client, audio_bytes(seconds=0.5)[0]).json["status_url"])
    jid = job["id"]
    bad = [
        "/api/jobs/" + "0" * 32,
        "/api/jobs/" + "0" * 32 + "/vocals",
        "/api/jobs/" + jid.upper(),
        f"/api/jobs/{jid}/input.wav",
        f"/api/jobs/{jid}/passwd",
        f"/api/jobs/{jid}/..%2F..%2Fsecret.txt",
        f"/api/jobs/{jid}/..%2f{jid}%2fvocals.wav",
        "/api/jobs/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/jobs/..%2Fjobs/vocals",
        "/api/jobs/%2Fetc%2Fpasswd/vocals",
        f"/api/jobs/{secret}/original",
        f"/api/jobs/{jid}/%2Fetc%2Fpasswd",
        "/api/jobs/../../etc/passwd",
        "/api/jobs/" + "0" * 31 + "%00" + "/original",
    ]
    for url in bad:
        r = client.get(url)
        assert r.status_code == 404, url
        assert b"secret" not in r.data and b"root:" not in r.data
        if r.is_json:
            assert r.json["error"]
    assert client.get(f"/api/jobs/{jid}/vocals").status_code == 200
    manager = client.application.extensions[EXTENSION_KEY]
    for job_id in ("../" + jid, jid + "/", "/" + jid, None, 5):
        assert manager.get(job_id) is None


def test_method_not_allowed_is_json(client):
    r = client.get("/api/separate")
    assert r.status_code == 405 and r.is_json


# -- jobs --------------------------------------------------------------------------------
class FailOnce(Separator):
    """Raises in the network on the first call only."""

    calls = 0

    def mask16(self, y, sr, peak, mag=None):
        type(self).calls += 1
        if type(self).calls == 1:
            raise RuntimeError("the network exploded")
        return super().mask16(y, sr, peak, mag)


def test_failing_job_does_not_stop_the_server(make_app, random_model):
    app = make_app(separator=FailOnce(random_model), workers=1)
    c = app.test_client()
    data = audio_bytes(seconds=0.5)[0]
    first = post(c, data).json
    second = post(c, data).json
    j1 = wait(c, first["status_url"])
    j2 = wait(c, second["status_url"])
    assert j1["status"] == "failed"
    assert "RuntimeError" in j1["error"] and "the network exploded" in j1["error"]
    assert "vocals" not in j1["stems"] and j1["spectrogram"] is None
    assert c.get(f"/api/jobs/{first['id']}/vocals").status_code == 409
    assert j2["status"] == "done", j2["error"]
    assert c.get(j2["stems"]["vocals"]).status_code == 200


def test_user_error_in_job_is_reported_without_paths(make_app, separator):
    app = make_app(separator=separator)
    manager = app.extensions[EXTENSION_KEY]

    def process(sep, job):
        raise AudioError(f"cannot decode {job.input_path}: truncated stream")
    manager.process = process
    c = app.test_client()
    job = wait(c, post(c, audio_bytes(seconds=0.5)[0]).json["status_url"])
    assert job["status"] == "failed"
    assert job["error"] == "cannot decode the uploaded file: truncated stream"


def test_corrupt_after_the_first_second_fails_the_job(client):
    data, _ = audio_bytes(seconds=6.0, sr=16000, channels=1, fmt="FLAC")
    cut = len(data) * 3 // 4
    broken = data[:cut] + bytes(np.random.default_rng(1).integers(0, 256, len(data) - cut, dtype=np.uint8))
    r = post(client, broken, "song.flac")
    assert r.status_code == 202, r.json      # only the header and the first second are checked
    job = wait(client, r.json["status_url"])
    assert job["status"] == "failed" and "decod" in job["error"]
    assert client.application.extensions[EXTENSION_KEY].jobs_dir not in job["error"]


class Gated(Separator):
    """Waits for ``gate`` in the network call."""

    gate = None

    def mask16(self, y, sr, peak, mag=None):
        assert self.gate.wait(60)
        return super().mask16(y, sr, peak, mag)


def test_queue_position_with_one_worker(make_app, random_model):
    sep = Gated(random_model)
    sep.gate = threading.Event()
    app = make_app(separator=sep, workers=1)
    c = app.test_client()
    data = audio_bytes(seconds=0.5)[0]
    try:
        ids = [post(c, data).json["id"] for _ in range(3)]
        first = wait(c, f"/api/jobs/{ids[0]}", until=("running",))
        assert first["queue_position"] == 0 and first["progress"] == 0
        states = [c.get(f"/api/jobs/{i}").json for i in ids[1:]]
        assert [s["status"] for s in states] == ["queued", "queued"]
        assert [s["queue_position"] for s in states] == [1, 2]
        assert post(c, data).json["queue_position"] == 3
    finally:
        sep.gate.set()
    for i in ids:
        assert wait(c, f"/api/jobs/{i}")["status"] == "done"


def test_queue_full_is_503(make_app, separator):
    gate = threading.Event()
    app = make_app(separator=separator, max_queue=1)
    app.extensions[EXTENSION_KEY].process = lambda sep, job: gate.wait(30)
    c = app.test_client()
    data = audio_bytes(seconds=0.5)[0]
    try:
        running = post(c, data).json
        wait(c, running["status_url"], until=("running",))
        assert post(c, data).status_code == 202
        r = post(c, data)
        assert r.status_code == 503 and "busy" in r.json["error"]
    finally:
        gate.set()


def test_two_workers_give_the_same_stems(make_app, random_model):
    app = make_app(separator=Separator(random_model), workers=2)
    c = app.test_client()
    data, y = audio_bytes(seconds=3.0, sr=16000, channels=1)
    ids = [post(c, data).json["id"] for _ in range(3)]
    jobs = [wait(c, f"/api/jobs/{i}") for i in ids]
    assert all(j["status"] == "done" for j in jobs)
    outs = [c.get(j["stems"]["vocals"]).data for j in jobs]
    assert outs[0] == outs[1] == outs[2]
    ref = Separator(random_model).separate(y.T.astype(np.float32), 16000)["vocals"]
    got, _ = sf.read(io.BytesIO(outs[0]), dtype="float32", always_2d=True)
    np.testing.assert_allclose(got.T, ref, atol=1e-4)


def test_progress_is_reported_while_running(make_app, random_model):
    class Slow(Separator):
        seen = []

        def mask16(self, y, sr, peak, mag=None):
            time.sleep(0.3)
            return super().mask16(y, sr, peak, mag)

    sep = Slow(random_model, chunk_seconds=2.0, margin_seconds=0.5, crossfade_seconds=0.25)
    app = make_app(separator=sep)
    c = app.test_client()
    url = post(c, audio_bytes(seconds=8.0, sr=16000, channels=1)[0]).json["status_url"]
    seen = set()
    while True:
        j = c.get(url).json
        if j["status"] == "running":
            seen.add(j["progress"])
        if j["status"] in ("done", "failed"):
            break
        time.sleep(0.02)
    assert j["status"] == "done"
    assert any(0 < p < 1 for p in seen), seen


def test_mask_recorder_places_windows(random_model):
    from unetvocalsep.spectrogram import spectrogram

    sep = Separator(random_model, chunk_seconds=2.0, margin_seconds=0.5, crossfade_seconds=0.25)
    sr = 22050
    y = np.concatenate(toy_stems(seconds=7.3, sr=sr, channels=1), axis=0).sum(axis=0, keepdims=True)
    rec = MaskRecorder(sep, sr, y.shape[1] / sr)
    masks = []

    def observe(window, mag, mask):
        masks.append(mask)
        # the observer gets the window's own 16 kHz magnitude, not a recomputed one
        np.testing.assert_array_equal(mag, spectrogram(window.samples, sr)[0])
        rec.add(window, mag, mask)
    peak, _, mags = sep.first_pass(_array_reader(y), sr)
    list(sep.stream(_array_reader(y), sr, peak, mags=mags, on_window=observe))
    assert len(masks) == 4
    mag, mask = rec.assemble()
    whole = spectrogram(y, sr)[0]
    assert abs(mag.shape[1] - whole.shape[1]) <= 2
    starts = [part[0] for part in rec.parts]
    assert starts == [0, 63, 125, 188]         # interiors start at k * 2 s = k * 62.5 frames
    ends = starts[1:] + [min(mag.shape[1], whole.shape[1])]

    def error(lo, hi, shift):
        return np.abs(mag[:, lo:hi] - whole[:, lo + shift:hi + shift]).sum() / whole[:, lo:hi].sum()
    assert error(3, ends[0] - 3, 0) < 1e-3     # the first window is exact
    for lo, hi in zip(starts, ends):
        # later windows start between frames (at most half a frame off): no other shift fits better
        lo, hi = max(lo + 3, 3), hi - 3
        assert error(lo, hi, 0) < min(error(lo, hi, s) for s in (-2, -1, 1, 2)), lo
    assert mask.min() >= 0 and mask.max() <= 1 and mask[1:].std() > 0

    long = MaskRecorder(sep, sr, 600.0, max_columns=500)
    assert long.step == 38


def test_janitor_deletes_old_jobs(make_app, separator):
    app = make_app(separator=separator, keep_minutes=0.5 / 60, janitor_seconds=0.1)
    c = app.test_client()
    manager = app.extensions[EXTENSION_KEY]
    job = wait(c, post(c, audio_bytes(seconds=0.5)[0]).json["status_url"])
    assert job["status"] == "done"
    folder = os.path.join(manager.jobs_dir, job["id"])
    assert os.path.isdir(folder)
    end = time.time() + 20
    while os.path.isdir(folder) and time.time() < end:
        time.sleep(0.1)
    assert not os.path.exists(folder)
    assert c.get(job["status_url"]).status_code == 404
    assert c.get(job["stems"]["vocals"]).status_code == 404


def test_cleanup_keeps_recent_and_unfinished_jobs(make_app, separator):
    gate = threading.Event()
    app = make_app(separator=separator, keep_minutes=10)
    manager = app.extensions[EXTENSION_KEY]
    c = app.test_client()
    done = wait(c, post(c, audio_bytes(seconds=0.5)[0]).json["status_url"])
    manager.process = lambda sep, job: gate.wait(30)
    try:
        waiting = post(c, audio_bytes(seconds=0.5)[0]).json
        now = time.time()
        assert manager.cleanup(now + 9 * 60) == []
        assert manager.cleanup(now + 11 * 60) == [done["id"]]
        assert c.get(waiting["status_url"]).status_code == 200
        assert job_folders(app) == [waiting["id"]]
    finally:
        gate.set()


def test_temporary_jobs_dir_is_removed_on_close(separator):
    app = create_app(separator=separator)
    root = app.extensions[EXTENSION_KEY].jobs_dir
    assert os.path.isdir(root)
    app.extensions[EXTENSION_KEY].close()
    assert not os.path.exists(root)


# -- helpers and the command line --------------------------------------------------------
def test_check_upload_and_display_name(tmp_path):
    p = tmp_path / "x"
    p.write_bytes(audio_bytes(seconds=1.0, sr=8000, channels=2)[0])
    ext, (duration, sr, channels) = check_upload(str(p), 600)
    assert (ext, sr, channels) == ("wav", 8000, 2) and duration == pytest.approx(1.0)
    assert display_name("C:\\Users\\me\\a song.mp3") == "a song.mp3"
    assert display_name("../../etc/passwd") == "passwd"
    assert display_name("..") == "song" and display_name(None) == "song"
    assert display_name("<script>.wav") == "script_.wav"


def test_flask_is_not_imported_by_the_package():
    code = ("import sys, unetvocalsep, unetvocalsep.separate, unetvocalsep.web.jobs; "
            "assert 'flask' not in sys.modules, 'flask imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_cli_parser_defaults():
    from unetvocalsep.web.__main__ import get_parser

    args = get_parser().parse_args([])
    assert (args.host, args.port, args.model, args.max_upload_mb, args.max_seconds, args.workers,
            args.keep_minutes, args.device) == ("127.0.0.1", 8000, None, 50, 600, 1, 60, "-1")


def test_cli_bad_model_is_one_line(tmp_path, capsys):
    from unetvocalsep.web.__main__ import main

    assert main(["--model", str(tmp_path / "missing.npz"), "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such model file" in err[0]


def test_cli_bad_setting_is_one_line(random_model, capsys):
    from unetvocalsep.web.__main__ import main

    assert main(["--model", random_model, "--workers", "0", "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--workers" in err[0]


def test_cli_serves_and_stops(random_model, tmp_path):
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "unetvocalsep.web", "--model", random_model,
                             "--port", "0", "--quiet"],
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        end = time.time() + 120
        while not any("http://" in x for x in lines) and time.time() < end:
            lines.append(proc.stderr.readline())
            assert lines[-1] or proc.poll() is None, f"server exited: {lines}"
        jobs_dir = re.search(r"results in (\S+) \(deleted on exit\)", "".join(lines)).group(1)
        assert f"model {random_model} (not recorded with these weights)\n" in lines
        url = re.search(r"http://127\.0\.0\.1:\d+/", lines[-1]).group(0)
        with urllib.request.urlopen(url, timeout=30) as r:
            assert r.status == 200 and b'id="drop"' in r.read()
        assert os.path.isdir(jobs_dir)
        proc.send_signal(signal.SIGTERM)     # like Ctrl-C: stops cleanly
        assert proc.wait(60) == 0
        assert not os.path.exists(jobs_dir)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_wiener_field_refines_the_job(make_app, separator):
    """The page's Wiener checkbox (form field ``wiener=1``) gives that job Wiener-filtered stems."""
    client = make_app(separator=separator).test_client()
    data, y = audio_bytes(seconds=3.0)
    stems = {}
    for flag in ("0", "1"):
        r = client.post("/api/separate", data={"file": (io.BytesIO(data), "song.wav"), "wiener": flag},
                        content_type="multipart/form-data", headers=token(client))
        assert r.status_code == 202, r.json
        job = wait(client, r.json["status_url"])
        assert job["status"] == "done" and job["wiener"] is (flag == "1")
        stems[flag] = sf.read(io.BytesIO(client.get(job["stems"]["vocals"]).data))[0]
    assert np.max(np.abs(stems["0"] - stems["1"])) > 1e-3
    assert separator.wiener is False          # the shared separator is not changed
    r = client.post("/api/separate", data={"file": (io.BytesIO(data), "song.wav"), "wiener": "x"},
                    content_type="multipart/form-data", headers=token(client))
    assert r.status_code == 400 and "wiener" in r.json["error"]
    page = client.get("/").get_data(as_text=True)
    assert 'id="wiener"' in page


# Issue 13, defect 4/5/6: the web server's resources
def test_04_many_channels_refused_high_rates_reduced(manager):
    from unetvocalsep.web.uploads import RequestError

    m = manager()
    with pytest.raises(RequestError, match="8 channels") as info:
        m.submit(wav_bytes(2.0, 192000, 8, "FLAC", "PCM_16", silent=True), "x.flac")
    assert info.value.status == 400 and not os.listdir(m.jobs_dir)
    job = m.submit(wav_bytes(2.0, 96000, 2), "hi.wav")
    assert wait_for_job(job) == "done", job.error
    info = sf.info(job.path("vocals"))
    assert info.samplerate == 48000 and info.channels == 2
    assert m.status(job)["output_sample_rate"] == 48000


# Issue 13, defect 4/5/6: the web server's resources
def test_04_disk_per_job_is_bounded(manager):
    from unetvocalsep.web.uploads import RequestError

    m = manager(max_job_mb=2)
    with pytest.raises(RequestError, match="MB per song") as info:
        m.submit(wav_bytes(10.0, 44100, 2), "long.wav")
    assert info.value.status == 413 and not os.listdir(m.jobs_dir)


# Issue 13, defect 4/5/6: the web server's resources
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
            m.submit(wav_bytes(0.5, 16000, 1), "a.wav")
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


# Issue 13, defect 4/5/6: the web server's resources
def test_06_full_disk_web_says_507(manager, tmp_path):
    from unetvocalsep.web.uploads import RequestError

    with tiny_disk(tmp_path / "disk", "300k") as disk:
        m = manager(jobs_dir=str(disk / "jobs"))
        with pytest.raises(RequestError, match="no space left") as info:
            m.submit(wav_bytes(10.0, 44100, 2), "big.wav")
        assert info.value.status == 507
        assert os.listdir(m.jobs_dir) == []
        m.close()


# Issue 13, defect 15: nan / inf in numeric options
def test_15_web_numeric_options(tmp_path):
    pytest.importorskip("flask")
    for args, needle in ((["--max-seconds", "nan"], "--max-seconds"), (["--port", "70000"], "--port"),
                         (["--max-job-mb", "-1"], "--max-job-mb")):
        one_line_error(cli("web", *args, cwd=str(tmp_path)), needle)


# Issue 28, defect 18: the web page answered any origin and any Host
def test_18_cross_origin_posts_and_foreign_hosts_are_refused(web_client):
    c = web_client
    tok = c.get("/api/token", base_url="http://127.0.0.1:8000").json["token"]
    good = {"X-Unetvocalsep-Token": tok}
    # CSRF: another site's page posting to the user's server
    r = post_song(c, dict(good, Origin="https://evil.example"))
    assert r.status_code == 403 and "cross-origin" in r.json["error"]
    r = post_song(c, {"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    # no token (a form on another page cannot read one)
    r = post_song(c, {"Origin": "http://127.0.0.1:8000"})
    assert r.status_code == 403 and "token" in r.json["error"]
    r = post_song(c, {"X-Unetvocalsep-Token": tok[:-1] + ("0" if tok[-1] != "0" else "1")})
    assert r.status_code == 403
    # DNS rebinding: a foreign name for this server, reading or writing
    for method in ("get", "post"):
        r = getattr(c, method)("/api/token", base_url="http://evil.example:8000")
        assert r.status_code == 421
    assert c.get("/", base_url="http://rebind.attacker.test").status_code == 421
    # what is allowed: the page's own origin with its token, programs without Origin,
    # the proxy's name and origin given on the command line
    page = c.get("/", base_url="http://127.0.0.1:8000").get_data(as_text=True)
    page_tok = page.split('data-token="')[1].split('"')[0]
    assert post_song(c, {"X-Unetvocalsep-Token": page_tok,
                     "Origin": "http://127.0.0.1:8000"}).status_code == 202
    assert post_song(c, good).status_code == 202
    assert post_song(c, dict(good, Origin="https://sep.example.com"),
                 base_url="http://sep.example.com").status_code == 202
    assert post_song(c, good, base_url="http://localhost:8000").status_code == 202


# Issue 28, defect 18: the web page answered any origin and any Host
def test_18_guard_rules():
    from unetvocalsep.web.guard import Guard

    g = Guard()
    assert g.host_ok("[::1]:8000") and g.host_ok("192.168.1.20") and g.host_ok("LOCALHOST")
    assert not g.host_ok("") and not g.host_ok(None) and not g.host_ok("attacker.test")
    assert not g.origin_ok("null", "127.0.0.1:8000", "http")
    assert not g.origin_ok("http://127.0.0.1:9999", "127.0.0.1:8000", "http")
    assert Guard().token_ok(g.new_token()) is False      # another server's key


# Issue 28, defect 19, 20: the server: bounded connections with a timeout; a restart keeps finished jobs
def test_19_slow_clients_are_bounded_and_timed_out(random_model, tmp_path):
    import socket
    import time
    import urllib.request

    proc, port, _ = serve_cli(random_model, tmp_path / "jobs", "--max-connections", "20",
                           "--timeout", "2")
    socks = []
    try:
        for _ in range(60):   # slow uploads: a header, then nothing
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"POST /api/separate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      b"Content-Length: 1000000\r\n\r\nxx")
            socks.append(s)
        threads = len(os.listdir(f"/proc/{proc.pid}/task"))
        assert threads < 30, threads               # not one thread per connection
        # each is closed 2 s after it went silent; those past the limit of 20 wait in
        # the listen queue and are taken (and timed out) as places free up
        open_ = set(range(len(socks)))
        end = time.time() + 40
        while open_ and time.time() < end:
            for i in list(open_):
                try:
                    socks[i].settimeout(0.05)
                    if socks[i].recv(1) == b"":
                        open_.discard(i)
                except (ConnectionResetError, BrokenPipeError):
                    open_.discard(i)
                except socket.timeout:
                    pass
        assert not open_, f"{len(open_)} slow connections still open"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as r:
            assert r.status == 200               # and the server still answers
    finally:
        for s in socks:
            s.close()
        assert stop_server(proc) == 0


# Issue 28, defect 19, 20: the server: bounded connections with a timeout; a restart keeps finished jobs
def test_20_restart_serves_finished_jobs_and_removes_unfinished(random_model, tmp_path):
    import json
    import time
    import urllib.request

    jobs = tmp_path / "jobs"
    proc, port, _ = serve_cli(random_model, jobs)
    base = f"http://127.0.0.1:{port}"
    try:
        tok = json.load(urllib.request.urlopen(base + "/api/token"))["token"]
        boundary = "xyzboundary"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"song.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode() + toy_wav_bytes() \
            + f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(base + "/api/separate", data=body, method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-Unetvocalsep-Token": tok})
        answer = json.load(urllib.request.urlopen(req))
        end = time.time() + 120
        while time.time() < end:
            st = json.load(urllib.request.urlopen(base + answer["status_url"]))
            if st["status"] in ("done", "failed"):
                break
            time.sleep(0.2)
        assert st["status"] == "done", st
    finally:
        assert stop_server(proc) == 0
    unfinished = jobs / ("ab" * 16)                 # a job that was queued when it stopped
    unfinished.mkdir()
    (unfinished / "input.wav").write_bytes(toy_wav_bytes())
    (jobs / "notes.txt").write_text("mine")          # not a job: left alone
    proc, port, lines = serve_cli(random_model, jobs)
    base = f"http://127.0.0.1:{port}"
    try:
        assert any("1 finished served again, 1 unfinished removed" in x for x in lines), lines
        st = json.load(urllib.request.urlopen(base + answer["status_url"]))
        assert st["status"] == "done" and st["name"] == "song.wav"
        with urllib.request.urlopen(base + st["stems"]["vocals"]) as r:
            assert r.status == 200 and len(r.read()) > 1000
        assert not unfinished.exists() and (jobs / "notes.txt").read_text() == "mine"
    finally:
        assert stop_server(proc) == 0


# Issue 28, defect 19, 20: the server: bounded connections with a timeout; a restart keeps finished jobs
def test_05_web_sees_the_real_length_of_a_joined_mp3(joined_mp3):
    from unetvocalsep.web.uploads import RequestError
    from unetvocalsep.web.uploads import check_upload

    ext, (duration, sr, channels) = check_upload(str(joined_mp3), max_seconds=600)
    assert ext == "mp3" and 22.9 < duration < 23.2
    with pytest.raises(RequestError, match="too long"):
        check_upload(str(joined_mp3), max_seconds=10)     # the header says 3 s
