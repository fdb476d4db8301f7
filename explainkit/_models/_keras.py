"""The adapter of one Keras model: its layers, and its compiled forward and gradient functions.

A Keras model is never sliced, rebuilt or modified. Functional and Sequential models are
replayed layer by layer (``_graph``); subclassed models run their own ``call`` while the
layers of interest are captured (``_capture``). Either way one compiled function per
(model, layers, score, combination) returns what a method needs, and is reused.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import weakref

import keras
import numpy as np
import tensorflow as tf

from . import _calls, _capture, _outputs
from ._buffers import ALIGNMENT
from ._graph import (
    LayerCall,
    LayerGraph,
    Reduction,
    graph_forward,
    is_graph_model,
    pre_activation,
    replay,
    squashing_op,
)
from ._lrp_rules import start_relevance
from ._lrp_spec import Rules


def _traced(fn, relax: bool = True):
    """``fn`` compiled by ``tf.function`` (shapes relaxed rather than retraced).

    ``relax=False`` traces once per input shape instead (for code that needs static
    shapes, such as keras-hub's non-maximum suppression). The function is wrapped in a
    ``functools.partial`` first: TensorFlow counts traces per code object, so the many
    closures of one code object compiled here (one per model, layer and method) would
    otherwise read as one function retracing too often.
    """
    compiled = tf.function(functools.partial(fn), reduce_retracing=relax)

    def counted(*args):
        _calls.record()  # every compiled call runs the model (or part of it) on a batch
        return compiled(*args)

    return counted


def as_tensor(x: np.ndarray):
    """``x`` as a tensor for one synchronous call, sharing its memory when TensorFlow can.

    ``tf.convert_to_tensor`` always copies a numpy array (a fresh allocation per batch);
    an aligned, C-contiguous, writeable float32 array is shared through DLPack instead. The caller
    must not change ``x`` before the call that uses the tensor has returned.
    """
    if (isinstance(x, np.ndarray) and x.dtype == np.float32 and x.size
            and x.flags.c_contiguous and x.flags.writeable  # DLPack exports no read-only
            and x.ctypes.data % ALIGNMENT == 0):
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
            if not getattr(layer, "_call_has_training_arg", False):
                kwargs = {k: v for k, v in kwargs.items() if k != "training"}
            output = layer.compute_output_spec(*args, **kwargs)
            calls.append(LayerCall(path, layer, tuple(args), output))
            return output

        output = replay(self.model, keras.KerasTensor((None, *image_shape)), probe)
        patch = _patch_size(self.model)
        leaves = {c.path for c in calls}
        if not any(_capture.sublayers(c.layer) for c in calls):
            return LayerGraph(calls, output, image_shape, patch=patch)
        # Layers nested inside leaf layers (keras-hub blocks, custom blocks): the captured
        # probe of the whole model lists them; each goes before the leaf that holds it.
        trace = _capture.probe(self.model, image_shape)
        inner = collections.defaultdict(list)
        for call in trace.calls:
            parts = call.path.split("/")
            leaf = next((p for p in ("/".join(parts[:i]) for i in range(1, len(parts)))
                         if p in leaves), None)
            if leaf is not None:
                inner[leaf].append(dataclasses.replace(call, nested=True))
        # A layer's compute_output_shape can be wrong where its call is right: trust the call.
        traced = {c.path: c.shape for c in trace.calls}
        calls = [c if traced.get(c.path) in (None, c.shape)
                 else dataclasses.replace(c, traced_shape=traced[c.path]) for c in calls]
        merged = [c for call in calls for c in (*inner.get(call.path, ()), call)]
        return LayerGraph(merged, output, image_shape, trace=trace, patch=patch)

    def final_activation(self, image_shape: tuple, output=None) -> str | None:
        """'softmax' / 'sigmoid' when the chosen output is squashed by one."""
        return self.graph(image_shape).final_activation(output)

    def output_label(self, image_shape: tuple, output=None):
        """What to record as the chosen output (None for a one-output model)."""
        return self.graph(image_shape).output_label(output)

    def _output_key(self, image_shape: tuple, output):
        """The key that takes the chosen output (resolved once per input size and choice)."""
        key = ("output_key", tuple(image_shape), output)
        if key not in self._functions:
            self._functions[key] = self.graph(image_shape).output_tensor(output)[1]
        return self._functions[key]

    def forward(self, x, capture: tuple[LayerCall, ...], logits_of: str | None = None,
                guided: bool | Rules = False, replace: dict | None = None):
        """``(captured outputs by path, model output)``: the forward pass to use in a trace.

        ``logits_of``: the path of a captured layer to take before its activation.
        ``guided``: ReLUs pass only positive gradients back (guided backpropagation); a
        :class:`~._lrp_spec.Rules`: every layer's backward pass carries relevance (LRP).
        ``replace``: path of a captured layer -> ``f(output)``, what the rest of the model
        sees instead of that layer's output (the captured value stays the layer's own).
        """
        if not self.subclassed and not any(c.nested for c in capture):
            return graph_forward(self.model, x, tuple(c.path for c in capture), logits_of,
                                 guided, replace)
        # A subclassed model, or a layer inside a leaf layer: captured during the call.
        layers = {c.path: c.layer for c in capture}
        return _capture.capture_forward(self.model, x, layers, logits_of, guided, replace)

    def compile(self, key, fn, relax: bool = True):
        """``fn`` compiled (and counted as a model call when called), cached under ``key``.

        For methods that run the model their own way through :meth:`forward`;
        ``relax=False``: traced once per input shape (see ``_traced``).
        """
        return self._compiled(("custom", key), lambda: _traced(fn, relax))

    def reduction_output(self, captured, outputs, reduction: Reduction):
        """The scored tensor of a :meth:`forward` pass (the logits, a layer's output, ...)."""
        return self._reduction_output(captured, outputs, reduction)

    def _compiled(self, key, build):
        if key not in self._functions:
            self._functions[key] = build()
        return self._functions[key]

    def outputs(self, x: np.ndarray, output=None) -> np.ndarray:
        """The model's (chosen) output for a batch."""
        selector = self._output_key(x.shape[1:], output)
        model = self.model

        def build():
            return _traced(lambda x: _outputs.take(model(x, training=False), selector))

        return np.asarray(self._compiled(("outputs", selector), build)(as_tensor(x)))

    def activations(self, x: np.ndarray, layer) -> tuple[str, np.ndarray]:
        """The reported name and the output of ``layer`` (name, path or object) for ``x``."""
        graph = self.graph(x.shape[1:])
        call = graph.find(layer, "layer")
        path = call.path

        def build():
            return _traced(lambda x: self.forward(x, (call,))[0][path])

        out = self._compiled(("activations", path), build)(tf.convert_to_tensor(x))
        return graph.name(call), np.asarray(out)

    def channel_scores(self, x: np.ndarray, layer: LayerCall, channel: int) -> np.ndarray:
        """``(N, 1)``: the activation of ``layer``'s ``channel`` summed over space."""
        path = layer.path

        def build():
            @_traced
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
            @_traced
            def step(x, index, roi):
                outputs = _outputs.take(model(x, training=False), selector)
                return tf.cast(score_fn(outputs, index, roi)[0], tf.float32)

            return step

        step = self._compiled(("scores", score_fn, selector), build)
        return np.asarray(step(as_tensor(x), index, roi))

    def gradient_function(self, features: tuple[LayerCall, ...], reduction: Reduction, score_fn,
                          combine_fn, grids: tuple = ()):
        """A compiled ``f(x, index, roi) -> (results, scores, index, reached)``.

        ``results``: ``[combine_fn(A, grads)]`` per feature layer; ``reached``: per layer,
        ``(N,)`` whether any gradient reaches that layer's map (else the map is blank).

        ``score_fn(outputs, index, roi) -> (scores (N, K), resolved (N, K))`` turns the
        reduction output into one score per sample and target; ``combine_fn(A, grads)``
        turns a feature layer's activations ``A`` ``(N, h, w, C)`` and the list of K
        gradients dscore_k/dA into the method's result. ``grids`` read token-sequence
        feature layers as maps (None for a layer that is one). One forward and backward
        pass serves every feature layer; both functions are keras.ops code; the function is
        compiled once per (layers, score_fn, combine_fn, grids) and reused on this model.
        """
        features, grids = tuple(features), tuple(grids) or (None,) * len(features)
        key = ("gradient", tuple(f.path for f in features), reduction.key, score_fn,
               combine_fn, grids)
        return self._compiled(key, lambda: self._compile(features, reduction, score_fn,
                                                         combine_fn, grids))

    def forward_function(self, features: tuple[LayerCall, ...], reduction: Reduction,
                         score_fn, grids: tuple = ()):
        """A compiled ``f(x, index, roi) -> ([A (N, h, w, C)] per layer, scores, index)``.

        Forward only: for the methods that weight activations without gradients.
        """
        features, grids = tuple(features), tuple(grids) or (None,) * len(features)
        key = ("forward", tuple(f.path for f in features), reduction.key, score_fn, grids)
        return self._compiled(key, lambda: self._compile(features, reduction, score_fn, None,
                                                         grids))

    def reduction_scores(self, reduction: Reduction, score_fn, squash: str | None = None):
        """A compiled ``f(x, index, roi) -> scores (N, K)`` of the reduction output.

        ``squash``: "softmax" or "sigmoid" applied to the reduction output first (Score-CAM
        scores a classifier's probabilities).
        """
        key = ("reduction_scores", reduction.key, score_fn, squash)

        def build():
            capture = () if reduction.call is None else (reduction.call,)
            logits_of = reduction.call.path if reduction.pre_activation else None

            @_traced
            def step(x, index, roi):
                captured, outputs = self.forward(x, capture, logits_of)
                reduced = tf.cast(self._reduction_output(captured, outputs, reduction),
                                  tf.float32)
                if squash == "softmax":
                    reduced = tf.nn.softmax(reduced, axis=-1)
                elif squash == "sigmoid":
                    reduced = tf.nn.sigmoid(reduced)
                return tf.cast(score_fn(reduced, index, roi)[0], tf.float32)

            return lambda x, index, roi: np.asarray(step(as_tensor(x), index, roi))

        return self._compiled(key, build)

    def input_gradient_function(self, reduction: Reduction, score_fn,
                                guided: bool | Rules = False, scored: bool = False):
        """A compiled ``f(x, index, roi) -> (d scores / d x (B, H, W, C, K), scores, index)``.

        One forward and backward pass of the model's replay per call, for every image of
        the batch (noisy copies, path steps) at once; ``guided`` backpropagates through
        guided ReLUs. A :class:`~._lrp_spec.Rules` in place of ``guided``: the backward
        pass carries relevance instead (LRP), starting from ``y * d score / d y`` at the
        scored output ``y``, and the "gradient" returned is the input relevance.
        ``scored``: ``f(x, index, roi, x2, index2, roi2)`` also returns the
        scores of a second batch ``x2``, forward only, in the same call (the unchanged
        images and baselines whose scores only are wanted).
        """
        key = ("input_gradients", reduction.key, score_fn, guided, scored)

        def build():
            capture = () if reduction.call is None else (reduction.call,)
            logits_of = reduction.call.path if reduction.pre_activation else None

            def scores_of(x, index, roi, guide):
                captured, outputs = self.forward(x, capture, logits_of, guide)
                reduced = self._reduction_output(captured, outputs, reduction)
                if isinstance(guide, Rules):
                    reduced = start_relevance(reduced)
                scores, resolved = score_fn(reduced, index, roi)
                return tf.cast(scores, tf.float32), resolved

            def gradients_of(x, index, roi, num_targets):
                with tf.GradientTape(persistent=num_targets > 1) as tape:
                    tape.watch(x)
                    scores, resolved = scores_of(x, index, roi, guided)
                    per_target = [scores[:, k] for k in range(num_targets)]
                gradients = [tape.gradient(score, x) for score in per_target]
                if gradients[0] is None:
                    raise ValueError("The score does not depend on the input image.")
                return tf.stack(gradients, axis=-1), scores, resolved

            @_traced
            def step(x, index, roi, num_targets):
                return gradients_of(x, index, roi, num_targets)

            @_traced
            def step_scored(x, index, roi, x2, index2, roi2, num_targets):
                return (*gradients_of(x, index, roi, num_targets),
                        scores_of(x2, index2, roi2, False)[0])

            def run(x: np.ndarray, index: np.ndarray, roi: np.ndarray, *second):
                tensors = (as_tensor(x), tf.convert_to_tensor(index), tf.convert_to_tensor(roi))
                if scored:
                    x2, index2, roi2 = second
                    tensors += (as_tensor(x2), tf.convert_to_tensor(index2),
                                tf.convert_to_tensor(roi2))
                    return tuple(np.asarray(t) for t in step_scored(*tensors,
                                                                    int(index.shape[1])))
                return tuple(np.asarray(t) for t in step(*tensors, int(index.shape[1])))

            return run

        return self._compiled(key, build)

    def ablation_function(self, feature: LayerCall, reduction: Reduction, score_fn):
        """``(prepare, scores)``: the scores of an image with one feature channel zeroed.

        ``state = prepare(image (1, H, W, C))`` once per image, then
        ``scores(state, channels (B,), index (B, K), roi) -> (B, K)`` per batch of
        channels. For graph models ``prepare`` runs the layers up to the feature layer once
        and ``scores`` only those after it, on the B ablated copies; a subclassed model
        runs whole in ``scores``.
        """
        key = ("ablation", feature.path, reduction.key, score_fn)
        return self._compiled(key, lambda: self._compile_ablation(feature, reduction, score_fn))

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

    def _graph_of(self, call: LayerCall) -> LayerGraph:
        """The probed graph that ``call`` belongs to."""
        return next(g for g in self._graphs.values() if any(c is call for c in g.calls))

    def _hint(self, feature: LayerCall) -> str:
        graph = self._graph_of(feature)
        if not (graph.subclassed or graph.nested):
            return ""
        return f" (candidates: {graph.candidates()})"

    def _compile(self, features, reduction, score_fn, combine_fn, grids):
        """The forward (and, with ``combine_fn``, backward) pass of the CAM methods."""
        from keras import ops

        paths = [f.path for f in features]
        capture = tuple(features) if reduction.source != "layer" else (
            *features, reduction.call)
        logits_of = reduction.call.path if reduction.pre_activation else None
        hints = [self._hint(f) for f in features]

        def to_map(t, grid):
            t = tf.cast(t, tf.float32)
            return t if grid is None else grid.to_map(ops, t)

        def forward(x, index, roi):
            captured, outputs = self.forward(x, capture, logits_of)
            reduced = self._reduction_output(captured, outputs, reduction)
            scores, resolved = score_fn(reduced, index, roi)
            return [captured[p] for p in paths], tf.cast(scores, tf.float32), resolved

        @_traced
        def step(x, index, roi, num_targets):
            if combine_fn is None:  # forward only: no tape
                activations, scores, resolved = forward(x, index, roi)
                maps = [to_map(a, g) for a, g in zip(activations, grids, strict=True)]
                return maps, scores, resolved
            # A persistent tape only when it is asked for more than one gradient.
            with tf.GradientTape(persistent=num_targets * len(paths) > 1) as tape:
                tape.watch(x)
                activations, scores, resolved = forward(x, index, roi)
                per_target = [scores[:, k] for k in range(num_targets)]
            results, reached = [], []
            for path, hint, a, grid in zip(paths, hints, activations, grids, strict=True):
                gradients = []
                for score in per_target:
                    gradient = tape.gradient(score, a)
                    if gradient is None:
                        raise ValueError(
                            f"The score does not depend on feature layer {path!r}; "
                            f"choose a layer on the path to the reduction layer{hint}."
                        )
                    gradients.append(to_map(gradient, grid))
                results.append(combine_fn(to_map(a, grid), gradients))
                # Per image: whether any gradient reaches the map (else it is blank).
                nonzero = [tf.reduce_any(tf.not_equal(g, 0), axis=tuple(range(1, g.shape.rank)))
                           for g in gradients]
                reached.append(tf.reduce_any(tf.stack(nonzero, axis=-1), axis=-1))
            return results, scores, resolved, reached

        def run(x: np.ndarray, index: np.ndarray, roi: np.ndarray):
            out = step(tf.convert_to_tensor(x), tf.convert_to_tensor(index),
                       tf.convert_to_tensor(roi), int(index.shape[1]))
            results = ([np.asarray(r) for r in out[0]], np.asarray(out[1]), np.asarray(out[2]))
            if combine_fn is None:
                return results
            return (*results, [np.asarray(r) for r in out[3]])

        return run

    def _compile_ablation(self, feature, reduction, score_fn):
        path = feature.path
        logits_of = reduction.call.path if reduction.pre_activation else None

        def ablate(activations, channels):
            """(B, ...) copies of one image's activations, channel ``channels[b]`` zeroed."""
            count = tf.shape(channels)[0]
            keep = 1.0 - tf.one_hot(channels, tf.shape(activations)[-1], dtype=activations.dtype)
            keep = tf.reshape(keep, tf.concat([[count], tf.ones([tf.rank(activations) - 2],
                                                               tf.int32), [-1]], 0))
            return activations * keep

        def score(reduced, index, roi):
            return tf.cast(score_fn(reduced, index, roi)[0], tf.float32)

        if self.subclassed or feature.nested:
            @_traced
            def step(image, channels, index, roi):
                def replace(call, args, kwargs):
                    return ablate(call(*args, **kwargs), channels)

                batch = tf.repeat(image, tf.shape(channels)[0], axis=0)
                handlers = {feature.layer: replace}
                captured = {}
                if reduction.call is not None:
                    def record(call, args, kwargs):
                        if logits_of is not None:
                            layer = reduction.call.layer
                            captured[logits_of] = pre_activation(layer, args[0])
                            return layer.activation(captured[logits_of])
                        captured[reduction.call.path] = call(*args, **kwargs)
                        return captured[reduction.call.path]

                    handlers[reduction.call.layer] = record
                with _capture.intercept(handlers):
                    outputs = self.model(batch, training=False)
                return score(self._reduction_output(captured, outputs, reduction), index, roi)
        else:
            graph_calls = self._graph_of(feature).calls
            position = next(i for i, c in enumerate(graph_calls) if c is feature)
            produced = {id(c.output): c.path for c in graph_calls[:position]}
            needed = sorted({produced[id(t)] for c in graph_calls[position + 1:] for t in
                             _flat_inputs(c.inputs) if id(t) in produced})

            @_traced
            def prefix(image):
                """The layers up to the feature layer, once: (kept tensors, activations)."""
                cached, order = {}, iter(range(len(graph_calls)))

                def first(p, layer, args, kwargs):
                    i = next(order)
                    if i > position:
                        return _DUMMY
                    out = layer(*args, **kwargs)
                    if i == position or p in needed:
                        cached[p] = out
                    return out

                replay(self.model, image, first)
                return [cached[p] for p in needed], cached[path]

            @_traced
            def suffix(image, kept, activations, channels, index, roi):
                """The layers after the feature layer, on the ablated copies."""
                count = tf.shape(channels)[0]
                kept = dict(zip(needed, kept, strict=True))
                ablated = ablate(activations, channels)
                captured, order = {}, iter(range(len(graph_calls)))

                def second(p, layer, args, kwargs):
                    i = next(order)
                    if i < position:
                        return tf.repeat(kept[p], count, axis=0) if p in kept else _DUMMY
                    if i == position:
                        return ablated
                    if p == logits_of:
                        captured[p] = pre_activation(layer, args[0])
                        return layer.activation(captured[p])
                    out = layer(*args, **kwargs)
                    captured[p] = out
                    return out

                outputs = replay(self.model, tf.repeat(image, count, axis=0), second)
                return score(self._reduction_output(captured, outputs, reduction), index, roi)

            def prepare(image):
                image = tf.convert_to_tensor(image)
                return (image, *prefix(image))

            def scores(state, channels, index, roi):
                return np.asarray(suffix(*state, tf.convert_to_tensor(channels),
                                         tf.convert_to_tensor(index), tf.convert_to_tensor(roi)))

            return prepare, scores

        def prepare(image):
            return tf.convert_to_tensor(image)

        def scores(image, channels, index, roi):
            return np.asarray(step(image, tf.convert_to_tensor(channels),
                                   tf.convert_to_tensor(index), tf.convert_to_tensor(roi)))

        return prepare, scores


def _patch_size(model) -> tuple[int, int] | None:
    """The patch size a vision transformer declares (keras-hub backbones), else None."""
    for layer in (model, *(layer for _, layer, _ in _capture.walk(model))):
        size = getattr(layer, "patch_size", None)
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool) and size > 0:
            return int(size), int(size)
        if (isinstance(size, (tuple, list)) and len(size) == 2
                and all(isinstance(v, (int, np.integer)) and v > 0 for v in size)):
            return int(size[0]), int(size[1])
    return None


#: What the ablation replay returns for layers it skips (their outputs are never read).
_DUMMY = object()


def _flat_inputs(inputs) -> list:
    """The tensors in a layer call's (possibly nested) arguments."""
    if isinstance(inputs, dict):
        inputs = list(inputs.values())
    if isinstance(inputs, (list, tuple)):
        return [t for item in inputs for t in _flat_inputs(item)]
    return [inputs]


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
