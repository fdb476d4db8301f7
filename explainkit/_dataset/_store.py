"""A run's folder: shards written as batches complete, the manifest, resume.

Layout of ``output_dir``::

    manifest.json                     the call, versions, model identity, what is done
    rows/part-000000000.parquet       one row per image x method x metric x target
                                      (CSV when pyarrow is not installed)
    costs/part-000000000.json         seconds and model calls of each method, per batch
    maps/<method>/part-000000000.npy  the maps of the batch's images (save_maps=True)
    curves/<method>/<metric>/part-...npy   deletion/insertion curves
    table.txt, table.md, table.html, comparison.png   (compare, at the end)

A shard is named by its batch's first image position and written to a temporary name,
then renamed: a file that exists is complete. The rows shard is written last, so a batch
counts as done exactly when its rows exist; resuming skips those images.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
from pathlib import Path

import numpy as np

MANIFEST = "manifest.json"
#: The first images' explanations (images, maps, targets, scores), for the figure.
FIRST = "first.npz"
FORMAT = 1


def rows_format() -> str:
    """Parquet when pyarrow is installed, else CSV."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return "csv"
    return "parquet"


def _atomic(path: Path, write) -> None:
    """``write(file)`` to a temporary name next to ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            write(file)
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_json(path: Path, value) -> None:
    _atomic(path, lambda f: f.write(json.dumps(value, indent=1, sort_keys=True).encode()))


def folder_name(label: str) -> str:
    """A method's label as a folder name (characters other than [A-Za-z0-9._+-] -> _)."""
    return re.sub(r"[^A-Za-z0-9._+\-]", "_", label) or "_"


def part(position: int) -> str:
    return f"part-{int(position):09d}"


def _write_rows(file, rows: dict, kind: str) -> None:
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(rows), file)
        return
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(list(rows))
    writer.writerows(zip(*rows.values(), strict=True))
    file.write(text.getvalue().encode())


#: The columns' types, to read CSV back as Parquet reads them.
_NUMERIC = {"position": int, "target": int, "class": int, "value": float, "score": float}


def read_rows(path: Path) -> dict:
    """A rows shard as a dict of columns (lists)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pydict()
    with open(path, newline="") as file:
        reader = csv.reader(file)
        header = next(reader)
        columns = {name: [] for name in header}
        for record in reader:
            for name, value in zip(header, record, strict=True):
                columns[name].append(_NUMERIC.get(name, str)(value))
    return columns


class Store:
    """The shards and manifest of one run in ``directory``."""

    def __init__(self, directory, manifest: dict, *, resume, overwrite: bool):
        self.directory = Path(directory)
        existing = self.directory / MANIFEST
        if existing.exists() and not overwrite:
            old = json.loads(existing.read_text())
            differences = _differences(old.get("call", {}), manifest["call"])
            if differences:
                raise ValueError(
                    f"output_dir {self.directory} holds another run ({'; '.join(differences)}"
                    "); give another output_dir, or overwrite=True to replace it.")
            if resume is False:
                raise ValueError(
                    f"output_dir {self.directory} holds this run already; resume=True (the "
                    "default) goes on with it, overwrite=True starts it again.")
            manifest["call"]["random_state"] = old["call"]["random_state"]
            manifest["rows_format"] = old.get("rows_format", manifest["rows_format"])
            manifest["started"] = old.get("started", manifest.get("started"))
        elif existing.exists():  # overwrite: the old run's files go
            self._clear()
        elif self.directory.exists() and any(self.directory.iterdir()) and not overwrite:
            raise ValueError(
                f"output_dir {self.directory} exists and is not a run of explainkit (no "
                f"{MANIFEST}); give an empty or new folder, or overwrite=True.")
        if manifest["call"].get("random_state") is None:  # drawn once, recorded
            from .._seeds import root_seed

            manifest["call"]["random_state"] = root_seed(None)
        self.manifest = manifest
        self.kind = manifest["rows_format"]
        self.directory.mkdir(parents=True, exist_ok=True)
        write_json(existing, manifest)
        self._tidy()

    @property
    def root(self) -> int:
        return int(self.manifest["call"]["random_state"])

    def _clear(self) -> None:
        import shutil

        for name in ("rows", "costs", "maps", "curves"):
            shutil.rmtree(self.directory / name, ignore_errors=True)
        for name in ("table.txt", "table.md", "table.html", "comparison.png", FIRST,
                     MANIFEST):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / name).unlink()

    def _tidy(self) -> None:
        """Remove shards of batches whose rows were never written (an interrupted batch)."""
        done = {p.name.split(".")[0] for p in self.row_files()}
        for sub in ("maps", "curves", "costs"):
            for path in (self.directory / sub).rglob("part-*"):
                if path.name.split(".")[0] not in done:
                    path.unlink()
        for path in self.directory.rglob(".part-*.tmp"):
            path.unlink()

    def row_files(self) -> list[Path]:
        return sorted((self.directory / "rows").glob(f"part-*.{self.kind}"))

    def done(self) -> set[int]:
        """The positions of the images already written."""
        done: set[int] = set()
        for path in self.row_files():
            done.update(read_rows(path)["position"])
        return done

    def write(self, result) -> None:
        """One batch's shards: maps, curves and costs first, the rows last."""
        name = part(result.positions[0])
        for label, maps in result.maps.items():
            dtype = np.float16 if self.manifest.get("maps_dtype") == "float16" else np.float32
            _atomic(self.directory / "maps" / folder_name(label) / f"{name}.npy",
                    lambda f, m=maps, d=dtype: np.save(f, np.asarray(m, d)))
        for (label, metric), curves in result.curves.items():
            _atomic(self.directory / "curves" / folder_name(label) / metric / f"{name}.npy",
                    lambda f, c=curves: np.save(f, c))
        write_json(self.directory / "costs" / f"{name}.json",
                   {"seconds": result.seconds, "calls": result.calls,
                    "metric_seconds": result.metric_seconds,
                    "metric_calls": result.metric_calls, "blank": result.blank,
                    "warmup": result.warmup,
                    "positions": [int(p) for p in result.positions]})
        if result.explanations:
            save_first(self.directory, result.explanations)
        _atomic(self.directory / "rows" / f"{name}.{self.kind}",
                lambda f: _write_rows(f, result.rows, self.kind))

    def update(self, **changes) -> None:
        self.manifest.update(changes)
        write_json(self.directory / MANIFEST, self.manifest)


def _differences(old: dict, new: dict) -> list[str]:
    """What differs between two calls, by path (the seed only when the new call gives one),
    at most four."""
    differences: list[str] = []

    def walk(a, b, path):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                if path == "" and key == "random_state" and b.get(key) is None:
                    continue
                if key not in b:
                    differences.append(f"{path}{key} only there")
                elif key not in a:
                    differences.append(f"{path}{key} only in this call")
                else:
                    walk(a[key], b[key], f"{path}{key}.")
        elif a != b:
            differences.append(f"{path.rstrip('.')}: {_short(a)} there, {_short(b)} in this "
                               "call")

    walk(old, new, "")
    return differences[:4]


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 40 else text[:37] + "..."


def jsonable(value):
    """``value`` as JSON: arrays and other objects by a digest, so that calls compare."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.integer | np.floating | np.bool_):
        return value.item()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return {"array": list(value.shape), "dtype": str(value.dtype),
                "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}
    if callable(value):
        return {"callable": f"{getattr(value, '__module__', '')}."
                            f"{getattr(value, '__qualname__', type(value).__name__)}"}
    return {"object": type(value).__name__}


def save_first(directory: Path, explanations: dict) -> None:
    """The first images' explanations, for the comparison's figure after the run."""
    labels = list(explanations)
    first = explanations[labels[0]]
    arrays = {"labels": np.asarray(labels), "images": first.images,
              "task": np.asarray(first.task)}
    for i, label in enumerate(labels):
        e = explanations[label]
        arrays[f"maps_{i}"] = e.maps
        arrays[f"scores_{i}"] = e.scores
        arrays[f"method_{i}"] = np.asarray(e.method)
        if e.targets is not None:
            arrays[f"targets_{i}"] = e.targets
    _atomic(Path(directory) / FIRST, lambda f: np.savez(f, **arrays))


def load_first(directory: Path) -> dict:
    """Label -> Explanation of the first images, as :func:`save_first` wrote them."""
    from .._explanation import Explanation

    path = Path(directory) / FIRST
    if not path.exists():
        return {}
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    return {str(label): Explanation(
        maps=arrays[f"maps_{i}"], method=str(arrays[f"method_{i}"]),
        targets=arrays.get(f"targets_{i}"), scores=arrays[f"scores_{i}"],
        task=str(arrays["task"]), images=arrays["images"])
        for i, label in enumerate(arrays["labels"])}
