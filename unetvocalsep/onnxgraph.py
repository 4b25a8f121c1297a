"""The test-mode U-Net as an ONNX graph, built with ``onnx.helper`` from the npz arrays.

chainer's own exporter (``onnx_chainer``) needs ``onnx<1.7`` and cannot be
imported with a current onnx, so the graph is written directly from the same
parameters the NumPy plan uses (:mod:`unetvocalsep.inference`):
BatchNormalization folded into the (de)convolutions, dropout gone (test mode),
and the skips concatenated in the article's order ``(decoder, encoder)``.

The graph has one input and one output (docs/ONNX.md):

* ``magnitude``: float32, shape ``(batch, 1, 512, frames)``, the mixture's
  16 kHz magnitude bins 1..512 divided by the track's maximum; ``frames`` a
  multiple of 64 (both axes are dynamic);
* ``mask``: float32, the same shape, the sigmoid vocal mask in (0, 1).

Only standard operators of opset 13 are used (Conv, ConvTranspose,
LeakyRelu, Relu, Concat, Sigmoid), so onnxruntime on any platform,
onnxruntime-web and other runtimes can run it.

Examples
--------
>>> from unetvocalsep.model_io import load_params
>>> params, cfg = load_params()
>>> model = build_model(params)
>>> [i.name for i in model.graph.input], [o.name for o in model.graph.output]
(['magnitude'], ['mask'])
>>> len(model.graph.node)
29
"""

from . import constants
from .inference import LEAKY_SLOPE, folded_layers

__all__ = ["build_model", "INPUT_NAME", "OUTPUT_NAME", "OPSET"]

INPUT_NAME = "magnitude"
OUTPUT_NAME = "mask"
#: ONNX opset of the graph (every operator it uses is unchanged since 13).
OPSET = 13
#: IR version written into the file: 7 is what onnxruntime 1.6+ and
#: onnxruntime-web read, and opset 13 needs no newer one.
IR_VERSION = 7


def build_model(params, eps=None, producer_version=None, check=True):
    """The ONNX ``ModelProto`` of the test-mode network.

    Parameters
    ----------
    params : mapping of str -> numpy.ndarray
        As for :func:`unetvocalsep.inference.folded_layers` (from
        :func:`unetvocalsep.model_io.load_params`).
    eps : dict or None
        BatchNormalization name -> eps.
    producer_version : str or None
        Written into the file's metadata (default: the package version).
    check : bool
        Run ``onnx.checker.check_model`` on the result.

    Returns
    -------
    onnx.ModelProto
        Input ``magnitude`` and output ``mask``, both float32
        ``(batch, 1, 512, frames)`` with ``batch`` and ``frames`` dynamic.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    conv_attrs = dict(kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
    layers = {name: (W, b) for name, W, b in folded_layers(params, eps)}

    def layer(op, name, x, out):
        W, b = layers[name]
        inits.append(numpy_helper.from_array(W, name + "/W"))
        inits.append(numpy_helper.from_array(b, name + "/b"))
        nodes.append(helper.make_node(op, [x, name + "/W", name + "/b"], [out],
                                      name=name, **conv_attrs))

    x = INPUT_NAME
    skips = []
    for i in range(1, 7):
        layer("Conv", "conv%d" % i, x, "conv%d_out" % i)
        x = "h%d" % i
        nodes.append(helper.make_node("LeakyRelu", ["conv%d_out" % i], [x],
                                      alpha=LEAKY_SLOPE, name="lrelu%d" % i))
        skips.append(x)
    for i in range(1, 7):
        if i > 1:   # F.concat((dh, h_{7-i})): decoder channels first
            cat = "cat%d" % i
            nodes.append(helper.make_node("Concat", [x, skips[6 - i]], [cat], axis=1,
                                          name=cat))
            x = cat
        out = "deconv%d_out" % i
        layer("ConvTranspose", "deconv%d" % i, x, out)
        if i < 6:
            x = "dh%d" % i
            nodes.append(helper.make_node("Relu", [out], [x], name="relu%d" % i))
        else:
            nodes.append(helper.make_node("Sigmoid", [out], [OUTPUT_NAME], name="sigmoid"))

    shape = ["batch", 1, constants.N_BINS, "frames"]
    graph = helper.make_graph(
        nodes, "unetvocalsep_unet",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, shape)],
        initializer=inits)
    if producer_version is None:
        from . import __version__ as producer_version
    model = helper.make_model(graph, producer_name="unetvocalsep",
                              producer_version=str(producer_version),
                              opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    model.doc_string = ("Jansson et al. (ISMIR 2017) U-Net vocal mask, test mode, "
                        "BatchNorm folded. Input: 16 kHz magnitude bins 1..512 of a "
                        "1024/512 Hann STFT divided by the track's maximum, frames a "
                        "multiple of 64. Output: vocal mask in (0, 1).")
    if check:
        onnx.checker.check_model(model)
    return model
