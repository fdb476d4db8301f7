"""Mini-batches and progress reporting, in one place for every method."""

from __future__ import annotations

import sys
from collections.abc import Iterator

from tqdm.auto import tqdm

#: Runs with at least this many model calls get a progress bar when ``progress=None``.
PROGRESS_MIN_CALLS = 8


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
