"""Feature maps for LIME and KernelSHAP: integer label images labelled 0, 1, ..., F - 1."""

from __future__ import annotations

import numpy as np

from ._image import upsample
from ._validation import check_option, warn

#: Named feature maps: SLIC0 superpixels (MATLAB's ``superpixels`` default), SLIC with a
#: fixed compactness, and a grid of near-square cells.
SEGMENTATIONS = ("superpixels", "slic", "grid")


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


def superpixels(image: np.ndarray, num_features: int, *, adaptive: bool = True) -> np.ndarray:
    """``(H, W)`` superpixel labels (scikit-image SLIC) aiming at ``num_features`` segments.

    ``adaptive=True`` runs SLIC0 (``slic_zero``: each superpixel's colour distance is
    normalised by its own largest one, so the compactness adapts per superpixel), as
    MATLAB's ``superpixels`` does by default; it follows object outlines and lands near the
    requested count on noisy and natural images (``benchmarks/results/superpixels.md``).
    ``adaptive=False`` is plain SLIC with a fixed compactness. scikit-image scales the image
    to [0, 1] by its own range, so preprocessing (0-255, mean-subtracted, ...) does not
    matter, and smooths it with a Gaussian of sigma 1 pixel first. Three-channel images are
    segmented in CIELAB with compactness 10 (MATLAB's default); other channel counts
    directly with compactness 0.1, the same balance of colour and position for values in
    [0, 1] instead of CIELAB's 0-100.

    References
    ----------
    R. Achanta et al., "SLIC Superpixels Compared to State-of-the-Art Superpixel Methods",
    IEEE TPAMI 34(11), 2012 (SLIC and SLIC0).
    """
    from skimage.segmentation import slic

    lab = image.shape[-1] == 3
    labels = slic(
        np.asarray(image, dtype=np.float64), n_segments=num_features,
        compactness=10.0 if lab else 0.1, sigma=1.0, start_label=0, channel_axis=-1,
        convert2lab=lab, slic_zero=adaptive,
    )  # fmt: skip
    return consecutive(labels)[0]


def custom(segmentation, image: np.ndarray) -> np.ndarray:
    """The labels ``segmentation(image)`` returns for an ``(H, W, C)`` image, checked.

    Any function of one image that returns an integer label image ``(H, W)`` will do, e.g.
    ``lambda im: skimage.segmentation.felzenszwalb(im, scale=100)``.
    """
    name = getattr(segmentation, "__name__", type(segmentation).__name__)
    labels = np.asarray(segmentation(image.copy()))
    if labels.shape != image.shape[:2]:
        raise ValueError(
            f"segmentation {name!r} must return a label image of the image's shape "
            f"{image.shape[:2]}; it returned shape {labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(
            f"segmentation {name!r} must return integer labels; it returned an array of "
            f"dtype {labels.dtype}."
        )
    return consecutive(labels)[0]


def check_segmentation(segmentation) -> None:
    """Check a ``segmentation`` parameter: a name, a function or an integer label image."""
    if isinstance(segmentation, str):
        check_option("segmentation", segmentation, SEGMENTATIONS)
    elif not callable(segmentation):
        labels = np.asarray(segmentation)
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError(
                "The 'segmentation' parameter must be 'superpixels', 'slic', 'grid', a "
                "function of an image or an integer label image; got an array of dtype "
                f"{labels.dtype}."
            )


def feature_maps(images: np.ndarray, segmentation, num_features: int, *,
                 method: str) -> tuple[np.ndarray, list[int]]:
    """``(N, H, W)`` int32 feature maps labelled 0..F-1 of ``images`` and each image's F.

    ``segmentation`` is a name of :data:`SEGMENTATIONS` (aiming at ``num_features``), a
    function of one image or a label image ``(H, W)`` / ``(N, H, W)``; ``method`` names
    the caller in the error raised when an image gets a single feature.
    """
    n, height, width, _ = images.shape
    if isinstance(segmentation, str):
        if num_features > height * width:
            raise ValueError(
                f"num_features={num_features} is more than the {height * width} "
                f"pixels of the images ({height} x {width})."
            )
        if segmentation == "grid":
            features = np.broadcast_to(grid(height, width, num_features), (n, height, width))
            counts = [int(np.prod(grid_shape(height, width, num_features)))] * n
        else:
            adaptive = segmentation == "superpixels"
            features = np.stack([superpixels(image, num_features, adaptive=adaptive)
                                 for image in images])
            counts = [int(f.max()) + 1 for f in features]
    elif callable(segmentation):
        features = np.stack([custom(segmentation, image) for image in images])
        counts = [int(f.max()) + 1 for f in features]
    else:
        labels = np.asarray(segmentation)
        if labels.shape not in ((height, width), (n, height, width)):
            raise ValueError(
                f"segmentation as a label image must have shape {(height, width)} (or "
                f"{(n, height, width)}, one per image); got shape {labels.shape}."
            )
        relabelled = [consecutive(f) for f in np.broadcast_to(labels, (n, height, width))]
        features = np.stack([f for f, _ in relabelled])
        counts = [count for _, count in relabelled]
    if min(counts) < 2:
        raise ValueError(
            f"segmentation={_describe(segmentation)} produced a single feature for an "
            f"image; {method} needs at least 2. Use segmentation='grid' or a label image."
        )
    if isinstance(segmentation, str) and min(counts) < num_features / 2:
        warn(
            f"segmentation={segmentation!r} produced {min(counts)} features for an image, "
            f"far fewer than num_features={num_features}; using {min(counts)}."
        )
    return features, counts


def is_grid(segmentation) -> bool:
    return isinstance(segmentation, str) and segmentation == "grid"


def pixel_upsampling(segmentation, upsampling: str, value: str = "importance") -> str:
    """The ``output_upsampling`` a feature method can honour: only a grid has cells to
    interpolate between; other segmentations fall back to "nearest" (with a warning)."""
    if not is_grid(segmentation) and upsampling != "nearest":
        warn(f"output_upsampling={upsampling!r} needs segmentation='grid'; using 'nearest' "
             f"(each pixel gets its feature's {value}).")
        return "nearest"
    return upsampling


def pixel_maps(values: list, features: np.ndarray, segmentation, num_features: int,
               upsampling: str) -> np.ndarray:
    """``(N, H, W, K)`` maps of per-feature ``values`` (one ``(F, K)`` per image): each pixel
    its feature's value, or a grid's cells ("none") or interpolated between them."""
    height, width = features.shape[1:]
    if is_grid(segmentation) and upsampling != "nearest":
        cells = grid_shape(height, width, num_features)
        maps = np.stack([v.reshape(*cells, -1) for v in values])
        return upsample(maps, (height, width), upsampling)
    return np.stack([v[f] for v, f in zip(values, features, strict=True)])


def _describe(segmentation) -> str:
    if isinstance(segmentation, str):
        return repr(segmentation)
    if callable(segmentation):
        return repr(getattr(segmentation, "__name__", type(segmentation).__name__))
    return "<label image>"
