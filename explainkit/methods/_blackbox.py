"""What every black-box method shares: outputs, task, targets and scores on the unchanged images.

Black-box methods (occlusion sensitivity, LIME) only call the predictor. They decide the
task, the targets and a ``"predicted"`` region of interest once, on the unchanged images,
and score every perturbed copy against those frozen choices.
"""

from __future__ import annotations

import numpy as np

from .._batching import batches, check_batch_size
from .._image import UPSAMPLING
from .._models import BlackBox, predictor
from .._models._outputs import check_output
from .._validation import check_option
from ..base import Explainer
from ..targets import (
    TASKS,
    infer_task,
    num_outputs,
    predicted_roi,
    resolve_roi,
    resolve_targets,
    score_function,
)


def check_finite(scores: np.ndarray) -> np.ndarray:
    """``scores``, or a ValueError when the predictor returned NaN or Inf."""
    if not np.isfinite(scores).all():
        raise ValueError(
            "net returned NaN or Inf scores; black-box methods need finite outputs."
        )
    return scores


def decide_task(task: str, predictor, outputs: np.ndarray, final_activation: str | None) -> str:
    """The task of a predictor's outputs: ``task`` checked, or inferred for ``"auto"``.

    Segmentation for spatial outputs; a scikit-learn estimator's scoring method decides
    the rest (``predict_proba``: classification); a callable returning several columns is
    a classifier; a Keras model is a classifier when its output is squashed.
    """
    if task != "auto":
        if (task == "segmentation") != (outputs.ndim == 4):
            raise ValueError(
                f"task={task!r} does not fit the predictor's output shape {outputs.shape}: "
                "segmentation needs (N, h, w, classes)."
            )
        return task
    if outputs.ndim == 4:
        return "segmentation"
    if isinstance(predictor, BlackBox):
        return predictor.task or ("classification" if outputs.shape[-1] > 1 else "regression")
    return infer_task(outputs.shape, final_activation)


class BlackBoxExplainer(Explainer):
    """Base of the methods that only call the predictor (set ``self._predictor`` in fit)."""

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "_predictor")

    #: Whether the method explains detectors (``_detection`` is then set for one).
    explains_detectors = False

    def _check_common(self) -> None:
        """Check the parameters every black-box method has; wrap the predictor.

        A detector (a keras-hub ObjectDetector, or any callable with ``task="detection"``)
        is wrapped as a :class:`~explainkit._detection.DetectionTask` in ``_detection``.
        """
        check_option("output_upsampling", self.output_upsampling, UPSAMPLING)
        check_option("task", self.task, ("auto", *TASKS, "detection"))
        check_batch_size(self.batch_size)
        if self.progress is not None and not isinstance(self.progress, bool):
            raise TypeError(f"progress must be None, True or False; got {self.progress!r}.")
        check_output(self.output)
        from .._detection import DetectionTask, detector, is_hub_detector

        self._detection = None
        if self.task == "detection" or (self.task == "auto" and is_hub_detector(self.net)):
            if not self.explains_detectors:
                raise ValueError(
                    f"{type(self).__name__} does not explain object detectors; use DRISE "
                    "(method='drise') or OcclusionSensitivity (method='occlusion').")
            if self.output is not None:
                raise ValueError("output= chooses a model output; a detector is explained "
                                 "through its detections: leave output=None.")
            self._detection = DetectionTask(detector(self.net))
        self._predictor = predictor(self.net)

    def _outputs(self, x: np.ndarray) -> np.ndarray:
        """The predictor's raw (chosen) output for a batch."""
        return self._predictor.outputs(x, self.output)

    def _output_label(self, image_shape: tuple):
        """The explained output, as recorded in the Explanation (None: the only one)."""
        return self._predictor.output_label(image_shape, self.output)

    def _task(self, outputs: np.ndarray, final_activation: str | None) -> str:
        return decide_task(self.task, self._predictor, outputs, final_activation)

    def _resolve_targets(self, base_outputs: np.ndarray, target, roi, image_shape: tuple):
        """Task, targets and the score function, decided on the unchanged images.

        Returns ``(task, single_target, score, base_scores, resolved, roi_array)``: the
        score function and ROI to apply to every perturbed copy, the ``(N, K)`` scores of
        the unchanged images and the resolved ``(N, K)`` target indices.
        """
        n = len(base_outputs)
        final_activation = self._predictor.final_activation(image_shape, self.output)
        task = self._task(base_outputs, final_activation)
        index, single_target = resolve_targets(
            target, task=task, count=num_outputs(base_outputs.shape, task),
            class_names=self.class_names, num_images=n,
        )  # fmt: skip
        threshold = 0.5 if final_activation == "sigmoid" else None
        roi_array, roi_mode = resolve_roi(roi, task=task, output_shape=base_outputs.shape,
                                          num_images=n)
        backend = self._predictor.backend
        score = score_function(task, roi_mode, threshold, backend=backend)
        scores, resolved = score(base_outputs, index, roi_array)
        base_scores = check_finite(np.asarray(scores, dtype=np.float32))
        resolved = np.asarray(resolved)
        if roi_mode == "predicted":  # frozen on the unchanged image
            roi_array = predicted_roi(base_outputs, resolved, threshold)
            score = score_function(task, "mask", threshold, backend=backend)
        return task, single_target, score, base_scores, resolved, roi_array

    def _resolve_on(self, images: np.ndarray, target, roi, batch_size: int):
        """``_resolve_targets`` on the outputs of the unchanged ``images``, scored
        ``batch_size`` at a time."""
        outputs = np.concatenate([self._outputs(images[s])
                                  for s in batches(len(images), batch_size)])
        return self._resolve_targets(outputs, target, roi, images.shape[1:])

    def _scores(self, batch: np.ndarray, resolved, roi_array, score) -> np.ndarray:
        """``(B, K)`` finite scores of a perturbed batch for the frozen targets."""
        return check_finite(self._predictor.scores(batch, resolved, roi_array, score,
                                                   self.output))
