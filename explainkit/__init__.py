"""explainkit: MATLAB-style Grad-CAM, occlusion and LIME for Keras 3 and any predictor.

The public names are loaded on first use, so that ``import explainkit`` (and the command
line's ``--help``) stays fast; TensorFlow and Keras are imported only when a Keras model
is explained, matplotlib only when something is plotted.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

#: public name -> the module that defines it
_EXPORTS = {
    "explain": "._api",
    "Explanation": "._explanation",
    "BlankMapWarning": "._explanation",
    "config_context": "._config",
    "get_config": "._config",
    "set_config": "._config",
    "Explainer": ".base",
    "GradCAM": ".methods",
    "CAM": ".methods",
    "AblationCAM": ".methods",
    "EigenCAM": ".methods",
    "GradCAMPlusPlus": ".methods",
    "HiResCAM": ".methods",
    "LayerCAM": ".methods",
    "ScoreCAM": ".methods",
    "XGradCAM": ".methods",
    "ImageLIME": ".methods",
    "KernelSHAP": ".methods",
    "LRP": ".methods",
    "PartitionSHAP": ".methods",
    "GradientInput": ".methods",
    "GuidedBackprop": ".methods",
    "GuidedGradCAM": ".methods",
    "IntegratedGradients": ".methods",
    "ExpectedGradients": ".methods",
    "LCAM": ".methods",
    "RISE": ".methods",
    "DRISE": ".methods",
    "drise": ".methods",
    "Detections": "._detection",
    "Saliency": ".methods",
    "SmoothGrad": ".methods",
    "OcclusionSensitivity": ".methods",
    "gradcam": ".methods",
    "image_lime": ".methods",
    "occlusion_sensitivity": ".methods",
    "explain_dataset": "._dataset",
    "load_comparison": "._dataset",
    "load_maps": "._dataset",
    "SavedMaps": "._dataset",
    "Comparison": ".metrics",
    "compare": ".metrics",
}

#: subpackages reachable as attributes (``explainkit.metrics``), loaded on first use
_SUBMODULES = ("metrics", "visualize")

__all__ = [
    "CAM",
    "DRISE",
    "AblationCAM",
    "BlankMapWarning",
    "EigenCAM",
    "GradCAMPlusPlus",
    "GradientInput",
    "GuidedBackprop",
    "GuidedGradCAM",
    "HiResCAM",
    "IntegratedGradients",
    "ExpectedGradients",
    "KernelSHAP",
    "LRP",
    "PartitionSHAP",
    "LCAM",
    "LayerCAM",
    "RISE",
    "Saliency",
    "ScoreCAM",
    "SmoothGrad",
    "XGradCAM",
    "Comparison",
    "Detections",
    "SavedMaps",
    "Explainer",
    "Explanation",
    "GradCAM",
    "ImageLIME",
    "OcclusionSensitivity",
    "compare",
    "config_context",
    "drise",
    "explain",
    "explain_dataset",
    "get_config",
    "gradcam",
    "image_lime",
    "load_comparison",
    "load_maps",
    "metrics",
    "occlusion_sensitivity",
    "set_config",
    "visualize",
]

if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from . import metrics, visualize
    from ._api import explain
    from ._config import config_context, get_config, set_config
    from ._dataset import SavedMaps, explain_dataset, load_comparison, load_maps
    from ._detection import Detections
    from ._explanation import BlankMapWarning, Explanation
    from .base import Explainer
    from .methods import (
        CAM,
        DRISE,
        LCAM,
        LRP,
        RISE,
        AblationCAM,
        EigenCAM,
        ExpectedGradients,
        GradCAM,
        GradCAMPlusPlus,
        GradientInput,
        GuidedBackprop,
        GuidedGradCAM,
        HiResCAM,
        ImageLIME,
        IntegratedGradients,
        KernelSHAP,
        LayerCAM,
        OcclusionSensitivity,
        PartitionSHAP,
        Saliency,
        ScoreCAM,
        SmoothGrad,
        XGradCAM,
        drise,
        gradcam,
        image_lime,
        occlusion_sensitivity,
    )
    from .metrics import Comparison, compare


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'explainkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
