"""Feature maps for LIME: integer label images whose labels are 0, 1, ..., F - 1."""

from __future__ import annotations

import numpy as np

SEGMENTATIONS = ("superpixels", "grid")


def consecutive(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel to 0..F-1 in the order of the label values; return the map and F."""
    values, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int32), len(values)


def grid_shape(height: int, width: int, num_features: int) -> tuple[int, int]:
    """Rows and columns of near-square cells, about ``num_features`` of them.

    Cells have side ``sqrt(H * W / num_features)``, so the grid follows the image's
    aspect ratio: 7 x 7 for 49 features on a square image, 5 x 10 on a 1:2 image.
    """
    side = np.sqrt(height * width / num_features)
    rows = int(np.clip(np.floor(height / side + 0.5), 1, height))
    cols = int(np.clip(np.floor(width / side + 0.5), 1, width))
    return rows, cols


def grid(height: int, width: int, num_features: int) -> np.ndarray:
    """``(H, W)`` labels of a grid of near-square cells, row by row from the top left.

    Pixel row ``r`` is in grid row ``floor(r * rows / H)`` (columns likewise), so cell
    sizes differ by at most one pixel.
    """
    rows, cols = grid_shape(height, width, num_features)
    row_of = np.arange(height) * rows // height
    col_of = np.arange(width) * cols // width
    return (row_of[:, None] * cols + col_of[None, :]).astype(np.int32)


def superpixels(image: np.ndarray, num_features: int) -> np.ndarray:
    """``(H, W)`` SLIC superpixel labels (scikit-image) aiming at ``num_features`` segments.

    scikit-image scales the image to [0, 1] by its own range, so preprocessing (0-255,
    mean-subtracted, ...) does not matter, and smooths it with a Gaussian of sigma 1 pixel
    first (noise otherwise fragments the segments). Three-channel images are segmented in
    CIELAB with compactness 10 (MATLAB's ``superpixels`` default); other channel counts
    directly with compactness 0.1, the same balance of colour and position for values in
    [0, 1] instead of CIELAB's 0-100.
    """
    from skimage.segmentation import slic

    lab = image.shape[-1] == 3
    labels = slic(
        np.asarray(image, dtype=np.float64), n_segments=num_features,
        compactness=10.0 if lab else 0.1, sigma=1.0, start_label=0, channel_axis=-1,
        convert2lab=lab,
    )  # fmt: skip
    return consecutive(labels)[0]
