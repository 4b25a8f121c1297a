"""The validation loss of each held-out set, beside their pooled loss.

A run validated on several sets (singers of one dataset, songs of another,
instrumental music for leakage...) learns different things at different
speeds; their pooled loss can stay flat while one set's falls and another's
rises (issue 26: the pooled loss stayed within 0.00144-0.00149 while every
real-song figure rose). :class:`SetEvaluator` reports each set's loss
(``validation/<set>/main/loss``) and the pooled one (``validation/main/loss``,
the mean over every crop of every set, as one ``Evaluator`` over all the sets
would give) in one pass over the data.

Examples
--------
>>> set_labels(["/data/val/mir1k", "/data/val/musdb", "/x/musdb/"])
['mir1k', 'musdb', 'musdb-2']
"""
import os

from .. import _compat  # noqa: F401
from chainer.training import extensions


def set_labels(paths):
    """Short unique names for validation sets: their base names, numbered when repeated.

    Parameters
    ----------
    paths : list of str

    Returns
    -------
    list of str
        One per path, in order, each usable as a part of a log key (``/``
        becomes ``_``).
    """
    labels, seen = [], {}
    for p in paths:
        base = os.path.basename(os.path.normpath(os.fspath(p))) or "set"
        base = os.path.splitext(base)[0].replace("/", "_")
        seen[base] = seen.get(base, 0) + 1
        labels.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return labels


class SetEvaluator(extensions.Evaluator):
    """chainer ``Evaluator`` over several validation sets, each reported on its own.

    Parameters
    ----------
    iterators : dict
        ``{label: iterator}``, each a non-repeating iterator over one set
        (``SerialIterator(..., repeat=False, shuffle=False)``).
    target : chainer.Link
        The model whose loss is reported (``UNetTrainmodel``).
    device : chainer device or None

    Notes
    -----
    Reports ``validation/<label>/main/loss`` for each set and
    ``validation/main/loss``, the mean over all crops (each set weighted by
    its number of crops).
    """

    def __init__(self, iterators, target, device=None):
        iterators = dict(iterators)
        if not iterators:
            raise ValueError("no validation sets")
        super().__init__(next(iter(iterators.values())), target, device=device)
        self.sets = iterators

    def evaluate(self):
        pooled, weights, result = {}, {}, {}
        prefix = (self.name + "/") if self.name else ""
        for label, iterator in self.sets.items():
            self._iterators["main"] = iterator
            means = super().evaluate()
            n = len(iterator.dataset)
            for key, value in means.items():
                short = key[len(prefix):] if key.startswith(prefix) else key
                result[f"{prefix}{label}/{short}"] = value
                pooled[key] = pooled.get(key, 0.0) + n * float(value)
                weights[key] = weights.get(key, 0) + n
        for key, total in pooled.items():
            result[key] = total / weights[key]
        return result
