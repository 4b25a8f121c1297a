"""Trainer extensions of :func:`unetvocalsep.train.train`.

Each is a small object in the style of chainer's ``examples/``: it saves the
model next to its settings, stops on a non-finite loss, keeps the step-size
flags in the snapshot, or lowers Adam's step size over the run.
"""
from ..errors import UserError


class SaveUNet:
    """Trainer extension: write ``unet.npz`` + ``unet.json`` (the model and its settings).

    Parameters
    ----------
    unet : UNet
    path : str
    cfg : dict
        Settings stored with the weights; ``iterations`` and ``epoch`` are
        filled in at each save.
    """

    trigger = (1, "epoch")
    priority = -100  # after LogReport, so the log is current

    def __init__(self, unet, path, cfg):
        self.unet, self.path, self.cfg = unet, path, dict(cfg)

    def __call__(self, trainer):
        from ..model_io import save_model

        cfg = dict(self.cfg)
        cfg["iterations"] = int(trainer.updater.iteration)
        cfg["epoch_detail"] = float(trainer.updater.epoch_detail)
        cfg["training_seconds"] = float(trainer.elapsed_time)
        unet = self.unet.copy(mode="copy")
        unet.to_device("@numpy")
        save_model(self.path, unet, cfg)



class StopOnNonFiniteLoss:
    """Trainer extension: stop with one line as soon as the training loss is not finite.

    It runs every iteration before the model is saved, so no NaN weights are
    ever written.
    """

    trigger = (1, "iteration")
    default_name = "stop_on_nonfinite_loss"
    priority = 400   # before every writer (snapshots, LogReport: PRIORITY_WRITER = 300)

    def __call__(self, trainer):
        import math

        loss = trainer.observation.get("main/loss")
        if loss is None:
            return
        import chainer

        value = float(chainer.as_array(loss))
        if not math.isfinite(value):
            raise UserError(f"the training loss became {value} at iteration "
                            f"{trainer.updater.iteration}; stopped (the last good model, if any, is "
                            f"in {trainer.out}); check the data, or lower the batch size")


class StepSizeSettings:
    """Trainer extension that keeps ``--alpha`` / ``--final-alpha`` in the snapshot.

    Chainer's snapshot holds Adam's moments but not its hyperparameters, so a
    run resumed without the flags would silently go back to Adam's default
    step size. This extension does nothing while training; it only writes the
    two settings into the snapshot (``-1`` for "not given"), where
    :func:`stored_step_size` reads them back before the trainer is built.

    Parameters
    ----------
    alpha, final_alpha : float or None
        As given to :func:`train`.
    """

    trigger = (2 ** 62, "iteration")
    default_name = "step_size"

    def __init__(self, alpha, final_alpha):
        self.alpha, self.final_alpha = alpha, final_alpha

    def __call__(self, trainer):
        pass

    def serialize(self, serializer):
        from chainer.serializer import Deserializer

        if isinstance(serializer, Deserializer):
            return   # read by stored_step_size before the trainer exists
        for key in ("alpha", "final_alpha"):
            value = getattr(self, key)
            serializer(key, -1.0 if value is None else float(value))


def stored_step_size(snapshot):
    """The ``(alpha, final_alpha)`` a snapshot was trained with, or None.

    Parameters
    ----------
    snapshot : str
        A trainer snapshot (``snapshot_iter_N``).

    Returns
    -------
    tuple of (float or None, float or None), or None
        None for a snapshot of a run with Adam's defaults (or one that cannot
        be read; :func:`unetvocalsep.training.snapshots.load_snapshot` reports that).
    """
    import numpy as np

    prefix = "extensions/" + StepSizeSettings.default_name + "/"
    try:
        with np.load(snapshot, allow_pickle=False) as z:
            if prefix + "alpha" not in z.files:
                return None
            values = [float(z[prefix + k]) for k in ("alpha", "final_alpha")]
    except Exception:
        return None
    return tuple(None if v < 0 else v for v in values)


def resume_step_size(snapshot, alpha, final_alpha):
    """``alpha`` and ``final_alpha`` for a resumed run: the stored ones unless given.

    Parameters
    ----------
    snapshot : str
    alpha, final_alpha : float or None
        What the caller asked for (None: not given).

    Returns
    -------
    alpha, final_alpha : float or None

    Raises
    ------
    UserError
        When a given value differs from the one the snapshot was trained with.
    """
    stored = stored_step_size(snapshot)
    if stored is None:
        return alpha, final_alpha
    out = []
    for flag, given, kept in (("--alpha", alpha, stored[0]), ("--final-alpha", final_alpha, stored[1])):
        if given is not None and kept is not None and abs(given - kept) > 1e-12 * max(1.0, kept):
            raise UserError(f"{snapshot} was trained with {flag} {kept:g}, not {given:g}; resume "
                            f"with the same value, or without {flag} to keep it")
        out.append(kept if given is None else given)
    return tuple(out)


def alpha_schedule(start, end, iterations):
    """Trainer extension: Adam's ``alpha`` from ``start`` to ``end`` linearly.

    Parameters
    ----------
    start, end : float
        ``alpha`` at iteration 0 and at ``iterations``.
    iterations : int
        Length of the schedule (the run's length); ``alpha`` stays at ``end`` after it.

    Returns
    -------
    chainer.training.extensions.LinearShift
        Its state is in trainer snapshots, so ``--resume`` continues it.

    Examples
    --------
    >>> alpha_schedule(1e-3, 1e-4, 1000).__class__.__name__
    'LinearShift'
    """
    from .. import _compat  # noqa: F401
    from chainer.training import extensions

    return extensions.LinearShift("alpha", (start, end), (0, int(iterations)))
