"""Layer-CAM: element-wise positive gradients times activations."""

from __future__ import annotations

from ._cam import BaseCAM, cam_example


class LayerCAM(BaseCAM):
    __doc__ = """Layer-CAM: each pixel's activations weighted by its own positive gradients.

    The map is ``ReLU(sum_k ReLU(g_k) * A_k)``, element-wise, so it stays sharp on shallow
    layers; ``feature_layer`` may be a list, whose maps are upsampled to the input and
    averaged (the paper's multi-layer fusion).

    Parameters are those of :class:`~explainkit.methods.BaseCAM`.

    References
    ----------
    P.-T. Jiang, C.-B. Zhang, Q. Hou, M.-M. Cheng and Y. Wei, "LayerCAM: Exploring
    Hierarchical Class Activation Maps for Localization", IEEE TIP 30, 2021.
    """ + cam_example("LayerCAM")

    method_name = "layercam"
    multi_layer = True

    @classmethod
    def layer_map(cls, activations, gradients):
        from keras import ops

        return ops.sum(ops.relu(gradients) * activations, axis=-1)
