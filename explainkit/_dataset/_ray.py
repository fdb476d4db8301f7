"""The Ray engine: the runner's batches as a Ray Dataset, explained by ``map_batches`` actors.

Each actor loads the model once (from its file or factory) and runs the same
:class:`~._work.Worker` as the local engine on whole batches, so results are equal by
construction; Ray Data restarts an actor that dies and redoes its batch. Results stream
back to the driver, which writes the shards as the local engine does (resume and the files
are the same). A folder travels as image positions, read by the actors with the local
engine's reader (a shared file system on a cluster).
"""

from __future__ import annotations

import logging
import os
import pickle

import numpy as np

#: Ray options of a data-set run (``engine_options``) and their defaults. Restarts and
#: retries are Ray Data's own: an actor pool restarts an actor that dies and resubmits its
#: batch (``max_restarts=-1``, ``max_task_retries=-1``; Ray 2.60 deprecates passing them).
ENGINE_OPTIONS = {"num_cpus": 1.0, "num_gpus": 0.0}


def check_ray(net, methods) -> None:
    """Ray is installed, the model can travel, the methods are named."""
    try:
        import ray  # noqa: F401
    except ImportError as error:
        raise ImportError("engine='ray' needs Ray Data: pip install 'explainkit[ray]'.") from error
    from ._runner import _is_factory, _is_model

    if not (isinstance(net, str | os.PathLike) or (
            callable(net) and not _is_model(net) and _is_factory(net))):
        raise ValueError(
            f"engine='ray' sends the model to its workers as a file or a factory, not as an "
            f"object in memory (got a {type(net).__name__}): save it (net.save('model.keras')) "
            "and give the path, or give a picklable zero-argument function that builds or "
            "loads it.")
    from ..base import Explainer

    given = methods.values() if isinstance(methods, dict) else (
        (methods,) if isinstance(methods, str | Explainer) else methods)
    if any(isinstance(m, Explainer) for m in given):
        raise ValueError("engine='ray' takes methods by name (with method_options); an "
                         "Explainer instance holds its model in memory.")


def check_engine_options(options) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - set(ENGINE_OPTIONS))
    if unknown:
        raise TypeError(f"engine_options has unknown option(s) {', '.join(map(repr, unknown))};"
                        f" its options are {', '.join(ENGINE_OPTIONS)}.")
    return {**ENGINE_OPTIONS, **options}


class _Actor:
    """One Ray actor: the model loaded once, batches explained by the runner's Worker."""

    def __init__(self, source, job, folder, read):
        from ._runner import load_net
        from ._work import Worker

        self.worker = Worker(load_net(source), job)
        self.folder, self.read = folder, read

    def __call__(self, rows: dict) -> dict:
        from ._sources import stream

        results = []
        for blob in rows["batch"]:
            batch = pickle.loads(blob)
            skipped: list = []
            if batch.images is None:  # a folder's positions: read them here
                batch = next(stream(self.folder, max(1, len(batch)), only=batch.positions,
                                    skipped=skipped, **self.read), None)
            if batch is None:  # every file of the batch left out
                from ._work import BatchResult

                result = BatchResult(positions=np.zeros(0, np.int64), rows={})
            else:
                result = self.worker(batch)
            result.info["skipped"] = skipped
            results.append(pickle.dumps(result))
        return {"result": np.array(results, dtype=object)}


def _workers(workers, address, num_cpus: float) -> int:
    import ray

    if workers is not None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive int; got {workers!r}.")
        return workers
    cpus = ray.cluster_resources().get("CPU", 1)
    if address is None:  # one machine: leave a core to the driver
        cpus = max(1, cpus - 1)
    return max(1, int(cpus // max(num_cpus, 1e-9)))


def run_ray(source, job, batches, *, workers=None, address=None, engine_options=None,
            folder=None, read=None):
    """Yield the :class:`~._work.BatchResult` of every batch, explained on Ray."""
    import ray

    options = check_engine_options(engine_options)
    started = not ray.is_initialized()
    if started:
        cpus = None if address is not None else os.cpu_count()
        ray.init(address=address, num_cpus=cpus, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.enable_auto_log_stats
    logger = logging.getLogger("ray.data")
    level = logger.level
    # explainkit's own bar counts images; Ray Data's bars and progress log lines are off
    context.enable_progress_bars = context.enable_auto_log_stats = False
    logger.setLevel(logging.ERROR)
    try:
        items = [{"batch": pickle.dumps(b)} for b in batches]
        if not items:
            return
        dataset = ray.data.from_items(items, override_num_blocks=len(items))
        size = min(_workers(workers, address, options["num_cpus"]), len(items))
        results = dataset.map_batches(
            _Actor, batch_size=1, compute=ray.data.ActorPoolStrategy(size=size),
            fn_constructor_kwargs={"source": source, "job": job, "folder": folder,
                                   "read": read or {}},
            num_cpus=options["num_cpus"], num_gpus=options["num_gpus"] or None)
        for row in results.iter_rows():
            yield pickle.loads(row["result"])
    finally:
        context.enable_progress_bars, context.enable_auto_log_stats = saved
        logger.setLevel(level)
        if started:
            ray.shutdown()
