"""The fast wing: faster CPU kernels for the same network, none needed to read the article's code.

Separation (test mode, chosen once at load time by :mod:`unetvocalsep.backends`):

- :mod:`~unetvocalsep.fast.inference` -- the NumPy plan: BatchNorm folded, copy-free forward pass;
- :mod:`~unetvocalsep.fast.ortbackend` -- the same network as an ONNX graph, run by onnxruntime.

Training (chosen once when training starts on the CPU):

- :mod:`~unetvocalsep.fast.fastunet` -- :class:`~unetvocalsep.fast.fastunet.FastUNet`,
  the article's links on the kernels below;
- :mod:`~unetvocalsep.fast.fastconv`, :mod:`~unetvocalsep.fast.convlayout` -- the
  4x4 stride-2 (de)convolutions as GEMMs;
- :mod:`~unetvocalsep.fast.fastnorm` -- BatchNormalization fused with its activation;
- :mod:`~unetvocalsep.fast.allocator` -- glibc malloc settings for large arrays.

Both: :mod:`~unetvocalsep.fast.fastpath` (the switches and the one function that
reads the environment) and :mod:`~unetvocalsep.fast.blas` (BLAS threads).
Every kernel is checked against chainer's own links in the tests.
"""
