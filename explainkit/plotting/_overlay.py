"""A score map drawn over its image, as MATLAB's imshow + imagesc(AlphaData) + colorbar."""

from __future__ import annotations

import numpy as np

from .._image import normalize
from ._checks import check_map, color_limits, display_image, explanation_map, explanation_title

#: Colormap of signed maps (what raises the score and what lowers it), centred on zero.
DIVERGING = "RdBu_r"


def overlay_rgb(image, score_map, *, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a min-max normalised map, coloured by ``cmap``, over ``image``.

    Returns an ``(H, W, 3)`` float array in [0, 1], e.g. to save with ``imsave``.
    """
    from matplotlib import colormaps

    rgb = display_image(image)
    score_map = check_map(score_map, rgb.shape)
    heat = colormaps[cmap](normalize(score_map))[..., :3]
    return (1 - alpha) * rgb + alpha * heat


class OverlayDisplay:
    """One map over its image, with a colour bar: scikit-learn's Display pattern.

    Create it with :meth:`from_explanation` (or :func:`plot_overlay`), or construct it and
    call :meth:`plot`. After plotting, the matplotlib objects are on ``ax_``, ``figure_``,
    ``image_`` (the map's AxesImage) and ``colorbar_``.

    Parameters
    ----------
    image : array-like, (H, W) or (H, W, C)
        The image (shown scaled to its own range).
    score_map : array-like, (H, W)
        The map, same size as the image.
    title : str, optional
        Axes title.
    signed : bool, optional
        Diverging colormap centred on zero; None = when the map has both signs.
    """

    def __init__(self, image, score_map, *, title: str | None = None,
                 signed: bool | None = None):
        self.image = image
        self.score_map = score_map
        self.title = title
        self.signed = signed

    def plot(self, ax=None, *, alpha: float = 0.5, cmap: str | None = None,
             colorbar: bool = True, vmin: float | None = None, vmax: float | None = None):
        """Draw on ``ax`` (a new figure when None) and return ``self``.

        Parameters
        ----------
        ax : matplotlib Axes, optional
        alpha : float, default=0.5
            Opacity of the map (MATLAB's AlphaData).
        cmap : str, optional
            Colormap; default "jet", or "RdBu_r" centred on zero for signed maps.
        colorbar : bool, default=True
        vmin, vmax : float, optional
            Colour limits (e.g. shared by several panels); default from the map.
        """
        import matplotlib.pyplot as plt

        rgb = display_image(self.image)
        score_map = check_map(self.score_map, rgb.shape)
        low, high, signed = color_limits(score_map, signed=self.signed)
        low = low if vmin is None else vmin
        high = high if vmax is None else vmax
        new_figure = ax is None
        if new_figure:
            _, ax = plt.subplots(figsize=(4.6, 4))
        ax.imshow(rgb)
        self.image_ = ax.imshow(score_map, cmap=cmap or (DIVERGING if signed else "jet"),
                                alpha=alpha, vmin=low, vmax=high)
        ax.set_axis_off()
        if self.title:
            ax.set_title(self.title)
        self.colorbar_ = ax.figure.colorbar(self.image_, ax=ax, fraction=0.046, pad=0.04) \
            if colorbar else None
        if new_figure:
            ax.figure.tight_layout()
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_explanation(cls, explanation, *, index: int = 0, target: int = 0, ax=None,
                         alpha: float = 0.5, cmap: str | None = None, colorbar: bool = True,
                         title: str | None = None):
        """Draw one map of an :class:`~explainkit.Explanation` over its image.

        The title is MATLAB's ``"class (score)"`` unless given. Maps computed with
        ``output_upsampling="none"`` are shown enlarged (nearest neighbour). A detection's
        map gets its box, labelled (``boxes_``).
        """
        display = cls(explanation.images[index], explanation_map(explanation, index, target),
                      title=title or explanation_title(explanation, index, target))
        display.plot(ax, alpha=alpha, cmap=cmap, colorbar=colorbar)
        if explanation.detections is not None:
            from ._detection import draw_boxes

            found = explanation.detections[index]
            height, width = explanation.images.shape[1:3]
            names = (None if explanation.target_names is None
                     else {int(label): str(name) for label, name in zip(
                         explanation.targets[index], explanation.target_names[index],
                         strict=True)})
            display.boxes_ = draw_boxes(
                display.ax_, found.xyxy(height, width)[target:target + 1],
                [names[int(found.labels[target])] if names else found.labels[target]],
                found.scores[target:target + 1])
        return display


def plot_overlay(image, score_map, *, ax=None, alpha: float = 0.5, cmap: str | None = None,
                 title: str | None = None, colorbar: bool = True,
                 signed: bool | None = None) -> OverlayDisplay:
    """Draw ``score_map`` over ``image`` (jet at alpha 0.5, colour bar); return the display."""
    return OverlayDisplay(image, score_map, title=title, signed=signed).plot(
        ax, alpha=alpha, cmap=cmap, colorbar=colorbar)
