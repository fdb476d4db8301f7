"""explainkit-wide settings: ``set_config``, ``get_config`` and ``config_context``.

Modelled on scikit-learn's: a setting applies wherever it is not overridden by a method's
own parameter. The settings are per thread (a ``config_context`` in one thread does not
change another's), starting from the global values that ``set_config`` changes.
"""

from __future__ import annotations

import contextlib
import numbers
import threading

_GLOBAL = {"max_batch_bytes": 256 * 2**20, "preprocess": "task"}
_PREPROCESS = ("task", None)
_LOCAL = threading.local()


def _settings() -> dict:
    if not hasattr(_LOCAL, "settings"):
        _LOCAL.settings = dict(_GLOBAL)
    return _LOCAL.settings


def get_config() -> dict:
    """The current settings.

    Returns
    -------
    dict
        ``max_batch_bytes``: the most bytes of perturbed images a black-box method builds
        for one model call (default 256 MiB). ``preprocess``: ``"task"`` (default) or
        None, how keras-hub tasks are explained (see :func:`set_config`).
    """
    return dict(_settings())


def _check(max_batch_bytes) -> int:
    if isinstance(max_batch_bytes, bool) or not isinstance(max_batch_bytes, numbers.Integral):
        raise TypeError(
            "The 'max_batch_bytes' setting must be an int (bytes). Got "
            f"{max_batch_bytes!r} of type {type(max_batch_bytes).__name__} instead."
        )
    if max_batch_bytes < 1:
        raise ValueError(
            f"The 'max_batch_bytes' setting must be at least 1. Got {max_batch_bytes!r} instead."
        )
    return int(max_batch_bytes)


_UNSET = object()


def _check_preprocess(preprocess):
    if preprocess not in _PREPROCESS:
        raise ValueError(
            f"The 'preprocess' setting must be 'task' or None. Got {preprocess!r} instead.")
    return preprocess


def set_config(*, max_batch_bytes: int | None = None, preprocess=_UNSET) -> None:
    """Change explainkit-wide settings (None leaves ``max_batch_bytes`` as it is).

    Parameters
    ----------
    max_batch_bytes : int, optional
        The most bytes of perturbed images that occlusion, LIME (and every later
        perturbation method) build for one model call; with ``batch_size="auto"`` it sets
        the batch size, with an int ``batch_size`` it caps it. Default 256 MiB.
    preprocess : {"task", None}, optional
        keras-hub tasks with a preprocessor: ``"task"`` (default) explains raw images of
        any size through the task's own image converter and returns maps in the raw
        images' pixels; None passes the images to the model as they are.

    Examples
    --------
    >>> import explainkit
    >>> explainkit.set_config(max_batch_bytes=64 * 2**20)
    >>> explainkit.get_config()["max_batch_bytes"]
    67108864
    >>> explainkit.set_config(max_batch_bytes=256 * 2**20)
    """
    if max_batch_bytes is not None:
        value = _check(max_batch_bytes)
        _GLOBAL["max_batch_bytes"] = value
        _settings()["max_batch_bytes"] = value
    if preprocess is not _UNSET:
        _GLOBAL["preprocess"] = _settings()["preprocess"] = _check_preprocess(preprocess)


@contextlib.contextmanager
def config_context(*, max_batch_bytes: int | None = None, preprocess=_UNSET):
    """Change settings inside a ``with`` block only (this thread only).

    Examples
    --------
    >>> import explainkit
    >>> with explainkit.config_context(max_batch_bytes=2**20):
    ...     explainkit.get_config()["max_batch_bytes"]
    1048576
    """
    settings = _settings()
    saved = dict(settings)
    if max_batch_bytes is not None:
        settings["max_batch_bytes"] = _check(max_batch_bytes)
    if preprocess is not _UNSET:
        settings["preprocess"] = _check_preprocess(preprocess)
    try:
        yield
    finally:
        settings.clear()
        settings.update(saved)
