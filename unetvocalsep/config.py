"""The article's constants, in one place.

Every value here comes from the 2017 Chainer write-up of Jansson et al.
(ISMIR 2017) and is used as the default everywhere in the package.
"""

#: Sample rate the network works at (Hz). Input audio is resampled to this.
SR = 16000
#: FFT size and Hann window length (samples at :data:`SR`).
N_FFT = 1024
#: Window length (samples); the article uses ``win_length == n_fft``.
WIN_LENGTH = 1024
#: Hop size (samples at :data:`SR`).
HOP = 512
#: Number of frames in one training patch (128 frames = 4.1 s).
PATCH = 128
#: Training batch size.
BATCH = 64
#: Number of frequency bins the network sees (bins 1..512; DC is dropped).
N_BINS = N_FFT // 2
#: The U-Net has six stride-2 layers, so the time axis must be a multiple of 2**6.
TIME_MULTIPLE = 64
#: Ratio used by the optional hard mask (mask > 0.5 -> 1, else 0).
HARD_MASK_THRESHOLD = 0.5
#: Name of the two stems written by the separator.
STEMS = ("vocals", "accompaniment")
