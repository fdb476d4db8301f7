"""The detection task for the methods: targets fixed on the unchanged images, scores of changes.

What :class:`~explainkit.DRISE` and occlusion sensitivity share: run the detector on the
unchanged images, resolve the targets there (frozen, as every black-box method freezes its
targets), score each perturbed copy by D-RISE's similarity of its detections to them, and
give the explained detections back in the detector's box format.
"""

from __future__ import annotations

import numpy as np

from .._batching import batches
from ._boxes import from_xyxy
from ._detections import Batch, Detections, concatenate
from ._similarity import Targets, resolve, similarity

#: ``target=None``: the detections explained are those scoring at least this.
SCORE_THRESHOLD = 0.5


class DetectionTask:
    """A detector's targets and similarity scores for one explain call."""

    def __init__(self, found):
        self.detector = found

    @property
    def input_shape(self):
        return getattr(getattr(self.detector, "adapter", None), "input_shape", None)

    def detect(self, images: np.ndarray, batch_size: int) -> Batch:
        """The detections of ``images``, ``batch_size`` per detector call."""
        return concatenate([self.detector.detect(images[s])
                            for s in batches(len(images), batch_size)])

    def targets(self, images: np.ndarray, target, *, batch_size: int,
                score_threshold: float = SCORE_THRESHOLD) -> tuple[Targets, np.ndarray]:
        """The targets of ``images`` and their similarity ``(N, T)`` there (NaN: padding).

        See :func:`~explainkit._detection.resolve` for ``target``.
        """
        base = self.detect(images, batch_size)
        count = None if base.probabilities is None else base.probabilities.shape[-1]
        targets = resolve(target, base, images.shape[1], images.shape[2],
                          score_threshold=score_threshold, class_count=count)
        unchanged = similarity(targets, np.arange(len(images)), base)
        return targets, np.where(targets.valid, unchanged, np.nan).astype(np.float32)

    def scores(self, batch: np.ndarray, image_ids: np.ndarray, targets: Targets) -> np.ndarray:
        """``(B, T)``: the similarity of a perturbed batch's detections to the targets."""
        return similarity(targets, image_ids, self.detector.detect(batch))

    def detections(self, targets: Targets, height: int, width: int) -> list[Detections]:
        """Per image, the explained detections in the detector's box format."""
        fmt = self.detector.box_format
        out = []
        for i in range(len(targets.boxes)):
            keep = targets.valid[i]
            given = (targets.index[i][keep] < 0).all()
            out.append(Detections(
                from_xyxy(targets.boxes[i][keep], fmt, height, width), targets.labels[i][keep],
                scores=targets.scores[i][keep],
                probabilities=None if targets.vectors is None or given
                else targets.vectors[i][keep],
                bounding_box_format=fmt))
        return out
