"""The example notebook runs top to bottom and finds real stems."""
import os

import pytest
import subprocess
from hardening import PY  # noqa: F401  (fixtures and helpers)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_notebook_runs():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = os.path.join(ROOT, "examples", "separate.ipynb")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": os.path.join(ROOT, "examples")}})
    client.execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "'vocals'" in outputs
    # the bundled model's whole training, not its last stage (issue 29): the
    # stages' iterations add up to the total printed
    import json
    import re

    cfg = json.load(open(os.path.join(ROOT, "unetvocalsep", "models", "default.json")))
    stages = sum(int(re.search(r"([\d,]+) iterations", s).group(1).replace(",", ""))
                 for s in cfg["stages"])
    assert cfg["total_iterations"] == stages
    assert f"{stages} iterations in all" in outputs and outputs.count("  stage ") == len(cfg["stages"])
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the spectrogram figure was not drawn"
    audio = [o for c in nb.cells for o in c.get("outputs", []) if "text/html" in o.get("data", {})
             and "<audio" in o["data"]["text/html"]]
    assert len(audio) == 3
    last = nb.cells[-1].outputs[0]["text"]
    scores = eval(last)  # {'vocals': x, 'accompaniment': y}
    assert scores["vocals"] > 0 and scores["accompaniment"] > 0


# Issue 13, defect 7: the public name `separate`
def test_07_public_function_is_callable_after_the_module_import():
    code = ("import numpy as np, unetvocalsep, unetvocalsep.separate\n"
            "from unetvocalsep import separate_audio\n"
            "f = unetvocalsep.separate_audio\n"
            "assert callable(f) and f is separate_audio\n"
            "assert type(unetvocalsep.separate).__name__ == 'module'\n"
            "assert 'separate' not in unetvocalsep.__all__\n"
            "print('ok')")
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr
