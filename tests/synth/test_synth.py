"""Tests of the synthetic corpus generator (unetvocalsep.synth).

They need pip pyworld, pretty_midi, pyfluidsynth, music21 and the Debian data
(klettres-data, fluid-soundfont-gm, libfluidsynth); they are skipped
otherwise.  To stay fast they sing from a dozen syllables only (a small
KLettres-like tree of symlinks) and make tracks of a few seconds.
"""
import filecmp
import json
import os

import numpy as np
import pytest

pw = pytest.importorskip("pyworld")
pytest.importorskip("pretty_midi")
pytest.importorskip("music21")
sf = pytest.importorskip("soundfile")

from unetvocalsep.errors import UserError  # noqa: E402
from unetvocalsep.synth import (STEM_NAMES, check_requirements, generate_track,  # noqa: E402
                                track_name)
from unetvocalsep.synth import __main__ as cli  # noqa: E402
from unetvocalsep.synth import score, voice  # noqa: E402

KLETTRES = "/usr/share/klettres"
SYLLABLES = {"it": ["la", "ma", "no", "re", "si", "tu"], "es": ["be", "do", "lla", "mi", "pa", "so"]}
SECONDS = 5.0

try:
    check_requirements(KLETTRES)
except UserError as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"synth requirements missing: {exc}", allow_module_level=True)


@pytest.fixture(scope="module")
def klettres(tmp_path_factory):
    """A KLettres-like tree with a few syllables of both languages."""
    root = tmp_path_factory.mktemp("klettres")
    for lang, names in SYLLABLES.items():
        d = root / lang / "syllab"
        d.mkdir(parents=True)
        for n in names:
            os.symlink(f"{KLETTRES}/{lang}/syllab/{n}.ogg", d / f"{n}.ogg")
    (root / "es" / "syllab" / "ll.ogg").symlink_to(f"{KLETTRES}/es/syllab/ll.ogg")
    return str(root)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def _cli(capsys, *args):
    rc = cli.main([str(a) for a in args])
    return rc, capsys.readouterr().err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, klettres, cache):
    """Two tracks made with -j 1 (seed 7)."""
    out = tmp_path_factory.mktemp("corpus") / "c"
    rc = cli.main(["-o", str(out), "--tracks", "2", "--seconds", str(SECONDS), "--seed", "7",
                   "-j", "1", "--cache-dir", cache, "--klettres-dir", klettres, "-q"])
    assert rc == 0
    return out


def _read(folder, stem):
    x, fs = sf.read(os.path.join(folder, f"{stem}.wav"), dtype="float32", always_2d=True)
    return x, fs


def test_find_syllables_excludes_letter_names(klettres):
    found = voice.find_syllables(klettres)
    names = sorted(os.path.basename(p) for _, p in found)
    assert "ll.ogg" not in names
    assert len(found) == 12
    assert {lang for lang, _ in found} == {"it", "es"}


def test_files_are_stereo_float_and_add_up_exactly(corpus):
    for i in range(2):
        folder = corpus / track_name(7, i)
        assert sorted(os.listdir(folder)) == ["accompaniment.wav", "meta.json", "mixture.wav",
                                              "vocals.wav"]
        stems = {}
        for stem in STEM_NAMES:
            info = sf.info(str(folder / f"{stem}.wav"))
            assert info.samplerate == 44100
            assert info.channels == 2
            assert info.subtype == "FLOAT"
            assert info.frames == int(SECONDS * 44100)
            stems[stem], _ = _read(folder, stem)
        np.testing.assert_array_equal(stems["mixture"], stems["vocals"] + stems["accompaniment"])
        peak = np.abs(stems["mixture"]).max()
        assert 20 * np.log10(peak) == pytest.approx(-1.0, abs=0.05)
        # Both stems carry sound, and the vocals are mostly centred.
        v = stems["vocals"].astype(np.float64)
        assert np.sqrt(np.mean(v ** 2)) > 1e-3
        assert np.sqrt(np.mean(stems["accompaniment"].astype(np.float64) ** 2)) > 1e-3
        corr = np.corrcoef(v[:, 0], v[:, 1])[0, 1]
        assert corr > 0.5


def test_vocal_to_accompaniment_ratio_in_range(corpus):
    for i in range(2):
        folder = corpus / track_name(7, i)
        v, _ = _read(folder, "vocals")
        a, _ = _read(folder, "accompaniment")
        ratio = 20 * np.log10(np.sqrt(np.mean(v.astype(np.float64) ** 2))
                              / np.sqrt(np.mean(a.astype(np.float64) ** 2)))
        meta = json.loads((folder / "meta.json").read_text())
        assert -8.5 <= ratio <= 4.5
        assert ratio == pytest.approx(meta["var_db"], abs=0.5)


def test_same_seed_same_bytes_whatever_jobs_or_cache(corpus, tmp_path, klettres, capsys):
    # -j 2 and a cold cache must give the very same files.
    out = tmp_path / "again"
    rc, _ = _cli(capsys, "-o", out, "--tracks", 2, "--seconds", SECONDS, "--seed", 7, "-j", 2,
                 "--cache-dir", tmp_path / "fresh-cache", "--klettres-dir", klettres, "-q")
    assert rc == 0
    for i in range(2):
        name = track_name(7, i)
        for f in ("mixture.wav", "vocals.wav", "accompaniment.wav", "meta.json"):
            assert filecmp.cmp(corpus / name / f, out / name / f, shallow=False), (name, f)


def test_different_seed_or_index_differs(corpus, klettres, cache):
    a, _ = _read(corpus / track_name(7, 0), "mixture")
    b, _ = _read(corpus / track_name(7, 1), "mixture")
    c = generate_track(8, 0, SECONDS, cache_dir=cache, klettres_dir=klettres)["mixture"]
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)


def _f0(x):
    return pw.harvest(np.ascontiguousarray(x, dtype=np.float64), 44100, f0_floor=60,
                      f0_ceil=1100, frame_period=5.0)


def _median_pitch(f0, t, start, end):
    sel = (t > start) & (t < end) & (f0 > 0)
    if sel.sum() < 5:
        return None
    return float(np.median(69 + 12 * np.log2(f0[sel] / 440.0)))


@pytest.mark.parametrize("pitch", [45, 57, 67, 76])
def test_sung_note_has_the_target_pitch(klettres, cache, pitch):
    rng = np.random.default_rng(0)
    syllables = voice.find_syllables(klettres)
    singer = voice.make_singer(rng, syllables)
    syl = voice.analyse_syllable(syllables[0][1], cache)
    wave, pre = voice.sing_note(syl, pitch, 0.8, singer, rng)
    assert len(wave) >= 0.8 * 44100
    got = _median_pitch(*_f0(wave), pre / 44100 + 0.1, pre / 44100 + 0.7)
    assert got is not None and abs(got - pitch) < 0.3


def test_track_vocals_follow_the_melody(corpus):
    errors = []
    for i in range(2):
        folder = corpus / track_name(7, i)
        v, _ = _read(folder, "vocals")
        meta = json.loads((folder / "meta.json").read_text())
        f0, t = _f0(v.mean(axis=1))
        for start, end, pitch in meta["notes"]:
            if end - start >= 0.25:
                got = _median_pitch(f0, t, start + 0.08, end - 0.05)
                errors.append(np.inf if got is None else abs(got - pitch))
    assert len(errors) >= 3
    assert np.mean(np.asarray(errors) < 0.5) >= 0.8


def test_warp_envelope_moves_formants():
    env = np.exp(-0.5 * ((np.arange(1025) - 100) / 10.0) ** 2)[None, :]
    assert np.argmax(voice.warp_envelope(env, 1.2)) == 120
    assert np.argmax(voice.warp_envelope(env, 0.8)) == 80


def test_arrange_loops_and_cuts_to_length(cache):
    rng = np.random.default_rng(3)
    chorale = score.pick_chorale(rng, cache)
    arr = score.arrange(chorale, rng, 120.0)
    for v in score.VOICES:
        notes = arr["voices"][v]
        assert len(notes) > 10
        assert notes[:, 0].min() >= -1e-9 and notes[:, 1].max() <= 120.0
        assert np.all(notes[:, 1] > notes[:, 0])
    # 120 s is longer than any chorale at <= 140 bpm: the soprano line repeats.
    sop = arr["voices"]["soprano"]
    assert sop[-1, 0] > 100
    assert 70 <= arr["tempo_bpm"] <= 140


def test_rerun_skips_and_overwrite_replaces(tmp_path, klettres, cache, capsys):
    out = tmp_path / "c"
    args = ["-o", out, "--tracks", 1, "--seconds", 2, "--seed", 3, "--cache-dir", cache,
            "--klettres-dir", klettres, "-q"]
    assert _cli(capsys, *args)[0] == 0
    voc = out / track_name(3, 0) / "vocals.wav"
    good = voc.read_bytes()
    voc.write_bytes(b"user data")
    rc, err = _cli(capsys, *args)
    assert rc == 0 and voc.read_bytes() == b"user data"
    rc, err = _cli(capsys, *args, "--overwrite")
    assert rc == 0 and voc.read_bytes() == good
    assert sorted(os.listdir(out)) == [track_name(3, 0)]  # no temp folders left
    # An incomplete track folder is not silently replaced.
    (out / track_name(3, 0) / "mixture.wav").unlink()
    rc, err = _cli(capsys, *args)
    assert rc == 1 and "--overwrite" in err


@pytest.mark.parametrize("extra, needle", [
    (["--tracks", "0"], "--tracks"),
    (["--tracks", "x"], "invalid int"),
    (["--tracks", "1", "--seconds", "0.1"], "--seconds"),
    (["--tracks", "1", "-j", "0"], "--jobs"),
    (["--tracks", "1", "--klettres-dir", "/nonexistent"], "klettres-data"),
    (["--tracks", "1", "--soundfont", "/nonexistent.sf2"], "sound font not found"),
])
def test_bad_input_gives_one_clear_line(tmp_path, capsys, extra, needle):
    rc, err = _cli(capsys, "-o", tmp_path / "out", *extra)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(cli.PROG + ": error:")
    assert needle in lines[0]
    assert "Traceback" not in err


def test_output_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    rc, err = _cli(capsys, "-o", f, "--tracks", "1")
    assert rc == 1 and "not a folder" in err


def test_language_without_syllables_is_named(tmp_path):
    """A KLettres language folder with no consonant-vowel syllables is not 'not installed'."""
    from unetvocalsep.errors import UserError
    from unetvocalsep.synth.voice import find_syllables

    (tmp_path / "xx" / "syllab").mkdir(parents=True)
    (tmp_path / "xx" / "syllab" / "ad-0.ogg").write_bytes(b"")
    with pytest.raises(UserError, match="has no sung syllables"):
        find_syllables(str(tmp_path), ["xx"])
    with pytest.raises(UserError, match="install the Debian package"):
        find_syllables(str(tmp_path), ["yy"])


def test_arrange_skips_bars_where_no_voice_sings():
    """BWV 248.64 opens with 48 quarters of orchestra only: the song starts at the first note."""
    from unetvocalsep.synth.score import VOICES, arrange

    notes = [[48.0 + i, 1.0, 60 + i % 5] for i in range(40)]
    chorale = {"parts": {v: [list(n) for n in notes] for v in VOICES}, "fermatas": [],
               "length": 88.0, "beat_ql": 1.0, "beats_per_bar": 4, "bar_offset": 0.0,
               "name": "lead-in"}
    for seed in range(5):
        arr = arrange(chorale, np.random.default_rng(seed), 30.0)
        for v in VOICES:
            assert len(arr["voices"][v]) > 0
            assert arr["voices"][v][0, 0] < 1.0   # sings from the start
        # the repeat follows the last note after a short breath, not after 48 silent quarters
        starts = arr["voices"]["soprano"][:, 0]
        assert np.max(np.diff(starts)) < 2.0


def test_a_failed_track_job_is_one_line_naming_the_track(capsys):
    from concurrent.futures import Future

    from unetvocalsep.errors import UserError
    from unetvocalsep.signals import run_cli
    from unetvocalsep.synth import _track_result

    ok = Future()
    ok.set_result("synth_3_0007")
    assert _track_result(ok.result, 3, 7, None) == "synth_3_0007"
    bug = Future()
    bug.set_exception(RuntimeError("no vocal notes"))
    with pytest.raises(UserError, match=r"track synth_3_0102 failed with an internal error "
                                        r"\(RuntimeError: no vocal notes\).*--first 102"):
        _track_result(bug.result, 3, 102, None)
    disk = Future()
    disk.set_exception(OSError(28, "No space left on device"))

    def body(argv):
        _track_result(disk.result, 5, 1, "train")

    assert run_cli(body, [], prog="synth") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("synth: error: track ")
    assert "no space left" in err[0].lower() and "Traceback" not in err[0]
