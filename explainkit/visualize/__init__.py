"""Seeing what units learned: activations, activation videos, activation maximisation,
deep dream and the inputs that excite each unit most (Yosinski et al., 2015).

Everything runs through explainkit's model adapter, so layers inside nested, loaded and
subclassed Keras models are reached by name or path, and nothing on the model changes.

- ``activations``: a layer's activations as maps ``(N, h, w, C)`` (MATLAB's
  ``activations``).
- ``activation_video``: each frame of a video beside its strongest channels, as a GIF or
  MP4 (the offline form of the paper's live view).
- ``maximize``: images synthesised by regularised gradient ascent (the paper's four
  regularisers and jitter).
- ``deep_dream``: MATLAB's ``deepDreamImage``: multi-scale ascent from noise or an image.
- ``top_activating``: the inputs of a stream that excite each channel most, with the crop
  of each one's receptive field.
"""

from ._activations import LayerActivations, activations
from ._dream import deep_dream
from ._maximize import MaximizationResult, maximize
from ._top import TopActivating, top_activating
from ._video import ActivationVideo, activation_video

__all__ = [
    "ActivationVideo",
    "LayerActivations",
    "MaximizationResult",
    "TopActivating",
    "activation_video",
    "activations",
    "deep_dream",
    "maximize",
    "top_activating",
]
