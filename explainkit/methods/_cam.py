"""The CAM family's shared machinery: layers, gradients, targets, batching, upsampling.

A CAM variant subclasses :class:`BaseCAM` and only says how its map is computed: the
channel weights from the feature activations and the gradients (``channel_weights``), or
the whole map element-wise (``layer_map``); variants that need no gradient, or extra
forward passes, override ``_layer_maps``.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._batching import batches
from .._explanation import BlankMapWarning, Explanation
from .._image import UPSAMPLING, upsample
from .._models._tokens import check_reshape
from .._validation import check_images, check_option
from ..base import Explainer
from ..targets import score_function
from ._scoring import (
    check_scoring,
    detection_fields,
    explain_targets,
    fit_scoring,
    frozen_roi,
)


def cam_example(name: str) -> str:
    """The Examples section of a CAM variant's docstring (a doctest on a tiny model)."""
    return f"""
    Examples
    --------
    >>> import keras, numpy as np
    >>> from explainkit import {name}
    >>> net = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
    ...                         keras.layers.GlobalAveragePooling2D(),
    ...                         keras.layers.Dense(2, activation="softmax")])
    >>> {name}(net).fit().explain(np.ones((16, 16, 3)), target=1).score_map.shape
    (16, 16)
"""


def check_progress(progress) -> None:
    """A TypeError unless ``progress`` is None, True or False."""
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be None, True or False; got {progress!r}.")


def _concatenate(parts):
    """Join per-mini-batch ``([maps] per layer, scores, resolved)`` along the images."""
    layers = [np.concatenate([p[0][i] for p in parts]) for i in range(len(parts[0][0]))]
    return layers, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


class BaseCAM(Explainer):
    """Base class of class-activation-map methods on Keras models.

    Parameters
    ----------
    net : keras.Model
        A Keras 3 model: Functional or Sequential (nested models and models loaded from
        ``.keras`` or ``.h5`` files included) or subclassed.
    feature_layer : str or keras.layers.Layer, default="auto"
        The layer whose activations are weighted. "auto": the last layer, before the
        reduction layer, whose output at the actual input size has spatial extent > 1
        (or is a token sequence that forms a grid), skipping pooling, dropout, reshaping
        and normalisation layers. Layers inside nested models can be named directly or by
        path (``"backbone/block5_conv3"``); in a subclassed model, by the path of layer
        names or of the attributes that hold them (``"block5/block5_conv3"``). The
        element-wise variants (LayerCAM, HiResCAM) also take a list of layers: each
        layer's map is upsampled to the input and the maps are averaged.
    reduction_layer : str or keras.layers.Layer, default="auto"
        The layer whose output is scored. "auto": the logits before a final softmax or
        sigmoid (a separate layer, the activation of the last Dense/Conv, or a softmax /
        sigmoid operation in a subclassed model's ``call``), the output otherwise;
        per-pixel class scores for segmentation. With several outputs, naming a head
        scores that head's output as it is.
    output : int or str, optional
        For a model with several outputs: the output to explain (its index, or its name:
        the producing layer's name or the dict key), with reduction_layer="auto".
    reshape : (int, int), optional
        Read a token-sequence feature layer ``(N, T, C)`` as an ``h x w`` map, dropping
        the ``T - h*w`` leading tokens. By default ``T = h*w`` or ``1 + h*w`` (a class
        token first) with the image's aspect ratio, or square, is found automatically.
    reduction_fn : callable, optional
        ``reduction_fn(outputs) -> (n,)`` turns the reduction layer's output into one score
        per sample (keras.ops code), replacing ``target`` (MATLAB's ReductionFcn).
    output_upsampling : {"bicubic", "nearest", "none"}, default="bicubic"
        How maps are resized to the input size; "none" keeps the feature-map resolution.
    relu : bool, default=True
        Keep only positive evidence; False returns the signed map.
    class_names : sequence of str, optional
        Names of the model's outputs, so that targets can be given by name.
    batch_size : int, default=32
        Images per model call.
    task : {"auto", "classification", "regression", "segmentation"}, default="auto"
        "auto": segmentation for spatial outputs, classification when the model ends in
        softmax/sigmoid, regression otherwise (say "classification" for a logits model).
    """

    def __init__(self, net, *, feature_layer="auto", reduction_layer="auto", reduction_fn=None,
                 output=None, reshape=None, output_upsampling="bicubic", relu=True,
                 class_names=None, batch_size=32, task="auto"):
        self.net = net
        self.feature_layer = feature_layer
        self.reduction_layer = reduction_layer
        self.reduction_fn = reduction_fn
        self.output = output
        self.reshape = reshape
        self.output_upsampling = output_upsampling
        self.relu = relu
        self.class_names = class_names
        self.batch_size = batch_size
        self.task = task

    #: Whether ``feature_layer`` may be a list (element-wise variants: maps fused by mean).
    multi_layer = False

    @staticmethod
    def channel_weights(activations, gradients):
        """Weights ``(N, C)`` of the feature channels, from ``(N, h, w, C)`` tensors."""
        raise NotImplementedError

    @classmethod
    def layer_map(cls, activations, gradients):
        """The map ``(N, h, w)`` before the ReLU: ``sum_k w_k A_k`` (keras.ops)."""
        from keras import ops

        return ops.einsum("nhwc,nc->nhw", activations, cls.channel_weights(activations, gradients))

    @classmethod
    def _combine(cls, activations, gradients):
        from keras import ops

        return ops.stack([cls.layer_map(activations, g) for g in gradients], axis=-1)

    def _layer_maps(self, images, index, roi_array, roi_mode, features, grids):
        """``([maps (N, h, w, K)] per feature layer, scores (N, K), resolved (N, K))``.

        The default: one forward and backward pass per mini-batch, combined by
        ``_combine``.
        """
        function = self._adapter.gradient_function(
            features, self._reduction, self._score_function(roi_mode), type(self)._combine,
            grids)
        parts = [function(images[c], index[c], roi_array[c])
                 for c in batches(len(images), self.batch_size)]
        for i, feature in enumerate(features):
            reached = np.concatenate([p[3][i] for p in parts])
            if not reached.all():
                self._warn_blank(images.shape[1:], feature, grids[i], int((~reached).sum()))
        return _concatenate([p[:3] for p in parts])

    def _warn_blank(self, image_shape, feature, grid, count: int) -> None:
        """A :class:`BlankMapWarning`: ``count`` maps at ``feature`` get no gradient."""
        graph = self._adapter.graph(image_shape)
        name = graph.name(feature)
        reason = (" (the score reads only its prefix tokens, e.g. a class token)"
                  if grid is not None and grid.offset else "")
        better = graph.transformer_feature(self._reduction)
        if better is not None and better.path != feature.path:
            advice = (f"name feature_layer={graph.name(better)!r} (inside the last "
                      "transformer block, where the patch tokens still reach the score)")
        else:
            advice = f"name a layer whose every position the score reads ({graph.candidates()})"
        warnings.warn(
            f"{type(self).__name__}: no gradient reaches feature layer {name!r}{reason}, so "
            f"{count} map(s) are exactly zero everywhere; {advice}.",
            BlankMapWarning, stacklevel=5)  # the caller of explain (through its wrapper)

    def _forward(self, images, index, roi_array, roi_mode, features, grids):
        """``([A (N, h, w, C)] per feature layer, scores, resolved)``: forward passes only."""
        forward = self._adapter.forward_function(features, self._reduction,
                                                 self._score_function(roi_mode), grids)
        return _concatenate([forward(images[c], index[c], roi_array[c])
                             for c in batches(len(images), self.batch_size)])

    def _frozen_roi(self, images, index, roi_array, roi_mode, resolved):
        """``(roi_array, roi_mode)`` with ``"predicted"`` frozen on the unperturbed images."""
        return frozen_roi(self._adapter, self._reduction, images, index, roi_array, roi_mode,
                          resolved, self.batch_size)

    def _score_function(self, roi_mode: str):
        return score_function(self.task_, roi_mode, self._reduction.threshold, self.reduction_fn)

    def _validate_params(self) -> None:
        check_option("output_upsampling", self.output_upsampling, UPSAMPLING)
        if not isinstance(self.relu, bool | np.bool_):
            raise TypeError(f"relu must be True or False; got {self.relu!r}.")
        check_scoring(self)
        check_reshape(self.reshape)
        if isinstance(self.feature_layer, (list, tuple)):
            if not self.multi_layer:
                raise TypeError(
                    f"{type(self).__name__} takes one feature_layer; a list of layers is for "
                    "the element-wise variants (LayerCAM, HiResCAM). Got "
                    f"{self.feature_layer!r}.")
            if not self.feature_layer:
                raise ValueError("feature_layer must not be an empty list.")

    def _check_layers(self, graph, features, reduction) -> None:
        """Variants with requirements on the model check them here (fit)."""

    def fit(self, X=None, y=None):
        """Resolve the feature and reduction layers and the task.

        Parameters
        ----------
        X : array-like, optional
            An example image or batch; needed only when the model's input size is not fixed.
        y : ignored

        Returns
        -------
        self
        """
        self._validate_params()
        adapter, graph, reduction = fit_scoring(self, X)
        specs = self.feature_layer if isinstance(self.feature_layer, (list, tuple)) else [
            self.feature_layer]
        if self._detection is not None:  # the encoder's pyramid levels by name, or its last
            from .._detection._detector import pyramid_layer

            specs = [pyramid_layer(self.net, spec) for spec in specs]
        resolved = [graph.feature(spec, reduction, check_reshape(self.reshape)) for spec in specs]
        features = [feature for feature, _ in resolved]
        if len({f.path for f in features}) < len(features):
            raise ValueError(f"feature_layer names a layer twice: {self.feature_layer!r}.")
        self._check_layers(graph, features, reduction)
        names = [graph.name(f) for f in features]
        grids = [None if g is None else (g.height, g.width) for _, g in resolved]
        several = isinstance(self.feature_layer, (list, tuple))
        self.feature_layer_ = names if several else names[0]
        self.feature_grid_ = grids if several else grids[0]
        self._adapter, self._features, self._reduction = adapter, features, reduction
        return self

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """Compute the maps of ``X`` for ``target``.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)``, ``(H, W)`` for one-channel models, or a batch
            ``(N, H, W, C)``; uint8 or float, preprocessed as the model expects.
        target : int, str, list, ndarray or None
            What to explain (see :mod:`explainkit.targets`); a list gives one map per
            target for every image, a numpy array ``(N,)`` / ``(N, K)`` the target(s) of
            each image.
        roi : bool array or "predicted", optional
            Segmentation only: the pixels whose class scores are summed, at the model
            output's resolution, ``(h, w)`` or ``(N, h, w)``.

        Returns
        -------
        Explanation
        """
        self._check_fitted()
        adapter = self._adapter
        images, single_image = check_images(X, input_shape=adapter.input_shape)
        graph = adapter.graph(images.shape[1:])
        index, single_target, roi_array, roi_mode, detected = explain_targets(
            self, images, target, roi, graph, self._reduction)
        features = [graph.find(f.path, "feature_layer") for f in self._features]
        reshape = check_reshape(self.reshape)
        grids = [graph.grid(f, reshape) if len(f.shape) == 3 else None for f in features]
        layer_maps, scores, resolved = self._layer_maps(images, index, roi_array, roi_mode,
                                                        features, grids)
        size = images.shape[1:3]
        if len(layer_maps) > 1 and self.output_upsampling == "none":
            raise ValueError(
                "output_upsampling='none' keeps each layer's resolution, so several feature "
                "layers cannot be fused; use 'bicubic' or 'nearest'.")
        fused = []
        for maps in layer_maps:
            if self.relu:
                maps = np.maximum(maps, 0)
            maps = upsample(maps, size, self.output_upsampling)
            if self.relu:
                maps = np.maximum(maps, 0)  # bicubic overshoot dips below zero
            fused.append(maps)
        maps = fused[0] if len(fused) == 1 else np.mean(fused, axis=0)
        maps, extra = detection_fields(self, detected, maps)
        return self._explanation(
            maps, targets=None if self.reduction_fn is not None else resolved, scores=scores,
            task=self.task_, images=images, single_image=single_image,
            single_target=single_target, feature_layer=self.feature_layer_,
            reduction_layer=self.reduction_layer_, output=self.output_, **extra,
        )  # fmt: skip
