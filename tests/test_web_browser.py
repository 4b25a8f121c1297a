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
