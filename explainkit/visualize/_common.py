"""What the visualisations share: the adapter and layer, channel lists, streams of image
batches, progress bars and random generators."""

from __future__ import annotations

import numbers
import sys
from collections.abc import Iterator

import numpy as np

from .._batching import PROGRESS_MIN_CALLS
from .._validation import check_images


def model_and_layer(net, images_shape: tuple, layer, argument: str = "layer"):
    """``(adapter, graph, layer map)`` of ``net`` at image size ``images_shape`` (H, W, C)."""
    from .._models import keras_adapter
    from .._models._visualize import layer_map

    adapter = keras_adapter(net)
    graph = adapter.graph(tuple(images_shape))
    return adapter, graph, layer_map(graph, layer, argument)


def check_channels(channels, count: int, name: str, argument: str = "channels") -> np.ndarray:
    """``channels`` (None: all, an int, or a sequence of ints in ``[0, count)``) as an array."""
    if channels is None:
        return np.arange(count)
    values = np.atleast_1d(np.asarray(channels))
    if values.ndim != 1 or values.size == 0 or not (
        np.issubdtype(values.dtype, np.integer) and values.dtype != np.bool_
    ):
        raise TypeError(
            f"The '{argument}' parameter must be None, an int or a non-empty sequence of ints. "
            f"Got {channels!r} instead.")
    bad = values[(values < 0) | (values >= count)]
    if bad.size:
        raise ValueError(
            f"The '{argument}' parameter must hold indices in [0, {count}): layer {name!r} "
            f"has {count} channels. Got {bad.tolist()} instead.")
    return values.astype(int)


def check_top(top, argument: str = "top") -> int | None:
    """``top``: None or an int >= 1."""
    if top is None:
        return None
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 1:
        raise (TypeError if not isinstance(top, numbers.Integral) or isinstance(top, bool)
               else ValueError)(
            f"The '{argument}' parameter must be None or an int in the range [1, inf). Got "
            f"{top!r} instead.")
    return int(top)


def check_real(name: str, value, *, minimum: float = 0.0, maximum: float = np.inf,
               open_minimum: bool = False) -> float:
    """``value`` as a float in ``[minimum, maximum]`` (``(minimum, ...`` when open)."""
    low = "(" if open_minimum else "["
    expected = f"The '{name}' parameter must be a float in the range {low}{minimum}, {maximum}]."
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{expected} Got {value!r} of type {type(value).__name__} instead.")
    value = float(value)
    if not (minimum < value if open_minimum else minimum <= value) or not value <= maximum:
        raise ValueError(f"{expected} Got {value!r} instead.")
    return value


def check_random_state(random_state) -> np.random.Generator:
    """A numpy Generator from ``random_state`` (None, an int >= 0 or a Generator)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (isinstance(random_state, numbers.Integral)
                                and not isinstance(random_state, bool) and random_state >= 0):
        return np.random.default_rng(random_state)
    raise TypeError("The 'random_state' parameter must be None, a non-negative int or a "
                    f"numpy Generator. Got {random_state!r} instead.")


def show_progress(progress, total: int | None) -> bool:
    """The rule of explainkit's progress bars: ``progress``, or (None) long runs in a
    terminal."""
    if progress is not None:
        return bool(progress)
    return (total is None or total >= PROGRESS_MIN_CALLS) and sys.stderr.isatty()


def progress_bar(iterable, *, total: int | None, progress, desc: str, unit: str = "batch"):
    """``iterable`` with a tqdm bar when :func:`show_progress` says so."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit,
                disable=not show_progress(progress, total), leave=False)


def _first(item):
    """The images of a stream item: a tuple ``(x, y, ...)`` or a dict's ``"image"`` /
    first value gives its first entry."""
    if isinstance(item, dict):
        return item.get("image", next(iter(item.values())))
    if isinstance(item, (tuple, list)) and len(item) and np.ndim(item[0]) >= 2:
        return item[0]
    return item


def image_stream(images, batch_size: int, input_shape, name: str = "images") \
        -> Iterator[tuple[int, np.ndarray]]:
    """``(position of the first image, float32 batch (B, H, W, C))`` over ``images``.

    ``images``: an array (one image or a batch), a ``tf.data.Dataset`` (of images or of
    batches, possibly ``(x, y)`` pairs) or any iterable of them; batches are re-cut into
    ``batch_size`` images, so memory holds one batch at a time.
    """
    if isinstance(images, np.ndarray) or hasattr(images, "numpy") and not hasattr(
            images, "as_numpy_iterator"):
        whole = np.asarray(images)
        items = [whole] if whole.ndim < 4 else (whole[i:i + batch_size]
                                                for i in range(0, len(whole), batch_size))
    elif hasattr(images, "as_numpy_iterator"):
        items = images.as_numpy_iterator()
    elif hasattr(images, "__iter__") and not isinstance(images, (str, bytes)):
        items = iter(images)
    else:
        raise TypeError(f"{name} must be an image array, a tf.data.Dataset or an iterable of "
                        f"image batches; got {type(images).__name__}.")
    position, pending, pending_count = 0, [], 0
    shape = None
    for item in items:
        batch, _ = check_images(np.asarray(_first(item)), input_shape=input_shape, name=name)
        if shape is None:
            shape = batch.shape[1:]
        elif batch.shape[1:] != shape:
            raise ValueError(f"{name}: every image must have one shape; the stream's first "
                             f"images are {shape}, later ones {batch.shape[1:]}.")
        pending.append(batch)
        pending_count += len(batch)
        while pending_count >= batch_size:
            joined = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield position, joined[:batch_size]
            position += batch_size
            rest = joined[batch_size:]
            pending, pending_count = ([rest], len(rest)) if len(rest) else ([], 0)
    if pending_count:
        yield position, np.concatenate(pending) if len(pending) > 1 else pending[0]


def display_range(images: np.ndarray) -> tuple[float, float]:
    """The range to show ``images`` in: [0, 1] or [0, 255] when they fit, else their own."""
    low, high = float(np.min(images)), float(np.max(images))
    if low >= 0 and high <= 1:
        return 0.0, 1.0
    if low >= 0 and high <= 255:
        return 0.0, 255.0
    return low, high if high > low else low + 1.0


def to_display(images: np.ndarray, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """Images as floats in [0, 1] for ``imshow`` (one channel: gray, dropped axis kept 3-D)."""
    images = np.asarray(images, dtype=np.float64)
    low, high = display_range(images) if value_range is None else value_range
    shown = np.clip((images - low) / (high - low), 0.0, 1.0)
    if shown.shape[-1] == 1:
        shown = np.repeat(shown, 3, axis=-1)
    elif shown.shape[-1] != 3:
        shown = np.repeat(shown.mean(axis=-1, keepdims=True), 3, axis=-1)
    return shown
