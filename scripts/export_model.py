"""Copy a trained model (npz + json) into the package, optionally as float16.

    python scripts/export_model.py result/default/unet.npz unetvocalsep/models/default.npz --float16

The settings JSON travels with the weights; a ``note`` field records the export.
"""
import argparse
import sys

from unetvocalsep.model_io import load_model, save_model


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--float16", action="store_true", help="store the weights as float16 (half the size)")
    args = p.parse_args(argv)
    unet, cfg = load_model(args.src)
    cfg["exported_from"] = args.src
    save_model(args.dst, unet, cfg, dtype="float16" if args.float16 else None)
    print(f"wrote {args.dst}")


if __name__ == "__main__":
    sys.exit(main())
