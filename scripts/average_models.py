#!/usr/bin/env python3
"""Average saved models element-wise (issue 26): parameters and BatchNorm statistics.

Usage::

    python scripts/average_models.py unet_1800.npz unet_1900.npz unet_2000.npz -o avg.npz

The result is an ordinary model (``avg.npz`` + ``avg.json``, the first model's
settings with ``averaged_from``), written atomically; an existing ``-o`` is
kept unless ``--overwrite``. The work is done by
:func:`unetvocalsep.training.averaging.average_models`.
"""
import argparse
import os
import sys


def main(argv=None):
    from unetvocalsep.errors import UserError
    from unetvocalsep.signals import run_cli

    def _main(argv):
        p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        p.add_argument("models", nargs="+")
        p.add_argument("-o", "--out", required=True)
        p.add_argument("--overwrite", action="store_true")
        p.add_argument("--float16", action="store_true", help="store the weights as float16")
        args = p.parse_args(argv)
        if os.path.exists(args.out) and not args.overwrite:
            raise UserError(f"{args.out} exists (use --overwrite)")
        from unetvocalsep.model_io import save_model
        from unetvocalsep.training.averaging import average_models

        unet, cfg = average_models(args.models)
        save_model(args.out, unet, cfg, **({"dtype": "float16"} if args.float16 else {}))
        print(f"average of {len(args.models)} models written to {args.out}")
        return 0

    return run_cli(_main, argv, prog="average_models")


if __name__ == "__main__":
    sys.exit(main())
