"""``compare``: several methods, scored by several metrics, on one model and data set."""

from __future__ import annotations

import html
import inspect
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import NotFittedError

from .._explanation import BlankMapWarning
from .._models import count_calls, is_keras_model
from .._seeds import ImageSeeds
from ..base import METHODS, Explainer, converted_images
from . import _complexity, _localisation
from ._faithfulness import PLANS, _generator, check_maps
from ._maps import as_maps
from ._scoring import Scorer, run

#: Localisation metrics (they need ground-truth ``masks``) and map-only metrics.
LOCALISATION = {
    "pointing_game": _localisation.pointing_game,
    "energy_pointing_game": _localisation.energy_pointing_game,
    "relevance_rank_accuracy": _localisation.relevance_rank_accuracy,
}
COMPLEXITY = {"sparseness": _complexity.sparseness, "complexity": _complexity.complexity}
METRICS = (*PLANS, *LOCALISATION, *COMPLEXITY, "randomization")

DEFAULT_METRICS = ("deletion", "insertion", "average_drop")


@dataclass(frozen=True, eq=False)
class Comparison:
    """What :func:`compare` found: the maps of every method and every metric's result.

    Attributes
    ----------
    explanations : dict
        Method name -> :class:`~explainkit.Explanation`.
    results : dict
        Method name -> {metric name -> :class:`MetricResult`}.
    seconds : dict
        Method name -> seconds its explanation (and fit) took, warm: a Keras model's
        compiled functions are traced before the timing starts (``warmup_seconds``).
    calls : dict
        Method name -> batched model calls its explanation made.
    metric_seconds : float
        Seconds all the metrics took together.
    metric_calls : int
        Batched model calls all the metrics made together (shared between methods).
    warmup_seconds : dict
        Keras models: method name -> seconds of the untimed warm-up explanations of the
        first one and two images (tracing and compilation, mostly).
    blank : dict
        Method name -> the :class:`~explainkit.BlankMapWarning` it gave: some of its maps
        are zero everywhere because no gradient reaches its feature layer. The table marks
        these methods with ``†``.
    maps : dict
        Data-set runs with ``save_maps=True``: method name -> its saved maps, read lazily
        (:class:`~explainkit.SavedMaps`). On a data set, ``explanations`` holds the first
        four images only (for the figure).
    """

    explanations: dict
    results: dict
    seconds: dict
    calls: dict
    metric_seconds: float = 0.0
    metric_calls: int = 0
    params: dict = field(default_factory=dict)
    warmup_seconds: dict = field(default_factory=dict)
    blank: dict = field(default_factory=dict)
    maps: dict = field(default_factory=dict)

    @property
    def methods(self) -> list[str]:
        return list(self.results) or list(self.explanations)

    @property
    def metrics(self) -> list[str]:
        first = next(iter(self.results.values()), {})
        return list(first)

    def best(self) -> dict:
        """Metric name -> the methods with the best mean (a tuple; empty when all tie).

        Means within 1e-9 (relative) of the best count as equal; NaN means never win.
        """
        best = {}
        for metric in self.metrics:
            means = {m: self.results[m][metric].mean for m in self.methods}
            means = {m: v for m, v in means.items() if not math.isnan(v)}
            if not means:
                best[metric] = ()
                continue
            higher = self.results[self.methods[0]][metric].higher_is_better
            top = (max if higher else min)(means.values())
            winners = tuple(m for m, v in means.items() if math.isclose(v, top, rel_tol=1e-9,
                                                                        abs_tol=1e-12))
            best[metric] = () if len(winners) == len(self.methods) > 1 else winners
        return best

    def _rows(self):
        """Header and rows of the table, cells as (text, is_best)."""
        best = self.best()
        header = ["method"] + [
            f"{metric} {'↑' if self.results[self.methods[0]][metric].higher_is_better else '↓'}"
            for metric in self.metrics] + ["seconds", "model calls"]
        rows = []
        for method in self.methods:
            cells = [(method + (" †" if method in self.blank else ""), False)]
            for metric in self.metrics:
                result = self.results[method][metric]
                low, high = result.interval
                half = (high - low) / 2
                text = "nan" if math.isnan(result.mean) else f"{result.mean:.3g} ± {half:.2g}"
                cells.append((text, method in best[metric]))
            cells.append((f"{self.seconds[method]:.2f}", False))
            cells.append((str(self.calls[method]), False))
            rows.append(cells)
        return header, rows

    def table(self, format: str = "text") -> str:
        """Methods x metrics: mean ± half the bootstrap 95% interval, the best marked.

        Parameters
        ----------
        format : {"text", "markdown", "html"}
            Plain text (best marked ``*``), Markdown (best in bold) or an HTML table.
        """
        from .._validation import check_option

        check_option("format", format, ("text", "markdown", "html"))
        header, rows = self._rows()
        if format == "markdown":
            lines = ["| " + " | ".join(header) + " |",
                     "|" + "|".join("---" for _ in header) + "|"]
            lines += ["| " + " | ".join(f"**{t}**" if b else t for t, b in row) + " |"
                      for row in rows]
            return "\n".join(lines)
        if format == "html":
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            body = "".join(
                "<tr>" + "".join(f"<td><b>{html.escape(t)}</b></td>" if b else
                                 f"<td>{html.escape(t)}</td>" for t, b in row) + "</tr>"
                for row in rows)
            return (f"<table class='explainkit-comparison'><thead><tr>{head}</tr></thead>"
                    f"<tbody>{body}</tbody></table>")
        texts = [header] + [[t + (" *" if b else "") for t, b in row] for row in rows]
        widths = [max(len(r[c]) for r in texts) for c in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                 for r in texts]
        lines.insert(1, "  ".join("-" * w for w in widths))
        note = "\n† blank maps: no gradient reaches the feature layer (see .blank)" if (
            self.blank) else ""
        return ("\n".join(lines) + "\n* best; ↑ higher / ↓ lower is better; ± half the 95% "
                "interval" + note)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        return self.table("html")

    def to_frame(self):
        """A pandas DataFrame: one row per method; each metric's mean, low and high; cost.

        pandas is optional: this is the only place that needs it.
        """
        try:
            import pandas as pd
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError("Comparison.to_frame needs pandas: pip install pandas.") from error
        records = []
        for method in self.methods:
            record = {"method": method}
            for metric in self.metrics:
                result = self.results[method][metric]
                low, high = result.interval
                record.update({metric: result.mean, f"{metric}_low": low,
                               f"{metric}_high": high})
            record.update({"seconds": self.seconds[method], "model_calls": self.calls[method]})
            records.append(record)
        return pd.DataFrame.from_records(records).set_index("method")

    def to_csv(self) -> str:
        """The table of :meth:`to_frame` as CSV text (no pandas needed)."""
        columns = ["method"]
        for metric in self.metrics:
            columns += [metric, f"{metric}_low", f"{metric}_high"]
        columns += ["seconds", "model_calls"]
        lines = [",".join(columns)]
        for method in self.methods:
            values = [method]
            for metric in self.metrics:
                result = self.results[method][metric]
                values += [repr(result.mean), *map(repr, result.interval)]
            values += [repr(self.seconds[method]), str(self.calls[method])]
            lines.append(",".join(values))
        return "\n".join(lines) + "\n"

    def plot(self, *, indices=None, target: int = 0):
        """The maps side by side per image, the curves and a bar per metric; the Figure.

        Parameters
        ----------
        indices : sequence of int, optional
            Which images (rows); default the first four.
        target : int, default=0
            Which of the explanations' targets.
        """
        from ..plotting._compare import plot_compare

        return plot_compare(self, indices=indices, target=target)


def _method_instances(net, methods, method_options: dict, fixed: dict) -> dict:
    """Method name -> an unfitted explainer (names with the options that fit them)."""
    if isinstance(methods, str | Explainer):
        methods = (methods,)
    labelled = methods.items() if isinstance(methods, dict) else ((None, m) for m in methods)
    explainers = {}
    for label, method in labelled:
        if isinstance(method, Explainer):
            name = method.method_name or type(method).__name__
            explainer = method
        elif isinstance(method, str):
            if method not in METHODS:
                raise ValueError(
                    f"Unknown method {method!r}; choose one of {', '.join(map(repr, METHODS))}"
                    " or pass an Explainer.")
            name, cls = method, METHODS[method]
            accepted = set(inspect.signature(cls).parameters)
            options = dict(method_options.get(method, {}))
            unknown = sorted(set(options) - accepted)
            if unknown:
                raise TypeError(
                    f"method_options[{method!r}] has unknown option(s) "
                    f"{', '.join(map(repr, unknown))}; its options are "
                    f"{', '.join(sorted(accepted - {'net'}))}.")
            for key, value in fixed.items():
                if key in accepted and key not in options and value is not None:
                    options[key] = value
            explainer = cls(net, **options)
        else:
            raise TypeError(
                f"methods must hold method names or Explainer instances; got {method!r}.")
        unique, count = (name if label is None else str(label)), 2
        while unique in explainers:
            unique, count = f"{name}-{count}", count + 1
        explainers[unique] = explainer
    if not explainers:
        raise ValueError("methods must name at least one method.")
    return explainers


def _fitted(explainer) -> bool:
    try:
        explainer._check_fitted()
    except NotFittedError:
        return False
    return True


def _check_metrics(metrics, masks) -> list[str]:
    if isinstance(metrics, str):
        metrics = (metrics,)
    names = list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise ValueError(
            f"Unknown metric(s) {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(map(repr, METRICS))}.")
    if not names:
        raise ValueError("metrics must name at least one metric.")
    if masks is None:
        needing = [m for m in names if m in LOCALISATION]
        if needing:
            raise ValueError(
                f"{', '.join(map(repr, needing))} compare the maps with ground truth: pass "
                "masks= (boolean masks (N, H, W) or boxes).")
    elif not any(m in LOCALISATION for m in names) and tuple(metrics) == DEFAULT_METRICS:
        names += list(LOCALISATION)
    return list(dict.fromkeys(names))


#: What compare itself decides for every faithfulness metric (not per-metric options).
_SHARED = {"net", "X", "maps", "target", "score", "output", "task", "roi", "class_names",
           "batch_size", "progress"}


def _check_metric_options(metric_options: dict, names: list[str]) -> None:
    """A clear error for options of a metric not run, or options the metric does not take."""
    from . import _faithfulness, _randomization

    functions = {**{name: getattr(_faithfulness, name) for name in PLANS}, **LOCALISATION,
                 **COMPLEXITY, "randomization": _randomization.randomization_check}
    for metric, options in metric_options.items():
        if metric not in names:
            raise ValueError(
                f"metric_options names {metric!r}, which is not among the metrics run: "
                f"{', '.join(map(repr, names))}.")
        accepted = set(inspect.signature(functions[metric]).parameters) - _SHARED - {
            "explainer", "masks"}
        unknown = sorted(set(options) - accepted)
        if unknown:
            raise TypeError(
                f"metric_options[{metric!r}] has unknown option(s) "
                f"{', '.join(map(repr, unknown))}; its options are "
                f"{', '.join(sorted(accepted)) or 'none'}.")


def _warm_up(explainer, images: np.ndarray, target, explain_options: dict) -> None:
    """Explain the first image, then the first two: every compiled function the method
    calls is traced, and retraced for a batch dimension of any size (TensorFlow relaxes
    a shape on its second trace), before the timed explanation."""
    n = len(images)
    for count in sorted({1, min(2, n)}):
        part = {k: v[:count] if isinstance(v, np.ndarray) and v.ndim >= 3 and len(v) == n
                else v for k, v in explain_options.items()}
        explainer.explain(images[:count],
                          target[:count] if isinstance(target, np.ndarray) else target, **part)


def _options(metric: str, metric_options: dict, random_state) -> dict:
    if isinstance(random_state, ImageSeeds):  # a data-set run: per image and metric
        random_state = random_state.child(f"metric:{metric}")
    options = dict(metric_options.get(metric, {}))
    if "random_state" not in options:
        options["random_state"] = random_state
    return options


def compare(net, X, target=None, methods=("gradcam", "occlusion", "lime"),
            metrics=DEFAULT_METRICS, masks=None, method_options: dict | None = None,
            metric_options: dict | None = None, batch_size="auto", random_state=None,
            progress=None, *, output=None, task: str = "auto", roi=None,
            score: str = "probability", class_names=None, output_dir=None,
            save_maps: bool = False, maps_dtype: str = "float32", resume: bool | None = None,
            overwrite: bool = False, engine: str = "local", workers: int | None = None,
            address: str | None = None, engine_options: dict | None = None,
            images_per_batch: int = 32,
            on_error: str = "raise") -> Comparison:
    """Explain ``X`` with every method and score every map with every metric.

    The targets are resolved once (None = each image's predicted class) and given to every
    method as one target per image, so that all methods explain the same classes. The
    faithfulness metrics of all methods score their perturbed images together, in shared
    mini-batches of ``batch_size``.

    Parameters
    ----------
    net : keras.Model, estimator or callable
        The model.
    X : array-like
        The images ``(N, H, W, C)``.
    target : int, str, list, ndarray or None
        As for the methods; a numpy array ``(N,)`` (e.g. the labels) is one per image.
    methods : sequence of str or Explainer, or dict
        Method names (any that :func:`explainkit.explain` knows) or explainer instances
        (a fitted L-CAM is used as trained; others are fitted on ``X``); a dict labels
        them (label -> name or instance).
    metrics : sequence of str
        Metric names: "deletion", "insertion", "average_drop", "increase_in_confidence",
        "average_gain", "mu_fidelity", "pointing_game", "energy_pointing_game",
        "relevance_rank_accuracy" (these three need ``masks``; with ``masks`` and the
        default metrics they are added), "sparseness", "complexity", "randomization".
    masks : bool array (N, H, W) or boxes, optional
        Ground truth for the localisation metrics.
    method_options, metric_options : dict, optional
        Name -> options of that method or metric.
    batch_size : int or "auto", default="auto"
        Perturbed images per model call, for the metrics.
    random_state : None or int
        Seeds every method and metric that draws at random (the same seed for each, so that
        e.g. mu-fidelity hides the same subsets for every method).
    progress : bool or None
        Progress bars (None: on long interactive runs).
    output, task, roi, score, class_names
        As for the metrics (and given to the methods that take them).
    output_dir, save_maps, maps_dtype, resume, overwrite, engine, workers, address, \
engine_options, images_per_batch, on_error
        A data-set run (see :func:`explainkit.explain_dataset`): ``X`` may then also be a
        ``tf.data.Dataset``, a ``keras.utils.PyDataset``, an iterable of batches or an
        image folder, streamed ``images_per_batch`` images at a time, its labels the
        targets when ``target`` is None; results go to ``output_dir`` as they complete
        (the table, the figure and ``manifest.json`` at the end), a stopped run resumes,
        ``engine="ray"`` runs on Ray. Every random draw is then seeded per image from
        ``(random_state, position, method or metric)``; the returned ``explanations``
        hold the first four images (``maps``: all, when saved).

    Returns
    -------
    Comparison
    """
    from .._dataset import is_dataset
    from .._dataset._runner import load_net
    from .._detection import is_hub_detector

    if task == "detection" or is_hub_detector(net):
        raise ValueError(
            "compare does not take object detectors yet; explain with DRISE, occlusion or "
            "the gradient methods and score each Explanation with the metrics (deletion, "
            "insertion, average_drop, pointing_game, ... take a detector's Explanation).")
    if not (is_dataset(X) or output_dir is not None or engine != "local"):
        net = load_net(net)  # a model file or factory, as on a data set
    if is_dataset(X) or output_dir is not None or engine != "local":
        from .._dataset import run as run_dataset

        return run_dataset(
            net, X, kind="compare", methods=methods, metrics=metrics, target=target,
            masks=masks, method_options=method_options, metric_options=metric_options,
            batch_size=batch_size, random_state=random_state, progress=progress,
            output=output, task=task, roi=roi, score=score, class_names=class_names,
            output_dir=output_dir, save_maps=save_maps, maps_dtype=maps_dtype,
            resume=resume, overwrite=overwrite, engine=engine, workers=workers,
            address=address, engine_options=engine_options,
            images_per_batch=images_per_batch, on_error=on_error)
    method_options = dict(method_options or {})
    metric_options = dict(metric_options or {})
    names = _check_metrics(metrics, masks)
    _check_metric_options(metric_options, names)
    if random_state is None:  # one seed for all, so that the methods are compared alike
        random_state = int(_generator(None).integers(2**31))
    # A keras-hub task: the images as it takes them, for the methods and the metrics alike.
    with converted_images(net, X) as X:
        scorer = Scorer(net, X, output=output, task=task, roi=roi, score=score,
                        class_names=class_names, batch_size=batch_size, progress=progress)
        classes, single = scorer.resolve(target)
        per_image = classes[:, 0] if single else classes
        fixed = {"output": output, "class_names": class_names, "random_state": random_state,
                 "progress": progress, "task": None if task == "auto" else task}
        explainers = _method_instances(net, methods, method_options, fixed)
        explanations, seconds, calls, warmup, blank = {}, {}, {}, {}, {}
        explain_options = {"roi": roi} if roi is not None else {}
        for name, explainer in explainers.items():
            with count_calls() as counter:
                start = time.perf_counter()
                if not (getattr(explainer, "learned", False) and _fitted(explainer)):
                    explainer.fit(scorer.images)  # a trained L-CAM is used as it is
                fitting = time.perf_counter() - start
            if is_keras_model(net):  # trace and compile first, so that seconds are the work
                start = time.perf_counter()
                with count_calls(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", BlankMapWarning)  # said once, below
                    _warm_up(explainer, scorer.images, per_image, explain_options)
                warmup[name] = time.perf_counter() - start
            with count_calls() as explaining, warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", BlankMapWarning)
                start = time.perf_counter()
                explanations[name] = explainer.explain(scorer.images, per_image,
                                                       **explain_options)
                seconds[name] = fitting + time.perf_counter() - start
            for warning in caught:  # passed on; a blank map also marks the method
                if issubclass(warning.category, BlankMapWarning):
                    blank[name] = str(warning.message)
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
            calls[name] = counter.calls + explaining.calls
        start = time.perf_counter()
        with count_calls() as counter:
            results = _score_all(scorer, explainers, explanations, names, classes, masks,
                                 metric_options, random_state)
        return Comparison(
            explanations=explanations, results=results, seconds=seconds, calls=calls,
            warmup_seconds=warmup, blank=blank,
            metric_seconds=time.perf_counter() - start, metric_calls=counter.calls,
            params={"metrics": names, "random_state": random_state, "score": score,
                    "batch_size": batch_size, "metric_options": metric_options},
        )  # fmt: skip


def _score_all(scorer, explainers, explanations, names, classes, masks, metric_options,
               random_state) -> dict:
    """Method -> {metric -> result}; the faithfulness plans of all methods run together."""
    results = {name: {} for name in explanations}
    plans, owners = [], []
    for method, explanation in explanations.items():
        maps, single, _ = as_maps(explanation)
        check_maps(maps, scorer.images)
        shared = {}
        for metric in names:
            if metric not in PLANS:
                continue
            plan_fn, fixed = PLANS[metric]
            plan = plan_fn(scorer, maps, single, classes, **fixed,
                           **_options(metric, metric_options, random_state))
            if plan.key and plan.key in shared:  # AD, IC and AG share their images
                plan.perturbations = []
                owners.append((method, metric, plan, shared[plan.key]))
            else:
                shared[plan.key] = len(plans)
                owners.append((method, metric, plan, len(plans)))
                plans.append(plan)
    scores = run(scorer, [p for plan in plans for p in plan.perturbations], desc="compare")
    offsets = np.cumsum([0] + [len(plan.perturbations) for plan in plans])
    for method, metric, plan, source in owners:
        results[method][metric] = plan.finish(scores[offsets[source]:offsets[source + 1]])
    for method, explanation in explanations.items():
        for metric in names:
            if metric in LOCALISATION:
                options = dict(metric_options.get(metric, {}))
                if "random_state" in inspect.signature(LOCALISATION[metric]).parameters:
                    options = _options(metric, metric_options, random_state)
                results[method][metric] = LOCALISATION[metric](explanation, masks, **options)
            elif metric in COMPLEXITY:
                results[method][metric] = COMPLEXITY[metric](explanation,
                                                             **metric_options.get(metric, {}))
            elif metric == "randomization":
                from ._randomization import randomization_check

                options = _options(metric, metric_options, random_state)
                results[method][metric] = randomization_check(
                    explainers[method], scorer.images, explanation.targets, **options)
        results[method] = {metric: results[method][metric] for metric in names}
    return results

