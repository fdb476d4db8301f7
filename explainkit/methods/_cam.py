"""The CAM family's shared machinery: layers, gradients, targets, batching, upsampling.

A CAM variant subclasses :class:`BaseCAM` and only says how the channel weights are
computed from the feature activations and the gradients (``channel_weights``).
"""

from __future__ import annotations

import numpy as np

from .._batching import batches
from .._explanation import Explanation
from .._image import UPSAMPLING, upsample
from .._models import keras_adapter
from .._models._tokens import check_reshape
from .._validation import check_images, check_int, check_option, example_shape
from ..base import Explainer
from ..targets import (
    TASKS,
    infer_task,
    num_outputs,
    resolve_roi,
    resolve_targets,
    score_function,
)


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
        names or of the attributes that hold them (``"block5/block5_conv3"``).
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

    @staticmethod
    def channel_weights(activations, gradients):
        """Weights ``(N, C)`` of the feature channels, from ``(N, h, w, C)`` tensors."""
        raise NotImplementedError

    @classmethod
    def _combine(cls, activations, gradients):
        from keras import ops

        maps = [
            ops.einsum("nhwc,nc->nhw", activations, cls.channel_weights(activations, g))
            for g in gradients
        ]
        return ops.stack(maps, axis=-1)

    def _validate_params(self) -> None:
        check_option("output_upsampling", self.output_upsampling, UPSAMPLING)
        check_option("task", self.task, ("auto", *TASKS))
        check_int("batch_size", self.batch_size)
        if not isinstance(self.relu, bool | np.bool_):
            raise TypeError(f"relu must be True or False; got {self.relu!r}.")
        if self.reduction_fn is not None and not callable(self.reduction_fn):
            raise TypeError(f"reduction_fn must be callable; got {self.reduction_fn!r}.")
        if self.output is not None and not (
                isinstance(self.reduction_layer, str) and self.reduction_layer == "auto"):
            raise ValueError(
                "output= chooses the output whose logits reduction_layer='auto' finds; "
                f"reduction_layer={self.reduction_layer!r} names the layer itself. Pass one "
                "of them.")
        check_reshape(self.reshape)

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
        adapter = keras_adapter(self.net)
        image_shape = None
        if X is not None:
            image_shape = example_shape(X, input_shape=adapter.input_shape)
        graph = adapter.graph(image_shape)
        reduction = graph.reduction(self.reduction_layer, self.output)
        feature, grid = graph.feature(self.feature_layer, reduction, check_reshape(self.reshape))
        output_shape = graph.reduction_shape(reduction)
        task = self.task
        if task == "auto":
            task = infer_task(output_shape, reduction.final_activation)
        elif (task == "segmentation") != (len(output_shape) == 4):
            raise ValueError(
                f"task={task!r} does not fit the reduction layer's output shape {output_shape}: "
                "segmentation needs (N, h, w, classes), the other tasks (N, outputs)."
            )
        self.feature_layer_ = graph.name(feature)
        self.reduction_layer_ = reduction.label
        self.output_ = graph.reduction_output_label(reduction, self.output)
        self.feature_grid_ = None if grid is None else (grid.height, grid.width)
        self.task_ = task
        self.n_outputs_ = num_outputs(output_shape, task)
        self._adapter, self._feature, self._reduction = adapter, feature, reduction
        return self

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """Compute the maps of ``X`` for ``target``.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)``, ``(H, W)`` for one-channel models, or a batch
            ``(N, H, W, C)``; uint8 or float, preprocessed as the model expects.
        target : int, str, list or None
            What to explain (see :mod:`explainkit.targets`); a list gives one map per target.
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
        n = len(images)
        if self.reduction_fn is not None:
            if target is not None or roi is not None:
                raise ValueError("reduction_fn replaces target and roi; do not pass them too.")
            index, single_target = np.full((n, 1), -1, dtype=np.int32), True
        else:
            index, single_target = resolve_targets(
                target, task=self.task_, count=self.n_outputs_, class_names=self.class_names,
                num_images=n,
            )
        graph = adapter.graph(images.shape[1:])
        output_shape = graph.reduction_shape(self._reduction)
        roi_array, roi_mode = resolve_roi(roi, task=self.task_, output_shape=output_shape,
                                          num_images=n)
        feature = graph.find(self._feature.path, "feature_layer")
        grid = graph.grid(feature, check_reshape(self.reshape)) if len(feature.shape) == 3 else None
        function = adapter.gradient_function(
            feature, self._reduction,
            score_function(self.task_, roi_mode, self._reduction.threshold, self.reduction_fn),
            type(self)._combine, grid,
        )  # fmt: skip
        parts = [function(images[c], index[c], roi_array[c]) for c in batches(n, self.batch_size)]
        maps, scores, resolved = (np.concatenate(p) for p in zip(*parts, strict=True))
        if self.relu:
            maps = np.maximum(maps, 0)
        maps = upsample(maps, images.shape[1:3], self.output_upsampling)
        if self.relu:
            maps = np.maximum(maps, 0)  # bicubic overshoot dips below zero
        return self._explanation(
            maps, targets=None if self.reduction_fn is not None else resolved, scores=scores,
            task=self.task_, images=images, single_image=single_image,
            single_target=single_target, feature_layer=self.feature_layer_,
            reduction_layer=self.reduction_layer_, output=self.output_,
        )  # fmt: skip
