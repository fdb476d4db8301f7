"""Gradient x input: each pixel's value times the score's gradient there."""

from __future__ import annotations

from ._pixel import PIXEL_PARAMETERS, PixelAttribution


class GradientInput(PixelAttribution):
    __doc__ = f"""Gradient x input: ``x * d score / d x``, summed over the channels (signed).

    Parameters
    ----------{PIXEL_PARAMETERS}

    References
    ----------
    Shrikumar, Greenside, Shcherbina & Kundaje, "Not Just a Black Box: Learning Important
    Features Through Propagating Activation Differences", arXiv:1605.01713, 2016.
    """

    method_name = "gradient_input"

    def __init__(self, net, *, reduction_layer="auto", reduction_fn=None, output=None,
                 class_names=None, batch_size=32, task="auto"):
        self.net = net
        self.reduction_layer = reduction_layer
        self.reduction_fn = reduction_fn
        self.output = output
        self.class_names = class_names
        self.batch_size = batch_size
        self.task = task

    def _attributions(self, images, index, roi_array, roi_mode):
        gradients, scores, resolved = self._gradients(images, index, roi_array, roi_mode)
        return images[..., None] * gradients, scores, resolved, {}
