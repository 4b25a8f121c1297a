"""Tests of the real-music corpus (synth.beds, synth.production, synth.takes, synth.realmix).

The game-music packages are not installed in CI, so the beds here are
generated "recordings" in a fake package (plain files and a .pk3 zip).
The voices are real KLettres recordings when klettres-data is installed.
"""
import io
import json
import os
import zipfile

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from unetvocalsep.errors import UserError  # noqa: E402
from unetvocalsep.synth import beds, production, realmix, takes, voice  # noqa: E402

KLETTRES = "/usr/share/klettres"
HAVE_KLETTRES = os.path.isdir(os.path.join(KLETTRES, "it", "syllab"))


def _music(seconds, sr, seed):
    """A bed: chords and a beat, stereo."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = sum(0.1 * np.sin(2 * np.pi * f * t) for f in rng.uniform(100, 800, 4))
    y = y + 0.3 * (np.sin(2 * np.pi * 2 * t) > 0.95) * rng.normal(0, 0.3, len(t))
    return np.stack([y, 0.8 * y], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def fake_package(tmp_path_factory):
    root = tmp_path_factory.mktemp("music")
    (root / "ogg").mkdir()
    for i in range(2):
        sf.write(root / "ogg" / f"track{i}.ogg", _music(30, 44100, i), 44100)
    sf.write(root / "ogg" / "jingle.ogg", _music(3, 44100, 9), 44100)    # too short
    buf = io.BytesIO()
    sf.write(buf, _music(25, 22050, 5), 22050, format="OGG")
    with zipfile.ZipFile(root / "music.pk3", "w") as z:
        z.writestr("music/zipped.ogg", buf.getvalue())
        z.writestr("maps/readme.txt", "not music")
    return {"fake-music": ([str(root / "ogg" / "*.ogg"), f"{root / 'music.pk3'}!music/"],
                           "CC0"),
            "other-music": ([str(root / "music.pk3") + "!music/"], "CC0")}


@pytest.fixture()
def packages(monkeypatch, fake_package):
    monkeypatch.setattr(beds, "PACKAGES", dict(beds.PACKAGES, **fake_package))
    return fake_package


def test_find_beds_files_and_zip_members(packages, tmp_path):
    found = beds.find_beds(["fake-music"])
    names = sorted(b.name for b in found)
    assert names == ["jingle.ogg", "track0.ogg", "track1.ogg", "zipped.ogg"]
    usable = beds.usable_beds(found, str(tmp_path))
    assert sorted(b.name for b, _ in usable) == ["track0.ogg", "track1.ogg", "zipped.ogg"]
    lengths = {b.name: n for b, n in usable}
    assert lengths["track0.ogg"] == 30 * 16000 and lengths["zipped.ogg"] == 25 * 16000


def test_load_bed_is_16k_mono_and_cached(packages, tmp_path):
    bed = [b for b in beds.find_beds(["fake-music"]) if b.name == "track0.ogg"][0]
    x = beds.load_bed(bed, str(tmp_path))
    assert x.dtype == np.float32 and x.ndim == 1 and len(x) == 30 * 16000
    src = _music(30, 44100, 0).mean(axis=1)
    assert abs(np.sqrt(np.mean(x ** 2)) / np.sqrt(np.mean(src ** 2)) - 1) < 0.05
    cached = list((tmp_path / "beds" / "fake-music").glob("track0-*.npy"))
    assert len(cached) == 1
    os.utime(bed.source, ns=(1, 1))     # a changed source gives a new entry
    beds.load_bed(bed, str(tmp_path))
    assert len(list((tmp_path / "beds" / "fake-music").glob("track0-*.npy"))) == 2


def test_excluded_and_unknown_packages(packages, monkeypatch):
    monkeypatch.setattr(beds, "EXCLUDED", {"fake-music:track1.ogg": "a choir"})
    assert "track1.ogg" not in [b.name for b in beds.find_beds(["fake-music"])]
    assert "track1.ogg" in [b.name for b in beds.find_beds(["fake-music"], exclude=False)]
    with pytest.raises(UserError, match="unknown music package"):
        beds.find_beds(["no-such-music"])
    monkeypatch.setitem(beds.PACKAGES, "absent-music", (["/nonexistent/*.ogg"], "x"))
    with pytest.raises(UserError, match="apt-get install absent-music"):
        beds.find_beds(["absent-music"])


def test_reserved_sources_are_never_listed():
    assert beds.HELD_OUT_PACKAGE not in beds.TRAIN_PACKAGES
    for pkg, (patterns, _) in beds.PACKAGES.items():
        text = (pkg + " ".join(patterns)).lower()
        assert "wesnoth" not in text and "fretsonfire" not in text and "frets" not in text
    with pytest.raises(UserError, match="reserved"):
        voice.find_recordings(KLETTRES, ["it", "fr"])
    with pytest.raises(UserError, match="reserved"):
        voice.find_syllables(KLETTRES, ["en_GB"])


@pytest.mark.skipif(not HAVE_KLETTRES, reason="klettres-data not installed")
def test_default_languages_leave_out_reserved_and_held_out():
    langs = {lang for lang, _ in voice.find_recordings(KLETTRES)}
    assert langs and not langs & set(voice.RESERVED_LANGUAGES)
    assert voice.HELD_OUT_LANGUAGE not in langs
    assert {"it", "es"} <= langs


# ---------------------------------------------------------------- production

def test_limiter_keeps_the_ceiling_and_never_boosts():
    rng = np.random.default_rng(0)
    level = rng.choice([0.5, 0.5, 0.5, 8.0], 48)
    x = rng.normal(0, 0.05, 48000) * np.repeat(level, 1000)
    g = production.limiter_gain(x, 16000, -1.0)
    assert g.shape == x.shape and g.max() <= 1.0 and g.min() > 0
    assert np.abs(g * x).max() <= 10 ** (-1 / 20) + 1e-12
    # Quiet blocks two blocks (125 ms) away from any loud one are left alone.
    loud = level > 1
    near = np.convolve(loud, np.ones(5), "same") > 0
    blocks = g.reshape(48, 1000)
    assert (~near).any() and np.all(blocks[~near] == 1.0)
    assert np.all(blocks[loud].max(axis=1) < 1.0)
    quiet = 0.1 * x / np.abs(x).max()
    assert np.all(production.limiter_gain(quiet, 16000, -1.0) == 1.0)
    stereo = np.stack([x, -1.5 * x])
    assert np.abs(production.limiter_gain(stereo, 16000, -0.5) * stereo).max() \
        <= 10 ** (-0.5 / 20) + 1e-12


def test_vocal_chain_pieces():
    sr = 16000
    rng = np.random.default_rng(1)
    t = np.arange(sr) / sr
    low = np.sin(2 * np.pi * 30 * t)
    assert np.sqrt(np.mean(production.eq(low, sr, 150, 1000, 0, 1, 4000, 0)[sr // 2:] ** 2)) \
        < 0.1 * np.sqrt(np.mean(low ** 2))
    bursts = np.sin(2 * np.pi * 220 * t) * np.where(t < 0.5, 1.0, 0.1)
    c = production.compress(bursts, sr, -30, 8, makeup=False)
    assert np.abs(c[:8000]).max() / np.abs(c[9000:]).max() < 0.5 * 10   # range squeezed
    s = production.saturate(bursts, 12, 1.0)
    assert np.abs(s).max() <= np.abs(bursts).max() + 1e-12
    ir = production.room(rng, sr, 1.0)
    assert abs(np.sum(ir ** 2) - 1) < 1e-9
    tail = production.reverb(np.r_[1.0, np.zeros(sr - 1)], ir, 0.5)
    assert np.abs(tail[sr // 4:]).max() > 0        # the room rings on
    y, settings = production.vocal_chain(bursts, sr, rng)
    assert y.shape == bursts.shape and np.isfinite(y).all()
    assert set(settings) == {"eq", "comp", "saturation", "reverb"}


# ------------------------------------------------------------------- takes

def _recordings(root):
    """A KLettres-like tree with generated syllables (voiced and noisy parts)."""
    recs = []
    rng = np.random.default_rng(3)
    for lang in ("xa", "xb"):
        d = root / lang / "syllab"
        d.mkdir(parents=True)
        for k in range(4):
            t = np.arange(int(0.3 * 44100)) / 44100
            y = np.r_[np.zeros(2000), rng.normal(0, 0.05, 1500),
                      0.5 * np.sin(2 * np.pi * (150 + 40 * k) * t) * np.hanning(len(t)),
                      np.zeros(3000)]
            p = d / f"s{k}.ogg"
            sf.write(p, y.astype(np.float32), 44100)
            recs.append((lang, str(p)))
    return recs


@pytest.mark.parametrize("rap", [False, True])
def test_spoken_takes_have_phrases_and_pauses(tmp_path, rap):
    recs = _recordings(tmp_path)
    sr, n = 16000, 16000 * 12
    y, meta = takes.spoken_take(np.random.default_rng(2), recs, n, sr, rap=rap)
    assert y.shape == (n,) and abs(np.abs(y).max() - 1) < 1e-9
    frames = np.sqrt(np.mean(y[:n // 320 * 320].reshape(-1, 320) ** 2, axis=1))
    silent = frames < 1e-3
    assert 0.05 < silent.mean() < 0.9
    assert meta["kind"] == ("rap" if rap else "spoken") and meta["language"] in ("xa", "xb")
    y2, _ = takes.spoken_take(np.random.default_rng(2), recs, n, sr, rap=rap)
    assert np.array_equal(y, y2)


# ------------------------------------------------------------------- songs

@pytest.fixture()
def sources(packages, tmp_path):
    found = beds.usable_beds(beds.find_beds(["fake-music", "other-music"]), str(tmp_path))
    return {"beds": found, "recordings": _recordings(tmp_path / "voices"),
            "syllables": [], "soundfonts": []}


def test_songs_add_up_and_are_mastered(sources, tmp_path, monkeypatch):
    monkeypatch.setitem(realmix.PROFILES, "test", {"packages": ("fake-music",),
                        "languages": None, "instrumental": 0.3,
                        "kinds": {"spoken": 0.5, "rap": 0.5}})
    kinds, voiced = [], []
    for i in range(8):
        s = realmix.generate_song(5, i, 12.0, "test", str(tmp_path), _checked=sources)
        m, v, a = s["mixture"], s["vocals"], s["accompaniment"]
        assert m.shape == v.shape == a.shape == (12 * 16000,) and m.dtype == np.float32
        assert np.array_equal(m, v + a)
        assert np.abs(m).max() <= 10 ** ((s["meta"]["master"]["ceiling_db"] + 1e-3) / 20)
        kinds.append(s["meta"]["kind"])
        voiced.append(s["meta"]["voiced_fraction"])
        if s["meta"]["kind"] == "instrumental":
            assert not v.any()
        else:
            assert 0 < s["meta"]["voiced_fraction"] < 1
        json.dumps(s["meta"])
    assert "instrumental" in kinds and set(kinds) - {"instrumental"}
    assert np.mean([1 - f for f in voiced]) >= 0.25   # a quarter of the frames: no voice
    again = realmix.generate_song(5, 3, 12.0, "test", str(tmp_path), _checked=sources)
    first = realmix.generate_song(5, 3, 12.0, "test", str(tmp_path), _checked=sources)
    assert np.array_equal(again["mixture"], first["mixture"])


def test_leak_profile_is_instrumental_from_the_held_out_package(sources, tmp_path):
    s = realmix.generate_song(1, 0, 10.0, "leak", str(tmp_path), _checked=sources)
    assert s["meta"]["kind"] == "instrumental" and not s["vocals"].any()
    assert realmix.PROFILES["leak"]["packages"] == (beds.HELD_OUT_PACKAGE,)
    assert realmix.PROFILES["voice"]["languages"] == (voice.HELD_OUT_LANGUAGE,)


def test_corpus_cli_writes_16k_mono_tracks(sources, tmp_path, monkeypatch, capsys):
    from unetvocalsep.synth import __main__ as cli
    monkeypatch.setattr(realmix, "check_requirements", lambda *a, **k: sources)
    out = tmp_path / "corpus"
    rc = cli.main(["-o", str(out), "--real", "voice", "--tracks", "2", "--seconds", "6",
                   "--seed", "4", "-q", "-j", "1"])
    assert rc == 0, capsys.readouterr().err
    names = sorted(os.listdir(out))
    assert names == ["real_voice_4_00000", "real_voice_4_00001"]
    m, sr = sf.read(out / names[0] / "mixture.wav")
    v, _ = sf.read(out / names[0] / "vocals.wav")
    a, _ = sf.read(out / names[0] / "accompaniment.wav")
    assert sr == 16000 and m.ndim == 1 and len(m) == 6 * 16000
    assert np.abs(m - v - a).max() < 1e-6
    rc = cli.main(["-o", str(out), "--real", "voice", "--tracks", "1", "--first", "2",
                   "--seconds", "6", "--seed", "4", "-q"])
    assert rc == 0 and len(os.listdir(out)) == 3


@pytest.mark.skipif(not HAVE_KLETTRES, reason="klettres-data not installed")
def test_sung_song_over_a_bed(sources, tmp_path):
    pytest.importorskip("pyworld")
    pytest.importorskip("music21")
    recs = [(lang, os.path.join(KLETTRES, lang, "syllab", f"{n}.ogg"))
            for lang, names in {"it": ["la", "ma", "no"], "es": ["be", "do", "mi"]}.items()
            for n in names]
    src = dict(sources, syllables=recs, recordings=recs)
    for i in range(20):
        s = realmix.generate_song(2, i, 8.0, "train", str(tmp_path), _checked=src)
        if s["meta"]["kind"] in ("sung", "harmony"):
            break
    else:
        pytest.fail("no sung song in 20 draws")
    assert np.array_equal(s["mixture"], s["vocals"] + s["accompaniment"])
    assert s["meta"]["take"]["chorale"] and s["vocals"].any()
