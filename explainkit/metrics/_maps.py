"""The explanations a metric scores: an Explanation or a plain array of maps."""

from __future__ import annotations

import numpy as np

from .._explanation import Explanation


def as_maps(maps, *, name: str = "maps") -> tuple[np.ndarray, bool, Explanation | None]:
    """``(maps (N, H, W, K) float32, single_target, explanation or None)``.

    ``maps`` is an :class:`~explainkit.Explanation` or an array ``(N, H, W)`` (one map per
    image; values then ``(N,)``) or ``(N, H, W, K)`` (K per image; values ``(N, K)``).
    """
    if isinstance(maps, Explanation):
        return np.asarray(maps.maps, dtype=np.float32), bool(maps.single_target), maps
    if not hasattr(maps, "__array__") and not isinstance(maps, list | tuple):
        raise TypeError(
            f"{name} must be an Explanation or an array (N, H, W) / (N, H, W, K); got "
            f"{type(maps).__name__}.")
    array = np.asarray(maps)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == np.bool_):
        raise TypeError(f"{name} must hold numbers; got an array of dtype {array.dtype}.")
    if array.ndim not in (3, 4) or 0 in array.shape:
        raise ValueError(
            f"{name} must be an Explanation or an array (N, H, W) or (N, H, W, K) with no "
            f"empty axis; got shape {array.shape}.")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or Inf.")
    single = array.ndim == 3
    return (array[..., None] if single else array), single, None


def per_target(values: np.ndarray, single: bool) -> np.ndarray:
    """``(N, K)`` values as the result's ``(N,)`` (one target) or ``(N, K)``."""
    return values[:, 0] if single else values
