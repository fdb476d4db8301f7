"""Token sequences ``(N, T, C)`` (vision transformers) read as ``h x w`` feature maps.

A layer output of ``T = k + h * w`` tokens is ``k`` leading prefix tokens (class,
distillation, registers) and a grid of patches. With the model's patch size known, the grid
is the image size over the patch size. Otherwise the smallest ``k`` is taken for which
``h x w`` has the input image's aspect ratio (``h * W == w * H``) or is square, with fewer
prefix tokens than half the grid (so that short sequences read as no grid). ``reshape=(h,
w)`` says it explicitly; the ``T - h * w`` leading tokens are then dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TokenGrid:
    """How a token sequence becomes a map: drop ``offset`` leading tokens, reshape to (h, w)."""

    offset: int
    height: int
    width: int

    def to_map(self, ops, tokens):
        """``(N, T, C)`` tokens as ``(N, h, w, C)`` (keras.ops or numpy)."""
        grid = tokens[:, self.offset:, :]
        return ops.reshape(grid, (-1, self.height, self.width, tokens.shape[-1]))

    def to_tokens(self, ops, feature_map, tokens):
        """``(N, h, w, C)`` map back as tokens, after the prefix tokens of ``tokens``."""
        flat = ops.reshape(feature_map, (-1, self.height * self.width, tokens.shape[-1]))
        return ops.concatenate([tokens[:, :self.offset, :], flat], axis=1)


def _grid(count: int, image_hw: tuple[int, int]) -> tuple[int, int] | None:
    """(h, w) with h * w = count and the image's aspect ratio, else square, else None."""
    if count < 2:
        return None
    rows, cols = image_hw
    for h in range(1, count + 1):
        if count % h == 0 and h * cols == (count // h) * rows:
            return h, count // h
    side = math.isqrt(count)
    return (side, side) if side * side == count else None


#: The most leading tokens (class, distillation, registers) dropped before a grid.
MAX_PREFIX = 16


def token_grid(shape: tuple, image_hw: tuple[int, int], reshape=None,
               expected: tuple[int, int] | None = None) -> TokenGrid | None:
    """The grid of a ``(N, T, C)`` output shape, or None when it is not one.

    With ``reshape=(h, w)`` the grid is that one (a ValueError when ``h * w > T``); else
    the ``expected`` grid (image size over patch size) when ``T`` exceeds it by at most
    :data:`MAX_PREFIX`; else the grid the module docstring describes.
    """
    if len(shape) != 3 or shape[1] is None:
        return None
    tokens = int(shape[1])
    if reshape is not None:
        h, w = reshape
        if h * w > tokens:
            raise ValueError(
                f"reshape={tuple(reshape)} needs {h * w} tokens, but the layer's output "
                f"{tuple(shape)} has {tokens}."
            )
        return TokenGrid(tokens - h * w, h, w)
    if expected is not None and 0 <= tokens - expected[0] * expected[1] <= MAX_PREFIX:
        return TokenGrid(tokens - expected[0] * expected[1], *expected)
    for offset in range(min(MAX_PREFIX, tokens) + 1):
        found = _grid(tokens - offset, image_hw)
        if found is not None and 2 * offset < found[0] * found[1]:
            return TokenGrid(offset, *found)
    return None


def check_reshape(reshape) -> tuple[int, int] | None:
    """``reshape`` as an ``(h, w)`` pair of positive ints, or None."""
    if reshape is None:
        return None
    values = tuple(np.ravel(reshape)) if np.ndim(reshape) == 1 else None
    if values is None or len(values) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise TypeError(
            f"The 'reshape' parameter must be None or a pair of positive ints (h, w). Got "
            f"{reshape!r} instead."
        )
    return int(values[0]), int(values[1])
