"""Explanation methods, grouped by what they need from the model."""

from ._cam import BaseCAM
from ._gradcam import GradCAM, gradcam

__all__ = ["BaseCAM", "GradCAM", "gradcam"]
