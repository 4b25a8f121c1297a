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
#: Encoder channel progression of the UNet (input 1 channel, six stride-2 convolutions).
ENCODER_CHANNELS = (1, 16, 32, 64, 128, 256, 512)
#: (in, out) channels of the UNet's six deconvolutions; from the 2nd on the input
#: is the concatenation of the previous decoder output and the encoder skip.
DECODER_CHANNELS = ((512, 256), (512, 128), (256, 64), (128, 32), (64, 16), (32, 1))
#: eps of the UNet's BatchNormalization links (chainer's default).
BN_EPS = 2e-5


def parameter_shapes():
    """Names and shapes of every array ``serializers.save_npz(path, unet)`` writes.

    Returns
    -------
    dict
        ``'conv1/W' -> (16, 1, 4, 4)``, ``'norm1/avg_mean' -> (16,)``,
        ``'norm1/N' -> ()``, ...; parameters and BatchNormalization statistics.
    """
    shapes = {}
    for i in range(6):
        cin, cout = ENCODER_CHANNELS[i], ENCODER_CHANNELS[i + 1]
        shapes["conv%d/W" % (i + 1)] = (cout, cin, 4, 4)
        shapes["conv%d/b" % (i + 1)] = (cout,)
        for k in ("gamma", "beta", "avg_mean", "avg_var"):
            shapes["norm%d/%s" % (i + 1, k)] = (cout,)
        shapes["norm%d/N" % (i + 1)] = ()
    for i, (cin, cout) in enumerate(DECODER_CHANNELS):
        shapes["deconv%d/W" % (i + 1)] = (cin, cout, 4, 4)
        shapes["deconv%d/b" % (i + 1)] = (cout,)
        if i < 5:
            for k in ("gamma", "beta", "avg_mean", "avg_var"):
                shapes["denorm%d/%s" % (i + 1, k)] = (cout,)
            shapes["denorm%d/N" % (i + 1)] = ()
    return shapes
