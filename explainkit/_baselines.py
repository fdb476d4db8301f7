"""Replacement values: what hidden, removed or baseline pixels become."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._validation import check_option

#: The named baselines of :func:`baseline_images`.
BASELINES = ("mean", "blur")


def mask_values(mask_value, images: np.ndarray, name: str = "mask_value") -> np.ndarray:
    """The replacement pixels, broadcastable to ``images``: (N or 1, H or 1, W or 1, C or 1).

    ``"auto"`` = each image's per-channel mean; a number; one value per channel; or an
    image ``(H, W, C)`` / ``(N, H, W, C)``.
    """
    n, h, w, c = images.shape
    if isinstance(mask_value, str):
        if mask_value != "auto":
            raise ValueError(
                f"The {name!r} parameter must be 'auto', a number, a per-channel vector or "
                f"an image. Got {mask_value!r} instead."
            )
        return images.mean(axis=(1, 2), keepdims=True)
    value = np.asarray(mask_value)
    if not (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_):
        raise TypeError(f"{name} must hold numbers; got an array of dtype {value.dtype}.")
    if value.ndim == 0:
        value = value.reshape(1, 1, 1, 1)
    elif value.ndim == 1:
        if value.shape[0] != c:
            raise ValueError(
                f"{name} has {value.shape[0]} values but the images have {c} channels."
            )
        value = value.reshape(1, 1, 1, c)
    elif value.shape in ((h, w, c), (n, h, w, c)) or (c == 1 and value.shape == (h, w)):
        value = value.reshape(-1, h, w, c)
    else:
        raise ValueError(
            f"{name} as an image must have shape {(h, w, c)} (or {(n, h, w, c)}, one per "
            f"image); got shape {value.shape}."
        )
    value = value.astype(np.float32)
    if not np.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or Inf.")
    return value



def baseline_images(baseline, images: np.ndarray, name: str = "baseline") -> np.ndarray:
    """The replacement pixels, broadcastable to ``images`` ``(N, H, W, C)``.

    A number, one value per channel, an image ``(H, W, C)`` / ``(N, H, W, C)``, ``"mean"``
    (each image's per-channel mean) or ``"blur"`` (each image blurred by a Gaussian of
    sigma 5% of its height and width, as RISE's insertion metric does).
    """
    if isinstance(baseline, str):
        check_option(name, baseline, BASELINES)
        if baseline == "mean":
            return images.mean(axis=(1, 2), keepdims=True)
        _, h, w, _ = images.shape
        return ndimage.gaussian_filter(images, sigma=(0, 0.05 * h, 0.05 * w, 0),
                                       mode="nearest").astype(np.float32)
    return mask_values(baseline, images, name=name)
