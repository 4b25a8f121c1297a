"""Resuming a trainer from a snapshot without pickle, after checking it fits the trainer.

Examples
--------
>>> from unetvocalsep.training.snapshots import load_snapshot   # doctest: +SKIP
>>> load_snapshot('result/snapshot_iter_1000', trainer)       # doctest: +SKIP
"""
import os
import zipfile

import numpy as np

from ..errors import ModelError
from ..npzfile import MAX_MODEL_FILE_BYTES, check_regular_file, read_npz_safely


def load_snapshot(path, trainer):
    """Resume a ``chainer.training.Trainer`` from a snapshot, without running pickle code.

    Parameters
    ----------
    path : str
        A snapshot written by the trainer (``snapshot_iter_N``).
    trainer : chainer.training.Trainer

    Raises
    ------
    ModelError
        Missing, corrupt, holding a Python object, or not this trainer's.
    """
    from chainer import serializers

    path = os.fspath(path)
    if not os.path.lexists(path):
        raise ModelError(f"no such snapshot: {path}")
    check_regular_file(path, MAX_MODEL_FILE_BYTES, "trainer snapshot")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"not a trainer snapshot (expected a chainer npz): {path}")
    arrays = read_npz_safely(path)
    check_same_run(trainer, arrays, path)
    try:
        serializers.NpzDeserializer(arrays).load(trainer)
    except Exception as exc:
        raise ModelError(f"cannot resume from {path}: {type(exc).__name__}: {exc}") from None
    check_trainer_state(trainer, path)


def check_same_run(trainer, arrays, path):
    """Refuse, with a reason, a snapshot written by a run with other data or extensions.

    Parameters
    ----------
    trainer : chainer.training.Trainer
    arrays : dict
        The snapshot's arrays.
    path : str
        The snapshot, for the message.

    Raises
    ------
    ModelError
        If an iterator's epoch order has another length than this run's
        dataset (other data folders or ``--weights``), or if this run keeps a
        moving average (``--ema``) that the snapshot lacks.
    """
    for name, it in getattr(trainer.updater, "_iterators", {}).items():
        order = arrays.get(f"updater/iterator:{name}/order")
        n = len(getattr(it, "dataset", ()) or ())
        if order is not None and getattr(order, "ndim", 0) == 1 and n and len(order) != n:
            raise ModelError(f"snapshot {path} was written by a run drawing {len(order)} crops "
                             f"per epoch, this run draws {n}: resume with the same data folders "
                             "and --weights")
    if "weight_average" in getattr(trainer, "_extensions", {}) and \
            "extensions/weight_average/updates" not in arrays:
        raise ModelError(f"snapshot {path} was written by a run without --ema; resume it without "
                         "--ema, or start a new run from its weights with --init-model")


def check_trainer_state(trainer, path):
    """Refuse a resumed state whose numbers would exhaust memory or fail later.

    An iterator position past its dataset (``current_position`` 1e9 once made
    chainer slice a billion crops) or an order that is not a permutation of
    it, and optimizer moments whose shape is not their parameter's.

    Parameters
    ----------
    trainer : chainer.training.Trainer
    path : str
        The snapshot, for the message.

    Raises
    ------
    ModelError
    """
    updater = trainer.updater
    for name, it in getattr(updater, "_iterators", {}).items():
        n = len(getattr(it, "dataset", ()) or ())
        pos = getattr(it, "current_position", 0)
        if n and not (isinstance(pos, (int, np.integer)) and 0 <= pos < n):
            raise ModelError(f"snapshot {path}: iterator {name!r} is at position {pos} of a "
                             f"dataset of {n}; not this run's snapshot")
        order = getattr(it, "_order", None)
        if order is not None and (len(order) != n or not np.array_equal(np.sort(order),
                                                                        np.arange(n))):
            raise ModelError(f"snapshot {path}: iterator {name!r} has an order that is not a "
                             f"permutation of its {n} examples; not this run's snapshot")
    for oname, opt in getattr(updater, "_optimizers", {}).items():
        for pname, param in opt.target.namedparams():
            rule = getattr(param, "update_rule", None)
            state = getattr(rule, "state", None) or {}
            for key, value in state.items():
                shape = getattr(value, "shape", None)
                if shape is not None and param.array is not None and shape != param.array.shape:
                    raise ModelError(f"snapshot {path}: optimizer state {pname}/{key} has shape "
                                     f"{shape}, its parameter {param.array.shape}")
