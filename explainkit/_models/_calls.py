"""Counting model calls: what a method or metric cost, in batched calls of the model."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

_LOCAL = threading.local()


class CallCount:
    """The number of batched model calls made while it was being counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __repr__(self) -> str:
        return f"CallCount(calls={self.calls})"


def record() -> None:
    """Count one batched model call in every open :func:`count_calls` of this thread."""
    for counter in getattr(_LOCAL, "counters", ()):
        counter.calls += 1


@contextlib.contextmanager
def count_calls() -> Iterator[CallCount]:
    """Count the model calls made in this thread inside the ``with`` block."""
    counter = CallCount()
    counters = getattr(_LOCAL, "counters", ())
    _LOCAL.counters = (*counters, counter)
    try:
        yield counter
    finally:
        _LOCAL.counters = counters
