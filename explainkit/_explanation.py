"""The result every method returns, and the warning of a map that is blank by construction."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


class BlankMapWarning(UserWarning):
    """A map is exactly zero everywhere because no gradient reaches its feature layer.

    E.g. Grad-CAM at a vision transformer's last tokens, when the head reads only the class
    token: the score does not depend on the patch tokens there. The message names the
    layer to use instead; :func:`~explainkit.compare` marks the method in its table.
    """


@dataclass(frozen=True, eq=False)
class Explanation:
    """What an explainer found, with everything needed to look at and audit it.

    Attributes
    ----------
    maps : ndarray, shape (N, H, W, K)
        One map per image and target, always four-dimensional.
    method : str
        The method's name, e.g. ``"gradcam"``.
    targets : ndarray of int, shape (N, K), or None
        The resolved target of each image (class, output or segmentation class index;
        detection: the class of each explained detection); None when a ``reduction_fn``
        defined the score.
    scores : ndarray, shape (N, K)
        The explained scores themselves (e.g. the logits of the target classes).
    task : str
        ``"classification"``, ``"regression"``, ``"segmentation"`` or ``"detection"``.
    images : ndarray, shape (N, H, W, C)
        The explained images as float32 (a copy, for plotting).
    single_image, single_target : bool
        Whether one image (not a batch) and one target (not a list) were given; they
        decide the shape of ``score_map``.
    target_names : ndarray of str, shape (N, K), or None
        Names of ``targets`` (from ``class_names``), when known.
    feature_layer, reduction_layer : str or None
        The layers used (gradient methods).
    output : int or str or None
        The output explained, for a model with several outputs (its name, else its index).
    feature_map : ndarray of int32, shape (N, H, W), or None
        LIME: the feature (0..F-1) of every pixel.
    feature_importance : list of ndarray, or None
        LIME: one ``(F, K)`` array per image (F can differ between images).
    attributions : ndarray, shape (N, H, W, C, K), or None
        Pixel attributions with ``channel_reduction=None``: the values per channel (the
        maps are then their mean over channels).
    completeness_gap : ndarray, shape (N, K), or None
        Integrated Gradients: ``sum(attributions) - (f(x) - f(baseline))`` per image and
        target (0 for exact integration).
    base_values : ndarray, shape (N, K), or None
        SHAP values (Kernel, Partition SHAP): the score with every feature hidden; the
        values add up to ``scores - base_values`` (efficiency).
    detections : list of Detections, or None
        Detection (D-RISE): per image, the :class:`~explainkit.Detections` explained, in
        the order of the maps' last axis.
    params : dict
        The parameters the explainer ran with.
    """

    maps: np.ndarray
    method: str
    targets: np.ndarray | None
    scores: np.ndarray
    task: str
    images: np.ndarray
    single_image: bool = False
    single_target: bool = False
    target_names: np.ndarray | None = None
    feature_layer: str | None = None
    reduction_layer: str | None = None
    output: int | str | None = None
    feature_map: np.ndarray | None = None
    feature_importance: list | None = None
    attributions: np.ndarray | None = None
    completeness_gap: np.ndarray | None = None
    base_values: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    detections: list | None = None

    @property
    def score_map(self) -> np.ndarray:
        """The maps shaped like MATLAB's: (H, W), (H, W, K), (N, H, W) or (N, H, W, K)."""
        maps = self.maps
        if self.single_target:
            maps = maps[..., 0]
        return maps[0] if self.single_image else maps

    def plot(self, ax=None, *, index: int = 0, target: int = 0, alpha: float = 0.5,
             cmap: str | None = None, colorbar: bool = True):
        """Overlay one map on its image; return the :class:`~explainkit.plotting.OverlayDisplay`.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        index : int
            Which image of a batch.
        target : int
            Which of the K targets.
        alpha : float
            Opacity of the map.
        cmap : str, optional
            Colormap; default jet, or a diverging one centred on zero for signed maps.
        colorbar : bool
            Draw a colour bar.
        """
        from .plotting import OverlayDisplay

        return OverlayDisplay.from_explanation(self, index=index, target=target, ax=ax,
                                               alpha=alpha, cmap=cmap, colorbar=colorbar)


#: The fields of an Explanation with one entry per image (along axis 0).
_PER_IMAGE = ("maps", "targets", "scores", "images", "target_names", "feature_map",
              "attributions", "completeness_gap", "base_values")

#: The fields of an Explanation that are lists with one entry per image.
_PER_IMAGE_LISTS = ("feature_importance", "detections")


def concatenate(explanations: list[Explanation]) -> Explanation:
    """One Explanation of the images of several (of one method and run), in order."""
    first = explanations[0]
    if len(explanations) == 1:
        return first
    changes = {}
    for name in _PER_IMAGE:
        values = [getattr(e, name) for e in explanations]
        changes[name] = None if values[0] is None else np.concatenate(values)
    for name in _PER_IMAGE_LISTS:
        if getattr(first, name) is not None:
            changes[name] = [f for e in explanations for f in getattr(e, name)]
    return replace(first, single_image=False, **changes)


def take(explanation: Explanation, index) -> Explanation:
    """The Explanation of some of its images (``index``: a slice or integer array)."""
    changes = {name: None if getattr(explanation, name) is None else
               getattr(explanation, name)[index] for name in _PER_IMAGE}
    picked = np.arange(len(explanation.maps))[index]
    for name in _PER_IMAGE_LISTS:
        if getattr(explanation, name) is not None:
            changes[name] = [getattr(explanation, name)[i] for i in np.atleast_1d(picked)]
    return replace(explanation, single_image=False, **changes)
