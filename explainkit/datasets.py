"""Small synthetic image data with ground-truth masks, for demos, tests and benchmarks."""

from __future__ import annotations

import numpy as np

from ._validation import check_int

SHAPE_NAMES = ("square", "disc")


def make_shapes(n_samples: int = 256, image_size: int = 32, *, channels: int = 3,
                random_state=None):
    """Images of one square or one disc on a noisy background.

    Parameters
    ----------
    n_samples : int, default=256
        Number of images.
    image_size : int, default=32
        Height and width (at least 16).
    channels : int, default=3
        Channel count; the object is bright in every channel.
    random_state : int, numpy.random.Generator or None
        Seed or generator for reproducible data.

    Returns
    -------
    X : ndarray of float32, shape (n_samples, image_size, image_size, channels)
        Pixel values in [0, 1].
    y : ndarray of int, shape (n_samples,)
        0 for a square, 1 for a disc (names in ``SHAPE_NAMES``).
    masks : ndarray of bool, shape (n_samples, image_size, image_size)
        The object's pixels.
    """
    n_samples = check_int("n_samples", n_samples)
    image_size = check_int("image_size", image_size, minimum=16)
    channels = check_int("channels", channels)
    rng = np.random.default_rng(random_state)
    X = rng.uniform(0.0, 0.35, size=(n_samples, image_size, image_size, channels))
    y = rng.integers(0, 2, size=n_samples)
    rows, cols = np.mgrid[:image_size, :image_size]
    masks = np.zeros((n_samples, image_size, image_size), dtype=bool)
    for i in range(n_samples):
        radius = rng.uniform(0.12, 0.22) * image_size
        cy, cx = rng.uniform(radius + 1, image_size - radius - 1, size=2)
        if y[i] == 0:
            masks[i] = (np.abs(rows - cy) <= radius * 0.85) & (np.abs(cols - cx) <= radius * 0.85)
        else:
            masks[i] = (rows - cy) ** 2 + (cols - cx) ** 2 <= radius**2
        X[i][masks[i]] = rng.uniform(0.7, 1.0, size=channels)
    return X.astype(np.float32), y, masks
