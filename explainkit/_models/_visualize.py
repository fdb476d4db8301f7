"""What ``explainkit.visualize`` needs from a Keras model: layer maps, channel statistics,
gradient-ascent steps and receptive fields.

Every function takes the model's adapter (:class:`~explainkit._models._keras.KerasModel`)
and runs the model through :meth:`KerasModel.forward`, so nested, loaded and subclassed
models work alike; each compiled function is cached on the adapter, once per (layer,
objective, structural options), and every image of a batch goes through it in one call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from ._graph import LayerCall, LayerGraph, Reduction
from ._keras import KerasModel, _flat_inputs, _traced, as_tensor
from ._tokens import TokenGrid

# --------------------------------------------------------------------------- layer maps


@dataclass(frozen=True)
class LayerMap:
    """How a layer's output is read as maps ``(N, h, w, C)``.

    ``kind``: ``"map"`` (a 4-D output as it is), ``"vector"`` (``(N, C)`` read as
    ``(N, 1, 1, C)``) or ``"tokens"`` (a token sequence ``(N, T, C)`` read through its
    ``grid``).
    """

    call: LayerCall
    name: str
    kind: str
    grid: TokenGrid | None = None

    @property
    def path(self) -> str:
        return self.call.path

    @property
    def channels(self) -> int:
        return int(self.call.shape[-1])

    @property
    def spatial(self) -> tuple[int | None, int | None]:
        """``(h, w)`` of the maps (``(1, 1)`` for a vector)."""
        if self.kind == "vector":
            return 1, 1
        if self.kind == "tokens":
            return self.grid.height, self.grid.width
        return self.call.shape[1], self.call.shape[2]

    def to_map(self, t):
        """The captured output ``t`` as float32 maps ``(N, h, w, C)``."""
        t = tf.cast(t, tf.float32)
        if self.kind == "vector":
            return t[:, None, None, :]
        if self.kind == "tokens":
            return self.grid.to_map(keras.ops, t)
        return t


def layer_map(graph: LayerGraph, spec, argument: str = "layer") -> LayerMap:
    """The layer named ``spec`` and how its output reads as maps; a ValueError otherwise."""
    call = graph.find(spec, argument)
    shape = call.shape
    name = graph.name(call)
    if shape is None:
        raise ValueError(f"{argument} {name!r} has several outputs; name one of its layers.")
    if len(shape) == 4:
        return LayerMap(call, name, "map")
    if len(shape) == 2:
        return LayerMap(call, name, "vector")
    grid = graph.grid(call) if len(shape) == 3 else None
    if grid is not None:
        return LayerMap(call, name, "tokens", grid)
    raise ValueError(
        f"{argument} {name!r} has output shape {shape}; expected maps (N, h, w, C), units "
        "(N, C) or a token sequence (N, T, C) that forms a grid of the image."
    )


def maps_function(adapter: KerasModel, target: LayerMap):
    """A compiled ``f(x (B, H, W, C)) -> maps (B, h, w, C)`` float32 numpy array."""

    def build():
        @_traced
        def step(x):
            captured, _ = adapter.forward(x, (target.call,))
            return target.to_map(captured[target.path])

        return lambda x: np.asarray(step(as_tensor(x)))

    return adapter._compiled(("visualize.maps", target.path, target.kind, target.grid), build)


def statistics_function(adapter: KerasModel, target: LayerMap):
    """A compiled ``f(x) -> (mean, min, max, argmax)``, each ``(B, C)``, of every channel.

    The statistics are over the channel's spatial map; ``argmax`` is the flat index
    ``row * w + col`` of its (first) maximum.
    """

    def build():
        @_traced
        def step(x):
            captured, _ = adapter.forward(x, (target.call,))
            maps = target.to_map(captured[target.path])
            shape = tf.shape(maps)
            flat = tf.reshape(maps, (shape[0], shape[1] * shape[2], shape[3]))
            return (tf.reduce_mean(flat, axis=1), tf.reduce_min(flat, axis=1),
                    tf.reduce_max(flat, axis=1), tf.argmax(flat, axis=1, output_type=tf.int32))

        def run(x):
            return tuple(np.asarray(t) for t in step(as_tensor(x)))

        return run

    return adapter._compiled(("visualize.stats", target.path, target.kind, target.grid), build)


# ---------------------------------------------------------------------- gradient ascent


def blur_radius(sigma: float) -> int:
    """The radius of scipy.ndimage's Gaussian filter (``truncate=4``)."""
    return int(4.0 * float(sigma) + 0.5)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian kernel (``truncate=4``), normalised."""
    radius = blur_radius(sigma)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return (kernel / kernel.sum()).astype(np.float32)


def _blur(z, sigma: float):
    """Gaussian blur of ``(B, H, W, C)`` per channel; the borders mirrored as scipy's
    ``mode="reflect"`` (TensorFlow's ``SYMMETRIC`` padding: the radius must not exceed
    the image's size)."""
    channels = z.shape[-1]
    kernel = gaussian_kernel(sigma)
    radius = len(kernel) // 2
    for axis in (1, 2):
        if radius == 0:
            continue
        pad = [[0, 0], [0, 0], [0, 0], [0, 0]]
        pad[axis] = [radius, radius]
        shape = (len(kernel), 1) if axis == 1 else (1, len(kernel))
        weights = np.tile(kernel.reshape(*shape, 1, 1), (1, 1, channels, 1))
        z = tf.nn.depthwise_conv2d(tf.pad(z, pad, mode="SYMMETRIC"), weights,
                                   strides=(1, 1, 1, 1), padding="VALID")
    return z


_BINOMIAL = np.outer(*[np.array([1.0, 4.0, 6.0, 4.0, 1.0])] * 2) / 256.0


def _laplacian_normalize(g, levels: int = 4):
    """The gradient split into a Laplacian pyramid, each band scaled to unit RMS, and
    merged again (Mordvintsev et al.'s "Laplacian pyramid gradient normalisation")."""
    channels = g.shape[-1]
    kernel = tf.constant((_BINOMIAL[:, :, None, None] * np.eye(channels)[None, None])
                         .astype(np.float32))
    bands, low = [], g
    for _ in range(levels):
        smaller = tf.nn.conv2d(low, kernel, (1, 2, 2, 1), "SAME")
        back = tf.nn.conv2d_transpose(smaller, kernel * 4.0, tf.shape(low), (1, 2, 2, 1))
        bands.append(low - back)
        low = smaller

    def unit(t):
        rms = tf.sqrt(tf.reduce_mean(tf.square(t), axis=(1, 2, 3), keepdims=True))
        return t / tf.maximum(rms, 1e-10)

    merged = unit(low)
    for band in reversed(bands):
        merged = tf.nn.conv2d_transpose(merged, kernel * 4.0, tf.shape(band),
                                        (1, 2, 2, 1)) + unit(band)
    return merged


def _zero_smallest(z, score, count):
    """``z`` with the ``count`` pixels of smallest ``score`` ``(B, H, W)`` set to 0 (ties:
    the first in row-major order)."""
    shape = tf.shape(score)
    flat = tf.reshape(score, (shape[0], -1))
    ranks = tf.argsort(tf.argsort(flat, axis=1, stable=True), axis=1, stable=True)
    keep = tf.cast(tf.reshape(ranks >= count, shape), z.dtype)
    return z * keep[..., None]


@dataclass(frozen=True)
class AscentTarget:
    """What the ascent maximises: a layer's maps (``"channel"``, ``"neuron"`` at
    ``position``) or the reduction output's scores (``"class"``)."""

    objective: str
    layer: LayerMap | None = None
    position: tuple[int, int] | None = None
    reduction: Reduction | None = None

    @property
    def key(self) -> tuple:
        if self.reduction is not None:
            return self.objective, self.reduction.key
        return self.objective, self.layer.path, self.layer.kind, self.layer.grid, self.position


def ascent_function(adapter: KerasModel, target: AscentTarget, *, blur_sigma: float | None,
                    normalize: str):
    """A compiled gradient-ascent step on a batch of images, one objective per image.

    ``step(z, centre, low, high, weights, shift, rate, decay, norm_count, contribution_count,
    blur) -> (z', objective (B,))``, where the image is ``x = z + centre`` and ``weights``
    ``(B, K)`` say which channels (units, classes) each image's objective averages. One
    step: the objective and its gradient at ``x`` rolled by ``shift`` (jitter), the gradient
    rolled back and normalised (``"mean_abs"``: to mean absolute value 1 per image;
    ``"laplacian"``: Laplacian pyramid normalisation), ``z += rate * gradient``, then the
    regularisers of Yosinski et al. (2015) in their order: ``z *= 1 - decay``, a Gaussian
    blur when ``blur``, the ``norm_count`` pixels of smallest norm and the
    ``contribution_count`` pixels of smallest contribution ``sum_c |z_c * g_c|`` set to 0,
    and ``z`` clipped to ``[low, high]``.
    """
    key = ("visualize.ascent", target.key, blur_sigma, normalize)

    def build():
        if target.reduction is not None:
            reduction = target.reduction
            capture = () if reduction.call is None else (reduction.call,)
            logits_of = reduction.call.path if reduction.pre_activation else None
        else:
            capture, logits_of = (target.layer.call,), None

        def objective(x, weights):
            captured, outputs = adapter.forward(x, capture, logits_of)
            if target.reduction is not None:
                scores = tf.cast(adapter._reduction_output(captured, outputs,
                                                           target.reduction), tf.float32)
                if scores.shape.rank > 2:  # per-pixel scores: their mean over the pixels
                    scores = tf.reduce_mean(scores, axis=tuple(range(1, scores.shape.rank - 1)))
            else:
                maps = target.layer.to_map(captured[target.layer.path])
                if target.objective == "neuron":
                    scores = maps[:, target.position[0], target.position[1], :]
                else:
                    scores = tf.reduce_mean(maps, axis=(1, 2))
            return tf.reduce_sum(scores * weights, axis=-1)

        @_traced
        def step(z, centre, low, high, weights, shift, rate, decay, norm_count,
                 contribution_count, blur):
            x = tf.roll(z + centre, shift, axis=(1, 2))
            with tf.GradientTape() as tape:
                tape.watch(x)
                values = objective(x, weights)
                total = tf.reduce_sum(values)
            gradient = tape.gradient(total, x)
            if gradient is None:
                raise ValueError("The objective does not depend on the input image.")
            gradient = tf.roll(gradient, -shift, axis=(1, 2))
            if normalize == "laplacian":
                direction = _laplacian_normalize(gradient)
            else:
                scale = tf.reduce_mean(tf.abs(gradient), axis=(1, 2, 3), keepdims=True)
                direction = gradient / tf.maximum(scale, 1e-12)
            z = (z + rate * direction) * (1.0 - decay)
            if blur_sigma is not None:
                z = tf.cond(blur, lambda: _blur(z, blur_sigma), lambda: z)
            z = tf.cond(norm_count > 0,
                        lambda: _zero_smallest(z, tf.norm(z, axis=-1), norm_count), lambda: z)
            z = tf.cond(contribution_count > 0,
                        lambda: _zero_smallest(z, tf.reduce_sum(tf.abs(z * gradient), axis=-1),
                                               contribution_count), lambda: z)
            return tf.clip_by_value(z, low, high), values

        def run(z, centre, low, high, weights, shift, rate, decay, norm_count,
                contribution_count, blur):
            z, values = step(
                tf.convert_to_tensor(z), tf.constant(centre, tf.float32),
                tf.constant(low, tf.float32), tf.constant(high, tf.float32),
                tf.convert_to_tensor(weights),
                tf.constant(shift, tf.int32), tf.constant(rate, tf.float32),
                tf.constant(decay, tf.float32), tf.constant(norm_count, tf.int32),
                tf.constant(contribution_count, tf.int32), tf.constant(bool(blur)))
            return np.asarray(z), np.asarray(values)

        return run

    return adapter._compiled(key, build)


# --------------------------------------------------------------------- receptive fields


@dataclass(frozen=True)
class ReceptiveField:
    """The input pixels a unit of a layer's maps sees, per axis (rows, columns).

    Unit ``i`` along an axis sees input pixels ``[offset + i * jump, offset + i * jump +
    size)`` (before cutting at the border). ``None`` from :func:`receptive_field` stands for
    "the whole image".
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    offset: tuple[int, int]

    def window(self, unit: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, int]:
        """``(starts, length)``: windows of ``min(size, image)`` pixels that hold each
        unit's receptive field cut at the border, per axis; ``unit`` ``(M, 2)``."""
        starts, lengths = [], []
        for axis in (0, 1):
            length = min(self.size[axis], image_size[axis])
            first = self.offset[axis] + unit[:, axis] * self.jump[axis]
            starts.append(np.clip(first, 0, image_size[axis] - length))
            lengths.append(length)
        return np.stack(starts, axis=1), tuple(lengths)


_POINTWISE = tuple(getattr(keras.layers, name) for name in (
    "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU",
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization",
    "RMSNormalization", "Normalization", "Rescaling", "Identity", "ActivityRegularization",
    "Dropout", "SpatialDropout2D", "GaussianDropout", "GaussianNoise", "AlphaDropout",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dense",
) if hasattr(keras.layers, name))  # fmt: skip
_CONVS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
_GLOBAL = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D,
           keras.layers.Flatten)
_WHOLE = "whole"  # the whole image
_UNKNOWN = "unknown"


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if np.ndim(value) == 0 else tuple(int(v) for v in value)


def _window_rule(field, kernel, strides, dilation, padding, size_in):
    """A convolution or pooling window applied to the fields ``(offset, jump, size)``."""
    offset, jump, size = field
    new = ([], [], [])
    for axis in (0, 1):
        k = dilation[axis] * (kernel[axis] - 1) + 1
        s, n = strides[axis], size_in[axis]
        if padding == "same":
            if n is None:
                return _UNKNOWN
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            left = total // 2
        elif padding == "valid":
            left = 0
        else:
            return _UNKNOWN
        new[0].append(offset[axis] - left * jump[axis])
        new[1].append(jump[axis] * s)
        new[2].append(size[axis] + (k - 1) * jump[axis])
    return tuple(tuple(v) for v in new)


def _layer_rule(layer, field, size_in):
    """The receptive field of a layer's output from its input's, or _WHOLE / _UNKNOWN."""
    if field in (_WHOLE, _UNKNOWN):
        return field
    if isinstance(layer, _CONVS) or isinstance(layer, _POOLS):
        if getattr(layer, "data_format", "channels_last") != "channels_last":
            return _UNKNOWN
        if isinstance(layer, _POOLS):
            kernel, strides, dilation = _pair(layer.pool_size), _pair(layer.strides), (1, 1)
        else:
            kernel, strides = _pair(layer.kernel_size), _pair(layer.strides)
            dilation = _pair(layer.dilation_rate)
        return _window_rule(field, kernel, strides, dilation, layer.padding, size_in)
    if isinstance(layer, (keras.layers.ZeroPadding2D, keras.layers.Cropping2D)):
        amounts = layer.padding if isinstance(layer, keras.layers.ZeroPadding2D) \
            else layer.cropping
        sign = -1 if isinstance(layer, keras.layers.ZeroPadding2D) else 1
        offset, jump, size = field
        shifted = tuple(offset[a] + sign * int(amounts[a][0]) * jump[a] for a in (0, 1))
        return shifted, jump, size
    if isinstance(layer, _GLOBAL):
        return _WHOLE
    if isinstance(layer, _POINTWISE):
        return field
    return _UNKNOWN


def _union(fields):
    """The receptive field covering every input's (the inputs of an Add, a Concatenate)."""
    known = [f for f in fields if f not in (_WHOLE, _UNKNOWN)]
    if _UNKNOWN in fields:
        return _UNKNOWN
    if _WHOLE in fields or not known:
        return _WHOLE
    offset = tuple(min(f[0][a] for f in known) for a in (0, 1))
    end = tuple(max(f[0][a] + f[2][a] for f in known) for a in (0, 1))
    jump = tuple(max(f[1][a] for f in known) for a in (0, 1))
    return offset, jump, tuple(end[a] - offset[a] for a in (0, 1))


def receptive_field(graph: LayerGraph, target: LayerMap) -> ReceptiveField | None:
    """The receptive field of ``target``'s units, worked out from the layers on the way.

    Convolutions (``Conv2D``, depthwise, separable: kernel, stride, dilation, ``"valid"`` /
    ``"same"`` padding as TensorFlow pads), pooling windows, zero padding and cropping
    change it; pointwise layers (activations, normalisation, dropout, ``Dense`` on maps,
    ``Add``, ``Concatenate``, ...) keep it, merging layers take the union of their inputs'.
    Global pooling, flattening, token grids and any other layer on the way give None (the
    whole image).
    """
    if target.kind != "map":
        return None
    image_hw = graph.image_shape[:2]
    produced = {id(c.output) for c in graph.calls}
    identity = ((0, 0), (1, 1), (1, 1))
    fields: dict[int, object] = {}
    for call in graph.calls:
        if call.repeats:
            continue
        inputs = []
        for t in _flat_inputs(call.inputs):
            shape = tuple(getattr(t, "shape", ()) or ())
            if id(t) in fields:
                inputs.append((fields[id(t)], shape))
            elif id(t) not in produced and len(shape) == 4 and tuple(shape[1:3]) == image_hw:
                inputs.append((identity, shape))  # the image (or a raw op on it)
            elif len(shape) >= 2:
                inputs.append((_UNKNOWN, shape))
        if not inputs:
            field = _UNKNOWN
        else:
            merged = _union([f for f, _ in inputs])
            size_in = tuple(inputs[0][1][1:3]) if len(inputs[0][1]) == 4 else (None, None)
            field = _layer_rule(call.layer, merged, size_in)
            if field not in (_WHOLE, _UNKNOWN) and len(call.shape or ()) != 4:
                field = _WHOLE if len(call.shape or ()) == 2 else _UNKNOWN
        fields[id(call.output)] = field
        if call is target.call:
            break
    field = fields.get(id(target.call.output), _UNKNOWN)
    if field in (_WHOLE, _UNKNOWN):
        return None
    offset, jump, size = field
    return ReceptiveField(size=tuple(size), jump=tuple(jump), offset=tuple(offset))
