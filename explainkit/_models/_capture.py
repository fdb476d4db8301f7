"""Subclassed models: the outputs of named layers, captured during the model's own ``call``.

A subclassed model's ``call`` is Python code that no graph describes, so its inner layers
cannot be replayed. Instead, while a compiled function is being traced (and only then),
the ``call`` of each layer of interest is wrapped: the wrapper records the layer's output
(or computes it before the activation) for the thread that asked, and calls the original
for everyone else. The wrappers are counted and removed in a ``finally`` when the last
user leaves, so nothing stays on the model — also when the call raises, and when several
threads explain the same model at once.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import types

import keras
import tensorflow as tf

from ._graph import LayerCall, LayerGraph, ends_in_relu, positive_gradients, pre_activation
from ._lrp_spec import Rules

_LOCK = threading.Lock()
_LOCAL = threading.local()
_PATCHES: dict[int, list] = {}  # id(layer) -> [layer, users, had own "call", own "call"]


def _wrapper(layer, original):
    @functools.wraps(original)
    def call(*args, **kwargs):
        handlers = getattr(_LOCAL, "handlers", None)
        handler = None if handlers is None else handlers.get(id(layer))
        if handler is None:
            return original(*args, **kwargs)
        return handler(original, args, kwargs)

    return call


def _install(layer) -> None:
    patch = _PATCHES.get(id(layer))
    if patch is not None:
        patch[1] += 1
        return
    own = "call" in vars(layer)
    previous = vars(layer).get("call")
    original = previous if own else types.MethodType(type(layer).call, layer)
    # object.__setattr__: past Keras' attribute tracking, so nothing else notices.
    object.__setattr__(layer, "call", _wrapper(layer, original))
    _PATCHES[id(layer)] = [layer, 1, own, previous]


def _uninstall(layer) -> None:
    patch = _PATCHES[id(layer)]
    patch[1] -= 1
    if patch[1]:
        return
    del _PATCHES[id(layer)]
    if patch[2]:
        object.__setattr__(layer, "call", patch[3])
    else:
        object.__delattr__(layer, "call")


@contextlib.contextmanager
def intercept(handlers: dict):
    """Route the calls of some layers through ``handlers[layer](call, args, kwargs)``.

    Only the current thread's calls are routed; the wrappers are removed on exit.
    """
    layers = list(handlers)
    installed = []
    try:
        with _LOCK:
            for layer in layers:
                _install(layer)
                installed.append(layer)
        previous = getattr(_LOCAL, "handlers", None)
        _LOCAL.handlers = {**(previous or {}), **{id(layer): h for layer, h in handlers.items()}}
        try:
            yield
        finally:
            _LOCAL.handlers = previous
    finally:
        with _LOCK:
            for layer in installed:
                _uninstall(layer)


def sublayers(layer) -> list:
    flatten = getattr(layer, "_flatten_layers", None)
    if flatten is None:
        return list(getattr(layer, "layers", []))
    return list(flatten(include_self=False, recursive=False))


def walk(model) -> list[tuple[str, object, tuple[str, ...]]]:
    """Every layer reachable from ``model``: ``(path, layer, aliases)``.

    Paths join layer names (``"block5/block5_conv3"``); the alias joins the attribute names
    that hold the layers where they differ (``"stage5/block5_conv3"``).
    """
    found, seen = [], set()

    def visit(parent, path: str, alias: str) -> None:
        attributes = {id(v): k for k, v in vars(parent).items()
                      if isinstance(v, keras.layers.Layer)}
        for child in sublayers(parent):
            if id(child) in seen or isinstance(child, keras.layers.InputLayer):
                continue
            seen.add(id(child))
            child_path = path + child.name
            child_alias = alias + attributes.get(id(child), child.name)
            aliases = (child_alias,) if child_alias != child_path else ()
            found.append((child_path, child, aliases))
            visit(child, child_path + "/", child_alias + "/")

    visit(model, "", "")
    return found


def probe(model, image_shape: tuple) -> LayerGraph:
    """The layers a subclassed model's ``call`` runs at ``image_shape``, by tracing it once.

    Tracing computes nothing: the recorded outputs are symbolic graph tensors whose shapes
    and producing operations the layer rules read.
    """
    if not model.built:
        # Build it as its first call would (on one blank image).
        model(tf.zeros((1, *image_shape)), training=False)
    calls: list[LayerCall] = []

    def recorder(path, aliases):
        def handler(call, args, kwargs):
            out = call(*args, **kwargs)
            calls.append(LayerCall(path, handler.layer, tuple(args), out, aliases))
            return out

        return handler

    handlers = {}
    for path, layer, aliases in walk(model):
        handler = recorder(path, aliases)
        handler.layer = layer
        handlers[layer] = handler
    result = {}

    def trace(x):
        with intercept(handlers):
            result["output"] = model(x, training=False)
        return result["output"]

    tf.function(trace, autograph=False).get_concrete_function(
        tf.TensorSpec((None, *image_shape), tf.float32))
    # A container (a Sequential block) returns its last layer's tensor: mark it as a repeat.
    seen: set = set()
    marked = []
    for call in calls:
        key = id(call.output)
        marked.append(LayerCall(call.path, call.layer, call.inputs, call.output, call.aliases,
                                repeats=key in seen))
        seen.add(key)
    return LayerGraph(marked, result["output"], image_shape, subclassed=True)


def capture_forward(model, x, capture: dict, logits_of: str | None = None,
                    guided: bool | Rules = False, replace: dict | None = None):
    """Call ``model`` on ``x``: ``(outputs of the captured layers, the model's output)``.

    ``capture`` maps paths to layers; the layer at ``logits_of`` is captured before its
    activation. ``guided``: every ReLU layer (or fused ReLU) lets only positive gradients
    back; ReLUs applied as raw operations in ``call`` are not reached. A
    :class:`~._lrp_spec.Rules` instead: every leaf layer's backward pass carries relevance
    (raw operations in ``call`` are not reached: LRP's ``fit`` refuses them on the path to
    the score). ``replace``: path of a captured layer -> ``f(output) -> new output`` that
    the rest of ``call`` sees. Meant to run while a compiled function is traced.
    """
    captured = {}
    replace = replace or {}
    lrp = guided.propagation(x) if isinstance(guided, Rules) else None

    def handler(path, layer):
        def run(call, args, kwargs):
            if path is not None and path == logits_of:
                captured[path] = (pre_activation(layer, args[0]) if lrp is None else
                                  lrp.call(layer, args, kwargs, call, activation=False))
                return layer.activation(captured[path])
            out = call(*args, **kwargs) if lrp is None else lrp.call(layer, args, kwargs, call)
            if lrp is None and guided and ends_in_relu(layer):
                out = positive_gradients(out)
            if path is not None:
                captured[path] = out
            if path in replace:
                out = replace[path](out)
            return out

        return run

    handlers = {}
    for path, layer in capture.items():
        if layer in handlers:
            raise ValueError(f"Layer {path!r} is asked for twice.")
        handlers[layer] = handler(path, layer)
    if lrp is not None:
        for _, layer, _ in walk(model):
            if layer not in handlers and not sublayers(layer):
                handlers[layer] = handler(None, layer)
    elif guided:
        for _, layer, _ in walk(model):
            if layer not in handlers and ends_in_relu(layer):
                handlers[layer] = handler(None, layer)
    with intercept(handlers):
        output = model(x, training=False)
    return captured, output
