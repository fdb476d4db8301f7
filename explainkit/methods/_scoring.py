"""What every gradient method shares: the scored (reduction) output, the task, the targets.

The CAM family and the pixel attributions score the same thing — the reduction layer's
output for the target (a classifier's logits before its final softmax/sigmoid, found
automatically) — so they resolve it here, once, the same way.
"""

from __future__ import annotations

import numpy as np

from .._batching import batches
from .._models import keras_adapter
from .._models._outputs import check_output
from .._validation import check_int, check_option, example_shape
from ..targets import TASKS, infer_task, num_outputs, predicted_roi, resolve_roi, resolve_targets


def check_scoring(explainer) -> None:
    """Check ``task``, ``batch_size``, ``reduction_fn`` and ``output`` / ``reduction_layer``."""
    check_option("task", explainer.task, ("auto", *TASKS))
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
    adapter = keras_adapter(explainer.net)
    image_shape = None if X is None else example_shape(X, input_shape=adapter.input_shape)
    graph = adapter.graph(image_shape)
    reduction = graph.reduction(explainer.reduction_layer, explainer.output)
    output_shape = graph.reduction_shape(reduction)
    task = explainer.task
    if task == "auto":
        task = infer_task(output_shape, reduction.final_activation)
    elif (task == "segmentation") != (len(output_shape) == 4):
        raise ValueError(
            f"task={task!r} does not fit the reduction layer's output shape {output_shape}: "
            "segmentation needs (N, h, w, classes), the other tasks (N, outputs)."
        )
    explainer.reduction_layer_ = reduction.label
    explainer.output_ = graph.reduction_output_label(reduction, explainer.output)
    explainer.task_ = task
    explainer.n_outputs_ = num_outputs(output_shape, task)
    return adapter, graph, reduction


def explain_targets(explainer, images: np.ndarray, target, roi, graph, reduction):
    """``(index (N, K), single_target, roi_array, roi_mode)`` for one explain call."""
    n = len(images)
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
    return index, single_target, roi_array, roi_mode


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
