"""The switch for the fast CPU path: on by default, ``UNETVOCALSEP_FASTCONV=0`` turns it off.

One switch covers both fast CPU paths of the package:

* training: :mod:`unetvocalsep.fastconv`'s chainer ``FunctionNode`` s for the
  4x4 / stride-2 (de)convolutions;
* separation: :mod:`unetvocalsep.inference`'s folded, copy-free NumPy
  forward pass.

With the switch off, chainer's own links run everything (the reference).
This module imports nothing heavy, so the separator can read the switch
without importing chainer.
"""
import os

_ENV_VAR = "UNETVOCALSEP_FASTCONV"


def _env_default():
    value = os.environ.get(_ENV_VAR, "1").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("", "1", "true", "yes", "on"):
        return True
    raise ValueError(
        "%s must be 0 or 1, got %r" % (_ENV_VAR, os.environ.get(_ENV_VAR)))


_state = {"enabled": _env_default()}


def fast_conv_enabled():
    """Whether the fast CPU (de)convolution path is switched on.

    Returns
    -------
    bool
    """
    return _state["enabled"]


class use_fast_conv:  # noqa: N801  (function-like name, also a context manager)
    """Switch the fast CPU path on or off.

    Used as a plain call it sets the switch for the rest of the process; used
    as a context manager it restores the previous value on exit::

        use_fast_conv(False)              # from now on
        with use_fast_conv(False):        # only inside the block
            mask = unet(X)

    Parameters
    ----------
    enabled : bool
        ``True`` to use :func:`conv4x4s2` / :func:`deconv4x4s2` for NumPy
        inputs in :class:`~unetvocalsep.network.UNet`, ``False`` for chainer's
        own ``Convolution2D`` / ``Deconvolution2D`` links.
    """

    def __init__(self, enabled=True):
        self._previous = _state["enabled"]
        _state["enabled"] = bool(enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _state["enabled"] = self._previous
        return False
