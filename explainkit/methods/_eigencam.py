"""Eigen-CAM: the first principal component of the feature activations."""

from __future__ import annotations

import numpy as np

from ._cam import BaseCAM, cam_example


def principal_map(activations: np.ndarray) -> np.ndarray:
    """``(h, w)``: the centred ``(h*w, C)`` activations projected on their first principal
    direction, signed to correlate positively with the channel sum."""
    h, w, c = activations.shape
    X = activations.reshape(h * w, c).astype(np.float64)
    centred = X - X.mean(axis=0)
    if not np.any(centred):
        return np.zeros((h, w), dtype=np.float32)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0]
    projection = centred @ direction
    if np.dot(projection - projection.mean(), X.sum(axis=1) - X.sum(axis=1).mean()) < 0:
        projection = -projection
    return projection.reshape(h, w).astype(np.float32)


class EigenCAM(BaseCAM):
    __doc__ = """Eigen-CAM: the principal component of the activations, no gradient and no class.

    The map is ``ReLU`` of the projection of the centred activations ``(h*w, C)`` on their
    first principal direction (by SVD), signed so that it correlates positively with
    ``sum_k A_k`` (the direction's sign is otherwise arbitrary). **Class-agnostic**: the map
    does not depend on the target, so every target gets the same map (the Explanation
    still records each target's score). One forward pass; no gradient.

    Parameters are those of :class:`~explainkit.methods.BaseCAM`.

    References
    ----------
    M. B. Muhammad and M. Yeasin, "Eigen-CAM: Class Activation Map using Principal
    Components", IJCNN 2020.
    """ + cam_example("EigenCAM")

    method_name = "eigencam"

    def _layer_maps(self, images, index, roi_array, roi_mode, features, grids):
        layers, scores, resolved = self._forward(images, index, roi_array, roi_mode,
                                                   features, grids)
        k = resolved.shape[1]
        maps = [np.repeat(np.stack([principal_map(a) for a in A])[..., None], k, axis=-1)
                for A in layers]
        return maps, scores, resolved
