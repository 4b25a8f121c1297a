#!/usr/bin/env python3
"""The article's loss of saved models on each validation set (issue 26).

For models trained before ``train`` logged each set's loss, and to compare
models of different runs on the same sets::

    python scripts/validation_by_set.py MODEL... --sets VAL_CACHE...

Prints one line per model: each set's loss (x 1e-4, the mean of
``|X * mask - Y|`` over every 128-frame patch, as ``train``'s Evaluator) and
their pooled loss, weighted by patches.
"""
import argparse
import sys


def main(argv=None):
    from unetvocalsep.signals import run_cli

    def _main(argv):
        p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        p.add_argument("models", nargs="+")
        p.add_argument("--sets", nargs="+", required=True)
        args = p.parse_args(argv)
        from unetvocalsep.model_io import load_model
        from unetvocalsep.training.cache import SpectrogramDataset, list_tracks
        from unetvocalsep.training.setvalidation import set_labels
        from unetvocalsep.training.validation import validation_loss

        sets = {label: SpectrogramDataset(list_tracks(p), random=False)
                for label, p in zip(set_labels(args.sets), args.sets)}
        print("model | " + " | ".join(sets) + " | pooled")
        for path in args.models:
            unet = load_model(path)[0]
            losses = {k: validation_loss(unet, v, batchsize=64) for k, v in sets.items()}
            n = {k: len(v) for k, v in sets.items()}
            pooled = sum(losses[k] * n[k] for k in sets) / sum(n.values())
            print(f"{path} | " + " | ".join(f"{losses[k] * 1e4:.3f}" for k in sets)
                  + f" | {pooled * 1e4:.3f}")
        return 0

    return run_cli(_main, argv, prog="validation_by_set")


if __name__ == "__main__":
    sys.exit(main())
