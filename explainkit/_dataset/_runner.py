"""Data-set runs: stream batches through a :class:`~._work.Worker`, write, resume, gather.

The local engine calls the worker in a loop; :mod:`._ray` runs the same worker in Ray
Data actors. Both hand each :class:`~._work.BatchResult` to :func:`_gather` (in memory)
and to a :class:`~._store.Store` (``output_dir``), which are all that differ between a
run in memory and one on disk.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .._seeds import root_seed
from ._sources import describe, stream
from ._store import Store, jsonable, load_first, rows_format
from ._work import Job, Worker

ENGINES = ("local", "ray")


def load_net(net):
    """The model: ``net`` itself, a model file (``.keras``, ``.h5``) loaded, or a factory's."""
    if isinstance(net, str | os.PathLike):
        path = Path(net)
        if not path.is_file():
            raise ValueError(f"net: model file {path} not found.")
        import keras

        return keras.saving.load_model(path, compile=False)
    if callable(net) and not _is_model(net) and _is_factory(net):
        return net()
    return net


def _is_model(net) -> bool:
    from .._models import is_keras_model

    return is_keras_model(net) or hasattr(net, "predict") or hasattr(net, "predict_proba")


def _is_factory(net) -> bool:
    """A zero-argument callable that is not itself a predictor (a function, a partial)."""
    import inspect

    try:
        signature = inspect.signature(net)
    except (TypeError, ValueError):
        return False
    return all(p.default is not p.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in signature.parameters.values())


def model_identity(net, source) -> dict:
    """What identifies the model in a manifest: its class, name and weights' digest."""
    identity = {"class": type(net).__name__}
    if isinstance(source, str | os.PathLike):
        identity["file"] = str(Path(source).resolve())
    weights = getattr(net, "weights", None)
    if weights is not None and hasattr(net, "get_weights"):
        digest = hashlib.sha256()
        for value in net.get_weights():
            digest.update(np.ascontiguousarray(value).tobytes())
        identity.update(name=getattr(net, "name", None), weights=digest.hexdigest())
    else:
        try:
            import joblib

            identity["hash"] = joblib.hash(net)
        except Exception:  # an object joblib cannot pickle: its class name only
            identity["hash"] = None
    return identity


def _versions() -> dict:
    import explainkit

    versions = {"explainkit": explainkit.__version__, "python": platform.python_version(),
                "numpy": np.__version__}
    import sys

    for name in ("keras", "tensorflow", "ray"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", None)
    return versions


def _explainer_params(explainers: dict) -> dict:
    return {label: {"method": e.method_name or type(e).__name__,
                    "params": jsonable(e._run_params())}
            for label, e in explainers.items()}


def run(net, data, *, kind: str, methods, metrics=(), target=None, masks=None, y=None,
        method_options=None, metric_options=None, batch_size="auto", random_state=None,
        progress=None, output=None, task="auto", roi=None, score="probability",
        class_names=None, output_dir=None, save_maps=None, maps_dtype="float32",
        resume=None, overwrite=False, engine="local", workers=None, address=None,
        engine_options=None, images_per_batch=32, on_error="raise"):
    """Run a comparison (``kind="compare"``) or one method (``"explain"``) over ``data``."""
    from .._validation import check_int, check_option

    check_option("engine", engine, ENGINES)
    images_per_batch = check_int("images_per_batch", images_per_batch)
    if engine == "local" and (workers is not None or address is not None):
        raise ValueError("workers and address are for engine='ray'; the local engine runs "
                         "in this process.")
    check_option("on_error", on_error, ("raise", "skip"))
    check_option("maps_dtype", maps_dtype, ("float32", "float16"))
    if resume not in (None, True, False):
        raise TypeError(f"resume must be None, True or False; got {resume!r}.")
    if roi is not None and not (isinstance(roi, str) and roi == "predicted"):
        raise ValueError("on a data set, roi must be None or 'predicted' (a mask per image "
                         "does not stream); got an array or other value.")
    if isinstance(target, np.ndarray) and target.ndim >= 1 and describe(data) == "array":
        y, target = target, None  # one target per image: the labels
    elif isinstance(target, np.ndarray):
        raise ValueError("on a data set, give per-image targets as its labels ((images, "
                         "labels) elements); target takes one class (int, str or list).")
    source = net
    if engine == "ray":
        from ._ray import check_engine_options, check_ray

        check_ray(net, methods)
        check_engine_options(engine_options)
    elif engine_options:
        raise ValueError("engine_options are Ray's (engine='ray').")
    net = load_net(net)
    save_maps = (kind == "explain") if save_maps is None else bool(save_maps)
    in_memory = kind == "explain" and output_dir is None

    skipped: list = []
    channels = _channels(net)
    first_batches = stream(data, images_per_batch, y=y, masks=masks, channels=channels,
                           on_error=on_error, skipped=skipped)
    first = next(first_batches, None)
    if first is None:
        raise ValueError(f"the data set ({describe(data)}) gives no images.")
    if kind == "compare":
        from ..metrics._compare import _check_metric_options, _check_metrics

        if "randomization" in (metrics if not isinstance(metrics, str) else (metrics,)):
            raise ValueError("randomization checks the model, not each image: run "
                             "explainkit.metrics.randomization_check on a sample of images; "
                             "it is not a metric of data-set runs.")
        metrics = _check_metrics(metrics, first.masks)
        _check_metric_options(dict(metric_options or {}), metrics)
    given_seed = None if random_state is None else root_seed(random_state)
    job = Job(kind=kind, methods=methods, metrics=list(metrics),
              method_options=dict(method_options or {}),
              metric_options=dict(metric_options or {}), root=0, target=target,
              output=output, task=task, roi=roi, score=score, class_names=class_names,
              batch_size=batch_size, keep_maps=save_maps and output_dir is not None,
              keep_explanations=in_memory)
    worker = Worker(net, job)  # the explainers' names and parameters, for the manifest
    call = {"kind": kind, "methods": _explainer_params(worker.explainers),
            "metrics": list(metrics), "metric_options": jsonable(job.metric_options),
            "random_state": given_seed, "target": jsonable(target), "output": output,
            "task": task, "roi": roi, "score": score, "class_names": jsonable(class_names),
            "model": model_identity(net, source)}
    store = None
    if output_dir is not None:
        manifest = {"format": 1, "call": call, "versions": _versions(),
                    "data": {"kind": describe(data), "length": _length(data)},
                    "rows_format": rows_format(), "maps_dtype": maps_dtype,
                    "save_maps": save_maps, "complete": False,
                    "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        store = Store(output_dir, manifest, resume=resume, overwrite=overwrite)
        job.root = store.root
    else:
        job.root = root_seed(None) if given_seed is None else given_seed
    done = store.done() if store is not None else set()

    def images():
        if not done:
            yield first
            yield from first_batches
        else:  # resumed: the stream again, without the images written
            yield from stream(data, images_per_batch, y=y, masks=masks, channels=channels,
                              on_error=on_error, skipped=skipped, skip=frozenset(done))

    folder = read = None
    if engine == "ray" and describe(data) == "folder":  # positions travel, actors read
        folder, read = data, {"channels": channels, "on_error": on_error,
                              "shape": first.images.shape[1:]}
        todo = [p for p in range(len(data)) if p not in done]

        def positions():  # the folder's positions instead of its images
            from ._sources import Batch

            for start in range(0, len(todo), images_per_batch):
                positions = np.asarray(todo[start:start + images_per_batch], np.int64)
                yield Batch(positions=positions, images=None)

    gathered = Gathered(kind)
    total = _length(data)
    bar = _progress(progress, total, initial=len(done))
    start = time.perf_counter()
    try:
        if engine == "ray":
            from ._ray import run_ray

            batches = positions() if folder is not None else images()
            results = run_ray(source, job, batches, workers=workers, address=address,
                              engine_options=engine_options, folder=folder, read=read)
        else:
            results = map(worker, images())
        for result in results:
            skipped.extend(result.info.pop("skipped", []))
            if not len(result.positions):
                continue
            if store is not None:
                if not store.manifest.get("metrics_info"):
                    store.update(metrics_info=result.info)
                store.write(result)
            gathered.add(result)
            if bar is not None:
                bar.update(len(result.positions))
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - start
    if store is not None:
        gathered = Gathered(kind)
        gathered.read(store)
        store.update(complete=True, images=gathered.count, skipped=skipped,
                     wall_seconds=seconds, engine=engine,
                     finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     versions=_versions())
    if kind == "explain":
        return gathered.explanation() if store is None else None
    outcome = gathered.comparison(job)
    if store is not None:
        write_tables(outcome, Path(output_dir))
        if save_maps:
            from ._reader import SavedMaps

            object.__setattr__(outcome, "maps", {m: SavedMaps(output_dir, m)
                                                 for m in outcome.methods})
    return outcome


def _channels(net) -> int | None:
    try:
        from .._models import predictor

        shape = predictor(net).input_shape
    except Exception:  # a model whose input is not known before it is called
        return None
    return None if not shape or shape[-1] is None else int(shape[-1])


def _length(data) -> int | None:
    try:
        length = len(data)
    except TypeError:
        return None
    if describe(data) in ("array",):
        return int(np.shape(data)[0]) if np.ndim(data) == 4 else 1
    if describe(data) in ("tf.data", "PyDataset", "list of batches"):
        return None  # batches, not images
    return int(length)


def _progress(progress, total, initial: int):
    if progress is False or (progress is None and total is None):
        return None
    import sys

    if progress is None and not sys.stderr.isatty():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="image", desc="images")


class Gathered:
    """The results of all batches, in memory: rows, curves, costs, the first explanations."""

    def __init__(self, kind: str):
        self.kind = kind
        self.rows: dict = {}
        self.curves: dict = {}
        self.seconds: dict = {}
        self.calls: dict = {}
        self.metric_seconds = 0.0
        self.metric_calls = 0
        self.blank: dict = {}
        self.warmup: dict = {}
        self.explanations: dict = {}
        self.info: dict = {}

    @property
    def count(self) -> int:
        return len(set(self.rows.get("position", ())))

    def _costs(self, seconds, calls, metric_seconds, metric_calls, blank, warmup) -> None:
        for label, value in warmup.items():
            self.warmup[label] = self.warmup.get(label, 0.0) + value
        for label, value in seconds.items():
            self.seconds[label] = self.seconds.get(label, 0.0) + value
        for label, value in calls.items():
            self.calls[label] = self.calls.get(label, 0) + value
        self.metric_seconds += metric_seconds
        self.metric_calls += metric_calls
        for label, message in blank.items():
            self.blank.setdefault(label, message)

    def _rows(self, rows: dict) -> None:
        for name, values in rows.items():
            self.rows.setdefault(name, []).extend(values)

    def add(self, result) -> None:
        self._rows(result.rows)
        self._costs(result.seconds, result.calls, result.metric_seconds,
                    result.metric_calls, result.blank, result.warmup)
        for key, curves in result.curves.items():
            self.curves.setdefault(key, []).append((result.positions, curves))
        for label, explanation in result.explanations.items():
            self.explanations.setdefault(label, []).append(
                (result.positions[:len(explanation.maps)], explanation))
        self.info.update(result.info)

    def read(self, store) -> None:
        """Everything written in ``store`` (a resumed or finished run)."""
        import json

        from ._store import folder_name, read_rows

        for path in store.row_files():
            self._rows(read_rows(path))
            costs = json.loads((store.directory / "costs" / (path.stem + ".json")).read_text())
            self._costs(costs["seconds"], costs["calls"], costs["metric_seconds"],
                        costs["metric_calls"], costs["blank"], costs.get("warmup", {}))
            positions = np.asarray(costs["positions"], np.int64)
            for label in store.manifest["call"]["methods"]:
                folder = store.directory / "curves" / folder_name(label)
                for metric_folder in sorted(folder.glob("*")) if folder.exists() else ():
                    self.curves.setdefault((label, metric_folder.name), []).append(
                        (positions, np.load(metric_folder / f"{path.stem}.npy")))
        self.info.update(store.manifest.get("metrics_info") or {})
        for label, explanation in load_first(store.directory).items():
            self.explanations[label] = [(np.arange(len(explanation.maps)), explanation)]

    def comparison(self, job):
        """The :class:`~explainkit.Comparison` of all images, ordered by position."""
        from ..metrics import Comparison
        from ..metrics._result import MetricResult

        rows = {name: np.asarray(values) for name, values in self.rows.items()}
        single = bool(self.info.get("single_target", True))
        results = {}
        for method in dict.fromkeys(rows["method"].tolist()):
            results[method] = {}
            for metric in job.metrics:
                pick = (rows["method"] == method) & (rows["metric"] == metric)
                values = _table(rows["position"][pick], rows["target"][pick],
                                rows["value"][pick])
                curves = None
                if (method, metric) in self.curves:
                    parts = self.curves[(method, metric)]
                    positions = np.concatenate([p for p, _ in parts])
                    stacked = np.concatenate([c for _, c in parts])[np.argsort(positions)]
                    curves = stacked[:, 0] if single else stacked
                info = self.info.get(metric, {})
                fractions = info.get("fractions")
                results[method][metric] = MetricResult(
                    metric, values[:, 0] if single else values,
                    higher_is_better=bool(info.get("higher_is_better", True)),
                    curves=curves,
                    fractions=None if fractions is None else np.asarray(fractions))
        from .._explanation import concatenate

        explanations = {}
        for label, parts in sorted(self.explanations.items()):
            parts = sorted(parts, key=lambda item: int(item[0][0]))
            explanations[label] = concatenate([e for _, e in parts])
        explanations = {m: explanations[m] for m in results if m in explanations}
        return Comparison(explanations=explanations, results=results, seconds=self.seconds,
                          calls=self.calls, metric_seconds=self.metric_seconds,
                          metric_calls=self.metric_calls, blank=self.blank,
                          warmup_seconds=self.warmup,
                          params={"metrics": job.metrics, "random_state": job.root,
                                  "score": job.score, "batch_size": job.batch_size,
                                  "metric_options": job.metric_options,
                                  "images": self.count})

    def explanation(self):
        """explain_dataset in memory: the Explanation of all images, in position order."""
        from .._explanation import concatenate, take

        label, parts = next(iter(self.explanations.items()))
        positions = np.concatenate([p for p, _ in parts])
        return take(concatenate([e for _, e in parts]), np.argsort(positions, kind="stable"))


def _table(positions, targets, values) -> np.ndarray:
    """Values ``(N, K)`` ordered by image position from row columns."""
    images = np.unique(positions)
    table = np.full((len(images), int(targets.max()) + 1 if len(targets) else 1), np.nan)
    table[np.searchsorted(images, positions), targets.astype(int)] = values
    return table


def write_tables(comparison, directory: Path) -> None:
    """The table (text, Markdown, HTML) and the figure of a finished comparison."""
    from ._store import _atomic

    for ending, form in (("txt", "text"), ("md", "markdown"), ("html", "html")):
        text = comparison.table(form) + "\n"
        _atomic(directory / f"table.{ending}", lambda f, t=text: f.write(t.encode()))
    if comparison.explanations:
        import matplotlib.pyplot as plt

        figure = comparison.plot()
        _atomic(directory / "comparison.png",
                lambda f: figure.savefig(f, format="png", dpi=90))
        plt.close(figure)
