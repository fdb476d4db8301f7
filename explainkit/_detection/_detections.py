"""Detections: what a detector found in an image, and what a detector's answer must look like.

A detector answers a batch of images with a dict shaped like keras-hub's ``predict``
output — ``boxes`` ``(N, M, 4)``, ``labels`` (or ``classes``) ``(N, M)``, ``confidence``
``(N, M)``, optionally ``num_detections`` ``(N,)`` — or with ``probabilities`` ``(N, M, K)``
(the class scores of every detection) in place of labels and confidence, and optionally
``objectness`` ``(N, M)``; or with a list of one such dict per image (``M`` may then differ).
:func:`parse` checks it and pads it into a :class:`Batch`, in pixel ``xyxy`` boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _boxes


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes with their classes: the detections of one image, or the ones to explain.

    ``explainkit.Detections(boxes, labels)`` names detections to explain (MATLAB's
    ``bboxIn`` and ``labelIn``); explanations return the detections they explained in the
    same form (MATLAB's ``bboxOut``, ``scores`` and ``labelOut``).

    Parameters
    ----------
    boxes : array-like, shape (M, 4)
        In ``bounding_box_format`` (pixels unless ``"rel_*"``).
    labels : array-like of int, shape (M,)
        The class of each box (0-based).
    scores : array-like, shape (M,), optional
        The detector's confidence in each box.
    probabilities : array-like, shape (M, K), optional
        The class scores of each box, when the detector gives them.
    bounding_box_format : str, default="xyxy"
        A Keras box format: ``"xyxy"``, ``"yxyx"``, ``"xywh"``, ``"center_xywh"``,
        ``"center_yxhw"``, or one of them with ``"rel_"`` (relative to the image size).
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    bounding_box_format: str = "xyxy"

    def __post_init__(self):
        fmt = _boxes.check_format(self.bounding_box_format)
        boxes = np.asarray(self.boxes, dtype=np.float32)
        if boxes.ndim == 1 and boxes.shape == (4,):
            boxes = boxes[None]
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"Detections: boxes must have shape (M, 4); got {boxes.shape}.")
        if not np.isfinite(boxes).all():
            raise ValueError("Detections: boxes must be finite numbers.")
        labels = np.asarray(self.labels)
        if labels.ndim == 0:
            labels = labels[None]
        if labels.shape != (len(boxes),) or not (
                np.issubdtype(labels.dtype, np.integer) or labels.size == 0):
            raise ValueError(
                f"Detections: labels must be {len(boxes)} integers, one per box; got "
                f"{labels.dtype} of shape {labels.shape}.")
        if (labels < 0).any():
            raise ValueError(f"Detections: labels must be >= 0; got {labels.tolist()}.")
        fields = {"bounding_box_format": fmt, "boxes": boxes,
                  "labels": labels.astype(np.int64)}
        for name, ndim in (("scores", 1), ("probabilities", 2)):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=np.float32)
                if value.ndim != ndim or len(value) != len(boxes):
                    raise ValueError(
                        f"Detections: {name} must have {len(boxes)} rows, one per box, and "
                        f"{ndim} dimension(s); got shape {value.shape}.")
                fields[name] = value
        for name, value in fields.items():
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return len(self.boxes)

    def xyxy(self, height: int, width: int) -> np.ndarray:
        """The boxes as pixel ``xyxy``."""
        return _boxes.to_xyxy(self.boxes, self.bounding_box_format, height, width)

    def __repr__(self) -> str:
        return (f"Detections({len(self)} boxes, labels={self.labels.tolist()}, "
                f"bounding_box_format={self.bounding_box_format!r})")


@dataclass
class Batch:
    """The detections of a batch of images, padded to ``M`` per image.

    Attributes
    ----------
    boxes : (N, M, 4) float32, pixel xyxy (clipped to the image)
    labels : (N, M) int64
    scores : (N, M) float32 (the detector's confidence; max probability x objectness)
    probabilities : (N, M, K) float32 or None (None: only labels are known)
    objectness : (N, M) float32 (ones when the detector gives none and no probabilities)
    valid : (N, M) bool (False for padding)
    """

    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    probabilities: np.ndarray | None
    objectness: np.ndarray
    valid: np.ndarray

    def image(self, i: int) -> dict:
        """The valid detections of image ``i``, as arrays."""
        keep = self.valid[i]
        return {"boxes": self.boxes[i][keep], "labels": self.labels[i][keep],
                "scores": self.scores[i][keep],
                "probabilities": None if self.probabilities is None
                else self.probabilities[i][keep]}


_NAMES = ("boxes", "labels", "classes", "confidence", "probabilities", "objectness",
          "num_detections")


def _array(raw: dict, key: str, where: str) -> np.ndarray | None:
    value = raw.get(key)
    if value is None:
        return None
    value = np.asarray(value)
    if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
        raise ValueError(f"the detector's {where}{key!r} must be numbers; got dtype {value.dtype}.")
    return value


def _one_image_dicts(raw: list, n: int) -> dict:
    """A list of per-image dicts, padded into one dict of batch arrays."""
    if len(raw) != n:
        raise ValueError(
            f"the detector returned a list of {len(raw)} results for {n} images; it must "
            "return one dict per image (or one dict for the batch).")
    parts = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError(
                f"the detector's result {i} is a {type(item).__name__}; each must be a dict "
                "with 'boxes' and 'labels' and 'confidence', or 'probabilities'.")
        boxes = _array(item, "boxes", f"result {i}: ")
        if boxes is None or boxes.ndim != 2 or boxes.shape[-1] != 4:
            raise ValueError(
                f"the detector's result {i}: 'boxes' must have shape (M, 4); got "
                f"{None if boxes is None else boxes.shape}.")
        parts.append({k: _array(item, k, f"result {i}: ") for k in _NAMES if k in item})
    m = max([len(p["boxes"]) for p in parts] + [0])
    batch: dict = {"num_detections": np.array([len(p["boxes"]) for p in parts])}
    for key in ("boxes", "labels", "classes", "confidence", "probabilities", "objectness"):
        present = [p for p in parts if p.get(key) is not None]
        if not present:
            continue
        if len(present) != len(parts):
            raise ValueError(f"the detector gave {key!r} for some images but not for others.")
        trailing = present[0][key].shape[1:]
        out = np.zeros((n, m, *trailing), dtype=np.float32 if key != "labels" else np.int64)
        for i, p in enumerate(parts):
            value = p[key]
            if len(value) != len(p["boxes"]) or value.shape[1:] != trailing:
                raise ValueError(
                    f"the detector's result {i}: {key!r} has shape {value.shape}; it must "
                    f"have one row per box ({len(p['boxes'])}) like the other results.")
            out[i, :len(value)] = value
        batch[key] = out
    return batch


def parse(raw, n: int, height: int, width: int, box_format: str, *,
          strict: bool = True) -> Batch:
    """Check a detector's answer for ``n`` images of ``(height, width)``; pad it into a Batch.

    ``strict=False`` (a known detector's own decoding): boxes that are not finite or lie
    wholly outside the image are dropped instead of raising.
    """
    if isinstance(raw, (list, tuple)):
        raw = _one_image_dicts(list(raw), n)
    if not isinstance(raw, dict):
        raise ValueError(
            "the detector must return a dict with 'boxes' (N, M, 4) and 'labels' and "
            "'confidence' (N, M), or 'probabilities' (N, M, K), or a list of one such dict "
            f"per image; it returned a {type(raw).__name__}.")
    unknown = sorted(set(raw) - set(_NAMES))
    arrays = {k: _array(raw, k, "") for k in _NAMES if k in raw}
    boxes = arrays.get("boxes")
    if boxes is None:
        raise ValueError(
            "the detector's result has no 'boxes'"
            + (f" (it has {', '.join(map(repr, sorted(raw)))})" if raw else "") + ".")
    if boxes.ndim != 3 or boxes.shape[0] != n or boxes.shape[2] != 4:
        raise ValueError(
            f"the detector's 'boxes' must have shape ({n}, M, 4) for {n} images; got "
            f"{boxes.shape}.")
    m = boxes.shape[1]
    labels = arrays.get("labels", arrays.get("classes"))
    probabilities = arrays.get("probabilities")
    confidence = arrays.get("confidence")
    objectness = arrays.get("objectness")
    if probabilities is None and (labels is None or confidence is None):
        raise ValueError(
            "the detector's result needs 'labels' (or 'classes') and 'confidence', or "
            f"'probabilities'; it has {', '.join(map(repr, sorted(raw)))}"
            + (f" (unknown: {', '.join(map(repr, unknown))})" if unknown else "") + ".")
    for key, value, shape in (("labels", labels, (n, m)), ("confidence", confidence, (n, m)),
                              ("objectness", objectness, (n, m))):
        if value is not None and value.shape != shape:
            raise ValueError(
                f"the detector's {key!r} must have shape {shape} (one per box); got "
                f"{value.shape}.")
    if probabilities is not None and (probabilities.ndim != 3
                                      or probabilities.shape[:2] != (n, m)):
        raise ValueError(
            f"the detector's 'probabilities' must have shape ({n}, {m}, K); got "
            f"{probabilities.shape}.")
    valid = np.ones((n, m), bool)
    count = arrays.get("num_detections")
    if count is not None:
        count = count.reshape(-1)
        if count.shape != (n,):
            raise ValueError(
                f"the detector's 'num_detections' must have shape ({n},); got {count.shape}.")
        valid &= np.arange(m)[None, :] < count[:, None]
    if labels is not None:
        valid &= labels >= 0  # keras-hub pads with label -1
    if probabilities is not None:
        probabilities = probabilities.astype(np.float32)
        labels_out = probabilities.argmax(axis=-1) if m else np.zeros((n, 0), np.int64)
        scores = probabilities.max(axis=-1) if m else np.zeros((n, 0), np.float32)
    else:
        labels_out = labels.astype(np.int64)
        scores = confidence.astype(np.float32)
    if objectness is not None:
        objectness = objectness.astype(np.float32)
        scores = scores * objectness
    elif probabilities is None:  # only the label: its confidence weighs the match
        objectness = scores
    else:
        objectness = np.ones((n, m), np.float32)
    xyxy = _boxes.to_xyxy(boxes, box_format, height, width)
    if strict:
        _check_boxes(xyxy, valid, box_format, height, width)
    else:
        valid &= np.isfinite(xyxy).all(axis=-1) & ~_outside(xyxy, height, width)
        xyxy = np.nan_to_num(xyxy, nan=0.0, posinf=0.0, neginf=0.0)
    xyxy = np.clip(xyxy, 0, np.array([width, height, width, height], np.float32))
    for key, value in (("scores", scores), ("objectness", objectness)):
        if not np.isfinite(value[valid]).all():
            raise ValueError(f"the detector returned NaN or Inf {key}.")
    return Batch(xyxy, np.where(valid, labels_out, -1), scores.astype(np.float32),
                 probabilities, objectness.astype(np.float32), valid)


def _outside(xyxy: np.ndarray, height: int, width: int) -> np.ndarray:
    """Which ``(..., 4)`` boxes lie wholly outside the image, or are inverted."""
    return ((xyxy[..., 2] <= 0) | (xyxy[..., 3] <= 0) | (xyxy[..., 0] >= width)
            | (xyxy[..., 1] >= height) | (xyxy[..., 2] < xyxy[..., 0])
            | (xyxy[..., 3] < xyxy[..., 1]))


def _check_boxes(xyxy: np.ndarray, valid: np.ndarray, box_format: str, height: int,
                 width: int) -> None:
    """A ValueError for non-finite boxes, or boxes wholly outside the image."""
    boxes = xyxy[valid]
    if not np.isfinite(boxes).all():
        raise ValueError("the detector returned NaN or Inf box coordinates.")
    outside = _outside(boxes, height, width)
    if outside.any():
        bad = boxes[outside][0]
        raise ValueError(
            f"the detector returned a box outside the {height}x{width} image or inverted "
            f"(as pixel xyxy: {np.round(bad, 2).tolist()}); is "
            f"bounding_box_format={box_format!r} the detector's box format?")


def concatenate(batches: list[Batch]) -> Batch:
    """One Batch of the images of several, padded to the largest ``M``."""
    if len(batches) == 1:
        return batches[0]
    m = max(b.boxes.shape[1] for b in batches)

    def pad(values: list[np.ndarray], fill) -> np.ndarray:
        return np.concatenate([np.pad(v, [(0, 0), (0, m - v.shape[1])]
                                      + [(0, 0)] * (v.ndim - 2), constant_values=fill)
                               for v in values])

    probabilities = [b.probabilities for b in batches]
    return Batch(pad([b.boxes for b in batches], 0), pad([b.labels for b in batches], -1),
                 pad([b.scores for b in batches], 0),
                 None if probabilities[0] is None else pad(probabilities, 0),
                 pad([b.objectness for b in batches], 0), pad([b.valid for b in batches], False))
