"""End to end: the real server, the real page in headless Chromium, a generated song dropped on it.

Needs Playwright for Python (``pip install playwright``; its own browser
download is not used) and a Chromium (Debian: ``apt-get install chromium``;
another one can be named with ``UNETVOCALSEP_CHROMIUM``). Skipped when either
is missing.

``UNETVOCALSEP_WEB_SCREENSHOT=docs/web-screenshot.png`` keeps a copy of the
screenshot; ``UNETVOCALSEP_WEB_MODEL=PATH`` uses that model instead of a
random one.
"""
import base64
import io
import os
import shutil
import threading

import pytest

pytest.importorskip("flask")
sf = pytest.importorskip("soundfile")
sync_api = pytest.importorskip("playwright.sync_api")

from conftest import toy_stems  # noqa: E402

CHROMIUM = os.environ.get("UNETVOCALSEP_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
#: Flags that keep Chromium from stalling on network attempts on an offline machine.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found")

# Drop ``bytes`` (base64) on the zone the way a browser does: a DataTransfer holding a File.
DROP_JS = """([b64, name, type]) => {
  const raw = atob(b64);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, {type: type}));
  const zone = document.getElementById('drop');
  for (const kind of ['dragenter', 'dragover', 'drop']) {
    zone.dispatchEvent(new DragEvent(kind, {dataTransfer: dt, bubbles: true, cancelable: true}));
  }
}"""

# The players' state, once each has loaded its metadata (or failed).
AUDIO_JS = """async (ids) => {
  const wait = (a) => new Promise((resolve) => {
    if (a.readyState >= 1 || a.error) return resolve();
    a.addEventListener('loadedmetadata', resolve, {once: true});
    a.addEventListener('error', resolve, {once: true});
  });
  const out = {};
  for (const id of ids) {
    const a = document.getElementById(id);
    await wait(a);
    out[id] = {src: a.currentSrc, readyState: a.readyState, duration: a.duration,
               error: a.error ? a.error.code : null,
               canPlay: a.canPlayType('audio/wav')};
  }
  return out;
}"""


def song(seconds, sr, channels, fmt, subtype, seed=0):
    v, a = toy_stems(seconds=seconds, sr=sr, channels=channels, seed=seed)
    buf = io.BytesIO()
    sf.write(buf, (v + a).T, sr, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.fixture
def server(random_model, tmp_path):
    from werkzeug.serving import make_server

    from unetvocalsep.web import EXTENSION_KEY, create_app

    # UNETVOCALSEP_WEB_MODEL: a trained model, for a screenshot that shows a real mask
    model = os.environ.get("UNETVOCALSEP_WEB_MODEL") or random_model
    app = create_app(model=model, jobs_dir=str(tmp_path / "jobs"))
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}/"
    srv.shutdown()
    thread.join(10)
    srv.server_close()
    app.extensions[EXTENSION_KEY].close()


def check_players(page, seconds):
    players = page.evaluate(AUDIO_JS, ["audio-original", "audio-vocals", "audio-accompaniment"])
    for name, p in players.items():
        assert p["error"] is None, (name, p)
        assert p["readyState"] >= 1, (name, p)
        assert p["canPlay"] in ("maybe", "probably"), (name, p)
        assert abs(p["duration"] - seconds) < 0.1, (name, p)
    return players


def _mean_played_rms(page, level, samples=12):
    """Play the remix at slider ``level`` (from where it was paused); the master bus RMS and when.

    Returns
    -------
    rms : float
        Mean of ``samples`` readings of the analyser's RMS.
    positions : list of float
        Seconds into the song of each reading (``remix.position()``).
    """
    page.evaluate("(p) => { window.remix.stop(); const s = document.getElementById('vocal-level');"
                  " s.value = p; s.dispatchEvent(new Event('input')); }", level)
    page.evaluate("() => { window.remix.stop(); }")
    t0 = page.evaluate("() => { window.remix.play(); return window.remix.time(); }")
    page.wait_for_function("(t) => window.remix.time() > t + 0.2", arg=t0, timeout=10_000)
    vals, positions = [], []
    for _ in range(samples):
        rms, at = page.evaluate("[window.remix.playedRms(), window.remix.position()]")
        vals.append(rms)
        positions.append(at)
        page.wait_for_timeout(50)
    page.evaluate("() => { window.remix.stop(); }")
    return sum(vals) / len(vals), positions


#: The RMS the analyser would read at each position, from the rendered remix
#: (its last 2048 samples, as ``analyser.fftSize``).
EXPECTED_RMS_JS = """([g, positions]) => { const r = window.remix.render(g);
    const x = r.channels[0], w = 2048; let total = 0;
    for (const p of positions) {
        const end = Math.min(x.length, Math.max(w, Math.round(p * r.sampleRate)));
        let s = 0; for (let i = end - w; i < end; i++) s += x[i] * x[i];
        total += Math.sqrt(s / w); }
    return total / positions.length; }"""


def check_remix(page, server, tmp_path):
    """The vocal-level slider remixes the two stems in the browser, with no request."""
    import urllib.request

    import numpy as np

    page.wait_for_function("() => document.body.dataset.remix === 'ready'", timeout=30_000)
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    assert page.text_content("#vocal-level-text").startswith("no vocals")
    # while playing, moving the slider changes the vocals' gain in the graph
    page.click("#remix-play")
    page.wait_for_function("() => window.remix.time() > 0.2", timeout=10_000)
    assert page.evaluate("window.remix.vocalGain()") == 0
    page.eval_on_selector("#vocal-level", "s => { s.value = 70; s.dispatchEvent(new Event('input')); }")
    assert page.text_content("#vocal-level-text") == "vocals at -12.0 dB"
    assert abs(page.evaluate("window.remix.vocalGain()") - 10 ** (-12 / 20)) < 1e-6
    page.click("#remix-play")                                   # pause
    assert page.evaluate("window.remix.vocalGain()") is None
    # the played level follows the slider as the buffers say it should
    # (compared over the stretches that were played: the ratio changes along the song,
    # and how far playback gets between readings depends on the machine's load)
    loud, at_loud = _mean_played_rms(page, 100)
    quiet, at_quiet = _mean_played_rms(page, 0)
    assert quiet > 1e-4
    expect = (page.evaluate(EXPECTED_RMS_JS, [1, at_loud])
              / page.evaluate(EXPECTED_RMS_JS, [0, at_quiet]))
    played = loud / quiet
    assert abs(played - expect) < 0.25 * expect, (played, expect, at_loud, at_quiet)
    # the download is accompaniment + g * vocals, sample for sample
    page.eval_on_selector("#vocal-level", "s => { s.value = 70; s.dispatchEvent(new Event('input')); }")
    with page.expect_download() as dl:
        page.click("#remix-download")
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(str(path))
    assert dl.value.suggested_filename == "mix_-12.0dB.wav"
    mix, sr = sf.read(str(path), dtype="float32", always_2d=True)
    stems = {}
    for stem in ("vocals", "accompaniment"):
        href = page.get_attribute(f"#dl-{stem}", "href")
        with urllib.request.urlopen(server.rstrip("/") + href if href.startswith("/") else href) as r:
            stems[stem], sr_s = sf.read(io.BytesIO(r.read()), dtype="float32", always_2d=True)
    assert sr == sr_s and mix.shape == stems["vocals"].shape
    want = stems["accompaniment"] + np.float32(10 ** (-12 / 20)) * stems["vocals"]
    # Chromium decodes 16-bit PCM as x / 32767 where soundfile takes x / 32768
    assert np.abs(mix - want).max() < 1e-4
    assert [u for u in requests if not u.startswith("blob:")] == [], requests


def test_drop_a_song_and_play_the_stems(server, tmp_path):
    errors = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server)
            assert page.get_attribute("body", "data-state") == "idle"
            # record every state the page goes through
            page.evaluate("""() => { window.states = [];
              new MutationObserver(() => window.states.push(document.body.dataset.state))
                .observe(document.body, {attributes: true, attributeFilter: ['data-state']}); }""")

            # 1. drop a 3 s stereo wav
            data = song(3.0, 22050, 2, "WAV", "PCM_16")
            page.evaluate(DROP_JS, [base64.b64encode(data).decode(), "my song.wav", "audio/wav"])
            page.wait_for_function("() => document.body.dataset.state === 'done'", timeout=120_000)
            states = page.evaluate("window.states")
            assert states[0] == "uploading" and states[-1] == "done", states
            assert "queued" in states or "running" in states, states
            assert page.eval_on_selector("#upload-bar", "b => b.value") == 1
            assert page.text_content("#upload-text").startswith("done")
            assert page.text_content("#job-text").startswith("Done")
            assert page.text_content("#file-name") == "my song.wav"
            assert page.is_visible("#result") and not page.is_visible("#error")
            players = check_players(page, 3.0)
            assert players["audio-vocals"]["src"].endswith("/vocals")
            assert players["audio-accompaniment"]["src"].endswith("/accompaniment")
            page.wait_for_function("() => document.getElementById('spectrogram').complete", timeout=30_000)
            assert page.eval_on_selector("#spectrogram", "i => i.naturalWidth") >= 600
            assert page.is_visible("#spectrogram")
            for stem in ("vocals", "accompaniment", "original"):
                href = page.get_attribute(f"#dl-{stem}", "href")
                assert href.endswith(f"/{stem}?download=1")
                head = page.evaluate("""async (u) => { const r = await fetch(u);
                    return [r.status, r.headers.get('content-disposition')]; }""", href)
                assert head[0] == 200 and head[1].startswith("attachment"), head
            check_remix(page, server, tmp_path)
            shot = tmp_path / "web.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            if os.environ.get("UNETVOCALSEP_WEB_SCREENSHOT"):   # e.g. docs/web-screenshot.png
                shutil.copyfile(shot, os.environ["UNETVOCALSEP_WEB_SCREENSHOT"])

            # 2. the file picker, with a 2 s mono flac: the page starts over
            path = tmp_path / "other.flac"
            path.write_bytes(song(2.0, 44100, 1, "FLAC", "PCM_16", seed=1))
            page.evaluate("() => { window.states = []; }")
            page.set_input_files("#file", str(path))
            page.wait_for_function("() => window.states.includes('done')", timeout=120_000)
            assert page.evaluate("window.states")[0] == "uploading"
            assert page.text_content("#file-name") == "other.flac"
            check_players(page, 2.0)

            # 3. something that is not audio: the server's message is shown
            page.evaluate(DROP_JS, [base64.b64encode(b"not a song " * 100).decode(), "fake.mp3",
                                    "audio/mpeg"])
            page.wait_for_function("() => document.body.dataset.state === 'error'", timeout=30_000)
            assert "not an audio file" in page.text_content("#error")
            assert page.is_visible("#error") and not page.is_visible("#result")
        finally:
            browser.close()
    assert errors == [] or all("400" in e for e in errors), errors
