"""``python -m unetvocalsep.export [MODEL.npz] OUT.onnx``: the network as an ONNX file.

Writes the test-mode U-Net (BatchNorm folded, dynamic batch and frame axes;
:mod:`unetvocalsep.fast.ortbackend`) for other runtimes: onnxruntime in C++, C#,
Java or a browser (onnxruntime-web), TensorRT, OpenVINO. docs/ONNX.md gives
the input and output conventions and examples. The file is written
atomically and an existing one is kept unless ``--overwrite`` is given.

Examples
--------
::

    python -m unetvocalsep.export unet.onnx                 # the bundled model
    python -m unetvocalsep.export mymodel/unet.npz mymodel.onnx

>>> import os, tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     out = export_onnx(None, os.path.join(d, "unet.onnx"))
...     os.path.getsize(out) > 25_000_000
True
"""
import os

from .errors import UserError
from .files import atomic_path, check_target, claim
from .signals import run_cli

__all__ = ["export_onnx", "get_parser", "main"]


def export_onnx(model, path, overwrite=False):
    """Write ``model``'s test-mode network to ``path`` as ONNX.

    Parameters
    ----------
    model : str or None
        An npz model, a trainer snapshot, or None for the bundled model.
    path : str
        The ``.onnx`` file to write (atomically).
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    UserError
        onnx is not installed, the output exists or is not a regular file,
        the output is the model or ends in ``.npz``, or the model is not valid
        (:class:`~unetvocalsep.errors.ModelError`).
    """
    from .model_io import load_params

    try:
        from .fast.ortbackend import build_model
    except ImportError:
        raise UserError("ONNX export needs the onnx package: pip install "
                        "'unetvocalsep[onnx]'") from None
    path = os.fspath(path)
    if path.lower().endswith(".npz"):
        raise UserError(f"the output {path} has a model's extension (.npz); the ONNX file "
                        f"is written to OUT, e.g. {os.path.splitext(path)[0]}.onnx")
    if model is not None and os.path.exists(path) and os.path.exists(model) \
            and os.path.samefile(path, model):
        raise UserError(f"the output is the model itself: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"no such folder: {folder}")
    check_target(path, overwrite)   # before the model is read and the graph built
    params, _ = load_params(model)
    data = build_model(params).SerializeToString()
    with claim([path]), atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return path


def get_parser():
    """The ``python -m unetvocalsep.export`` argument parser."""
    from .argtypes import Parser

    p = Parser(prog="python -m unetvocalsep.export",
               description="Export the network (test mode, BatchNorm folded) as an ONNX file "
                           "with dynamic batch and frame axes (docs/ONNX.md).")
    p.add_argument("paths", nargs="+", metavar="[MODEL] OUT",
                   help="model npz (default: the bundled model) and the .onnx file to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    return p


def _main(argv=None):
    parser = get_parser()
    args = parser.parse_args(argv)
    if len(args.paths) > 2:
        raise UserError("expected [MODEL] OUT, got %d paths" % len(args.paths))
    model, out = (None, args.paths[0]) if len(args.paths) == 1 else args.paths
    export_onnx(model, out, overwrite=args.overwrite)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.1f} MB)")
    return 0


def main(argv=None):
    """Entry point of ``python -m unetvocalsep.export``; returns the exit status."""
    return run_cli(_main, argv, prog="unetvocalsep.export")


if __name__ == "__main__":
    raise SystemExit(main())
