"""Seeds of a data-set run: one random stream per ``(random_state, image, method/metric)``.

Derived with numpy's ``SeedSequence`` from the image's position in the data set, never
from the order in which images reach a worker, so that results do not depend on the batch
size, on how the data is split, on the number of workers or on the engine.
"""

from __future__ import annotations

import numbers
import zlib

import numpy as np


def root_seed(random_state) -> int:
    """The run's seed: ``random_state`` itself, or a fresh one (recorded) for None."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> 1)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool) and (
            random_state >= 0):
        return int(random_state)
    raise TypeError(
        f"random_state must be None, a non-negative int or a numpy Generator; got "
        f"{random_state!r}.")


def image_seed(root: int, position: int, stream: str) -> int:
    """The seed of one image's ``stream`` (e.g. ``"method:rise"``): a non-negative int."""
    sequence = np.random.SeedSequence([int(root), int(position), zlib.crc32(stream.encode())])
    return int(sequence.generate_state(1, np.uint64)[0] >> 1)


class ImageSeeds:
    """A ``random_state`` for a batch of a data set: one generator per image.

    Metrics given one draw each image's random choices (tie-breaks, hidden subsets) from
    its own generator, seeded by :func:`image_seed`.
    """

    def __init__(self, root: int, positions, stream: str = ""):
        self.root, self.stream = int(root), stream
        self.positions = np.asarray(positions, np.int64)

    def __len__(self) -> int:
        return len(self.positions)

    def __repr__(self) -> str:
        return f"ImageSeeds(root={self.root}, {len(self)} images, stream={self.stream!r})"

    def child(self, stream: str) -> ImageSeeds:
        """The seeds of another stream of the same images."""
        return ImageSeeds(self.root, self.positions, f"{self.stream}/{stream}")

    def seeds(self) -> list[int]:
        return [image_seed(self.root, p, self.stream) for p in self.positions]

    def generators(self) -> list[np.random.Generator]:
        return [np.random.default_rng(seed) for seed in self.seeds()]


def generators(random_state, n: int, check) -> list[np.random.Generator]:
    """One generator per image: ``ImageSeeds``' own, or one shared (``check(random_state)``,
    drawn from in image order as before)."""
    if isinstance(random_state, ImageSeeds):
        if len(random_state) != n:
            raise ValueError(f"random_state has seeds for {len(random_state)} images; the "
                             f"maps are of {n}.")
        return random_state.generators()
    rng = check(random_state)
    return [rng] * n
