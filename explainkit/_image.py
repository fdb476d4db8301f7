"""Numeric image helpers shared by methods and plotting (no matplotlib here)."""

from __future__ import annotations

import numpy as np
from keras import ops

UPSAMPLING = ("bicubic", "nearest", "none")


def upsample(maps: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """Resize ``(N, h, w, K)`` maps to ``(N, H, W, K)``.

    ``"bicubic"`` is cubic convolution (Keys, a = -0.5) with half-pixel centres, the kernel
    MATLAB's ``imresize`` uses; ``"nearest"`` repeats values; ``"none"`` returns the maps as
    they are.
    """
    if method == "none" or tuple(maps.shape[1:3]) == tuple(size):
        return maps
    resized = ops.image.resize(
        maps, size, interpolation=method, antialias=False, data_format="channels_last"
    )
    return np.asarray(ops.convert_to_numpy(resized), dtype=maps.dtype)


def normalize(score_map: np.ndarray) -> np.ndarray:
    """Scale a map to [0, 1] by its minimum and maximum (a constant map gives zeros)."""
    score_map = np.asarray(score_map, dtype=np.float64)
    low, high = np.min(score_map), np.max(score_map)
    if not np.isfinite(low) or high <= low:
        return np.zeros_like(score_map)
    return (score_map - low) / (high - low)
