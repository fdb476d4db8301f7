"""Mini-batches sized by images and bytes, and progress reporting, for every method."""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterator

from tqdm.auto import tqdm

from ._config import get_config

#: Runs with at least this many model calls get a progress bar when ``progress=None``.
PROGRESS_MIN_CALLS = 8

#: ``batch_size="auto"``: at most this many images per model call (fewer when large).
AUTO_MAX_IMAGES = 1024


def check_batch_size(batch_size) -> None:
    """A ValueError/TypeError unless ``batch_size`` is "auto" or an int >= 1."""
    if isinstance(batch_size, str) and batch_size == "auto":
        return
    expected = "The 'batch_size' parameter must be 'auto' or an int in the range [1, inf)."
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(
            f"{expected} Got {batch_size!r} of type {type(batch_size).__name__} instead.")
    if batch_size < 1:
        raise ValueError(f"{expected} Got {batch_size!r} instead.")


def images_per_call(batch_size, image_bytes: int) -> int:
    """Images per model call: ``batch_size``, capped by the ``max_batch_bytes`` setting.

    ``"auto"`` takes as many images of ``image_bytes`` as the budget allows, at most
    ``AUTO_MAX_IMAGES``; an int is capped by the budget too. Never fewer than one image.
    """
    by_bytes = max(1, get_config()["max_batch_bytes"] // max(1, int(image_bytes)))
    limit = AUTO_MAX_IMAGES if isinstance(batch_size, str) else int(batch_size)
    return int(min(limit, by_bytes))


def batches(total: int, batch_size: int, *, progress=None, desc: str = "") -> Iterator[slice]:
    """Slices ``[i, i + batch_size)`` covering ``range(total)``.

    Parameters
    ----------
    total, batch_size : int
        Number of items and items per model call.
    progress : bool or None
        True / False shows or hides a tqdm bar; None shows one only on long runs in an
        interactive terminal.
    desc : str
        Label of the progress bar.
    """
    starts = range(0, total, batch_size)
    show = progress
    if show is None:
        show = len(starts) >= PROGRESS_MIN_CALLS and sys.stderr.isatty()
    for start in tqdm(starts, desc=desc, unit="batch", disable=not show, leave=False):
        yield slice(start, min(start + batch_size, total))
