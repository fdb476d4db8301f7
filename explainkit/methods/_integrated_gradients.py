"""Integrated Gradients: the gradient integrated along the path from a baseline."""

from __future__ import annotations

import numpy as np

from .._baselines import BASELINES, baseline_images
from .._validation import check_int, check_option
from ._cam import check_progress
from ._pixel import PIXEL_PARAMETERS, PixelAttribution


class IntegratedGradients(PixelAttribution):
    __doc__ = f"""Integrated Gradients: ``(x - x0) * mean_i d score / d x`` along the path.

    The gradients are taken at ``x0 + (i - 0.5) / steps * (x - x0)``, ``i = 1..steps``
    (the midpoint rule), and the attributions summed over the channels (signed). The
    Explanation's ``completeness_gap`` is ``sum(attributions) - (f(x) - f(x0))`` per image
    and target: it goes to 0 as ``steps`` grows (the axiom of completeness).

    Parameters
    ----------
    steps : int, default=50
        Points on the path.
    baseline : number, per-channel values, image, "mean" or "blur", default=0
        The path's start ``x0``: a value, each image's per-channel mean, a Gaussian blur of
        the image (sigma 5% of its size) or an image ``(H, W, C)`` / ``(N, H, W, C)``.
    progress : bool or None
        A progress bar over the batches (None: on long interactive runs).{PIXEL_PARAMETERS}

    References
    ----------
    Sundararajan, Taly & Yan, "Axiomatic Attribution for Deep Networks", ICML 2017.
    """

    method_name = "integrated_gradients"

    def __init__(self, net, *, steps=50, baseline=0, progress=None, reduction_layer="auto",
                 reduction_fn=None, output=None, class_names=None, batch_size=32,
                 task="auto"):
        self.net = net
        self.steps = steps
        self.baseline = baseline
        self.progress = progress
        self.reduction_layer = reduction_layer
        self.reduction_fn = reduction_fn
        self.output = output
        self.class_names = class_names
        self.batch_size = batch_size
        self.task = task

    def _check(self) -> None:
        check_int("steps", self.steps)
        check_progress(self.progress)
        if isinstance(self.baseline, str):
            check_option("baseline", self.baseline, BASELINES)

    def _attributions(self, images, index, roi_array, roi_mode):
        start = np.broadcast_to(baseline_images(self.baseline, images), images.shape)
        scores, resolved, roi_array, roi_mode = self._resolve_unless_known(
            images, index, roi_array, roi_mode)
        known = scores is None
        steps = int(self.steps)
        difference = images - start

        def build(ids, copies, out):
            alphas = ((copies + 0.5) / steps).astype(np.float32)[:, None, None, None]
            np.multiply(difference[ids], alphas, out=out)
            out += start[ids]

        def baseline(ids, out):
            out[...] = start[ids]

        def unchanged(ids, out):
            out[...] = images[ids]

        mean, extra = self._mean_gradients(images, resolved, roi_array, roi_mode, steps, build,
                                           self.progress, "integrated gradients",
                                           extra=(baseline, unchanged) if known else (baseline,))
        attributions = difference[..., None] * mean
        baseline_scores = extra[:, 0]
        if known:
            scores = extra[:, 1]
        gap = attributions.sum(axis=(1, 2, 3)) - (scores - baseline_scores)
        return attributions, scores, resolved, {"completeness_gap": gap.astype(np.float32)}
