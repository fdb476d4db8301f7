"""Reading a finished (or partial) run back: saved maps, lazily; the comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._store import MANIFEST, folder_name


class SavedMaps:
    """The maps one method of a data-set run saved, read lazily from their shards.

    Indexed by image position (0, 1, ... in the data set's order); shards are
    memory-mapped, so only the maps asked for are read.

    Attributes
    ----------
    method : str
        The method's label.
    positions : ndarray of int
        The positions of the images with saved maps, sorted.
    names : list of str
        Their file names (folders) or "" (other data sets), by position.
    """

    def __init__(self, directory, method: str):
        self.directory, self.method = Path(directory), method
        folder = self.directory / "maps" / folder_name(method)
        self._where: dict[int, tuple[Path, int]] = {}
        for costs in sorted((self.directory / "costs").glob("part-*.json")):
            shard = folder / f"{costs.stem}.npy"
            if not shard.exists():
                continue
            for row, position in enumerate(json.loads(costs.read_text())["positions"]):
                self._where[int(position)] = (shard, row)
        if not self._where:
            raise ValueError(f"{self.directory} holds no saved maps of {method!r} (run with "
                             "save_maps=True).")
        self.positions = np.array(sorted(self._where), np.int64)
        self._open: dict[Path, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.positions)

    def __repr__(self) -> str:
        return f"SavedMaps({self.method!r}: {len(self)} images in {self.directory})"

    def _shard(self, path: Path) -> np.ndarray:
        if path not in self._open:
            self._open[path] = np.load(path, mmap_mode="r")
        return self._open[path]

    def __getitem__(self, position: int) -> np.ndarray:
        """The maps ``(H, W, K)`` of the image at ``position`` (float32)."""
        if int(position) not in self._where:
            raise KeyError(f"no saved map of image {position} ({len(self)} images saved).")
        path, row = self._where[int(position)]
        return np.asarray(self._shard(path)[row], np.float32)

    def take(self, positions) -> np.ndarray:
        """The maps ``(len(positions), H, W, K)`` of several images."""
        return np.stack([self[p] for p in positions])

    def __iter__(self):
        for position in self.positions:
            yield self[position]


def load_comparison(directory):
    """The :class:`~explainkit.Comparison` a data-set run wrote to ``directory``.

    Parameters
    ----------
    directory : str or Path
        The run's ``output_dir``. A run still going, or interrupted, gives the images
        written so far.

    Returns
    -------
    Comparison
        Table, plot (the first images), ``to_frame``; ``maps`` holds a
        :class:`SavedMaps` per method when the run saved its maps.
    """
    from ._runner import Gathered
    from ._store import Store

    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        raise ValueError(f"{directory} is not a data-set run of explainkit (no {MANIFEST}).")
    manifest = json.loads(path.read_text())
    if manifest["call"].get("kind") != "compare":
        raise ValueError(f"{directory} holds explain_dataset maps, not a comparison: read "
                         "them with explainkit.load_maps.")
    store = Store.__new__(Store)
    store.directory, store.manifest, store.kind = directory, manifest, manifest["rows_format"]
    gathered = Gathered("compare")
    gathered.read(store)
    if not gathered.rows:
        raise ValueError(f"{directory} holds no finished batch yet.")

    class _Job:  # what Gathered.comparison reads of the call
        metrics = manifest["call"]["metrics"]
        root = manifest["call"]["random_state"]
        score = manifest["call"]["score"]
        batch_size = None
        metric_options = manifest["call"]["metric_options"]

    comparison = gathered.comparison(_Job)
    if manifest.get("save_maps"):
        object.__setattr__(comparison, "maps", {
            m: SavedMaps(directory, m) for m in manifest["call"]["methods"]})
    return comparison


def load_maps(directory, method: str | None = None) -> SavedMaps:
    """The maps a data-set run saved in ``directory`` (``method``: which, when several)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.exists():
        raise ValueError(f"{directory} is not a data-set run of explainkit (no {MANIFEST}).")
    methods = list(json.loads(path.read_text())["call"]["methods"])
    if method is None:
        if len(methods) != 1:
            raise ValueError(f"{directory} holds maps of {', '.join(map(repr, methods))}: "
                             "name one with method=.")
        method = methods[0]
    elif method not in methods:
        raise ValueError(f"{directory} has no method {method!r}; it has "
                         f"{', '.join(map(repr, methods))}.")
    return SavedMaps(directory, method)
