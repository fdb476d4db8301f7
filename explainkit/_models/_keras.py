"""The adapter of one Keras model: its layers, and its compiled forward and gradient functions.

A Keras model is never sliced, rebuilt or modified. Functional and Sequential models are
replayed layer by layer (``_graph``); subclassed models run their own ``call`` while the
layers of interest are captured (``_capture``). Either way one compiled function per
(model, layers, score, combination) returns what a method needs, and is reused.
"""

from __future__ import annotations

import collections
import weakref

import keras
import numpy as np
import tensorflow as tf

from . import _capture, _outputs
from ._buffers import ALIGNMENT
from ._graph import (
    LayerCall,
    LayerGraph,
    Reduction,
    graph_forward,
    is_graph_model,
    replay,
    squashing_op,
)


def as_tensor(x: np.ndarray):
    """``x`` as a tensor for one synchronous call, sharing its memory when TensorFlow can.

    ``tf.convert_to_tensor`` always copies a numpy array (a fresh allocation per batch);
    an aligned, C-contiguous float32 array is shared through DLPack instead. The caller
    must not change ``x`` before the call that uses the tensor has returned.
    """
    if (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.size
            and x.flags.c_contiguous and x.ctypes.data % ALIGNMENT == 0):
        return tf.experimental.dlpack.from_dlpack(x.__dlpack__())
    return tf.convert_to_tensor(x)


class KerasModel:
    """Adapter around one Keras model: probes its layers and compiles its functions."""

    backend = "keras"

    def __init__(self, model):
        self.model = model
        self.subclassed = not is_graph_model(model)
        self._graphs: dict = {}
        self._functions: dict = {}

    @property
    def input_shape(self) -> tuple | None:
        """The static input shape ``(None, H, W, C)``, or None when it is not known."""
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
        static = self.input_shape
        if image_shape is None:
            if static is None:
                state = ("is subclassed (no fixed input)" if self.subclassed and self.model.built
                         else "is not built")
                raise ValueError(
                    f"The model {state}, so its input size is unknown; pass an example "
                    "image: fit(X)."
                )
            if None in static[1:3]:
                raise ValueError(
                    f"The model's input size is not fixed (input shape {static}), so the "
                    "layers can only be chosen for an actual image; pass one: fit(X)."
                )
            image_shape = static[1:]
        image_shape = tuple(int(s) for s in image_shape)
        if image_shape not in self._graphs:
            if self.subclassed:
                self._graphs[image_shape] = _capture.probe(self.model, image_shape)
            else:
                self._graphs[image_shape] = self._probe_graph(image_shape)
        return self._graphs[image_shape]

    def _probe_graph(self, image_shape: tuple) -> LayerGraph:
        if self.input_shape is None:
            # A Sequential model that was never called: build it as its first call would.
            self.model.build((None, *image_shape))
        calls: list[LayerCall] = []

        def probe(path, layer, args, kwargs):
            output = layer.compute_output_spec(*args, **kwargs)
            calls.append(LayerCall(path, layer, tuple(args), output))
            return output

        output = replay(self.model, keras.KerasTensor((None, *image_shape)), probe)
        return LayerGraph(calls, output, image_shape)

    def final_activation(self, image_shape: tuple, output=None) -> str | None:
        """'softmax' / 'sigmoid' when the chosen output is squashed by one."""
        return self.graph(image_shape).final_activation(output)

    def output_label(self, image_shape: tuple, output=None):
        """What to record as the chosen output (None for a one-output model)."""
        return self.graph(image_shape).output_label(output)

    def _output_key(self, image_shape: tuple, output):
        return self.graph(image_shape).output_tensor(output)[1]

    def forward(self, x, capture: tuple[LayerCall, ...], logits_of: str | None = None):
        """``(captured outputs by path, model output)``: the forward pass to use in a trace.

        ``logits_of``: the path of a captured layer to take before its activation.
        """
        if not self.subclassed:
            return graph_forward(self.model, x, tuple(c.path for c in capture), logits_of)
        layers = {c.path: c.layer for c in capture}
        return _capture.capture_forward(self.model, x, layers, logits_of)

    def _compiled(self, key, build):
        if key not in self._functions:
            self._functions[key] = build()
        return self._functions[key]

    def outputs(self, x: np.ndarray, output=None) -> np.ndarray:
        """The model's (chosen) output for a batch."""
        selector = self._output_key(x.shape[1:], output)
        model = self.model

        def build():
            return tf.function(lambda x: _outputs.take(model(x, training=False), selector),
                               reduce_retracing=True)

        return np.asarray(self._compiled(("outputs", selector), build)(as_tensor(x)))

    def activations(self, x: np.ndarray, layer) -> tuple[str, np.ndarray]:
        """The reported name and the output of ``layer`` (name, path or object) for ``x``."""
        graph = self.graph(x.shape[1:])
        call = graph.find(layer, "layer")
        path = call.path

        def build():
            return tf.function(lambda x: self.forward(x, (call,))[0][path],
                               reduce_retracing=True)

        out = self._compiled(("activations", path), build)(tf.convert_to_tensor(x))
        return graph.name(call), np.asarray(out)

    def channel_scores(self, x: np.ndarray, layer: LayerCall, channel: int) -> np.ndarray:
        """``(N, 1)``: the activation of ``layer``'s ``channel`` summed over space."""
        path = layer.path

        def build():
            @tf.function(reduce_retracing=True)
            def step(x):
                out = tf.cast(self.forward(x, (layer,))[0][path], tf.float32)
                out = tf.gather(out, channel, axis=-1)
                return tf.reduce_sum(out, axis=tuple(range(1, out.shape.rank)))[:, None]

            return step

        return np.asarray(self._compiled(("channel", path, channel), build)(as_tensor(x)))

    def scores(self, x: np.ndarray, index: np.ndarray, roi: np.ndarray, score_fn,
               output=None) -> np.ndarray:
        """``(N, K)`` scores of a batch: forward pass and ``score_fn`` in one compiled call."""
        selector = self._output_key(x.shape[1:], output)
        model = self.model

        def build():
            @tf.function(reduce_retracing=True)
            def step(x, index, roi):
                outputs = _outputs.take(model(x, training=False), selector)
                return tf.cast(score_fn(outputs, index, roi)[0], tf.float32)

            return step

        step = self._compiled(("scores", score_fn, selector), build)
        return np.asarray(step(as_tensor(x), index, roi))

    def gradient_function(self, feature: LayerCall, reduction: Reduction, score_fn, combine_fn,
                          grid=None):
        """A compiled ``f(x, index, roi) -> (combine_fn(A, grads), scores, resolved_index)``.

        ``score_fn(outputs, index, roi) -> (scores (N, K), resolved (N, K))`` turns the
        reduction output into one score per sample and target; ``combine_fn(A, grads)``
        turns the feature activations ``A`` ``(N, h, w, C)`` and the list of K gradients
        dscore_k/dA into the method's result. ``grid`` reads a token-sequence feature layer
        as a map. Both functions are keras.ops code; the function is compiled once per
        (layers, score_fn, combine_fn, grid) and reused for every call on this model.
        """
        key = ("gradient", feature.path, reduction.key, score_fn, combine_fn, grid)
        return self._compiled(key, lambda: self._compile(feature, reduction, score_fn,
                                                         combine_fn, grid))

    def _reduction_output(self, captured, outputs, reduction: Reduction):
        if reduction.source == "layer":
            return captured[reduction.call.path]
        outputs = _outputs.take(outputs, reduction.output_key)
        if reduction.source == "output":
            return outputs
        final, logits = squashing_op(outputs)
        if logits is None:
            raise ValueError(
                "The model's output is no longer produced by a softmax/sigmoid operation "
                "(is TensorFlow running functions eagerly?); pass reduction_layer=...")
        return logits

    def _compile(self, feature, reduction, score_fn, combine_fn, grid):
        from keras import ops


        feature_path = feature.path
        capture = (feature,) if reduction.source != "layer" else (feature, reduction.call)
        logits_of = reduction.call.path if reduction.pre_activation else None

        hint = ""
        if self.subclassed:
            graph = next(g for g in self._graphs.values() if any(c is feature for c in g.calls))
            hint = f" (candidates: {graph.candidates()})"

        def to_map(t):
            return t if grid is None else grid.to_map(ops, t)

        @tf.function(reduce_retracing=True)
        def step(x, index, roi, num_targets):
            with tf.GradientTape(persistent=num_targets > 1) as tape:
                tape.watch(x)
                captured, outputs = self.forward(x, capture, logits_of)
                activations = captured[feature_path]
                reduced = self._reduction_output(captured, outputs, reduction)
                scores, resolved = score_fn(reduced, index, roi)
                scores = tf.cast(scores, tf.float32)
                per_target = [scores[:, k] for k in range(num_targets)]
            gradients = []
            for score in per_target:
                gradient = tape.gradient(score, activations)
                if gradient is None:
                    raise ValueError(
                        f"The score does not depend on feature layer {feature_path!r}; "
                        f"choose a layer on the path to the reduction layer{hint}."
                    )
                gradients.append(to_map(tf.cast(gradient, tf.float32)))
            activations = to_map(tf.cast(activations, tf.float32))
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


def adapter(net) -> KerasModel:
    """The cached adapter of a Keras model."""
    return _ADAPTERS.get(net)
