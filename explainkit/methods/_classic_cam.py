"""CAM: the class's Dense weights on global-average-pooled features."""

from __future__ import annotations

import numpy as np

from ._cam import BaseCAM, cam_example


class CAM(BaseCAM):
    __doc__ = """Class activation mapping: the target's Dense weights over the feature channels.

    For a model that ends feature layer -> global average pooling -> Dense (optionally a
    softmax), the map is ``ReLU(sum_k w_k^c A_k)`` with ``w^c`` the Dense kernel's column
    of target ``c``; no gradient. It equals Grad-CAM times ``h * w`` on such a model. Any
    other head is refused with an error that says to use :class:`GradCAM`; the feature
    layer is the pooling layer's input ("auto" finds it).

    Parameters are those of :class:`~explainkit.methods.BaseCAM` (``reduction_fn`` does
    not apply: the weights belong to a class).

    References
    ----------
    B. Zhou, A. Khosla, A. Lapedriza, A. Oliva and A. Torralba, "Learning Deep Features
    for Discriminative Localization", CVPR 2016.
    """ + cam_example("CAM")

    method_name = "cam"

    def _check_layers(self, graph, features, reduction) -> None:
        import keras

        if self.reduction_fn is not None:
            raise ValueError("CAM weighs channels by a class's Dense weights; reduction_fn "
                             "does not apply (use GradCAM with reduction_fn).")
        feature, call = features[0], reduction.call
        pool = None
        if call is not None and isinstance(call.layer, keras.layers.Dense) and call.inputs:
            pool = graph.producer(call.inputs[0])
        fits = (pool is not None and isinstance(pool.layer, keras.layers.GlobalAveragePooling2D)
                and pool.inputs and pool.inputs[0] is feature.output)
        if not fits:
            head = "its reduction layer is not a Dense layer" if pool is None else (
                f"the Dense layer {graph.name(call)!r} does not follow global average pooling "
                f"of feature layer {graph.name(feature)!r}")
            raise ValueError(
                "CAM needs a model that ends feature layer -> GlobalAveragePooling2D -> Dense "
                f"(optionally a softmax); here {head}. Use GradCAM, which explains any head.")
        self._kernel = call.layer.kernel

    def _layer_maps(self, images, index, roi_array, roi_mode, features, grids):
        (A,), scores, resolved = self._forward(images, index, roi_array, roi_mode,
                                                   features, grids)
        kernel = np.asarray(self._kernel, dtype=np.float32)
        return [np.einsum("nhwc,cnk->nhwk", A, kernel[:, resolved])], scores, resolved
