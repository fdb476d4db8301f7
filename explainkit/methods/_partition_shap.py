"""Partition SHAP: Owen values over a balanced hierarchy of image rectangles (shap's Partition)."""

from __future__ import annotations

import functools
import heapq
import itertools
import re
import sys

import numpy as np
from scipy import ndimage
from tqdm.auto import tqdm

from .._baselines import mask_values
from .._batching import PROGRESS_MIN_CALLS, images_per_call
from .._explanation import Explanation
from .._perturbation import Perturbations, execute
from .._validation import check_images, check_int
from ._blackbox import BlackBoxExplainer

#: Expansions per image per round (2 images each), whatever ``batch_size`` is: the order
#: in which the hierarchy is expanded, hence the values, do not depend on the batches.
ROUND = 64

#: ``"blur(kw,kh)"``: a box blur of ``kh`` rows by ``kw`` columns (cv2.blur's ksize order).
_BLUR = re.compile(r"blur\(\s*(\d+)\s*,\s*(\d+)\s*\)")

#: The named fills besides ``"blur(kw,kh)"`` (explainkit's own, see ``mask_values``).
_NAMED = ("auto", "mean", "blur")


def box_kernel(mask_value) -> tuple[int, int] | None:
    """``(kh, kw)`` of a ``"blur(kw,kh)"`` fill, else None."""
    match = _BLUR.fullmatch(mask_value) if isinstance(mask_value, str) else None
    return None if match is None else (int(match[2]), int(match[1]))


def box_blur(images: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """Each image's channels averaged over a ``kh x kw`` box, as OpenCV's ``cv2.blur``.

    Window ``[i - kh // 2, i - kh // 2 + kh)`` (OpenCV's default anchor, the kernel's
    centre) along rows, likewise along columns; borders reflected without repeating the
    edge (OpenCV's BORDER_REFLECT_101, scipy's ``"mirror"``).
    """
    return ndimage.uniform_filter(images, size=(1, *kernel, 1), mode="mirror").astype(
        np.float32)


def fill_values(mask_value, images: np.ndarray) -> np.ndarray:
    """The hidden pixels' values, broadcastable to ``images`` (see :class:`PartitionSHAP`)."""
    kernel = box_kernel(mask_value)
    if kernel is not None:
        return box_blur(images, kernel)
    return mask_values(mask_value, images)


def _check_mask_value(mask_value) -> None:
    if not isinstance(mask_value, str):
        return  # numbers and arrays are checked against the images by mask_values
    kernel = box_kernel(mask_value)
    if mask_value in _NAMED or (kernel is not None and min(kernel) >= 1):
        return
    raise ValueError(
        "The 'mask_value' parameter must be 'blur(kw,kh)' with kw, kh >= 1 (a box blur, "
        "shap's 'blur(16,16)'), 'blur', 'mean', 'auto', a number, one value per channel "
        f"or an image. Got {mask_value!r} instead."
    )


def split(rect: tuple) -> tuple[tuple, tuple]:
    """The two halves of ``rect = (r0, r1, c0, c1)``, as shap's image masker splits.

    Along rows when the rectangle is at least as tall as it is wide, else along columns;
    the first half (top or left) has ``size // 2`` rows or columns.
    """
    r0, r1, c0, c1 = rect
    if r1 - r0 >= c1 - c0:
        mid = r0 + (r1 - r0) // 2
        return (r0, mid, c0, c1), (mid, r1, c0, c1)
    mid = c0 + (c1 - c0) // 2
    return (r0, r1, c0, mid), (r0, r1, mid, c1)


def _is_pixel(rect: tuple) -> bool:
    return rect[1] - rect[0] == 1 and rect[3] - rect[2] == 1


@functools.lru_cache(maxsize=256)
def _expansions(height: int, width: int) -> int:
    """Expansions below one queue item of a ``height x width`` rectangle, down to pixels."""
    if height == width == 1:
        return 0
    first, second = split((0, height, 0, width))
    return 1 + 2 * (_expansions(first[1] - first[0], first[3] - first[2])
                    + _expansions(second[1] - second[0], second[3] - second[2]))


def evaluations(max_evals: int, height: int, width: int) -> int:
    """Model evaluations per image: 2 for the root, 2 per expansion, within ``max_evals``.

    ``min(2 + 2 * ((max_evals - 2) // 2), 2 + 2 * E)``, E the expansions of the whole
    hierarchy (a rectangle at depth d is expanded in its ``2 ** d`` contexts).
    """
    return min(2 + 2 * ((max_evals - 2) // 2), 2 + 2 * _expansions(height, width))


class _Owen:
    """One image's Owen recursion: a priority queue of (rectangle, weight, context) items.

    An item ``(rect, w, context, f00, f11)`` says that the pixels of ``rect`` change the
    score from ``f00 = v(context)`` to ``f11 = v(context + rect)`` (``context``: the
    rectangles kept, all else hidden), with weight ``w``. Expanding it scores the two
    halves L, R of ``rect`` in the context (``f10``, ``f01``) and queues the four items
    (L, w/2, context, f00, f10), (R, w/2, context, f00, f01), (L, w/2, context + R, f01,
    f11), (R, w/2, context + L, f10, f11); an item left unexpanded (a pixel, or the
    budget spent) credits ``w * (f11 - f00)`` to its pixels, equally. The credits of an
    item's four children sum to its own, so the map sums to ``v(all) - v(none)``.
    """

    def __init__(self, height: int, width: int, max_evals: int, f11: np.ndarray):
        self.root = (0, height, 0, width)
        self.max_evals = max_evals
        self.f11 = f11
        self.values = np.zeros((height, width, len(f11)))  # float64
        self.heap: list = []
        self.order = itertools.count()  # ties: the item queued first goes first
        self.expanding: list = []
        self.used = 0
        self.base = None  # v(nothing kept)
        self.done = False

    def first_requests(self) -> list[tuple]:
        """The contexts to score first: nothing kept, and the root's two halves."""
        self.expanding = []
        if not _is_pixel(self.root) and self.max_evals >= 4:
            self.expanding = [(self.root, 1.0, (), None, self.f11)]
        return [(), *self._halves()]

    def first_scores(self, scores: np.ndarray) -> None:
        self.base = scores[0]
        self.used = 2  # v(nothing kept), and v(all kept) scored on the unchanged image
        if self.expanding:
            rect, weight, context, _, f11 = self.expanding[0]
            self.expanding = [(rect, weight, context, self.base, f11)]
            self.scores(scores[1:])
        else:
            self._credit(self.root, 1.0, self.base, self.f11)
            self.done = True

    def requests(self) -> list[tuple]:
        """The contexts of this round's expansions (none: the recursion is over)."""
        limit = min(ROUND, (self.max_evals - self.used) // 2)
        self.expanding = [heapq.heappop(self.heap)[2] for _ in range(min(limit, len(self.heap)))]
        if not self.expanding:
            for *_, (rect, weight, _, f00, f11) in self.heap:  # the budget is spent
                self._credit(rect, weight, f00, f11)
            self.heap = []
            self.done = True
        return self._halves()

    def scores(self, scores: np.ndarray) -> None:
        """Queue the children of this round's expansions, given their scores (2 each)."""
        for (rect, weight, context, f00, f11), f10, f01 in zip(
                self.expanding, scores[0::2], scores[1::2], strict=True):
            left, right = split(rect)
            half = weight / 2
            self._push(left, half, context, f00, f10)
            self._push(right, half, context, f00, f01)
            self._push(left, half, (*context, right), f01, f11)
            self._push(right, half, (*context, left), f10, f11)
        self.used += 2 * len(self.expanding)

    def _halves(self) -> list[tuple]:
        out = []
        for rect, _, context, _, _ in self.expanding:
            left, right = split(rect)
            out += [(*context, left), (*context, right)]
        return out

    def _push(self, rect, weight, context, f00, f11) -> None:
        if _is_pixel(rect):  # never expanded: credited at once (the order does not matter)
            self._credit(rect, weight, f00, f11)
            return
        priority = weight * float(np.max(np.abs(f11 - f00)))
        heapq.heappush(self.heap, (-priority, next(self.order),
                                   (rect, weight, context, f00, f11)))

    def _credit(self, rect, weight, f00, f11) -> None:
        r0, r1, c0, c1 = rect
        self.values[r0:r1, c0:c1] += weight * (f11 - f00) / ((r1 - r0) * (c1 - c0))


class PartitionSHAP(BlackBoxExplainer):
    """Partition SHAP (shap's Partition explainer on images): Owen values, for any predictor.

    The image is split recursively in two halves (along rows when a rectangle is at least
    as tall as it is wide, else along columns; the top or left half takes ``size // 2``),
    down to single pixels, as ``shap.maskers.Image`` builds its hierarchy. A node is a
    rectangle of pixels with all its channels, so the values are per pixel (shap's
    masker also splits a pixel's channels at the very bottom, which ``max_evals`` of a
    few hundred never reaches: its values summed over channels are these). shap's
    ``owen`` recursion then spends ``max_evals`` model evaluations per image, each a copy
    keeping some rectangles and showing ``mask_value`` elsewhere: the root costs two
    (nothing kept, everything kept: the unchanged image), and each expansion of a queue
    item (a rectangle in a context of kept rectangles, with a weight) two more (each half
    added to the context), queueing four half-weight items; the item with the largest
    ``weight * max_k |v(context + rect) - v(context)|`` over the K targets is expanded
    first (ties: the first queued). An item not expanded gives ``weight * (v(context +
    rect) - v(context))`` to its rectangle, equally to each pixel. With a budget large
    enough to expand every item the maps are the exact Owen values (Winter's values for
    the nested coalition structure); always they sum, per image and target, to
    ``scores - base_values`` = v(image) - v(all hidden) (efficiency): the Explanation's
    ``base_values`` are v(all hidden).

    Items are expanded in rounds of up to ``ROUND`` (64) per image, capped by the budget
    left (shap expands a batch of items before scoring too): the images of a batch
    advance round by round, each round's copies scored in mini-batches of
    ``batch_size``, so the maps depend on neither ``batch_size`` nor the other images.
    The K targets of an image share one expansion order, as shap's outputs do.

    Parameters
    ----------
    net : keras.Model, scikit-learn estimator or callable
        A Keras model (its output is scored: probabilities if it outputs them), an
        estimator or Pipeline taking the image batch (``predict_proba``, else
        ``decision_function``, else ``predict``), or any ``f(images) -> scores``.
    max_evals : int, default=500
        Model evaluations per image, at least 2, the unchanged image included (an odd
        budget leaves one unused; a small image may need fewer than the budget).
    mask_value : str, number or array, default="blur(16,16)"
        What hidden pixels show: ``"blur(kw,kh)"`` = the image blurred by a ``kh x kw``
        box (mean) filter, as ``shap.maskers.Image("blur(kw,kh)", shape)`` does with
        ``cv2.blur(image, (kw, kh))`` (anchor at the kernel's centre, borders reflected
        without repeating the edge pixel; in float32); explainkit's ``"blur"`` (a
        Gaussian of sigma 5% of the image's size), ``"mean"`` (or ``"auto"``) = the
        image's per-channel mean; a number; one value per channel; or a replacement
        image ``(H, W, C)`` (or ``(N, H, W, C)``, one per image).
    batch_size : "auto" or int, default="auto"
        Images per model call: "auto" = as many as ``max_batch_bytes`` allows (see
        :func:`explainkit.set_config`), at most 1024; an int is capped by that budget too.
    class_names : sequence of str, optional
        Names of the outputs, so that targets can be given by name.
    progress : bool, optional
        Show a progress bar; None = only on long runs in an interactive terminal.
    output : int or str, optional
        For a model with several outputs (a list, tuple or dict): the output to explain,
        by index or by name (the producing layer's name, or the dict key).
    task : {"auto", "classification", "regression", "segmentation"}, default="auto"
        As for :class:`~explainkit.OcclusionSensitivity`.

    See Also
    --------
    explainkit.ImageLIME : a surrogate fitted to random coalitions of superpixels.

    References
    ----------
    .. [1] S. M. Lundberg and S.-I. Lee, "A Unified Approach to Interpreting Model
       Predictions", Advances in Neural Information Processing Systems 30 (NeurIPS), 2017.
       https://arxiv.org/abs/1705.07874
    .. [2] shap's ``PartitionExplainer`` and ``maskers.Image``:
       https://github.com/shap/shap (``shap/explainers/_partition.py``).
    .. [3] G. Owen, "Values of games with a priori unions", in Mathematical Economics and
       Game Theory, Lecture Notes in Economics and Mathematical Systems 141, Springer,
       1977, pp. 76-88.

    Examples
    --------
    >>> import numpy as np
    >>> from explainkit import PartitionSHAP
    >>> f = lambda X: X[:, :4, :4, 0].mean(axis=(1, 2))[:, None]  # the top-left quadrant
    >>> explainer = PartitionSHAP(f, max_evals=100, mask_value=0).fit()
    >>> explanation = explainer.explain(np.ones((8, 8, 1)))
    >>> float(explanation.score_map[:4, :4].sum().round(6))  # f(image) - f(all hidden)
    1.0
    >>> float(np.abs(explanation.score_map[4:]).max())
    0.0
    """

    method_name = "partition_shap"

    #: The maps are per pixel already (``_check_common`` checks this attribute).
    output_upsampling = "none"

    def __init__(self, net, *, max_evals=500, mask_value="blur(16,16)", batch_size="auto",
                 class_names=None, progress=None, output=None, task="auto"):
        self.net = net
        self.max_evals = max_evals
        self.mask_value = mask_value
        self.batch_size = batch_size
        self.class_names = class_names
        self.progress = progress
        self.output = output
        self.task = task

    def fit(self, X=None, y=None):
        """Validate the parameters and wrap the predictor; return ``self``.

        Parameters
        ----------
        X, y : ignored
            Accepted for scikit-learn compatibility.
        """
        check_int("max_evals", self.max_evals, minimum=2)
        _check_mask_value(self.mask_value)
        self._check_common()
        return self

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """Partition SHAP maps of ``X`` for ``target``.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)`` (or ``(H, W)``) or a batch ``(N, H, W, C)``.
        target : int, str, list, ndarray or None
            Class, output or segmentation class; a list gives one map per target; a numpy
            array ``(N,)`` / ``(N, K)`` the target(s) of each image; None = the prediction
            on the unchanged image (regression: output 0).
        roi : bool array or "predicted", optional
            Segmentation only: the output pixels whose class scores are summed; "predicted"
            = the pixels predicted as the class on the unchanged image.

        Returns
        -------
        Explanation
            ``maps`` ``(N, H, W, K)``: the signed value of each pixel; ``scores``: the
            unchanged images' scores; ``base_values`` ``(N, K)``: the scores with every
            pixel hidden (each map sums to ``scores - base_values``).
        """
        self._check_fitted()
        images, single_image = check_images(X, input_shape=self._predictor.input_shape)
        n, height, width, _ = images.shape
        fill = np.broadcast_to(fill_values(self.mask_value, images), images.shape)
        batch_size = images_per_call(self.batch_size, images[0].nbytes)
        task, single_target, score, base_scores, resolved, roi_array = self._resolve_on(
            images, target, roi, batch_size)
        max_evals = int(self.max_evals)
        games = [_Owen(height, width, max_evals, base_scores[i].astype(np.float64))
                 for i in range(n)]

        def scorer(batch, image_ids, _):
            return self._scores(batch, resolved[image_ids], roi_array[image_ids], score)

        def run(requests: list[list[tuple]]) -> list[np.ndarray]:
            """Score each image's contexts (tuples of kept rectangles); scores per image."""
            wanted = [(i, kept) for i, image_requests in enumerate(requests)
                      for kept in image_requests]

            def build(items: slice, out: np.ndarray) -> None:
                for copy, (i, kept) in zip(out, wanted[items], strict=True):
                    copy[...] = fill[i]
                    for r0, r1, c0, c1 in kept:
                        copy[r0:r1, c0:c1] = images[i, r0:r1, c0:c1]

            image_ids = np.array([i for i, _ in wanted], dtype=np.intp)
            [scores] = execute([Perturbations(image_ids, build)], scorer,
                               batch_size=batch_size, image_shape=images.shape[1:],
                               progress=False)
            bar.update(len(wanted))
            counts = np.cumsum([0, *map(len, requests)])
            return [scores[a:b].astype(np.float64) for a, b in itertools.pairwise(counts)]

        total = n * evaluations(max_evals, height, width)
        show = self.progress
        if show is None:
            show = total >= PROGRESS_MIN_CALLS * batch_size and sys.stderr.isatty()
        with tqdm(total=total, initial=n, desc="partition_shap", unit="image",
                  disable=not show, leave=False) as bar:  # the unchanged images are scored
            for game, scores in zip(games, run([g.first_requests() for g in games]),
                                    strict=True):
                game.first_scores(scores)
            while not all(g.done for g in games):
                requests = [[] if g.done else g.requests() for g in games]
                for game, scores in zip(games, run(requests), strict=True):
                    if len(scores):
                        game.scores(scores)
        return self._explanation(
            np.stack([g.values for g in games]), targets=resolved, scores=base_scores,
            task=task, images=images, single_image=single_image, single_target=single_target,
            base_values=np.stack([g.base for g in games]).astype(np.float32),
            output=self._output_label(images.shape[1:]),
        )  # fmt: skip
