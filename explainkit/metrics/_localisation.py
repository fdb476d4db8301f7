"""Localisation: how well the maps point at a known region (masks or boxes), no model.

Each metric takes ``maps`` (an :class:`~explainkit.Explanation` or an array ``(N, H, W)`` /
``(N, H, W, K)``) and the ground truth ``masks``, in one of these forms:

- boolean masks ``(N, H, W)`` (one region per image, used for all K targets) or
  ``(N, H, W, K)`` (one per target), of the maps' height and width;
- boxes ``(x_min, y_min, x_max, y_max)`` in pixels, half-open (``x_min <= col < x_max``,
  ``y_min <= row < y_max``) and clipped to the image: a numeric array ``(N, 4)`` (one box
  per image) or a list of N numeric arrays ``(M_i, 4)`` (the union of an image's boxes).

A region with no pixel (also after clipping boxes) is an error. For a detector's
Explanation ``masks`` may be None: each map's ground truth is then the box of the detection
it explains (targets an image lacks, NaN maps, get NaN values).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.ndimage import distance_transform_edt

from .._seeds import generators
from ._maps import as_maps, per_target
from ._result import MetricResult


def _as_array(masks) -> np.ndarray | None:
    """``masks`` as one array, or None when it is not array-like (or a ragged list)."""
    if not hasattr(masks, "__array__") and not isinstance(masks, list | tuple):
        return None
    try:
        return np.asarray(masks)
    except ValueError:  # a ragged list
        return None


def _box_rows(masks, n_images: int) -> list[np.ndarray] | None:
    """The boxes of each image as float64 ``(M_i, 4)`` arrays, or None if ``masks`` are masks."""
    if isinstance(masks, list | tuple):
        items = [np.asarray(item) for item in masks]
        if items and all(item.dtype != np.bool_ and np.issubdtype(item.dtype, np.number)
                         and item.ndim == 2 and item.shape[-1] == 4 for item in items):
            if len(items) != n_images:
                raise ValueError(
                    f"masks as a list of boxes must hold one (M, 4) array per image, "
                    f"{n_images} in all; got {len(items)}.")
            return [item.astype(np.float64) for item in items]
    array = _as_array(masks)
    if (array is None or array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number)
            or array.ndim != 2 or array.shape[-1] != 4):
        return None
    if len(array) != n_images:
        raise ValueError(
            f"masks as boxes must have shape (N, 4) = ({n_images}, 4), one box per image; "
            f"got {array.shape}.")
    return [row[None].astype(np.float64) for row in array]


def as_masks(masks, shape: tuple[int, int, int, int]) -> np.ndarray:
    """Boolean masks ``(N, H, W, 1)`` (one per image) or ``(N, H, W, K)`` (one per target).

    ``shape`` is the maps' ``(N, H, W, K)``; ``masks`` is any form the module docstring
    lists. Raises TypeError for masks that are not boolean, ValueError for a wrong shape,
    a reversed or non-finite box, or an empty region.
    """
    n_images, height, width, n_targets = shape
    boxes = _box_rows(masks, n_images)
    if boxes is not None:
        rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
        out = np.zeros((n_images, height, width, 1), dtype=bool)
        for i, image_boxes in enumerate(boxes):
            if not np.isfinite(image_boxes).all():
                raise ValueError(f"masks: the boxes of image {i} contain NaN or Inf.")
            x_min, y_min, x_max, y_max = image_boxes.T
            if (x_max < x_min).any() or (y_max < y_min).any():
                raise ValueError(
                    f"masks: a box of image {i} has x_max < x_min or y_max < y_min; boxes are "
                    "(x_min, y_min, x_max, y_max).")
            for x0, y0, x1, y1 in image_boxes:
                out[i, :, :, 0] |= (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
            if not out[i].any():
                raise ValueError(
                    f"masks: the boxes of image {i} cover no pixel of the {height}x{width} "
                    "image (after clipping).")
        return out
    array = _as_array(masks)
    if array is None:
        raise TypeError(
            "masks must be boolean masks (N, H, W) / (N, H, W, K) or boxes (N, 4) / a list of "
            f"(M, 4) arrays; got {type(masks).__name__}.")
    if array.dtype != np.bool_:
        raise TypeError(
            "masks must be boolean masks (N, H, W) / (N, H, W, K) or numeric boxes (N, 4) / "
            f"a list of (M, 4) arrays; got an array of dtype {array.dtype} and shape "
            f"{array.shape}.")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[:3] != shape[:3] or array.shape[3] not in (1, n_targets):
        raise ValueError(
            f"masks must have shape (N, H, W) = {shape[:3]} or (N, H, W, K) = {shape}, like "
            f"the maps; got {np.shape(masks)}.")
    empty = ~array.any(axis=(1, 2))
    if empty.any():
        i, k = (int(v) for v in np.argwhere(empty)[0])
        which = f"image {i}" + (f" (target {k})" if array.shape[3] > 1 else "")
        raise ValueError(f"masks: the mask of {which} is empty (no True pixel).")
    return array


def regions_of(masks, array: np.ndarray, explanation) -> tuple[np.ndarray, np.ndarray | None]:
    """``(regions (N, H, W, 1 or K), padding (N, K) bool or None)`` for a metric's call.

    ``masks=None`` with a detector's Explanation: each target's own box (half-open, as
    boxes here), padding targets marked (their regions are the whole image).
    """
    if masks is not None:
        return as_masks(masks, array.shape), None
    if explanation is None or explanation.detections is None:
        raise TypeError(
            "masks (the ground truth) is required, unless maps is a detector's Explanation "
            "(whose explained boxes are then the ground truth).")
    n, height, width, k = array.shape
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]
    regions = np.ones((n, height, width, k), dtype=bool)
    padding = np.ones((n, k), dtype=bool)
    for i, found in enumerate(explanation.detections):
        for t, (x0, y0, x1, y1) in enumerate(found.xyxy(height, width)):
            regions[i, :, :, t] = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
            padding[i, t] = False
            if not regions[i, :, :, t].any():
                raise ValueError(f"the box of detection {t} of image {i} covers no pixel.")
    return regions, padding


def _padded(values: np.ndarray, padding: np.ndarray | None) -> np.ndarray:
    """``values`` ``(N, K)`` with NaN for the padding targets of a detector's Explanation."""
    return values if padding is None else np.where(padding, np.nan, values)


def _check_tolerance(tolerance) -> float:
    if isinstance(tolerance, bool) or not isinstance(tolerance, numbers.Real):
        raise TypeError(
            f"tolerance must be a number of pixels >= 0; got {type(tolerance).__name__}.")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be a number of pixels >= 0; got {tolerance!r}.")
    return float(tolerance)


def _check_random_state(random_state) -> np.random.Generator:
    if random_state is None or isinstance(random_state, np.random.Generator) or (
            isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
            and random_state >= 0):
        return np.random.default_rng(random_state)
    raise TypeError(
        f"random_state must be None, a non-negative int or a numpy Generator; got "
        f"{random_state!r}.")


def pointing_game(maps, masks=None, *, tolerance: float = 15) -> MetricResult:
    """A hit (1.0) when the map's maximum lies within ``tolerance`` pixels of the region.

    The distance is the Euclidean distance between pixel centres (0 inside the region).
    When several pixels share the maximum it is a hit if any of them is within
    ``tolerance``; a constant map (no pixel above the others, e.g. all zero) is a miss.

    Parameters
    ----------
    maps : Explanation or ndarray, shape (N, H, W) or (N, H, W, K)
        The explanations.
    masks : ndarray or list, optional
        The ground truth: boolean masks or boxes (see the module docstring); None for a
        detector's Explanation (each detection's box).
    tolerance : float, default=15
        The largest distance in pixels that still counts as a hit (>= 0).

    Returns
    -------
    MetricResult
        Values 1.0 (hit) or 0.0 (miss), ``(N,)`` or ``(N, K)``; higher is better.

    References
    ----------
    J. Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016
    (IJCV 2018).

    Examples
    --------
    >>> import numpy as np
    >>> maps = np.zeros((1, 5, 5)); maps[0, 0, 3] = 1.0
    >>> masks = np.zeros((1, 5, 5), dtype=bool); masks[0, 0, 0] = True
    >>> pointing_game(maps, masks, tolerance=3).values
    array([1.])
    >>> pointing_game(maps, masks, tolerance=2).values
    array([0.])
    """
    tolerance = _check_tolerance(tolerance)
    array, single, explanation = as_maps(maps)
    regions, padding = regions_of(masks, array, explanation)
    distance = np.stack(
        [np.stack([distance_transform_edt(~regions[i, :, :, k])
                   for k in range(regions.shape[3])], axis=-1)
         for i in range(len(regions))])
    peak = array.max(axis=(1, 2), keepdims=True)
    hits = ((array == peak) & (distance <= tolerance)).any(axis=(1, 2))
    constant = array.min(axis=(1, 2)) == peak[:, 0, 0]
    values = _padded((hits & ~constant).astype(np.float64), padding)
    return MetricResult("pointing_game", per_target(values, single), higher_is_better=True,
                        params={"tolerance": tolerance})


def energy_pointing_game(maps, masks=None) -> MetricResult:
    """The share of the positive map energy inside the region.

    ``sum(max(map, 0) * mask) / sum(max(map, 0))``, in [0, 1]; a map with no positive value
    gives 0.0.

    Parameters
    ----------
    maps : Explanation or ndarray, shape (N, H, W) or (N, H, W, K)
        The explanations.
    masks : ndarray or list, optional
        The ground truth: boolean masks or boxes (see the module docstring); None for a
        detector's Explanation (each detection's box).

    Returns
    -------
    MetricResult
        Values ``(N,)`` or ``(N, K)``; higher is better.

    References
    ----------
    H. Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional
    Neural Networks", CVPR Workshops 2020.
    """
    array, single, explanation = as_maps(maps)
    regions, padding = regions_of(masks, array, explanation)
    positive = np.maximum(array, 0).astype(np.float64)
    total = positive.sum(axis=(1, 2))
    inside = (positive * regions).sum(axis=(1, 2))
    values = _padded(np.divide(inside, total, out=np.zeros_like(total), where=total > 0),
                     padding)
    return MetricResult("energy_pointing_game", per_target(values, single),
                        higher_is_better=True, params={})


def relevance_rank_accuracy(maps, masks=None, *, random_state=None) -> MetricResult:
    """The share of the map's top-M pixels inside the region, M = the region's pixel count.

    Pixels tied at the cut are chosen uniformly at random (``random_state``), so that
    tied values earn no more than chance; a constant map scores about the region's
    share of the image.

    Parameters
    ----------
    maps : Explanation or ndarray, shape (N, H, W) or (N, H, W, K)
        The explanations.
    masks : ndarray or list, optional
        The ground truth: boolean masks or boxes (see the module docstring); None for a
        detector's Explanation (each detection's box).
    random_state : int, numpy.random.Generator or None
        Breaks ties at the cut; an int makes the result reproducible.

    Returns
    -------
    MetricResult
        Values in [0, 1], ``(N,)`` or ``(N, K)``; higher is better.

    References
    ----------
    L. Arras, A. Osman and W. Samek, "CLEVR-XAI: A benchmark dataset for the ground truth
    evaluation of neural network explanations", Information Fusion 81, 2022.
    """
    array, single, explanation = as_maps(maps)
    rngs = generators(random_state, len(array), _check_random_state)
    regions, padding = regions_of(masks, array, explanation)
    n_images, height, width, n_targets = array.shape
    values = np.zeros((n_images, n_targets))
    for i in range(n_images):
        for k in range(n_targets):
            flat = array[i, :, :, k].ravel()
            region = regions[i, :, :, min(k, regions.shape[3] - 1)].ravel()
            size = int(region.sum())
            cut = np.partition(flat, flat.size - size)[flat.size - size]  # M-th largest
            above, tied = flat > cut, flat == cut
            needed = size - int(above.sum())  # >= 1 tied pixels complete the top M
            tied_in = int((tied & region).sum())
            tied_out = int(tied.sum()) - tied_in
            if needed < tied_in + tied_out:
                # The number of region pixels among `needed` tied pixels drawn at random.
                tied_in = int(rngs[i].hypergeometric(tied_in, tied_out, needed))
            values[i, k] = (int((above & region).sum()) + tied_in) / size
    values = _padded(values, padding)
    return MetricResult("relevance_rank_accuracy", per_target(values, single),
                        higher_is_better=True, params={"random_state": random_state})
