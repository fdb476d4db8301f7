"""Grad-CAM: channels weighted by their spatially averaged gradients."""

from __future__ import annotations

from ._cam import BaseCAM


class GradCAM(BaseCAM):
    """Gradient-weighted class activation mapping (MATLAB's ``gradCAM``).

    The map is ``ReLU(sum_k alpha_k A^k)`` where ``A^k`` are the feature layer's channels
    and ``alpha_k`` the spatial mean of ``d score / d A^k``; it is not normalised.

    Parameters are those of :class:`~explainkit.methods.BaseCAM`.

    References
    ----------
    R. R. Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017.

    Examples
    --------
    >>> import keras, numpy as np
    >>> from explainkit import GradCAM
    >>> net = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3),
    ...                         keras.layers.GlobalAveragePooling2D(),
    ...                         keras.layers.Dense(2, activation="softmax")])
    >>> explanation = GradCAM(net).fit().explain(np.ones((16, 16, 3)), target=1)
    >>> explanation.score_map.shape
    (16, 16)
    """

    method_name = "gradcam"

    @staticmethod
    def channel_weights(activations, gradients):
        from keras import ops

        return ops.mean(gradients, axis=(1, 2))


def gradcam(net, X, target=None, *, feature_layer="auto", reduction_layer="auto",
            reduction_fn=None, output=None, reshape=None, roi=None,
            output_upsampling: str = "bicubic", relu: bool = True,
            class_names=None, batch_size: int = 32, return_layers: bool = False,
            task: str = "auto"):
    """Grad-CAM maps of a Keras model, shaped like MATLAB's ``gradCAM`` output.

    Parameters
    ----------
    net : keras.Model
        The model.
    X : array-like
        One image ``(H, W, C)`` (or ``(H, W)``) or a batch ``(N, H, W, C)``.
    target : int, str, list, ndarray or None
        Class index or name, regression output, or segmentation class; a list gives one map
        per target; a numpy array ``(N,)`` / ``(N, K)`` the target(s) of each image; None =
        the prediction (regression: output 0).
    return_layers : bool, default=False
        Also return the names of the feature and reduction layers used.

    Other Parameters
    ----------------
    feature_layer, reduction_layer, reduction_fn, output, reshape, output_upsampling, relu
        See :class:`GradCAM`.
    class_names, batch_size, task
        See :class:`GradCAM`.
    roi : bool array or "predicted", optional
        See :meth:`GradCAM.explain`.

    Returns
    -------
    score_map : ndarray
        ``(H, W)``, ``(H, W, K)``, ``(N, H, W)`` or ``(N, H, W, K)``.
    feature_layer, reduction_layer : str
        Only with ``return_layers=True``.
    """
    explainer = GradCAM(
        net, feature_layer=feature_layer, reduction_layer=reduction_layer,
        reduction_fn=reduction_fn, output=output, reshape=reshape,
        output_upsampling=output_upsampling, relu=relu,
        class_names=class_names, batch_size=batch_size, task=task,
    ).fit(X)  # fmt: skip
    explanation = explainer.explain(X, target, roi=roi)
    if return_layers:
        return explanation.score_map, explanation.feature_layer, explanation.reduction_layer
    return explanation.score_map
