"""Semantic segmentation: the predicted labels over the image, then one map per class."""

from __future__ import annotations

import numpy as np

from .._image import upsample
from ._checks import display_image
from ._overlay import OverlayDisplay


class SegmentationDisplay:
    """Predicted labels over the image, then one Grad-CAM (or other) panel per class.

    Parameters
    ----------
    image : array-like, (H, W) or (H, W, C)
    labels : array of int, (H, W)
        The predicted class of every pixel.
    maps : array, (H, W, K)
        One map per class in ``classes``.
    classes : sequence of int
        The class of each map.
    class_names : sequence of str, optional

    Attributes (after plot): ``axes_``, ``figure_``, ``labels_image_``, ``displays_``.
    """

    def __init__(self, image, labels, maps, classes, *, class_names=None):
        self.image = image
        self.labels = labels
        self.maps = maps
        self.classes = classes
        self.class_names = class_names

    def _name(self, c: int) -> str:
        return str(self.class_names[c]) if self.class_names is not None else f"class {c}"

    def plot(self, *, alpha: float = 0.5, panel_size: float = 3.0):
        """Draw a new figure and return ``self``."""
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch

        rgb = display_image(self.image)
        labels, maps = np.asarray(self.labels), np.asarray(self.maps)
        if labels.shape != rgb.shape[:2]:
            raise ValueError(
                f"labels must be (H, W) = {rgb.shape[:2]}; got shape {labels.shape}."
            )
        if maps.ndim != 3 or maps.shape[:2] != rgb.shape[:2] or maps.shape[2] != len(
                self.classes):
            raise ValueError(
                f"maps must be (H, W, K) = {(*rgb.shape[:2], len(self.classes))}; got shape "
                f"{maps.shape}."
            )
        columns = 1 + len(self.classes)
        fig, axes = plt.subplots(1, columns, squeeze=False,
                                 figsize=(panel_size * columns + 0.6, panel_size + 0.6))
        axes = axes[0]
        present = np.unique(labels)
        palette = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
        colors = palette(labels % palette.N)[..., :3]
        axes[0].imshow((1 - alpha) * rgb + alpha * colors)
        axes[0].set_axis_off()
        axes[0].set_title("predicted labels")
        axes[0].legend(handles=[Patch(color=palette(c % palette.N), label=self._name(c))
                                for c in present], loc="upper center",
                       bbox_to_anchor=(0.5, 0.0), ncol=min(len(present), 3),
                       fontsize="small", frameon=False)
        self.labels_image_ = axes[0].get_images()[0]
        self.displays_ = [
            OverlayDisplay(self.image, maps[..., k], title=self._name(c)).plot(axes[k + 1],
                                                                               alpha=alpha)
            for k, c in enumerate(self.classes)
        ]
        fig.tight_layout()
        self.axes_, self.figure_ = axes, fig
        return self

    @classmethod
    def from_model(cls, net, image, *, classes=None, class_names=None, roi=None,
                   alpha: float = 0.5, **gradcam_options):
        """Predict ``image``'s labels with a Keras segmentation model and draw Grad-CAM per class.

        ``classes`` defaults to every class the model predicts somewhere in the image;
        ``roi`` and ``gradcam_options`` go to :class:`~explainkit.GradCAM`.
        """
        from .._models import predictor
        from ..methods import GradCAM

        image = np.asarray(image, dtype=np.float32)
        outputs = predictor(net).outputs(image[None])
        if outputs.ndim != 4:
            raise ValueError(
                f"net must output (N, h, w, classes) for segmentation; got shape {outputs.shape}."
            )
        scores = upsample(outputs, image.shape[:2], "nearest")
        labels = scores[0].argmax(axis=-1)
        if classes is None:
            classes = [int(c) for c in np.unique(labels)]
        explanation = GradCAM(net, class_names=class_names, **gradcam_options).fit(
            image).explain(image, list(classes), roi=roi)
        return cls(image, labels, explanation.maps[0], list(classes),
                   class_names=class_names).plot(alpha=alpha)


def plot_segmentation(net, image, *, classes=None, class_names=None, roi=None,
                      alpha: float = 0.5, **gradcam_options) -> SegmentationDisplay:
    """Predicted labels plus one Grad-CAM panel per class; return the display."""
    return SegmentationDisplay.from_model(net, image, classes=classes, class_names=class_names,
                                          roi=roi, alpha=alpha, **gradcam_options)
