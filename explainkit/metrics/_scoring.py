"""Scoring perturbed images for the faithfulness metrics, in shared batches.

A :class:`Scorer` holds one model, the images, and the choices every metric shares (the
output, the task, the ``roi`` and whether a classifier's probabilities or logits are
scored); it resolves targets with the methods' own machinery (:mod:`explainkit.targets`)
and scores the unperturbed images once.

A metric describes its perturbed images as :class:`~explainkit._perturbation.Perturbations`
(which image and class each one is scored for, and how to build a run of them into a
buffer); :func:`run` scores any number of them — of several metrics and methods — through
the one batching path every perturbation method takes, one compiled model call per batch.
"""

from __future__ import annotations

import numpy as np

from .._batching import batches, check_batch_size, images_per_call
from .._models import BlackBox, predictor
from .._models._outputs import check_output
from .._perturbation import Perturbations, execute
from .._validation import check_images, check_option
from ..methods._blackbox import check_finite, decide_task
from ..targets import (
    TASKS,
    num_outputs,
    predicted_roi,
    resolve_roi,
    resolve_targets,
    score_function,
)

#: What a classifier's score is: its (softmax/sigmoid) output, or the logits before it.
SCORES = ("probability", "logit")


def _identity_scores(outputs, index, roi):
    return outputs, index


class Scorer:
    """One model and set of images, scored for per-image targets.

    Parameters
    ----------
    net : keras.Model, estimator or callable
        The model.
    X : array-like
        The images ``(N, H, W, C)`` (one image ``(H, W, C)`` is a batch of one).
    output : int or str, optional
        The output to score, for a model with several.
    task : {"auto", "classification", "regression", "segmentation"}
        As for the methods.
    roi : bool array or "predicted", optional
        Segmentation: the output pixels whose class scores are summed; "predicted" = the
        pixels predicted as the class on the unperturbed image (frozen).
    score : {"probability", "logit"}
        A classifier's score: its output as it is (the softmax/sigmoid probabilities), or
        the logits before its final softmax/sigmoid (Keras models only).
    class_names : sequence of str, optional
        For targets given by name.
    batch_size : int or "auto"
        Images per model call ("auto": as many as ``max_batch_bytes`` allows, at most 1024).
    progress : bool or None
        A progress bar over the batches (None: on long interactive runs).
    """

    def __init__(self, net, X, *, output=None, task="auto", roi=None, score="probability",
                 class_names=None, batch_size="auto", progress=None):
        check_option("score", score, SCORES)
        check_option("task", task, ("auto", *TASKS))
        check_batch_size(batch_size)
        check_output(output)
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress must be None, True or False; got {progress!r}.")
        self.predictor = predictor(net)
        self.images, _ = check_images(X, input_shape=self.predictor.input_shape)
        self.output, self.score, self.class_names = output, score, class_names
        self.progress = progress
        self.batch_size = images_per_call(batch_size, self.images[0].nbytes)
        image_shape = self.images.shape[1:]
        final = self.predictor.final_activation(image_shape, output)
        if score == "logit":
            if isinstance(self.predictor, BlackBox):
                raise ValueError(
                    "score='logit' needs a Keras model (to read the logits before its final "
                    f"softmax/sigmoid); net is {type(net).__name__}. Use score='probability'.")
            reduction = self.predictor.graph(image_shape).reduction("auto", output)
            self._raw = self.predictor.reduction_scores(reduction, _identity_scores)
            self.threshold = reduction.threshold
        else:
            self._raw = None
            self.threshold = 0.5 if final == "sigmoid" else None
        self.base_outputs = self._outputs(self.images)
        self.task = decide_task(task, self.predictor, self.base_outputs, final)
        self.count = num_outputs(self.base_outputs.shape, self.task)
        self.output_label = self.predictor.output_label(image_shape, output)
        self.roi, self.roi_mode = resolve_roi(roi, task=self.task,
                                              output_shape=self.base_outputs.shape,
                                              num_images=len(self.images))
        mode = "mask" if self.roi_mode in ("mask", "predicted") else "all"
        backend = "keras" if self._raw is not None else self.predictor.backend
        self._score = score_function(self.task, mode, self.threshold, backend=backend)
        self._score_base = score_function(self.task, mode, self.threshold, backend="numpy")
        if self._raw is not None:
            self._batch_scores = self.predictor.reduction_scores(reduction, self._score)

    def _outputs(self, images: np.ndarray) -> np.ndarray:
        """The raw outputs the scores are read from (outputs or logits), batched."""
        parts = []
        for chunk in batches(len(images), self.batch_size):
            if self._raw is None:
                parts.append(self.predictor.outputs(images[chunk], self.output))
            else:
                n = chunk.stop - chunk.start
                parts.append(self._raw(images[chunk], np.zeros((n, 1), np.int32),
                                       np.ones((n, 1, 1), np.float32)))
        return np.concatenate(parts).astype(np.float32, copy=False)

    def resolve(self, target, *, num_targets: int | None = None) -> tuple[np.ndarray, bool]:
        """``(classes (N, K), single)``: the targets resolved, None = the prediction."""
        n = len(self.images)
        index, single = resolve_targets(target, task=self.task, count=self.count,
                                        class_names=self.class_names, num_images=n)
        if num_targets is not None and index.shape[1] not in (1, num_targets):
            raise ValueError(
                f"target gives {index.shape[1]} targets per image but the maps have "
                f"{num_targets}; pass one target per map (or one for all).")
        if num_targets is not None and index.shape[1] == 1 < num_targets:
            index = np.repeat(index, num_targets, axis=1)
        roi = np.ones((n, 1, 1), np.float32) if self.roi_mode == "predicted" else self.roi
        mode = "mask" if self.roi_mode == "mask" else "all"
        _, resolved = score_function(self.task, mode, self.threshold, backend="numpy")(
            self.base_outputs, index, roi)
        return np.asarray(resolved, dtype=np.int32), single

    def _rois(self, image_ids: np.ndarray, classes: np.ndarray):
        """The ROI of each item: ``(B, h, w, 1)`` masks, or ones ``(B, 1, 1)``."""
        if self.roi_mode == "predicted":  # the pixels predicted as the class, unperturbed
            return predicted_roi(self.base_outputs[image_ids], classes[:, None],
                                 self.threshold).astype(np.float32)
        return self.roi[image_ids]

    def base_scores(self, classes: np.ndarray) -> np.ndarray:
        """``(N, K)`` scores of the unperturbed images for ``classes`` (no model call)."""
        n, k = classes.shape
        ids = np.repeat(np.arange(n), k)
        scores, _ = self._score_base(self.base_outputs[ids], classes.reshape(-1, 1),
                                     self._rois(ids, classes.reshape(-1)))
        return check_finite(np.asarray(scores, np.float32).reshape(n, k))

    def scores(self, batch: np.ndarray, image_ids: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """``(B,)`` scores of perturbed images for their image's class (one model call)."""
        index = classes.astype(np.int32).reshape(-1, 1)
        roi = self._rois(image_ids, classes)
        if self._raw is not None:
            scores = self._batch_scores(batch, index, roi)
        else:
            scores = self.predictor.scores(batch, index, roi, self._score, self.output)
        return check_finite(np.asarray(scores, np.float32).reshape(-1))


def run(scorer: Scorer, perturbations: list[Perturbations], *, desc: str = "metrics"
        ) -> list[np.ndarray]:
    """Score every plan's items (each for its image's ``classes``) in shared mini-batches."""
    return execute(perturbations, scorer.scores, batch_size=scorer.batch_size,
                   image_shape=scorer.images.shape[1:], progress=scorer.progress, desc=desc)


class DetectionScorer:
    """A detector and its images, scored for their target detections (the detection task).

    The score of a perturbed image for target ``t`` is D-RISE's similarity of its
    detections to ``t`` (box overlap x class-score cosine x objectness), as the methods
    score it; "classes" are the targets' positions ``0..T-1``.
    """

    score = "similarity"
    task = "detection"
    output_label = None

    def __init__(self, net, X, *, batch_size="auto", progress=None, bounding_box_format=None):
        from .._detection import DetectionTask, detector

        check_batch_size(batch_size)
        if progress is not None and not isinstance(progress, bool):
            raise TypeError(f"progress must be None, True or False; got {progress!r}.")
        self.detection = DetectionTask(detector(net, bounding_box_format))
        self.images, _ = check_images(X, input_shape=self.detection.input_shape)
        self.batch_size = images_per_call(batch_size, self.images[0].nbytes)
        self.progress = progress

    def resolve(self, target, *, num_targets: int | None = None) -> tuple[np.ndarray, bool]:
        """``(positions (N, T), single)``: the target detections resolved on the images."""
        import numbers

        self.targets, self.base = self.detection.targets(self.images, target,
                                                         batch_size=self.batch_size)
        n, t = self.targets.valid.shape
        if num_targets is not None and t != num_targets:
            raise ValueError(
                f"target gives {t} detections per image but the maps have {num_targets}; "
                "pass the Explanation, or one target detection per map.")
        single = isinstance(target, numbers.Integral) and not isinstance(target, bool)
        return np.tile(np.arange(t, dtype=np.int32), (n, 1)), single

    def base_scores(self, classes: np.ndarray) -> np.ndarray:
        """``(N, T)`` similarities of the unperturbed images (NaN for padding targets)."""
        return np.take_along_axis(self.base, classes, axis=1)

    def scores(self, batch: np.ndarray, image_ids: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """``(B,)`` similarities of perturbed images to their target (one detector call)."""
        values = self.detection.scores(batch, image_ids, self.targets)
        return values[np.arange(len(values)), classes.astype(np.intp)]
