"""Ablation-CAM: channels weighted by how much the score drops without them."""

from __future__ import annotations

import numpy as np

from .._batching import batches, images_per_call
from ..targets import score_function
from ._cam import BaseCAM, cam_example, check_progress


class AblationCAM(BaseCAM):
    __doc__ = """Ablation-CAM: channels weighted by the relative drop of the score without them.

    ``w_k = (y - y_k) / y``, with ``y`` the target's score (the reduction layer's output:
    the logits of a classifier) and ``y_k`` the same with channel ``k`` of the feature
    layer set to 0 in the forward pass (``w_k = 0`` where ``y = 0``); the map is
    ``ReLU(sum_k w_k A_k)``. Gradient-free. The ablated copies are batched over channels
    (``batch_size`` copies per call, capped by ``max_batch_bytes``); for Functional and
    Sequential models only the layers after the feature layer run on them (the layers
    before it run once per image); a subclassed model runs whole. Targets and
    ``roi="predicted"`` are decided on the unablated image.

    Parameters
    ----------
    progress : bool, optional
        Show a progress bar; None = only on long runs in an interactive terminal.

    Other parameters are those of :class:`~explainkit.methods.BaseCAM`.

    References
    ----------
    S. Desai and H. G. Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional
    Network via Gradient-free Localization", WACV 2020.
    """ + cam_example("AblationCAM")

    method_name = "ablationcam"
    explains_detectors = False  # not yet: refused clearly in fit

    def __init__(self, net, *, feature_layer="auto", reduction_layer="auto", reduction_fn=None,
                 output=None, reshape=None, output_upsampling="bicubic", relu=True,
                 class_names=None, batch_size=32, task="auto", progress=None):
        super().__init__(
            net, feature_layer=feature_layer, reduction_layer=reduction_layer,
            reduction_fn=reduction_fn, output=output, reshape=reshape,
            output_upsampling=output_upsampling, relu=relu, class_names=class_names,
            batch_size=batch_size, task=task)
        self.progress = progress

    def _validate_params(self) -> None:
        super()._validate_params()
        check_progress(self.progress)

    def _layer_maps(self, images, index, roi_array, roi_mode, features, grids):
        adapter, reduction = self._adapter, self._reduction
        (A,), scores, resolved = self._forward(images, index, roi_array, roi_mode, features,
                                               grids)
        roi_array, roi_mode = self._frozen_roi(images, index, roi_array, roi_mode, resolved)
        prepare, ablated = adapter.ablation_function(
            features[0], reduction,
            score_function(self.task_, roi_mode, reduction.threshold, self.reduction_fn))
        channels = A.shape[-1]
        per_call = images_per_call(self.batch_size, A[0].nbytes)
        maps = []
        for i in range(len(images)):
            state = prepare(images[i:i + 1])
            drops = np.empty((channels, resolved.shape[1]), dtype=np.float32)
            for chunk in batches(channels, per_call, progress=self.progress,
                                 desc="ablationcam"):
                ids = np.arange(chunk.start, chunk.stop, dtype=np.int32)
                drops[chunk] = ablated(state, ids,
                                       np.repeat(resolved[i:i + 1], len(ids), axis=0),
                                       np.repeat(roi_array[i:i + 1], len(ids), axis=0))
            y = scores[i]
            safe = np.where(y != 0, y, 1)
            weights = np.where(y != 0, (y - drops) / safe, 0).astype(np.float32)
            maps.append(np.einsum("hwc,ck->hwk", A[i], weights))
        return [np.stack(maps)], scores, resolved
