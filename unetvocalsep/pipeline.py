"""Streaming over long inputs: windows, the first pass, the network one window ahead, cross-fades.

A long input is cut into windows of ``chunk`` seconds plus ``margin`` seconds
of context on each side (:func:`windows`). A first pass (:func:`first_pass`)
finds the whole track's maximum 16 kHz magnitude (the article's
normalisation), keeping the decoded audio and each window's magnitude while
they fit in :data:`CACHE_BYTES`. The second pass computes each window's mask
one window ahead in a worker thread (:func:`prefetched`) and joins the
separated windows with linear cross-fades (:func:`crossfade`), so memory is
flat in the length and there are no clicks at the joins.

Readers are plain callables ``read(n) -> array (channels, m)`` (``m == 0`` at
the end); :func:`array_reader`, :func:`mono_reader` and :func:`resampled_reader`
make and adapt them.

Examples
--------
>>> import numpy as np
>>> from unetvocalsep.pipeline import array_reader, windows
>>> y = np.zeros((2, 10 * 16000), np.float32)
>>> [(w.index, w.start, w.samples.shape[1], w.is_last)
...  for w in windows(array_reader(y), 16000, chunk_seconds=4, margin_seconds=1)]
[(0, 0, 80000, False), (1, 48000, 96000, False), (2, 112000, 48000, True)]
"""
import collections

import numpy as np

from .audio import AudioReader
from .resampling import to_mono

#: Default length of one processing window, seconds.
CHUNK_SECONDS = 60.0
#: Context on each side of a window, seconds.
MARGIN_SECONDS = 2.5
#: Half-length of the linear cross-fade between windows, seconds.
CROSSFADE_SECONDS = 0.5
#: Memory the first pass may use to keep the decoded input and its 16 kHz
#: magnitudes for the second pass (bytes); about 6 minutes of 44.1 kHz stereo.
#: Longer inputs are decoded twice and memory stays flat in their length.
CACHE_BYTES = 128 * 2 ** 20

#: One processing window: its number, its first sample in the input, its
#: samples (channels, n) including the margins, and whether it is the last.
Window = collections.namedtuple("Window", "index start samples is_last")
#: What :func:`first_pass` found: the track's maximum 16 kHz magnitude, the
#: whole decoded input as a list of (channels, n) blocks (or None; read it
#: with :func:`blocks_reader`) and each window's 16 kHz magnitude (or None).
FirstPass = collections.namedtuple("FirstPass", "peak audio mags")


def windows(read, sr, chunk_seconds=CHUNK_SECONDS, margin_seconds=MARGIN_SECONDS):
    """Cut a sequential input into overlapping windows.

    Window ``k`` covers ``[max(0, k*c - m), k*c + c + m)`` samples, with
    ``c = chunk * sr`` and ``m = margin * sr``.

    Parameters
    ----------
    read : callable
        ``read(n) -> numpy.ndarray (channels, m)``, ``m == 0`` at the end.
    sr : int
    chunk_seconds, margin_seconds : float

    Yields
    ------
    Window
    """
    c = int(round(chunk_seconds * sr))
    m = int(round(margin_seconds * sr))
    buf = np.zeros((0, 0), dtype=np.float32)
    buf_start, eof, k = 0, False, 0
    while True:
        ws, we = max(0, k * c - m), k * c + c + m
        parts = [buf]
        have = buf_start + buf.shape[1]
        while not eof and have < we + 1:   # one sample beyond tells whether it is the end
            block = read(max(we + 1 - have, sr))
            if block.shape[1] == 0:
                eof = True
                break
            parts.append(block)
            have += block.shape[1]
        if len(parts) > 1:
            parts = [p for p in parts if p.size] or [parts[-1]]
            buf = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
        buf, buf_start = buf[:, ws - buf_start:], ws
        window = buf[:, :we - ws]
        is_last = eof and buf_start + buf.shape[1] <= we
        if window.shape[1] == 0:
            return
        yield Window(k, ws, window, is_last)
        if is_last:
            return
        k += 1


class _Kept:
    """What the first pass keeps: decoded blocks and magnitudes, within a byte budget."""

    def __init__(self, read, budget):
        self.read_inner, self.budget = read, budget
        self.blocks, self.mags = ([], []) if budget > 0 else (None, None)
        self.used, self.peak = 0, 0.0

    def read(self, n):
        block = self.read_inner(n)
        if self.blocks is not None:
            self.used += block.nbytes
            self.blocks.append(block)
        return block

    def add(self, mag):
        self.peak = max(self.peak, float(mag.max()))
        if self.mags is not None:
            self.used += mag.nbytes
            self.mags.append(mag)
        if self.used > self.budget:
            self.blocks = self.mags = None


def first_pass(read, sr, mag16, chunk_seconds=CHUNK_SECONDS, margin_seconds=MARGIN_SECONDS,
               cache_bytes=None):
    """The whole track's maximum 16 kHz magnitude, keeping what the second pass needs.

    Each window's magnitude is computed in a worker thread while the next
    window is decoded (libsndfile, soxr and the FFT release the GIL).

    Parameters
    ----------
    read : callable
    sr : int
    mag16 : callable
        ``mag16(samples, sr) -> numpy.ndarray (513, frames16)``.
    chunk_seconds, margin_seconds : float
    cache_bytes : int or None
        Budget for the kept audio plus magnitudes; :data:`CACHE_BYTES` when
        None, 0 to keep nothing.

    Returns
    -------
    FirstPass
        ``peak`` (1.0 for silence); ``audio`` and ``mags`` when they fitted.
    """
    from concurrent.futures import ThreadPoolExecutor

    kept = _Kept(read, CACHE_BYTES if cache_bytes is None else cache_bytes)
    with ThreadPoolExecutor(1, thread_name_prefix="unetvocalsep-firstpass") as pool:
        pending = collections.deque()
        for w in windows(kept.read, sr, chunk_seconds, margin_seconds):
            pending.append(pool.submit(mag16, w.samples, sr))
            while len(pending) > 1:
                kept.add(pending.popleft().result())
        while pending:
            kept.add(pending.popleft().result())
    audio = None
    if kept.blocks is not None:
        # kept as decoded, not concatenated: a second full copy would be made
        # just when the second pass starts (64 MB for 3 minutes of stereo)
        audio = [b for b in kept.blocks if b.shape[1]] or None
    return FirstPass(kept.peak if kept.peak > 0 else 1.0, audio,
                     kept.mags if audio is not None else None)


def prefetched(items, work, enabled=True):
    """Yield ``(item, get_result)``, with ``work(item)`` running one item ahead in a thread.

    While the caller handles item ``k``, ``work`` runs on item ``k + 1``; at
    most two items are in flight. If the caller stops early, the pending work
    is cancelled.

    Parameters
    ----------
    items : iterable
    work : callable
    enabled : bool
        ``False``: ``work`` runs in the caller's thread when ``get_result`` is called.

    Yields
    ------
    (object, callable)
    """
    if not enabled:
        for item in items:
            yield item, (lambda item=item: work(item))
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="unetvocalsep-network") as pool:
        inflight = collections.deque()   # (item, future), at most two
        try:
            for item in items:
                inflight.append((item, pool.submit(work, item)))
                if len(inflight) > 1:
                    item0, future = inflight.popleft()
                    yield item0, future.result
            while inflight:
                item0, future = inflight.popleft()
                yield item0, future.result
        finally:
            for _, future in inflight:   # the caller stopped early
                future.cancel()


def crossfade(separated, sr, chunk_seconds=CHUNK_SECONDS, crossfade_seconds=CROSSFADE_SECONDS,
              progress=None):
    """Join separated windows into consecutive output blocks with linear cross-fades.

    Neighbouring windows' vocals are cross-faded over ``2 * crossfade``
    seconds in the middle of their overlap, around each chunk boundary
    ``k * chunk``. The accompaniment of each output block is the input minus
    the joined vocals, so the stems sum to the input exactly and no
    whole-window accompaniment is held.

    Parameters
    ----------
    separated : iterable of (Window, numpy.ndarray)
        Each window with its vocals (same shape as its samples).
    sr : int
    chunk_seconds, crossfade_seconds : float
    progress : object with ``update(seconds)``, or None

    Yields
    ------
    vocals, accompaniment : numpy.ndarray, shape (channels, n), float32
        Consecutive blocks; together they cover the whole input.
    """
    c = int(round(chunk_seconds * sr))
    f = int(round(crossfade_seconds * sr))
    prev = None   # vocals of the previous window over [k*c - f, k*c + f)
    for w, v in separated:
        ws, k = w.start, w.index
        we = ws + w.samples.shape[1]
        out_start = k * c - f if k else 0
        if prev is not None:
            n = prev.shape[1]
            lo = out_start - ws
            ramp = (np.arange(n, dtype=np.float32) + 0.5) / np.float32(2 * f)
            vj = prev * (1 - ramp) + v[:, lo:lo + n] * ramp
            yield vj, w.samples[:, lo:lo + n] - vj
            out_start += n
        end = we if w.is_last else (k + 1) * c - f
        vb = v[:, out_start - ws:end - ws]
        yield vb, w.samples[:, out_start - ws:end - ws] - vb
        if not w.is_last:
            prev = v[:, end - ws:min((k + 1) * c + f, we) - ws]
        if progress is not None:
            progress.update((end - (k * c - f if k else 0)) / sr)


def array_reader(x):
    """A reader over an in-memory array.

    Parameters
    ----------
    x : numpy.ndarray, shape (channels, samples)

    Returns
    -------
    callable
        ``read(n)``: the next ``n`` samples (views of ``x``).
    """
    pos = [0]

    def read(n):
        block = x[:, pos[0]:pos[0] + n]
        pos[0] += block.shape[1]
        return block
    return read


def blocks_reader(blocks):
    """A reader over a list of ``(channels, n)`` blocks, which it empties as it reads.

    Each block is dropped from ``blocks`` once it has been read, so the kept
    audio of :func:`first_pass` is freed during the second pass.

    Parameters
    ----------
    blocks : list of numpy.ndarray, shapes (channels, n_i)

    Returns
    -------
    callable
        ``read(n)``: the next ``n`` samples (a view when they lie in one block).

    Examples
    --------
    >>> import numpy as np
    >>> read = blocks_reader([np.zeros((2, 3)), np.ones((2, 4))])
    >>> read(5).tolist()[0], read(5).shape, read(5).shape
    ([0.0, 0.0, 0.0, 1.0, 1.0], (2, 2), (2, 0))
    """
    queue = collections.deque(blocks)
    blocks.clear()
    pos = [0]
    channels = queue[0].shape[0] if queue else 1
    dtype = queue[0].dtype if queue else np.float32

    def read(n):
        parts, need = [], n
        while need > 0 and queue:
            head = queue[0]
            part = head[:, pos[0]:pos[0] + need]
            parts.append(part)
            need -= part.shape[1]
            pos[0] += part.shape[1]
            if pos[0] >= head.shape[1]:
                queue.popleft()
                pos[0] = 0
        if not parts:
            return np.zeros((channels, 0), dtype)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    return read


def mono_reader(read):
    """A reader that mixes each block of ``read`` down to one channel."""
    return lambda n: to_mono(read(n))


def resampled_reader(read, sr_in, sr_out, channels):
    """A reader resampled with soxr's streaming resampler (identical to one-shot resampling).

    Parameters
    ----------
    read : callable
    sr_in, sr_out : int
    channels : int

    Returns
    -------
    callable
    """
    import soxr

    rs = soxr.ResampleStream(sr_in, sr_out, channels, dtype="float32", quality="HQ")
    done = [False]

    def read_out(n):
        out = np.zeros((channels, 0), dtype=np.float32)
        while out.shape[1] == 0 and not done[0]:
            block = read(max(1, int(n * sr_in / sr_out)))
            last = block.shape[1] == 0
            y = rs.resample_chunk(np.ascontiguousarray(block.T), last=last)
            done[0] = last
            out = np.ascontiguousarray(np.asarray(y, dtype=np.float32).reshape(-1, channels).T)
        return out
    return read_out


def open_excerpt(path, first, n_in, mono, sr, channels, before=None, after=None, stage=None):
    """Open ``path`` for one pass over its excerpt ``[first, first + n_in)`` samples.

    Parameters
    ----------
    path : str
    first, n_in : int
        Start and length of the excerpt, in the file's samples.
    mono : bool
        Mix the blocks down to one channel.
    sr : int
        Rate of the blocks returned (the file's own, or resampled to it).
    channels : int
        Channels of the blocks returned (after ``mono``).
    before : callable or None
        ``before()`` before each read (a cancel check may raise there).
    after : callable or None
        ``after(n)`` with the samples each read decoded (file samples).
    stage : callable or None
        ``stage()`` gives the context manager the decoding runs in (timing).

    Returns
    -------
    reader : unetvocalsep.audio.AudioReader
        Close it when done (a context manager).
    read : callable
        ``read(n) -> numpy.ndarray, shape (channels, m)``, ``m == 0`` at the end.
    """
    import contextlib

    reader = AudioReader(path)
    sr_in = reader.sr
    if first:
        reader.seek(first)
    left = [n_in]

    def read(n):   # the excerpt only
        if before is not None:
            before()
        with (stage() if stage is not None else contextlib.nullcontext()):
            y = reader.read(min(n, left[0])) if left[0] > 0 else reader.read(0)[:, :0]
        left[0] -= y.shape[1]
        if after is not None:
            after(y.shape[1])
        return y

    if mono:
        read = mono_reader(read)
    if sr != sr_in:
        read = resampled_reader(read, sr_in, sr, channels)
    return reader, read
