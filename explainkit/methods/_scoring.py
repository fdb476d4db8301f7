"""What every gradient method shares: the scored (reduction) output, the task, the targets.

The CAM family and the pixel attributions score the same thing — the reduction layer's
output for the target (a classifier's logits before its final softmax/sigmoid, found
automatically) — so they resolve it here, once, the same way.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._batching import batches
from .._models import keras_adapter
from .._models._outputs import check_output
from .._validation import check_int, check_option, example_shape
from ..targets import TASKS, infer_task, num_outputs, predicted_roi, resolve_roi, resolve_targets

#: A detector's anchor matches a target when its decoded box overlaps the target's this much.
MATCH_IOU = 0.5


def check_scoring(explainer) -> None:
    """Check ``task``, ``batch_size``, ``reduction_fn`` and ``output`` / ``reduction_layer``."""
    check_option("task", explainer.task, ("auto", *TASKS, "detection"))
    check_int("batch_size", explainer.batch_size)
    if explainer.reduction_fn is not None and not callable(explainer.reduction_fn):
        raise TypeError(f"reduction_fn must be callable; got {explainer.reduction_fn!r}.")
    check_output(explainer.output)
    if explainer.output is not None and not (
            isinstance(explainer.reduction_layer, str) and explainer.reduction_layer == "auto"):
        raise ValueError(
            "output= chooses the output whose logits reduction_layer='auto' finds; "
            f"reduction_layer={explainer.reduction_layer!r} names the layer itself. Pass one "
            "of them.")


def fit_scoring(explainer, X):
    """Resolve the reduction layer and the task; return ``(adapter, graph, reduction)``.

    Sets ``reduction_layer_``, ``output_``, ``task_`` and ``n_outputs_`` on ``explainer``.
    """
    from .._detection import DetectionTask, detector, is_hub_detector

    adapter = keras_adapter(explainer.net)
    image_shape = None if X is None else example_shape(X, input_shape=adapter.input_shape)
    graph = adapter.graph(image_shape)
    output = explainer.output
    task = explainer.task
    explainer._detection = None
    if task == "detection" or (task == "auto" and is_hub_detector(explainer.net)):
        if not getattr(explainer, "explains_detectors", True):
            raise ValueError(
                f"{type(explainer).__name__} does not explain object detectors yet; use "
                "Grad-CAM (or another CAM), a pixel attribution, DRISE or occlusion.")
        if not is_hub_detector(explainer.net):
            raise ValueError(
                "task='detection' with a gradient method needs a keras-hub ObjectDetector "
                "(its class logits per anchor and its own anchor decoding); explain any other "
                "detector with DRISE, or occlusion with task='detection'.")
        if explainer.reduction_fn is not None or output not in (None, "cls_logits"):
            raise ValueError(
                "A detector is explained through its detections (the class logits of the "
                "anchors matching each one): leave reduction_fn and output None.")
        output, task = "cls_logits", "detection"
        explainer._detection = DetectionTask(detector(explainer.net))
    reduction = graph.reduction(explainer.reduction_layer, output)
    output_shape = graph.reduction_shape(reduction)
    if task == "detection":
        pass
    elif task == "auto":
        task = infer_task(output_shape, reduction.final_activation)
    elif (task == "segmentation") != (len(output_shape) == 4):
        raise ValueError(
            f"task={task!r} does not fit the reduction layer's output shape {output_shape}: "
            "segmentation needs (N, h, w, classes), the other tasks (N, outputs)."
        )
    explainer.reduction_layer_ = reduction.label
    explainer.output_ = graph.reduction_output_label(reduction, output)
    explainer.task_ = task
    explainer.n_outputs_ = num_outputs(output_shape, task)
    return adapter, graph, reduction


def explain_targets(explainer, images: np.ndarray, target, roi, graph, reduction):
    """``(index (N, K), single_target, roi_array, roi_mode, detected)`` for one explain call.

    ``detected``: the detection targets (None unless the task is detection), for
    :func:`detection_fields`.
    """
    n = len(images)
    if explainer.task_ == "detection":
        return _detection_targets(explainer, images, target, roi)
    if explainer.reduction_fn is not None:
        if target is not None or roi is not None:
            raise ValueError("reduction_fn replaces target and roi; do not pass them too.")
        index, single_target = np.full((n, 1), -1, dtype=np.int32), True
    else:
        index, single_target = resolve_targets(
            target, task=explainer.task_, count=explainer.n_outputs_,
            class_names=explainer.class_names, num_images=n)
    roi_array, roi_mode = resolve_roi(roi, task=explainer.task_,
                                      output_shape=graph.reduction_shape(reduction),
                                      num_images=n)
    return index, single_target, roi_array, roi_mode, None


def _detection_targets(explainer, images: np.ndarray, target, roi):
    """A keras-hub detector's targets: classes ``(N, T)`` and matched anchors ``(N, T, A)``.

    The targets are detections of the unchanged images (or given boxes); an anchor matches
    a target when its decoded box overlaps the target's box by IoU >= ``MATCH_IOU`` (its
    own detection's anchor always does). Padding targets (images with fewer) reuse their
    image's first target, and their maps are NaN in the end.
    """
    from .._detection._boxes import iou

    if roi is not None:
        raise ValueError("roi does not apply to a detector: a target is a detection.")
    task = explainer._detection
    targets, _ = task.targets(images, target, batch_size=explainer.batch_size)
    anchors = np.concatenate([task.detector.anchor_boxes(images[c])
                              for c in batches(len(images), explainer.batch_size)])
    height, width = images.shape[1:3]  # clipped, as the detections are
    anchors = np.clip(anchors, 0, np.array([width, height, width, height], np.float32))
    matched = iou(targets.boxes, anchors) >= MATCH_IOU
    lonely = targets.valid & ~matched.any(axis=-1)
    if lonely.any():
        i, t = np.argwhere(lonely)[0]
        raise ValueError(
            f"target box {np.round(targets.boxes[i, t], 2).tolist()} (pixel xyxy) of image "
            f"{i} matches no anchor of the detector (no decoded anchor box overlaps it by IoU "
            f">= {MATCH_IOU}), so no class logit scores it; explain it with DRISE.")
    first = np.argmax(targets.valid, axis=1)[:, None]
    index = np.where(targets.valid, targets.labels,
                     np.take_along_axis(targets.labels, first, axis=1)).astype(np.int32)
    matched = np.where(targets.valid[..., None], matched,
                       np.take_along_axis(matched, first[..., None], axis=1))
    single = isinstance(target, numbers.Integral) and not isinstance(target, bool)
    return index, single, matched.astype(np.float32), "mask", targets


def detection_fields(explainer, detected, maps: np.ndarray) -> tuple[np.ndarray, dict]:
    """``maps`` with padding targets NaN, and the Explanation's ``detections`` (detection)."""
    if detected is None:
        return maps, {}
    maps = np.where(detected.valid[:, None, None, :], maps, np.nan)
    height, width = maps.shape[1:3]
    return maps, {"detections": explainer._detection.detections(detected, height, width)}


def _identity_scores(outputs, index, roi):
    """A score function returning the outputs themselves (to freeze ``roi="predicted"``)."""
    return outputs, index


def frozen_roi(adapter, reduction, images, index, roi_array, roi_mode, resolved,
               batch_size: int):
    """``(roi_array, roi_mode)`` with ``"predicted"`` frozen on the unchanged images.

    Methods that score changed copies (masked, noisy, on a path) keep the pixels predicted
    as the class on the original image, as the black-box methods do.
    """
    if roi_mode != "predicted":
        return roi_array, roi_mode
    outputs = adapter.reduction_scores(reduction, _identity_scores)
    reduced = np.concatenate([outputs(images[c], index[c], roi_array[c])
                              for c in batches(len(images), batch_size)])
    masks = predicted_roi(reduced, resolved, reduction.threshold)
    return masks.astype(np.float32), "mask"
