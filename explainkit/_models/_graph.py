"""The layers of a Keras model in execution order, and the rules that choose among them.

Functional and Sequential models are *replayed*: their graph is run one leaf layer at a
time (descending into nested Sequential and Functional models), with a callback that
computes each layer and can record what it needs. The same replay serves a symbolic probe
(layer output shapes at a given input size, no computation, no new graph nodes) and the
compiled forward pass. Subclassed models are probed by ``_capture`` instead; both give a
:class:`LayerGraph`, on which the same rules choose the feature and reduction layers.
"""

from __future__ import annotations

import collections
import functools
from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import ops

from .._validation import closest
from . import _outputs
from ._lrp_spec import Rules
from ._tokens import TokenGrid, token_grid

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
_NORMALISATIONS = tuple(
    getattr(keras.layers, name) for name in ("LayerNormalization", "RMSNormalization",
                                              "GroupNormalization", "BatchNormalization",
                                              "UnitNormalization") if hasattr(keras.layers, name))
_SQUASHING = ("softmax", "sigmoid", "log_softmax")
_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _is_attention(layer) -> bool:
    """True for an attention layer: Keras' own, or a layer class named ``...Attention``."""
    if isinstance(layer, (keras.layers.MultiHeadAttention, keras.layers.Attention)):
        return True
    return "Attention" in type(layer).__name__


def is_graph_model(layer) -> bool:
    """True for models whose graph can be replayed (Sequential and Functional)."""
    # Functional models (and keras.applications) carry the graph runner; subclassed ones do not.
    return isinstance(layer, keras.Sequential) or (
        isinstance(layer, keras.Model) and hasattr(layer, "_run_through_graph")
    )


def replay(model, inputs, call, prefix: str = ""):
    """Run ``model`` on ``inputs`` leaf layer by leaf layer; return its output.

    ``call(path, layer, args, kwargs)`` computes each leaf layer; nested graph models are
    descended into, so their layers are reached with paths such as ``"backbone/out_relu"``.
    """

    def visit(layer, *args, **kwargs):
        path = prefix + layer.name
        if is_graph_model(layer):
            return replay(layer, args[0], call, path + "/")
        if isinstance(layer, keras.layers.Layer):
            # Inference, as in Functional.call(training=False): Keras puts ``training`` in
            # the call context, so the layers a leaf holds (normalisation, dropout) see it
            # even where the leaf's own call takes no ``training`` (keras-hub's ASPP).
            kwargs = {**kwargs, "training": False}
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


def squashing_name(layer) -> str | None:
    """'softmax' / 'sigmoid' / 'log_softmax' when ``layer`` ends with one, else None."""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    name = getattr(getattr(layer, "activation", None), "__name__", None)
    return name if name in _SQUASHING else None


def pre_activation(layer, x):
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


#: Activations after which guided backpropagation keeps only positive gradients.
RELUS = ("relu", "relu6")


def ends_in_relu(layer) -> bool:
    """True for a ReLU layer, an ``Activation("relu")`` or a layer with a fused ReLU."""
    if isinstance(layer, keras.layers.ReLU):
        return True
    return getattr(getattr(layer, "activation", None), "__name__", None) in RELUS


@tf.custom_gradient
def positive_gradients(x):
    """The identity, letting only positive gradients through (guided backpropagation).

    Placed after a ReLU, whose own gradient already vanishes where its input is negative,
    it gives Springenberg et al.'s guided ReLU: ``1[input > 0] * max(gradient, 0)``.
    """
    return tf.identity(x), tf.nn.relu


def graph_forward(model, x, capture: tuple[str, ...], logits_of: str | None = None,
                  guided: bool | Rules = False, replace: dict | None = None):
    """Replay ``model`` on ``x``: ``(outputs of the layers at the capture paths, output)``.

    For the layer at ``logits_of`` the captured value is its output before its activation
    (the rest of the model still sees the activated output). ``guided``: every ReLU lets
    only positive gradients back (guided backpropagation), the model itself unchanged; a
    :class:`~._lrp_spec.Rules` instead: every layer's backward pass carries relevance
    by those rules (layer-wise relevance propagation).
    ``replace``: path -> ``f(output) -> new output`` that the rest of the model sees (the
    captured value is the layer's own output).
    """
    captured = {}
    replace = replace or {}
    lrp = guided.propagation(x) if isinstance(guided, Rules) else None

    def call(path, layer, args, kwargs):
        if path == logits_of:
            captured[path] = (pre_activation(layer, args[0]) if lrp is None else
                              lrp.call(layer, args, kwargs, activation=False))
            return layer.activation(captured[path])
        out = layer(*args, **kwargs) if lrp is None else lrp.call(layer, args, kwargs)
        if lrp is None and guided and ends_in_relu(layer):
            out = positive_gradients(out)
        if path in capture:
            captured[path] = out
        if path in replace:
            out = replace[path](out)
        return out

    output = replay(model, x, call)
    return captured, output


@dataclass(frozen=True, eq=False)
class LayerCall:
    """One layer call seen by a probe (its path, other names it can be given, its output)."""

    path: str
    layer: object
    inputs: tuple
    output: object
    aliases: tuple[str, ...] = ()
    repeats: bool = False  # a container whose output is an inner layer's output
    nested: bool = False  # inside a leaf layer of a replayed graph: reached by capture
    traced_shape: tuple | None = None  # the shape a traced call gave, where it differs

    @property
    def shape(self) -> tuple | None:
        """The output shape, or None when the layer has several outputs."""
        if self.traced_shape is not None:
            return self.traced_shape
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
    """Where the score comes from.

    ``source``: ``"layer"`` (``call``'s output, or its output before the activation when
    ``pre_activation``), ``"output"`` (the model's chosen output as it is) or
    ``"logits_op"`` (the input of the softmax/sigmoid operation that produces the model's
    output, for subclassed models that apply it as a raw op).
    """

    call: LayerCall | None
    pre_activation: bool
    final_activation: str | None  # how the model's own output is squashed
    is_output: bool = False  # the model's own (squashed) output, not logits
    source: str = "layer"
    output_key: object = None  # which of several outputs ("output" / "logits_op")
    label: str = ""  # the reported name

    @property
    def threshold(self) -> float | None:
        """For sigmoid segmentation: the value above which a pixel is predicted."""
        if self.final_activation != "sigmoid":
            return None
        return 0.5 if self.is_output else 0.0

    @property
    def key(self) -> tuple:
        """What identifies this reduction in a compiled-function cache."""
        path = None if self.call is None else self.call.path
        return self.source, path, self.pre_activation, self.output_key


#: Operations whose input is a subclassed model's logits (``Identity`` is looked through).
SQUASHING_OPS = {"Softmax": "softmax", "Sigmoid": "sigmoid", "LogSoftmax": "log_softmax"}


def squashing_op(tensor):
    """(name, logits tensor) when a traced ``tensor`` is a softmax/sigmoid op's output."""
    op = getattr(tensor, "op", None)
    while op is not None and op.type == "Identity":
        op = op.inputs[0].op
    if op is None or op.type not in SQUASHING_OPS:
        return None, None
    return SQUASHING_OPS[op.type], op.inputs[0]


def ancestors(tensor) -> set[str] | None:
    """Names of the traced tensors ``tensor`` is computed from (None: not a traced tensor)."""
    if getattr(tensor, "op", None) is None:
        return None
    names, seen, stack = {tensor.name}, set(), [tensor.op]
    while stack:
        op = stack.pop()
        for t in op.inputs:
            names.add(t.name)
            if t.op.name not in seen:
                seen.add(t.op.name)
                stack.append(t.op)
    return names


class LayerGraph:
    """The layers of a model in execution order, with their shapes at one input size.

    ``subclassed``: probed by capturing a subclassed model's ``call`` (containers are
    listed after their inner layers; the output may come from a raw operation).
    ``trace``: for a replayed graph with layers nested inside its leaf layers, the captured
    probe of the whole model, in which every tensor is the one its producer returned (the
    data flow the transformer rule follows); the graph itself otherwise.
    ``patch``: the patch size of a vision transformer, when the model declares one.
    """

    def __init__(self, calls: list[LayerCall], output, image_shape: tuple,
                 subclassed: bool = False, trace: LayerGraph | None = None,
                 patch: tuple[int, int] | None = None):
        self.calls = calls
        self.output = output
        self.image_shape = tuple(image_shape)
        self.subclassed = subclassed
        self.trace = self if trace is None else trace
        self.patch = patch
        self.nested = any(c.nested for c in calls)
        # The inner layers of attention layers (query, key, value projections) are no maps.
        attention = [c.path + "/" for c in calls if _is_attention(c.layer)]
        self._in_attention = {c.path for c in calls if c.path.startswith(tuple(attention))}
        counts = collections.Counter(c.layer.name for c in calls)
        self._unique = {name for name, n in counts.items() if n == 1}

    def name(self, call: LayerCall) -> str:
        """The name to report: the layer's own name when unique, else its nested path."""
        return call.layer.name if call.layer.name in self._unique else call.path

    def candidates(self) -> str:
        """The layers with a spatial or token output, for error messages."""
        items = [f"{self.name(c)} {c.shape}" for c in self.calls if not c.repeats and (
            c.spatial_size is None or c.spatial_size > 1 or self.grid(c) is not None)]
        return ", ".join(items[-12:]) if items else "none"

    def find(self, spec, argument: str) -> LayerCall:
        """The call of the layer named ``spec`` (a name, a nested path or a layer object)."""
        if isinstance(spec, keras.layers.Layer):
            hits = [c for c in self.calls if c.layer is spec]
            if not hits:
                where = " (it is never called by the model's call)" if self.subclassed else ""
                raise ValueError(f"{argument} layer {spec.name!r} is not part of this "
                                 f"model{where}; the layers called: {self.candidates()}.")
            return hits[-1]
        if not isinstance(spec, str):
            raise TypeError(
                f"{argument} must be 'auto', a layer name or a keras Layer; got {spec!r}."
            )
        hits = [c for c in self.calls if c.path == spec or spec in c.aliases] or [
            c for c in self.calls if c.layer.name == spec
        ] or [c for c in self.calls if c.path.endswith("/" + spec)]  # a path's tail
        if not hits:
            names = dict.fromkeys([c.layer.name for c in self.calls]
                                  + [p for c in self.calls for p in (c.path, *c.aliases)])
            called = " (among the layers the model's call runs)" if self.subclassed else ""
            raise ValueError(f"{argument} {spec!r} not found{called}{closest(spec, names)}")
        if len({c.path for c in hits}) > 1:
            paths = sorted({c.path for c in hits})
            raise ValueError(
                f"{argument} {spec!r} is ambiguous: it names {len(paths)} layers "
                f"({', '.join(paths)}); pass the nested path instead."
            )
        return hits[-1]

    def producer(self, tensor) -> LayerCall | None:
        """The (innermost) layer call whose output is ``tensor``."""
        return next((c for c in self.calls if c.output is tensor), None)

    def _name_of(self, tensor) -> str | None:
        call = self.producer(tensor)
        return None if call is None else call.layer.name

    def choose_output(self, output, hint: str = "output=") -> _outputs.Output | None:
        """The chosen output (None: the model has one plain output)."""
        return _outputs.choose(self.output, output, self._name_of, hint=hint)

    def output_tensor(self, output=None, hint: str = "output="):
        """The chosen output's probe tensor, and the key that takes it."""
        chosen = self.choose_output(output, hint)
        key = None if chosen is None else chosen.key
        return _outputs.take(self.output, key), key

    def output_label(self, output=None):
        """What to record as the chosen output: None for a one-output model."""
        if not _outputs.is_structure(self.output) or len(self.output) <= 1:
            return None
        return self.choose_output(output).label

    def final_activation(self, output=None) -> str | None:
        """'softmax' / 'sigmoid' / 'log_softmax' when the chosen output is squashed."""
        tensor, _ = self.output_tensor(output)
        last = self.producer(tensor)
        if last is not None:
            return squashing_name(last.layer)
        return squashing_op(tensor)[0] if self.subclassed else None

    def reduction(self, spec, output=None) -> Reduction:
        """Resolve ``reduction_layer``: 'auto' takes the logits before a final softmax/sigmoid."""
        if spec != "auto":
            call = self.find(spec, "reduction_layer")
            final = squashing_name(call.layer)
            outputs = self.output.values() if isinstance(self.output, dict) else (
                self.output if _outputs.is_structure(self.output) else [self.output])
            is_output = any(call.output is t for t in outputs)
            if not is_output:  # an inner layer: the model's own squashing, if it has one
                single = not _outputs.is_structure(self.output) or len(self.output) == 1
                final = self.final_activation() if single else None
            return Reduction(call, False, final, is_output=is_output, label=self.name(call))
        tensor, key = self.output_tensor(
            output, hint="output= (or name the head with reduction_layer=)")
        label = "output" if key is None else f"output {self.choose_output(output).label!r}"
        last = self.producer(tensor)
        if last is None:
            if self.subclassed:
                final, logits = squashing_op(tensor)
                if final is None:
                    return Reduction(None, False, None, is_output=True, source="output",
                                     output_key=key, label=label)
                return Reduction(None, False, final, source="logits_op", output_key=key,
                                 label=f"{label} logits (before {final})")
            raise ValueError("The model's output is its input: there is nothing to explain.")
        final = squashing_name(last.layer)
        if final is None:
            return Reduction(last, False, None, label=self.name(last))
        if isinstance(last.layer, (keras.layers.Activation, keras.layers.Softmax)):
            # A separate softmax/sigmoid layer: the scores are its input.
            producer = self.producer(last.inputs[0]) if last.inputs else None
            if producer is None:
                if self.subclassed:
                    return Reduction(last, False, final, is_output=True,
                                     label=self.name(last))
                raise ValueError(
                    f"The final {final} layer {last.path!r} acts directly on the model input; "
                    "there are no logits to explain."
                )
            return Reduction(producer, False, final, label=self.name(producer))
        if isinstance(last.layer, (keras.layers.Dense, *_CONVOLUTIONS)):
            return Reduction(last, True, final, label=self.name(last))
        raise ValueError(
            f"The last layer {last.path!r} ({type(last.layer).__name__}) applies {final} "
            "internally and explainkit cannot take its logits; pass reduction_layer='"
            f"{last.path}' to explain the {final} output itself, or give the model a separate "
            f"Activation('{final}') layer."
        )

    def reduction_shape(self, reduction: Reduction) -> tuple:
        """The shape of what ``reduction`` scores, at this graph's input size."""
        if reduction.call is not None:
            return self.find(reduction.call.path, "reduction_layer").shape
        return tuple(_outputs.take(self.output, reduction.output_key).shape)

    def reduction_output_label(self, reduction: Reduction, output=None):
        """The output ``reduction`` scores, as recorded (None for a one-output model)."""
        if reduction.call is None or output is not None:
            return self.output_label(output)
        if not _outputs.is_structure(self.output) or len(self.output) <= 1:
            return None
        for entry in _outputs.list_outputs(self.output, self._name_of):  # a named head
            if _outputs.take(self.output, entry.key) is reduction.call.output:
                return entry.label
        return None

    def grid(self, call: LayerCall, reshape=None) -> TokenGrid | None:
        """The token grid of a ``(N, T, C)`` output on an image model, else None."""
        if len(self.image_shape) != 3:
            return None
        expected = None
        if self.patch is not None:
            expected = (self.image_shape[0] // self.patch[0], self.image_shape[1] // self.patch[1])
        return token_grid(call.shape or (), self.image_shape[:2], reshape, expected)

    def transformer_feature(self, reduction: Reduction) -> LayerCall | None:
        """The automatic feature layer of a transformer (see ``_transformer_feature``)."""
        return self._transformer_feature(self._stop(reduction))

    def _transformer_feature(self, stop: int) -> LayerCall | None:
        """The input of the last transformer block's first normalisation, as a layer call.

        The last attention layer before ``stop`` marks the last block: the layer that holds
        it (a keras-hub block), or, when the attention layer sits in the graph itself (Keras'
        ``MultiHeadAttention`` in a Functional model), the attention layer. The first
        normalisation is the block's first normalisation layer called before its attention,
        or the normalisation that feeds the attention. Its input (the block's input in a
        pre-norm block, else the block's input) is the output of the layer returned: there,
        patch tokens still reach a class token through attention. None when the model has
        no attention layer, or the tensor has no layer that produces it.
        """
        trace = self.trace
        paths = {c.path for c in self.calls[:stop]}
        calls = [c for c in trace.calls if c.path in paths]
        attention = [c for c in calls if _is_attention(c.layer) and not any(
            _is_attention(p.layer) for p in calls if c.path.startswith(p.path + "/"))]
        for last in reversed(attention):
            parent = last.path.rpartition("/")[0]
            block = next((c for c in calls if c.path == parent), None)
            if block is not None:
                inner = [c for c in calls[:calls.index(last)]
                         if c.path.rpartition("/")[0] == parent]
                norm = next((c for c in inner if isinstance(c.layer, _NORMALISATIONS)), None)
                entry = block
            else:
                feeding = trace.producer(last.inputs[0]) if last.inputs else None
                norm = feeding if feeding is not None and isinstance(
                    feeding.layer, _NORMALISATIONS) else None
                entry = last
            for tensor in (norm.inputs[0] if norm is not None and norm.inputs else None,
                           entry.inputs[0] if entry.inputs else None):
                source = None if tensor is None else trace.producer(tensor)
                if source is None or source.path not in paths:
                    continue
                # A block that returns its inner layer's tensor is named, not its inner layer.
                source = min((c for c in calls if c.output is tensor
                              and source.path.startswith(c.path + "/")),
                             key=lambda c: len(c.path), default=source)
                found = next(c for c in self.calls if c.path == source.path)
                if self.grid(found) is not None:
                    return found
        return None

    def _scored_tensor(self, reduction: Reduction):
        if reduction.call is not None:
            return reduction.call.output
        tensor = _outputs.take(self.output, reduction.output_key)
        return squashing_op(tensor)[1] if reduction.source == "logits_op" else tensor

    def _stop(self, reduction: Reduction) -> int:
        return len(self.calls) if reduction.call is None else self.calls.index(reduction.call)

    def feature(self, spec, reduction: Reduction,
                reshape=None) -> tuple[LayerCall, TokenGrid | None]:
        """Resolve ``feature_layer``: 'auto' = last spatial layer before the reduction layer.

        Returns the layer call and, for a token-sequence output, its grid.
        """
        stop = self._stop(reduction)
        if spec == "auto":
            # A subclassed model's call may compute side outputs the score never sees.
            scored = self._scored_tensor(reduction)
            used = ancestors(scored) if self.subclassed else None
            if used is not None:
                used.discard(scored.name)  # the score itself is no feature map
            for call in reversed(self.calls[:stop]):
                if (call.repeats or isinstance(call.layer, _NOT_FEATURE_LAYERS)
                        or call.path in self._in_attention):
                    continue
                if used is not None and getattr(call.output, "name", None) not in used:
                    continue
                if call.spatial_size is None or call.spatial_size > 1:
                    return call, None
                grid = self.grid(call, reshape)
                if grid is not None:
                    # A token model: its map comes from inside the last transformer block.
                    block = self._transformer_feature(stop)
                    if block is not None:
                        return block, self.grid(block, reshape)
                    return call, grid
            block = self._transformer_feature(stop)
            if block is not None:
                return block, self.grid(block, reshape)
            hint = (f" Name one with feature_layer=...; the layers called: "
                    f"{self.candidates()}." if self.subclassed or self.nested else "")
            raise ValueError(
                "The model has no layer with a spatial output (N, h, w, C) larger than 1x1, "
                "or a token sequence (N, T, C) that forms a grid, before its reduction layer "
                f"{reduction.label!r}, so there is no feature map to explain; Grad-CAM needs "
                f"a convolutional or transformer model.{hint}"
            )
        call = self.find(spec, "feature_layer")
        grid = self.grid(call, reshape) if call.shape is not None and len(call.shape) == 3 else None
        if reshape is not None and grid is None:
            raise ValueError(
                f"reshape={tuple(reshape)} applies to token sequences (N, T, C); feature_layer "
                f"{spec!r} has output shape {call.shape}."
            )
        if grid is None and call.spatial_size is not None and call.spatial_size <= 1:
            tokens = (" A token sequence (N, T, C) needs T = h*w or 1 + h*w tokens in the "
                      "image's aspect ratio, or reshape=(h, w)." if call.shape is not None
                      and len(call.shape) == 3 else "")
            raise ValueError(
                f"feature_layer {spec!r} has output shape {call.shape}: Grad-CAM needs a "
                f"spatial output (N, h, w, C) with h * w > 1.{tokens}"
            )
        if self.calls.index(call) > stop:
            raise ValueError(
                f"feature_layer {spec!r} comes after the reduction layer "
                f"{reduction.label!r}; the score cannot depend on it."
            )
        return call, grid
