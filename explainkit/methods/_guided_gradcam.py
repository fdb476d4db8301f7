"""Guided Grad-CAM: guided backpropagation times the upsampled Grad-CAM map."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._explanation import Explanation
from ._gradcam import GradCAM
from ._guided_backprop import GuidedBackprop
from ._pixel import check_channel_reduction, reduce_channels


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM: the guided-backpropagation map times the Grad-CAM map.

    Both are computed for the same targets (resolved once, by Grad-CAM) and the same
    score; the product is pixel-sharp where Grad-CAM says the class is.

    Parameters
    ----------
    channel_reduction : {"max", "sum", "l2"} or None, default="max"
        How the guided gradients' channels become one map (see :class:`GuidedBackprop`);
        None keeps them per channel in ``attributions``.

    The other parameters are Grad-CAM's (:class:`~explainkit.methods.BaseCAM`).

    References
    ----------
    R. R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017.
    """

    method_name = "guided_gradcam"
    explains_detectors = False  # not yet: refused clearly in fit

    def __init__(self, net, *, channel_reduction="max", feature_layer="auto",
                 reduction_layer="auto", reduction_fn=None, output=None, reshape=None,
                 output_upsampling="bicubic", relu=True, class_names=None, batch_size=32,
                 task="auto"):
        super().__init__(net, feature_layer=feature_layer, reduction_layer=reduction_layer,
                         reduction_fn=reduction_fn, output=output, reshape=reshape,
                         output_upsampling=output_upsampling, relu=relu,
                         class_names=class_names, batch_size=batch_size, task=task)
        self.channel_reduction = channel_reduction

    def fit(self, X=None, y=None):
        """Resolve Grad-CAM's layers and the guided backpropagation; return ``self``."""
        check_channel_reduction(self.channel_reduction)
        super().fit(X)
        self._guided = GuidedBackprop(
            self.net, channel_reduction=None, reduction_layer=self.reduction_layer,
            reduction_fn=self.reduction_fn, output=self.output, class_names=self.class_names,
            batch_size=self.batch_size, task=self.task).fit(X)
        return self

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """Guided Grad-CAM maps of ``X`` for ``target`` (see :meth:`GradCAM.explain`)."""
        cam = super().explain(X, target, roi=roi)
        targets = target if self.reduction_fn is not None else cam.targets
        guided = self._guided.explain(cam.images, targets, roi=roi)
        product = guided.attributions * cam.maps[:, :, :, None, :]
        attributions = product if self.channel_reduction is None else None
        maps = reduce_channels(product, self.channel_reduction).astype(np.float32)
        return dataclasses.replace(cam, maps=maps, attributions=attributions)
