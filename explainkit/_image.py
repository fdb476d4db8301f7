"""Numeric image helpers shared by methods and plotting (no matplotlib here)."""

from __future__ import annotations

import functools

import numpy as np

UPSAMPLING = ("bicubic", "nearest", "none")


def _cubic(t: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's imresize 'bicubic')."""
    t = np.abs(t)
    near = 1.5 * t**3 - 2.5 * t**2 + 1
    far = -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return np.where(t <= 1, near, np.where(t < 2, far, 0))


def interpolation_matrix(coords: np.ndarray, size_in: int, method: str) -> np.ndarray:
    """The ``(len(coords), size_in)`` matrix sampling an axis at fractional ``coords``.

    ``coords`` are input pixel coordinates (0 = the centre of the first input pixel).
    ``"bicubic"`` uses Keys' kernel with symmetric (mirrored) borders, as MATLAB's
    ``imresize`` does; ``"bilinear"`` interpolates linearly with the edges clamped;
    ``"nearest"`` takes the closest input pixel.
    """
    coords = np.asarray(coords, dtype=np.float64)
    matrix = np.zeros((len(coords), size_in))
    if method == "bilinear":  # edges clamped, as tf.image.resize with half-pixel centres
        clamped = np.clip(coords, 0, size_in - 1)
        low = np.floor(clamped).astype(int)
        high = np.minimum(low + 1, size_in - 1)
        frac = clamped - low
        rows = np.arange(len(coords))
        np.add.at(matrix, (rows, low), 1 - frac)
        np.add.at(matrix, (rows, high), frac)
        return matrix
    if method == "nearest":
        nearest = np.clip(np.floor(coords + 0.5), 0, size_in - 1).astype(int)
        matrix[np.arange(len(coords)), nearest] = 1
        return matrix
    taps = np.floor(coords)[:, None] + np.arange(-1, 3)[None, :]
    weights = _cubic(coords[:, None] - taps)
    mirrored = np.concatenate([np.arange(size_in), np.arange(size_in)[::-1]])
    columns = mirrored[np.mod(taps.astype(int), 2 * size_in)]
    np.add.at(matrix, (np.repeat(np.arange(len(coords)), 4), columns.ravel()), weights.ravel())
    return matrix / matrix.sum(axis=1, keepdims=True)


@functools.lru_cache(maxsize=64)
def resize_matrix(size_in: int, size_out: int, method: str) -> np.ndarray:
    """The ``(size_out, size_in)`` matrix that resizes one axis with aligned pixel centres.

    Output pixel ``i`` samples input coordinate ``(i + 0.5) * size_in / size_out - 0.5``.
    """
    coords = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    return interpolation_matrix(coords, size_in, method)


def upsample(maps: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """Resize ``(N, h, w, K)`` maps to ``(N, H, W, K)`` (``"none"``: return them as they are)."""
    if method == "none" or tuple(maps.shape[1:3]) == tuple(size):
        return maps
    rows = resize_matrix(maps.shape[1], size[0], method)
    cols = resize_matrix(maps.shape[2], size[1], method)
    return apply_separable(maps, rows, cols)


def apply_separable(maps: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``rows @ map @ cols.T`` for every ``(N, h, w, K)`` map, in the maps' dtype."""
    rows, cols = rows.astype(maps.dtype), cols.astype(maps.dtype)
    return np.einsum("Hh,nhwk,Ww->nHWk", rows, maps, cols, optimize=True)


def normalize(score_map: np.ndarray) -> np.ndarray:
    """Scale a map to [0, 1] by its minimum and maximum (a constant map gives zeros)."""
    score_map = np.asarray(score_map, dtype=np.float64)
    low, high = np.min(score_map), np.max(score_map)
    if not np.isfinite(low) or high <= low:
        return np.zeros_like(score_map)
    return (score_map - low) / (high - low)
