"""explainkit: MATLAB-style explanations for Keras 3 models and any predictor."""

from ._api import explain
from ._explanation import Explanation
from .base import Explainer
from .methods import GradCAM, OcclusionSensitivity, gradcam, occlusion_sensitivity

__version__ = "0.1.0"

__all__ = [
    "Explainer",
    "Explanation",
    "GradCAM",
    "OcclusionSensitivity",
    "explain",
    "gradcam",
    "occlusion_sensitivity",
]
