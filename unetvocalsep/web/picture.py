"""The web demo's picture of a job: mixture spectrogram above the vocal mask.

:class:`MaskRecorder` collects each window's 16 kHz magnitude and mask while
a job streams (the ``on_window`` observer of
:meth:`~unetvocalsep.separator.Separator.separate_file`), thinned to a fixed
number of columns so that memory does not grow with the length;
:func:`render_spectrogram` draws the PNG with matplotlib's Agg canvas.

Examples
--------
>>> import numpy as np, os, tempfile
>>> with tempfile.TemporaryDirectory() as folder:
...     path = os.path.join(folder, "spectrogram.png")
...     render_spectrogram(path, np.ones((513, 40), np.float32),
...                        np.zeros((513, 40), np.float32), 1.28)
...     os.path.getsize(path) > 0
True
"""
import numpy as np

from .. import constants
from ..files import atomic_path
from ..spectrogram import n_frames


class MaskRecorder:
    """Collect the 16 kHz mixture magnitude and mask of each window of a streamed job.

    Use :meth:`add` as the ``on_window`` observer of
    :meth:`Separator.stream` / :meth:`Separator.separate_file`. Each window's
    frames from its own interior on (``index * chunk``) are placed on the
    global 16 kHz frame grid, thinned in time to at most ``max_columns`` columns.

    Parameters
    ----------
    separator : Separator
    sr : int
        Rate the job streams at.
    duration : float
        Seconds (to choose the thinning factor up front).
    max_columns : int
    """

    def __init__(self, separator, sr, duration, max_columns=2000):
        self.sr = sr
        self.chunk = int(round(separator.chunk_seconds * sr))
        total = n_frames(int(round(duration * constants.SR)))
        self.step = max(1, -(-total // max_columns))
        self.parts = []

    def add(self, window, mag, mask):
        """Record one window (called in order).

        Parameters
        ----------
        window : unetvocalsep.pipeline.Window
        mag, mask : numpy.ndarray, shape (513, frames16), float32
        """
        ws = window.start
        frame0 = int(round(ws / self.sr * constants.SR / constants.HOP))
        skip = int(round((window.index * self.chunk - ws) / self.sr * constants.SR / constants.HOP))
        start = frame0 + skip
        j0 = (-start) % self.step
        self.parts.append(((start + j0) // self.step,
                           mag[:, skip + j0::self.step].copy(), mask[:, skip + j0::self.step].copy()))

    def assemble(self):
        """The whole track.

        Returns
        -------
        mag, mask : numpy.ndarray, shape (513, columns), float32
            Later windows overwrite the margins of earlier ones.
        """
        n = max((s + m.shape[1] for s, m, _ in self.parts), default=0)
        mag = np.zeros((constants.N_BINS + 1, n), dtype=np.float32)
        mask = np.zeros_like(mag)
        for s, m, k in self.parts:
            mag[:, s:s + m.shape[1]] = m
            mask[:, s:s + k.shape[1]] = k
        return mag, mask


def render_spectrogram(path, mag, mask, seconds, title=None):
    """Write the picture: mixture log-magnitude above the vocal mask (matplotlib, Agg).

    Parameters
    ----------
    path : str
        PNG to write (atomically).
    mag : numpy.ndarray, shape (513, columns)
        16 kHz mixture magnitude (not normalised).
    mask : numpy.ndarray, shape (513, columns)
        Vocal mask, 0..1.
    seconds : float
        Length of the audio (x axis).
    title : str or None
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    db = 20 * np.log10(np.maximum(mag, 1e-10) / max(float(mag.max()), 1e-10))
    extent = (0, max(seconds, 1e-3), 0, constants.SR / 2000)
    fig = Figure(figsize=(10, 5), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1, sharex=True)
    im = axes[0].imshow(db, origin="lower", aspect="auto", extent=extent, cmap="magma",
                        vmin=-80, vmax=0, interpolation="nearest")
    axes[0].set_title("Mixture spectrogram (16 kHz, log magnitude)" if title is None else title,
                      fontsize=10)
    fig.colorbar(im, ax=axes[0], label="dB")
    im = axes[1].imshow(mask, origin="lower", aspect="auto", extent=extent, cmap="viridis",
                        vmin=0, vmax=1, interpolation="nearest")
    axes[1].set_title("Vocal mask (U-Net output)", fontsize=10)
    fig.colorbar(im, ax=axes[1], label="mask")
    for ax in axes:
        ax.set_ylabel("kHz")
    axes[1].set_xlabel("time (s)")
    fig.tight_layout()
    with atomic_path(path, overwrite=True) as tmp:
        fig.savefig(tmp, format="png")
