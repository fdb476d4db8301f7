"""The one-line entry point: ``explainkit.explain(net, X, target, method=...)``."""

from __future__ import annotations

import inspect

from . import methods  # noqa: F401  (defines, and so registers, every method)
from ._explanation import Explanation
from .base import METHODS


def explain(net, X, target=None, method: str = "gradcam", **options) -> Explanation:
    """Explain ``net``'s output for ``target`` on ``X`` with one method.

    Parameters
    ----------
    net : keras.Model, estimator or callable
        The model (gradient methods need a Keras model; black-box methods take any
        predictor).
    X : array-like
        One image or a batch of images, channels last.
    target : int, str, list, ndarray or None
        What to explain; None = the prediction. A list is the same targets for every
        image, a numpy array ``(N,)`` / ``(N, K)`` the target(s) of each image.
    method : str
        A registered method's name (each Explainer's ``method_name``): the CAM family
        ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam",
        "scorecam", "ablationcam", "cam", "guided_gradcam"), the pixel attributions
        ("saliency", "gradient_input", "smoothgrad", "integrated_gradients",
        "expected_gradients", "guided_backprop", "lrp"), the black-box methods
        ("occlusion", "lime", "rise", "kernel_shap", "partition_shap") and "lcam"
        (trained on ``X`` and its predictions).
    **options
        The method's parameters (e.g. ``feature_layer=...``); ``roi`` is passed to
        ``explain``.

    Returns
    -------
    Explanation
    """
    if method not in METHODS:
        raise ValueError(
            f"Unknown method {method!r}; choose one of {', '.join(map(repr, METHODS))}."
        )
    cls = METHODS[method]
    explain_options = {k: options.pop(k) for k in ("roi",) if k in options}
    accepted = set(inspect.signature(cls).parameters) - {"net"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise TypeError(
            f"method {method!r} got unknown option(s) {', '.join(map(repr, unknown))}; "
            f"its options are {', '.join(sorted(accepted))}."
        )
    return cls(net, **options).fit(X).explain(X, target, **explain_options)
