"""Detections drawn as boxes with their labels and scores, over an image or its maps."""

from __future__ import annotations

import numpy as np

from ._checks import display_image
from ._overlay import OverlayDisplay

#: Box colours, one per detection in turn.
COLORS = ("white", "yellow", "cyan", "magenta", "lime", "orange")


def box_label(label: int, score, class_names=None) -> str:
    """``"name (score)"``, the class by name when known (``label`` may be the name)."""
    if isinstance(label, str):
        name = label
    else:
        name = str(class_names[int(label)]) if class_names is not None else str(int(label))
    return name if score is None or not np.isfinite(score) else f"{name} ({float(score):.3g})"


def draw_boxes(ax, boxes, labels, scores=None, *, class_names=None, colors=COLORS) -> list:
    """Rectangles (pixel ``xyxy`` boxes) with their labels on ``ax``; the artists."""
    from matplotlib.patches import Rectangle

    artists = []
    for k, box in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        x0, y0, x1, y1 = box
        color = colors[k % len(colors)]
        # pixel edges are at -0.5 in imshow's coordinates
        rect = Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                         linewidth=1.5)
        ax.add_patch(rect)
        text = ax.text(x0 - 0.5, y0 - 0.5, box_label(labels[k], None if scores is None
                                                     else scores[k], class_names),
                       color="black", fontsize=7, va="bottom",
                       bbox={"facecolor": color, "alpha": 0.8, "pad": 1, "linewidth": 0})
        artists.append((rect, text))
    return artists


class DetectionDisplay:
    """Detections over an image, or each over its map: scikit-learn's Display pattern.

    Parameters
    ----------
    image : array-like, (H, W) or (H, W, C)
    detections : Detections
        Boxes in their own format (converted to pixels here).
    maps : array-like, (H, W, T), optional
        One map per detection: one panel each, the detection's box over its map.
    class_names : sequence of str, optional
    """

    def __init__(self, image, detections, maps=None, *, class_names=None):
        self.image = image
        self.detections = detections
        self.maps = maps
        self.class_names = class_names

    @classmethod
    def from_explanation(cls, explanation, *, index: int = 0, axes=None, alpha: float = 0.5,
                         class_names=None):
        """Each explained detection of image ``index`` over its map."""
        if explanation.detections is None:
            raise ValueError(
                f"This explanation ({explanation.method}, task {explanation.task!r}) has no "
                "detections; it is not of a detector.")
        found = explanation.detections[index]
        maps = explanation.maps[index][..., :len(found)]
        return cls(explanation.images[index], found, maps, class_names=class_names).plot(
            axes, alpha=alpha)

    def plot(self, axes=None, *, alpha: float = 0.5):
        """Draw (new axes when None: one per detection with maps, else one) and return self."""
        import matplotlib.pyplot as plt

        rgb = display_image(self.image)
        height, width = rgb.shape[:2]
        found = self.detections
        boxes = found.xyxy(height, width)
        panels = 1 if self.maps is None else max(len(found), 1)
        if axes is None:
            _, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4), squeeze=False)
            axes = axes[0]
        axes = np.atleast_1d(axes)
        if len(axes) < panels:
            raise ValueError(f"{panels} axes are needed (one per detection); got {len(axes)}.")
        self.axes_, self.figure_, self.boxes_ = axes, axes[0].figure, []
        scores = found.scores
        if self.maps is None:
            axes[0].imshow(rgb)
            axes[0].set_axis_off()
            self.boxes_ = draw_boxes(axes[0], boxes, found.labels, scores,
                                     class_names=self.class_names)
            return self
        maps = np.asarray(self.maps)
        for k in range(len(found)):
            OverlayDisplay(rgb, maps[..., k], title=box_label(
                found.labels[k], None if scores is None else scores[k], self.class_names)).plot(
                axes[k], alpha=alpha, colorbar=False)
            self.boxes_ += draw_boxes(axes[k], boxes[k:k + 1], found.labels[k:k + 1],
                                      None, class_names=self.class_names)
        return self


def plot_detections(image, detections, maps=None, *, class_names=None, axes=None,
                    alpha: float = 0.5) -> DetectionDisplay:
    """Draw ``detections`` over ``image`` (one panel), or each over its map of ``maps``."""
    return DetectionDisplay(image, detections, maps, class_names=class_names).plot(
        axes, alpha=alpha)
