"""The channels of a layer as a tiled grid (the "live activations" view)."""

from __future__ import annotations

import numpy as np

from .._image import normalize


class ActivationsDisplay:
    """The channels of one layer's output for one image, each tile scaled to its own range.

    Parameters
    ----------
    activations : array, (h, w, C)
        The layer output for one image.
    layer : str
        The layer's name, for the title.

    Attributes (after plot): ``axes_``, ``figure_``, ``tiles_`` (the tiled image).
    """

    def __init__(self, activations, layer: str = ""):
        self.activations = activations
        self.layer = layer

    def plot(self, ax=None, *, max_channels: int = 64, cmap: str = "viridis"):
        """Draw the first ``max_channels`` channels on ``ax`` (a new figure when None)."""
        import matplotlib.pyplot as plt

        acts = np.asarray(self.activations, dtype=np.float64)
        if acts.ndim != 3:
            raise ValueError(
                f"activations must be one image's layer output (h, w, channels); got shape "
                f"{acts.shape}."
            )
        channels = min(acts.shape[-1], int(max_channels))
        cols = int(np.ceil(np.sqrt(channels)))
        rows = int(np.ceil(channels / cols))
        h, w = acts.shape[:2]
        tiles = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
        for k in range(channels):
            r, c = divmod(k, cols)
            tiles[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = normalize(
                acts[..., k])
        if ax is None:
            _, ax = plt.subplots(figsize=(6, 6 * rows / cols + 0.4))
        ax.imshow(np.ma.masked_invalid(tiles), cmap=cmap, vmin=0, vmax=1)
        ax.set_axis_off()
        shown = f"{channels} of {acts.shape[-1]}" if channels < acts.shape[-1] else channels
        ax.set_title(f"{self.layer}: {shown} channels ({h}x{w})")
        self.tiles_, self.ax_, self.figure_ = tiles, ax, ax.figure
        return self

    @classmethod
    def from_model(cls, net, image, layer, *, ax=None, max_channels: int = 64):
        """Run a Keras graph model on ``image`` and tile ``layer``'s channels."""
        from .._models import keras_adapter
        from .._validation import check_images

        adapter = keras_adapter(net)
        x, _ = check_images(image, input_shape=adapter.input_shape, name="image")
        name, out = adapter.activations(x[:1], layer)
        if out.ndim != 4:
            raise ValueError(
                f"layer {name!r} outputs shape {out.shape}; activations need a spatial "
                "layer (N, h, w, channels)."
            )
        return cls(out[0], name).plot(ax, max_channels=max_channels)


def activations(net, image, layer, *, ax=None, max_channels: int = 64) -> ActivationsDisplay:
    """Tile the channels of ``layer`` for ``image``; return the display."""
    return ActivationsDisplay.from_model(net, image, layer, ax=ax, max_channels=max_channels)
