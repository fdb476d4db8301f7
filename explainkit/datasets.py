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


def image_folder(directory, image_size=None, labels="inferred", masks=None, *,
                 channels: int | None = None, transform=None):
    """A folder of image files as a data set (see :func:`explainkit.compare`).

    Parameters
    ----------
    directory : str or Path
        The folder. Files (PNG, JPEG, BMP, GIF, TIFF, WebP; in sub-folders too) are sorted
        by their relative path, which names them in results.
    image_size : int or (height, width), optional
        Resize every image (anti-aliased, then float32) and mask (nearest) to this size;
        None reads them as stored (then they must all have one size).
    labels : "inferred", None or sequence of int
        "inferred": each file's first-level sub-folder is its class, the sub-folders in
        sorted order giving 0, 1, ... (as Keras' ``image_dataset_from_directory``); a
        folder without sub-folders is unlabelled. None: unlabelled. Or one int per file.
    masks : str or Path, optional
        A parallel folder of masks: the mask of ``directory/a/b.jpg`` is ``masks/a/b.*``
        (any image ending); nonzero pixels are the object.
    channels : {None, 1, 3, 4}
        Convert the files to grey, RGB or RGBA; None: to the model's channels when a run
        knows them, else as stored.
    transform : callable, optional
        A function of one image (float32 ``(H, W, C)`` in the file's range, after
        resizing) returning the model's input, e.g. ``lambda x: x / 255``. It must pickle
        (cloudpickle) for the Ray engine.

    Returns
    -------
    ImageFolder
        Read lazily as a run reaches each file; uint8 files stay uint8 (unless converted,
        resized or transformed).

    Examples
    --------
    >>> from explainkit.datasets import image_folder
    >>> data = image_folder("val/", image_size=224, masks="val_masks/")  # doctest: +SKIP
    >>> comparison = explainkit.compare("resnet50.keras", data,
    ...                                 output_dir="runs/val")  # doctest: +SKIP
    """
    from ._dataset._folder import ImageFolder

    return ImageFolder(directory, image_size=image_size, labels=labels, masks=masks,
                       channels=channels, transform=transform)
