"""Every Python snippet of README.md runs as written (issue 29), in a folder with the files it names."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def python_snippets():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_has_python_snippets():
    assert len(python_snippets()) >= 2


@pytest.mark.parametrize("index", range(len(python_snippets())))
def test_readme_python_snippet_runs(index, tmp_path):
    rng = np.random.default_rng(index)
    for name in ("song.mp3", "a.wav", "b.flac"):
        sf.write(str(tmp_path / name), rng.standard_normal((44100 * 2, 2)) * 0.1, 44100)
    code = python_snippets()[index]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, f"README snippet {index} failed:\n{code}\n{proc.stderr[-2000:]}"


def test_separate_is_a_module_after_import():
    proc = subprocess.run([sys.executable, "-c", "import unetvocalsep; "
                           "print(unetvocalsep.separate.__name__, callable(unetvocalsep.separate_file))"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.split() == ["unetvocalsep.separate", "True"], proc.stderr
