"""Explanation methods, grouped by what they need from the model.

White box (a Keras model's activations, and gradients where named): the CAM family —
Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM, HiRes-CAM (one forward and backward pass),
Eigen-CAM and CAM (forward only), Score-CAM and Ablation-CAM (extra forward passes).
Pixel attributions (input gradients of a Keras model): saliency, gradient x input,
SmoothGrad, Integrated Gradients, expected gradients, guided backpropagation, Guided
Grad-CAM and layer-wise relevance propagation (modified gradients).
Learned: L-CAM (an attention module trained on the frozen classifier; one pass to explain).
Black box (only predictions, any predictor): occlusion sensitivity, image LIME, RISE,
Kernel SHAP and Partition SHAP; for object detectors, D-RISE.
"""

from ._ablationcam import AblationCAM
from ._cam import BaseCAM
from ._classic_cam import CAM
from ._drise import DRISE, drise
from ._eigencam import EigenCAM
from ._expected_gradients import ExpectedGradients
from ._gradcam import GradCAM, gradcam
from ._gradcam_plusplus import GradCAMPlusPlus
from ._gradient_input import GradientInput
from ._guided_backprop import GuidedBackprop
from ._guided_gradcam import GuidedGradCAM
from ._hirescam import HiResCAM
from ._integrated_gradients import IntegratedGradients
from ._kernel_shap import KernelSHAP
from ._layercam import LayerCAM
from ._lcam import LCAM
from ._lime import ImageLIME, image_lime
from ._lrp import LRP
from ._occlusion import OcclusionSensitivity, occlusion_sensitivity
from ._partition_shap import PartitionSHAP
from ._pixel import PixelAttribution
from ._rise import RISE
from ._saliency import Saliency
from ._scorecam import ScoreCAM
from ._smoothgrad import SmoothGrad
from ._xgradcam import XGradCAM

__all__ = [
    "DRISE",
    "drise",
    "CAM",
    "AblationCAM",
    "BaseCAM",
    "EigenCAM",
    "ExpectedGradients",
    "GradCAM",
    "GradCAMPlusPlus",
    "GradientInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "HiResCAM",
    "ImageLIME",
    "IntegratedGradients",
    "KernelSHAP",
    "LCAM",
    "LRP",
    "LayerCAM",
    "OcclusionSensitivity",
    "PartitionSHAP",
    "PixelAttribution",
    "RISE",
    "Saliency",
    "ScoreCAM",
    "SmoothGrad",
    "XGradCAM",
    "gradcam",
    "image_lime",
    "occlusion_sensitivity",
]
