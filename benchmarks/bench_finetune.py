"""What `finetune` buys on generated song + instrumental pairs (docs/FINETUNE.md's tables).

Two cases, each fine-tuned from the bundled model on this CPU with the
package's own :func:`unetvocalsep.training.finetune.finetune`:

* *three pairs*: 12, 12 and 30 s songs (tests/conftest.toy_stems), the
  instrumentals offset by 0.37 s, 0 and 2.5 s, scaled by 0.8, 1 and 0.5, a
  bass shelf and a 0.5 dB level difference on two of them; ``--minutes 2``;
* *synth lead*: the two 12 s pairs of ``tests/training/test_finetune.py`` whose
  instrumentals carry a synth lead (harmonic notes, no vibrato), the
  instrument family the model takes for a voice; ``--minutes 1`` (what the
  test runs).

Prints one Markdown table per case: held-out validation loss and vocal
SDR / SIR / SAR before and after, iterations and patches/s, and the offsets
the alignment found. Run it on a quiet machine (pause any training)::

    python benchmarks/bench_finetune.py
"""
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from test_finetune import SR, make_pair  # noqa: E402
from unetvocalsep.training.finetune import finetune  # noqa: E402
from unetvocalsep.training.pairs import find_pairs  # noqa: E402

CASES = {
    "three pairs, --minutes 2": (2.0, [
        dict(name="a", seed=11, offset_s=0.37, gain=0.8, eq=True, seconds=12.0),
        dict(name="b", seed=12, offset_s=0.0, gain=1.0, eq=False, seconds=12.0),
        dict(name="c", seed=13, offset_s=2.5, gain=0.5, eq=True, seconds=30.0)]),
    "synth lead, --minutes 1": (1.0, [
        dict(name="one", seed=21, offset_s=0.37, gain=0.8, eq=True, lead=True),
        dict(name="two", seed=22, offset_s=0.0, gain=1.0, lead=True)]),
}


def run_case(folder, minutes, pairs):
    """Build ``pairs`` in ``folder``, fine-tune for ``minutes``; return the report and wall time."""
    os.makedirs(os.path.join(folder, "pairs"))
    for p in pairs:
        p = dict(p)
        make_pair(os.path.join(folder, "pairs"), p.pop("name"), p.pop("seed"), **p)
    t0 = time.perf_counter()
    report = finetune(find_pairs(os.path.join(folder, "pairs")), os.path.join(folder, "out"),
                      minutes=minutes, progress=False, log=lambda line: None)
    return report, time.perf_counter() - t0


def table(report, seconds):
    b, a = report["before"], report["after"]
    lines = ["| | before (bundled model) | after |", "|---|---:|---:|",
             f"| held-out validation loss | {b['validation_loss']:.5f} | {a['validation_loss']:.5f} |"]
    for k in ("SDR", "SIR", "SAR"):
        lines.append(f"| vocal {k}, median (dB) | {b[k]:.1f} | {a[k]:.1f} |")
    tr, batch = report["training"], report["settings"]["batchsize"]
    lines.append("")
    lines.append(f"helped: {report['helped']}; {tr['iterations']} iterations of batch {batch} "
                 f"(best at {tr['best_iteration']}) in {seconds / 60:.1f} min wall "
                 f"({tr['iterations'] * batch / tr['seconds']:.1f} patches/s over the "
                 f"training time); offsets found (samples at {SR} Hz): "
                 + ", ".join(str(p["offset_samples"]) for p in report["pairs"]))
    return "\n".join(lines)


def main():
    for label, (minutes, pairs) in CASES.items():
        with tempfile.TemporaryDirectory() as d:
            report, seconds = run_case(d, minutes, pairs)
        print(f"### {label}\n\n{table(report, seconds)}\n", flush=True)


if __name__ == "__main__":
    main()
