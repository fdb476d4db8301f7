"""Score-CAM: channels weighted by the score of the image masked by each channel."""

from __future__ import annotations

import numbers

import numpy as np

from .._batching import images_per_call
from .._image import resize_matrix
from .._perturbation import Perturbations, execute
from ..targets import score_function
from ._cam import BaseCAM, cam_example, check_progress


def channel_masks(activations: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(K, H, W)``: channels ``(h, w, K)`` upsampled bilinearly, min-max normalised.

    A constant channel gives an all-zero mask.
    """
    rows = resize_matrix(activations.shape[0], size[0], "bilinear").astype(np.float32)
    cols = resize_matrix(activations.shape[1], size[1], "bilinear").astype(np.float32)
    masks = np.einsum("Hh,hwk,Ww->kHW", rows, activations, cols, optimize=True)
    low = masks.min(axis=(1, 2), keepdims=True)
    span = masks.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (masks - low) / np.where(span > 0, span, 1), 0).astype(np.float32)


def top_channels(activations: np.ndarray, count: int | None) -> np.ndarray:
    """The ``count`` channels of ``(h, w, C)`` with the largest spatial standard deviation."""
    channels = activations.shape[-1]
    if count is None or count >= channels:
        return np.arange(channels)
    spread = activations.reshape(-1, channels).std(axis=0)
    return np.sort(np.argsort(-spread, kind="stable")[:count])


class ScoreCAM(BaseCAM):
    __doc__ = """Score-CAM: channels weighted by the target's score on the image masked by them.

    ``M_k`` = channel ``A_k`` upsampled to the input (bilinear) and min-max normalised to
    [0, 1]; ``w_k`` = the target's score on ``image * M_k``; the map is
    ``ReLU(sum_k w_k A_k)``. For a classifier the score is the target's probability (the
    model's own softmax or sigmoid of the reduction layer's output, a softmax when the
    model has none); for regression and segmentation the score itself. Gradient-free: one
    forward pass per channel, in mini-batches of ``batch_size`` masked images (capped by
    ``max_batch_bytes``). Targets and ``roi="predicted"`` are decided on the unmasked image.

    Parameters
    ----------
    max_channels : int, optional
        Only this many channels, those with the largest spatial standard deviation (Faster
        Score-CAM); None = all.
    progress : bool, optional
        Show a progress bar; None = only on long runs in an interactive terminal.

    Other parameters are those of :class:`~explainkit.methods.BaseCAM`.

    References
    ----------
    H. Wang, Z. Wang, M. Du, F. Yang, Z. Zhang, S. Ding, P. Mardziel and X. Hu,
    "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks",
    CVPR Workshops 2020.
    """ + cam_example("ScoreCAM")

    method_name = "scorecam"

    def __init__(self, net, *, feature_layer="auto", reduction_layer="auto", reduction_fn=None,
                 output=None, reshape=None, output_upsampling="bicubic", relu=True,
                 class_names=None, batch_size=32, task="auto", max_channels=None, progress=None):
        super().__init__(
            net, feature_layer=feature_layer, reduction_layer=reduction_layer,
            reduction_fn=reduction_fn, output=output, reshape=reshape,
            output_upsampling=output_upsampling, relu=relu, class_names=class_names,
            batch_size=batch_size, task=task)
        self.max_channels = max_channels
        self.progress = progress

    def _validate_params(self) -> None:
        super()._validate_params()
        m = self.max_channels
        if m is not None and (isinstance(m, bool) or not isinstance(m, numbers.Integral)
                              or m < 1):
            raise ValueError(
                "The 'max_channels' parameter must be None or an int in the range [1, inf). "
                f"Got {m!r} instead.")
        check_progress(self.progress)

    def _squash(self) -> str | None:
        reduction = self._reduction
        if self.task_ != "classification" or self.reduction_fn is not None:
            return None
        if reduction.is_output and reduction.final_activation is not None:
            return None  # the reduction layer already outputs probabilities
        return "sigmoid" if reduction.final_activation == "sigmoid" else "softmax"

    def _layer_maps(self, images, index, roi_array, roi_mode, features, grids):
        adapter, reduction = self._adapter, self._reduction
        (A,), scores, resolved = self._forward(images, index, roi_array, roi_mode, features,
                                               grids)
        roi_array, roi_mode = self._frozen_roi(images, index, roi_array, roi_mode, resolved)
        score = adapter.reduction_scores(
            reduction, score_function(self.task_, roi_mode, reduction.threshold,
                                      self.reduction_fn), self._squash())
        size = images.shape[1:3]
        per_call = images_per_call(self.batch_size, images[0].nbytes)
        maps = []
        for i, image in enumerate(images):
            channels = top_channels(A[i], self.max_channels)

            def build(items: slice, out: np.ndarray, i=i, image=image, channels=channels):
                masks = channel_masks(A[i][..., channels[items]], size)
                np.multiply(image[None], masks[..., None], out=out)

            def scorer(batch, image_ids, _):
                return score(batch, resolved[image_ids], roi_array[image_ids])

            # One image at a time: its channels' masks are made as its batches need them.
            (weights,) = execute([Perturbations(np.full(len(channels), i), build)], scorer,
                                 batch_size=per_call, image_shape=images.shape[1:],
                                 progress=self.progress, desc="scorecam")
            maps.append(np.einsum("hwc,ck->hwk", A[i][..., channels], weights))
        return [np.stack(maps)], scores, resolved
