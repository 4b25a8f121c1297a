"""Averaged weights: the mean of saved models, and a moving average kept while training.

Neither is the article's, which keeps the weights of the last iteration. Issue
12 saw the leakage figure swing by 3 dB between snapshots 1,000 iterations
apart; an average of the weights along the run is a standard way to steady
such figures (Polyak averaging). Two forms:

* :func:`average_models` - the plain mean of models already saved (say the last
  few snapshots of a run), parameters and BatchNorm statistics alike;
* :class:`WeightAverage` - a Trainer extension that keeps an exponential moving
  average of every parameter and BatchNorm statistic as training runs, saves it
  as ``unet_ema.npz`` beside ``unet.npz`` and keeps it in the trainer's
  snapshots, so that ``--resume`` continues the same average.

Examples
--------
>>> from unetvocalsep.training.averaging import average_models        # doctest: +SKIP
>>> unet, cfg = average_models(["unet_1100.npz", "unet_1200.npz"])   # doctest: +SKIP
"""
import numpy as np

from ..errors import ModelError, UserError


def _arrays(unet):
    """Every float array of ``unet`` that averaging touches, by name.

    Parameters and the persistent BatchNorm statistics (``avg_mean``,
    ``avg_var``); integer persistents (BatchNorm's update count ``N``) are
    left alone.
    """
    out = {name: p.array for name, p in unet.namedparams()}
    for link_name, link in unet.namedlinks():
        for name in getattr(link, "_persistent", ()):
            value = getattr(link, name)   # a NumPy or CuPy array, or a Python number
            if getattr(getattr(value, "dtype", None), "kind", "") == "f":
                out[f"{link_name}/{name}"] = value
    return out


def average_models(paths):
    """The element-wise mean of several saved models.

    Parameters
    ----------
    paths : list of str
        Two or more ``.npz`` models (or bundled model names) of the same
        shape: parameters of 6,288,545 numbers each for the article's U-Net.

    Returns
    -------
    unet : UNet
        Parameters and BatchNorm running statistics averaged; float32.
    cfg : dict
        The first model's settings, with ``averaged_from`` (the paths) added.

    Raises
    ------
    UserError
        Fewer than two paths.
    ModelError
        A model that does not load, or one whose arrays differ in shape from
        the first's.

    Examples
    --------
    >>> import os, tempfile
    >>> from unetvocalsep.network import UNet
    >>> from unetvocalsep.model_io import save_model
    >>> d = tempfile.mkdtemp()
    >>> for i in range(2):
    ...     save_model(os.path.join(d, f"m{i}.npz"), UNet(), {})
    >>> unet, cfg = average_models([os.path.join(d, "m0.npz"), os.path.join(d, "m1.npz")])
    >>> len(cfg["averaged_from"])
    2
    """
    from ..model_io import load_model

    paths = [str(p) for p in paths]
    if len(paths) < 2:
        raise UserError("averaging needs two models or more")
    unet, cfg = load_model(paths[0])
    total = {k: np.array(v, dtype=np.float64) for k, v in _arrays(unet).items()}
    for path in paths[1:]:
        other = _arrays(load_model(path)[0])
        if other.keys() != total.keys():
            raise ModelError(f"{path} does not hold the same layers as {paths[0]}")
        for k, v in other.items():
            if v.shape != total[k].shape:
                raise ModelError(f"{path}: {k} has shape {v.shape}, not {total[k].shape}")
            total[k] += v
    for k, v in _arrays(unet).items():
        v[...] = (total[k] / len(paths)).astype(v.dtype)
    cfg = dict(cfg or {})
    cfg["averaged_from"] = paths
    return unet, cfg


def ema_decay_at(decay, updates):
    """The decay used at the ``updates``-th update: ``min(decay, (1 + t) / (10 + t))``.

    The warm-up (TensorFlow's ``ExponentialMovingAverage(num_updates=...)``)
    keeps the first updates from leaving the average stuck near the weights
    the run started from.

    Parameters
    ----------
    decay : float
        In (0, 1).
    updates : int
        Updates made before this one.

    Returns
    -------
    float

    Examples
    --------
    >>> ema_decay_at(0.999, 0)
    0.1
    >>> ema_decay_at(0.999, 10 ** 6)
    0.999
    """
    return min(float(decay), (1.0 + updates) / (10.0 + updates))


class WeightAverage:
    """Trainer extension: an exponential moving average of the U-Net's weights.

    After every update, each parameter and BatchNorm statistic ``w`` moves its
    average ``a`` to ``d * a + (1 - d) * w``, ``d`` from :func:`ema_decay_at`.
    The average is a copy of the U-Net (:attr:`average`), saved as its own
    model by :class:`unetvocalsep.training.extensions.SaveUNet`, and kept in
    the trainer's snapshots, so a resumed run continues the same average (a
    run resumes with ``--ema`` only from a snapshot of a run that had it:
    chainer finds no state for the extension otherwise, and says so).

    Parameters
    ----------
    unet : UNet
        The network being trained (its arrays are read, never written).
    decay : float
        In (0, 1); 0.999 averages over about the last 1,000 iterations.

    Examples
    --------
    >>> from unetvocalsep.network import UNet
    >>> unet = UNet()
    >>> ema = WeightAverage(unet, 0.99)
    >>> unet.conv1.W.array[...] += 1.0
    >>> ema.update()   # the first update's decay is 0.1 (the warm-up)
    >>> round(float(unet.conv1.W.array.mean() - ema.average.conv1.W.array.mean()), 4)
    0.1
    """

    trigger = (1, "iteration")
    priority = 200   # after the update, before the writers that save it (SaveUNet: -100)
    default_name = "weight_average"

    def __init__(self, unet, decay):
        decay = float(decay)
        if not 0.0 < decay < 1.0:
            raise UserError(f"the moving-average decay must be between 0 and 1, not {decay:g}")
        self.unet, self.decay = unet, decay
        self.updates = 0
        self.average = unet.copy(mode="copy")

    def update(self):
        """Move the average one step towards the current weights."""
        d = ema_decay_at(self.decay, self.updates)
        current = _arrays(self.unet)
        for name, avg in _arrays(self.average).items():
            avg *= d
            avg += (1.0 - d) * current[name]
        self.updates += 1

    def __call__(self, trainer):
        self.update()

    def serialize(self, serializer):
        self.updates = int(serializer("updates", self.updates))
        self.average.serialize(serializer["average"])
