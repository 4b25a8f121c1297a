"""Install unetvocalsep.

chainer 7.8.1 (the last release) exists only as a source distribution whose
setup.py imports ``pkg_resources``. Build it with an old setuptools and no build
isolation; README.md and ``make install`` give the one command that does it.
"""
import os
import re

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "unetvocalsep", "__init__.py")) as f:
    version = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)
with open(os.path.join(here, "README.md"), encoding="utf-8") as f:
    long_description = f.read()

install_requires = [
    # The article's framework. 7.8.1 is the last release and the one whose
    # behaviour we reproduce; later changes cannot happen (the project is
    # frozen), earlier ones lack Link.to_device / n_retains used here.
    "chainer==7.8.1",
    # No run-time pin on setuptools: chainer 7.8.1's import-time environment
    # check needs pkg_resources (and setuptools < 74 for numpy.distutils), but
    # unetvocalsep/_compat.py stands in for that check when it would fail, so
    # any setuptools -- or none -- works at run time (docs/COMPAT.md). chainer
    # itself lists plain "setuptools" as a requirement, so one gets installed.
    # NumPy 2 is supported through unetvocalsep/_compat.py (np.sctypes, NEP 50
    # checks; tested with 2.4). 1.21 is the oldest NumPy with Python 3.10 wheels.
    "numpy>=1.21",
    "scipy>=1.7",
    # soundfile >= 0.12 bundles a libsndfile that reads and writes mp3.
    "soundfile>=0.13",   # bitrate_mode / compression_level (--mp3-bitrate)
    # soxr: the resampler librosa uses ("HQ"), also as a streaming resampler.
    "soxr>=0.3",
    # librosa: pitch shifting and time stretching (prepare, synth) and REPET-SIM.
    "librosa>=0.10",
    # audioread: whole-file decoder for formats libsndfile lacks when ffprobe is
    # absent (unetvocalsep/audio.py). Named here because librosa 1.0 dropped it.
    "audioread>=3.0",
    "tqdm>=4.50",
    # The default CPU backend of separation (unetvocalsep/ortbackend.py): 1.3-1.9x
    # faster than the NumPy plan on the network (benchmarks/RESULTS.md,
    # docs/INFERENCE.md); wheels for Python 3.10-3.13 on Linux, macOS and Windows.
    # onnx builds the graph in memory (onnx 1.15: the first with Python 3.12 wheels).
    # Where they cannot be installed, the NumPy plan is the fallback.
    "onnxruntime>=1.17",
    "onnx>=1.15",
    # the --wiener option (sigsep's multichannel Wiener filter; pure Python, MIT)
    "norbert>=0.2.1",
]

extras = {
    # CuPy for CUDA 12 drivers. The CuPy series must match the NumPy series,
    # and environment markers cannot see the installed NumPy, so there are two
    # extras and the NumPy requirement is stated in each to keep pip consistent:
    #   [gpu]        CuPy 14 (needs NumPy >= 2): the default, and the only
    #                choice on Python >= 3.13 (no NumPy 1.x wheels there);
    #   [gpu-numpy1] CuPy 13 (the last series for NumPy < 2), for environments
    #                held on NumPy 1.26 by other packages.
    # chainer 7.8.1 expects CuPy 7 but runs with 13 and 14 (docs/COMPAT.md).
    "gpu": ["cupy-cuda12x>=14,<15", "numpy>=2"],
    "gpu-numpy1": ["cupy-cuda12x>=13,<14", "numpy>=1.21,<2"],
    # museval pulls pandas; pandas 3.1 needs NumPy 2, 2.x works with 1.26 and 2.x (tested).
    "eval": ["museval>=0.4", "fast-bss-eval>=0.1.4", "matplotlib>=3.5", "pandas<3"],
    # waitress: the production WSGI server of `unetvocalsep web` (connection
    # limit and timeouts; issue 28)
    "web": ["flask>=2.2", "matplotlib>=3.5", "waitress>=2.1"],
    # ChainerMN ships inside chainer; it needs mpi4py and an MPI library
    # (Debian: openmpi-bin libopenmpi-dev) to build and run it. See docs/DISTRIBUTED.md.
    "mpi": ["mpi4py>=3.1"],
    "plot": ["matplotlib>=3.5"],
    # Sound cards for python -m unetvocalsep.live (pipes need nothing); sounddevice
    # needs the PortAudio library (Debian: libportaudio2). See docs/LIVE.md.
    "live": ["sounddevice>=0.4"],
    # MedleyDB's metadata is YAML (prepare medleydb only).
    "data": ["pyyaml>=5.1"],
    # The synthetic corpus (docs/SYNTH.md). pretty_midi >= 0.2.11 renders with
    # Instrument.fluidsynth(synthesizer=...); pyfluidsynth needs Debian libfluidsynth3.
    "synth": ["pyworld>=0.3.4", "pretty_midi>=0.2.11", "pyfluidsynth>=1.3", "music21>=9"],
    # playwright's Python wheel drives the Debian chromium (no browser download).
    # setuptools<81 in dev: chainer.testing (imported by chainer.gradient_check,
    # which the tests use) imports pkg_resources, gone from setuptools 81 on.
    # The package itself needs no setuptools at run time (unetvocalsep/_compat.py).
    "dev": ["setuptools<81", "pytest>=7", "nbclient>=0.7", "nbformat>=5", "ipykernel>=6", "matplotlib>=3.5",
            "playwright>=1.40"],
}

setup(
    name="unetvocalsep",
    version=version,
    description="Singing voice separation with the deep U-Net of Jansson et al. (ISMIR 2017), in Chainer",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="MIT",   # the licence classifier is gone: setuptools >= 77 warns about it
    packages=find_packages(include=["unetvocalsep", "unetvocalsep.*"]),
    package_data={"unetvocalsep": ["models/*.npz", "models/*.json", "web/static/*", "web/templates/*"]},
    python_requires=">=3.10",
    install_requires=install_requires,
    extras_require=extras,
    # one command with subcommands (unetvocalsep separate|train|...), as demucs /
    # spleeter; the undocumented unetvocalsep-separate etc. of 0.11 are gone
    entry_points={"console_scripts": [
        "unetvocalsep=unetvocalsep.__main__:main",
    ]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
    ],
)
