"""HiResCAM: element-wise gradients times activations."""

from __future__ import annotations

from ._cam import BaseCAM, cam_example


class HiResCAM(BaseCAM):
    __doc__ = """HiResCAM: gradients times activations, element-wise, summed over channels.

    The map is ``ReLU(sum_k g_k * A_k)``; unlike Grad-CAM's spatial averaging of the
    gradients, it shows the locations the score provably depends on (for a model whose
    head is a Dense layer over the flattened features, it is the exact contribution of
    each position). ``feature_layer`` may be a list (maps averaged).

    Parameters are those of :class:`~explainkit.methods.BaseCAM`.

    References
    ----------
    R. L. Draelos and L. Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations
    of convolutional neural networks", arXiv:2011.08891, 2020.
    """ + cam_example("HiResCAM")

    method_name = "hirescam"
    multi_layer = True

    @classmethod
    def layer_map(cls, activations, gradients):
        from keras import ops

        return ops.sum(gradients * activations, axis=-1)
