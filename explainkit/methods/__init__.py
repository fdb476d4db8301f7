"""Explanation methods, grouped by what they need from the model.

White box (gradients of a Keras model): the CAM family. Black box (only predictions, any
predictor): occlusion sensitivity and image LIME.
"""

from ._cam import BaseCAM
from ._gradcam import GradCAM, gradcam
from ._lime import ImageLIME, image_lime
from ._occlusion import OcclusionSensitivity, occlusion_sensitivity

__all__ = [
    "BaseCAM",
    "GradCAM",
    "ImageLIME",
    "OcclusionSensitivity",
    "gradcam",
    "image_lime",
    "occlusion_sensitivity",
]
