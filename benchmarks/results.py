"""Append a dated, attributed section to benchmarks/RESULTS.md."""
import datetime
import os
import platform
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def machine():
    """One line describing the CPU, core count, Python and NumPy/BLAS."""
    import numpy as np

    model = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}"


def commit():
    """Short git commit of the checkout (with '+dirty' when modified), or 'unknown'."""
    try:
        c = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                           cwd=HERE, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, cwd=HERE).stdout.strip()
        return c + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"


def append_section(title, body, path=os.path.join(HERE, "RESULTS.md")):
    """Append ``## title`` with date, machine and commit, then ``body``."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = f"\n## {title}\n\n{stamp} · {machine()} · commit {commit()}\n\n{body}\n"
    new = not os.path.exists(path)
    with open(path, "a") as f:
        if new:
            f.write("# Benchmark results\n\nAppended by the scripts in benchmarks/; newest last.\n")
        f.write(text)
