"""Songs over real recorded music: the corpus that teaches the model real instruments.

Each song is built from (docs/MODEL.md has the numbers):

* an accompaniment from a real instrumental track (:mod:`.beds`), cut at
  a random place, sometimes layered with a second track or with a band
  rendered by FluidSynth (:mod:`.accompaniment`), or, for some sung songs,
  the rendered band alone;
* for 70 % of the songs, one vocal take (:mod:`.takes`: sung, sung with
  backing harmonies, spoken or rapped), gated to leave an instrumental
  intro and sometimes a break, produced with EQ, compression, saturation
  and reverb (:mod:`.production`); the other 30 % are instrumental, so at
  least a quarter of the frames have no voice;
* a master: the vocal level, then a look-ahead limiter whose gain is
  applied to both stems, so ``mixture == vocals + accompaniment``.

Profiles choose the sources, so that validation is held out by source:
``train`` (the training packages and languages, FluidR3_GM), ``leak``
(instrumental tracks of the held-out package) and ``voice`` (held-out
language's natural-pitch voices over the held-out package).

Examples
--------
>>> from unetvocalsep.synth import realmix
>>> song = realmix.generate_song(seed=1, index=0, seconds=10)   # doctest: +SKIP
>>> song["mixture"].shape, song["meta"]["sample_rate"]          # doctest: +SKIP
((160000,), 16000)
"""
import numpy as np

from ..errors import UserError
from . import beds, production, takes, voice
from ..resampling import to_mono16
from .cache import default_cache_dir

#: Rate of the real-music corpus: the model's rate, so nothing is wasted.
SR = 16000
#: Share of songs with no vocals at all.
INSTRUMENTAL_SHARE = 0.3
#: Vocal-to-accompaniment RMS ratio over the voiced part (dB).
VAR_RANGE_DB = (-7.0, 5.0)
#: Profiles: music packages, voice languages, instrumental share, allowed kinds.
PROFILES = {
    "train": {"packages": beds.TRAIN_PACKAGES, "languages": None,
              "instrumental": INSTRUMENTAL_SHARE, "kinds": takes.KINDS},
    "leak": {"packages": (beds.HELD_OUT_PACKAGE,), "languages": None,
             "instrumental": 1.0, "kinds": {}},
    "voice": {"packages": (beds.HELD_OUT_PACKAGE,), "languages": (voice.HELD_OUT_LANGUAGE,),
              "instrumental": 0.0, "kinds": {"spoken": 0.5, "rap": 0.5}},
}


def track_name(profile, seed, index):
    """``real_<profile>_<seed>_<index:05d>``."""
    return f"real_{profile}_{seed}_{index:05d}"


def check_requirements(profile="train", klettres_dir="/usr/share/klettres", cache_dir=None):
    """Find the sources of a profile, or raise :class:`UserError`.

    Parameters
    ----------
    profile : str
        Key of :data:`PROFILES`.
    klettres_dir : str
    cache_dir : str, optional

    Returns
    -------
    dict
        ``beds``: list of (Bed, samples); ``recordings``: (language, path)
        for speech; ``syllables``: (language, path) for singing;
        ``soundfonts``: list of paths.
    """
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    from . import accompaniment, score
    p = PROFILES[profile]
    found = beds.usable_beds(beds.find_beds(p["packages"]), cache_dir)
    out = {"beds": found, "recordings": [], "syllables": [], "soundfonts": []}
    if p["kinds"]:
        out["recordings"] = voice.find_recordings(klettres_dir, p["languages"])
    if set(p["kinds"]) & {"sung", "harmony"}:
        voice._pyworld()
        score._music21()
        out["syllables"] = [(lang, path) for lang, path in out["recordings"]
                            if "/syllab/" in path]
        accompaniment.check_fluidsynth([accompaniment.FLUIDR3])
        out["soundfonts"] = [accompaniment.FLUIDR3]
    return out


def _voiced(x, frame=512):
    """Which ``frame``-sample frames of ``x`` are within 40 dB of its loudest one."""
    k = len(x) // frame
    ev = np.mean(np.asarray(x[:k * frame], dtype=np.float64).reshape(k, frame) ** 2, axis=1)
    return ev > ev.max() * 1e-4 if k and ev.max() > 0 else np.zeros(k, bool)


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


def _pick_bed(rng, found, n, cache_dir, exclude_package=None):
    """A random cut of ``n`` samples from a random bed, not mostly silent."""
    pkgs = sorted({b.package for b, _ in found if b.package != exclude_package})
    if not pkgs:
        pkgs = sorted({b.package for b, _ in found})
    minutes = np.array([sum(m for b, m in found if b.package == p) for p in pkgs], float)
    w = np.sqrt(minutes) / np.sqrt(minutes).sum()
    for _ in range(8):
        pkg = pkgs[int(rng.choice(len(pkgs), p=w))]
        cands = [(b, m) for b, m in found if b.package == pkg]
        bed, m = cands[int(rng.integers(len(cands)))]
        x = beds.load_bed(bed, cache_dir)
        off = int(rng.integers(0, max(m - n, 0) + 1))
        seg = np.zeros(n)
        part = np.asarray(x[off:off + n], dtype=np.float64)
        seg[:len(part)] = part
        if _rms(seg) > 10 ** (-45 / 20):
            break
    return seg, {"id": beds.bed_id(bed), "offset_s": round(off / SR, 3)}


def _gate(n, rng):
    """Where vocals may sound: after an intro, around an optional break."""
    g = np.ones(n)
    info = {"intro_s": 0.0, "break_s": None}
    if rng.random() < 0.7:
        intro = int(rng.uniform(0.1, 0.35) * n)
        g[:intro] = 0
        info["intro_s"] = round(intro / SR, 3)
    if rng.random() < 0.4 and n > 20 * SR:
        a = int(rng.uniform(0.45, 0.7) * n)
        b = min(a + int(rng.uniform(2.0, 6.0) * SR), n)
        g[a:b] = 0
        info["break_s"] = [round(a / SR, 3), round(b / SR, 3)]
    # 30 ms ramps so that the gate cuts between, not through, words.
    from scipy.ndimage import uniform_filter1d
    return uniform_filter1d(g, int(0.03 * SR) | 1), info


def _band(rng, arr, n, soundfonts):
    """A FluidSynth band following the sung chorale, at 16 kHz mono."""
    from . import accompaniment
    from .voice import FS
    acc, band = accompaniment.render_accompaniment(arr, rng, n / SR, soundfonts)
    y = to_mono16(acc.T, FS)[0]
    out = np.zeros(n)
    out[:min(n, len(y))] = y[:n]
    return out, [f"{b['role']}:{b['program']}" for b in band]


def generate_song(seed, index, seconds, profile="train", cache_dir=None, _checked=None):
    """Make one song over real music.

    Parameters
    ----------
    seed : int
    index : int
        The song depends only on ``(profile, seed, index, seconds)`` and the
        installed data.
    seconds : float
    profile : str
        Key of :data:`PROFILES`.
    cache_dir : str, optional

    Returns
    -------
    dict
        ``mixture``, ``vocals``, ``accompaniment``: float32 arrays of shape
        (round(seconds * 16000),) with ``mixture == vocals + accompaniment``
        in float32; ``meta``: JSON-serialisable description, including
        ``voiced_fraction`` (share of 32 ms frames whose vocal level is within
        40 dB of the vocal stem's loudest frame).
    """
    if not seconds >= 2.0:
        raise UserError("--seconds must be at least 2 for the real-music corpus")
    cache_dir = cache_dir or default_cache_dir()
    src = _checked or check_requirements(profile, cache_dir=cache_dir)
    prof = PROFILES[profile]
    n = int(round(seconds * SR))
    root = np.random.SeedSequence([int(seed), int(index), 7919])
    r_plan, r_bed, r_voice, r_mix = (np.random.default_rng(s) for s in root.spawn(4))

    kinds = prof["kinds"]
    if not kinds or r_plan.random() < prof["instrumental"]:
        kind = "instrumental"
    else:
        names = sorted(kinds)
        kind = names[int(r_plan.choice(len(names), p=np.array([kinds[k] for k in names])
                                       / sum(kinds.values())))]

    meta = {"name": track_name(profile, seed, index), "profile": profile, "seed": int(seed),
            "index": int(index), "seconds": float(seconds), "sample_rate": SR, "kind": kind}
    # Vocals first: a sung take brings the arrangement a rendered band can follow.
    vocals = np.zeros(n)
    arr = None
    if kind in ("sung", "harmony"):
        take, tmeta = takes.sung_take(r_voice, src["syllables"], n, SR, cache_dir,
                                      voices=1 if kind == "sung" else int(r_voice.integers(2, 4)))
        arr = tmeta.pop("arrangement")
        meta["take"] = tmeta
        vocals = take
    elif kind in ("spoken", "rap"):
        vocals, meta["take"] = takes.spoken_take(r_voice, src["recordings"], n, SR,
                                                 rap=kind == "rap")

    # Accompaniment: a real bed, maybe layered; for some sung songs a band alone.
    layers = []
    if arr is not None and src["soundfonts"] and r_bed.random() < 0.2:
        acc, band = _band(r_bed, arr, n, src["soundfonts"])
        layers.append({"band": band})
    else:
        acc, info = _pick_bed(r_bed, src["beds"], n, cache_dir)
        layers.append(info)
        if arr is not None and src["soundfonts"] and r_bed.random() < 0.25:
            band, programs = _band(r_bed, arr, n, src["soundfonts"])
            db = float(r_bed.uniform(-6, 3))
            if _rms(band) > 0:
                acc = acc + band * (_rms(acc) / _rms(band)) * 10 ** (db / 20)
            layers.append({"band": programs, "db": round(db, 2)})
        elif len(src["beds"]) > 1 and r_bed.random() < 0.1:
            pkg = layers[0]["id"].split(":", 1)[0]
            other, info2 = _pick_bed(r_bed, src["beds"], n, cache_dir, exclude_package=pkg)
            db = float(r_bed.uniform(-12, -4))
            if _rms(other) > 0:
                acc = acc + other * (_rms(acc) / _rms(other)) * 10 ** (db / 20)
            info2["db"] = round(db, 2)
            layers.append(info2)
    tilt = float(r_mix.uniform(-3, 3))
    acc = production.eq(acc, SR, 30.0, 1000.0, 0.0, 0.7, 4000.0, tilt)
    meta["accompaniment"] = {"layers": layers, "tilt_db": round(tilt, 2)}

    if kind != "instrumental":
        gate, meta["structure"] = _gate(n, r_mix)
        vocals, meta["production"] = production.vocal_chain(vocals * gate, SR, r_voice)
        var_db = float(r_mix.uniform(*VAR_RANGE_DB))
        on = _voiced(vocals)
        if on.any():
            idx = np.repeat(on, 512)
            rv = _rms(vocals[:len(idx)][idx])
            ra = _rms(acc[:len(idx)][idx])
            if rv > 0 and ra > 0:
                vocals *= ra / rv * 10 ** (var_db / 20)
        meta["var_db"] = round(var_db, 3)

    # Master: level into the limiter, one gain curve for both stems.
    mix = vocals + acc
    peak = np.abs(mix).max()
    if not np.isfinite(peak):
        raise RuntimeError("the song is not finite")      # a bug, not user input
    if peak == 0:
        raise RuntimeError("the song came out silent")  # a bug, not user input
    ceiling = float(r_mix.uniform(-1.0, -0.3))
    push = float(r_mix.uniform(0.0, 6.0)) if r_mix.random() < 0.7 else 0.0
    pre = 10 ** ((ceiling + push) / 20) / peak
    g = production.limiter_gain(mix * pre, SR, ceiling) * pre
    v32 = (vocals * g).astype(np.float32)
    a32 = (acc * g).astype(np.float32)
    m32 = v32 + a32
    meta["master"] = {"ceiling_db": round(ceiling, 3), "push_db": round(push, 3),
                      "limited_share": round(float(np.mean(g < pre * 0.999)), 4)}
    meta["voiced_fraction"] = round(float(np.mean(_voiced(v32))), 4)
    return {"mixture": m32, "vocals": v32, "accompaniment": a32, "meta": meta}
