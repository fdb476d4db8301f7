"""Explanation methods, grouped by what they need from the model.

White box (gradients of a Keras model): the CAM family. Black box (only predictions, any
predictor): occlusion sensitivity.
"""

from ._cam import BaseCAM
from ._gradcam import GradCAM, gradcam
from ._occlusion import OcclusionSensitivity, occlusion_sensitivity

__all__ = ["BaseCAM", "GradCAM", "OcclusionSensitivity", "gradcam", "occlusion_sensitivity"]
