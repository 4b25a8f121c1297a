"""``unetvocalsep COMMAND ...``: one console command for every tool of the package.

``unetvocalsep separate song.mp3`` runs the same ``main(argv)`` as
``python -m unetvocalsep.separate song.mp3``; likewise ``prepare``, ``train``,
``finetune``, ``evaluate``, ``web``, ``live``, ``synth``, ``export`` and ``curves``. ``python -m unetvocalsep``
works too. ``unetvocalsep song.mp3`` (a file or folder where the command would
be, as Demucs users type it) means ``unetvocalsep separate song.mp3``. Usage
lines and error prefixes then say ``unetvocalsep separate``.

Examples
--------
::

    unetvocalsep separate song.mp3 -o separated
    unetvocalsep finetune my_pairs/ -o mymodel
    unetvocalsep --help
"""
import importlib
import os
import sys

from .errors import INVOKED_AS

#: Command -> (module, one-line summary).
COMMANDS = {
    "separate": ("separate", "separate songs into vocals and accompaniment"),
    "prepare": ("prepare", "build a training cache from a multitrack dataset"),
    "train": ("train", "train the U-Net on a cache"),
    "finetune": ("finetune", "fine-tune on your own song + instrumental pairs"),
    "evaluate": ("evaluate", "BSS Eval scores on a dataset"),
    "web": ("web.__main__", "serve the drag-and-drop page"),
    "live": ("live", "separate a live stream (pipes or sound cards) with a chosen latency"),
    "synth": ("synth.__main__", "generate the synthetic training corpus"),
    "export": ("export", "write the network as an ONNX file for other runtimes"),
    "curves": ("curves", "has a training run's validation loss stopped improving?"),
}


def usage():
    """The help text listing the commands."""
    width = max(map(len, COMMANDS))
    lines = ["usage: unetvocalsep COMMAND [ARGS ...]   (unetvocalsep COMMAND --help for its options)",
             "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None):
    """Dispatch to a command's ``main(argv)``; returns the exit status.

    Parameters
    ----------
    argv : list of str or None
        ``sys.argv[1:]`` when None.

    Returns
    -------
    int
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        from . import __version__

        print(f"unetvocalsep {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        if os.path.exists(name):   # `unetvocalsep song.mp3`, as with demucs
            name, argv = "separate", ["separate", *argv]
        else:
            hint = ""
            if not name.startswith("-") and os.path.splitext(name)[1]:
                hint = (f"; no such file either (to separate a file: unetvocalsep separate "
                        f"{name})")
            print(f"unetvocalsep: error: unknown command {name!r} (one of {', '.join(COMMANDS)})"
                  f"{hint}", file=sys.stderr)
            return 2
    module = importlib.import_module(f".{COMMANDS[name][0]}", __package__)
    INVOKED_AS.append(name)
    try:
        return module.main(argv[1:])
    finally:
        INVOKED_AS.pop()


if __name__ == "__main__":
    raise SystemExit(main())
