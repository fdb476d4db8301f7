"""explainkit: MATLAB-style explanations (gradCAM, ...) for Keras 3 models."""

from ._api import explain
from ._explanation import Explanation
from .base import Explainer
from .methods import GradCAM, gradcam

__version__ = "0.1.0"

__all__ = ["Explainer", "Explanation", "GradCAM", "explain", "gradcam"]
