"""Faithfulness by perturbation: does the model's score follow what the map says matters?

Every metric is written as a *plan*: the perturbed images it needs
(:class:`~explainkit._perturbation.Perturbations`) and how to turn their scores into a
:class:`MetricResult`. The public functions run one plan; :func:`explainkit.compare` runs
the plans of every method and metric together, in shared batches.

The score of a classifier is the target's probability (its softmax/sigmoid output) unless
``score="logit"``; regression and segmentation use the score itself (as the methods do).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .._baselines import baseline_images
from .._perturbation import Perturbations
from .._seeds import ImageSeeds, generators
from .._validation import check_int, check_option
from ._maps import as_maps, per_target
from ._result import MetricResult
from ._scoring import DetectionScorer, Scorer, run

CORRELATIONS = ("pearson", "spearman")


@dataclass
class Plan:
    """A metric's perturbed images and how their scores become its result.

    ``key`` identifies the perturbed images: plans of one map with equal keys (average
    drop, increase in confidence and average gain) share them.
    """

    perturbations: list[Perturbations]
    finish: Callable[[list[np.ndarray]], MetricResult]
    key: tuple = ()


# --- shared pieces ---------------------------------------------------------------------


def check_fraction(name: str, value, *, allow_zero: bool = False) -> float:
    """A float in (0, 1] ([0, 1] with ``allow_zero``), or a clear error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1]; got {value!r}.")
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        raise ValueError(f"{name} must be in {'[0' if allow_zero else '(0'}, 1]; got {value!r}.")
    return float(value)


def _generator(random_state) -> np.random.Generator:
    if isinstance(random_state, ImageSeeds):
        raise TypeError("per-image seeds are for the metrics that draw per image.")
    if random_state is not None and not isinstance(random_state,
                                                   numbers.Integral | np.random.Generator):
        raise TypeError(
            f"random_state must be None, an int or a numpy Generator; got {random_state!r}.")
    return np.random.default_rng(random_state)


def _generators(random_state, n: int) -> list[np.random.Generator]:
    """One generator per image: a data-set run's own per image, else one shared."""
    return generators(random_state, n, _generator)


def pixel_ranks(maps: np.ndarray, rng) -> np.ndarray:
    """``(N, K, H*W)`` int32: each pixel's place in its map's order, 0 = most important.

    Pixels are ranked by the map, highest first; ties are broken at random (``rng``: one
    generator, or one per image).
    """
    n, h, w, k = maps.shape
    rngs = rng if isinstance(rng, list) else [rng] * n
    flat = np.moveaxis(maps, -1, 1).reshape(n, k, h * w)
    ranks = np.empty(flat.shape, dtype=np.int32)
    for i in range(n):
        for j in range(k):
            shuffle = rngs[i].permutation(h * w)
            order = shuffle[np.argsort(-flat[i, j, shuffle], kind="stable")]
            ranks[i, j, order] = np.arange(h * w, dtype=np.int32)
    return ranks


def _pairs(classes: np.ndarray):
    """``(image, target)`` of every map, image-major: two ``(N*K,)`` arrays."""
    n, k = classes.shape
    return np.repeat(np.arange(n), k), np.tile(np.arange(k), n)


def setup(net, X, maps, target, *, output, task, roi, score, class_names, batch_size,
          progress):
    """``(scorer, maps (N, H, W, K), single, classes (N, K))`` for a faithfulness metric.

    An Explanation's targets, output, task and class names are the defaults.
    """
    array, single, explanation = as_maps(maps)
    if _is_detection(net, explanation, task):
        box_format = None if explanation is None else explanation.params.get(
            "bounding_box_format")
        scorer = DetectionScorer(net, X, batch_size=batch_size, progress=progress,
                                 bounding_box_format=box_format)
        if target is None and explanation is not None:
            target = explanation.detections
        if target is None:
            raise ValueError(
                "A detector's metric follows target detections: pass the Explanation (its "
                "detections), or target= a rank, ranks or explainkit.Detections.")
        check_maps(array, scorer.images)
        classes, _ = scorer.resolve(target, num_targets=array.shape[-1])
        return scorer, array, single, classes
    if explanation is not None:
        if target is None:
            target = explanation.targets
            if target is None:
                raise ValueError(
                    "This Explanation has no targets (a reduction_fn defined its score); pass "
                    "target= to say which score the metric follows.")
        output = explanation.output if output is None else output
        task = explanation.task if task == "auto" else task
        if class_names is None:
            class_names = explanation.params.get("class_names")
    scorer = Scorer(net, X, output=output, task=task, roi=roi, score=score,
                    class_names=class_names, batch_size=batch_size, progress=progress)
    check_maps(array, scorer.images)
    classes, _ = scorer.resolve(target, num_targets=array.shape[-1])
    return scorer, array, single, classes


def _is_detection(net, explanation, task) -> bool:
    """Whether the metric scores detections (a detector's Explanation, or a detector)."""
    from .._detection import is_hub_detector

    return (task == "detection" or (explanation is not None and explanation.task == "detection")
            or (task == "auto" and is_hub_detector(net)))


def check_maps(maps: np.ndarray, images: np.ndarray) -> None:
    """A ValueError unless there is one map per image, at the images' size."""
    if maps.shape[:3] != images.shape[:3]:
        raise ValueError(
            f"maps must hold one map per image at the images' size, (N, H, W) = "
            f"{images.shape[:3]}; got maps of shape {maps.shape[:3]} (upsample maps computed "
            "with output_upsampling='none').")


def _execute(scorer: Scorer, plan: Plan, desc: str) -> MetricResult:
    return plan.finish(run(scorer, plan.perturbations, desc=desc))


# --- deletion and insertion --------------------------------------------------------------


def plan_curve(scorer: Scorer, maps: np.ndarray, single: bool, classes: np.ndarray, *,
               mode: str, steps: int = 10, max_fraction: float = 1.0, baseline=None,
               random_state=None) -> Plan:
    """The plan of :func:`deletion` (``mode="deletion"``) or :func:`insertion`."""
    steps = check_int("steps", steps)
    max_fraction = check_fraction("max_fraction", max_fraction)
    if baseline is None:
        baseline = 0 if mode == "deletion" else "blur"
    images = scorer.images
    n, h, w, _ = images.shape
    replacement = np.broadcast_to(baseline_images(baseline, images), images.shape)
    start, end = (images, replacement) if mode == "deletion" else (replacement, images)
    ranks = pixel_ranks(maps, _generators(random_state, len(maps)))
    counts = np.linspace(0, int(np.floor(h * w * max_fraction)), steps + 1).astype(np.int64)
    pair_image, pair_target = _pairs(classes)
    # The unperturbed image needs no model call: deletion's first step, insertion's last.
    unperturbed = np.flatnonzero(counts == 0) if mode == "deletion" else np.flatnonzero(
        counts == h * w)
    scored = np.setdiff1d(np.arange(steps + 1), unperturbed)
    item_pair = np.repeat(np.arange(len(pair_image)), len(scored))
    item_count = np.tile(counts[scored], len(pair_image))

    def build(items: slice, out: np.ndarray) -> None:
        for b, (p, m) in enumerate(zip(item_pair[items], item_count[items], strict=True)):
            i = pair_image[p]
            np.copyto(out[b], start[i])
            changed = (ranks[i, pair_target[p]] < m).reshape(h, w, 1)
            np.copyto(out[b], end[i], where=changed)

    item_class = classes[pair_image, pair_target][item_pair]
    perturbations = Perturbations(pair_image[item_pair], build, classes=item_class)
    base = scorer.base_scores(classes)

    def finish(results: list[np.ndarray]) -> MetricResult:
        curves = np.empty((len(pair_image), steps + 1), np.float32)
        curves[:, scored] = results[0].reshape(len(pair_image), len(scored))
        curves[:, unperturbed] = base[pair_image, pair_target][:, None]
        areas = (curves[:, :-1] + curves[:, 1:]).mean(axis=1) / 2  # trapezoid on [0, 1]
        k = classes.shape[1]
        curves = curves.reshape(n, k, steps + 1)
        return MetricResult(
            name=mode, values=per_target(areas.reshape(n, k), single),
            higher_is_better=mode == "insertion",
            curves=curves[:, 0] if single else curves, fractions=counts / (h * w),
            params={"steps": steps, "max_fraction": max_fraction, "baseline": baseline,
                    "score": scorer.score, "random_state": random_state},
        )  # fmt: skip

    return Plan([perturbations], finish, key=(mode, steps, max_fraction, str(baseline)))


_COMMON_DOC = """
    net : keras.Model, estimator or callable
        The model the maps explain.
    X : array-like
        The images ``(N, H, W, C)``, preprocessed as the model expects.
    maps : Explanation or array-like
        The maps ``(N, H, W)`` or ``(N, H, W, K)``; an Explanation's targets, output and
        task are the defaults.
    target : int, str, list, ndarray or None
        The explained target(s), as for the methods (a numpy array ``(N,)`` is one per
        image); None = the Explanation's targets, else the prediction.
    score : {"probability", "logit"}, default="probability"
        A classifier's score: its output (the softmax/sigmoid probabilities), or the
        logits before it (Keras models).
    output, task, roi, class_names
        As for the methods: the output of a model with several, the task ("auto"),
        segmentation's region of interest (a mask or "predicted", frozen on the
        unperturbed image) and the names of the classes.
    batch_size : int or "auto", default="auto"
        Perturbed images per model call.
    progress : bool or None
        A progress bar over the batches (None: on long interactive runs)."""


def _curve_metric(mode: str):
    def metric(net, X, maps, target=None, *, steps: int = 10, max_fraction: float = 1.0,
               baseline=None, random_state=None, score: str = "probability", output=None,
               task: str = "auto", roi=None, class_names=None, batch_size="auto",
               progress=None) -> MetricResult:
        scorer, array, single, classes = setup(
            net, X, maps, target, output=output, task=task, roi=roi, score=score,
            class_names=class_names, batch_size=batch_size, progress=progress)
        plan = plan_curve(scorer, array, single, classes, mode=mode, steps=steps,
                          max_fraction=max_fraction, baseline=baseline,
                          random_state=random_state)
        return _execute(scorer, plan, mode)

    return metric


deletion = _curve_metric("deletion")
deletion.__name__ = deletion.__qualname__ = "deletion"
deletion.__doc__ = f"""The deletion metric: the score as the most important pixels are removed.

    Pixels are ranked by the map, most important first (ties at random with
    ``random_state``), and replaced by ``baseline`` in ``steps`` equal steps up to
    ``max_fraction`` of the pixels (all channels of a pixel together); the value is the
    area under the score curve (trapezoid on [0, 1]). Lower is better: a faithful map
    makes the score fall at once.

    Parameters
    ----------{_COMMON_DOC}
    steps : int, default=10
        Steps; the curve has ``steps + 1`` points, at the fractions 0, ..., max_fraction
        (``floor(linspace(0, floor(H*W*max_fraction), steps + 1))`` pixels, as Xplique).
    max_fraction : float, default=1.0
        The fraction of the pixels removed at the last step.
    baseline : number, per-channel values, image, "mean" or "blur", default=0
        What removed pixels become (RISE's paper: 0 for deletion).
    random_state : None, int or numpy Generator
        Breaks ties in the ranking.

    Returns
    -------
    MetricResult
        ``values`` the areas ``(N,)`` / ``(N, K)``; ``curves`` the scores
        ``(N, steps + 1)`` / ``(N, K, steps + 1)``; ``fractions`` the x of the curves.

    References
    ----------
    Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
    Models", BMVC 2018.
    """

insertion = _curve_metric("insertion")
insertion.__name__ = insertion.__qualname__ = "insertion"
insertion.__doc__ = f"""The insertion metric: the score as the most important pixels are restored.

    Starting from ``baseline``, the pixels are put back in the map's order, most
    important first (ties at random with ``random_state``), in ``steps`` equal steps up
    to ``max_fraction`` of the pixels; the value is the area under the score curve
    (trapezoid on [0, 1]). Higher is better.

    Parameters
    ----------{_COMMON_DOC}
    steps : int, default=10
        Steps; the curve has ``steps + 1`` points.
    max_fraction : float, default=1.0
        The fraction of the pixels inserted at the last step.
    baseline : number, per-channel values, image, "mean" or "blur", default="blur"
        The image the pixels are inserted into (RISE's paper: a blurred copy; here a
        Gaussian of sigma 5% of the size).
    random_state : None, int or numpy Generator
        Breaks ties in the ranking.

    Returns
    -------
    MetricResult
        As :func:`deletion`.

    References
    ----------
    Petsiuk, Das & Saenko, "RISE: Randomized Input Sampling for Explanation of Black-box
    Models", BMVC 2018.
    """


# --- average drop, increase in confidence, average gain ----------------------------------


def masks_of(maps: np.ndarray, *, keep: float | None, absolute: bool, rng) -> np.ndarray:
    """``(N, K, H, W)`` float32: each map min-max normalised to [0, 1], top ``keep`` kept.

    A constant map becomes all zeros. With ``keep``, all but the ``round(keep * H * W)``
    most important pixels (ties at random) are set to 0.
    """
    values = np.moveaxis(np.abs(maps) if absolute else maps, -1, 1).astype(np.float64)
    low = values.min(axis=(2, 3), keepdims=True)
    span = values.max(axis=(2, 3), keepdims=True) - low
    masks = np.divide(values - low, span, out=np.zeros_like(values), where=span > 0)
    if keep is not None:
        n, k, h, w = masks.shape
        kept = max(1, int(round(keep * h * w)))
        ranks = pixel_ranks(np.moveaxis(masks, 1, -1), rng).reshape(n, k, h, w)
        masks[ranks >= kept] = 0
    return masks.astype(np.float32)


def plan_confidence(scorer: Scorer, maps: np.ndarray, single: bool, classes: np.ndarray, *,
                    name: str, keep: float | None = None, absolute: bool = False,
                    random_state=None) -> Plan:
    """The plan of :func:`average_drop`, :func:`increase_in_confidence`, :func:`average_gain`."""
    if keep is not None:
        keep = check_fraction("keep", keep)
    if not isinstance(absolute, bool | np.bool_):
        raise TypeError(f"absolute must be True or False; got {absolute!r}.")
    masks = masks_of(maps, keep=keep, absolute=bool(absolute),
                     rng=_generators(random_state, len(maps)))
    images = scorer.images
    pair_image, pair_target = _pairs(classes)

    def build(items: slice, out: np.ndarray) -> None:
        for b, p in enumerate(range(items.start, items.stop)):
            np.multiply(images[pair_image[p]], masks[pair_image[p], pair_target[p], :, :, None],
                        out=out[b])

    base = scorer.base_scores(classes)
    if name == "average_gain" and (base.min() < 0 or base.max() > 1):
        raise ValueError(
            "average_gain divides by 1 - score, so it needs scores in [0, 1] (a classifier's "
            f"probabilities); the scores here range over [{base.min():.4g}, {base.max():.4g}].")

    def finish(results: list[np.ndarray]) -> MetricResult:
        n, k = classes.shape
        y = base.astype(np.float64)
        o = results[0].reshape(n, k).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "average_drop":  # Y <= 0 has no relative drop: NaN
                values = np.where(y > 0, 100 * np.maximum(0, y - o) / y, np.nan)
            elif name == "increase_in_confidence":
                values = 100 * (o > y).astype(np.float64)
            else:  # a score of 1 cannot gain: 0
                values = np.where(y < 1, 100 * np.maximum(0, o - y) / (1 - y), 0.0)
        return MetricResult(
            name=name, values=per_target(values, single),
            higher_is_better=name != "average_drop",
            params={"keep": keep, "absolute": bool(absolute), "score": scorer.score,
                    "random_state": random_state},
        )  # fmt: skip

    perturbations = Perturbations(pair_image, build,
                                  classes=classes[pair_image, pair_target])
    return Plan([perturbations], finish, key=("masked", keep, bool(absolute)))


def _confidence_metric(name: str, summary: str, formula: str, better: str):
    def metric(net, X, maps, target=None, *, keep: float | None = None,
               absolute: bool = False, random_state=None, score: str = "probability",
               output=None, task: str = "auto", roi=None, class_names=None,
               batch_size="auto", progress=None) -> MetricResult:
        scorer, array, single, classes = setup(
            net, X, maps, target, output=output, task=task, roi=roi, score=score,
            class_names=class_names, batch_size=batch_size, progress=progress)
        plan = plan_confidence(scorer, array, single, classes, name=name, keep=keep,
                               absolute=absolute, random_state=random_state)
        return _execute(scorer, plan, name)

    metric.__name__ = metric.__qualname__ = name
    metric.__doc__ = f"""{summary}

    ``Y`` is the score of the image, ``O`` the score of ``image * M``, ``M`` the map
    min-max normalised to [0, 1] (``keep``: only its top pixels). Per image and target,
    {formula}; {better}.

    Parameters
    ----------{_COMMON_DOC}
    keep : float in (0, 1], optional
        Keep only this fraction of the pixels, the most important ones (ties at random),
        as some papers do (e.g. L-CAM's AD(15%)); None keeps the whole map.
    absolute : bool, default=False
        Normalise the absolute map (Xplique's choice for signed maps).
    random_state : None, int or numpy Generator
        Breaks ties for ``keep``.

    Returns
    -------
    MetricResult
        ``values`` ``(N,)`` / ``(N, K)``, in percent; ``mean`` is the paper's number.

    References
    ----------
    Chattopadhay, Sarkar, Howlader & Balasubramanian, "Grad-CAM++: Generalized
    Gradient-Based Visual Explanations for Deep Convolutional Networks", WACV 2018.
    Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
    Networks", CVPR Workshops 2020 (average gain: Zhang et al., "Opti-CAM", 2023).
    """
    return metric


average_drop = _confidence_metric(
    "average_drop", "Average drop: how much of the score is lost keeping only the map.",
    "100 * max(0, Y - O) / Y (NaN where Y <= 0)", "lower is better")
increase_in_confidence = _confidence_metric(
    "increase_in_confidence", "Increase in confidence: how often the map alone scores higher.",
    "100 * (O > Y)", "higher is better")
average_gain = _confidence_metric(
    "average_gain", "Average gain: how much the map alone raises the score (probabilities).",
    "100 * max(0, O - Y) / (1 - Y) (0 where Y = 1; the scores must lie in [0, 1])",
    "higher is better")


# --- mu-fidelity ---------------------------------------------------------------------------


def plan_mu_fidelity(scorer: Scorer, maps: np.ndarray, single: bool, classes: np.ndarray, *,
                     grid_size: int = 9, subset_fraction: float = 0.2, num_samples: int = 128,
                     baseline=0, correlation: str = "pearson", random_state=None) -> Plan:
    """The plan of :func:`mu_fidelity`."""
    grid_size = check_int("grid_size", grid_size)
    num_samples = check_int("num_samples", num_samples, minimum=2)
    subset_fraction = check_fraction("subset_fraction", subset_fraction)
    check_option("correlation", correlation, CORRELATIONS)
    images = scorer.images
    n, h, w, _ = images.shape
    k = classes.shape[1]
    cells = grid_size * grid_size
    hidden_count = max(1, int(round(subset_fraction * cells)))
    rngs = _generators(random_state, n)
    subsets = np.zeros((n, num_samples, cells), dtype=bool)  # per image, shared by targets
    for i in range(n):
        for s in range(num_samples):
            subsets[i, s, rngs[i].choice(cells, hidden_count, replace=False)] = True
    rows = np.arange(h) * grid_size // h
    cols = np.arange(w) * grid_size // w
    cell_of = (rows[:, None] * grid_size + cols[None, :])  # (H, W): each pixel's cell
    replacement = np.broadcast_to(baseline_images(baseline, images), images.shape)
    cell_sums = np.zeros((n, k, cells))
    for c in range(cells):
        cell_sums[:, :, c] = maps[:, cell_of == c, :].sum(axis=1)
    attributions = np.einsum("nsc,nkc->nks", subsets.astype(np.float64), cell_sums)
    # Items: image-major, then target, then sample.
    item_image = np.repeat(np.arange(n), k * num_samples)
    item_target = np.tile(np.repeat(np.arange(k), num_samples), n)
    item_sample = np.tile(np.arange(num_samples), n * k)

    def build(items: slice, out: np.ndarray) -> None:
        for b, j in enumerate(range(items.start, items.stop)):
            i = item_image[j]
            np.copyto(out[b], images[i])
            np.copyto(out[b], replacement[i],
                      where=subsets[i, item_sample[j]][cell_of][..., None])

    base = scorer.base_scores(classes)

    def finish(results: list[np.ndarray]) -> MetricResult:
        drops = base[:, :, None] - results[0].reshape(n, k, num_samples)
        values = np.zeros((n, k))
        for i in range(n):
            for t in range(k):
                a, d = attributions[i, t], drops[i, t]
                if np.ptp(a) > 0 and np.ptp(d) > 0:  # else no correlation to measure: 0
                    values[i, t] = (np.corrcoef(a, d)[0, 1] if correlation == "pearson"
                                    else stats.spearmanr(a, d)[0])
        return MetricResult(
            name="mu_fidelity", values=per_target(values, single), higher_is_better=True,
            params={"grid_size": grid_size, "subset_fraction": subset_fraction,
                    "num_samples": num_samples, "baseline": baseline,
                    "correlation": correlation, "score": scorer.score,
                    "random_state": random_state},
        )  # fmt: skip

    perturbations = Perturbations(item_image, build,
                                  classes=classes[item_image, item_target])
    return Plan([perturbations], finish)


def mu_fidelity(net, X, maps, target=None, *, grid_size: int = 9, subset_fraction: float = 0.2,
                num_samples: int = 128, baseline=0, correlation: str = "pearson",
                random_state=None, score: str = "probability", output=None,
                task: str = "auto", roi=None, class_names=None, batch_size="auto",
                progress=None) -> MetricResult:
    scorer, array, single, classes = setup(
        net, X, maps, target, output=output, task=task, roi=roi, score=score,
        class_names=class_names, batch_size=batch_size, progress=progress)
    plan = plan_mu_fidelity(scorer, array, single, classes, grid_size=grid_size,
                            subset_fraction=subset_fraction, num_samples=num_samples,
                            baseline=baseline, correlation=correlation,
                            random_state=random_state)
    return _execute(scorer, plan, "mu_fidelity")


mu_fidelity.__doc__ = f"""Mu-fidelity: does hiding a region cost what the map says it is worth?

    For ``num_samples`` random subsets of ``round(subset_fraction * grid_size**2)`` cells of
    a ``grid_size`` x ``grid_size`` grid, the cells are set to ``baseline``; the value is
    the correlation, over the subsets, between the map summed over the hidden pixels and
    the score's drop. Higher is better (1: the map predicts every drop); 0 where either
    side does not vary.

    Parameters
    ----------{_COMMON_DOC}
    grid_size : int, default=9
        Cells per side (Xplique's default).
    subset_fraction : float, default=0.2
        The fraction of the cells hidden in each subset.
    num_samples : int, default=128
        Random subsets per image.
    baseline : number, per-channel values, image, "mean" or "blur", default=0
        What hidden pixels become.
    correlation : {{"pearson", "spearman"}}, default="pearson"
        Pearson is the paper's definition; Xplique's ``MuFidelity`` uses Spearman.
    random_state : None, int or numpy Generator
        Draws the subsets (the same ones for every target of an image).

    Returns
    -------
    MetricResult

    References
    ----------
    Bhatt, Weller & Moura, "Evaluating and Aggregating Feature-based Model Explanations",
    IJCAI 2020 (definition 3).
    """


#: The faithfulness metrics by name: their plan and fixed options (for compare).
PLANS = {
    "deletion": (plan_curve, {"mode": "deletion"}),
    "insertion": (plan_curve, {"mode": "insertion"}),
    "average_drop": (plan_confidence, {"name": "average_drop"}),
    "increase_in_confidence": (plan_confidence, {"name": "increase_in_confidence"}),
    "average_gain": (plan_confidence, {"name": "average_gain"}),
    "mu_fidelity": (plan_mu_fidelity, {}),
}
