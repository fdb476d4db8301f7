"""Detectors: any ``f(images) -> detections``, and keras-hub's object detectors decoded here.

A keras-hub ``ObjectDetector`` (RetinaNet) outputs raw head values, ``bbox_regression``
(box deltas per anchor) and ``cls_logits``; its ``predict`` decodes them with the model's
own anchor generator, box format and ``prediction_decoder`` (non-maximum suppression).
:class:`HubDetector` does the same in one compiled call and keeps what ``predict``
drops: the class scores of every kept box (D-RISE compares them). keras-hub itself is
never imported here: a detector is recognised by its class's module, and the suppression
is the decoder module's own function.
"""

from __future__ import annotations

import sys

import numpy as np

from .._models import _calls
from ._boxes import check_format
from ._detections import Batch, parse


def is_hub_detector(net) -> bool:
    """True for a keras-hub object detector (a subclass of keras-hub's ``ObjectDetector``)."""
    return any(c.__module__.startswith("keras_hub.") and c.__name__ == "ObjectDetector"
               for c in type(net).__mro__)


class CallableDetector:
    """A detector known by its answers: ``fn(images)`` returns detections (see ``parse``)."""

    def __init__(self, fn, box_format: str):
        self.fn = fn
        self.box_format = box_format
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def detect(self, images: np.ndarray) -> Batch:
        """The checked detections of a batch ``(N, H, W, C)``; the callable gets a copy."""
        _calls.record()
        raw = self.fn(np.array(images))
        n, height, width = images.shape[:3]
        return parse(_numpy(raw), n, height, width, self.box_format)


def _numpy(raw):
    """Tensors of a detector's answer as numpy arrays (dicts and lists kept)."""
    if isinstance(raw, dict):
        return {k: np.asarray(v) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return [_numpy(item) for item in raw]
    return raw


class HubDetector:
    """A keras-hub object detector: raw heads, anchors and suppression in one compiled call.

    With the model's ``NonMaxSuppression`` decoder the kept boxes are exactly ``predict``'s
    and come with their class scores (sigmoid of the logits, as the decoder takes them);
    any other decoder runs as the model's ``decode_predictions``, and only labels and
    confidences are known.
    """

    def __init__(self, model):
        from .._models import keras_adapter

        self.model = model
        self.adapter = keras_adapter(model)
        self.box_format = model.bounding_box_format
        self.name = type(model).__name__
        decoder = model.prediction_decoder
        self._nms = (getattr(sys.modules.get(type(decoder).__module__), "non_max_suppression",
                             None) if type(decoder).__name__ == "NonMaxSuppression" else None)

    def _boxes(self, x, raw):
        """Inside the trace: every anchor's box, decoded as ``predict`` decodes it."""
        import keras
        from keras import ops

        model = self.model
        height, width, channels = x.shape[1:]
        anchors = ops.concatenate(list(model.anchor_generator(x).values()), axis=0)
        return keras.utils.bounding_boxes.decode_deltas_to_boxes(
            anchors=anchors, boxes_delta=raw["bbox_regression"], encoded_format="center_xywh",
            anchor_format=model.anchor_generator.bounding_box_format,
            box_format=model.bounding_box_format, image_shape=(height, width, channels))

    def _decode(self, x):
        """Inside the trace: ``(boxes, class scores or confidences, labels, count)``."""
        import keras
        from keras import ops

        model = self.model
        decoder = model.prediction_decoder
        raw = model(x, training=False)
        if self._nms is None:
            decoded = model.decode_predictions(raw, x)
            return (decoded["boxes"], decoded["confidence"], decoded["labels"],
                    decoded["num_detections"])
        height, width = x.shape[1:3]
        target = "rel_yxyx" if "rel" in decoder.bounding_box_format else "yxyx"
        boxes = keras.utils.bounding_boxes.convert_format(
            self._boxes(x, raw), source=model.bounding_box_format, target=target,
            height=height, width=width)
        scores = raw["cls_logits"]
        if decoder.from_logits:
            scores = ops.sigmoid(scores)
        index, count = self._nms(
            boxes, ops.max(scores, axis=-1), max_output_size=decoder.max_detections,
            iou_threshold=decoder.iou_threshold, score_threshold=decoder.confidence_threshold)
        boxes = ops.take_along_axis(boxes, ops.expand_dims(index, -1), axis=1)
        scores = ops.take_along_axis(scores, ops.expand_dims(index, -1), axis=1)
        return boxes, scores, ops.argmax(scores, axis=-1), count

    def _anchor_boxes(self, x):
        """Inside the trace: every anchor's decoded box, pixel ``xyxy`` ``(N, A, 4)``."""
        import keras

        height, width = x.shape[1:3]
        return keras.utils.bounding_boxes.convert_format(
            self._boxes(x, self.model(x, training=False)),
            source=self.model.bounding_box_format, target="xyxy", height=height, width=width)

    def anchor_boxes(self, images: np.ndarray) -> np.ndarray:
        """Every anchor's decoded box for a batch, pixel ``xyxy`` ``(N, A, 4)`` (not clipped)."""
        from .._models._keras import as_tensor

        step = self.adapter.compile("hub_anchor_boxes", self._anchor_boxes)
        return np.asarray(step(as_tensor(images)), dtype=np.float32)

    def detect(self, images: np.ndarray) -> Batch:
        """The decoded detections of a batch ``(N, H, W, C)``."""
        from .._models._keras import as_tensor

        # keras-hub's suppression needs a static batch size: one trace per batch size
        step = self.adapter.compile(("hub_detections", self._nms is None), self._decode,
                                    relax=False)
        boxes, scores, labels, count = (np.asarray(v) for v in step(as_tensor(images)))
        n, height, width = images.shape[:3]
        if self._nms is None:
            raw = {"boxes": boxes, "confidence": scores, "labels": labels,
                   "num_detections": count}
            return parse(raw, n, height, width, self.box_format, strict=False)
        fmt = "rel_yxyx" if "rel" in self.model.prediction_decoder.bounding_box_format else "yxyx"
        return parse({"boxes": boxes, "probabilities": scores, "num_detections": count},
                     n, height, width, fmt, strict=False)


def detector(net, bounding_box_format=None):
    """The detector behind ``net``: a keras-hub ObjectDetector, or any callable.

    ``bounding_box_format``: the callable's box format (default ``"xyxy"``); a keras-hub
    detector has its own (``bounding_box_format`` must be None or the same).
    """
    if is_hub_detector(net):
        if bounding_box_format is not None and check_format(
                bounding_box_format) != net.bounding_box_format:
            raise ValueError(
                f"bounding_box_format={bounding_box_format!r}, but the keras-hub detector "
                f"uses {net.bounding_box_format!r}; leave it None.")
        return HubDetector(net)
    if not callable(net):
        raise TypeError(
            "detector must be a keras-hub ObjectDetector or a callable f(images) -> "
            f"detections; got {type(net).__name__}.")
    return CallableDetector(net, check_format(bounding_box_format or "xyxy"))


def pyramid_layer(model, spec):
    """A keras-hub detector's feature layer: ``"auto"`` = the image encoder's deepest pyramid
    level (its last spatial layer, e.g. ResNet's ``P5``), ``"P3"`` ... = that level; any
    other ``spec`` is returned as it is (a layer's name, path or object).
    """
    encoder = getattr(getattr(model, "backbone", None), "image_encoder", None)
    levels = getattr(encoder, "pyramid_outputs", None) or {}
    if not (isinstance(spec, str) and (spec == "auto" or spec in levels)) or not levels:
        return spec
    key = spec if spec != "auto" else max(levels, key=lambda k: int(k[1:]))
    return levels[key]._keras_history.operation
