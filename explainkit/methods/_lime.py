"""Image LIME: which image features (superpixels, grid cells, your labels) a prediction rests on."""

from __future__ import annotations

import numbers
import zlib

import numpy as np

from .._baselines import mask_values
from .._batching import images_per_call
from .._explanation import Explanation
from .._perturbation import Perturbations, execute
from .._segmentation import check_segmentation, feature_maps, pixel_maps, pixel_upsampling
from .._validation import check_images, check_int, check_option
from ._blackbox import BlackBoxExplainer

SURROGATES = ("tree", "linear")

#: Perturbed images built per slice of a batch (a few MB: they stay in the CPU's cache).
CHUNK = 64

#: Width of lime's exponential kernel on the cosine distance (``LimeImageExplainer``'s default).
KERNEL_WIDTH = 0.25


def kernel_weights(samples: np.ndarray) -> np.ndarray:
    """lime's sample weights: ``sqrt(exp(-d**2 / 0.25**2))``, d = cosine distance to all-ones.

    A sample keeping ``k`` of ``F`` features has cosine similarity ``sqrt(k / F)`` with
    the unperturbed sample (all ones), hence ``d = 1 - sqrt(k / F)``.
    """
    distance = 1.0 - np.sqrt(samples.sum(axis=1) / samples.shape[1])
    return np.sqrt(np.exp(-(distance**2) / KERNEL_WIDTH**2))


def draw_samples(rng: np.random.Generator, num_samples: int, num_features: int) -> np.ndarray:
    """``(num_samples, F)`` booleans, True = feature kept: row 0 keeps all, others each w.p. 0.5."""
    samples = rng.random((num_samples, num_features)) < 0.5
    samples[0] = True
    return samples


def fit_surrogate(model: str, samples: np.ndarray, scores: np.ndarray, seed: int) -> np.ndarray:
    """``(F, K)`` feature importances from a kernel-weighted surrogate of ``scores`` ``(S, K)``.

    ``"linear"``: the coefficients of lime's weighted ridge regression (alpha 1, with
    intercept; all features kept, as ``LimeImageExplainer`` does by default), signed.
    ``"tree"``: the (normalised, non-negative) feature importances of a weighted regression
    tree per target; ``min_samples_split=10`` as MATLAB's ``fitrtree`` (MinParentSize).
    """
    from sklearn.linear_model import Ridge
    from sklearn.tree import DecisionTreeRegressor

    weights = kernel_weights(samples)
    design = samples.astype(np.float64)
    scores = scores.astype(np.float64)
    if model == "linear":
        ridge = Ridge(alpha=1.0, fit_intercept=True).fit(design, scores, sample_weight=weights)
        return ridge.coef_.T.reshape(samples.shape[1], scores.shape[1])
    return np.stack(
        [
            DecisionTreeRegressor(min_samples_split=10, random_state=seed)
            .fit(design, scores[:, k], sample_weight=weights)
            .feature_importances_
            for k in range(scores.shape[1])
        ],
        axis=1,
    )


def _check_random_state(random_state) -> None:
    ok = (
        random_state is None
        or isinstance(random_state, (np.random.Generator, np.random.RandomState))
        or (isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
            and random_state >= 0)
    )  # fmt: skip
    if not ok:
        raise TypeError(
            "random_state must be None, a non-negative int, a numpy Generator or RandomState; "
            f"got {random_state!r}."
        )


def image_generators(random_state, images: np.ndarray) -> list[np.random.Generator]:
    """One generator per image, seeded by ``random_state`` and the image's own pixels.

    An image's samples therefore do not depend on the other images of the batch or on its
    position in it: explaining a batch gives what explaining each image alone gives.
    """
    if random_state is None:
        entropy = np.random.SeedSequence().entropy
    elif isinstance(random_state, np.random.Generator):
        entropy = int(random_state.integers(2**63))
    elif isinstance(random_state, np.random.RandomState):
        entropy = int(random_state.randint(2**31 - 1))
    else:
        entropy = int(random_state)
    return [
        np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(zlib.crc32(image),)))
        for image in images
    ]


class _Perturber:
    """Builds the perturbed images of each mini-batch into the executor's reused buffer.

    Each pixel's C channel values are handled as one opaque item (a numpy void of 4 C
    bytes), so that one gather of the samples through the feature map gives a ``(B, H W)``
    keep mask and one masked copy fills the batch, with no channel axis to broadcast over
    (several times slower for C = 3).
    """

    def __init__(self, images, replacement, features, samples):
        channels = images.shape[-1]
        self._pixel = np.dtype((np.void, 4 * channels))
        self.images, self.replacement = images, replacement
        self.features, self.samples = features, samples
        self._image = None

    def _pixels(self, image: np.ndarray) -> np.ndarray:
        """``(H W,)`` pixels of a float32 ``(H, W, C)`` image as opaque items."""
        return np.ascontiguousarray(image, dtype=np.float32).view(self._pixel).reshape(-1)

    def _use(self, i: int) -> None:
        if self._image != i:
            self._values = self._pixels(self.images[i])
            self._hidden = self._pixels(self.replacement[i])
            self._feature_of_pixel = self.features[i].reshape(-1)
            self._image = i

    def __call__(self, image_ids: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
        """Write sample ``rows[b]`` of image ``image_ids[b]`` (ids sorted) into ``out[b]``.

        ``out`` is ``(B, H, W, C)`` float32, C-contiguous.
        """
        count = len(image_ids)
        pixels = out.reshape(count, -1).view(self._pixel)  # (B, H W)
        starts = np.flatnonzero(np.r_[True, np.diff(image_ids) != 0])
        for first, last in zip(starts, np.r_[starts[1:], count], strict=True):
            self._use(int(image_ids[first]))
            # In slices of CHUNK images, so that both passes run while the slice is cached
            # (one pass over a 48 MB batch, then the other, was three times slower).
            for start in range(first, last, CHUNK):
                stop = min(start + CHUNK, last)
                keep = self.samples[self._image][rows[start:stop]][:, self._feature_of_pixel]
                np.copyto(pixels[start:stop], self._hidden)
                np.copyto(pixels[start:stop], self._values, where=keep)


class ImageLIME(BlackBoxExplainer):
    """Image LIME (MATLAB's ``imageLIME``), for any predictor.

    The image is cut into features; ``num_samples`` copies hide random subsets of them;
    a surrogate model fitted to the predictor's scores on the copies (weighted by their
    closeness to the image) says how much each feature matters. The score map gives each
    pixel its feature's importance.

    Parameters
    ----------
    net : keras.Model, scikit-learn estimator or callable
        A Keras model (its output is scored: probabilities if it outputs them), an
        estimator or Pipeline taking the image batch (``predict_proba``, else
        ``decision_function``, else ``predict``), or any ``f(images) -> scores``.
    num_features : int, default=49
        Features to aim at with "superpixels", "slic" and "grid" (the result can differ).
    num_samples : int, default=2048
        Samples per image, the first being the unperturbed image.
    segmentation : {"superpixels", "slic", "grid"}, callable or array of int, \
default="superpixels"
        "superpixels": SLIC0 superpixels (scikit-image ``slic(slic_zero=True)``, adaptive
        compactness, CIELAB for three channels), as MATLAB's ``superpixels``; "slic": SLIC
        with a fixed compactness; "grid": near-square cells following the image's aspect
        ratio, numbered row by row; a function ``f(image (H, W, C)) -> labels (H, W)``
        (e.g. scikit-image's ``felzenszwalb``, ``quickshift`` or ``watershed``); or a
        label image ``(H, W)`` (or ``(N, H, W)``, one per image). Features are numbered
        0..F-1 (labels are renumbered in the order of their values).
    model : {"tree", "linear"}, default="tree"
        Surrogate: "tree" = a weighted regression tree, importance = its feature
        importances (non-negative); "linear" = lime's weighted ridge regression, importance
        = its signed coefficients.
    mask_value : "auto", "mean", "blur", float or array, default="auto"
        What hidden features show: "auto" (MATLAB's default) or "mean" = the image's
        per-channel mean; "blur" = the image blurred (Gaussian, sigma 5% of its size); a
        number; one value per channel; or a replacement image ``(H, W, C)`` /
        ``(N, H, W, C)``.
    output_upsampling : {"nearest", "bicubic", "none"}, default="nearest"
        "nearest": each pixel gets its feature's importance. With "grid", "none" returns
        the grid of cells and "bicubic" interpolates between cell centres; other
        segmentations support only "nearest" (a warning says so).
    batch_size : "auto" or int, default="auto"
        Images per model call: "auto" = as many as ``max_batch_bytes`` allows (see
        :func:`explainkit.set_config`), at most 1024; an int is capped by that budget too.
    random_state : None, int, numpy Generator or RandomState
        Seeds the sampling (SLIC and the grid are deterministic). Each image's samples are
        seeded by ``random_state`` and the image's pixels, so results do not depend on
        batching.
    class_names : sequence of str, optional
        Names of the outputs, so that targets can be given by name.
    progress : bool, optional
        Show a progress bar; None = only on long runs in an interactive terminal.
    output : int or str, optional
        For a model with several outputs (a list, tuple or dict): the output to explain,
        by index or by name (the producing layer's name, or the dict key).
    task : {"auto", "classification", "regression", "segmentation"}, default="auto"
        As for :class:`OcclusionSensitivity`.

    Examples
    --------
    >>> import numpy as np
    >>> from explainkit import ImageLIME
    >>> f = lambda X: X[:, :4, :4, 0].mean(axis=(1, 2))[:, None]  # the top-left quadrant
    >>> lime = ImageLIME(f, num_features=4, segmentation="grid", mask_value=0,
    ...                  random_state=0).fit()
    >>> explanation = lime.explain(np.ones((8, 8, 1)))
    >>> explanation.feature_importance[0][:, 0].round(6)  # features 0..3, row by row
    array([1., 0., 0., 0.], dtype=float32)
    """

    method_name = "lime"

    def __init__(self, net, *, num_features=49, num_samples=2048, segmentation="superpixels",
                 model="tree", mask_value="auto", output_upsampling="nearest", batch_size="auto",
                 random_state=None, class_names=None, progress=None, output=None, task="auto"):
        self.net = net
        self.num_features = num_features
        self.num_samples = num_samples
        self.segmentation = segmentation
        self.model = model
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
        check_int("num_samples", self.num_samples, minimum=2)
        check_option("model", self.model, SURROGATES)
        check_segmentation(self.segmentation)
        _check_random_state(self.random_state)
        self._check_common()
        return self

    def _feature_maps(self, images: np.ndarray) -> tuple[np.ndarray, list[int]]:
        """``(N, H, W)`` int32 feature maps labelled 0..F-1 and each image's F."""
        return feature_maps(images, self.segmentation, self.num_features, method="LIME")

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """LIME maps of ``X`` for ``target``.

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
            With ``feature_map`` ``(N, H, W)`` and ``feature_importance``, a list of one
            ``(F, K)`` array per image.
        """
        self._check_fitted()
        images, single_image = check_images(X, input_shape=self._predictor.input_shape)
        n, height, width, _ = images.shape
        replacement = np.broadcast_to(mask_values(self.mask_value, images), images.shape)
        features, counts = self._feature_maps(images)
        upsampling = pixel_upsampling(self.segmentation, self.output_upsampling)
        generators = image_generators(self.random_state, images)
        samples = [draw_samples(g, self.num_samples, f) for g, f in zip(generators, counts,
                                                                         strict=True)]
        batch_size = images_per_call(self.batch_size, images[0].nbytes)
        task, single_target, score, base_scores, resolved, roi_array = self._resolve_on(
            images, target, roi, batch_size)
        # Row 0 of every image is the unperturbed image, already scored above.
        scores = np.empty((n, self.num_samples, resolved.shape[1]), dtype=np.float32)
        scores[:, 0] = base_scores
        perturbed = self.num_samples - 1
        perturb = _Perturber(images, replacement, features, samples)

        def build(items: slice, out: np.ndarray) -> None:
            image_ids, rows = np.divmod(np.arange(items.start, items.stop), perturbed)
            perturb(image_ids, rows + 1, out)

        def scorer(batch, image_ids, _):
            return self._scores(batch, resolved[image_ids], roi_array[image_ids], score)

        (perturbed_scores,) = execute(
            [Perturbations(np.repeat(np.arange(n), perturbed), build)], scorer,
            batch_size=batch_size, image_shape=images.shape[1:], progress=self.progress,
            desc="lime")
        scores[:, 1:] = perturbed_scores.reshape(n, perturbed, -1)
        importance = [
            fit_surrogate(self.model, samples[i], scores[i], int(generators[i].integers(2**31)))
            for i in range(n)
        ]
        maps = pixel_maps(importance, features, self.segmentation, self.num_features,
                          upsampling)
        return self._explanation(
            maps, targets=resolved, scores=base_scores, task=task, images=images,
            single_image=single_image, single_target=single_target,
            feature_map=np.array(features, dtype=np.int32),
            feature_importance=[imp.astype(np.float32) for imp in importance],
            output=self._output_label(images.shape[1:]),
        )  # fmt: skip


def image_lime(net, X, target=None, *, num_features: int = 49, num_samples: int = 2048,
               segmentation="superpixels", model: str = "tree", mask_value="auto",
               output_upsampling: str = "nearest", batch_size="auto", random_state=None,
               roi=None, class_names=None, return_features: bool = False, progress=None,
               output=None, task: str = "auto"):
    """Image LIME maps, shaped like MATLAB's ``imageLIME`` outputs.

    Parameters are those of :class:`ImageLIME` and its ``explain``.

    Returns
    -------
    score_map : ndarray
        ``(H, W)``, ``(H, W, K)``, ``(N, H, W)`` or ``(N, H, W, K)``; with a grid and
        ``output_upsampling="none"`` one value per grid cell instead of per pixel.
    feature_map : ndarray of int32
        With ``return_features=True``: the feature of each pixel, ``(H, W)`` or
        ``(N, H, W)``.
    feature_importance : ndarray or list of ndarray
        With ``return_features=True``: ``(F,)`` (one target) or ``(F, K)``; for a batch,
        a list with one such array per image (F can differ between images).
    """
    explanation = ImageLIME(
        net, num_features=num_features, num_samples=num_samples, segmentation=segmentation,
        model=model, mask_value=mask_value, output_upsampling=output_upsampling,
        batch_size=batch_size, random_state=random_state, class_names=class_names,
        progress=progress, output=output, task=task,
    ).fit(X).explain(X, target, roi=roi)  # fmt: skip
    if not return_features:
        return explanation.score_map
    importance = [imp[:, 0] if explanation.single_target else imp
                  for imp in explanation.feature_importance]
    if explanation.single_image:
        return explanation.score_map, explanation.feature_map[0], importance[0]
    return explanation.score_map, explanation.feature_map, importance
