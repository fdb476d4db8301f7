"""RISE: the average of random soft masks, each weighted by the score of the image it keeps."""

from __future__ import annotations

import functools
import numbers

import numpy as np

from .._baselines import mask_values
from .._batching import images_per_call
from .._explanation import Explanation
from .._image import interpolation_matrix
from .._perturbation import Perturbations, execute
from .._validation import check_images, check_int, check_option
from ._blackbox import BlackBoxExplainer
from ._lime import _check_random_state

#: Masks per block. Each block is drawn from its own seed (``random_state`` and the block's
#: index), so the masks do not depend on the batches that reach them.
BLOCK = 64

#: How the weighted sum of the masks is normalised: per pixel by the masks' sum there
#: (E[score | pixel kept]), or by ``num_masks * p`` as in the paper.
NORMALIZATIONS = ("coverage", "paper")

#: Perturbed images built per slice of a run (small images: the slice stays in the cache).
CHUNK = 64


def seed_entropy(random_state) -> int:
    """The entropy the blocks' seeds derive from: ``random_state``'s, or a fresh one for None."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31 - 1))
    return int(random_state)


def _check_p(p) -> float:
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(
            "The 'p' parameter must be a float in the range (0, 1]. "
            f"Got {p!r} of type {type(p).__name__} instead."
        )
    if not 0 < p <= 1:  # NaN fails too
        raise ValueError(
            f"The 'p' parameter must be a float in the range (0, 1]. Got {p!r} instead.")
    return float(p)


@functools.lru_cache(maxsize=32)
def upsampling_matrix(grid_size: int, cell: int) -> np.ndarray:
    """The ``((grid_size + 1) * cell, grid_size)`` float32 matrix upsampling one grid axis.

    Bilinear with half-pixel centres and the borders mirrored about the first and last
    cell centres: scikit-image's ``resize(order=1, mode="reflect", anti_aliasing=False)``,
    as in the authors' code.
    """
    size = (grid_size + 1) * cell
    coords = (np.arange(size) + 0.5) * grid_size / size - 0.5  # in [-0.5, grid_size - 0.5]
    last = grid_size - 1
    coords = last - np.abs(last - np.abs(coords))  # reflected into [0, grid_size - 1]
    return interpolation_matrix(coords, grid_size, "bilinear").astype(np.float32)


class MaskBlocks:
    """RISE's masks for images of ``size`` ``(H, W)``, made one block of ``BLOCK`` at a time.

    Block ``b`` holds masks ``b * BLOCK`` to ``min((b + 1) * BLOCK, num_masks) - 1``; it is
    drawn from ``default_rng(SeedSequence(entropy, spawn_key=(b,)))`` (a full block is
    always drawn, so fewer masks are a prefix of more), whatever order the blocks are made in.
    """

    def __init__(self, entropy: int, num_masks: int, grid_size: int, p: float,
                 size: tuple[int, int]):
        self.entropy, self.num_masks = int(entropy), int(num_masks)
        self.grid_size, self.p = int(grid_size), float(p)
        self.size = (int(size[0]), int(size[1]))
        self.cells = tuple(-(-s // self.grid_size) for s in self.size)  # ceil(H / s), ceil(W / s)
        self.num_blocks = -(-self.num_masks // BLOCK)

    def count(self, block: int) -> int:
        """The number of masks in ``block`` (``BLOCK``, fewer in the last)."""
        return min(BLOCK, self.num_masks - block * BLOCK)

    def grids(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        """The binary grids ``(m, s, s)`` (True = kept, w.p. ``p``) and the crop shifts ``(m, 2)``.

        Shifts along each axis are uniform in ``[0, cell)``, ``cell = ceil(size / s)``.
        """
        rng = np.random.default_rng(np.random.SeedSequence(self.entropy, spawn_key=(block,)))
        s = self.grid_size
        grids = rng.random((BLOCK, s, s)) < self.p
        shifts = np.stack([rng.integers(0, cell, BLOCK) for cell in self.cells], axis=1)
        count = self.count(block)
        return grids[:count], shifts[:count]

    def block(self, block: int) -> np.ndarray:
        """The ``(m, H, W)`` float32 soft masks of ``block``, in [0, 1].

        Each grid upsampled bilinearly to ``(s + 1) * cell`` per axis (``upsampling_matrix``)
        and cropped to ``(H, W)`` at its shift:
        ``rows[shift_r:][:H] @ grid @ cols[shift_c:][:W].T``.
        """
        grids, shifts = self.grids(block)
        height, width = self.size
        rows = upsampling_matrix(self.grid_size, self.cells[0])[
            shifts[:, 0, None] + np.arange(height)]  # (m, H, s)
        cols = upsampling_matrix(self.grid_size, self.cells[1])[
            shifts[:, 1, None] + np.arange(width)]  # (m, W, s)
        masks = rows @ (grids.astype(np.float32) @ cols.transpose(0, 2, 1))
        return np.clip(masks, 0.0, 1.0, out=masks)


def _runs(start: int, stop: int, num_images: int, masks: MaskBlocks):
    """``(block, image, first, last, offset)`` for the items ``[start, stop)`` of a batch.

    Items are ``(image, mask)`` pairs ordered block by block, then image, then mask: a run
    is one image with the consecutive masks ``first..last - 1`` of one block, at ``offset``
    in the batch.
    """
    item = start
    while item < stop:
        block, rest = divmod(item, num_images * BLOCK)
        image, first = divmod(rest, masks.count(block))
        last = min(masks.count(block), first + stop - item)
        yield block, image, first, last, item - start
        item += last - first


def masked_sums(images: np.ndarray, replacement: np.ndarray, masks: MaskBlocks, scorer,
                num_targets: int, *, batch_size: int, progress, desc: str):
    """Score every image under every mask; the mask sums weighted by the scores.

    The masked copies ``x * M + (1 - M) * v`` are ``(image, mask)`` pairs ordered block by
    block, built into the executor's buffer and scored ``batch_size`` at a time by
    ``scorer(batch, image_ids) -> (B, num_targets)``.

    Returns
    -------
    sums : ndarray, shape (N, num_targets, H * W), float64
        ``sum_i score_i * M_i`` per image and target.
    coverage : ndarray, shape (H * W,), float64
        ``sum_i M_i``.
    """
    n, height, width, _ = images.shape
    # x * M + (1 - M) * v = v + M * (x - v): one multiply, and one add unless v is 0.
    difference = images - replacement
    offset = None if not replacement.any() else np.broadcast_to(replacement, images.shape)
    sums = np.zeros((n, num_targets, height * width))  # float64
    coverage = np.zeros(height * width)  # sum_i M_i per pixel, float64
    alive: dict[int, np.ndarray] = {}  # the blocks of the current batch
    counted: set[int] = set()

    def build(items: slice, out: np.ndarray) -> None:
        runs = list(_runs(items.start, items.stop, n, masks))
        for block in [b for b in alive if b not in {run[0] for run in runs}]:
            del alive[block]
        for block, image, first, last, at in runs:
            if block not in alive:
                alive[block] = masks.block(block)
                if block not in counted:  # items go block by block: made once each
                    np.add(coverage, alive[block].reshape(len(alive[block]), -1).sum(
                        axis=0, dtype=np.float64), out=coverage)
                    counted.add(block)
            for start in range(first, last, CHUNK):  # while the slice is cached
                stop = min(start + CHUNK, last)
                part = out[at + start - first : at + stop - first]
                np.multiply(alive[block][start:stop, :, :, None], difference[image], out=part)
                if offset is not None:
                    part += offset[image]

    def combine(items: slice, scores: np.ndarray) -> None:
        for block, image, first, last, at in _runs(items.start, items.stop, n, masks):
            sums[image] += scores[at : at + last - first].T @ alive[block][
                first:last].reshape(last - first, -1)

    image_ids = np.concatenate([np.repeat(np.arange(n), masks.count(b))
                                for b in range(masks.num_blocks)])
    execute([Perturbations(image_ids, build, combine=combine)],
            lambda batch, ids, _: scorer(batch, ids), batch_size=batch_size,
            image_shape=images.shape[1:], progress=progress, desc=desc)
    return sums, coverage


def normalize(sums: np.ndarray, coverage: np.ndarray, normalization: str,
              masks: MaskBlocks) -> np.ndarray:
    """The maps from :func:`masked_sums`: per pixel by the coverage, or by ``num_masks * p``."""
    if normalization == "paper":
        return sums / (masks.num_masks * masks.p)
    # E[score | pixel kept]; a pixel no mask keeps has no evidence: 0
    return np.divide(sums, coverage, out=np.zeros_like(sums), where=coverage > 0)


class RISE(BlackBoxExplainer):
    """RISE, Randomized Input Sampling for Explanation (Petsiuk et al., 2018), for any predictor.

    ``num_masks`` random soft masks ``M_i`` each keep part of the image; the map is the
    average of the masks weighted by the scores of the images they keep,
    ``sum_i score(x * M_i + (1 - M_i) * mask_value) * M_i / sum_i M_i`` per pixel: the
    expected score when a pixel is kept (``normalization="coverage"``, as Xplique), or
    divided by ``num_masks * p`` (the expected mask, ``normalization="paper"``), which
    leaves the noise of uneven mask coverage at finite ``num_masks`` in the map. Each mask
    is a ``grid_size x grid_size`` grid of cells kept with probability ``p``, upsampled
    bilinearly to ``(grid_size + 1) * ceil(H / grid_size)`` by
    ``(grid_size + 1) * ceil(W / grid_size)`` pixels and cropped to ``(H, W)`` at a
    random shift in ``[0, ceil(H / grid_size))`` x ``[0, ceil(W / grid_size))``. The masks
    are soft (values in [0, 1], as in the paper) and the same for every image.

    Details, following the authors' code:

    - Upsampling is scikit-image's ``resize(order=1, mode="reflect", anti_aliasing=False)``
      (bilinear, half-pixel centres, borders mirrored about the outer cell centres), computed
      as two small interpolation matrices per axis, so that the masks are the paper's
      (TensorFlow's edge-clamped bilinear, used by Xplique, differs in the outer half cell).
    - The paper divides by ``num_masks * p``; by default the sum of the masks at each pixel
      is used instead (the two agree as ``num_masks`` grows; on 3-class shapes with 1,000
      masks the per-pixel one points at the object far more often, see the README).
    - Each mask has its own shift (Xplique crops a whole batch of masks at one shift).

    Masks are made ``BLOCK`` (64) at a time, each block from its own seed derived from
    ``random_state``, as the batches reach them: memory holds about one batch of masks and
    images, never all the masks, and the masks (hence the maps) do not depend on
    ``batch_size``. The perturbed images are ``(image, mask)`` pairs scored in mini-batches.

    Parameters
    ----------
    net : keras.Model, scikit-learn estimator or callable
        A Keras model (its output is scored: probabilities if it outputs them), an
        estimator or Pipeline taking the image batch (``predict_proba``, else
        ``decision_function``, else ``predict``), or any ``f(images) -> scores``.
    num_masks : int, default=2000
        Random masks (model evaluations per image).
    grid_size : int, default=7
        Cells of the mask grid along each axis (at most the image's height and width).
    p : float, default=0.5
        Probability that a cell is kept, in (0, 1].
    mask_value : number, array, "mean", "blur" or "auto", default=0
        What the hidden part of the image shows: 0 as in the paper (whose inputs were
        mean-centred, so 0 was the data's mean; on images in [0, 1] it paints black
        shapes, and "mean" or a background value localise better); "mean" (or "auto") =
        the image's per-channel mean; "blur" = the image blurred (Gaussian, sigma 5% of
        its size); a number; one value per channel; or a replacement image ``(H, W, C)``
        (or ``(N, H, W, C)``, one per image).
    normalization : {"coverage", "paper"}, default="coverage"
        Divide the weighted sum of the masks by their sum at each pixel (a pixel that no
        mask keeps gets 0), or by ``num_masks * p`` as in the paper.
    batch_size : "auto" or int, default="auto"
        Perturbed images per model call: "auto" = as many as ``max_batch_bytes`` allows
        (see :func:`explainkit.set_config`), at most 1024; an int is capped by that budget too.
    random_state : None, int, numpy Generator or RandomState
        Seeds the masks: equal seeds give equal masks and maps whatever ``batch_size`` is;
        None draws a fresh seed at each ``explain`` (recorded as ``params["seed"]``).
    class_names : sequence of str, optional
        Names of the outputs, so that targets can be given by name.
    progress : bool, optional
        Show a progress bar; None = only on long runs in an interactive terminal.
    output : int or str, optional
        For a model with several outputs (a list, tuple or dict): the output to explain,
        by index or by name (the producing layer's name, or the dict key).
    task : {"auto", "classification", "regression", "segmentation"}, default="auto"
        As for :class:`~explainkit.OcclusionSensitivity`.

    References
    ----------
    .. [1] V. Petsiuk, A. Das and K. Saenko, "RISE: Randomized Input Sampling for
       Explanation of Black-box Models", British Machine Vision Conference (BMVC), 2018.
       https://arxiv.org/abs/1806.07421 (code: https://github.com/eclique/RISE)

    Examples
    --------
    >>> import numpy as np
    >>> from explainkit.methods._rise import RISE
    >>> f = lambda X: X[:, :4, :4, 0].mean(axis=(1, 2))[:, None]  # the top-left quadrant
    >>> rise = RISE(f, num_masks=500, grid_size=4, random_state=0).fit()
    >>> score_map = rise.explain(np.ones((8, 8, 1))).score_map
    >>> bool(score_map[:4, :4].min() > score_map[4:, 4:].max())
    True
    """

    method_name = "rise"

    #: RISE's maps are per pixel already (``_check_common`` checks this attribute).
    output_upsampling = "none"

    def __init__(self, net, *, num_masks=2000, grid_size=7, p=0.5, mask_value=0,
                 normalization="coverage", batch_size="auto", random_state=None,
                 class_names=None, progress=None, output=None, task="auto"):
        self.net = net
        self.num_masks = num_masks
        self.grid_size = grid_size
        self.p = p
        self.mask_value = mask_value
        self.normalization = normalization
        self.batch_size = batch_size
        self.random_state = random_state
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
        check_int("num_masks", self.num_masks, minimum=1)
        check_int("grid_size", self.grid_size, minimum=1)
        _check_p(self.p)
        check_option("normalization", self.normalization, NORMALIZATIONS)
        _check_random_state(self.random_state)
        self._check_common()
        return self

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """RISE maps of ``X`` for ``target``.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)`` (or ``(H, W)``) or a batch ``(N, H, W, C)``.
        target : int, str, list, ndarray or None
            Class, output or segmentation class; a list gives one map per target; a numpy
            array ``(N,)`` / ``(N, K)`` the target(s) of each image; None = the prediction
            on the unmasked image (regression: output 0).
        roi : bool array or "predicted", optional
            Segmentation only: the output pixels whose class scores are summed; "predicted"
            = the pixels predicted as the class on the unmasked image.

        Returns
        -------
        Explanation
            ``scores`` are those of the unmasked images; ``params`` records the ``seed``
            the masks were drawn from (``random_state=params["seed"]`` gives them again).
        """
        self._check_fitted()
        images, single_image = check_images(X, input_shape=self._predictor.input_shape)
        n, height, width, _ = images.shape
        if self.grid_size > min(height, width):
            raise ValueError(
                f"grid_size={self.grid_size} is larger than the images ({height}, {width}): "
                "a mask grid needs at least one pixel per cell."
            )
        replacement = mask_values(self.mask_value, images)
        entropy = seed_entropy(self.random_state)
        masks = MaskBlocks(entropy, self.num_masks, self.grid_size, self.p, (height, width))

        batch_size = images_per_call(self.batch_size, images[0].nbytes)
        task, single_target, score, base_scores, resolved, roi_array = self._resolve_on(
            images, target, roi, batch_size)

        def scorer(batch, image_ids):
            return self._scores(batch, resolved[image_ids], roi_array[image_ids], score)

        sums, coverage = masked_sums(images, replacement, masks, scorer, resolved.shape[1],
                                     batch_size=batch_size, progress=self.progress,
                                     desc="rise")
        maps = normalize(sums, coverage, self.normalization, masks)
        maps = maps.reshape(n, -1, height, width)
        return self._explanation(
            maps.transpose(0, 2, 3, 1), targets=resolved, scores=base_scores, task=task,
            images=images, single_image=single_image, single_target=single_target,
            output=self._output_label(images.shape[1:]),
            params={**self._run_params(), "seed": entropy},
        )  # fmt: skip
