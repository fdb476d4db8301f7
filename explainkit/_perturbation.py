"""One path for perturbed images: plans say how to build them, one executor scores them.

Every method and metric that scores perturbed copies of its images (occlusion, LIME, RISE,
Score-CAM, deletion, insertion, average drop, mu-fidelity) describes them as
``Perturbations`` — how many, which image each one perturbs, how to build a run of them into
a buffer, and optionally what to do with each batch's scores — and hands them to
:func:`execute`, which builds them into one reused, aligned buffer, scores them
``batch_size`` at a time (one model call per mini-batch, across plans) and hands the scores
back. A new perturbation method is a plan and a combine step.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._batching import batches
from ._models._buffers import batch_buffer


@dataclass
class Perturbations:
    """Perturbed images to score.

    Attributes
    ----------
    image_ids : ndarray of int, shape (count,)
        The image that item ``j`` perturbs (what the score function scores it for).
    build : callable
        ``build(items, out)`` writes the images of ``items`` (a slice of ``range(count)``)
        into ``out`` (``(len(items), H, W, C)`` float32, a view of the reused buffer).
    classes : ndarray of int, shape (count,), optional
        The class item ``j`` is scored for, when it is not the same for all of an image's
        items (the metrics); handed to the score function.
    combine : callable, optional
        ``combine(items, scores)`` is called with the scores of ``items`` right after the
        batch holding them was scored (while whatever ``build`` made for it is at hand).
    """

    image_ids: np.ndarray
    build: Callable[[slice, np.ndarray], None]
    classes: np.ndarray | None = None
    combine: Callable[[slice, np.ndarray], None] | None = None

    @property
    def count(self) -> int:
        return len(self.image_ids)


def execute(plans: Sequence[Perturbations], score, *, batch_size: int, image_shape: tuple,
            progress=None, desc: str = "") -> list[np.ndarray]:
    """Build and score every plan's items in shared mini-batches; their scores, per plan.

    Parameters
    ----------
    plans : sequence of Perturbations
        Scored in order: the items of all plans are numbered one after the other and cut
        into mini-batches of ``batch_size`` (a batch may hold items of several plans).
    score : callable
        ``score(batch, image_ids, classes) -> (B,) or (B, K)`` finite scores of one batch
        (one model call); ``classes`` is None unless the plans give them.
    batch_size : int
        Images per model call (already capped by the byte budget).
    image_shape : tuple
        ``(H, W, C)`` of the perturbed images.
    progress : bool or None
        A progress bar over the batches (None: on long interactive runs).
    desc : str
        Its label.

    Returns
    -------
    list of ndarray
        One float32 array per plan, ``(count,)`` or ``(count, K)``.
    """
    counts = [p.count for p in plans]
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    total = int(starts[-1])
    if total == 0:
        return [np.empty(0, np.float32) for _ in plans]
    image_ids = np.concatenate([p.image_ids for p in plans]).astype(np.intp)
    with_classes = any(p.classes is not None for p in plans)
    classes = (np.concatenate([p.classes if p.classes is not None
                               else np.zeros(p.count, np.int32) for p in plans]
                              ).astype(np.int32) if with_classes else None)
    spans = list(itertools.pairwise(starts))
    scores = None
    with batch_buffer((min(batch_size, total), *image_shape)) as buffer:
        for chunk in batches(total, batch_size, progress=progress, desc=desc):
            parts, filled = [], 0
            for plan, (start, stop) in zip(plans, spans, strict=True):
                low, high = max(start, chunk.start), min(stop, chunk.stop)
                if low < high:
                    plan.build(slice(low - start, high - start),
                               buffer[filled:filled + high - low])
                    parts.append((plan, slice(low - start, high - start), filled))
                    filled += high - low
            batch_scores = np.asarray(score(buffer[:filled], image_ids[chunk],
                                            None if classes is None else classes[chunk]),
                                      dtype=np.float32)
            if scores is None:
                scores = np.empty((total, *batch_scores.shape[1:]), np.float32)
            scores[chunk] = batch_scores
            for plan, items, at in parts:
                if plan.combine is not None:
                    plan.combine(items, batch_scores[at:at + items.stop - items.start])
    return [scores[start:stop] for start, stop in spans]
