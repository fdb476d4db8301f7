"""Replacement values: what hidden, removed or baseline pixels become."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._validation import check_option

#: The named baselines of :func:`baseline_images`.
BASELINES = ("mean", "blur")


def mask_values(mask_value, images: np.ndarray, name: str = "mask_value") -> np.ndarray:
    """The replacement pixels, broadcastable to ``images``: (N or 1, H or 1, W or 1, C or 1).

    ``"auto"`` or ``"mean"`` = each image's per-channel mean; ``"blur"`` = each image
    blurred by a Gaussian of sigma 5% of its height and width (as RISE's insertion metric
    does); a number; one value per channel; or an image ``(H, W, C)`` / ``(N, H, W, C)``.
    The same fill values for every perturbation method and metric.
    """
    n, h, w, c = images.shape
    if isinstance(mask_value, str):
        check_option(name, mask_value, ("auto", *BASELINES))
        if mask_value in ("auto", "mean"):
            return images.mean(axis=(1, 2), keepdims=True)
        return ndimage.gaussian_filter(images, sigma=(0, 0.05 * h, 0.05 * w, 0),
                                       mode="nearest").astype(np.float32)
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
    """The metrics' and gradient methods' baselines: :func:`mask_values` without "auto".

    A number, one value per channel, an image ``(H, W, C)`` / ``(N, H, W, C)``, ``"mean"``
    or ``"blur"``.
    """
    if isinstance(baseline, str):
        check_option(name, baseline, BASELINES)
    return mask_values(baseline, images, name=name)


def _gaussian_weights(sigma: float) -> np.ndarray:
    """scipy.ndimage's 1-D Gaussian kernel (truncated at 4 sigma, normalised)."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return (weights / weights.sum()).astype(np.float32)


def fill_tensor(value, x):
    """:func:`mask_values` inside a compiled function: ``x`` a ``(B, H, W, C)`` tensor.

    ``value`` is what :func:`mask_values` accepts (but for one image per batch item: an
    image is ``(H, W, C)``); ``"blur"`` is the same Gaussian, edges repeated, in Keras ops.
    """
    from keras import ops

    _, h, w, c = (int(s) for s in x.shape)
    if not (isinstance(value, str) and value in ("mean", "blur", "auto")):
        return ops.convert_to_tensor(mask_values(value, np.zeros((1, h, w, c), np.float32)),
                                     dtype=x.dtype)
    if value in ("mean", "auto"):
        return ops.mean(x, axis=(1, 2), keepdims=True)
    out = x
    for axis, size in ((1, h), (2, w)):
        weights = _gaussian_weights(0.05 * size)
        radius = len(weights) // 2
        index = np.clip(np.arange(-radius, size + radius), 0, size - 1)  # scipy's "nearest"
        padded = ops.take(out, ops.convert_to_tensor(index, "int32"), axis=axis)
        shape = (len(weights), 1) if axis == 1 else (1, len(weights))
        kernel = np.broadcast_to(weights.reshape(*shape, 1, 1), (*shape, c, 1))
        out = ops.depthwise_conv(padded, ops.convert_to_tensor(kernel, x.dtype), strides=1,
                                 padding="valid")
    return out
