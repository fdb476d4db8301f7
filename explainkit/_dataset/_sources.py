"""Data sets as a stream of batches: arrays, tf.data, PyDataset, iterables, image folders.

Whatever the source, the runner sees :class:`Batch` es of its own size, each image with its
position in the data set (0, 1, ... in the order the source gives them): seeds and file
names derive from positions, so results do not depend on how the source is batched.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class Batch:
    """Images of a data set with their positions, and labels and masks when it has them."""

    positions: np.ndarray
    images: np.ndarray
    labels: np.ndarray | None = None
    masks: np.ndarray | None = None
    names: list | None = None

    def __len__(self) -> int:
        return len(self.positions)


def is_dataset(data) -> bool:
    """Whether ``data`` is a stream (not an array): tf.data, PyDataset, folder, iterable."""
    if isinstance(data, list | tuple):
        return _is_list_of_batches(data)
    if isinstance(data, np.ndarray) or (hasattr(data, "__array__") and not hasattr(
            data, "element_spec")):
        return False
    return _kind(data) is not None


def _is_list_of_batches(data) -> bool:
    """A list or tuple of batches: 4-D arrays or (images, labels[, masks]) tuples."""
    if not isinstance(data, list | tuple) or not data:
        return False
    first = data[0]
    if isinstance(first, tuple | list):
        return 1 <= len(first) <= 3 and np.ndim(first[0]) == 4
    return isinstance(first, np.ndarray) and first.ndim == 4


def _kind(data) -> str | None:
    if isinstance(data, _folder_type()):
        return "folder"
    if hasattr(data, "element_spec") and hasattr(data, "as_numpy_iterator"):
        return "tf.data"
    if _is_py_dataset(data):
        return "PyDataset"
    if isinstance(data, Iterator) or (isinstance(data, Iterable) and not isinstance(
            data, str | bytes | dict)):
        return "iterable"
    return None


def _folder_type():
    from ._folder import ImageFolder

    return ImageFolder


def _is_py_dataset(data) -> bool:
    return any(c.__name__ == "PyDataset" and c.__module__.startswith("keras")
               for c in type(data).__mro__)


def describe(data) -> str:
    """What kind of data set ``data`` is, for the manifest and messages."""
    if _is_list_of_batches(data):
        return "list of batches"
    if not is_dataset(data):
        return "array"
    return _kind(data) or type(data).__name__


def _parts(element, where: str):
    """``(images, labels, masks)`` of one element of a source (a tensor or a tuple)."""
    if isinstance(element, dict):
        raise TypeError(
            f"{where} gives a dict; explainkit reads images, (images, labels) or "
            "(images, labels, masks) elements: map the dataset to one of these.")
    if isinstance(element, tuple | list):
        if not 1 <= len(element) <= 3:
            raise ValueError(
                f"{where} gives tuples of {len(element)} items; expected (images,), "
                "(images, labels) or (images, labels, masks).")
        parts = [None if p is None else np.asarray(p) for p in element]
        return tuple(parts) + (None,) * (3 - len(parts))
    return np.asarray(element), None, None


def _labels(labels, n: int, where: str) -> np.ndarray:
    """Integer labels ``(n,)``; one-hot rows become their index."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[0] == n and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    elif labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (n,) or not (np.issubdtype(labels.dtype, np.integer) or (
            np.issubdtype(labels.dtype, np.floating)
            and np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)))):
        raise ValueError(
            f"{where}: labels must be one integer class per image (or one-hot rows); got "
            f"an array of shape {labels.shape} and dtype {labels.dtype} for {n} images.")
    return labels.astype(np.int64)


def _items(data, *, y=None, masks=None, folder_options=None) -> Iterator[tuple]:
    """``(images (B, H, W, C), labels, masks, names, positions)`` batches (None: absent;
    positions None: the next ones in order)."""
    kind = describe(data)
    if kind in ("array", "list of batches"):
        if kind == "list of batches":
            if y is not None or masks is not None:
                raise ValueError("y and masks cannot be given with a list of batches: put "
                                 "them in the batches' tuples.")
            for element in data:
                images, labels, batch_masks = _parts(element, "the list of batches")
                yield images, labels, batch_masks, None, None
            return
        images = np.asarray(data)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4:
            raise ValueError(
                f"X must be images (N, H, W, C); got an array of shape {images.shape}.")
        labels = None if y is None else np.asarray(y)
        if labels is not None and len(labels) != len(images):
            raise ValueError(f"y has {len(labels)} labels for {len(images)} images.")
        if masks is not None and not isinstance(masks, np.ndarray | list | tuple):
            raise TypeError("masks must be an array (N, H, W) with arrays of images.")
        if masks is not None and len(masks) != len(images):
            raise ValueError(f"masks has {len(masks)} masks for {len(images)} images.")
        step = 256  # slices, not copies, of the caller's array
        for start in range(0, len(images), step):
            part = slice(start, start + step)
            yield (images[part], None if labels is None else labels[part],
                   None if masks is None else np.asarray(masks[part]), None, None)
        return
    if y is not None or masks is not None:
        raise ValueError(f"y and masks go with arrays of images; a {kind} carries its own "
                         "labels and masks as (images, labels, masks) elements.")
    if kind == "folder":
        yield from data._items(**(folder_options or {}))
        return
    if kind == "tf.data":
        spec = data.element_spec
        first = spec[0] if isinstance(spec, tuple) else spec
        batched = getattr(first, "shape", None) is not None and first.shape.rank == 4
        for element in data.as_numpy_iterator():
            images, labels, batch_masks = _parts(element, "the tf.data.Dataset")
            if not batched:
                images = images[None]
                labels = None if labels is None else np.asarray(labels)[None]
                batch_masks = None if batch_masks is None else batch_masks[None]
            yield images, labels, batch_masks, None, None
        return
    if kind == "PyDataset":
        count = data.num_batches if data.num_batches is not None else len(data)
        for index in range(count):
            images, labels, batch_masks = _parts(data[index], "the PyDataset")
            yield images, labels, batch_masks, None, None
        return
    for element in data:
        images, labels, batch_masks = _parts(element, "the iterable")
        if images.ndim == 3:  # one image, not a batch
            images = images[None]
            labels = None if labels is None else np.asarray(labels)[None]
            batch_masks = None if batch_masks is None else batch_masks[None]
        yield images, labels, batch_masks, None, None


def stream(data, batch_size: int, *, y=None, masks=None, skip=frozenset(), channels=None,
           on_error: str = "raise", skipped: list | None = None, only=None,
           shape=None) -> Iterator[Batch]:
    """The data set as :class:`Batch` es of ``batch_size`` images (the last may be smaller).

    Images whose position is in ``skip`` are left out (a resumed run); a folder does not
    even read their files. ``channels``, ``on_error`` and ``skipped`` are for folders:
    the model's channels, and where files left out with ``on_error="skip"`` are recorded;
    ``only`` and ``shape`` (folders) read just these positions, expecting images of
    ``shape``.
    """
    if not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    options = {"skip": skip, "channels": channels, "on_error": on_error,
               "skipped": [] if skipped is None else skipped, "only": only, "shape": shape}
    pending: list[tuple] = []
    position = 0
    has_labels = has_masks = None
    for images, labels, batch_masks, names, positions in _items(
            data, y=y, masks=masks, folder_options=options):
        if images.ndim != 4:
            raise ValueError(f"the data set gives images of shape {images.shape}; expected "
                             "batches (B, H, W, C) or single images (H, W, C).")
        n = len(images)
        if positions is not None:
            position = int(positions[0])
        where = f"the data set's batch at position {position}"
        if has_labels is None:
            shape = images.shape[1:] if shape is None else tuple(shape)
            has_labels, has_masks = labels is not None, batch_masks is not None
        if images.shape[1:] != shape:
            name = f" ({names[0]})" if names else ""
            raise ValueError(
                f"the data set's images must all have one size; image {position}{name} is "
                f"{images.shape[1:]}, the first was {shape}. Resize them (image_folder("
                "..., image_size=(H, W)) or tf.image.resize).")
        if (labels is not None) != has_labels or (batch_masks is not None) != has_masks:
            raise ValueError(f"{where} has labels or masks where the first did not (or "
                             "the other way round).")
        labels = None if labels is None else _labels(labels, n, where)
        if batch_masks is not None and (batch_masks.shape[0] != n or batch_masks.ndim < 3):
            raise ValueError(f"{where}: masks must be (B, H, W) with one mask per image; "
                             f"got shape {batch_masks.shape} for {n} images.")
        for i in range(n):
            if positions is not None:
                position = int(positions[i])
            if position not in skip:
                pending.append((position, images[i],
                                None if labels is None else labels[i],
                                None if batch_masks is None else batch_masks[i],
                                None if names is None else names[i]))
            position += 1
            if len(pending) == batch_size:
                yield _batch(pending)
                pending = []
    if pending:
        yield _batch(pending)


def _batch(items: list[tuple]) -> Batch:
    positions, images, labels, masks, names = zip(*items, strict=True)
    return Batch(positions=np.asarray(positions, np.int64), images=np.stack(images),
                 labels=None if labels[0] is None else np.asarray(labels, np.int64),
                 masks=None if masks[0] is None else np.stack(masks).astype(bool),
                 names=None if names[0] is None else list(names))
