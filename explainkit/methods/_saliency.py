"""Saliency: the absolute gradient of the score with respect to the pixels."""

from __future__ import annotations

import numpy as np

from ._pixel import PIXEL_PARAMETERS, PixelAttribution, check_channel_reduction


class Saliency(PixelAttribution):
    __doc__ = f"""Saliency maps: ``|d score / d x|``, reduced over the channels.

    Parameters
    ----------
    channel_reduction : {{"max", "sum", "l2"}} or None, default="max"
        How the channels become one map: the largest absolute gradient (the paper's), their
        sum or their Euclidean norm; None keeps the channels in ``attributions`` (the map
        is then their mean).{PIXEL_PARAMETERS}

    References
    ----------
    Simonyan, Vedaldi & Zisserman, "Deep Inside Convolutional Networks: Visualising Image
    Classification Models and Saliency Maps", ICLR Workshop 2014.
    """

    method_name = "saliency"

    def __init__(self, net, *, channel_reduction="max", reduction_layer="auto",
                 reduction_fn=None, output=None, class_names=None, batch_size=32,
                 task="auto"):
        self.net = net
        self.channel_reduction = channel_reduction
        self.reduction_layer = reduction_layer
        self.reduction_fn = reduction_fn
        self.output = output
        self.class_names = class_names
        self.batch_size = batch_size
        self.task = task

    def _check(self) -> None:
        check_channel_reduction(self.channel_reduction)

    def _attributions(self, images, index, roi_array, roi_mode):
        gradients, scores, resolved = self._gradients(images, index, roi_array, roi_mode)
        return np.abs(gradients), scores, resolved, {}
