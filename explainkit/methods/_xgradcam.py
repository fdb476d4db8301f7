"""XGrad-CAM: channels weighted by activation-weighted gradients."""

from __future__ import annotations

from ._cam import BaseCAM, cam_example


class XGradCAM(BaseCAM):
    __doc__ = """XGrad-CAM: channels weighted by their activation-weighted gradients.

    ``w_k = sum(g_k * A_k) / sum(A_k)`` (0 for a channel whose activations sum to 0); the
    map is ``ReLU(sum_k w_k A_k)``.

    Parameters are those of :class:`~explainkit.methods.BaseCAM`.

    References
    ----------
    R. Fu, Q. Hu, X. Dong, Y. Guo, Y. Gao and B. Li, "Axiom-based Grad-CAM: Towards
    Accurate Visualization and Explanation of CNNs", BMVC 2020.
    """ + cam_example("XGradCAM")

    method_name = "xgradcam"

    @staticmethod
    def channel_weights(activations, gradients):
        from keras import ops

        total = ops.sum(activations, axis=(1, 2))
        weighted = ops.sum(gradients * activations, axis=(1, 2))
        safe = ops.where(total != 0, total, ops.ones_like(total))
        return ops.where(total != 0, weighted / safe, ops.zeros_like(total))
