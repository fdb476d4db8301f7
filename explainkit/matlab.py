"""MATLAB-style names for porting a MATLAB script line by line.

``gradCAM``, ``occlusionSensitivity``, ``imageLIME`` and ``drise`` take MATLAB's
arguments and name-value options (as keyword arguments with MATLAB's names) and call
:func:`explainkit.gradcam`, :func:`explainkit.occlusion_sensitivity`,
:func:`explainkit.image_lime` and :class:`explainkit.DRISE`; they return what MATLAB
returns (a tuple where MATLAB has several outputs).

**Indices are 1-based here, as in MATLAB**; the rest of explainkit is 0-based.

- An int label is a 1-based class (or output) index: ``label=1`` is the first class,
  Python's ``target=0``. A list holds labels for every image; a numpy array ``(N,)`` /
  ``(N, K)`` the label(s) of each image, as in the Python API; both element by element.
  0 and negative labels raise ValueError.
- A str label is a class name (MATLAB's categorical label); it needs ``ClassNames``, since
  a Keras model does not carry its class names.
- ``None`` is not MATLAB: it explains the predicted class, as the Python API does.
- The ``channel`` of ``occlusionSensitivity(net, X, layer, channel)`` is 1-based too.
- Outputs are explainkit's, unchanged: ``imageLIME``'s feature map numbers features from 0
  (feature ``k`` has importance ``importance[k]``), where MATLAB's ``featureMap`` starts
  at 1. A label image given as ``Segmentation`` may start at 1 (it is renumbered).

Options MATLAB has and these functions do not (``ExecutionEnvironment``, for instance)
raise TypeError, as any unknown keyword does.

MATLAB::

    scoreMap = gradCAM(net, X, "dog");
    scoreMap = occlusionSensitivity(net, X, 2, "MaskSize", 15, "MaskClipping", "off");
    [scoreMap, featureMap, importance] = imageLIME(net, X, 2, "NumSamples", 1024);

Python::

    from explainkit.matlab import gradCAM, imageLIME, occlusionSensitivity

    score_map, feature_layer, reduction_layer = gradCAM(net, X, "dog", ClassNames=names)
    score_map = occlusionSensitivity(net, X, 2, MaskSize=15, MaskClipping="off")
    score_map, feature_map, importance = imageLIME(net, X, 2, NumSamples=1024)

Examples
--------
>>> import numpy as np
>>> from explainkit.matlab import occlusionSensitivity
>>> f = lambda X: np.stack([X.sum(axis=(1, 2, 3)), X[:, :2, :2].sum(axis=(1, 2, 3))], 1)
>>> occlusionSensitivity(f, np.ones((4, 4, 1)), 2, MaskSize=2, Stride=2, MaskValue=0,
...                      MaskClipping="off", OutputUpsampling="none")  # 2: second output
array([[4., 0.],
       [0., 0.]], dtype=float32)
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from .methods import DRISE, gradcam, image_lime, occlusion_sensitivity

__all__ = ["gradCAM", "occlusionSensitivity", "imageLIME", "drise"]

#: A MATLAB label: a 1-based index, a class name, several of them, or None (the prediction).
Label = int | str | Sequence[int | str] | np.ndarray | None

_ONE_BASED_NOTE = (
    "(explainkit.matlab counts labels and channels from 1, like MATLAB; the indices in "
    "this message are explainkit's 0-based ones: label k is index k - 1.)"
)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _index(item, name: str):
    """One 1-based index or class name -> explainkit's 0-based index or the name."""
    if isinstance(item, str):
        return str(item)
    if _is_int(item):
        if item < 1:
            raise ValueError(
                f"{name} {int(item)} is not a valid index: explainkit.matlab counts {name}s "
                f"from 1, like MATLAB ({name} 1 is the first; the Python API's index 0)."
            )
        return int(item) - 1
    raise TypeError(
        f"{name} must be a 1-based index (int), a class name (str) or a list of them; got "
        f"{item!r} of type {type(item).__name__}."
    )


def _target(label: Label):
    """A MATLAB label as explainkit's ``target``: 1-based ints become 0-based."""
    if label is None:
        return None
    if isinstance(label, str):
        return str(label)
    if np.ndim(label) == 0:
        return _index(label.item() if isinstance(label, np.ndarray) else label, "label")
    if isinstance(label, np.ndarray):  # one label (row) per image, as everywhere
        if label.dtype.kind in "US":
            return label
        items = [_index(item, "label") for item in label.ravel()]
        return np.asarray(items, dtype=object if label.dtype == object else np.int64
                          ).reshape(label.shape)
    return [_index(item, "label") for item in np.asarray(label, dtype=object).ravel()]


@contextlib.contextmanager
def _one_based_errors() -> Iterator[None]:
    """Say that an out-of-range index in an explainkit message is 0-based."""
    try:
        yield
    except ValueError as error:
        if "out of range" not in str(error):
            raise
        raise ValueError(f"{error} {_ONE_BASED_NOTE}") from error


def gradCAM(net: Any, X: Any, label: Label | Callable = None, *,
            FeatureLayer: Any = "auto", ReductionLayer: Any = "auto",
            ReductionFcn: Callable | None = None, OutputUpsampling: str = "bicubic",
            MiniBatchSize: int = 32, ClassNames: Sequence[str] | None = None,
            ) -> tuple[np.ndarray, str, str]:  # fmt: skip
    """MATLAB's ``[scoreMap, featureLayer, reductionLayer] = gradCAM(net, X, label)``.

    Calls :func:`explainkit.gradcam` with ``return_layers=True``.

    Parameters
    ----------
    net : keras.Model
        A Functional or Sequential Keras model.
    X : array-like
        One image ``(H, W, C)`` or a batch ``(N, H, W, C)``.
    label : int, str, list, callable or None
        **1-based** class index (``1`` = the first class, explainkit's ``target=0``), class
        name (needs ``ClassNames``), or a list of them (one map per label). A callable is
        MATLAB's ``gradCAM(net, X, reductionFcn)``, the same as ``ReductionFcn``. None:
        the predicted class (or, with ``ReductionFcn``, no label).
    FeatureLayer, ReductionLayer : str or keras.layers.Layer, default="auto"
        ``feature_layer`` and ``reduction_layer``.
    ReductionFcn : callable, optional
        ``reduction_fn``: ``f(outputs) -> (n,)`` scores, in keras.ops code; replaces
        ``label``, which must then be None.
    OutputUpsampling : {"bicubic", "nearest", "none"}, default="bicubic"
        ``output_upsampling``.
    MiniBatchSize : int, default=32
        ``batch_size``.
    ClassNames : sequence of str, optional
        ``class_names``: the names that str labels refer to.

    Returns
    -------
    score_map : ndarray
        ``(H, W)``, ``(H, W, K)``, ``(N, H, W)`` or ``(N, H, W, K)``.
    feature_layer, reduction_layer : str
        The names of the layers used.
    """
    if callable(label):
        if ReductionFcn is not None:
            raise ValueError("Give the reduction function once: as label or as ReductionFcn.")
        label, ReductionFcn = None, label
    if ReductionFcn is not None and label is not None:
        raise ValueError(
            "ReductionFcn replaces label: call gradCAM(net, X, None, ReductionFcn=f) or "
            f"gradCAM(net, X, f); got label={label!r}."
        )
    with _one_based_errors():
        return gradcam(
            net, X, _target(label), feature_layer=FeatureLayer,
            reduction_layer=ReductionLayer, reduction_fn=ReductionFcn,
            output_upsampling=OutputUpsampling, batch_size=MiniBatchSize,
            class_names=ClassNames, return_layers=True,
        )  # fmt: skip


def _mask_clipping(value) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("on", "off"):
        return value.lower() == "on"
    raise ValueError(f"MaskClipping must be 'on' or 'off' (or True/False); got {value!r}.")


def occlusionSensitivity(net: Any, X: Any, label: Label = None, channel: int | None = None, *,
                         MaskSize: Any = "auto", Stride: Any = "auto", MaskValue: Any = "auto",
                         OutputUpsampling: str = "bicubic", MaskClipping: str | bool = "on",
                         MiniBatchSize: int = 128, ClassNames: Sequence[str] | None = None,
                         ) -> np.ndarray:  # fmt: skip
    """MATLAB's ``scoreMap = occlusionSensitivity(net, X, label)``.

    Also ``occlusionSensitivity(net, X, layer, channel)``: the score is the activation of
    ``channel`` (**1-based**) of ``layer``, summed over space. Calls
    :func:`explainkit.occlusion_sensitivity`.

    Parameters
    ----------
    net : keras.Model, scikit-learn estimator or callable
        The predictor (the ``layer, channel`` form needs a Keras graph model).
    X : array-like
        One image ``(H, W, C)`` or a batch ``(N, H, W, C)``.
    label : int, str, list or None
        **1-based** class or output index (``1`` = explainkit's ``target=0``), class name
        (needs ``ClassNames``), or a list of them (one map per label); None: the predicted
        class. With ``channel``: the name of a layer.
    channel : int, optional
        **1-based** channel of the layer named by ``label`` (``1`` = explainkit's
        ``channel=0``).
    MaskSize, Stride : "auto", int or (int, int), default="auto"
        ``mask_size`` and ``stride``.
    MaskValue : "auto", float or array, default="auto"
        ``mask_value``.
    OutputUpsampling : {"bicubic", "nearest", "none"}, default="bicubic"
        ``output_upsampling``.
    MaskClipping : {"on", "off"} or bool, default="on"
        ``mask_clipping`` ("on" = True; any case).
    MiniBatchSize : int, default=128
        ``batch_size``.
    ClassNames : sequence of str, optional
        ``class_names``: the names that str labels refer to.

    Returns
    -------
    score_map : ndarray
        ``(H, W)``, ``(H, W, K)``, ``(N, H, W)`` or ``(N, H, W, K)``; with
        ``OutputUpsampling="none"`` one value per mask position.
    """
    clipping = _mask_clipping(MaskClipping)
    layer = None
    if channel is not None:
        if not isinstance(label, str):
            raise TypeError(
                "occlusionSensitivity(net, X, layer, channel) needs the layer's name as the "
                f"third argument; got {label!r}."
            )
        if not _is_int(channel):
            raise TypeError(
                f"channel must be a 1-based int; got {channel!r} of type {type(channel).__name__}."
            )
        layer, channel, target = label, _index(channel, "channel"), None
    else:
        target = _target(label)
    with _one_based_errors():
        return occlusion_sensitivity(
            net, X, target, mask_size=MaskSize, stride=Stride, mask_value=MaskValue,
            mask_clipping=clipping, output_upsampling=OutputUpsampling,
            batch_size=MiniBatchSize, layer=layer, channel=channel, class_names=ClassNames,
        )  # fmt: skip


def imageLIME(net: Any, X: Any, label: Label = None, *, NumFeatures: int = 49,
              NumSamples: int = 2048, Segmentation: Any = "superpixels", Model: str = "tree",
              OutputUpsampling: str = "nearest", MiniBatchSize: int = 128,
              MaskValue: Any = "auto", RandomState: Any = None,
              ClassNames: Sequence[str] | None = None,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray | list[np.ndarray]]:  # fmt: skip
    """MATLAB's ``[scoreMap, featureMap, featureImportance] = imageLIME(net, X, label)``.

    Calls :func:`explainkit.image_lime` with ``return_features=True``.

    Parameters
    ----------
    net : keras.Model, scikit-learn estimator or callable
        The predictor.
    X : array-like
        One image ``(H, W, C)`` or a batch ``(N, H, W, C)``.
    label : int, str, list or None
        **1-based** class or output index (``1`` = explainkit's ``target=0``), class name
        (needs ``ClassNames``), or a list of them (one map per label); None: the predicted
        class.
    NumFeatures : int, default=49
        ``num_features``.
    NumSamples : int, default=2048
        ``num_samples``.
    Segmentation : {"superpixels", "grid"} or array of int, default="superpixels"
        ``segmentation``. Feature numbers in ``feature_map`` are 0-based, as in explainkit.
    Model : {"tree", "linear"}, default="tree"
        ``model``.
    OutputUpsampling : {"nearest", "bicubic", "none"}, default="nearest"
        ``output_upsampling``.
    MiniBatchSize : int, default=128
        ``batch_size``.
    MaskValue : "auto", float or array, default="auto"
        ``mask_value`` (not a MATLAB option).
    RandomState : None, int, numpy Generator or RandomState
        ``random_state`` (MATLAB uses ``rng`` instead).
    ClassNames : sequence of str, optional
        ``class_names``: the names that str labels refer to.

    Returns
    -------
    score_map : ndarray
        ``(H, W)``, ``(H, W, K)``, ``(N, H, W)`` or ``(N, H, W, K)``.
    feature_map : ndarray of int32
        The feature (0-based) of each pixel, ``(H, W)`` or ``(N, H, W)``.
    feature_importance : ndarray or list of ndarray
        ``(F,)`` or ``(F, K)``; for a batch, a list with one array per image.
    """
    with _one_based_errors():
        return image_lime(
            net, X, _target(label), num_features=NumFeatures, num_samples=NumSamples,
            segmentation=Segmentation, model=Model, mask_value=MaskValue,
            output_upsampling=OutputUpsampling, batch_size=MiniBatchSize,
            random_state=RandomState, class_names=ClassNames, return_features=True,
        )  # fmt: skip


def _matlab_boxes(bbox, name: str) -> np.ndarray:
    """MATLAB's ``[x y w h]`` boxes (1-based pixels) as explainkit's pixel ``xyxy``."""
    boxes = np.asarray(bbox, dtype=np.float64)
    if boxes.shape == (4,):
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must be an M-by-4 matrix of [x y w h] boxes; got shape "
                         f"{boxes.shape}.")
    x, y, w, h = boxes.T
    return np.stack([x - 1, y - 1, x - 1 + w, y - 1 + h], axis=1)


def _label_indices(labels, count: int, class_names) -> np.ndarray:
    """labelIn (1-based ints or class names) as 0-based class indices."""
    items = [labels] if np.ndim(labels) == 0 else list(np.asarray(labels, dtype=object).ravel())
    if len(items) != count:
        raise ValueError(f"labelIn must have one label per box of bboxIn ({count}); got "
                         f"{len(items)}.")
    out = []
    for item in items:
        if isinstance(item, str):
            if class_names is None or item not in list(class_names):
                raise ValueError(f"labelIn {item!r} is not one of ClassNames "
                                 f"({None if class_names is None else list(class_names)}).")
            out.append(list(class_names).index(item))
        else:
            out.append(_index(item, "label"))
    return np.asarray(out, dtype=np.int64)


def drise(detector: Any, X: Any, bboxIn: Any = None, labelIn: Any = None, *,
          NumSamples: int = 2048, MiniBatchSize: Any = "auto", Verbose: bool = False,
          MaskValue: Any = 0, RandomState: Any = None,
          ClassNames: Sequence[str] | None = None,
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """MATLAB's ``[scoreMap, bboxOut, scores, labelOut] = drise(detector, I, bboxIn, labelIn)``.

    Runs :class:`explainkit.DRISE` on one image. Boxes are MATLAB's ``[x y w h]`` with
    **1-based** pixel coordinates (the top-left pixel is ``(1, 1)``), labels **1-based**
    class indices or class names, as in MATLAB.

    Parameters
    ----------
    detector : keras-hub ObjectDetector or callable
        As for :class:`~explainkit.DRISE` (a custom detection function returns a dict,
        in its own ``bounding_box_format``: pixel ``xyxy``).
    X : array-like
        One image ``(H, W, C)`` (MATLAB's ``I``).
    bboxIn : array-like, shape (M, 4), optional
        The boxes to explain, ``[x y w h]``; None: every detection scoring at least 0.5.
    labelIn : int, str or sequence, optional
        Their classes (**1-based**, or names in ``ClassNames``); needed with ``bboxIn``.
    NumSamples : int, default=2048
        ``num_masks``.
    MiniBatchSize : "auto" or int, default="auto"
        ``batch_size``.
    Verbose : bool, default=False
        ``progress``.
    MaskValue : number, array, "mean" or "blur", default=0
        ``mask_value`` (not a MATLAB option).
    RandomState : None, int, numpy Generator or RandomState
        ``random_state`` (MATLAB uses ``rng`` instead).
    ClassNames : sequence of str, optional
        The detector's class names: labels may be given by name, and ``labelOut`` is then
        the names.

    Returns
    -------
    score_map : ndarray
        ``(H, W, T)``, one map per explained detection; ``(H, W)`` for one.
    bboxOut : ndarray, shape (T, 4)
        The explained boxes, ``[x y w h]`` (1-based).
    scores : ndarray, shape (T,)
        Their scores (for ``bboxIn``: the similarity of the best detection to each box).
    labelOut : ndarray, shape (T,)
        Their classes: 1-based indices, or names with ``ClassNames``.
    """
    from ._detection import Detections

    if (bboxIn is None) != (labelIn is None):
        raise ValueError("Give bboxIn and labelIn together (the boxes to explain and their "
                         "classes), or neither (explain every detection).")
    target = None
    if bboxIn is not None:
        boxes = _matlab_boxes(bboxIn, "bboxIn")
        target = Detections(boxes, _label_indices(labelIn, len(boxes), ClassNames))
    explanation = DRISE(
        detector, num_masks=NumSamples, batch_size=MiniBatchSize, progress=bool(Verbose),
        mask_value=MaskValue, random_state=RandomState, class_names=ClassNames,
    ).fit().explain(X, target)  # fmt: skip
    if not explanation.single_image:
        raise ValueError("explainkit.matlab.drise explains one image (H, W, C); use "
                         "explainkit.DRISE for a batch.")
    found = explanation.detections[0]
    height, width = explanation.maps.shape[1:3]
    x0, y0, x1, y1 = found.xyxy(height, width).astype(np.float64).T
    bbox_out = np.stack([x0 + 1, y0 + 1, x1 - x0, y1 - y0], axis=1)
    labels = (np.asarray([str(ClassNames[k]) for k in found.labels]) if ClassNames is not None
              else found.labels + 1)
    score_map = explanation.maps[0]
    if score_map.shape[-1] == 1:
        score_map = score_map[..., 0]
    return score_map, bbox_out, found.scores, labels
