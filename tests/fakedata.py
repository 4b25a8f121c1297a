"""Tiny fake dataset trees that mirror the real layouts (for tests).

Every ``make_*`` function writes generated audio under ``root`` with the real
dataset's folder and file names, channel layout, metadata schema and (for
MUSDB18) stream order, and returns what it wrote, so a test can compute the
expected result independently. Audio is written as 32-bit float WAV, so the
returned arrays are exactly what a reader gets back (except MUSDB18's AAC).

Returned arrays are float32, shape (channels, samples), at the returned ``sr``.

Usable from any test::

    from fakedata import make_musdb18hq
    tracks = make_musdb18hq(tmp_path / "musdb18hq")
"""
import os
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

#: Two of MUSDB18's official validation tracks (see unetvocalsep.training.datasets) and
#: three ordinary training tracks, used by default.
MUSDB_TRAIN = ("Actions - One Minute Smile", "ANiMAL - Rockshow",
               "A Classic Education - NightOwl", "Bill Chudziak - Children Of No-one",
               "Hollow Ground - Left Blind")
MUSDB_TEST = ("Al James - Schoolboy Facination", "Arise - Run Run Run")


def write_wav(path, y, sr):
    """Write ``y`` (channels, samples) as a 32-bit float WAV, creating folders."""
    os.makedirs(os.path.dirname(os.fspath(path)) or ".", exist_ok=True)
    sf.write(os.fspath(path), np.asarray(y, dtype=np.float32).T, sr, subtype="FLOAT")


def _envelope(n, sr, rng, rate=2.0):
    """A gate that switches on and off a few times a second (so there are silent parts)."""
    t = np.arange(n) / sr
    phase = rng.uniform(0, 2 * np.pi)
    return (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rate * t + phase))).astype(np.float32)


def voice(n, sr, rng, channels=2):
    """A vibrato 'singing' tone with harmonics, gated on and off."""
    t = np.arange(n) / sr
    f0 = rng.uniform(180, 400)
    inst_f = f0 * (1 + 0.02 * np.sin(2 * np.pi * 5.5 * t))
    ph = 2 * np.pi * np.cumsum(inst_f) / sr
    y = sum(np.sin(k * ph) / k for k in range(1, 6)) * 0.15 * _envelope(n, sr, rng, 1.5)
    return _spread(y, channels, rng)


def instrument(kind, n, sr, rng, channels=2):
    """A stand-in for one accompaniment stem: 'drums', 'bass', 'other' (or anything else)."""
    t = np.arange(n) / sr
    if kind == "drums":
        hits = np.zeros(n)
        hits[:: max(1, int(sr * rng.uniform(0.2, 0.3)))] = 1.0
        burst = rng.standard_normal(int(0.05 * sr)) * np.exp(-np.arange(int(0.05 * sr)) / (0.01 * sr))
        y = np.convolve(hits, burst)[:n] * 0.3
    elif kind == "bass":
        y = 0.2 * np.sin(2 * np.pi * rng.uniform(50, 90) * t)
    else:
        f = rng.uniform(400, 1500)
        y = 0.08 * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 1.5 * f * t)) * _envelope(n, sr, rng, 0.7)
    return _spread(y, channels, rng)


def _spread(y, channels, rng):
    gains = rng.uniform(0.6, 1.0, size=(channels, 1))
    return (gains * y[None, :]).astype(np.float32)


def make_musdb18hq(root, train=MUSDB_TRAIN, test=MUSDB_TEST, seconds=2.0, sr=44100, seed=0):
    """MUSDB18-HQ: ``{train,test}/<track>/{mixture,drums,bass,other,vocals}.wav``.

    Returns
    -------
    dict
        ``name -> {'split': 'train'|'test', 'path': folder, 'sr': int,
        'mixture', 'drums', 'bass', 'other', 'vocals', 'accompaniment'}``.
        mixture = sum of the four stems; accompaniment = drums + bass + other.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for split, names in (("train", train), ("test", test)):
        for name in names:
            n = int(seconds * sr)
            stems = {k: instrument(k, n, sr, rng) for k in ("drums", "bass", "other")}
            stems["vocals"] = voice(n, sr, rng)
            stems["accompaniment"] = stems["drums"] + stems["bass"] + stems["other"]
            stems["mixture"] = stems["accompaniment"] + stems["vocals"]
            d = os.path.join(root, split, name)
            for k in ("mixture", "drums", "bass", "other", "vocals"):
                write_wav(os.path.join(d, k + ".wav"), stems[k], sr)
            out[name] = dict(stems, split=split, path=d, sr=sr)
    return out


def make_dsd100(root, dev=("051 - AM Contra - Heart Peripheral", "052 - Skelpolu - Resurrection"),
                test=("001 - ANiMAL - Clinic A",), seconds=2.0, sr=44100, seed=1):
    """DSD100: ``Mixtures/{Dev,Test}/<track>/mixture.wav`` and ``Sources/{Dev,Test}/<track>/{bass,drums,other,vocals}.wav``.

    Returns
    -------
    dict
        ``name -> {'split': 'Dev'|'Test', 'sr', 'mixture', 'bass', 'drums',
        'other', 'vocals', 'accompaniment'}``.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for split, names in (("Dev", dev), ("Test", test)):
        for name in names:
            n = int(seconds * sr)
            stems = {k: instrument(k, n, sr, rng) for k in ("bass", "drums", "other")}
            stems["vocals"] = voice(n, sr, rng)
            stems["accompaniment"] = stems["bass"] + stems["drums"] + stems["other"]
            stems["mixture"] = stems["accompaniment"] + stems["vocals"]
            write_wav(os.path.join(root, "Mixtures", split, name, "mixture.wav"), stems["mixture"], sr)
            for k in ("bass", "drums", "other", "vocals"):
                write_wav(os.path.join(root, "Sources", split, name, k + ".wav"), stems[k], sr)
            out[name] = dict(stems, split=split, sr=sr)
    return out


def make_musdb18(root, train=MUSDB_TRAIN[:3], test=MUSDB_TEST[:1], seconds=2.0, sr=44100, seed=2):
    """MUSDB18: ``{train,test}/<track>.stem.mp4`` with 5 AAC streams
    (0 mixture, 1 drums, 2 bass, 3 other, 4 vocals), written with ffmpeg.

    Returns
    -------
    dict
        As :func:`make_musdb18hq` (the stems *before* AAC coding), plus
        ``'file'``: the ``.stem.mp4`` path.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is needed to write .stem.mp4 files")
    with tempfile.TemporaryDirectory() as tmp:
        stems = make_musdb18hq(tmp, train, test, seconds, sr, seed)
        out = {}
        for name, s in stems.items():
            target = os.path.join(root, s["split"], name + ".stem.mp4")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            cmd = [ffmpeg, "-nostdin", "-v", "error", "-y"]
            order = ("mixture", "drums", "bass", "other", "vocals")
            for k in order:
                cmd += ["-i", os.path.join(s["path"], k + ".wav")]
            for i in range(len(order)):
                cmd += ["-map", str(i)]
            cmd += ["-c:a", "aac", "-b:a", "256k", target]
            subprocess.run(cmd, check=True)
            s = dict(s, file=target)
            s.pop("path")
            out[name] = s
    return out


def make_ikala(root, ids=("10161_chorus", "10164_verse", "21025_chorus"), seconds=2.0, sr=44100, seed=3):
    """iKala: ``Wavfile/<id>.wav``, stereo: left = accompaniment, right = vocals.

    Returns
    -------
    dict
        ``id -> {'sr', 'accompaniment' (1, n), 'vocals' (1, n), 'mixture' (1, n)}``.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for i in ids:
        n = int(seconds * sr)
        acc = instrument("other", n, sr, rng, 1) + instrument("bass", n, sr, rng, 1)
        voc = voice(n, sr, rng, 1)
        write_wav(os.path.join(root, "Wavfile", i + ".wav"), np.concatenate([acc, voc]), sr)
        out[i] = {"sr": sr, "accompaniment": acc, "vocals": voc, "mixture": acc + voc}
    return out


#: The default fake MedleyDB tracks: (name, instrumental, metadata location,
#: [(instrument label(s), component), ...]).
MEDLEYDB_TRACKS = (
    ("AClassicEducation_NightOwl", False, "track",
     [("drum set", ""), ("electric bass", "bass"), ("male singer", "melody"),
      ("clean electric guitar", ""), (["female singer", "vocalists"], "")]),
    ("Phoenix_ScotchMorris", True, "track",
     [("flute", "melody"), ("violin", ""), ("cello", "bass")]),
    ("Grants_PunchDrunk", False, "separate",
     [("male rapper", "melody"), ("beatboxing", ""), ("synthesizer", "")]),
)


def make_medleydb(root, tracks=MEDLEYDB_TRACKS, seconds=2.0, sr=44100, seed=4):
    """MedleyDB: ``Audio/<Track>/<Track>_MIX.wav``, ``<Track>_STEMS/<Track>_STEM_NN.wav``
    and ``<Track>_METADATA.yaml`` in the track folder (location ``'track'``) or
    in ``Metadata/`` beside ``Audio/`` (location ``'separate'``).

    Returns
    -------
    dict
        ``name -> {'sr', 'instrumental', 'metadata' (path), 'stems' {sid: (1, n)},
        'vocal_stems' [sid...], 'mixture', 'vocals', 'accompaniment'}``; vocals =
        sum of the stems with a voice label (female/male singer, rapper, vocalists),
        accompaniment = the sum of the others; mixture = sum of all stems.
    """
    import yaml

    vocal_labels = {"male singer", "female singer", "vocalists", "male rapper", "female rapper",
                    "male speaker", "female speaker", "choir"}
    rng = np.random.default_rng(seed)
    out = {}
    for name, instrumental, where, stems in tracks:
        n = int(seconds * sr)
        d = os.path.join(root, "Audio", name)
        stem_dir = f"{name}_STEMS"
        meta_stems, audio, vocal_ids = {}, {}, []
        for k, (label, component) in enumerate(stems, start=1):
            sid = f"S{k:02d}"
            labels = label if isinstance(label, list) else [label]
            is_voc = any(x in vocal_labels for x in labels)
            y = voice(n, sr, rng, 1) if is_voc else instrument(
                "drums" if "drum" in labels[0] or "beat" in labels[0] else "other", n, sr, rng, 1)
            fname = f"{name}_STEM_{k:02d}.wav"
            write_wav(os.path.join(d, stem_dir, fname), y, sr)
            audio[sid] = y
            if is_voc:
                vocal_ids.append(sid)
            meta_stems[sid] = {"component": component, "filename": fname, "instrument": label,
                               "raw": {"R01": {"filename": f"{name}_RAW_{k:02d}_01.wav", "instrument": label}}}
        mix = np.sum(list(audio.values()), axis=0).astype(np.float32)
        write_wav(os.path.join(d, f"{name}_MIX.wav"), mix, sr)
        meta = {"album": "", "artist": name.split("_")[0], "composer": [], "excerpt": "no",
                "genre": "Pop", "has_bleed": "no", "instrumental": "yes" if instrumental else "no",
                "mix_filename": f"{name}_MIX.wav", "origin": "Fake", "producer": [],
                "raw_dir": f"{name}_RAW", "stem_dir": stem_dir, "stems": meta_stems,
                "title": name.split("_")[-1], "version": 1.2, "website": []}
        meta_dir = d if where == "track" else os.path.join(root, "Metadata")
        os.makedirs(meta_dir, exist_ok=True)
        meta_path = os.path.join(meta_dir, f"{name}_METADATA.yaml")
        with open(meta_path, "w") as f:
            yaml.safe_dump(meta, f, default_flow_style=False)
        voc = np.sum([audio[s] for s in vocal_ids], axis=0).astype(np.float32) if vocal_ids else None
        acc = np.sum([audio[s] for s in audio if s not in vocal_ids], axis=0).astype(np.float32)
        out[name] = {"sr": sr, "instrumental": instrumental, "metadata": meta_path, "stems": audio,
                     "vocal_stems": vocal_ids, "mixture": mix, "vocals": voc, "accompaniment": acc}
    return out


def make_pairs(root, offsets=(("SongA", 0.37), ("SongB", -0.81)), seconds=4.0, sr=44100, seed=5,
               lead_noise=0.02):
    """Song + instrumental pairs: ``<name>.wav`` and ``<name>_instrumental.wav``,
    the instrumental shifted by a known offset.

    An ``offset`` > 0 means the song starts later than the instrumental: the song
    file gets ``offset`` seconds of low noise (not silence) in front; < 0 puts
    the extra lead in front of the instrumental file.

    Returns
    -------
    dict
        ``name -> {'sr', 'offset_s', 'song' (1, n), 'instrumental' (1, m),
        'vocals' (1, k), 'accompaniment' (1, k)}``: ``vocals`` and
        ``accompaniment`` are the aligned truth (``song`` without its lead).
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, off in offsets:
        n = int(seconds * sr)
        acc = instrument("drums", n, sr, rng, 1) + instrument("bass", n, sr, rng, 1) + \
            instrument("other", n, sr, rng, 1)
        voc = voice(n, sr, rng, 1)
        lead = (lead_noise * rng.standard_normal((1, int(round(abs(off) * sr))))).astype(np.float32)
        song, inst = acc + voc, acc.copy()
        if off > 0:
            song = np.concatenate([lead, song], axis=1)
        else:
            inst = np.concatenate([lead, inst], axis=1)
        write_wav(os.path.join(root, f"{name}.wav"), song, sr)
        write_wav(os.path.join(root, f"{name}_instrumental.wav"), inst, sr)
        out[name] = {"sr": sr, "offset_s": off, "song": song, "instrumental": inst,
                     "vocals": voc, "accompaniment": acc}
    return out


def make_folder(root, names=("synth-0000", "synth-0001"), seconds=2.0, sr=22050, seed=6,
                accompaniment=True):
    """The synth generator's layout: ``<track>/{mixture,vocals[,accompaniment]}.wav``.

    Returns
    -------
    dict
        ``name -> {'sr', 'mixture', 'vocals', 'accompaniment'}``.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        n = int(seconds * sr)
        acc = instrument("other", n, sr, rng) + instrument("drums", n, sr, rng)
        voc = voice(n, sr, rng)
        d = os.path.join(root, name)
        write_wav(os.path.join(d, "mixture.wav"), acc + voc, sr)
        write_wav(os.path.join(d, "vocals.wav"), voc, sr)
        if accompaniment:
            write_wav(os.path.join(d, "accompaniment.wav"), acc, sr)
        out[name] = {"sr": sr, "mixture": acc + voc, "vocals": voc, "accompaniment": acc}
    return out
