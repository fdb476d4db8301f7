"""Targets: which output a method explains, as one score per sample and target.

Targets act on model *outputs* (for gradient methods, the reduction layer's output) and
never own the forward pass, so every method works for classification, regression and
semantic segmentation alike:

- classification: the score of a class, given by index or by name (``class_names``);
  ``None`` = the predicted class of each image;
- regression: an output index; ``None`` = output 0;
- segmentation: a class channel summed over all pixels, or over ``roi`` (a boolean mask at
  output resolution, or ``"predicted"`` = the pixels predicted as that class); ``None`` =
  the class predicted at the most pixels;
- ``reduction_fn(outputs) -> (n,)`` replaces all of them (MATLAB's ``ReductionFcn``).

The forms of ``target``, for every method, metric and :func:`~explainkit.compare` alike
(:func:`resolve_targets` is the one place that reads them):

- a scalar (an int, a class name) or None: one target for every image;
- a Python list or tuple of K of them: the same K targets for every image (K maps each);
- a numpy array of shape ``(N,)`` (ints or class names, e.g. the labels ``y``): one target
  per image; ``(N, K)``: K targets per image. Its first axis must be the number of images.

The score functions take the outputs, an ``(N, K)`` int32 index array (``-1`` = choose
from the prediction) and an ROI array, and return the ``(N, K)`` scores and the resolved
indices. They are written once against a small array namespace: ``keras.ops`` inside a
Keras model's compiled call, plain numpy for any other predictor (so that explaining a
scikit-learn model never imports TensorFlow).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Sequence

import numpy as np

from ._validation import closest

TASKS = ("classification", "regression", "segmentation")


class _NumpyOps:
    """The few ``keras.ops`` functions the score functions use, in numpy."""

    argmax = staticmethod(np.argmax)
    broadcast_to = staticmethod(np.broadcast_to)
    expand_dims = staticmethod(np.expand_dims)
    reshape = staticmethod(np.reshape)
    shape = staticmethod(np.shape)
    sum = staticmethod(np.sum)
    take_along_axis = staticmethod(np.take_along_axis)
    transpose = staticmethod(np.transpose)
    where = staticmethod(np.where)
    zeros_like = staticmethod(np.zeros_like)

    @staticmethod
    def cast(x, dtype):
        return np.asarray(x).astype(dtype)

    @staticmethod
    def one_hot(x, num_classes, dtype="float32"):
        return np.eye(num_classes, dtype=dtype)[x]


def array_namespace(backend: str):
    """``keras.ops`` for ``"keras"``, a numpy stand-in for ``"numpy"``."""
    if backend == "numpy":
        return _NumpyOps
    from keras import ops

    return ops


def infer_task(output_shape: tuple, final_activation: str | None) -> str:
    """Segmentation for spatial outputs, classification after softmax/sigmoid, else regression."""
    if len(output_shape) == 4:
        return "segmentation"
    if final_activation is not None:
        return "classification"
    return "regression"


def num_outputs(output_shape: tuple, task: str) -> int:
    """The number of targets to choose from: classes (channels) or outputs."""
    if task in ("segmentation", "detection"):
        return int(output_shape[-1])
    return int(np.prod([s for s in output_shape[1:]]))


def _check_class_names(class_names, count: int) -> list[str] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, Sequence | np.ndarray):
        raise TypeError(
            f"class_names must be a sequence of {count} strings; "
            f"got {type(class_names).__name__}."
        )
    names = [str(n) for n in class_names]
    if len(names) != count:
        raise ValueError(
            f"class_names has {len(names)} names but the model has {count} outputs."
        )
    return names


def _target_index(item, *, task: str, count: int, names) -> int:
    """The output index of one target item (an int or a class name)."""
    if isinstance(item, np.generic):
        item = item.item()
    if isinstance(item, str):
        if names is None:
            raise ValueError(f"target {item!r} is a class name, but no class_names were given.")
        if item not in names:
            raise ValueError(f"target {item!r} is not a class name{closest(item, names)}")
        return names.index(item)
    if isinstance(item, numbers.Integral) and not isinstance(item, bool):
        if not 0 <= item < count:
            kind = "channels" if task == "segmentation" else "outputs"
            raise ValueError(
                f"target {int(item)} is out of range: the model has {count} {kind} "
                f"(valid targets 0..{count - 1})."
            )
        return int(item)
    raise TypeError(
        "target must be None, an int, a class name, a list of them or a numpy array of "
        f"them (one per image); got {item!r} of type {type(item).__name__}."
    )


def resolve_targets(
    target, *, task: str, count: int, class_names=None, num_images: int
) -> tuple[np.ndarray, bool]:
    """Turn a user target into an ``(N, K)`` int32 index array.

    ``target`` is None, an int or class name (one target for every image), a list or tuple
    of them (the same K targets for every image), or a numpy array ``(N,)`` / ``(N, K)``
    (one / K targets per image).

    Returns
    -------
    index : ndarray of int32, shape (num_images, K)
        ``-1`` where the target is chosen from the prediction.
    single : bool
        True when one target per image was given (a scalar, None or an ``(N,)`` array):
        maps then have no K axis.
    """
    names = _check_class_names(class_names, count)
    if isinstance(target, np.ndarray) and target.ndim == 0:
        target = target.item()  # a 0-d array, e.g. np.array(3), is its one value

    def index_of(item):
        return _target_index(item, task=task, count=count, names=names)

    if isinstance(target, np.ndarray):
        if target.ndim > 2 or len(target) != num_images:
            raise ValueError(
                "target as a numpy array gives the targets of each image: shape "
                f"({num_images},) or ({num_images}, K) for these {num_images} image(s); got "
                f"shape {target.shape}. Pass a list for the same targets on every image."
            )
        if target.dtype.kind == "f":
            raise TypeError(
                "target as a numpy array must hold ints or class names; got an array of dtype "
                f"{target.dtype}."
            )
        per_image = target.reshape(num_images, -1)
        if per_image.shape[1] == 0:
            raise ValueError("target must not be empty; got an array of shape "
                             f"{target.shape}.")
        index = np.asarray([[index_of(item) for item in row] for row in per_image],
                           dtype=np.int32).reshape(per_image.shape)
        return index, target.ndim == 1
    single = target is None or isinstance(target, str) or np.ndim(target) == 0
    if single:
        index = [-1 if target is None else index_of(target)]
    else:
        items = list(np.asarray(target, dtype=object).ravel())
        if not items:
            raise ValueError("target must not be empty; got an empty list.")
        index = [index_of(item) for item in items]
    return np.tile(np.asarray(index, dtype=np.int32), (num_images, 1)), single


def target_names(class_names, resolved: np.ndarray) -> np.ndarray | None:
    """Names ``(N, K)`` of resolved target indices, or None without ``class_names``."""
    if class_names is None:
        return None
    return np.asarray([str(c) for c in class_names])[resolved]


def resolve_roi(roi, *, task: str, output_shape: tuple, num_images: int):
    """Turn ``roi`` into ``(array float32, mode)`` for the score function.

    A mask becomes ``(N, h, w, 1)``; the other modes get ones ``(N, 1, 1)``.
    """
    ones = np.ones((num_images, 1, 1), dtype=np.float32)
    if roi is None:
        return ones, "all"
    if task != "segmentation":
        raise ValueError(
            f"roi applies to segmentation models only; this model's task is {task}."
        )
    if isinstance(roi, str):
        if roi != "predicted":
            raise ValueError(f"roi must be a boolean mask or 'predicted'; got {roi!r}.")
        return ones, "predicted"
    arr = np.asarray(roi)
    if arr.dtype != np.bool_:
        raise TypeError(f"roi must be a boolean mask; got an array of dtype {arr.dtype}.")
    hw = tuple(output_shape[1:3])
    if arr.shape == hw:
        arr = np.broadcast_to(arr, (num_images, *hw))
    elif arr.shape != (num_images, *hw):
        raise ValueError(
            f"roi must have the model output's spatial shape {hw} (or {(num_images, *hw)} "
            f"for one mask per image); got shape {arr.shape}."
        )
    return arr.astype(np.float32)[..., None], "mask"  # (N, h, w, 1): every target alike


def _fill(ops, index, default):
    default = ops.cast(ops.expand_dims(default, 1), "int32")
    return ops.where(index < 0, default, index)


def _vector_scores(outputs, index, roi, *, predicted: bool, ops):
    outputs = ops.reshape(outputs, (ops.shape(outputs)[0], -1))
    default = ops.argmax(outputs, axis=-1) if predicted else ops.zeros_like(index[:, 0])
    index = _fill(ops, index, default)
    return ops.take_along_axis(outputs, index, axis=1), index


def _predicted_masks(ops, outputs, threshold):
    """(N, h, w, C) 0/1 masks of the pixels predicted as each class."""
    if threshold is not None:  # independent (sigmoid) classes
        return ops.cast(outputs > threshold, outputs.dtype)
    return ops.one_hot(ops.argmax(outputs, axis=-1), ops.shape(outputs)[-1], dtype=outputs.dtype)


def _segmentation_scores(outputs, index, roi, *, roi_mode: str, threshold: float | None, ops):
    n, h, w = (ops.shape(outputs)[i] for i in range(3))
    predicted = _predicted_masks(ops, outputs, threshold)
    index = _fill(ops, index, ops.argmax(ops.sum(predicted, axis=(1, 2)), axis=-1))
    k = ops.shape(index)[1]
    gather = ops.broadcast_to(index[:, None, None, :], (n, h, w, k))
    class_maps = ops.take_along_axis(outputs, gather, axis=-1)
    if roi_mode == "predicted":
        class_maps = class_maps * ops.take_along_axis(predicted, gather, axis=-1)
    elif roi_mode == "mask":  # (N, h, w, 1) for all targets or (N, h, w, K) one per target
        class_maps = class_maps * ops.cast(roi, class_maps.dtype)
    return ops.sum(class_maps, axis=(1, 2)), index


def _detection_scores(outputs, index, roi, *, ops):
    """A detector's class logits ``(N, A, K)`` summed over each target's matched anchors.

    ``index`` ``(N, T)``: each target's class; ``roi`` ``(N, T, A)``: 1 at the anchors whose
    decoded boxes match the target's box (pytorch-grad-cam's box-score target).
    """
    n, a = ops.shape(outputs)[0], ops.shape(outputs)[1]
    gather = ops.broadcast_to(index[:, None, :], (n, a, ops.shape(index)[1]))
    logits = ops.take_along_axis(outputs, gather, axis=-1)  # (N, A, T)
    weights = ops.transpose(ops.cast(roi, logits.dtype), (0, 2, 1))
    return ops.sum(logits * weights, axis=1), index


def predicted_roi(outputs, index, threshold: float | None) -> np.ndarray:
    """The pixels predicted as each target class: bool ``(N, h, w, K)``.

    ``index`` holds resolved class indices ``(N, K)``; used to freeze ``roi="predicted"`` on
    the unperturbed images for perturbation methods.
    """
    masks = _predicted_masks(_NumpyOps, np.asarray(outputs), threshold)
    return np.take_along_axis(masks, np.asarray(index)[:, None, None, :], axis=-1) > 0


def _user_scores(outputs, index, roi, *, reduction_fn):
    from keras import ops

    scores = ops.convert_to_tensor(reduction_fn(outputs))
    if len(scores.shape) != 1:
        raise ValueError(
            "reduction_fn must return one score per sample, shape (n,); it returned shape "
            f"{tuple(scores.shape)}."
        )
    return ops.expand_dims(scores, 1), index


@functools.lru_cache(maxsize=64)
def score_function(
    task: str,
    roi_mode: str = "all",
    threshold: float | None = None,
    reduction_fn: Callable | None = None,
    backend: str = "keras",
):
    """The score function for a task (the same object for the same arguments).

    ``threshold``: for segmentation with independent (sigmoid) classes, the output value
    above which a pixel counts as predicted (0 for logits, 0.5 for probabilities); None
    for mutually exclusive classes (argmax). ``backend``: ``"keras"`` (keras.ops, for a
    model's compiled call; ``reduction_fn`` needs it) or ``"numpy"``.
    """
    if reduction_fn is not None:
        return functools.partial(_user_scores, reduction_fn=reduction_fn)
    ops = array_namespace(backend)
    if task == "detection":
        return functools.partial(_detection_scores, ops=ops)
    if task == "segmentation":
        return functools.partial(_segmentation_scores, roi_mode=roi_mode, threshold=threshold,
                                 ops=ops)
    return functools.partial(_vector_scores, predicted=task == "classification", ops=ops)
