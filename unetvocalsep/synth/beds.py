"""Real recorded instrumental music from Debian game-music packages.

A *bed* is one instrumental track used as accompaniment by the real-music
corpus (:mod:`.realmix`).  Each package's tracks are found on disk (plain
files, or members of a Quake-style ``.pk3`` zip), decoded once to 16 kHz
mono float32 and cached as ``.npy`` (memory-mapped on use).  Tracks with
singing or choirs are never used: :data:`EXCLUDED` lists them with the
reason, and ``scripts/screen_beds.py`` ranks the rest by the vocal energy the
current model finds in them, as a hint to review.

The packages, their licences and what the licences mean for trained weights
are in docs/MODEL.md.  Wesnoth's music and Frets on Fire are reserved for
independent testing and are not listed here.

Examples
--------
>>> from unetvocalsep.synth import beds
>>> found = beds.find_beds(["asc-music"])          # doctest: +SKIP
>>> x = beds.load_bed(found[0])                    # doctest: +SKIP
>>> x.dtype, x.ndim                                # doctest: +SKIP
(dtype('float32'), 1)
"""
import glob
import hashlib
import io
import os
import zipfile
from collections import namedtuple

import numpy as np

from ..errors import UserError
from ..resampling import to_mono16
from .cache import atomic_write_bytes, default_cache_dir

#: Rate of the cached beds (the model's rate).
SR = 16000
#: Bump when the decoding or storage changes.
BED_VERSION = 1

#: package -> (source patterns, licence of the music).  A pattern is a glob of
#: files, or ``"<pk3 path>!<member prefix>"`` for the members of a zip.
PACKAGES = {
    "ufoai-music": (["/usr/share/games/ufoai/base/0music.pk3!music/"],
                    "CC-BY-SA-3.0, CC-BY-3.0, GPL-2+ (per track)"),
    "nexuiz-music": (["/usr/share/games/nexuiz/data/music.pk3!sound/cdtracks/"], "GPL-2+"),
    "warzone2100-music": (["/usr/share/games/warzone2100/music/**/*.opus",
                           "/usr/share/games/warzone2100/music/*.opus"], "CC-BY-SA-3.0, CC0 (per track)"),
    "planetblupi-music-ogg": (["/usr/share/planetblupi/music/*.ogg"], "GPL-3+"),
    "hyperrogue-music": (["/usr/share/hyperrogue/music/*.ogg"],
                         "CC-BY-SA-3.0, CC-BY-SA-4.0, CC-BY-3.0, CC0 (per track)"),
    "singularity-music": (["/usr/share/games/singularity/music/*.ogg"], "CC-BY-SA-3.0"),
    "drascula-music": (["/usr/share/scummvm/drascula/audio/*.ogg"], "Drascula licence "
                       "(free redistribution)"),
    "asc-music": (["/usr/share/games/asc/music/*.mp3"], "GPL-2+"),
}

#: The package kept out of training and used only for validation.
HELD_OUT_PACKAGE = "singularity-music"
#: Packages used for training.
TRAIN_PACKAGES = tuple(p for p in PACKAGES if p != HELD_OUT_PACKAGE)

#: Tracks never used, with the reason: ``"<package>:<name>" -> reason``.
#: Filled from the packages' credits and titles and from ``scripts/screen_beds.py``
#: (docs/MODEL.md has the screening table).
EXCLUDED = {
    'drascula-music:track12.ogg':
        'shorter than 20 s',
    'drascula-music:track17.ogg':
        'shorter than 20 s',
    'drascula-music:track18.ogg':
        'possible voice: the bundled model puts -0.37 dB of the track in its vocal stem (active in 100% of 1 s windows); not verified by ear',
    'drascula-music:track2.ogg':
        'possible voice: the bundled model puts -3.71 dB of the track in its vocal stem (active in 85% of 1 s windows); not verified by ear',
    'drascula-music:track28.ogg':
        'shorter than 20 s',
    'drascula-music:track29.ogg':
        'possible voice: the bundled model puts -3.66 dB of the track in its vocal stem (active in 97% of 1 s windows); not verified by ear',
    'drascula-music:track31.ogg':
        'possible voice: the bundled model puts -3.16 dB of the track in its vocal stem (active in 85% of 1 s windows); not verified by ear',
    'drascula-music:track4.ogg':
        'possible voice: the bundled model puts -2.07 dB of the track in its vocal stem (active in 92% of 1 s windows); not verified by ear',
    'hyperrogue-music:hr3-crossroads.ogg':
        'possible voice: the bundled model puts -3.3 dB of the track in its vocal stem (active in 94% of 1 s windows); not verified by ear',
    'nexuiz-music:beast-of-insanity.ogg':
        'possible voice: the bundled model puts -2.56 dB of the track in its vocal stem (active in 100% of 1 s windows); not verified by ear',
    'planetblupi-music-ogg:music003.ogg':
        'possible voice: the bundled model puts -3.57 dB of the track in its vocal stem (active in 75% of 1 s windows); not verified by ear',
    'ufoai-music:dynamictest-normal-08-35sec.ogg':
        'shorter than 20 s',
}

#: Beds shorter than this are not used (s).
MIN_BED_SECONDS = 20.0

Bed = namedtuple("Bed", "package name source member")
Bed.__doc__ = """One instrumental track.

Attributes
----------
package : str
    Debian package.
name : str
    Track name (file name without folder).
source : str
    File path, or the ``.pk3`` holding it.
member : str or None
    Zip member name, or None for a plain file.
"""


def bed_id(bed):
    """``"<package>:<name>"``, the key of :data:`EXCLUDED` and of reports."""
    return f"{bed.package}:{bed.name}"


def find_beds(packages=TRAIN_PACKAGES, exclude=True):
    """List the installed tracks of ``packages``.

    Parameters
    ----------
    packages : sequence of str
        Keys of :data:`PACKAGES`.
    exclude : bool
        Leave out the tracks of :data:`EXCLUDED`.

    Returns
    -------
    list of Bed
        Sorted by package and name.

    Raises
    ------
    UserError
        For an unknown package, or one with no tracks installed.
    """
    out = []
    for pkg in packages:
        if pkg not in PACKAGES:
            raise UserError(f"unknown music package {pkg!r} (known: {', '.join(PACKAGES)})")
        found = []
        for pattern in PACKAGES[pkg][0]:
            if "!" in pattern:
                zpath, prefix = pattern.split("!", 1)
                if not os.path.isfile(zpath):
                    continue
                with zipfile.ZipFile(zpath) as z:
                    for m in z.namelist():
                        if m.startswith(prefix) and m.lower().endswith((".ogg", ".opus", ".mp3", ".flac", ".wav")):
                            found.append(Bed(pkg, os.path.basename(m), zpath, m))
            else:
                for f in glob.glob(pattern, recursive=True):
                    rel = os.path.relpath(f, pattern.split("*", 1)[0]).replace(os.sep, "_")
                    found.append(Bed(pkg, rel, f, None))
        if not found:
            raise UserError(f"no tracks of {pkg} found: apt-get install {pkg} "
                            "(scripts/install-corpus-deps.sh)")
        out.extend(sorted(set(found)))
    if exclude:
        out = [b for b in out if bed_id(b) not in EXCLUDED]
    return out


def _read_bytes(bed):
    if bed.member is None:
        with open(bed.source, "rb") as f:
            return f.read()
    with zipfile.ZipFile(bed.source) as z:
        return z.read(bed.member)


def decode_bed(bed):
    """Decode one track to 16 kHz mono float32 (not cached).

    Parameters
    ----------
    bed : Bed

    Returns
    -------
    numpy.ndarray, shape (samples,), float32
    """
    import soundfile as sf

    data = _read_bytes(bed)
    try:
        y, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise UserError(f"cannot decode {bed_id(bed)}: {exc}") from None
    return to_mono16(y.T, sr)[0]


def _cache_path(bed, cache_dir):
    st = os.stat(bed.source)
    key = hashlib.sha1(f"{bed.source}|{bed.member}|{st.st_size}|{st.st_mtime_ns}|{SR}|"
                       f"{BED_VERSION}".encode()).hexdigest()[:16]
    stem = os.path.splitext(bed.name)[0]
    return os.path.join(cache_dir, "beds", bed.package, f"{stem}-{key}.npy")


def load_bed(bed, cache_dir=None):
    """The 16 kHz mono samples of a track, decoded once and then memory-mapped.

    Parameters
    ----------
    bed : Bed
    cache_dir : str, optional
        Default :func:`~.cache.default_cache_dir`.

    Returns
    -------
    numpy.ndarray, shape (samples,), float32
        Read-only.
    """
    path = _cache_path(bed, cache_dir or default_cache_dir())
    try:
        return np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        pass
    y = decode_bed(bed)
    buf = io.BytesIO()
    np.save(buf, y)
    atomic_write_bytes(path, buf.getvalue())
    return np.load(path, mmap_mode="r")


def usable_beds(beds, cache_dir=None):
    """The beds at least :data:`MIN_BED_SECONDS` long, with their lengths.

    Parameters
    ----------
    beds : list of Bed
    cache_dir : str, optional

    Returns
    -------
    list of (Bed, int)
        Bed and its length in 16 kHz samples.
    """
    out = []
    for b in beds:
        n = len(load_bed(b, cache_dir))
        if n >= MIN_BED_SECONDS * SR:
            out.append((b, n))
    return out
