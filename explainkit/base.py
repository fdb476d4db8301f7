"""The Explainer base class: scikit-learn conventions for every method."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import threading

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ._explanation import Explanation
from .targets import target_names

#: Every method by its ``method_name``: ``explain``, the command line and the tests find
#: them here (each registers itself when its class is defined).
METHODS: dict[str, type] = {}

_LOCAL = threading.local()  # set while a task's converted images are being explained


def _front(net):
    """The image converter to explain ``net``'s raw images through, or None."""
    from ._config import get_config
    from ._models import _hub

    if getattr(_LOCAL, "inside", False) or get_config()["preprocess"] != "task":
        return None
    converter = _hub.image_converter(net)
    return None if converter is None else _hub.Front(converter)


@contextlib.contextmanager
def converted_images(net, X):
    """``X`` as a keras-hub task takes it (its converter applied), explained as such inside.

    For :func:`~explainkit.compare`, whose metrics perturb the images the model sees: the
    maps and the metrics are then on the converted images. ``X`` itself for other models.
    """
    front = _front(net)
    if front is None:
        yield X
        return
    from ._validation import check_images

    raw, _ = check_images(X, input_shape=None)
    with _inside():
        yield front.convert(raw)


@contextlib.contextmanager
def _inside():
    """While converted images are explained: no second conversion (this thread)."""
    _LOCAL.inside = True
    try:
        yield
    finally:
        _LOCAL.inside = False


def _raw_explanation(front, explanation: Explanation, raw: np.ndarray) -> Explanation:
    """``explanation`` of converted images, with its maps on the ``raw`` images' pixels."""
    size = raw.shape[1:3]
    changes = {"maps": front.to_raw(explanation.maps, size), "images": raw,
               "params": {**explanation.params, "preprocess": "task"}}
    if explanation.attributions is not None:
        changes["attributions"] = front.to_raw(explanation.attributions, size)
    if explanation.detections is not None:  # boxes onto the raw image, in their format
        changes["detections"] = [_detections_onto(front, d, size, explanation.maps.shape[1:3],
                                                  to_raw=True)
                                 for d in explanation.detections]
    if explanation.feature_map is not None:  # LIME's segments: -1 where the model sees none
        changes["feature_map"] = np.rint(front.to_raw(
            explanation.feature_map[..., None], size, "nearest", fill=-1)[..., 0]).astype(
            np.int32)
    return dataclasses.replace(explanation, **changes)


def _detections_onto(front, found, raw_hw, model_hw, *, to_raw: bool):
    """Detections moved between a keras-hub task's raw image and the image it takes."""
    from ._detection._boxes import from_xyxy

    source, target = (model_hw, raw_hw) if to_raw else (raw_hw, model_hw)
    move = front.boxes_to_raw if to_raw else front.boxes_to_model
    xyxy = move(found.xyxy(*source), raw_hw, model_hw)
    return dataclasses.replace(found, boxes=from_xyxy(xyxy, found.bounding_box_format, *target))


def _targets_onto_model(front, target, raw_hw, model_hw):
    """Given target Detections (on the raw image) as the converted image's boxes."""
    from ._detection import Detections

    if isinstance(target, Detections):
        return _detections_onto(front, target, raw_hw, model_hw, to_raw=False)
    if isinstance(target, (list, tuple)) and target and all(
            isinstance(t, Detections) for t in target):
        return [_detections_onto(front, t, raw_hw, model_hw, to_raw=False) for t in target]
    return target


def _through_task(method, kind: str):
    """``fit`` / ``explain`` that, for a keras-hub task, take raw images (see ``_hub``)."""

    @functools.wraps(method)
    def run(self, X=None, *args, **kwargs):
        front = _front(getattr(self, "net", None))
        if front is None or X is None or (kind == "fit" and not hasattr(X, "__array__")
                                          and not isinstance(X, (list, tuple))):
            return method(self, X, *args, **kwargs)
        from ._validation import check_images

        raw, single = check_images(X, input_shape=None)
        converted = front.convert(raw)
        if kind == "explain":  # a detector's given boxes are on the raw image too
            sizes = raw.shape[1:3], converted.shape[1:3]
            if args:
                args = (_targets_onto_model(front, args[0], *sizes), *args[1:])
            elif "target" in kwargs:
                kwargs["target"] = _targets_onto_model(front, kwargs["target"], *sizes)
        with _inside():
            result = method(self, converted[0] if single else converted, *args, **kwargs)
        return result if kind == "fit" else _raw_explanation(front, result, raw)

    return run


class Explainer(BaseEstimator):
    """Base class of all explainers.

    Subclasses follow scikit-learn's estimator conventions: ``__init__`` stores its
    arguments verbatim and does nothing else; ``fit(X=None, y=None)`` validates them,
    resolves what depends on the model and returns ``self``; attributes learned in ``fit``
    end with ``_``; ``explain(X, target)`` returns an :class:`Explanation` and never changes
    the parameters. ``get_params``, ``set_params`` and :func:`sklearn.base.clone` work, and
    ``clone`` shares the network instead of copying it.

    The first constructor argument of every explainer is the model, ``net``.
    """

    #: Short name used in ``explainkit.explain(method=...)`` and in explanations.
    method_name: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("method_name")
        if name:  # a concrete method registers itself once
            if name in METHODS and METHODS[name].__qualname__ != cls.__qualname__:
                raise ValueError(f"method_name {name!r} is taken by {METHODS[name].__name__}.")
            METHODS[name] = cls
        for kind in ("fit", "explain"):  # keras-hub tasks: raw images, maps on them
            if kind in cls.__dict__:
                setattr(cls, kind, _through_task(cls.__dict__[kind], kind))

    def fit(self, X=None, y=None):
        """Resolve what depends on the model; return ``self``."""
        raise NotImplementedError

    def explain(self, X, target=None) -> Explanation:
        """Explain the model's output for ``target`` on the images ``X``."""
        raise NotImplementedError

    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        params = {
            name: value if name == "net" else clone(value, safe=False)
            for name, value in params.items()
        }
        return type(self)(**params)

    def _run_params(self) -> dict:
        """The parameters to record in an Explanation (all but the network)."""
        return {k: v for k, v in self.get_params(deep=False).items() if k != "net"}

    def _explanation(self, maps, *, targets, params=None, **fields) -> Explanation:
        """The Explanation of a run, with what every method fills in alike.

        float32 maps, this method's name, the run's parameters (unless given) and the
        target names from ``class_names``; ``fields`` are the rest.
        """
        names = None if targets is None else target_names(
            getattr(self, "class_names", None), targets)
        return Explanation(
            maps=np.asarray(maps).astype(np.float32, copy=False), method=self.method_name,
            targets=targets, target_names=names,
            params=self._run_params() if params is None else params, **fields,
        )  # fmt: skip

    def _check_fitted(self) -> None:
        check_is_fitted(
            self,
            msg=(
                f"This {type(self).__name__} is not fitted yet: call fit() before explain() "
                "(fit(X) with an example image when the model's input size is not fixed)."
            ),
        )
