"""LIME's picture: only the most important features shown, with feature boundaries."""

from __future__ import annotations

import numpy as np

from ._checks import display_image, explanation_title, top_features


class LimeDisplay:
    """The image with only its ``num_top`` most important features visible (MATLAB's
    "display only the most important features"), the rest dimmed, feature boundaries drawn.

    Parameters
    ----------
    image : array-like, (H, W) or (H, W, C)
    feature_map : array of int, (H, W)
        Feature labels 0..F-1.
    importance : array, (F,)
        Importance of each feature.
    num_top : int, default=5
        How many features to show.
    title : str, optional

    Attributes (after plot): ``ax_``, ``figure_``, ``image_``, ``shown_`` (the boolean mask
    of the pixels shown).
    """

    def __init__(self, image, feature_map, importance, *, num_top: int = 5,
                 title: str | None = None):
        self.image = image
        self.feature_map = feature_map
        self.importance = importance
        self.num_top = num_top
        self.title = title

    def plot(self, ax=None, *, dim: float = 0.2, boundary_color=(1.0, 1.0, 0.0)):
        """Draw on ``ax`` (a new figure when None) and return ``self``.

        ``dim`` is the brightness left to the hidden features (0 = black).
        """
        import matplotlib.pyplot as plt
        from skimage.segmentation import find_boundaries

        rgb = display_image(self.image)
        features = np.asarray(self.feature_map)
        importance = np.asarray(self.importance, dtype=np.float64)
        if features.shape != rgb.shape[:2] or not np.issubdtype(features.dtype, np.integer):
            raise ValueError(
                f"feature_map must be an integer array of the image's size {rgb.shape[:2]}; "
                f"got {features.dtype} of shape {features.shape}."
            )
        if importance.ndim != 1 or len(importance) <= features.max():
            raise ValueError(
                f"importance must hold one value per feature ({features.max() + 1}); got "
                f"shape {importance.shape}."
            )
        if not np.isfinite(importance).all():
            raise ValueError("importance contains NaN or Inf.")
        shown = top_features(features, importance, self.num_top)
        picture = np.where(shown[..., None], rgb, dim * rgb)
        # Enlarge small images (nearest) so that one-pixel boundaries stay thin lines.
        factor = max(1, int(np.ceil(256 / min(features.shape))))
        picture = picture.repeat(factor, axis=0).repeat(factor, axis=1)
        big = features.repeat(factor, axis=0).repeat(factor, axis=1)
        picture[find_boundaries(big, mode="inner")] = boundary_color
        new_figure = ax is None
        if new_figure:
            _, ax = plt.subplots(figsize=(4, 4))
        self.image_ = ax.imshow(picture, extent=(-0.5, features.shape[1] - 0.5,
                                                 features.shape[0] - 0.5, -0.5))
        ax.set_axis_off()
        count = int(min(self.num_top, len(importance)))
        ax.set_title(self.title or f"top {count} of {len(importance)} features")
        if new_figure:
            ax.figure.tight_layout()
        self.shown_, self.ax_, self.figure_ = shown, ax, ax.figure
        return self

    @classmethod
    def from_explanation(cls, explanation, *, index: int = 0, target: int = 0,
                         num_top: int = 5, ax=None):
        """Draw a LIME explanation's top features; the title names the class and score."""
        if explanation.feature_map is None:
            raise ValueError(
                f"the explanation has no features (method {explanation.method!r}); "
                "LimeDisplay needs a LIME explanation."
            )
        importance = explanation.feature_importance[index][:, target]
        count = int(min(num_top, len(importance)))
        title = f"top {count} features: {explanation_title(explanation, index, target)}"
        return cls(explanation.images[index], explanation.feature_map[index], importance,
                   num_top=num_top, title=title).plot(ax)


def plot_lime(explanation, *, index: int = 0, target: int = 0, num_top: int = 5,
              ax=None) -> LimeDisplay:
    """Show a LIME explanation's ``num_top`` most important features; return the display."""
    return LimeDisplay.from_explanation(explanation, index=index, target=target,
                                        num_top=num_top, ax=ax)
