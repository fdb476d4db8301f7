"""Figures of explanations, in scikit-learn's Display style; matplotlib is imported lazily.

Each ``*Display`` has a ``from_...`` class method that draws and returns the display,
whose matplotlib objects stay on ``ax_`` / ``axes_`` and ``figure_``; the functions are
shortcuts. The numeric helpers (``overlay_rgb``) need matplotlib only for colormaps.
"""

from ._activations import (
    ActivationsDisplay,
    MaximizationDisplay,
    TopActivatingDisplay,
    activations,
    plot_maximization,
    plot_top_activating,
)
from ._comparison import ComparisonDisplay, plot_comparison
from ._detection import DetectionDisplay, plot_detections
from ._lime import LimeDisplay, plot_lime
from ._overlay import OverlayDisplay, overlay_rgb, plot_overlay
from ._segmentation import SegmentationDisplay, plot_segmentation

__all__ = [
    "ActivationsDisplay",
    "ComparisonDisplay",
    "DetectionDisplay",
    "LimeDisplay",
    "MaximizationDisplay",
    "OverlayDisplay",
    "SegmentationDisplay",
    "TopActivatingDisplay",
    "activations",
    "overlay_rgb",
    "plot_comparison",
    "plot_detections",
    "plot_lime",
    "plot_maximization",
    "plot_overlay",
    "plot_segmentation",
    "plot_top_activating",
]
