"""Expected gradients: Integrated Gradients averaged over baselines from a background set."""

from __future__ import annotations

import numpy as np

from .._validation import check_images, check_int
from ._cam import check_progress
from ._pixel import PIXEL_PARAMETERS, PixelAttribution, check_random_state


class ExpectedGradients(PixelAttribution):
    __doc__ = f"""Expected gradients: ``E[(x - x') * d score / d x (x' + a (x - x'))]``.

    The expectation is over baselines ``x'`` drawn uniformly from a background set and
    path points ``a ~ U(0, 1)``: Integrated Gradients with its baseline and its path steps
    sampled, as in shap's ``GradientExplainer``. ``num_samples`` draws of ``(x', a)`` are
    made once and shared by every image, so the maps do not depend on the order of the
    images or on ``batch_size``. The attributions are summed over the channels (signed);
    in expectation they add up to ``f(x) - E[f(x')]``.

    Parameters
    ----------
    num_samples : int, default=200
        Draws of (baseline, path point) per image (shap's ``nsamples``).
    background : array-like, optional
        The background images ``(M, H, W, C)`` (or one image) the baselines are drawn
        from; None = the images given to ``fit`` (``explain(net, X, ...)`` fits on ``X``).
    random_state : None, int or numpy Generator
        Seeds the draws.
    progress : bool or None
        A progress bar over the batches (None: on long interactive runs).{PIXEL_PARAMETERS}

    References
    ----------
    Erion, Janizek, Sturmfels, Lundberg & Lee, "Improving performance of deep learning
    models with axiomatic attribution priors and expected gradients", Nature Machine
    Intelligence 3, 2021.
    """

    method_name = "expected_gradients"

    def __init__(self, net, *, num_samples=200, background=None, random_state=None,
                 progress=None, reduction_layer="auto", reduction_fn=None, output=None,
                 class_names=None, batch_size=32, task="auto"):
        self.net = net
        self.num_samples = num_samples
        self.background = background
        self.random_state = random_state
        self.progress = progress
        self.reduction_layer = reduction_layer
        self.reduction_fn = reduction_fn
        self.output = output
        self.class_names = class_names
        self.batch_size = batch_size
        self.task = task

    def _check(self) -> None:
        check_int("num_samples", self.num_samples)
        check_random_state(0 if self.random_state is None else self.random_state)
        check_progress(self.progress)

    def fit(self, X=None, y=None):
        """Resolve the layers and keep the background set; return ``self``.

        Parameters
        ----------
        X : array-like, optional
            Images: the background set when ``background`` is None (and an example of the
            input size).
        y : ignored
        """
        source = self.background if self.background is not None else X
        if source is None:
            raise ValueError(
                "ExpectedGradients needs a background set to draw baselines from: pass "
                "background=images, or fit(X) with images.")
        name = "background" if self.background is not None else "X"
        shape = getattr(self.net, "input_shape", None)
        background, _ = check_images(source, input_shape=shape if isinstance(shape, tuple)
                                     else None, name=name)
        super().fit(X if X is not None else background[:1])
        self.background_ = np.array(background, dtype=np.float32)
        return self

    def _attributions(self, images, index, roi_array, roi_mode):
        background = self.background_
        if background.shape[1:] != images.shape[1:]:
            raise ValueError(
                f"The background images have shape {background.shape[1:]}; the images "
                f"explained have {images.shape[1:]}: they must be the same size.")
        scores, resolved, roi_array, roi_mode = self._resolve_unless_known(
            images, index, roi_array, roi_mode)
        known = scores is None
        count = int(self.num_samples)
        rng = np.random.default_rng(check_random_state(self.random_state))
        which = rng.integers(len(background), size=count)
        alphas = rng.random(count, dtype=np.float32)

        def build(ids, copies, out):
            start = background[which[copies]]
            np.subtract(images[ids], start, out=out)
            out *= alphas[copies, None, None, None]
            out += start

        def weigh(ids, copies, gradients):
            return (images[ids] - background[which[copies]])[..., None] * gradients

        def unchanged(ids, out):
            out[...] = images[ids]

        mean, extra = self._mean_gradients(images, resolved, roi_array, roi_mode, count, build,
                                           self.progress, "expected gradients",
                                           extra=(unchanged,) if known else (), weigh=weigh)
        if known:
            scores = extra[:, 0]
        return mean, scores, resolved, {}
