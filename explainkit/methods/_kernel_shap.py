"""KernelSHAP: Shapley values of image features (superpixels, grid cells, your labels)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .._baselines import mask_values
from .._batching import images_per_call
from .._explanation import Explanation
from .._perturbation import Perturbations, execute
from .._segmentation import check_segmentation, feature_maps, pixel_maps, pixel_upsampling
from .._validation import check_images, check_int
from ._blackbox import BlackBoxExplainer
from ._lime import _check_random_state, _Perturber, image_generators

#: Random draws of pairs allowed per pair still wanted (duplicates are merged, so a
#: nearly exhausted space of coalitions could otherwise be drawn from for a long time).
MAX_DRAWS_PER_PAIR = 16


def all_coalitions(num_features: int) -> np.ndarray:
    """``(2**F, F)`` booleans: row ``m`` keeps feature ``i`` when bit ``i`` of ``m`` is set."""
    codes = np.arange(2**num_features)
    return ((codes[:, None] >> np.arange(num_features)) & 1).astype(bool)


def exact_shapley(values: np.ndarray, num_features: int) -> np.ndarray:
    """``(F, K)`` Shapley values from the ``(2**F, K)`` values of all coalitions.

    ``values[m]`` is ``v`` of the coalition of :func:`all_coalitions` row ``m``;
    ``phi_i = sum_{S not containing i} |S|! (F - |S| - 1)! / F! (v(S + i) - v(S))``.
    """
    codes = np.arange(2**num_features)
    sizes = all_coalitions(num_features).sum(axis=1)
    weights = np.array([1.0 / (num_features * math.comb(num_features - 1, s))
                        for s in range(num_features)])  # fmt: skip
    phi = np.empty((num_features, values.shape[1]))
    for i in range(num_features):
        without = codes[(codes >> i) & 1 == 0]
        phi[i] = weights[sizes[without]] @ (values[without | (1 << i)] - values[without])
    return phi


def _size_mass(num_features: int, size: int) -> float:
    """The Shapley kernel's total weight on coalitions of ``size``: ``(F-1)/(s (F-s))``."""
    return (num_features - 1) / (size * (num_features - size))


def sample_coalitions(rng: np.random.Generator, num_features: int,
                      budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Coalitions for KernelSHAP's regression and their Shapley-kernel weights.

    Coalitions come in complementary pairs (``z`` in one row, ``1 - z`` in the next),
    ``budget // 2`` distinct pairs at most, neither all kept nor all hidden. Pairs are
    grouped by the size ``t`` of their smaller member, ``t = 1 .. F // 2``; group ``t``
    holds the kernel mass of sizes ``t`` and ``F - t``. As in shap's ``KernelExplainer``,
    groups from ``t = 1`` up are enumerated completely while the pairs left cover a group
    at its share of the mass, each coalition weighted by the kernel
    ``(F - 1) / (C(F, s) s (F - s))``; the other groups are sampled: a group drawn by its
    mass, then a uniformly random coalition of size ``t``, with its complement. A pair drawn
    again is merged with the first, its count added; the sampled pairs' counts are scaled
    to the mass of the sampled groups.

    Returns
    -------
    coalitions : ndarray of bool, shape (S, F)
    weights : ndarray of float64, shape (S,)
    """
    f = num_features
    pairs_left = budget // 2
    groups = list(range(1, f // 2 + 1))
    mass = {t: _size_mass(f, t) * (1 if 2 * t == f else 2) for t in groups}
    count = {t: math.comb(f, t) // (2 if 2 * t == f else 1) for t in groups}
    rows, weights = [], []
    while groups and pairs_left > 0:
        t = groups[0]
        if pairs_left * mass[t] / sum(mass[g] for g in groups) < count[t] - 1e-8:
            break
        kernel = _size_mass(f, t) / math.comb(f, t)  # also that of size F - t
        for kept in itertools.combinations(range(1 if 2 * t == f else 0, f), t):
            z = np.zeros(f, bool)
            z[list(kept)] = True  # size F / 2: one of each pair, the one hiding feature 0
            rows += [z, ~z]
            weights += [kernel, kernel]
        pairs_left -= count[t]
        groups.pop(0)
    if groups and pairs_left > 0:
        sampled, counts = _draw_pairs(rng, f, groups, [mass[t] for t in groups], pairs_left)
        scale = sum(mass[t] for t in groups) / (2 * counts.sum())
        for z, c in zip(sampled, counts, strict=True):
            rows += [z, ~z]
            weights += [c * scale, c * scale]
    return np.array(rows, bool).reshape(-1, f), np.array(weights, np.float64)


def _draw_pairs(rng: np.random.Generator, num_features: int, groups: list[int],
                masses: list[float], wanted: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Up to ``wanted`` distinct pairs (one member each) drawn by group mass, and counts."""
    probabilities = np.asarray(masses) / np.sum(masses)
    index: dict[bytes, int] = {}
    members, counts = [], []
    draws = 0
    while len(members) < wanted and draws < MAX_DRAWS_PER_PAIR * wanted:
        m = wanted - len(members)
        sizes = np.asarray(groups)[rng.choice(len(groups), size=m, p=probabilities)]
        ranks = rng.random((m, num_features)).argsort(axis=1).argsort(axis=1)
        drawn = ranks < sizes[:, None]
        canonical = np.where(drawn[:, :1], drawn, ~drawn)  # the member keeping feature 0
        for z, key in zip(drawn, np.packbits(canonical, axis=1), strict=True):
            key = key.tobytes()
            if key in index:
                counts[index[key]] += 1
            elif len(members) < wanted:
                index[key] = len(members)
                members.append(z)
                counts.append(1)
        draws += m
    return members, np.asarray(counts, np.float64)


def constrained_shapley(coalitions: np.ndarray, weights: np.ndarray, values: np.ndarray,
                        full: np.ndarray, null: np.ndarray) -> np.ndarray:
    """``(F, K)`` kernel-weighted least squares fit with efficiency imposed exactly.

    Minimises ``sum_j w_j (v(z_j) - v(0) - z_j . phi)**2`` subject to
    ``sum(phi) = v(1) - v(0)``, by eliminating the last feature's value as shap does:
    ``phi_F = v(1) - v(0) - sum_{i<F} phi_i``; the remaining unconstrained problem is solved
    by ``numpy.linalg.lstsq`` (the minimum-norm solution if it is rank deficient).
    """
    z = coalitions.astype(np.float64)
    gap = full - null  # (K,)
    design = z[:, :-1] - z[:, -1:]
    rhs = (values - null) - z[:, -1:] * gap
    root = np.sqrt(weights)[:, None]
    head = np.linalg.lstsq(design * root, rhs * root, rcond=None)[0]
    return np.vstack([head, gap - head.sum(axis=0)])


class KernelSHAP(BlackBoxExplainer):
    """KernelSHAP: Shapley values of image features, for any predictor.

    The image is cut into F features (as :class:`ImageLIME` does). A coalition ``z``
    keeps some features and hides the others (they show ``mask_value``); ``v(z)`` is the
    target's score on that image. Each feature's Shapley value is its average marginal
    contribution over coalitions; they sum to ``v(all kept) - v(all hidden)``
    (efficiency, imposed exactly). The score map gives each pixel its feature's value.

    When ``2**F <= num_samples`` every coalition is scored and the values are exact (the
    classic formula). Otherwise, as shap's ``KernelExplainer``: coalitions are drawn by
    size from the Shapley kernel, ``pi(s)`` proportional to ``(F - 1) / (s (F - s))``,
    each with its complement (paired sampling, the middle size included); sizes the budget
    covers in expectation are enumerated instead; a coalition drawn again is scored once
    and its weight added; the values solve the kernel-weighted least squares fit with the
    efficiency constraint, the last feature's value eliminated as shap does. No feature
    selection (shap's ``l1_reg=False``).

    Parameters
    ----------
    net : keras.Model, scikit-learn estimator or callable
        As for :class:`ImageLIME`.
    num_features : int, default=49
        Features to aim at with "superpixels", "slic" and "grid" (the result can differ).
    num_samples : int, default=2048
        Model evaluations per image, counting all kept and all hidden (an odd count leaves
        one unused: the others come in pairs). At least 4, and at least F + 2 when
        ``2**F > num_samples``.
    segmentation : {"superpixels", "slic", "grid"}, callable or array of int, \
default="superpixels"
        The features, as for :class:`ImageLIME`.
    mask_value : "auto", "mean", "blur", float or array, default="auto"
        What hidden features show, as for :class:`ImageLIME`: "auto" or "mean" = the
        image's per-channel mean (shap's maskers would blur or inpaint; this keeps the
        black-box family alike).
    output_upsampling : {"nearest", "bicubic", "none"}, default="nearest"
        As for :class:`ImageLIME` ("none" and "bicubic" need "grid").
    batch_size : "auto" or int, default="auto"
        Images per model call, as for :class:`ImageLIME`.
    random_state : None, int, numpy Generator or RandomState
        Seeds the sampling (exact values use none). Each image's coalitions are seeded by
        ``random_state`` and the image's pixels, so results do not depend on batching.
    class_names : sequence of str, optional
        Names of the outputs, so that targets can be given by name.
    progress : bool, optional
        Show a progress bar; None = only on long runs in an interactive terminal.
    output : int or str, optional
        For a model with several outputs: the output to explain, by index or name.
    task : {"auto", "classification", "regression", "segmentation"}, default="auto"
        As for :class:`OcclusionSensitivity`.

    See Also
    --------
    ImageLIME : the same features, with a surrogate model instead of Shapley values.

    References
    ----------
    S. M. Lundberg and S.-I. Lee, "A Unified Approach to Interpreting Model Predictions",
    NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from explainkit import KernelSHAP
    >>> f = lambda X: (X[:, :4, :4, 0].mean(axis=(1, 2))      # top-left quadrant
    ...                * X[:, :4, 4:, 0].mean(axis=(1, 2)))[:, None]  # times top-right
    >>> shap = KernelSHAP(f, num_features=4, segmentation="grid", mask_value=0).fit()
    >>> explanation = shap.explain(np.ones((8, 8, 1)))
    >>> explanation.feature_importance[0][:, 0]  # the product's value, shared fairly
    array([0.5, 0.5, 0. , 0. ], dtype=float32)
    >>> explanation.base_values  # v(all hidden)
    array([[0.]], dtype=float32)
    """

    method_name = "kernel_shap"

    def __init__(self, net, *, num_features=49, num_samples=2048, segmentation="superpixels",
                 mask_value="auto", output_upsampling="nearest", batch_size="auto",
                 random_state=None, class_names=None, progress=None, output=None, task="auto"):
        self.net = net
        self.num_features = num_features
        self.num_samples = num_samples
        self.segmentation = segmentation
        self.mask_value = mask_value
        self.output_upsampling = output_upsampling
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
        check_int("num_features", self.num_features, minimum=2)
        check_int("num_samples", self.num_samples, minimum=4)
        check_segmentation(self.segmentation)
        _check_random_state(self.random_state)
        self._check_common()
        return self

    def _coalitions(self, generators, counts) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per image: the coalitions to score (row 0 all hidden) and their weights (None:
        all ``2**F`` but all kept, for exact values)."""
        plans = []
        for rng, f in zip(generators, counts, strict=True):
            if f < 63 and 2**f <= self.num_samples:
                plans.append((all_coalitions(f)[:-1], None))
                continue
            if self.num_samples < f + 2:
                raise ValueError(
                    f"num_samples={self.num_samples} is too few for the {f} features of an "
                    f"image: KernelSHAP needs at least F + 2 = {f + 2} (or 2**F = {2**f} for "
                    "exact values). Raise num_samples or lower num_features."
                )
            coalitions, weights = sample_coalitions(rng, f, self.num_samples - 2)
            plans.append((np.vstack([np.zeros((1, f), bool), coalitions]), weights))
        return plans

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """KernelSHAP maps of ``X`` for ``target``.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)`` (or ``(H, W)``) or a batch ``(N, H, W, C)``.
        target : int, str, list, ndarray or None
            Class, output or segmentation class; a list gives one map per target; a numpy
            array ``(N,)`` / ``(N, K)`` the target(s) of each image; None = the prediction
            on the unperturbed image (regression: output 0).
        roi : bool array or "predicted", optional
            Segmentation only: the output pixels whose class scores are summed; "predicted"
            = the pixels predicted as the class on the unperturbed image.

        Returns
        -------
        Explanation
            An Explanation with ``feature_map`` ``(N, H, W)``, ``feature_importance`` (one
            ``(F, K)`` array of Shapley values per image), ``scores`` = ``v(all kept)`` and
            ``base_values`` = ``v(all hidden)``.
        """
        self._check_fitted()
        images, single_image = check_images(X, input_shape=self._predictor.input_shape)
        n, height, width, _ = images.shape
        replacement = np.broadcast_to(mask_values(self.mask_value, images), images.shape)
        features, counts = feature_maps(images, self.segmentation, self.num_features,
                                        method="KernelSHAP")
        upsampling = pixel_upsampling(self.segmentation, self.output_upsampling,
                                      "Shapley value")
        plans = self._coalitions(image_generators(self.random_state, images), counts)
        batch_size = images_per_call(self.batch_size, images[0].nbytes)
        task, single_target, score, base_scores, resolved, roi_array = self._resolve_on(
            images, target, roi, batch_size)
        sizes = [len(coalitions) for coalitions, _ in plans]
        image_ids = np.repeat(np.arange(n), sizes)
        rows = np.concatenate([np.arange(size) for size in sizes])
        perturb = _Perturber(images, replacement, features, [c for c, _ in plans])

        def build(items: slice, out: np.ndarray) -> None:
            perturb(image_ids[items], rows[items], out)

        def scorer(batch, ids, _):
            return self._scores(batch, resolved[ids], roi_array[ids], score)

        (values,) = execute([Perturbations(image_ids, build)], scorer, batch_size=batch_size,
                            image_shape=images.shape[1:], progress=self.progress,
                            desc="kernel_shap")
        starts = np.concatenate([[0], np.cumsum(sizes)])
        importance, hidden = [], []
        for i, (coalitions, weights) in enumerate(plans):
            v = values[starts[i]:starts[i + 1]].astype(np.float64)
            full = base_scores[i].astype(np.float64)
            if weights is None:
                phi = exact_shapley(np.vstack([v, full]), counts[i])
            else:
                phi = constrained_shapley(coalitions[1:], weights, v[1:], full, v[0])
            importance.append(phi.astype(np.float32))
            hidden.append(v[0])  # the first coalition hides every feature
        maps = pixel_maps(importance, features, self.segmentation, self.num_features,
                          upsampling)
        return self._explanation(
            maps, targets=resolved, scores=base_scores, task=task, images=images,
            single_image=single_image, single_target=single_target,
            feature_map=np.array(features, dtype=np.int32), feature_importance=importance,
            base_values=np.array(hidden, dtype=np.float32),
            output=self._output_label(images.shape[1:]),
        )  # fmt: skip
