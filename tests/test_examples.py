"""The bundled model separates the bundled example song for real."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_example_script_beats_the_mixture(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "separate_example.py")],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    pattern = r"^(\w+)\s+SDR\s+(-?[\d.]+) dB\s+\(mixture as estimate:\s+(-?[\d.]+) dB\)"
    scores = {m[0]: (float(m[1]), float(m[2])) for m in re.findall(pattern, proc.stdout, re.M)}
    assert set(scores) == {"vocals", "accompaniment"}, proc.stdout
    for name, (model, mixture) in scores.items():
        assert model > mixture + 3.0, (name, model, mixture)     # a real separation, not the input


def test_demo_command_writes_stems(tmp_path):
    out = tmp_path / "separated"
    proc = subprocess.run([sys.executable, "-m", "unetvocalsep.separate",
                           os.path.join(ROOT, "examples", "example.wav"), "-o", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert str(out / "example") in proc.stdout
    assert sorted(os.listdir(out / "example")) == ["accompaniment.wav", "vocals.wav"]
