"""Bounding boxes: Keras' formats, conversion to pixel ``xyxy``, and intersection over union.

The formats are those of ``keras.utils.bounding_boxes`` (and keras-hub): ``"xyxy"``
(left, top, right, bottom), ``"yxyx"``, ``"xywh"`` (left, top, width, height),
``"center_xywh"``, ``"center_yxhw"``, and each of them relative to the image size with a
``"rel_"`` prefix. Everything here is numpy: boxes are explained, not trained.
"""

from __future__ import annotations

import numpy as np

BASE_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw")
FORMATS = (*BASE_FORMATS, *(f"rel_{f}" for f in BASE_FORMATS))


def check_format(box_format) -> str:
    """``box_format`` if Keras knows it, else a ValueError listing the formats."""
    if not isinstance(box_format, str) or box_format.lower() not in FORMATS:
        raise ValueError(
            f"bounding_box_format={box_format!r} is not a box format; use one of "
            f"{', '.join(map(repr, FORMATS))}."
        )
    return box_format.lower()


def to_xyxy(boxes, box_format: str, height: int, width: int) -> np.ndarray:
    """``(..., 4)`` boxes of ``box_format`` as pixel ``xyxy`` (float32)."""
    boxes = np.asarray(boxes, dtype=np.float32)
    relative = box_format.startswith("rel_")
    base = box_format.removeprefix("rel_")
    a, b, c, d = np.moveaxis(boxes, -1, 0)
    if base == "yxyx":
        a, b, c, d = b, a, d, c
    elif base == "xywh":
        c, d = a + c, b + d
    elif base == "center_xywh":
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    elif base == "center_yxhw":
        a, b, c, d = b - d / 2, a - c / 2, b + d / 2, a + c / 2
    out = np.stack([a, b, c, d], axis=-1)
    if relative:
        out = out * np.array([width, height, width, height], np.float32)
    return out.astype(np.float32, copy=False)


def from_xyxy(boxes, box_format: str, height: int, width: int) -> np.ndarray:
    """``(..., 4)`` pixel ``xyxy`` boxes in ``box_format`` (the inverse of :func:`to_xyxy`)."""
    boxes = np.asarray(boxes, dtype=np.float32)
    if box_format.startswith("rel_"):
        boxes = boxes / np.array([width, height, width, height], np.float32)
    x0, y0, x1, y1 = np.moveaxis(boxes, -1, 0)
    base = box_format.removeprefix("rel_")
    parts = {
        "xyxy": (x0, y0, x1, y1),
        "yxyx": (y0, x0, y1, x1),
        "xywh": (x0, y0, x1 - x0, y1 - y0),
        "center_xywh": ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0),
        "center_yxhw": ((y0 + y1) / 2, (x0 + x1) / 2, y1 - y0, x1 - x0),
    }[base]
    return np.stack(parts, axis=-1).astype(np.float32, copy=False)


def area(boxes: np.ndarray) -> np.ndarray:
    """The areas of ``(..., 4)`` pixel ``xyxy`` boxes (0 for empty ones)."""
    return (np.clip(boxes[..., 2] - boxes[..., 0], 0, None)
            * np.clip(boxes[..., 3] - boxes[..., 1], 0, None))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of ``(..., T, 4)`` and ``(..., M, 4)`` xyxy boxes: ``(..., T, M)``.

    Boxes with no area have IoU 0 with everything.
    """
    a = np.asarray(a, dtype=np.float32)[..., :, None, :]
    b = np.asarray(b, dtype=np.float32)[..., None, :, :]
    inter = area(np.concatenate([np.maximum(a[..., :2], b[..., :2]),
                                 np.minimum(a[..., 2:], b[..., 2:])], axis=-1))
    union = area(a) + area(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
