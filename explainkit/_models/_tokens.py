"""Token sequences ``(N, T, C)`` (vision transformers) read as ``h x w`` feature maps.

A layer output of ``T = h * w`` tokens, or ``T = 1 + h * w`` with a class token first, is
a grid of patches when ``h x w`` has the input image's aspect ratio (``h * W == w * H``)
or is square. ``reshape=(h, w)`` says it explicitly; the ``T - h * w`` leading tokens
(class, distillation) are then dropped.
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


def token_grid(shape: tuple, image_hw: tuple[int, int], reshape=None) -> TokenGrid | None:
    """The grid of a ``(N, T, C)`` output shape, or None when it is not one.

    With ``reshape=(h, w)`` the grid is that one (a ValueError when ``h * w > T``);
    otherwise ``T`` or ``T - 1`` tokens must form a grid (see the module docstring).
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
    for offset in (0, 1):
        found = _grid(tokens - offset, image_hw)
        if found is not None:
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
