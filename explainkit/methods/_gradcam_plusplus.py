"""Grad-CAM++: positive gradients weighted per pixel."""

from __future__ import annotations

from ._cam import BaseCAM, cam_example


class GradCAMPlusPlus(BaseCAM):
    __doc__ = """Grad-CAM++: channels weighted by positive gradients, each pixel by its own share.

    ``alpha = g^2 / (2 g^2 + sum(A) g^3)`` (0 where ``g = 0``; the sum over space), and
    ``w_k = sum(alpha * ReLU(g))``; the map is ``ReLU(sum_k w_k A_k)``. The closed form of
    the paper's alpha assumes an exponential score; as there and in pytorch-grad-cam, it is
    applied to the gradients of the score itself.

    Parameters are those of :class:`~explainkit.methods.BaseCAM`.

    References
    ----------
    A. Chattopadhyay, A. Sarkar, P. Howlader and V. N. Balasubramanian, "Grad-CAM++:
    Generalized Gradient-Based Visual Explanations for Deep Convolutional Networks",
    WACV 2018.
    """ + cam_example("GradCAMPlusPlus")

    method_name = "gradcam++"

    @staticmethod
    def channel_weights(activations, gradients):
        from keras import ops

        g2 = gradients * gradients
        total = ops.sum(activations, axis=(1, 2), keepdims=True)
        denominator = 2.0 * g2 + total * g2 * gradients
        safe = ops.where(denominator != 0, denominator, ops.ones_like(denominator))
        alpha = ops.where((gradients != 0) & (denominator != 0), g2 / safe,
                          ops.zeros_like(gradients))
        return ops.sum(alpha * ops.relu(gradients), axis=(1, 2))
