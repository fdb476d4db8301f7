"""A layer's activations for a batch of images, as maps ``(N, h, w, C)``."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._batching import check_batch_size, images_per_call
from .._validation import check_images
from ._common import check_channels, model_and_layer, progress_bar


@dataclass
class LayerActivations:
    """The activations of one layer: ``values`` ``(N, h, w, len(channels))``.

    ``np.asarray(result)`` is ``values``. ``layer`` is the reported layer name (its own
    name, or its nested path when the name is not unique); ``channels`` the channel
    indices of the last axis; ``kind``: ``"map"``, ``"vector"`` (a ``(N, C)`` layer, read as
    ``(N, 1, 1, C)``) or ``"tokens"`` (a token sequence read as its grid of patches);
    ``images`` the input batch as float32 (for ``plot``).
    """

    values: np.ndarray
    layer: str
    channels: np.ndarray
    kind: str = "map"
    images: np.ndarray | None = None

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    @property
    def shape(self) -> tuple:
        return self.values.shape

    def plot(self, index: int = 0, *, top: int | None = None, ax=None,
             max_channels: int = 64):
        """Tile image ``index``'s channels beside the image (see ``plotting.activations``)."""
        from ..plotting import ActivationsDisplay

        image = None if self.images is None else self.images[index]
        return ActivationsDisplay(self.values[index], self.layer, image=image,
                                  channels=self.channels).plot(
            ax, top=top, max_channels=max_channels)


def activations(net, X, layer, channels=None, *, batch_size: int = 32,
                progress: bool | None = None) -> LayerActivations:
    """The activations of ``layer`` for the images ``X``, as maps ``(N, h, w, C)``.

    MATLAB's ``activations(net, X, layer)`` for Keras models, through explainkit's adapter:
    layers inside nested models are named by their name or their path
    (``"backbone/block5_conv3"``), subclassed models by the layers their ``call`` runs.

    Parameters
    ----------
    net : keras.Model
        The model (never changed).
    X : array-like, (H, W, C), (H, W) or (N, H, W, C)
        The images, as the model takes them.
    layer : str or keras.layers.Layer
        The layer: a name, a nested path or the layer object.
    channels : int, sequence of int or None
        The channels to keep, in this order (None: all).
    batch_size : int, default=32
        Images per model call.
    progress : bool or None
        A progress bar (None: on long runs in a terminal).

    Returns
    -------
    LayerActivations
        ``values`` ``(N, h, w, len(channels))`` float32; a ``(N, C)`` layer (Dense, global
        pooling) gives ``(N, 1, 1, C)`` and a token sequence ``(N, T, C)`` that forms a grid
        of the image its ``(N, h, w, C)`` grid (a class token dropped); ``layer`` the
        reported name.

    Raises
    ------
    ValueError
        An unknown layer (with the closest names), a layer whose output is no map, units
        or token grid, channel indices out of range.

    Examples
    --------
    >>> import keras, numpy as np
    >>> from explainkit import visualize
    >>> net = keras.Sequential([keras.Input((8, 8, 3)),
    ...                         keras.layers.Conv2D(4, 3, name="conv")])
    >>> visualize.activations(net, np.zeros((2, 8, 8, 3)), "conv", channels=[3, 1]).shape
    (2, 6, 6, 2)
    """
    check_batch_size(batch_size)
    from .._models import keras_adapter
    from .._models._visualize import maps_function

    images, _ = check_images(X, input_shape=keras_adapter(net).input_shape, name="X")
    adapter, _, target = model_and_layer(net, images.shape[1:], layer)
    chosen = check_channels(channels, target.channels, target.name)
    run = maps_function(adapter, target)
    step = images_per_call(batch_size, images[0].nbytes)
    starts = range(0, len(images), step)
    parts = [run(images[i:i + step])[..., chosen]
             for i in progress_bar(starts, total=len(starts), progress=progress,
                                   desc="activations")]
    return LayerActivations(np.concatenate(parts), target.name, chosen, target.kind, images)
