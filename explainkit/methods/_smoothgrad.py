"""SmoothGrad: saliency averaged over noisy copies of the image."""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_int
from ._cam import check_progress
from ._pixel import (
    PIXEL_PARAMETERS,
    PixelAttribution,
    check_channel_reduction,
    check_random_state,
)


class SmoothGrad(PixelAttribution):
    __doc__ = f"""SmoothGrad: the gradient averaged over noisy copies ``x + N(0, sigma^2)``.

    ``sigma = noise_level * (max(x) - min(x))`` per image; the map is the channel reduction
    of ``|mean gradient|`` (or of the mean squared gradient: SquareGrad). Every image gets
    the same noise draws (scaled by its own sigma), so the maps do not depend on the order
    of the images or on ``batch_size``.

    Parameters
    ----------
    num_samples : int, default=50
        Noisy copies per image.
    noise_level : float, default=0.15
        The noise's standard deviation as a fraction of the image's value range (the
        paper's 10-20%).
    squared : bool, default=False
        Average the squared gradients (SquareGrad, Hooker et al. 2019).
    channel_reduction : {{"max", "sum", "l2"}} or None, default="max"
        As for :class:`Saliency`.
    random_state : None, int or numpy Generator
        Seeds the noise.
    progress : bool or None
        A progress bar over the batches (None: on long interactive runs).{PIXEL_PARAMETERS}

    References
    ----------
    Smilkov, Thorat, Kim, Viegas & Wattenberg, "SmoothGrad: removing noise by adding
    noise", ICML Workshop 2017.
    """

    method_name = "smoothgrad"

    def __init__(self, net, *, num_samples=50, noise_level=0.15, squared=False,
                 channel_reduction="max", random_state=None, progress=None,
                 reduction_layer="auto", reduction_fn=None, output=None, class_names=None,
                 batch_size=32, task="auto"):
        self.net = net
        self.num_samples = num_samples
        self.noise_level = noise_level
        self.squared = squared
        self.channel_reduction = channel_reduction
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
        if (isinstance(self.noise_level, bool) or not isinstance(self.noise_level, numbers.Real)
                or not self.noise_level >= 0):
            raise ValueError(f"noise_level must be a number >= 0; got {self.noise_level!r}.")
        if not isinstance(self.squared, bool | np.bool_):
            raise TypeError(f"squared must be True or False; got {self.squared!r}.")
        check_channel_reduction(self.channel_reduction)
        check_random_state(0 if self.random_state is None else self.random_state)
        check_progress(self.progress)

    def _attributions(self, images, index, roi_array, roi_mode):
        scores, resolved, roi_array, roi_mode = self._resolve_unless_known(
            images, index, roi_array, roi_mode)
        known = scores is None
        seed = check_random_state(self.random_state)
        flat = images.reshape(len(images), -1)
        sigma = (self.noise_level * (flat.max(axis=1) - flat.min(axis=1))).astype(np.float32)
        shape = images.shape[1:]
        cache = {}

        def noise(copy: int) -> np.ndarray:
            if copy not in cache:  # one draw per copy number, the same for every image
                cache.clear()
                cache[copy] = np.random.default_rng([seed, copy]).standard_normal(
                    shape, dtype=np.float32)
            return cache[copy]

        def build(ids, copies, out):
            for b, (i, copy) in enumerate(zip(ids, copies, strict=True)):
                np.multiply(noise(int(copy)), sigma[i], out=out[b])
                out[b] += images[i]

        def unchanged(ids, out):
            out[...] = images[ids]

        mean, extra = self._mean_gradients(images, resolved, roi_array, roi_mode,
                                           int(self.num_samples), build, self.progress,
                                           "smoothgrad", square=bool(self.squared),
                                           extra=(unchanged,) if known else ())
        if known:
            scores = extra[:, 0]
        return np.abs(mean), scores, resolved, {}
