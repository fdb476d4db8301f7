"""Layer-wise relevance propagation in the replay: a backward pass that carries relevance.

In place of guided backpropagation's ``guided=True``, the model adapter takes a
:class:`Rules`. The replay of the model (``_graph.graph_forward``, or ``_capture`` for a
subclassed model) then computes every layer as usual, but wraps it in a
``tf.custom_gradient`` whose backward pass maps the relevance of the layer's output to the
relevance of its input by the layer's rule; the score's own gradient is turned into the
relevance ``y * d score / d y`` of the scored layer (:func:`start_relevance`). One backward
pass gives the input relevance. The model is never changed.

Linear layers (Dense, Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D as a depthwise
then a pointwise layer) take their rule from :class:`Rules`; a BatchNormalization right
after a linear layer with no activation is folded into it; average pooling, Add, Average,
Subtract and other BatchNormalizations split the relevance in proportion to their inputs'
contributions (the epsilon rule on their own weights); ReLUs, rescaling and dropout pass
it on unchanged; reshaping, max pooling and concatenation route it as their gradient does.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from ._lrp_spec import RULES, Rule, Rules

#: Activations (fused or as layers) through which relevance passes unchanged.
PASSING_ACTIVATIONS = ("relu", "relu6", "linear")

_LINEAR = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
           keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
           keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)


def _layers(*names):
    return tuple(getattr(keras.layers, n) for n in names if hasattr(keras.layers, n))


# Relevance passes unchanged (elementwise layers); bounds are carried through the first four.
_PASS = _layers("InputLayer", "Rescaling", "Normalization", "Identity", "Dropout",
                "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
                "GaussianNoise", "AlphaDropout", "ActivityRegularization", "ReLU")
_CARRY_BOUNDS = _layers("InputLayer", "Rescaling", "Normalization", "Identity", "Dropout",
                        "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
                        "GaussianDropout", "GaussianNoise", "AlphaDropout",
                        "ActivityRegularization", "Flatten", "Reshape", "Permute",
                        "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
                        "Cropping1D", "Cropping2D", "Cropping3D")
# Relevance routed as the gradient routes it (reshaping, winner-takes-all, concatenation).
_GRADIENT = _layers("Flatten", "Reshape", "Permute", "RepeatVector",
                    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
                    "Cropping1D", "Cropping2D", "Cropping3D",
                    "UpSampling1D", "UpSampling2D", "UpSampling3D",
                    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
                    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
                    "Concatenate")
# Relevance split in proportion to the contributions (linear layers without parameters).
_SPLIT = _layers("AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
                 "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
                 "Add", "Average", "Subtract")

def _activation_name(layer) -> str | None:
    activation = getattr(layer, "activation", None)
    return None if activation is None else getattr(activation, "__name__", repr(activation))


def unsupported_reason(layer, pre_activation: bool = False) -> str | None:
    """Why LRP cannot propagate through ``layer`` (None: it can).

    ``pre_activation``: the layer is scored before its activation (the logits).
    """
    if isinstance(layer, _LINEAR):
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            return "channels_first"
        if getattr(layer, "quantization_mode", None):
            return f"quantized ({layer.quantization_mode})"
        name = _activation_name(layer)
        if not pre_activation and name not in (*PASSING_ACTIVATIONS, None):
            return f"activation {name!r}"
        return None
    if isinstance(layer, keras.layers.Activation):
        name = _activation_name(layer)
        return None if name in PASSING_ACTIVATIONS else f"activation {name!r}"
    if isinstance(layer, _layers("UpSampling1D", "UpSampling2D", "UpSampling3D")):
        interpolation = getattr(layer, "interpolation", "nearest")
        return None if interpolation == "nearest" else f"interpolation {interpolation!r}"
    if isinstance(layer, (*_PASS, *_GRADIENT, *_SPLIT, keras.layers.BatchNormalization)):
        return None
    return "not supported"


def _flat(structure) -> list:
    if isinstance(structure, dict):
        structure = list(structure.values())
    if isinstance(structure, (list, tuple)):
        return [t for item in structure for t in _flat(item)]
    return [structure]


def _is_model_input(tensor) -> bool:
    """True for the model input: a probe's KerasTensor, or a traced placeholder."""
    op = getattr(tensor, "op", None)
    if op is None:
        return True  # a replayed graph's symbolic input (every other tensor has a producer)
    while op.type in ("Identity", "Cast") and op.inputs:
        op = op.inputs[0].op
    return op.type == "Placeholder"


def unsupported_layers(graph, reduction) -> list[str]:
    """``"name (Class: reason)"`` of each layer on the path to the score LRP cannot pass."""
    from ._capture import sublayers

    found: dict[str, str] = {}
    seen: set[int] = set()
    if reduction.call is not None:
        pending = [(reduction.call, reduction.pre_activation)]
    else:
        pending, scored = [], graph._scored_tensor(reduction)
        producer = graph.producer(scored)
        if producer is not None:
            pending.append((producer, False))
        elif not _is_model_input(scored):
            found["op"] = (f"operation {scored.op.type!r} in the model's call (outside any "
                           "layer)")
    while pending:
        call, logits = pending.pop()
        if id(call) in seen:
            continue
        seen.add(id(call))
        reason = unsupported_reason(call.layer, logits)
        if reason is None and sublayers(call.layer) and not is_graph_container(call.layer):
            reason = "a layer of layers that computes outside them"
        if reason is not None:  # named, and the path below it followed for others
            found.setdefault(call.path, f"{graph.name(call)} ({type(call.layer).__name__}: "
                                        f"{reason})")
        for tensor in _flat(call.inputs):
            if not hasattr(tensor, "shape"):
                continue
            producer = graph.producer(tensor)
            if producer is not None:
                pending.append((producer, False))
            elif not _is_model_input(tensor):
                op = getattr(tensor, "op", None)
                found.setdefault(f"op:{id(tensor)}", (
                    f"operation {getattr(op, 'type', '?')!r} before {graph.name(call)} "
                    "(in the model's call, outside any layer)"))
    return list(found.values())


def is_graph_container(layer) -> bool:
    """A Sequential or Functional model (whose layers are reached one by one)."""
    from ._graph import is_graph_model

    return is_graph_model(layer)


def start_relevance(y):
    """The identity whose backward pass turns ``d score / d y`` into ``y * d score / d y``."""

    @tf.custom_gradient
    def start(y):
        return tf.identity(y), lambda g: g * tf.cast(y, g.dtype)

    return start(y)


def _wrap(inputs: list, value, backward):
    """``value``, whose backward pass gives ``inputs`` the relevance ``backward(inputs, R)``.

    ``value`` is computed from ``inputs`` outside; the gradient it would carry along that
    computation is cut (``None``), so only ``backward`` reaches the inputs.
    """

    @tf.custom_gradient
    def op(*tensors):
        ins = list(tensors[:-1])

        def grad(relevance):
            return (*backward(ins, relevance), None)

        return tf.identity(tensors[-1]), grad

    return op(*inputs, value)


def _divide(relevance, z, epsilon: float):
    """``R / (z + ε sign(z))`` with sign(0) = +1; for ε = 0, 0 where ``z == 0``."""
    if epsilon > 0:
        return relevance / (z + epsilon * tf.where(z >= 0, 1.0, -1.0))
    zero = tf.equal(z, 0.0)
    return tf.where(zero, 0.0, relevance / tf.where(zero, 1.0, z))


def _transpose(op, x, kernel, s):
    """``d <op(x, kernel), s> / d x``: the transposed linear map applied to ``s``."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = op(x, kernel)
    return tape.gradient(z, x, output_gradients=s)


def _positive(t):
    return tf.nn.relu(t)


def _negative(t):
    return -tf.nn.relu(-t)


def linear_relevance(rule: Rule, op, x, kernel, bias, relevance, low=None, high=None):
    """The relevance of the input ``x`` of ``z = op(x, kernel) + bias`` by ``rule``."""
    x = tf.cast(x, tf.float32)
    kernel = tf.cast(kernel, tf.float32)
    relevance = tf.cast(relevance, tf.float32)
    bias = None if bias is None else tf.cast(bias, tf.float32)
    name, eps = rule.name, rule.epsilon
    if name in ("epsilon", "zero", "gamma"):
        if name == "gamma":
            kernel = kernel + rule.gamma * _positive(kernel)
            bias = None if bias is None else bias + rule.gamma * _positive(bias)
        z = op(x, kernel) if bias is None else op(x, kernel) + bias
        return x * _transpose(op, x, kernel, _divide(relevance, z, eps))
    if name in ("zplus", "alpha_beta"):
        alpha, beta = (1.0, 0.0) if name == "zplus" else (rule.alpha, rule.beta)
        xp, xn = _positive(x), _negative(x)
        wp, wn = _positive(kernel), _negative(kernel)
        s = _divide(relevance, op(xp, wp) + op(xn, wn), eps)
        out = alpha * (xp * _transpose(op, xp, wp, s) + xn * _transpose(op, xn, wn, s))
        if beta:
            s = _divide(relevance, op(xp, wn) + op(xn, wp), eps)
            out -= beta * (xp * _transpose(op, xp, wn, s) + xn * _transpose(op, xn, wp, s))
        return out
    if name in ("flat", "wsquare"):
        kernel = tf.ones_like(kernel) if name == "flat" else tf.square(kernel)
        ones = tf.ones_like(x)
        return _transpose(op, ones, kernel, _divide(relevance, op(ones, kernel), eps))
    if name == "zbox":
        if low is None:
            raise ValueError("The zbox rule needs input_bounds=(low, high).")
        wp, wn = _positive(kernel), _negative(kernel)
        z = op(x, kernel) - op(low, wp) - op(high, wn)
        s = _divide(relevance, z, eps)
        return (x * _transpose(op, x, kernel, s) - low * _transpose(op, low, wp, s)
                - high * _transpose(op, high, wn, s))
    raise ValueError(f"Unknown LRP rule {name!r}; the rules: {', '.join(RULES)}.")


def _stages(layer) -> tuple[list, object]:
    """``([(op(x, kernel), kernel)], bias)``: a linear layer as linear maps, bias apart."""
    if isinstance(layer, keras.layers.Dense):
        return [(ops.matmul, layer.kernel)], layer.bias
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        def depthwise(x, k):
            return ops.depthwise_conv(x, k, strides=layer.strides, padding=layer.padding,
                                      dilation_rate=layer.dilation_rate,
                                      data_format=layer.data_format)

        def pointwise(x, k):
            return ops.conv(x, k, strides=1, padding="valid", data_format=layer.data_format)

        return ([(depthwise, layer.depthwise_kernel), (pointwise, layer.pointwise_kernel)],
                layer.bias if layer.use_bias else None)
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        def depthwise(x, k):
            return ops.depthwise_conv(x, k, strides=layer.strides, padding=layer.padding,
                                      dilation_rate=layer.dilation_rate,
                                      data_format=layer.data_format)

        return [(depthwise, layer.kernel)], layer.bias if layer.use_bias else None
    return [(layer.convolution_op, layer.kernel)], layer.bias if layer.use_bias else None


def _batchnorm_affine(layer):
    """``(scale, shift)`` of an inference BatchNormalization: ``y = scale * x + shift``."""
    scale = 1.0 / tf.sqrt(tf.cast(layer.moving_variance, tf.float32) + layer.epsilon)
    if layer.scale:
        scale = scale * tf.cast(layer.gamma, tf.float32)
    shift = -tf.cast(layer.moving_mean, tf.float32) * scale
    if layer.center:
        shift = shift + tf.cast(layer.beta, tf.float32)
    return scale, shift


class Propagation:
    """One forward pass of the replay with relevance-carrying backward passes.

    Tensors are followed by identity while the pass is traced: those still in the model's
    input space (with z^B's bounds carried along), and the outputs of linear layers (so
    that a BatchNormalization right after one is folded into it).
    """

    def __init__(self, rules: Rules, x):
        self.rules = rules
        low = high = None
        if rules.bounds is not None:
            low, high = (tf.broadcast_to(tf.constant(b), tf.shape(x))
                         for b in rules.bounds.arrays())
        self._space = {id(x): (x, low, high)}
        self._linear: dict[int, tuple] = {}

    def _input_space(self, tensor):
        entry = self._space.get(id(tensor))
        return entry if entry is not None and entry[0] is tensor else None

    def call(self, layer, args, kwargs, run=None, activation: bool = True):
        """``layer``'s output on ``args`` (``run`` computes it; default the layer itself),
        its backward pass carrying relevance. ``activation=False``: its output before its
        activation (the scored logits of a Dense/Conv layer)."""
        run = layer if run is None else run
        if unsupported_reason(layer, not activation) is not None:
            return run(*args, **kwargs)  # off the path to the score (fit checked it)
        if isinstance(layer, _LINEAR):
            return self._linear_call(layer, args, kwargs, run, activation)
        x = args[0] if args else None
        if isinstance(layer, keras.layers.BatchNormalization):
            return self._batchnorm(layer, x, kwargs, run)
        out = run(*args, **kwargs)
        space = self._input_space(x)
        if space is not None and isinstance(layer, _CARRY_BOUNDS):
            low, high = space[1:]
            if low is not None:
                low, high = run(low, **kwargs), run(high, **kwargs)
                low, high = tf.minimum(low, high), tf.maximum(low, high)
            self._space[id(out)] = (out, low, high)
        if isinstance(layer, (*_PASS, keras.layers.Activation)):
            result = _wrap([x], out, lambda ins, r: [tf.cast(r, ins[0].dtype)])
            if id(out) in self._space:
                self._space[id(result)] = (result, *self._space[id(out)][1:])
            return result
        if isinstance(layer, _SPLIT):
            return self._split(layer, args, kwargs, run, out)
        return out  # the gradient routes the relevance

    def _rule(self, layer, first: bool) -> Rule:
        if first and self.rules.first is not None:
            return self.rules.first
        return self.rules.dense if isinstance(layer, keras.layers.Dense) else self.rules.conv

    def _linear_call(self, layer, args, kwargs, run, activation):
        x = args[0]
        stages, bias = _stages(layer)
        space = self._input_space(x)
        if activation:
            out = run(*args, **kwargs)
        else:
            out = self._forward(x, stages, bias, layer.compute_dtype)
        result = self._propagate(layer, x, stages, bias, out, space)
        if activation and _activation_name(layer) in ("linear", None):
            self._linear[id(result)] = (result, layer, x)
        return result

    @staticmethod
    def _forward(x, stages, bias, dtype):
        z = ops.cast(x, dtype)
        for op, kernel in stages:
            z = op(z, kernel)
        return z if bias is None else ops.add(z, bias)

    def _propagate(self, layer, x, stages, bias, out, space):
        """``out`` (the layer's value on ``x``), the backward pass by the layer's rules."""
        first = space is not None
        low, high = space[1:] if first else (None, None)
        for i, (op, kernel) in enumerate(stages):
            last = i == len(stages) - 1
            rule = self._rule(layer, first and i == 0)
            value = out if last else op(x, kernel)

            def backward(ins, relevance, op=op, kernel=kernel, rule=rule, last=last,
                         low=low, high=high):
                r = linear_relevance(rule, op, ins[0], kernel, bias if last else None,
                                     relevance, low, high)
                return [tf.cast(r, ins[0].dtype)]

            x = _wrap([x], value, backward)
            low = high = None
        return x

    def _batchnorm(self, layer, x, kwargs, run):
        out = run(x, **kwargs)
        entry = self._linear.get(id(x))
        axis = layer.axis if layer.axis >= 0 else len(x.shape) + layer.axis
        if entry is not None and entry[0] is x and axis == len(x.shape) - 1:
            _, linear, source = entry  # fold: the linear layer's rules on the folded weights
            stages, bias = _stages(linear)
            scale, shift = _batchnorm_affine(layer)
            op, kernel = stages[-1]
            kernel = tf.cast(kernel, tf.float32)
            shaped = tf.reshape(scale, kernel.shape[-2:]) if isinstance(
                linear, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)) else scale
            stages = [*stages[:-1], (op, kernel * shaped)]
            bias = shift if bias is None else tf.cast(bias, tf.float32) * scale + shift
            return self._propagate(linear, source, stages, bias, out,
                                   self._input_space(source))
        eps = self.rules.epsilon

        def backward(ins, relevance):  # the epsilon rule on y = scale * x + shift
            y = tf.cast(run(ins[0], **kwargs), tf.float32)
            shift = tf.cast(run(tf.zeros_like(ins[0]), **kwargs), tf.float32)
            r = (y - shift) * _divide(tf.cast(relevance, tf.float32), y, eps)
            return [tf.cast(r, ins[0].dtype)]

        return _wrap([x], out, backward)

    def _split(self, layer, args, kwargs, run, out):
        """The epsilon rule on a linear layer without parameters (pooling, Add, ...)."""
        structure = args[0]
        inputs = _flat(structure)
        eps = self.rules.epsilon

        def backward(ins, relevance):
            ins32 = [tf.cast(t, tf.float32) for t in ins]
            with tf.GradientTape() as tape:
                tape.watch(ins32)
                z = tf.cast(run(tf.nest.pack_sequence_as(structure, ins32), *args[1:],
                                **kwargs), tf.float32)
            s = _divide(tf.cast(relevance, tf.float32), z, eps)
            gradients = tape.gradient(z, ins32, output_gradients=s)
            return [tf.cast(t * g, x.dtype) for t, g, x in zip(ins32, gradients, ins,
                                                               strict=True)]

        return _wrap(inputs, out, backward)
