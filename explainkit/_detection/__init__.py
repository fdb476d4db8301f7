"""Object detection as a task: detectors, their detections, and D-RISE's similarity of them.

A detector is any ``f(images) -> detections`` or a keras-hub ``ObjectDetector``
(``_detector``); its answer is checked and padded into a ``Batch`` (``_detections``); a
target is a detection of the unmasked image or a given box and class, compared with the
detections of perturbed images by D-RISE's similarity (``_similarity``). Boxes and their
formats are ``_boxes``'.
"""

from ._detections import Batch, Detections, concatenate, parse
from ._detector import detector, is_hub_detector
from ._similarity import Targets, resolve, similarity
from ._task import DetectionTask

__all__ = ["Batch", "DetectionTask", "Detections", "Targets", "concatenate", "detector",
           "is_hub_detector", "parse", "resolve", "similarity"]
