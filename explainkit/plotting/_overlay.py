"""A score map drawn over its image."""

from __future__ import annotations

import numpy as np

from .._image import normalize, upsample


def _display_image(image: np.ndarray) -> np.ndarray:
    """An image as RGB floats in [0, 1] for display (scaled by its own range)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    elif image.shape[-1] != 3:
        image = image[..., :3] if image.shape[-1] > 3 else np.repeat(image[..., :1], 3, axis=-1)
    return normalize(image)


def overlay_rgb(image, score_map, *, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a min-max normalised map, coloured by ``cmap``, over ``image``.

    Returns an ``(H, W, 3)`` float array in [0, 1]; a map of another size is resized to
    the image first.
    """
    from matplotlib import colormaps

    rgb = _display_image(image)
    score_map = np.asarray(score_map, dtype=np.float32)
    if score_map.shape != rgb.shape[:2]:
        score_map = upsample(score_map[None, ..., None], rgb.shape[:2], "bicubic")[0, ..., 0]
    heat = colormaps[cmap](normalize(score_map))[..., :3]
    return (1 - alpha) * rgb + alpha * heat


def plot_overlay(image, score_map, *, ax=None, alpha: float = 0.5, cmap: str = "jet",
                 title: str | None = None):
    """Draw ``overlay_rgb(image, score_map)`` on ``ax`` (a new figure when None)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(overlay_rgb(image, score_map, alpha=alpha, cmap=cmap))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax
