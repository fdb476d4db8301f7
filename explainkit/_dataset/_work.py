"""The runner's unit of work: one batch of a data set -> rows of results (and maps).

:class:`Job` is the call (picklable: what every engine sends to its workers); a
:class:`Worker` holds the model and the explainers, built once, and turns each
:class:`~._sources.Batch` into a :class:`BatchResult`. The local engine calls a worker in a
loop, the Ray engine inside ``map_batches`` actors; a redone batch gives the same result.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._explanation import BlankMapWarning, concatenate
from .._seeds import ImageSeeds, image_seed

#: Images of the first batch kept as explanations, for the comparison's figure.
KEEP = 4


@dataclass
class Job:
    """A data-set run's call: what to explain, how, and what to score."""

    kind: str  # "compare" or "explain"
    methods: object
    metrics: list
    method_options: dict
    metric_options: dict
    root: int
    target: object = None
    output: object = None
    task: str = "auto"
    roi: object = None
    score: str = "probability"
    class_names: object = None
    batch_size: object = "auto"
    keep_maps: bool = False
    keep_explanations: bool = False


@dataclass
class BatchResult:
    """What one batch gave: rows (a dict of columns), maps and curves per method, costs."""

    positions: np.ndarray
    rows: dict
    maps: dict = field(default_factory=dict)
    curves: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    calls: dict = field(default_factory=dict)
    metric_seconds: float = 0.0
    metric_calls: int = 0
    blank: dict = field(default_factory=dict)
    warmup: dict = field(default_factory=dict)
    explanations: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def _stochastic(explainer) -> bool:
    """Whether an explainer draws at random when it explains (then: seeded per image)."""
    return "random_state" in explainer.get_params(deep=False) and not getattr(
        explainer, "learned", False)


class Worker:
    """The model and the explainers of a :class:`Job`, turning batches into results."""

    def __init__(self, net, job: Job):
        from ..metrics._compare import _method_instances

        self.net, self.job = net, job
        fixed = {"output": job.output, "class_names": job.class_names, "progress": False,
                 "task": None if job.task == "auto" else job.task}
        self.explainers = _method_instances(net, job.methods, job.method_options, fixed)
        for label, explainer in self.explainers.items():
            if getattr(explainer, "learned", False) and not _fitted(explainer):
                raise ValueError(
                    f"{label!r} learns from data: on a data set, give it trained (e.g. "
                    "LCAM(net).fit(train_images) as a method), it is not trained on the data "
                    "it explains.")
        self._fitted = False

    def __call__(self, batch) -> BatchResult:
        from ..base import converted_images
        from ..metrics._compare import _score_all
        from ..metrics._scoring import Scorer

        job = self.job
        with converted_images(self.net, batch.images) as images:
            scorer = Scorer(self.net, images, output=job.output, task=job.task, roi=job.roi,
                            score=job.score, class_names=job.class_names,
                            batch_size=job.batch_size, progress=False)
            target = batch.labels if job.target is None and batch.labels is not None else (
                job.target)
            classes, single = scorer.resolve(target)
            per_image = classes[:, 0] if single else classes
            result = BatchResult(positions=batch.positions, rows={})
            if not self._fitted:
                self._fit(scorer.images, per_image, result)
            explanations = {}
            for label, explainer in self.explainers.items():
                explanations[label] = self._explain(label, explainer, scorer.images,
                                                    per_image, batch.positions, result)
            if job.kind == "compare":
                from .._models import count_calls

                start = time.perf_counter()
                with count_calls() as counter:
                    results = _score_all(scorer, self.explainers, explanations, job.metrics,
                                         classes, batch.masks, job.metric_options,
                                         ImageSeeds(job.root, batch.positions))
                result.metric_seconds = time.perf_counter() - start
                result.metric_calls = counter.calls
                result.rows = _metric_rows(batch, results, classes)
                result.curves = {(m, k): np.asarray(r.curves, np.float32).reshape(
                    len(batch), -1, np.shape(r.curves)[-1])
                    for m, by_metric in results.items() for k, r in by_metric.items()
                    if r.curves is not None}
                result.info = {metric: {
                    "higher_is_better": bool(r.higher_is_better),
                    "fractions": None if r.fractions is None else [
                        float(f) for f in r.fractions]}
                    for metric, r in next(iter(results.values())).items()}
            else:
                result.rows = _explanation_rows(batch, explanations)
            result.info["single_target"] = bool(single)
        if job.keep_maps:
            result.maps = {label: e.maps for label, e in explanations.items()}
        if job.keep_explanations:
            result.explanations = explanations
        elif batch.positions[0] < KEEP:  # the first images, for the figure
            first = int(np.searchsorted(batch.positions, KEEP))
            result.explanations = {label: _head(e, first) for label, e in explanations.items()}
        return result

    def _fit(self, images, per_image, result) -> None:
        """Fit each explainer once, then (Keras models) trace its compiled functions on
        one and two images, untimed: the seconds of the batches are the work."""
        from .._models import count_calls, is_keras_model
        from ..metrics._compare import _warm_up

        for label, explainer in self.explainers.items():
            start = time.perf_counter()
            if not getattr(explainer, "learned", False):
                explainer.fit(images)
            if is_keras_model(self.net):
                with count_calls(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", BlankMapWarning)
                    one = copy.copy(explainer)
                    if _stochastic(explainer):
                        one.random_state = 0
                    _warm_up(one, images, per_image, {})
            result.warmup[label] = time.perf_counter() - start
        self._fitted = True

    def _explain(self, label, explainer, images, per_image, positions, result):
        from .._models import count_calls

        with count_calls() as counter, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BlankMapWarning)
            start = time.perf_counter()
            if _stochastic(explainer):  # each image from its own seed: batch-independent
                parts = []
                for i, position in enumerate(positions):
                    one = copy.copy(explainer)
                    one.random_state = image_seed(self.job.root, int(position),
                                                  f"method:{label}")
                    parts.append(one.explain(images[i:i + 1], per_image[i:i + 1]))
                explanation = concatenate(parts)
            else:
                explanation = explainer.explain(images, per_image)
            result.seconds[label] = time.perf_counter() - start
        result.calls[label] = counter.calls
        for warning in caught:
            if issubclass(warning.category, BlankMapWarning):
                result.blank[label] = str(warning.message)
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                       warning.lineno)
        return explanation


def _fitted(explainer) -> bool:
    from ..metrics._compare import _fitted as fitted

    return fitted(explainer)


def _head(explanation, count: int):
    """The explanation of the first ``count`` images."""
    from .._explanation import take

    return take(explanation, slice(0, count))


def _metric_rows(batch, results: dict, classes: np.ndarray) -> dict:
    """One row per image x method x metric x target."""
    n, k = classes.shape
    columns = {"position": [], "name": [], "method": [], "metric": [], "target": [],
               "class": [], "value": []}
    names = batch.names or [""] * n
    for method, by_metric in results.items():
        for metric, result in by_metric.items():
            values = np.asarray(result.values, np.float64).reshape(n, -1)
            for i in range(n):
                for t in range(values.shape[1]):
                    columns["position"].append(int(batch.positions[i]))
                    columns["name"].append(names[i])
                    columns["method"].append(method)
                    columns["metric"].append(metric)
                    columns["target"].append(t)
                    columns["class"].append(int(classes[i, min(t, k - 1)]))
                    columns["value"].append(float(values[i, t]))
    return columns


def _explanation_rows(batch, explanations: dict) -> dict:
    """One row per image x method x target: the class and the explained score."""
    columns = {"position": [], "name": [], "method": [], "target": [], "class": [],
               "score": []}
    names = batch.names or [""] * len(batch)
    for method, explanation in explanations.items():
        scores = np.asarray(explanation.scores, np.float64).reshape(len(batch), -1)
        targets = (np.full(scores.shape, -1) if explanation.targets is None else
                   np.asarray(explanation.targets).reshape(len(batch), -1))
        for i in range(len(batch)):
            for t in range(scores.shape[1]):
                columns["position"].append(int(batch.positions[i]))
                columns["name"].append(names[i])
                columns["method"].append(method)
                columns["target"].append(t)
                columns["class"].append(int(targets[i, t]))
                columns["score"].append(float(scores[i, t]))
    return columns
