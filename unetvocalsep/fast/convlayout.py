"""Memory layouts and copy kernels of the fast 4x4 / stride-2 (de)convolutions.

The primitives :mod:`unetvocalsep.fast.fastconv` builds its training kernels from.
A "matrix" here is a 2-D view of shape ``(M, K)`` whose rows are the pixels
``(n, i, j)`` of one image grid: in layout ``"cl"`` (channels-last) it is
C-ordered, ``K`` contiguous; in layout ``"cf"`` (channel-major) it is the
transpose of a C-ordered ``(K, M)`` array, ``M`` contiguous.  On top of that:
the space-to-depth im2col of a 4x4 / stride-2 / pad-1 convolution and its
transpose (col2im), the weight matrices in the matching row order, and a GEMM
+ col2im in cache-sized batch chunks.  docs/FASTCONV.md explains the layout
and gives the measurements.

Examples
--------
>>> import numpy as np
>>> x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
>>> m = _to_matrix(x, "cf")
>>> m.shape, bool(np.array_equal(_from_matrix(m, x.shape, "cf"), x))
((32, 3), True)
>>> _im2col(x, "cl").shape        # (N * H/2 * W/2, 16 * C)
(8, 48)
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided


def _mm(a, b, layout):
    """``a @ b`` for an ``(M, K)`` matrix ``a``, returned in ``layout``.

    Parameters
    ----------
    a : ndarray, shape (M, K)
    b : ndarray, shape (K, P)
    layout : {"cl", "cf"}

    Returns
    -------
    ndarray, shape (M, P); C-ordered for "cl", F-ordered for "cf".
    """
    if layout == "cf":
        return np.matmul(b.T, a.T).T
    return np.matmul(a, b)


def _empty_matrix(m, k, dtype, layout):
    """Uninitialised ``(M, K)`` matrix in ``layout`` (F-ordered for "cf")."""
    return np.empty((m, k), dtype) if layout == "cl" else np.empty((k, m), dtype).T


def _mm_into(a, b, out, layout):
    """``out[...] = a @ b`` for an ``out`` view in ``layout`` (as :func:`_mm`)."""
    if layout == "cf":
        np.matmul(b.T, a.T, out=out.T)
    else:
        np.matmul(a, b, out=out)


def _to_matrix(x, layout):
    """NCHW array -> ``(N*H*W, C)`` matrix in ``layout`` (copy only if needed).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), any strides
    layout : {"cl", "cf"}

    Returns
    -------
    ndarray, shape (N*H*W, C)
    """
    n, c, h, w = x.shape
    if layout == "cf":
        return np.ascontiguousarray(x.transpose(1, 0, 2, 3)).reshape(c, n * h * w).T
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(n * h * w, c)


def _from_matrix(m, shape, layout):
    """``(N*H*W, C)`` matrix in ``layout`` -> NCHW view (no copy).

    Parameters
    ----------
    m : ndarray, shape (N*H*W, C)
    shape : tuple (N, C, H, W)
    layout : {"cl", "cf"}

    Returns
    -------
    ndarray, shape (N, C, H, W), a view of ``m``
    """
    n, c, h, w = shape
    if layout == "cf":
        return m.T.reshape(c, n, h, w).transpose(1, 0, 2, 3)
    return m.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def _empty_nhwc(shape, layout, dtype):
    """Uninitialised canonical ``(N, H, W, *rest, C)`` array in ``layout``.

    ``cl`` stores it in that order; ``cf`` stores the trailing channel-like
    axes ``(*rest, C)`` first and ``(N, H, W)`` last.
    """
    ndim = len(shape)
    if layout == "cl":
        return np.empty(shape, dtype)
    perm = tuple(range(3, ndim)) + (0, 1, 2)
    mem = np.empty([shape[p] for p in perm], dtype)
    return mem.transpose(np.argsort(perm))


def _transpose2d(a, block=64):
    """C-ordered copy of the transpose of a 2-D array, in row blocks.

    A blocked copy keeps both sides in cache: measured 2.1 ms against 5.4 ms
    for ``numpy.ascontiguousarray(a.T)`` on a (512, 4096) float32 array.
    """
    m = a.shape[0]
    out = np.empty(a.shape[::-1], a.dtype)
    for i in range(0, m, block):
        out[:, i:i + block] = a[i:i + block].T
    return out


def _tap_order():
    """Kernel taps ``ki * 4 + kj`` in the (a, b, p, q) order of the weight matrices."""
    return [(2 * a + p) * 4 + 2 * b + q
            for a in (0, 1) for b in (0, 1) for p in (0, 1) for q in (0, 1)]


_TAPS = _tap_order()


def _weight_matrix(W):
    """Conv weight ``(O, C, 4, 4)`` -> ``(16 C, O)``, rows ordered (a, b, p, q, c).

    Tap ``(ki, kj) = (2a + p, 2b + q)``. One blocked 2-D transpose, then 16
    copies of contiguous ``(C, O)`` blocks (a 6-D permutation in one call was
    4-8x slower for the 512-channel layers).
    """
    o, c = W.shape[:2]
    t = _transpose2d(W.reshape(o, c * 16)).reshape(c, 16, o)
    out = np.empty((16, c, o), W.dtype)
    for k, tap in enumerate(_TAPS):
        out[k] = t[:, tap, :]
    return out.reshape(16 * c, o)


def _weight_from_matrix(Wm, o, c):
    """Inverse of :func:`_weight_matrix`: ``(16 C, O)`` -> ``(O, C, 4, 4)``."""
    blocks = Wm.reshape(16, c, o)
    t = np.empty((c, 16, o), Wm.dtype)
    for k, tap in enumerate(_TAPS):
        t[:, tap, :] = blocks[k]
    return _transpose2d(t.reshape(c * 16, o)).reshape(o, c, 4, 4)


def _im2col(x, layout):
    """im2col of the 4x4 / stride-2 / pad-1 convolution, space-to-depth order.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), H and W even, any strides
    layout : {"cl", "cf"}

    Returns
    -------
    ndarray, shape (N*H/2*W/2, 16*C)
        Row ``(n, i, j)``, column ``(a, b, p, q, c)`` holds
        ``xpad[n, c, 2i + 2a + p, 2j + 2b + q]``.
    """
    n, c, h, w = x.shape
    ho, wo = h // 2, w // 2
    xt = x.transpose(0, 2, 3, 1)  # canonical (N, H, W, C)
    # space-to-depth: s[n, I, J, p, q, c] = xpad[n, c, 2I + p, 2J + q]
    s = _empty_nhwc((n, ho + 1, wo + 1, 2, 2, c), layout, x.dtype)
    # padded row 2I + p is input row 2I + p - 1: p = 0 -> odd rows at I >= 1,
    # p = 1 -> even rows at I < ho. Same for columns.
    def phase(ph, size):  # (destination slice in s, source slice in x)
        return (slice(1, None), slice(1, None, 2)) if ph == 0 else (
            slice(0, size), slice(0, None, 2))

    for p in (0, 1):
        di, si = phase(p, ho)
        for q in (0, 1):
            dj, sj = phase(q, wo)
            s[:, di, dj, p, q, :] = xt[:, si, sj, :]
    s[:, 0, :, 0, :, :] = 0
    s[:, ho, :, 1, :, :] = 0
    s[:, :, 0, :, 0, :] = 0
    s[:, :, wo, :, 1, :] = 0
    sn, si, sj, sp, sq, sc = s.strides
    view = as_strided(s, shape=(n, ho, wo, 2, 2, 2, 2, c),
                      strides=(sn, si, sj, si, sj, sp, sq, sc), writeable=False)
    col = _empty_nhwc((n, ho, wo, 2, 2, 2, 2, c), layout, x.dtype)
    col[...] = view
    m, k = n * ho * wo, 16 * c
    if layout == "cf":
        return col.transpose(3, 4, 5, 6, 7, 0, 1, 2).reshape(k, m).T
    return col.reshape(m, k)


# For output phase p (output row 2k + 1 - p) and tap a, the contributing
# input row is i = k + d with d = (1 - p) - a; valid for 0 <= k, k + d < size.
def _shift_slices(d, size):
    if d == 0:
        return slice(0, size), slice(0, size)
    if d == 1:
        return slice(0, size - 1), slice(1, size)
    return slice(1, size), slice(0, size - 1)


def _col2im(gcol, shape, layout, bias=None, out=None):
    """Transpose of :func:`_im2col`: scatter-add a column matrix into an image.

    Parameters
    ----------
    gcol : ndarray, shape (N*Ho*Wo, 16*C), in ``layout``
    shape : tuple (N, C, 2*Ho, 2*Wo)
        Shape of the result.
    layout : {"cl", "cf"}
    bias : ndarray, shape (C,), optional
        Added to every output pixel.
    out : ndarray, shape (N, 2*Ho, 2*Wo, C), optional
        Where to write, in canonical NHWC order (e.g. a batch slice of a
        larger buffer from :func:`_empty_nhwc`); a new buffer by default.

    Returns
    -------
    ndarray, shape (N, C, 2*Ho, 2*Wo)
        NCHW view of a channels-last (``cl``) or channel-major (``cf``)
        buffer.
    """
    n, c, h, w = shape
    ho, wo = h // 2, w // 2
    if layout == "cf":
        g = gcol.T.reshape(2, 2, 2, 2, c, n, ho, wo).transpose(5, 6, 7, 0, 1, 2, 3, 4)
    else:
        g = gcol.reshape(n, ho, wo, 2, 2, 2, 2, c)
    if out is None:
        out = _empty_nhwc((n, h, w, c), layout, gcol.dtype)
    # channel-major: sum each output phase in a contiguous buffer, then one
    # strided copy (measured 1.3-2x faster than four strided adds per phase);
    # channels-last: the strided destination is already in runs of C
    acc = _empty_nhwc((n, ho, wo, c), layout, gcol.dtype) if layout == "cf" else None
    for p in (0, 1):
        for q in (0, 1):
            # output rows 2k + 1 - p, columns 2l + 1 - q
            dst = out[:, 1 - p::2, 1 - q::2, :]
            tgt = dst if acc is None else acc
            if bias is None:
                np.copyto(tgt, g[:, :, :, 1 - p, 1 - q, p, q, :])
            else:
                np.add(g[:, :, :, 1 - p, 1 - q, p, q, :], bias, out=tgt)
            for a, b in ((p, 1 - q), (1 - p, q), (p, q)):
                # tap (a, b): (a, b) = (1 - p, 1 - q) is the unshifted one
                ko, ki = _shift_slices((1 - p) - a, ho)
                lo, li = _shift_slices((1 - q) - b, wo)
                tgt[:, ko, lo, :] += g[:, ki, li, a, b, p, q, :]
            if acc is not None:
                dst[...] = acc
    return out.transpose(0, 3, 1, 2)


#: A GEMM + col2im is done in batch chunks of about this many input pixels
#: when an image has at least half as many: the column matrix of one chunk
#: stays in cache (measured: deconv5 at batch 16 44 -> 40 ms, at batch 64
#: 199 -> 149 ms; deconv4 28 -> 23 ms; smaller images are slower chunked).
_CHUNK_PIXELS = 2048


def _batch_chunks(n, pixels):
    """Batch chunks for images of ``pixels`` pixels: ``(samples, rows)`` slice pairs.

    One chunk of the whole batch when an image has fewer than half of
    :data:`_CHUNK_PIXELS`; otherwise chunks of about that many pixels (at
    least one image each). ``rows`` indexes the chunk's rows of an
    ``(N * pixels, K)`` matrix.

    Examples
    --------
    >>> [(s.start, s.stop, r.start, r.stop) for s, r in _batch_chunks(3, 1024)]
    [(0, 2, 0, 2048), (2, 3, 2048, 3072)]
    >>> len(list(_batch_chunks(16, 256)))
    1
    """
    per = n if 2 * pixels < _CHUNK_PIXELS else max(1, _CHUNK_PIXELS // pixels)
    for n0 in range(0, n, per):
        n1 = min(n, n0 + per)
        yield slice(n0, n1), slice(n0 * pixels, n1 * pixels)


def _matmul_col2im(a, b, shape, layout, bias=None):
    """``_col2im(_mm(a, b, layout), shape, layout, bias)``, in batch chunks.

    Parameters
    ----------
    a : ndarray, shape (N*Ho*Wo, K), in ``layout``
    b : ndarray, shape (K, 16*C)
    shape : tuple (N, C, 2*Ho, 2*Wo)
    layout : {"cl", "cf"}
    bias : ndarray, shape (C,), optional

    Returns
    -------
    ndarray, shape (N, C, 2*Ho, 2*Wo)
    """
    n, c, h, w = shape
    chunks = list(_batch_chunks(n, (h // 2) * (w // 2)))
    if len(chunks) == 1:
        return _col2im(_mm(a, b, layout), shape, layout, bias)
    out = _empty_nhwc((n, h, w, c), layout, a.dtype)
    for samples, rows in chunks:
        _col2im(_mm(a[rows], b, layout), (samples.stop - samples.start, c, h, w), layout,
                bias, out=out[samples])
    return out.transpose(0, 3, 1, 2)


def _bias_grad(gy2):
    return gy2.sum(axis=0)
