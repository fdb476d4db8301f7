"""Several methods side by side: images in rows, methods in columns."""

from __future__ import annotations

import numpy as np

from ._checks import color_limits, display_image, explanation_map, explanation_title
from ._overlay import OverlayDisplay

SCALES = ("each", "shared")


class ComparisonDisplay:
    """A grid of overlays: one row per image, the image then one column per explanation.

    Parameters
    ----------
    explanations : list of Explanation
        Explanations of the same images (e.g. Grad-CAM, occlusion, LIME).
    indices : sequence of int, optional
        Which images (rows); default all.
    target : int, default=0
        Which of each explanation's targets.
    scale : {"each", "shared"}, default="each"
        "each": every panel its own colour range; "shared": each row one range, with every
        map divided by its largest absolute value first (methods have different units), so
        that the panels of a row compare directly.

    Attributes (after plot): ``axes_`` (rows x columns array), ``figure_``, ``displays_``.
    """

    def __init__(self, explanations, *, indices=None, target: int = 0, scale: str = "each"):
        self.explanations = explanations
        self.indices = indices
        self.target = target
        self.scale = scale

    def plot(self, *, alpha: float = 0.5, panel_size: float = 2.6):
        """Draw a new figure and return ``self``."""
        import matplotlib.pyplot as plt

        from .._validation import check_option

        check_option("scale", self.scale, SCALES)
        explanations = list(self.explanations)
        if not explanations:
            raise ValueError("explanations must hold at least one Explanation.")
        n = explanations[0].images.shape[0]
        for e in explanations[1:]:
            if e.images.shape != explanations[0].images.shape:
                raise ValueError(
                    "All explanations must explain the same images; got image batches of "
                    f"shapes {explanations[0].images.shape} and {e.images.shape}."
                )
        rows = list(range(n)) if self.indices is None else [int(i) for i in self.indices]
        columns = len(explanations) + 1
        fig, axes = plt.subplots(len(rows), columns, squeeze=False,
                                 figsize=(panel_size * columns + 0.8, panel_size * len(rows)))
        self.displays_ = []
        for r, index in enumerate(rows):
            axes[r, 0].imshow(display_image(explanations[0].images[index]))
            axes[r, 0].set_axis_off()
            axes[r, 0].set_title(f"image {index}")
            maps = [explanation_map(e, index, self.target) for e in explanations]
            limits = {}
            if self.scale == "shared":
                maps = [_unit(m) for m in maps]
                limits = dict(zip(("vmin", "vmax"), color_limits(maps)[:2], strict=True))
            for c, (e, score_map) in enumerate(zip(explanations, maps, strict=True), start=1):
                display = OverlayDisplay(
                    e.images[index], score_map,
                    title=f"{e.method}\n{explanation_title(e, index, self.target)}",
                )  # fmt: skip
                display.plot(axes[r, c], alpha=alpha, colorbar=self.scale == "each"
                             or c == columns - 1, **limits)
                self.displays_.append(display)
        fig.tight_layout()
        self.axes_, self.figure_ = axes, fig
        return self

    @classmethod
    def from_explanations(cls, explanations, *, indices=None, target: int = 0,
                          scale: str = "each", alpha: float = 0.5):
        """Draw the comparison of ``explanations`` and return the display."""
        return cls(explanations, indices=indices, target=target, scale=scale).plot(alpha=alpha)


def _unit(score_map: np.ndarray) -> np.ndarray:
    """A map divided by its largest absolute value (signs kept; zero maps stay zero)."""
    bound = np.abs(score_map).max()
    return score_map / bound if bound > 0 else score_map


def plot_comparison(explanations, *, indices=None, target: int = 0, scale: str = "each",
                    alpha: float = 0.5) -> ComparisonDisplay:
    """Images x methods grid of overlays; return the display."""
    return ComparisonDisplay.from_explanations(explanations, indices=indices, target=target,
                                               scale=scale, alpha=alpha)
