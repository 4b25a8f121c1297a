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


def test_readme_command_lines_use_real_options():
    """Every --option on a README `unetvocalsep X ...` line is in `unetvocalsep X --help` (issue 29)."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    wanted = {}
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        cmd = None
        for line in block.splitlines():
            m = re.search(r"\bunetvocalsep[ .](\w+)", line)
            if m and not line.lstrip().startswith("--"):
                cmd = m.group(1)
            elif not line.startswith((" ", "\t")):
                cmd = None
            if cmd is None:
                continue
            part = line.split("#")[0] if m else line
            if m:
                part = part[m.end():].split("|")[0]
            for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", part):
                wanted.setdefault(cmd, set()).add(flag)
    assert "separate" in wanted and "--filename" in wanted["separate"]
    for cmd, flags in wanted.items():
        proc = subprocess.run([sys.executable, "-m", "unetvocalsep", cmd, "--help"],
                              capture_output=True, text=True)
        assert proc.returncode == 0, (cmd, proc.stderr)
        missing = sorted(f for f in flags if f not in proc.stdout)
        assert not missing, f"README uses {missing} with 'unetvocalsep {cmd}', which has no such option"
