"""Numeric helpers of the figures: checks, display images, colour limits, titles (no matplotlib)."""

from __future__ import annotations

import numpy as np

from .._image import normalize, upsample
from .._validation import warn


def display_image(image) -> np.ndarray:
    """An image as RGB floats in [0, 1] for display (scaled by its own range).

    One channel is shown as grey; more than three channels show the first three.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3:
        raise ValueError(
            f"image must be (H, W) or (H, W, C); got an array of shape {image.shape}."
        )
    if not np.isfinite(image).all():
        raise ValueError("image contains NaN or Inf.")
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    elif image.shape[-1] == 2:
        image = np.repeat(image[..., :1], 3, axis=-1)
    return normalize(image[..., :3])


def check_map(score_map, image_shape: tuple, name: str = "score_map") -> np.ndarray:
    """``score_map`` as an (H, W) float array matching the image, with clear errors."""
    score_map = np.asarray(score_map, dtype=np.float64)
    if score_map.ndim != 2:
        raise ValueError(
            f"{name} must be one (H, W) map; got an array of shape {score_map.shape} (pick "
            "one image and one target, e.g. explanation.maps[i, ..., k])."
        )
    if score_map.shape != tuple(image_shape[:2]):
        raise ValueError(
            f"{name} has shape {score_map.shape} but the image is {tuple(image_shape[:2])}; "
            "compute the map with output_upsampling='bicubic' or 'nearest' to draw it."
        )
    if not np.isfinite(score_map).all():
        raise ValueError(f"{name} contains NaN or Inf.")
    return score_map


def explanation_map(explanation, index: int, target: int) -> np.ndarray:
    """One map of an explanation at the image's size (grids are shown nearest-neighbour)."""
    n, k = explanation.maps.shape[0], explanation.maps.shape[-1]
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for {n} image(s).")
    if not -k <= target < k:
        raise IndexError(f"target {target} is out of range for {k} target(s).")
    score_map = explanation.maps[index, ..., target]
    size = explanation.images.shape[1:3]
    if score_map.shape != size:
        score_map = upsample(score_map[None, ..., None], size, "nearest")[0, ..., 0]
    return score_map


def color_limits(maps, *, signed: bool | None = None) -> tuple[float, float, bool]:
    """``(vmin, vmax, signed)`` for one or several maps.

    Signed maps (negative and positive values, or ``signed=True``) get limits symmetric
    around zero, for a diverging colormap centred on zero; others their min and max. A
    constant map warns (there is nothing to show) and gets limits around its value.
    """
    values = np.concatenate([np.ravel(m) for m in maps]) if isinstance(maps, list) else (
        np.ravel(maps))
    low, high = float(values.min()), float(values.max())
    if signed is None:
        signed = low < 0 < high
    if signed:
        bound = max(abs(low), abs(high))
        if bound == 0:
            warn("The map is all zero: the overlay is blank.")
            bound = 1.0
        return -bound, bound, True
    if high <= low:
        warn(f"The map is constant ({low:g}): the overlay is blank.")
        return low - 0.5, low + 0.5, False
    return low, high, False


def explanation_title(explanation, index: int, target: int) -> str:
    """MATLAB's title: ``"class (score)"``, the class by name when known."""
    if explanation.target_names is not None:
        name = str(explanation.target_names[index, target])
    elif explanation.targets is not None:
        number = int(explanation.targets[index, target])
        name = f"output {number}" if explanation.task == "regression" else str(number)
    else:
        name = "score"
    return f"{name} ({float(explanation.scores[index, target]):.3g})"


def top_features(feature_map: np.ndarray, importance: np.ndarray, k: int) -> np.ndarray:
    """Boolean (H, W) mask of the ``k`` most important features (largest importance)."""
    importance = np.asarray(importance, dtype=np.float64)
    k = int(min(max(k, 1), len(importance)))
    best = np.argsort(-importance, kind="stable")[:k]
    return np.isin(feature_map, best)
