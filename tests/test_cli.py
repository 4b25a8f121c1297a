"""Every command line: --help is instant (no heavy imports) and works through python -m."""
import subprocess
import sys

import pytest
from hardening import cli, one_line_error  # noqa: F401  (fixtures and helpers)

COMMANDS = ["separate", "train", "finetune", "prepare", "evaluate", "synth", "web"]
HEAVY = ["cupy", "museval", "flask", "matplotlib", "pyworld", "music21", "pretty_midi", "fast_bss_eval"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_imports_nothing_heavy(cmd):
    code = (f"import sys, runpy\nsys.argv = ['x', '--help']\n"
            f"try:\n    runpy.run_module('unetvocalsep.{cmd}', run_name='__main__')\n"
            f"except SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
            f"print('HEAVY', heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout
    assert "HEAVY []" in proc.stdout, proc.stdout[-300:]


def test_package_import_is_lazy():
    proc = subprocess.run([sys.executable, "-c",
                           "import sys, unetvocalsep; print('chainer' in sys.modules, "
                           "sorted(unetvocalsep.__all__)[:3])"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("False"), proc.stdout + proc.stderr


@pytest.mark.parametrize("cmd", COMMANDS)
def test_one_console_command_dispatches(cmd):
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep", cmd, "--help"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    # the usage line names what the user typed (issue 29)
    assert f"usage: unetvocalsep {cmd}" in proc.stdout, proc.stdout[:200]
    proc = subprocess.run([sys.executable, "-m", f"unetvocalsep.{cmd}", "--help"],
                          capture_output=True, text=True)
    assert f"usage: python -m unetvocalsep.{cmd}" in proc.stdout


def test_console_command_lists_and_refuses():
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and all(c in proc.stdout for c in COMMANDS)
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep", "nope"], capture_output=True, text=True)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "unknown command" in lines[0]


def test_a_file_where_the_command_goes_is_separated(tmp_path):
    """`unetvocalsep song.wav` (the demucs habit) separates; errors say `unetvocalsep separate`."""
    import numpy as np
    import soundfile as sf

    song = tmp_path / "song.wav"
    sf.write(str(song), np.random.default_rng(0).standard_normal((16000, 2)) * 0.1, 16000)
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep", str(song), "-o",
                           str(tmp_path / "out"), "--no-progress"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out" / "song" / "vocals.wav").is_file()
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep", "separate", str(tmp_path / "no.wav")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.startswith("unetvocalsep separate: error: ")
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep", "missing.mp3"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "unetvocalsep separate missing.mp3" in proc.stderr


def test_one_console_script():
    """setup.py installs one command, with subcommands (issue 29)."""
    import os

    setup = open(os.path.join(os.path.dirname(__file__), "..", "setup.py")).read()
    assert "unetvocalsep=unetvocalsep.__main__:main" in setup
    assert "unetvocalsep-separate=" not in setup and "License ::" not in setup


@pytest.mark.parametrize("cmd", ["web", "evaluate", "live"])
def test_help_without_the_extras(cmd):
    """--help prints without Flask, museval or sounddevice installed (issue 29)."""
    code = ("import sys\n"
            "for m in ('flask', 'werkzeug', 'museval', 'fast_bss_eval', 'sounddevice', 'matplotlib'):\n"
            "    sys.modules[m] = None\n"
            "import runpy\nsys.argv = ['x', '--help']\n"
            f"runpy.run_module('unetvocalsep.{cmd}', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


# Issue 13, defect 15: nan / inf in numeric options
@pytest.mark.parametrize("module, args, needle", [
    ("separate", ["x.wav", "--chunk-seconds", "nan"], "--chunk-seconds"),
    ("separate", ["x.wav", "--chunk-seconds", "inf"], "--chunk-seconds"),
    ("separate", ["x.wav", "--gain", "inf"], "--gain"),
    ("separate", ["x.wav", "-j", "-1"], "--jobs"),
    ("separate", ["x.wav", "--sr", "10"], "--sr"),
    ("train", ["c", "--val-fraction", "nan"], "--val-fraction"),
    ("train", ["c", "-b", "0"], "--batchsize"),
    ("prepare", ["folder", ".", "-o", "c", "--max-offset", "inf"], "--max-offset"),
    ("prepare", ["folder", ".", "-o", "c", "--time-stretch", "nan"], "--time-stretch"),
    ("evaluate", ["-j", "0"], "--jobs"),
    ("synth", ["-o", "x", "--tracks", "1", "--seconds", "inf"], "--seconds"),
])
def test_15_numeric_options_are_validated(module, args, needle, tmp_path):
    if module == "web":
        pytest.importorskip("flask")
    proc = cli(module, *args, cwd=str(tmp_path))
    one_line_error(proc, needle)
