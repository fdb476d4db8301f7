"""The inputs of a stream that activate each channel most (the dataset-centric view)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int
from ._common import check_channels, image_stream, model_and_layer, progress_bar


@dataclass
class TopActivating:
    """For each channel, the ``k`` inputs that activated it most, best first.

    Attributes
    ----------
    indices : ndarray of int, (C, k)
        Positions of the inputs in the stream (0 = its first image).
    values : ndarray of float32, (C, k)
        Each input's activation: the channel's maximum over its map.
    units : ndarray of int, (C, k, 2)
        Where in the map (row, col) that maximum is (the first, in row-major order).
    crops : ndarray of float32, (C, k, rh, rw, C_in)
        The pixels of each maximum unit's receptive field: windows of the receptive
        field's size (cut to the image) holding the field, moved inside the image at the
        border; the whole image when the field is not known (see ``receptive_field``).
    boxes : ndarray of int, (C, k, 4)
        Where each crop lies: ``(row0, col0, row1, col1)``, half-open.
    layer : str
        The reported layer name.
    channels : ndarray of int
        The channel of each row.
    receptive_field : ReceptiveField or None
        ``size``, ``jump`` and ``offset`` per axis, or None (the whole image).
    count : int
        How many inputs the stream held. ``k`` is at most this.
    """

    indices: np.ndarray
    values: np.ndarray
    units: np.ndarray
    crops: np.ndarray
    boxes: np.ndarray
    layer: str
    channels: np.ndarray
    receptive_field: object
    count: int

    def plot(self, **kwargs):
        """Draw the grid of crops (see ``plotting.plot_top_activating``)."""
        from ..plotting import plot_top_activating

        return plot_top_activating(self, **kwargs)


def top_activating(net, images, layer, channels=None, *, k: int = 9, batch_size: int = 64,
                   progress: bool | None = None) -> TopActivating:
    """The ``k`` inputs that activate each channel of ``layer`` most, and their crops.

    The stream is read once, in batches of ``batch_size``; each batch costs one compiled
    call that returns only each channel's maximum and where it is, and only the current
    best ``k`` per channel (with their crops) are kept, so memory is one batch plus
    ``C * k`` crops. An input's activation is the channel's spatial maximum; ties go to
    the earlier input.

    The crop is the receptive field of the maximum unit, worked out from the layers on the
    way to ``layer`` (kernel sizes, strides, dilations and padding of the convolutions and
    pooling windows; pointwise and merging layers keep it); when another kind of layer is
    on the way (global pooling, a Dense layer on vectors, attention, a resizing), the crop
    is the whole image.

    Parameters
    ----------
    net : keras.Model
        The model (never changed).
    images : array, tf.data.Dataset or iterable
        An array ``(N, H, W, C)``; a dataset of images or batches (``(x, y)`` elements
        give ``x``); or any iterable of images or batches. Read once.
    layer : str or keras.layers.Layer
        The layer; a ``(N, C)`` layer (units, classes) too.
    channels : int, sequence of int or None
        The channels (None: all).
    k : int, default=9
        Inputs kept per channel.
    batch_size : int, default=64
        Images per model call.
    progress : bool or None
        A progress bar over the batches.

    Returns
    -------
    TopActivating
        ``indices``, ``values`` ``(C, min(k, count))``, ``units``, ``crops``, ``boxes``.

    References
    ----------
    Zeiler and Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014;
    Yosinski et al., "Understanding Neural Networks Through Deep Visualization", 2015.
    """
    from .._models import keras_adapter
    from .._models._visualize import receptive_field, statistics_function

    k = check_int("k", k)
    batch_size = check_int("batch_size", batch_size)
    adapter = keras_adapter(net)
    stream = image_stream(images, batch_size, adapter.input_shape)
    size = None
    best_values = best_index = best_units = best_crops = best_boxes = None
    count = 0
    for position, batch in progress_bar(stream, total=None, progress=progress,
                                        desc="top activating"):
        if size is None:
            adapter, graph, target = model_and_layer(net, batch.shape[1:], layer)
            chosen = check_channels(channels, target.channels, target.name)
            statistics = statistics_function(adapter, target)
            field = receptive_field(graph, target)
            h, w = target.spatial
            size = batch.shape[1:3]
            crop = (size if field is None else
                    tuple(min(field.size[a], size[a]) for a in (0, 1)))
            num = len(chosen)
            best_values = np.full((num, 0), -np.inf, np.float32)
            best_index = np.zeros((num, 0), int)
            best_units = np.zeros((num, 0, 2), int)
            best_crops = np.zeros((num, 0, *crop, batch.shape[-1]), np.float32)
            best_boxes = np.zeros((num, 0, 4), int)
        _, _, maxima, argmax = statistics(batch)
        maxima, argmax = maxima[:, chosen].T, argmax[:, chosen].T  # (C, B)
        count += len(batch)
        index = np.broadcast_to(position + np.arange(len(batch)), maxima.shape)
        values = np.concatenate([best_values, maxima], axis=1)
        indices = np.concatenate([best_index, index], axis=1)
        # best first: higher value, then the earlier input
        order = np.lexsort((indices, -values.astype(np.float64)), axis=1)[:, :k]
        kept = np.take_along_axis(indices, order, axis=1)
        old = order < best_values.shape[1]
        units = np.stack(np.divmod(argmax, w), axis=-1)  # (C, B, 2)
        new_units = np.zeros((*kept.shape, 2), int)
        new_crops = np.zeros((*kept.shape, *best_crops.shape[2:]), np.float32)
        new_boxes = np.zeros((*kept.shape, 4), int)
        rows, cols = np.nonzero(old)
        new_units[rows, cols] = best_units[rows, order[rows, cols]]
        new_crops[rows, cols] = best_crops[rows, order[rows, cols]]
        new_boxes[rows, cols] = best_boxes[rows, order[rows, cols]]
        rows, cols = np.nonzero(~old)
        if len(rows):
            in_batch = order[rows, cols] - best_values.shape[1]
            unit = units[rows, in_batch]
            if field is None:
                starts = np.zeros((len(rows), 2), int)
            else:
                starts, _ = field.window(unit, size)
            r = starts[:, 0, None, None] + np.arange(crop[0])[None, :, None]
            c = starts[:, 1, None, None] + np.arange(crop[1])[None, None, :]
            new_crops[rows, cols] = batch[in_batch[:, None, None], r, c]
            new_units[rows, cols] = unit
            new_boxes[rows, cols] = np.concatenate([starts, starts + np.array(crop)], axis=1)
        best_values = np.take_along_axis(values, order, axis=1)
        best_index, best_units, best_crops, best_boxes = kept, new_units, new_crops, new_boxes
    if size is None:
        raise ValueError("images is empty: the stream gave no image.")
    return TopActivating(best_index, best_values, best_units, best_crops, best_boxes,
                         target.name, chosen, field, count)
