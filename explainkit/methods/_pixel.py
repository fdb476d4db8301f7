"""The pixel attributions' shared machinery: input gradients, averaged over copies, reduced.

A variant subclasses :class:`PixelAttribution` and says what it does with the input and
its gradients (``_attributions``). The score differentiated is Grad-CAM's — the reduction
layer's output for the target — and every gradient comes from one compiled function per
(model, reduction, score, guided), with all the copies of a mini-batch in one call.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._batching import batches
from .._explanation import Explanation
from .._models._buffers import batch_buffer
from .._validation import check_images, check_option
from ..base import Explainer
from ..targets import score_function
from ._scoring import (
    check_scoring,
    detection_fields,
    explain_targets,
    fit_scoring,
    frozen_roi,
)

#: How per-channel values become one map: the paper's choices.
CHANNEL_REDUCTIONS = ("max", "sum", "l2")


def reduce_channels(values: np.ndarray, how: str | None) -> np.ndarray:
    """``(N, H, W, C, K)`` values as ``(N, H, W, K)`` maps.

    "max": the largest ``|value|`` over channels (Simonyan et al.); "sum": the sum of
    ``|value|``; "l2": the Euclidean norm; "signed-sum": the plain sum (gradient x input,
    Integrated Gradients); None: the mean (the values themselves are kept).
    """
    if how == "max":
        return np.abs(values).max(axis=3)
    if how == "sum":
        return np.abs(values).sum(axis=3)
    if how == "l2":
        return np.sqrt(np.square(values).sum(axis=3))
    if how == "signed-sum":
        return values.sum(axis=3)
    return values.mean(axis=3)


def check_channel_reduction(value) -> None:
    if value is not None:
        check_option("channel_reduction", value, CHANNEL_REDUCTIONS)


def check_random_state(random_state) -> int:
    """A seed from ``random_state`` (None: fresh; an int; a numpy Generator: drawn from)."""
    if random_state is None:
        return int(np.random.default_rng().integers(2**63 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral):
        raise TypeError(
            f"random_state must be None, an int or a numpy Generator; got {random_state!r}.")
    return int(random_state)


class PixelAttribution(Explainer):
    """Base class of the pixel-gradient methods on Keras models.

    Subclasses define ``__init__`` (``net``, ``reduction_layer="auto"``,
    ``reduction_fn=None``, ``output=None``, ``class_names=None``, ``batch_size=32``,
    ``task="auto"`` and their own options), ``_check`` and ``_attributions``.
    """

    #: Backpropagate through guided ReLUs (guided backpropagation).
    guided = False
    #: How the channels are reduced when the variant has no ``channel_reduction``.
    reduction = "signed-sum"

    def _check(self) -> None:
        """Check the variant's own parameters (fit)."""

    def fit(self, X=None, y=None):
        """Resolve the reduction layer and the task; return ``self``.

        Parameters
        ----------
        X : array-like, optional
            An example image; needed only when the model's input size is not fixed.
        y : ignored
        """
        check_scoring(self)
        self._check()
        self._adapter, _, self._reduction = fit_scoring(self, X)
        return self

    def _score_function(self, roi_mode: str):
        return score_function(self.task_, roi_mode, self._reduction.threshold, self.reduction_fn)

    def _gradients(self, images, index, roi_array, roi_mode):
        """``(d score / d x (N, H, W, C, K), scores (N, K), resolved (N, K))``, one pass."""
        function = self._adapter.input_gradient_function(
            self._reduction, self._score_function(roi_mode), self.guided)
        parts = [function(images[c], index[c], roi_array[c])
                 for c in batches(len(images), self.batch_size)]
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))

    def _resolve(self, images, index, roi_array, roi_mode):
        """``(scores, resolved, roi_array, roi_mode)`` of the unchanged images.

        Methods that differentiate changed copies (noise, path steps) score the targets
        chosen — and the ``roi="predicted"`` pixels — on the unchanged image.
        """
        forward = self._adapter.forward_function((), self._reduction,
                                                 self._score_function(roi_mode))
        parts = [forward(images[c], index[c], roi_array[c])
                 for c in batches(len(images), self.batch_size)]
        scores = np.concatenate([p[1] for p in parts])
        resolved = np.concatenate([p[2] for p in parts])
        roi_array, roi_mode = frozen_roi(self._adapter, self._reduction, images, index,
                                         roi_array, roi_mode, resolved, self.batch_size)
        return scores, resolved, roi_array, roi_mode

    def _resolve_unless_known(self, images, index, roi_array, roi_mode):
        """``_resolve``, or ``(None, index, roi_array, roi_mode)`` when the targets need no
        forward pass of the unchanged images: all given (no prediction to take), no
        ``roi="predicted"`` to freeze, no ``reduction_fn``. The caller then scores the
        unchanged images among its copies (``_mean_gradients``'s ``extra``)."""
        if self.reduction_fn is None and roi_mode != "predicted" and bool((index >= 0).all()):
            return None, index, roi_array, roi_mode
        return self._resolve(images, index, roi_array, roi_mode)

    @staticmethod
    def _extra_batch(extra, chunk: slice, images: np.ndarray):
        """``(kinds, image ids, batch)`` of the extra items ``chunk`` (extra-major: item
        ``k * N + i`` is extra copy ``k`` of image ``i``), built by ``extra[k]``."""
        kinds, ids = np.divmod(np.arange(chunk.start, chunk.stop), len(images))
        out = np.empty((len(ids), *images.shape[1:]), dtype=np.float32)
        for k in np.unique(kinds):
            part = slice(*np.searchsorted(kinds, [k, k + 1]))
            extra[k](ids[part], out[part])
        return kinds, ids, out

    def _mean_gradients(self, images, resolved, roi_array, roi_mode, count: int, build,
                        progress=None, desc: str = "", square: bool = False, extra=(),
                        weigh=None):
        """The mean over ``count`` copies per image of ``d score / d copy`` (or its square).

        Copies are numbered sample-major (copy ``j`` of image ``i`` is item
        ``j * N + i``); ``build(images_ids, copies, out)`` writes them into the reused
        batch buffer. ``extra`` are builds ``f(image_ids, out)`` of further copies per image
        (the unchanged image, a baseline) whose scores only are wanted: forward only, they
        ride along in the first gradient calls instead of calls of their own.
        ``weigh(image_ids, copies, gradients)`` returns each copy's gradients weighted
        (expected gradients' ``x - baseline``) before they are summed. Returns
        ``(N, H, W, C, K)`` and the ``(N, len(extra), K)`` scores of the extra copies.
        """
        n = len(images)
        score_fn = self._score_function(roi_mode)
        function = self._adapter.input_gradient_function(self._reduction, score_fn,
                                                         self.guided)
        scored = self._adapter.input_gradient_function(self._reduction, score_fn,
                                                       self.guided, scored=True)
        total = np.zeros((*images.shape, resolved.shape[1]), dtype=np.float64)
        extra_scores = np.empty((n, len(extra), resolved.shape[1]), dtype=np.float32)
        pending = list(batches(n * len(extra), self.batch_size))  # extra-major items
        size = min(self.batch_size, n * count)
        with batch_buffer((size, *images.shape[1:])) as buffer:
            for chunk in batches(n * count, self.batch_size, progress=progress, desc=desc):
                copies, ids = np.divmod(np.arange(chunk.start, chunk.stop), n)
                batch = buffer[:len(ids)]
                build(ids, copies, batch)
                if pending:
                    kinds, others, batch2 = self._extra_batch(extra, pending.pop(0), images)
                    gradients, _, _, scores2 = scored(batch, resolved[ids], roi_array[ids],
                                                      batch2, resolved[others],
                                                      roi_array[others])
                    extra_scores[others, kinds] = scores2
                else:
                    gradients, _, _ = function(batch, resolved[ids], roi_array[ids])
                if square:
                    gradients = np.square(gradients)
                if weigh is not None:
                    gradients = weigh(ids, copies, gradients)
                for i in np.unique(ids):  # a few images per batch: sums, not np.add.at
                    total[i] += gradients[ids == i].sum(axis=0, dtype=np.float64)
        if pending:  # more extra items than copies (one copy per image, several extras)
            forward = self._adapter.forward_function((), self._reduction, score_fn)
            for chunk in pending:
                kinds, others, batch2 = self._extra_batch(extra, chunk, images)
                extra_scores[others, kinds] = forward(batch2, resolved[others],
                                                      roi_array[others])[1]
        return (total / count).astype(np.float32), extra_scores

    def _attributions(self, images, index, roi_array, roi_mode):
        """``(attributions (N, H, W, C, K), scores, resolved, extra fields)``."""
        raise NotImplementedError

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """Attribute the score of ``target`` to the pixels of ``X``.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)`` (or ``(H, W)``) or a batch ``(N, H, W, C)``,
            preprocessed as the model expects.
        target : int, str, list, ndarray or None
            Class, output or segmentation class; a list gives one map per target for every
            image, a numpy array ``(N,)`` / ``(N, K)`` the target(s) of each image; None =
            the prediction (regression: output 0).
        roi : bool array or "predicted", optional
            Segmentation only: the output pixels whose class scores are summed.

        Returns
        -------
        Explanation
            ``maps`` ``(N, H, W, K)``; ``attributions`` ``(N, H, W, C, K)`` with
            ``channel_reduction=None``.
        """
        self._check_fitted()
        adapter = self._adapter
        images, single_image = check_images(X, input_shape=adapter.input_shape)
        graph = adapter.graph(images.shape[1:])
        index, single_target, roi_array, roi_mode, detected = explain_targets(
            self, images, target, roi, graph, self._reduction)
        attributions, scores, resolved, extra = self._attributions(images, index, roi_array,
                                                                   roi_mode)
        how = getattr(self, "channel_reduction", self.reduction)
        maps = reduce_channels(attributions, how)
        if how is None:
            extra = {**extra, "attributions": attributions}
        maps, detection = detection_fields(self, detected, maps)
        extra = {**extra, **detection}
        return self._explanation(
            maps, targets=None if self.reduction_fn is not None else resolved, scores=scores,
            task=self.task_, images=images, single_image=single_image,
            single_target=single_target, reduction_layer=self.reduction_layer_,
            output=self.output_, **extra,
        )  # fmt: skip


PIXEL_PARAMETERS = """
    net : keras.Model
        A Keras 3 model (Functional, Sequential, nested, loaded from ``.keras`` / ``.h5``,
        or subclassed).
    reduction_layer : str or keras.layers.Layer, default="auto"
        The layer whose output is scored: "auto" = the logits before a final softmax /
        sigmoid, else the output (as Grad-CAM).
    reduction_fn : callable, optional
        ``reduction_fn(outputs) -> (n,)`` replaces ``target`` (keras.ops code).
    output : int or str, optional
        For a model with several outputs: the output to explain.
    class_names : sequence of str, optional
        Names of the outputs, so that targets can be given by name.
    batch_size : int, default=32
        Images (copies) per model call.
    task : {"auto", "classification", "regression", "segmentation"}, default="auto"
        As for Grad-CAM."""
