"""Guided backpropagation: input gradients through ReLUs that pass only positive gradients."""

from __future__ import annotations

from ._pixel import PIXEL_PARAMETERS
from ._saliency import Saliency


class GuidedBackprop(Saliency):
    __doc__ = f"""Guided backpropagation: ``d score / d x`` with guided ReLUs.

    At every ReLU — ``ReLU`` and ``Activation("relu")`` layers and the fused
    ``activation="relu"`` of Dense/Conv layers — the gradient passes only where both the
    ReLU's input and the incoming gradient are positive. This is done in the replay of the
    model's layers (in a subclassed model's ``call``, for its ReLU layers; a raw
    ``tf.nn.relu`` there is differentiated as usual); the model is never changed. It is
    :class:`Saliency` through guided ReLUs, with the signed gradients kept.

    Parameters
    ----------
    channel_reduction : {{"max", "sum", "l2"}} or None, default="max"
        As for :class:`Saliency` (absolute values); None keeps the signed gradients per
        channel in ``attributions`` (the map is their mean).{PIXEL_PARAMETERS}

    References
    ----------
    Springenberg, Dosovitskiy, Brox & Riedmiller, "Striving for Simplicity: The All
    Convolutional Net", ICLR Workshop 2015.
    """

    method_name = "guided_backprop"
    explains_detectors = False  # not yet: refused clearly in fit
    guided = True

    def _attributions(self, images, index, roi_array, roi_mode):
        gradients, scores, resolved = self._gradients(images, index, roi_array, roi_mode)
        return gradients, scores, resolved, {}
