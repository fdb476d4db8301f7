"""D-RISE's similarity of detections, and the detections a run explains (its targets).

The similarity of a target detection ``t`` to a detection ``d`` of a masked image is
``IoU(box_t, box_d) * cos(p_t, p_d) * o_d`` (Petsiuk et al., 2021): the overlap of the
boxes, the cosine of the class-score vectors and the objectness of ``d``. A detector that
gives only a label and a confidence per box has one-hot class vectors (the cosine is 1
for the same label, else 0) and its confidence takes the place of objectness.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from . import _boxes
from ._detections import Batch, Detections


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(..., T, M)``: cosines of ``(..., T, K)`` and ``(..., M, K)`` vectors (0 if one is 0)."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    norms = (np.linalg.norm(a, axis=-1)[..., :, None] * np.linalg.norm(b, axis=-1)[..., None, :])
    dots = a @ np.swapaxes(b, -1, -2)
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)


@dataclass
class Targets:
    """The detections explained in each of N images, padded to T per image.

    Attributes
    ----------
    boxes : (N, T, 4) float32 pixel xyxy
    labels : (N, T) int64
    vectors : (N, T, K) float32 or None (the class-score vector of each target)
    valid : (N, T) bool
    index : (N, T) int64 (the target's rank among the image's detections; -1: given)
    scores : (N, T) float32 (its confidence; for given boxes, their similarity to the
        best detection of the unmasked image)
    """

    boxes: np.ndarray
    labels: np.ndarray
    vectors: np.ndarray | None
    valid: np.ndarray
    index: np.ndarray
    scores: np.ndarray


def similarity(targets: Targets, image_ids: np.ndarray, batch: Batch) -> np.ndarray:
    """``(B, T)``: each target's best similarity to the detections of a masked batch.

    ``image_ids`` ``(B,)``: the image each masked copy was made from.
    """
    boxes = targets.boxes[image_ids]
    overlap = _boxes.iou(boxes, batch.boxes)  # (B, T, M)
    if targets.vectors is not None and batch.probabilities is not None:
        classes = cosine(targets.vectors[image_ids], batch.probabilities)
    else:
        classes = (targets.labels[image_ids][:, :, None] == batch.labels[:, None, :])
    values = overlap * classes * batch.objectness[:, None, :]
    values = np.where(batch.valid[:, None, :], values, 0.0)
    if values.shape[-1] == 0:
        return np.zeros(values.shape[:2], np.float32)
    return values.max(axis=-1).astype(np.float32)


def _ranked(batch: Batch, i: int) -> np.ndarray:
    """The positions of image ``i``'s valid detections, best score first (stable)."""
    positions = np.flatnonzero(batch.valid[i])
    return positions[np.argsort(-batch.scores[i][positions], kind="stable")]


def resolve(target, batch: Batch, height: int, width: int, *, score_threshold: float,
            class_count: int | None) -> Targets:
    """The targets of N images from ``target`` and the unmasked images' detections ``batch``.

    ``target``: None = every detection scoring at least ``score_threshold``; an int ``k``
    = the image's ``k``-th best detection; a list of ints = several; a
    :class:`Detections` = given boxes and labels for every image (a list of them: one per
    image).
    """
    n = len(batch.boxes)
    if isinstance(target, Detections) or (
            isinstance(target, (list, tuple)) and target
            and all(isinstance(t, Detections) for t in target)):
        return _given(target, batch, n, height, width, class_count)
    if target is None:
        picks = []
        for i in range(n):
            ranked = _ranked(batch, i)
            ranked = ranked[batch.scores[i][ranked] >= score_threshold]
            if not len(ranked):
                best = batch.scores[i][batch.valid[i]]
                raise ValueError(
                    f"image {i} has no detection with a score of at least score_threshold="
                    f"{score_threshold}"
                    + (f" (its best scores {np.round(np.sort(best)[::-1][:3], 3).tolist()})"
                       if best.size else " (the detector found nothing)")
                    + "; lower score_threshold, or name the boxes to explain with "
                    "target=explainkit.Detections(boxes, labels).")
            picks.append(ranked)
    else:
        ranks = [target] if not isinstance(target, (list, tuple)) else list(target)
        if not ranks or any(isinstance(r, bool) or not isinstance(r, numbers.Integral)
                            for r in ranks):
            raise TypeError(
                "target must be None, a detection's rank (an int, 0 = the best), a list of "
                "ranks, or explainkit.Detections(boxes, labels); got "
                f"{target!r} of type {type(target).__name__}.")
        picks = []
        for i in range(n):
            ranked = _ranked(batch, i)
            bad = [int(r) for r in ranks if not -len(ranked) <= r < len(ranked)]
            if bad:
                found = (f"found {len(ranked)} there (ranks 0..{len(ranked) - 1})" if len(ranked)
                         else "found none there")
                raise ValueError(
                    f"target={bad[0]} is beyond the detections of image {i}: the detector "
                    f"{found}.")
            picks.append(ranked[np.array(ranks, dtype=np.int64)])
    t = max(len(p) for p in picks)
    probabilities = batch.probabilities
    out = Targets(
        boxes=np.zeros((n, t, 4), np.float32), labels=np.full((n, t), -1, np.int64),
        vectors=None if probabilities is None else np.zeros(
            (n, t, probabilities.shape[-1]), np.float32),
        valid=np.zeros((n, t), bool), index=np.full((n, t), -1, np.int64),
        scores=np.full((n, t), np.nan, np.float32))
    for i, positions in enumerate(picks):
        k = len(positions)
        rank_of = np.full(batch.valid.shape[1], -1, np.int64)
        ranked = _ranked(batch, i)
        rank_of[ranked] = np.arange(len(ranked))
        out.boxes[i, :k] = batch.boxes[i, positions]
        out.labels[i, :k] = batch.labels[i, positions]
        if out.vectors is not None:
            out.vectors[i, :k] = probabilities[i, positions]
        out.valid[i, :k] = True
        out.index[i, :k] = rank_of[positions]
        out.scores[i, :k] = batch.scores[i, positions]
    return out


def _given(target, batch: Batch, n: int, height: int, width: int,
           class_count: int | None) -> Targets:
    """Targets named by the caller: one Detections for all images, or a list, one per image.

    A box's class vector is its ``probabilities`` when it has them (a detection explained
    before), else one-hot at its label.
    """
    given = [target] * n if isinstance(target, Detections) else list(target)
    if len(given) != n:
        raise ValueError(
            f"target is a list of {len(given)} Detections for {n} images; give one per "
            "image, or one Detections for all.")
    t = max(len(d) for d in given)
    if t == 0:
        raise ValueError("target=Detections(...) has no boxes; name at least one box.")
    out = Targets(
        boxes=np.zeros((n, t, 4), np.float32), labels=np.full((n, t), -1, np.int64),
        vectors=None if class_count is None else np.zeros((n, t, class_count), np.float32),
        valid=np.zeros((n, t), bool), index=np.full((n, t), -1, np.int64),
        scores=np.full((n, t), np.nan, np.float32))
    for i, d in enumerate(given):
        boxes = d.xyxy(height, width)
        inside = ((boxes[:, 0] >= -0.5) & (boxes[:, 1] >= -0.5) & (boxes[:, 2] <= width + 0.5)
                  & (boxes[:, 3] <= height + 0.5) & (boxes[:, 2] > boxes[:, 0])
                  & (boxes[:, 3] > boxes[:, 1]))
        if not inside.all():
            bad = boxes[~inside][0]
            raise ValueError(
                f"target box {np.round(bad, 2).tolist()} (pixel xyxy, from "
                f"bounding_box_format={d.bounding_box_format!r}) is not a box inside the "
                f"{height}x{width} image: it needs 0 <= x0 < x1 <= {width} and "
                f"0 <= y0 < y1 <= {height}.")
        if class_count is not None and (d.labels >= class_count).any():
            raise ValueError(
                f"target label {int(d.labels.max())} is not a class of the detector, which "
                f"scores {class_count} classes (labels 0..{class_count - 1}).")
        k = len(d)
        out.boxes[i, :k] = boxes
        out.labels[i, :k] = d.labels
        if out.vectors is not None and d.probabilities is not None and (
                d.probabilities.shape[1] == class_count):  # an explained detection's own
            out.vectors[i, :k] = d.probabilities
        elif out.vectors is not None:
            out.vectors[i, np.arange(k), d.labels] = 1.0
        out.valid[i, :k] = True
    out.scores[:] = np.where(out.valid, similarity(out, np.arange(n), batch), np.nan)
    return out
