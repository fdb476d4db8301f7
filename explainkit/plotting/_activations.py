"""What units see and what excites them: a layer's channels tiled beside the input (the
"live activations" view), images synthesised for units, and the inputs that excite them."""

from __future__ import annotations

import numpy as np

from .._image import normalize


def _tile_grid(count: int) -> tuple[int, int]:
    cols = int(np.ceil(np.sqrt(count)))
    return int(np.ceil(count / cols)), cols


class ActivationsDisplay:
    """The channels of one layer's output for one image, each tile scaled to its own range.

    Parameters
    ----------
    activations : array, (h, w, C)
        The layer output for one image.
    layer : str
        The layer's name, for the title.
    image : array, (H, W, C), optional
        The input, drawn beside the tiles.
    channels : sequence of int, optional
        The channel index of each of the C maps (default ``0 .. C-1``), for the labels.

    Attributes (after plot): ``ax_`` (the tiles), ``axes_`` (the input's axes, if drawn,
    then the tiles'), ``figure_``, ``tiles_`` (the tiled image), ``channels_`` (the
    channels shown, in tile order, row by row).
    """

    def __init__(self, activations, layer: str = "", *, image=None, channels=None):
        self.activations = activations
        self.layer = layer
        self.image = image
        self.channels = channels

    def plot(self, ax=None, *, top: int | None = None, max_channels: int = 64,
             cmap: str = "viridis", labels: bool = True):
        """Draw the channels on ``ax`` (a new figure when None, the input at its left).

        ``top``: the ``top`` channels of largest mean activation, strongest first (None:
        in their order). At most ``max_channels`` tiles. ``ax`` may be one Axes (tiles
        only) or a pair (input, tiles).
        """
        import matplotlib.pyplot as plt

        from ..visualize._common import check_top, to_display

        acts = np.asarray(self.activations, dtype=np.float64)
        if acts.ndim != 3:
            raise ValueError(
                f"activations must be one image's layer output (h, w, channels); got shape "
                f"{acts.shape}."
            )
        top = check_top(top)
        labels_of = np.arange(acts.shape[-1]) if self.channels is None else np.asarray(
            self.channels)
        if len(labels_of) != acts.shape[-1]:
            raise ValueError(f"channels has {len(labels_of)} entries for {acts.shape[-1]} "
                             "maps.")
        order = np.arange(acts.shape[-1])
        if top is not None:
            order = np.argsort(-acts.mean(axis=(0, 1)), kind="stable")[:top]
        order = order[:int(max_channels)]
        channels = len(order)
        rows, cols = _tile_grid(channels)
        h, w = acts.shape[:2]
        tiles = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
        for k, c in enumerate(order):
            r, col = divmod(k, cols)
            tiles[r * (h + 1):r * (h + 1) + h, col * (w + 1):col * (w + 1) + w] = normalize(
                acts[..., c])
        with_image = self.image is not None
        if ax is None:
            if with_image:
                figure, axes = plt.subplots(1, 2, figsize=(9, 4.5 * rows / cols + 0.8),
                                            width_ratios=(1, 2), layout="constrained")
            else:
                figure, ax = plt.subplots(figsize=(6, 6 * rows / cols + 0.4))
                axes = [ax]
        elif np.ndim(ax) == 1 and len(ax) == 2:
            axes = list(ax)
        else:
            axes, with_image = [ax], False
        tiles_ax = axes[-1]
        if with_image:
            axes[0].imshow(to_display(np.asarray(self.image)))
            axes[0].set_axis_off()
            axes[0].set_title("input")
        tiles_ax.imshow(np.ma.masked_invalid(tiles), cmap=cmap, vmin=0, vmax=1)
        tiles_ax.set_axis_off()
        total = acts.shape[-1]
        if top is not None:
            shown = f"top {channels} of {total}"
        else:
            shown = f"{channels} of {total}" if channels < total else channels
        tiles_ax.set_title(f"{self.layer}: {shown} channels ({h}x{w})")
        if labels and channels <= 64:
            for k, c in enumerate(order):
                r, col = divmod(k, cols)
                tiles_ax.text(col * (w + 1), r * (h + 1), str(labels_of[c]), color="white",
                              fontsize=7, va="top", ha="left")
        self.tiles_, self.ax_, self.figure_ = tiles, tiles_ax, tiles_ax.figure
        self.axes_ = np.asarray(axes[-2:] if with_image else axes[-1:], dtype=object)
        self.channels_ = labels_of[order]
        return self

    @classmethod
    def from_model(cls, net, image, layer, *, top: int | None = None, channels=None, ax=None,
                   max_channels: int = 64):
        """Run a Keras model on ``image`` and tile ``layer``'s channels beside it."""
        from ..visualize import activations

        result = activations(net, image, layer, channels)
        if result.kind == "vector" or result.values.shape[1:3] == (1, 1):
            raise ValueError(
                f"layer {result.layer!r} outputs one value per channel (1x1 maps); "
                "activations need a spatial layer (N, h, w, channels). "
                "visualize.activations returns its values as (N, 1, 1, C)."
            )
        return cls(result.values[0], result.layer, image=result.images[0],
                   channels=result.channels).plot(ax, top=top, max_channels=max_channels)


def activations(net, image, layer, *, top: int | None = None, channels=None, ax=None,
                max_channels: int = 64) -> ActivationsDisplay:
    """Tile the channels of ``layer`` for ``image`` beside it; return the display.

    ``top=K`` shows the K channels of largest mean activation, strongest first;
    ``channels`` chooses among the channels (in that order, or ranked with ``top``).
    """
    return ActivationsDisplay.from_model(net, image, layer, top=top, channels=channels,
                                         ax=ax, max_channels=max_channels)


class MaximizationDisplay:
    """Images synthesised for units (``visualize.maximize`` / ``deep_dream``), one per cell.

    Parameters
    ----------
    images : uint8 array, (K, H, W, C)
    channels : sequence of int
        The unit of each image (-1: the whole layer).
    layer, objective : str
        For the titles.

    Attributes (after plot): ``axes_`` (one per image), ``figure_``.
    """

    def __init__(self, images, channels, layer: str = "", objective: str = "channel"):
        self.images = images
        self.channels = channels
        self.layer = layer
        self.objective = objective

    def plot(self, axes=None, *, columns: int | None = None):
        """Draw the images in a grid of ``columns`` (default: near-square)."""
        import matplotlib.pyplot as plt

        from ..visualize._common import to_display

        images = np.asarray(self.images)
        count = len(images)
        rows, cols = _tile_grid(count) if columns is None else (
            int(np.ceil(count / int(columns))), int(columns))
        if axes is None:
            figure, axes = plt.subplots(rows, cols, figsize=(2 * cols, 2 * rows + 0.4),
                                        squeeze=False, layout="constrained")
            figure.suptitle(self.layer)
        axes = np.asarray(axes, dtype=object).reshape(-1)
        word = "class" if self.objective == "class" else "channel"
        shown = to_display(images, (0, 255)) if images.dtype == np.uint8 else to_display(images)
        for i, ax in enumerate(axes):
            ax.set_axis_off()
            if i >= count:
                continue
            ax.imshow(shown[i])
            channel = int(self.channels[i])
            ax.set_title("all channels" if channel < 0 else f"{word} {channel}", fontsize=9)
        self.axes_, self.figure_ = axes[:count], axes[0].figure
        return self

    @classmethod
    def from_result(cls, result, *, axes=None, columns: int | None = None):
        """The display of a ``MaximizationResult``."""
        return cls(result.to_uint8(), result.channels, result.layer, result.objective).plot(
            axes, columns=columns)


def plot_maximization(result, *, axes=None, columns: int | None = None) -> MaximizationDisplay:
    """Draw the images of ``visualize.maximize`` or ``deep_dream``; return the display."""
    return MaximizationDisplay.from_result(result, axes=axes, columns=columns)


class TopActivatingDisplay:
    """For each channel (a row), the crops of the inputs that excite it most (columns).

    Parameters
    ----------
    crops : array, (C, k, rh, rw, C_in)
    channels, indices, values : arrays
        Each row's channel; each crop's position in the stream and activation.
    layer : str

    Attributes (after plot): ``axes_`` ``(rows, k)``, ``figure_``.
    """

    def __init__(self, crops, channels, indices, values, layer: str = ""):
        self.crops = crops
        self.channels = channels
        self.indices = indices
        self.values = values
        self.layer = layer

    def plot(self, axes=None, *, max_channels: int = 16):
        """Draw the first ``max_channels`` channels' crops, best first along each row."""
        import matplotlib.pyplot as plt

        from ..visualize._common import to_display

        crops = np.asarray(self.crops)[:int(max_channels)]
        rows, k = crops.shape[:2]
        if axes is None:
            figure, axes = plt.subplots(rows, k, figsize=(1.3 * k + 0.6, 1.4 * rows + 0.4),
                                        squeeze=False, layout="constrained")
            figure.suptitle(f"{self.layer}: the inputs that excite each channel most")
        axes = np.asarray(axes, dtype=object).reshape(rows, k)
        shown = to_display(crops)
        for r in range(rows):
            for c in range(k):
                ax = axes[r, c]
                ax.imshow(shown[r, c])
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"#{self.indices[r][c]}: {self.values[r][c]:.2g}", fontsize=7)
            axes[r, 0].set_ylabel(f"channel {self.channels[r]}", fontsize=8)
        self.axes_, self.figure_ = axes, axes[0, 0].figure
        return self

    @classmethod
    def from_result(cls, result, *, axes=None, max_channels: int = 16):
        """The display of a ``TopActivating`` result."""
        return cls(result.crops, result.channels, result.indices, result.values,
                   result.layer).plot(axes, max_channels=max_channels)


def plot_top_activating(result, *, axes=None, max_channels: int = 16) -> TopActivatingDisplay:
    """Draw the grid of ``visualize.top_activating``'s crops; return the display."""
    return TopActivatingDisplay.from_result(result, axes=axes, max_channels=max_channels)
