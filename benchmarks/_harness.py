"""Shared helpers of the benchmarks: warm timing, peer guarding, environment, result files.

Every benchmark measures in one warm process: each callable is called ``warmup`` times
first (tracing, compilation, caches), then ``repeats`` times, and the median is reported.
Results go to ``benchmarks/results/<name>.json`` (everything, environment included) and
``benchmarks/results/<name>.md`` (tables for people).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from explainkit._quiet import import_tensorflow_quietly

import_tensorflow_quietly()  # no start-up log in the benchmarks' output either

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CORE_PACKAGES = ("tensorflow", "keras", "numpy", "explainkit")


@dataclass
class Timing:
    """Wall-clock seconds of one callable: warm-up calls first, then the timed repeats."""

    median: float
    min: float
    samples: list[float]
    warmup: list[float] = field(default_factory=list)

    @property
    def first_call(self) -> float | None:
        """The first warm-up call (tracing and compilation included), if there was one."""
        return self.warmup[0] if self.warmup else None


def measure(fn: Callable[[], object], repeats: int, warmup: int = 2) -> Timing:
    """Call ``fn`` ``warmup`` times, then time ``repeats`` calls (time.perf_counter)."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}.")

    def once() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    warm = [once() for _ in range(warmup)]
    samples = [once() for _ in range(repeats)]
    return Timing(statistics.median(samples), min(samples), samples, warm)


def measure_interleaved(fns: dict[str, Callable[[], object]], repeats: int,
                        warmup: int = 2) -> dict[str, Timing | Exception]:
    """Like :func:`measure` for several callables, timed in turns (round robin).

    Each callable is warmed up on its own; then every round calls each once, so that a
    change of load on the machine during the run hits all of them alike. A callable that
    raises gets its exception instead of a Timing and leaves the rounds.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}.")

    def once(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    warm: dict[str, list[float]] = {}
    outcome: dict[str, Timing | Exception] = {}
    for name, fn in fns.items():
        try:
            warm[name] = [once(fn) for _ in range(warmup)]
        except Exception as exc:  # reported to the caller, who records it
            outcome[name] = exc
    samples: dict[str, list[float]] = {name: [] for name in warm}
    for _ in range(repeats):
        for name in list(samples):
            try:
                samples[name].append(once(fns[name]))
            except Exception as exc:
                outcome[name] = exc
                del samples[name]
    for name, times in samples.items():
        outcome[name] = Timing(statistics.median(times), min(times), times, warm[name])
    return {name: outcome[name] for name in fns}


def time_setups(setups: dict[str, Callable[[], tuple[Callable[[], object], int]]],
                repeats: int, warmup: int, *, count_key: str, per_key: str):
    """Set every method up, call it once (tracing), then time all in turns.

    ``setups[name]()`` returns ``(call, count)``: the callable to time and how many items
    (images, samples) one call evaluates. A setup or call that raises is recorded as an
    error, not fatal: a peer failing on this Keras version is a result too.

    Returns ``(records, ready, last)``: per method ``first_call_s``, ``count_key``, the
    timing fields and ``per_key`` (median milliseconds per item); the timed callables; and
    each method's last result.
    """
    records, ready, last = {}, {}, {}
    for method, setup in setups.items():
        try:
            call, count = setup()
            start = time.perf_counter()
            last[method] = call()
            first = time.perf_counter() - start
        except Exception as exc:
            records[method] = {"error": failure(exc)}
            continue
        records[method] = {"first_call_s": first, count_key: count}

        def timed(call=call, method=method):
            last[method] = call()

        ready[method] = timed
    for method, timing in measure_interleaved(ready, repeats, warmup).items():
        if isinstance(timing, Exception):
            records[method] = {"error": failure(timing), **records[method]}
            continue
        records[method].update(median_s=timing.median, min_s=timing.min,
                               samples_s=timing.samples, warmup_s=timing.warmup,
                               **{per_key: 1e3 * timing.median / records[method][count_key]})
    return records, ready, last


def timeit(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    return measure(fn, repeats, warmup).median


def failure(exc: BaseException) -> str:
    """``"failed: <Type>: <first line of the message>"`` for the result files."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else ""
    if len(message) > 200:
        message = message[:197] + "..."
    return f"failed: {type(exc).__name__}" + (f": {message}" if message else "")


def pearson(a, b) -> float:
    """Pearson correlation of two arrays of equal size (nan when one is constant)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size != b.size:
        raise ValueError(f"sizes differ: {a.size} and {b.size}.")
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b / denominator) if denominator > 0 else float("nan")


def mean_pearson(maps_a, maps_b) -> tuple[float, int]:
    """Mean over images of the Pearson correlation of two batches of maps ``(N, ...)``.

    Images where either map is constant (e.g. all zero after a ReLU) have no correlation
    and are left out; returns ``(mean, number of images used)``, mean nan when none.
    """
    maps_a, maps_b = np.asarray(maps_a), np.asarray(maps_b)
    if len(maps_a) != len(maps_b):
        raise ValueError(f"batch sizes differ: {len(maps_a)} and {len(maps_b)}.")
    values = [pearson(a, b) for a, b in zip(maps_a, maps_b, strict=True)]
    values = [v for v in values if not math.isnan(v)]
    return (float(np.mean(values)) if values else float("nan")), len(values)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_revision() -> str | None:
    try:
        root = HERE.parent
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                             capture_output=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, text=True, capture_output=True, check=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("-dirty" if dirty else "")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(peers: Sequence[str] = ()) -> dict:
    """Versions, CPU and date: what a reader needs to compare two result files."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    env = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": {p: _version(p) for p in CORE_PACKAGES},
        "peers": {p: _version(p) for p in peers},
        "explainkit_git": _git_revision(),
    }
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        env["tf_devices"] = [d.device_type for d in tf.config.list_logical_devices()]
    return env


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table; floats are written with 4 significant digits."""

    def cell(value) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return "nan" if math.isnan(value) else f"{value:.4g}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, Timing):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no nan/inf
    return value


def save_results(name: str, results: dict, markdown: str, *, peers: Sequence[str] = ()):
    """Write ``results/<name>.json`` (results + environment) and ``results/<name>.md``.

    ``markdown`` is the body of the Markdown file (tables); a title and an environment line
    are added. Returns the two paths.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    env = environment(peers)
    json_path, md_path = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    payload = {"benchmark": name, "environment": env, **results}
    json_path.write_text(json.dumps(_jsonable(payload), indent=2) + "\n", encoding="utf-8")
    versions = ", ".join(f"{k} {v}" for k, v in {**env["versions"], **env["peers"]}.items())
    footer = (f"_{env['date']}; Python {env['python']}; {env['cpu']} "
              f"({env['cpu_usable'] or env['cpu_count']} usable CPUs); {versions}._")
    md_path.write_text(f"# {name}\n\n{markdown.strip()}\n\n{footer}\n", encoding="utf-8")
    return json_path, md_path
