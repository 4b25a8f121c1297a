"""Fine-tuning's held-out checks: losses on held-out crops, the best checkpoint, early stopping.

Examples
--------
>>> from unetvocalsep.training.validation import validation_loss   # doctest: +SKIP
>>> validation_loss(unet, val_set)                                 # doctest: +SKIP
0.0012
"""
import json
import os

import numpy as np


class HeldOutValidation:
    """Trainer extension: held-out loss every ``eval_seconds``, best checkpoint, early stop."""

    trigger = (1, "iteration")
    priority = 350
    default_name = "validate"

    def __init__(self, unet, val_set, device, out, cfg, eval_seconds, patience, best_loss,
                 bar=None, budget=None, max_iterations=None):
        self.max_iterations = max_iterations
        self.unet, self.val_set, self.device = unet, val_set, device
        self.out, self.cfg = out, cfg
        self.eval_seconds, self.patience = float(eval_seconds), int(patience)
        self.best, self.bad, self.last, self.stop = float(best_loss), 0, 0.0, False
        self.best_iteration = 0
        self.bar, self.budget = bar, budget
        self.history = []

    def __call__(self, trainer):
        elapsed = trainer.elapsed_time
        if self.bar is not None:
            self.bar.n = round(min(elapsed, self.budget) / 60, 2)
            self.bar.refresh()
        last_iteration = (self.max_iterations is not None
                          and trainer.updater.iteration >= self.max_iterations)
        if elapsed - self.last < self.eval_seconds and elapsed < self.budget \
                and not last_iteration:
            return
        self.last = elapsed
        loss = validation_loss(self.unet, self.val_set, self.device)
        self.history.append({"iteration": int(trainer.updater.iteration),
                             "minutes": round(elapsed / 60, 3), "validation_loss": loss})
        if loss < self.best:
            self.best, self.bad = loss, 0
            self.best_iteration = int(trainer.updater.iteration)
            save_copy(self.unet, os.path.join(self.out, "best.npz"),
                  dict(self.cfg, iterations=self.best_iteration, validation_loss=loss))
        else:
            self.bad += 1
            self.stop = self.bad >= self.patience
        from chainer.training import extensions

        extensions.snapshot(filename="snapshot")(trainer)   # for --resume

    def serialize(self, serializer):
        self.best = float(serializer("best", self.best))
        self.bad = int(serializer("bad", self.bad))
        self.last = float(serializer("last", self.last))
        self.best_iteration = int(serializer("best_iteration", self.best_iteration))
        self.history = json.loads(str(serializer("history", json.dumps(self.history))))


def save_copy(unet, path, cfg, dtype=None):
    from ..model_io import save_model

    copy = unet.copy(mode="copy")
    copy.to_device("@numpy")
    save_model(path, copy, cfg, dtype=dtype)


def frame_losses(unet, val_set, batchsize=16):
    """The article's loss per 16 kHz frame of the held-out patches (padding left out).

    Returns
    -------
    numpy.ndarray, shape (frames,)
        ``mean over bins of |X * unet(X) - Y|`` for every real frame, in order.
    """
    import chainer

    out = []
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for i in range(0, len(val_set), batchsize):
            batch = [val_set[j] for j in range(i, min(i + batchsize, len(val_set)))]
            x = np.stack([b[0] for b in batch])
            y = np.stack([b[1] for b in batch])
            err = np.abs(x * unet(x).array - y).mean(axis=(1, 2))       # (batch, frames)
            real = (np.abs(x).sum(axis=(1, 2)) + np.abs(y).sum(axis=(1, 2))) > 0
            out.append(err[real])
    return np.concatenate(out) if out else np.zeros(0)


def loss_change(before_unet, after_unet, val_set, chunk_frames=31):
    """Relative change of the held-out loss, with a 95 % interval over 1 s chunks.

    The held-out frames are grouped into chunks of about one second; the
    change of each chunk's loss gives the mean change and, from their
    spread, a normal 95 % interval (neighbouring chunks are not independent,
    so it is if anything narrow).

    Returns
    -------
    dict
        ``relative`` (after / before - 1 of the mean loss), ``interval``
        (its 95 % half-width, same units), ``chunks``.
    """
    b = frame_losses(before_unet, val_set)
    a = frame_losses(after_unet, val_set)
    n = len(b) // chunk_frames
    if n == 0 or b.mean() <= 0:
        return {"relative": float(a.mean() / max(b.mean(), 1e-12) - 1), "interval": float("inf"),
                "chunks": 0}
    cb = b[:n * chunk_frames].reshape(n, chunk_frames).mean(1)
    ca = a[:n * chunk_frames].reshape(n, chunk_frames).mean(1)
    d = (ca - cb) / cb.mean()
    half = 1.96 * d.std(ddof=1) / np.sqrt(n) if n > 1 else float("inf")
    return {"relative": float(d.mean()), "interval": float(half), "chunks": int(n)}


def validation_loss(unet, val_set, device=None, batchsize=16):
    """The article's loss, ``mean |X * unet(X) - Y|``, over every held-out patch.

    Parameters
    ----------
    unet : UNet
    val_set : SpectrogramDataset
        In order (``random=False``).
    device : chainer device or None
    batchsize : int

    Returns
    -------
    float
    """
    import chainer
    import chainer.functions as F

    total, count = 0.0, 0
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        for i in range(0, len(val_set), batchsize):
            batch = [val_set[j] for j in range(i, min(i + batchsize, len(val_set)))]
            x = np.stack([b[0] for b in batch])
            y = np.stack([b[1] for b in batch])
            if device is not None:
                x, y = device.send(x), device.send(y)
            loss = F.mean_absolute_error(x * unet(x), y)
            total += float(chainer.backend.CpuDevice().send(loss.array)) * len(batch)
            count += len(batch)
    return total / max(count, 1)


