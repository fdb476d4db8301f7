"""The model adapter: the only module that knows Keras internals and gradient tapes.

A Keras model is never sliced or rebuilt. Instead it is *replayed*: its graph is run one
leaf layer at a time (descending into nested Sequential and Functional models), with a
callback that computes each layer and can record what it needs. The same replay serves a
symbolic probe (layer output shapes at a given input size, no computation, no new graph
nodes) and the compiled forward pass that returns the feature-layer activations and the
reduction-layer output. Nothing on the model is modified.
"""

from __future__ import annotations

import collections
import functools
import weakref
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from ._validation import closest

# Layers that never serve as the automatic feature layer: pooling, dropout and noise,
# reshaping, normalisation-only and preprocessing layers.
_NOT_FEATURE_LAYER_NAMES = (
    "InputLayer", "Identity", "ActivityRegularization",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "GaussianDropout", "GaussianNoise", "AlphaDropout",
    "Reshape", "Flatten", "Permute", "RepeatVector",
    "Cropping1D", "Cropping2D", "Cropping3D",
    "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "BatchNormalization", "LayerNormalization", "GroupNormalization",
    "UnitNormalization", "RMSNormalization", "Normalization",
    "Rescaling", "Resizing", "CenterCrop",
    "UpSampling1D", "UpSampling2D", "UpSampling3D",
)  # fmt: skip
_NOT_FEATURE_LAYERS = tuple(
    getattr(keras.layers, name) for name in _NOT_FEATURE_LAYER_NAMES if hasattr(keras.layers, name)
)
_SQUASHING = ("softmax", "sigmoid", "log_softmax")
_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


#: TensorFlow shares an array's memory only when its data starts on such a boundary.
_ALIGNMENT = 64


def aligned_empty(shape: tuple, dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary.

    Batches built into such a buffer reach a Keras model without a copy (see ``_tensor``).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGNMENT, dtype=np.uint8)
    offset = -raw.ctypes.data % _ALIGNMENT
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


def _tensor(x: np.ndarray):
    """``x`` as a tensor for one synchronous call, sharing its memory when TensorFlow can.

    ``tf.convert_to_tensor`` always copies a numpy array (a fresh allocation per batch);
    an aligned, C-contiguous float32 array is shared through DLPack instead. The caller
    must not change ``x`` before the call that uses the tensor has returned.
    """
    if (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.size
            and x.flags.c_contiguous and x.ctypes.data % _ALIGNMENT == 0):
        return tf.experimental.dlpack.from_dlpack(x.__dlpack__())
    return tf.convert_to_tensor(x)


def _is_graph_model(layer) -> bool:
    """True for models whose graph can be replayed (Sequential and Functional)."""
    # Functional models (and keras.applications) carry the graph runner; subclassed ones do not.
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph")
    )


def _replay(model, inputs, call, prefix: str = ""):
    """Run ``model`` on ``inputs`` leaf layer by leaf layer.

    ``call(path, layer, args, kwargs)`` computes each leaf layer; nested graph models are
    descended into, so their layers are reached with paths such as ``"backbone/out_relu"``.
    """

    def visit(layer, *args, **kwargs):
        path = prefix + layer.name
        if _is_graph_model(layer):
            return _replay(layer, args[0], call, path + "/")
        return call(path, layer, args, kwargs)

    if isinstance(model, keras.Sequential):
        x = inputs
        for layer in model.layers:
            x = visit(layer, x)
        return x
    # Functional: the graph runner Keras itself uses in Functional.call and clone_model.
    return model._run_through_graph(
        inputs, operation_fn=lambda op: functools.partial(visit, op)
    )


def _forward(model, x, capture: tuple[str, ...], logits_of: str | None = None) -> dict:
    """Run ``model`` on ``x`` and return the outputs of the layers at the ``capture`` paths.

    For the layer at ``logits_of`` the captured value is its output before its activation
    (the rest of the model still sees the activated output).
    """
    captured = {}

    def call(path, layer, args, kwargs):
        if path == logits_of:
            captured[path] = _pre_activation(layer, args[0])
            return layer.activation(captured[path])
        out = layer(*args, **kwargs)
        if path in capture:
            captured[path] = out
        return out

    _replay(model, x, call)
    return captured


def _squashing_name(layer) -> str | None:
    """'softmax' / 'sigmoid' / 'log_softmax' when ``layer`` ends with one, else None."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return name if name in _SQUASHING else None


def _pre_activation(layer, x):
    """The output of a Dense or Conv layer before its activation."""
    x = ops.cast(x, layer.compute_dtype)
    if isinstance(layer, keras.layers.Dense):
        y = ops.matmul(x, layer.kernel)
        return y if layer.bias is None else ops.add(y, layer.bias)
    y = layer.convolution_op(x, layer.kernel)
    if layer.use_bias:
        if layer.data_format == "channels_last":
            shape = (1,) * (layer.rank + 1) + (layer.filters,)
        else:
            shape = (1, layer.filters) + (1,) * layer.rank
        y = ops.add(y, ops.reshape(layer.bias, shape))
    return y


@dataclass(frozen=True)
class LayerCall:
    """One leaf layer call seen by the symbolic probe."""

    path: str
    layer: keras.layers.Layer
    inputs: tuple
    output: object

    @property
    def shape(self) -> tuple | None:
        """The output shape, or None when the layer has several outputs."""
        return tuple(self.output.shape) if hasattr(self.output, "shape") else None

    @property
    def spatial_size(self) -> int | None:
        """h * w of a 4-D output, 0 for other ranks, None when not known statically."""
        shape = self.shape
        if shape is None or len(shape) != 4:
            return 0
        if shape[1] is None or shape[2] is None:
            return None
        return shape[1] * shape[2]


@dataclass(frozen=True)
class Reduction:
    """Where the score comes from: a layer's output, or its output before the activation."""

    call: LayerCall
    pre_activation: bool
    final_activation: str | None  # how the model's own output is squashed
    is_output: bool = False  # the model's own (squashed) output, not logits

    @property
    def threshold(self) -> float | None:
        """For sigmoid segmentation: the value above which a pixel is predicted."""
        if self.final_activation != "sigmoid":
            return None
        return 0.5 if self.is_output else 0.0


class LayerGraph:
    """The leaf layers of a model in execution order, with their shapes at one input size."""

    def __init__(self, calls: list[LayerCall], output):
        self.calls = calls
        self.output = output
        counts = collections.Counter(c.layer.name for c in calls)
        self._unique = {name for name, n in counts.items() if n == 1}

    def name(self, call: LayerCall) -> str:
        """The name to report: the layer's own name when unique, else its nested path."""
        return call.layer.name if call.layer.name in self._unique else call.path

    def find(self, spec, argument: str) -> LayerCall:
        """The call of the layer named ``spec`` (a name, a nested path or a layer object)."""
        if isinstance(spec, keras.layers.Layer):
            hits = [c for c in self.calls if c.layer is spec]
            if not hits:
                raise ValueError(f"{argument} layer {spec.name!r} is not part of this model.")
            return hits[-1]
        if not isinstance(spec, str):
            raise TypeError(
                f"{argument} must be 'auto', a layer name or a keras Layer; got {spec!r}."
            )
        hits = [c for c in self.calls if c.path == spec] or [
            c for c in self.calls if c.layer.name == spec
        ]
        if not hits:
            names = [c.layer.name for c in self.calls] + [c.path for c in self.calls]
            raise ValueError(f"{argument} {spec!r} not found{closest(spec, names)}")
        if len({c.path for c in hits}) > 1:
            paths = sorted({c.path for c in hits})
            raise ValueError(
                f"{argument} {spec!r} is ambiguous: it names {len(paths)} layers "
                f"({', '.join(paths)}); pass the nested path instead."
            )
        return hits[-1]

    def _producer(self, tensor) -> LayerCall | None:
        for call in reversed(self.calls):
            if call.output is tensor:
                return call
        return None

    @property
    def final_activation(self) -> str | None:
        """'softmax' / 'sigmoid' / 'log_softmax' when the model's output is squashed."""
        last = None if isinstance(self.output, (list, tuple, dict)) else self._producer(self.output)
        return None if last is None else _squashing_name(last.layer)

    def reduction(self, spec) -> Reduction:
        """Resolve ``reduction_layer``: 'auto' takes the logits before a final softmax/sigmoid."""
        if isinstance(self.output, (list, tuple, dict)):
            raise ValueError(
                "This model has several outputs; name the layer to explain with "
                "reduction_layer=... (or pass reduction_fn)."
            )
        last = self._producer(self.output)
        if last is None:
            raise ValueError("The model's output is its input: there is nothing to explain.")
        final = _squashing_name(last.layer)
        if spec != "auto":
            call = self.find(spec, "reduction_layer")
            return Reduction(call, False, final, is_output=call is last)
        if final is None:
            return Reduction(last, False, None)
        if isinstance(last.layer, (keras.layers.Activation, keras.layers.Softmax)):
            # A separate softmax/sigmoid layer: the scores are its input.
            producer = self._producer(last.inputs[0])
            if producer is None:
                raise ValueError(
                    f"The final {final} layer {last.path!r} acts directly on the model input; "
                    "there are no logits to explain."
                )
            return Reduction(producer, False, final)
        if isinstance(last.layer, (keras.layers.Dense, *_CONVOLUTIONS)):
            return Reduction(last, True, final)
        raise ValueError(
            f"The last layer {last.path!r} ({type(last.layer).__name__}) applies {final} "
            "internally and explainkit cannot take its logits; pass reduction_layer='"
            f"{last.path}' to explain the {final} output itself, or give the model a separate "
            f"Activation('{final}') layer."
        )

    def feature(self, spec, reduction: Reduction) -> LayerCall:
        """Resolve ``feature_layer``: 'auto' = last spatial layer before the reduction layer."""
        stop = self.calls.index(reduction.call)
        if spec == "auto":
            for call in reversed(self.calls[:stop]):
                if isinstance(call.layer, _NOT_FEATURE_LAYERS):
                    continue
                if call.spatial_size is None or call.spatial_size > 1:
                    return call
            raise ValueError(
                "The model has no layer with a spatial output (N, h, w, C) larger than 1x1 "
                f"before its reduction layer {self.name(reduction.call)!r}, so there is no "
                "feature map to explain; Grad-CAM needs a convolutional model."
            )
        call = self.find(spec, "feature_layer")
        if call.spatial_size is not None and call.spatial_size <= 1:
            raise ValueError(
                f"feature_layer {spec!r} has output shape {call.shape}: Grad-CAM needs a "
                "spatial output (N, h, w, C) with h * w > 1."
            )
        if self.calls.index(call) > stop:
            raise ValueError(
                f"feature_layer {spec!r} comes after the reduction layer "
                f"{self.name(reduction.call)!r}; the score cannot depend on it."
            )
        return call


class KerasModel:
    """Adapter around one Keras model: probes its layers and compiles its gradient functions."""

    def __init__(self, model):
        self.model = model
        self._graphs: dict = {}
        self._functions: dict = {}

    @property
    def input_shape(self) -> tuple | None:
        """The static input shape ``(None, H, W, C)``, or None for an unbuilt model."""
        if not self.model.built:
            return None
        try:
            inputs = self.model.inputs
        except (AttributeError, ValueError):
            return None
        if not inputs:
            return None
        if len(inputs) != 1:
            raise TypeError(
                f"explainkit explains models with one image input; this model has {len(inputs)}."
            )
        return tuple(inputs[0].shape)

    def graph(self, image_shape: tuple | None) -> LayerGraph:
        """Probe the layers at ``image_shape`` ``(H, W, C)`` (None: the static input shape)."""
        _check_graph_model(self.model)
        static = self.input_shape
        if image_shape is None:
            if static is None:
                raise ValueError(
                    "The model is not built, so its input size is unknown; pass an example "
                    "image: fit(X)."
                )
            if None in static[1:3]:
                raise ValueError(
                    f"The model's input size is not fixed (input shape {static}), so the "
                    "layers can only be chosen for an actual image; pass one: fit(X)."
                )
            image_shape = static[1:]
        image_shape = tuple(int(s) for s in image_shape)
        if static is None:
            # A Sequential model that was never called: build it as its first call would.
            self.model.build((None, *image_shape))
        if image_shape not in self._graphs:
            calls: list[LayerCall] = []

            def probe(path, layer, args, kwargs):
                output = layer.compute_output_spec(*args, **kwargs)
                calls.append(LayerCall(path, layer, tuple(args), output))
                return output

            output = _replay(self.model, keras.KerasTensor((None, *image_shape)), probe)
            self._graphs[image_shape] = LayerGraph(calls, output)
        return self._graphs[image_shape]

    def final_activation(self, image_shape: tuple) -> str | None:
        """'softmax' / 'sigmoid' when the model's output is squashed by one (graph models)."""
        if not _is_graph_model(self.model):
            return None
        return self.graph(image_shape).final_activation

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """The model's output for a batch."""
        if "outputs" not in self._functions:
            model = self.model
            self._functions["outputs"] = tf.function(
                lambda x: model(x, training=False), reduce_retracing=True
            )
        outputs = self._functions["outputs"](_tensor(x))
        if isinstance(outputs, (list, tuple, dict)):
            raise ValueError(
                "net has several outputs; black-box methods explain models with one output."
            )
        return np.asarray(outputs)

    def activations(self, x: np.ndarray, layer) -> tuple[str, np.ndarray]:
        """The reported name and the output of ``layer`` (name, path or object) for ``x``."""
        graph = self.graph(x.shape[1:])
        call = graph.find(layer, "layer")
        captured = _forward(self.model, tf.convert_to_tensor(x), (call.path,))
        return graph.name(call), np.asarray(captured[call.path])

    def channel_scores(self, x: np.ndarray, layer: LayerCall, channel: int) -> np.ndarray:
        """``(N, 1)``: the activation of ``layer``'s ``channel`` summed over space."""
        key = ("channel", layer.path, channel)
        if key not in self._functions:
            model, path = self.model, layer.path

            @tf.function(reduce_retracing=True)
            def step(x):
                out = tf.cast(_forward(model, x, (path,))[path], tf.float32)
                out = tf.gather(out, channel, axis=-1)
                return tf.reduce_sum(out, axis=tuple(range(1, out.shape.rank)))[:, None]

            self._functions[key] = step
        return np.asarray(self._functions[key](_tensor(x)))

    def scores(self, x: np.ndarray, index: np.ndarray, roi: np.ndarray, score_fn) -> np.ndarray:
        """``(N, K)`` scores of a batch: forward pass and ``score_fn`` in one compiled call."""
        key = ("scores", score_fn)
        if key not in self._functions:
            model = self.model

            @tf.function(reduce_retracing=True)
            def step(x, index, roi):
                return tf.cast(score_fn(model(x, training=False), index, roi)[0], tf.float32)

            self._functions[key] = step
        return np.asarray(self._functions[key](_tensor(x), index, roi))

    def gradient_function(self, feature: LayerCall, reduction: Reduction, score_fn, combine_fn):
        """A compiled ``f(x, index, roi) -> (combine_fn(A, grads), scores, resolved_index)``.

        ``score_fn(outputs, index, roi) -> (scores (N, K), resolved (N, K))`` turns the
        reduction-layer output into one score per sample and target; ``combine_fn(A, grads)``
        turns the feature activations ``A`` and the list of K gradients dscore_k/dA into the
        method's result. Both are keras.ops code; the function is compiled once per
        (layers, score_fn, combine_fn) and reused for every call on this model.
        """
        key = (feature.path, reduction.call.path, reduction.pre_activation, score_fn, combine_fn)
        if key not in self._functions:
            self._functions[key] = self._compile(feature, reduction, score_fn, combine_fn)
        return self._functions[key]

    def _compile(self, feature, reduction, score_fn, combine_fn):
        model = self.model
        feature_path, reduction_path = feature.path, reduction.call.path
        pre_activation = reduction.pre_activation

        def forward(x):
            captured = _forward(model, x, (feature_path, reduction_path),
                                reduction_path if pre_activation else None)
            return captured[feature_path], captured[reduction_path]

        @tf.function(reduce_retracing=True)
        def step(x, index, roi, num_targets):
            with tf.GradientTape(persistent=num_targets > 1) as tape:
                tape.watch(x)
                activations, outputs = forward(x)
                scores, resolved = score_fn(outputs, index, roi)
                scores = tf.cast(scores, tf.float32)
                per_target = [scores[:, k] for k in range(num_targets)]
            gradients = []
            for score in per_target:
                gradient = tape.gradient(score, activations)
                if gradient is None:
                    raise ValueError(
                        f"The score does not depend on feature layer {feature_path!r}; "
                        "choose a layer on the path to the reduction layer."
                    )
                gradients.append(tf.cast(gradient, tf.float32))
            activations = tf.cast(activations, tf.float32)
            return combine_fn(activations, gradients), scores, resolved

        def run(x: np.ndarray, index: np.ndarray, roi: np.ndarray):
            result, scores, resolved = step(
                tf.convert_to_tensor(x), tf.convert_to_tensor(index),
                tf.convert_to_tensor(roi), int(index.shape[1]),
            )  # fmt: skip
            return np.asarray(result), np.asarray(scores), np.asarray(resolved)

        return run


class _AdapterCache:
    """A few recently used adapters, so repeated calls on one model reuse compiled code.

    Entries are checked by identity through a weak reference (an ``id`` can be reused after
    a model is freed), and the cache is bounded so that it keeps at most a few models alive.
    """

    def __init__(self, size: int = 8):
        self.size = size
        self._entries: collections.OrderedDict = collections.OrderedDict()

    def get(self, model) -> KerasModel:
        key = id(model)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is model:
            self._entries.move_to_end(key)
            return entry[1]
        adapter = KerasModel(model)
        self._entries[key] = (weakref.ref(model), adapter)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return adapter


_ADAPTERS = _AdapterCache()


def _check_graph_model(net) -> None:
    if not _is_graph_model(net):
        raise TypeError(
            f"net is a subclassed Keras model ({type(net).__name__}), whose inner layers "
            "cannot be reached. Pass a Functional or Sequential model, e.g. "
            "keras.Model(inputs, outputs) built from the same layers."
        )


def keras_adapter(net) -> KerasModel:
    """The (cached) adapter of a Keras model; a clear TypeError for anything else."""
    if not isinstance(net, keras.Model):
        raise TypeError(
            f"net must be a Keras 3 model (keras.Model); got {type(net).__name__}. Gradient "
            "methods need a Keras model; black-box methods also take any predictor."
        )
    _check_graph_model(net)
    return _ADAPTERS.get(net)


class BlackBox:
    """A predictor known only by its answers: a callable or a scikit-learn estimator."""

    input_shape = None

    def __init__(self, predict, name: str, task: str | None):
        self.predict = predict
        self.name = name
        self.task = task

    def outputs(self, x: np.ndarray) -> np.ndarray:
        """The predictor's output for a batch, checked: ``(N, ...)``, finite numbers.

        The predictor gets its own copy of ``x``: methods reuse their batch buffers, and a
        callable may keep what it is given.
        """
        outputs = np.asarray(self.predict(np.array(x)))
        if outputs.ndim == 0 or outputs.shape[0] != len(x):
            raise ValueError(
                f"{self.name} must return one row per image, shape ({len(x)}, ...); it "
                f"returned shape {outputs.shape}."
            )
        if not np.issubdtype(outputs.dtype, np.number):
            raise ValueError(
                f"{self.name} must return numbers (scores, probabilities); it returned an "
                f"array of dtype {outputs.dtype}."
            )
        outputs = outputs.astype(np.float32, copy=False)
        return outputs[:, None] if outputs.ndim == 1 else outputs

    def final_activation(self, image_shape: tuple) -> None:
        """Unknown for a black box."""
        return None

    def scores(self, x: np.ndarray, index: np.ndarray, roi: np.ndarray, score_fn) -> np.ndarray:
        """``(N, K)`` scores of a batch: the predictor's output through ``score_fn``."""
        scores, _ = score_fn(ops.convert_to_tensor(self.outputs(x)), index, roi)
        return np.asarray(scores, dtype=np.float32)


def predictor(net):
    """The scoring interface of anything that predicts, for black-box methods.

    A Keras model (any kind, subclassed included) is called directly; a scikit-learn
    estimator or Pipeline through ``predict_proba``, else ``decision_function``, else
    ``predict``; any other callable as ``net(images)``.
    """
    if isinstance(net, keras.Model):
        return _ADAPTERS.get(net)
    for method, task in (
        ("predict_proba", "classification"),
        ("decision_function", "classification"),
        ("predict", None),
    ):
        fn = getattr(net, method, None)
        if callable(fn):
            return BlackBox(fn, f"{type(net).__name__}.{method}", task)
    if callable(net):
        return BlackBox(net, f"net {getattr(net, '__name__', type(net).__name__)!r}", None)
    raise TypeError(
        "net must be a Keras model, a scikit-learn estimator (predict_proba, "
        f"decision_function or predict) or a callable; got {type(net).__name__}."
    )
