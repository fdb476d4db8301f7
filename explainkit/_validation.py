"""Checks of user input with uniform messages (one place, used by every method)."""

from __future__ import annotations

import difflib
import numbers
import os
import sys
import warnings
from collections.abc import Iterable

import numpy as np


def check_option(name: str, value, options: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``options``, else raise a uniform ValueError."""
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"The '{name}' parameter must be one of {', '.join(map(repr, options))}. "
            f"Got {value!r} instead."
        )
    return value


def check_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"The '{name}' parameter must be an int in the range [{minimum}, inf). "
            f"Got {value!r} of type {type(value).__name__} instead."
        )
    if value < minimum:
        raise ValueError(
            f"The '{name}' parameter must be an int in the range [{minimum}, inf). "
            f"Got {value!r} instead."
        )
    return int(value)


def closest(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """A ``"; did you mean ...?"`` suffix naming the closest candidates, or ``""``."""
    matches = difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)
    if not matches:
        return ""
    return "; did you mean " + " or ".join(repr(m) for m in matches) + "?"


def check_images(X, *, input_shape: tuple | None, name: str = "X") -> tuple[np.ndarray, bool]:
    """Validate images and return them as a float32 batch ``(N, H, W, C)``.

    Parameters
    ----------
    X : array-like
        One image ``(H, W, C)``, one single-channel image ``(H, W)`` or a batch
        ``(N, H, W, C)``; uint8 or float.
    input_shape : tuple or None
        The model's input shape ``(None, H, W, C)`` (entries may be None), or None when
        it is unknown.
    name : str
        Argument name used in error messages.

    Returns
    -------
    batch : ndarray of float32, shape (N, H, W, C)
        A new array; the caller's array is never modified.
    single : bool
        True when ``X`` was one image.
    """
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{name} must be an image array; got {type(X).__name__}.")
    arr = np.asarray(X)
    channels = None if input_shape is None else input_shape[-1]
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise TypeError(f"{name} must hold numbers; got an array of dtype {arr.dtype}.")
    if arr.ndim == 2:
        if channels not in (None, 1):
            raise ValueError(
                f"{name} of shape {arr.shape} has no channel axis, which only suits a "
                f"one-channel model; this model expects {channels} channels."
            )
        arr = arr[..., np.newaxis]
    if arr.ndim == 3:
        batch, single = arr[np.newaxis], True
    elif arr.ndim == 4:
        batch, single = arr, False
    else:
        raise ValueError(
            f"{name} must be one image (H, W, C), a one-channel image (H, W) or a batch "
            f"(N, H, W, C); got an array of shape {np.shape(X)}."
        )
    if batch.shape[0] == 0 or min(batch.shape[1:3]) == 0:
        raise ValueError(f"{name} must hold at least one non-empty image; got shape {np.shape(X)}.")
    if channels is not None and batch.shape[-1] != channels:
        raise ValueError(
            f"{name} has {batch.shape[-1]} channels (shape {np.shape(X)}); the model "
            f"expects {channels}."
        )
    if input_shape is not None:
        expected = tuple(input_shape[1:3])
        if any(e is not None and e != s for e, s in zip(expected, batch.shape[1:3], strict=True)):
            raise ValueError(
                f"{name} has spatial size {batch.shape[1:3]} (shape {np.shape(X)}); the "
                f"model expects {expected}."
            )
    batch = batch.astype(np.float32)  # always a copy
    if not np.isfinite(batch).all():
        raise ValueError(f"{name} contains NaN or Inf pixel values.")
    return batch, single


def example_shape(X, *, input_shape: tuple | None, name: str = "X") -> tuple:
    """``(H, W, C)`` of an example image or batch, checked like ``check_images``.

    Only the first image of a batch is converted: ``fit(X)`` needs the size, not a copy.
    """
    example = np.asarray(X)[:1] if np.ndim(X) == 4 else X
    return check_images(example, input_shape=input_shape, name=name)[0].shape[1:]


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """A warning (UserWarning unless given) pointing at the first caller outside explainkit."""
    frame, level = sys._getframe(1), 2  # stacklevel 1 would be this function
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
