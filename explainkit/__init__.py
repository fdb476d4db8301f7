"""explainkit: MATLAB-style Grad-CAM, occlusion and LIME for Keras 3 and any predictor."""

from ._api import explain
from ._explanation import Explanation
from .base import Explainer
from .methods import (
    GradCAM,
    ImageLIME,
    OcclusionSensitivity,
    gradcam,
    image_lime,
    occlusion_sensitivity,
)

__version__ = "0.1.0"

__all__ = [
    "Explainer",
    "Explanation",
    "GradCAM",
    "ImageLIME",
    "OcclusionSensitivity",
    "explain",
    "gradcam",
    "image_lime",
    "occlusion_sensitivity",
]
