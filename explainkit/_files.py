"""Image and mask files: read, convert to the model's channels, decode masks.

Shared by the command line and :func:`explainkit.datasets.image_folder`. Errors are
:class:`FileError` (a ValueError) naming the file, one line each, so that the command line
prints them as they are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: The channel counts image files are converted between.
IMAGE_CHANNELS = {1: "grey", 2: "grey + alpha", 3: "RGB", 4: "RGBA"}

#: File name endings read as images (those Keras' ``image_dataset_from_directory`` reads,
#: and TIFF).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class FileError(ValueError):
    """An image or mask file that cannot be used: one line naming the file."""


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def read_image(path) -> np.ndarray:
    """The pixels of an image file as stored: ``(H, W)`` or ``(H, W, c)``, its own dtype."""
    from skimage import io

    try:
        image = np.asarray(io.imread(path))
    except Exception as exc:  # imageio and its plugins raise many types for a non-image
        raise FileError(f"cannot read image file {path}: {_reason(exc)}") from exc
    if image.ndim not in (2, 3) or image.size == 0:
        raise FileError(f"image file {path} is not a single still image (shape {image.shape})")
    return image


def to_channels(image: np.ndarray, channels: int, path) -> np.ndarray:
    """A 0-255 float image ``(H, W[, c])`` as ``(H, W, channels)``.

    Grey is repeated to RGB, RGB turned grey by luminance (scikit-image's ``rgb2gray``),
    transparency composited on white unless ``channels`` is 4, and an opaque alpha added
    for RGBA. Anything else is a :class:`FileError` naming the file.
    """
    from skimage.color import rgb2gray

    image = image[..., None] if image.ndim == 2 else image
    own = image.shape[-1]
    if own == channels:
        return image
    if channels not in (1, 3, 4) or own not in IMAGE_CHANNELS:
        kind = IMAGE_CHANNELS.get(own, f"{own}-channel")
        raise FileError(
            f"image file {path} has {own} channel{'s' * (own != 1)} ({kind}) but the model "
            f"expects {channels}; explainkit converts between grey (1), RGB (3) and RGBA (4) "
            f"images only, so give {channels}-channel files")
    colour, alpha = (image[..., :-1], image[..., -1:]) if own in (2, 4) else (image, None)
    if channels == 4:
        colour = np.repeat(colour, 3, axis=-1) if colour.shape[-1] == 1 else colour
        alpha = np.full(colour.shape[:2] + (1,), 255.0, np.float32) if alpha is None else alpha
        return np.concatenate([colour, alpha], axis=-1)
    if alpha is not None:  # composited on white
        colour = colour * (alpha / 255.0) + 255.0 * (1.0 - alpha / 255.0)
    if channels == 3:
        return np.repeat(colour, 3, axis=-1) if colour.shape[-1] == 1 else colour
    if colour.shape[-1] == 3:
        return (rgb2gray(np.clip(colour / 255.0, 0, 1)) * 255.0)[..., None]
    return colour


def load_image(path, *, channels: int | None = None, size: tuple[int, int] | None = None
               ) -> np.ndarray:
    """An image file as ``(H, W, C)``: uint8 files stay uint8 unless converted or resized.

    ``channels`` converts (see :func:`to_channels`); ``size`` resizes with anti-aliasing
    (then float32 in the file's range). Float files in [0, 1] stay float32 in [0, 1].
    """
    from skimage import transform

    raw = read_image(path)
    image = raw[..., None] if raw.ndim == 2 else raw
    if channels is not None and image.shape[-1] != channels:
        scale = 255.0 if np.issubdtype(raw.dtype, np.floating) and raw.max() <= 1.0 else 1.0
        image = to_channels(image.astype(np.float32) * scale, channels, path) / scale
        image = _keep_dtype(image, raw.dtype)
    if size is not None and tuple(image.shape[:2]) != tuple(size):
        image = transform.resize(image.astype(np.float32), size, preserve_range=True,
                                 anti_aliasing=True).astype(np.float32)
    return image


def _keep_dtype(image: np.ndarray, dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(image), info.min, info.max).astype(dtype)
    return image.astype(np.float32)


def decode_mask(raw: np.ndarray, path) -> np.ndarray:
    """A mask image's object pixels ``(H, W)`` bool: nonzero (and opaque) = object."""
    raw = np.asarray(raw)
    if raw.ndim == 3 and raw.shape[-1] in (2, 4):  # grey or RGB, and alpha
        return (raw[..., :-1] != 0).any(axis=-1) & (raw[..., -1] != 0)
    if raw.ndim == 3 and raw.shape[-1] in (1, 3):
        return (raw != 0).any(axis=-1)
    if raw.ndim == 2:
        return raw != 0
    raise FileError(f"mask file {path} is not a single image (shape {raw.shape})")


def load_mask(path, *, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask file as ``(H, W)`` bool, resized to ``size`` by nearest neighbour."""
    from skimage import io, transform

    try:
        raw = np.asarray(io.imread(path))
    except Exception as exc:  # as for the images: many types for a non-image
        raise FileError(f"cannot read mask file {path}: {_reason(exc)}") from exc
    mask = decode_mask(raw, path)
    if size is not None and tuple(mask.shape) != tuple(size):
        mask = transform.resize(mask.astype(np.uint8), size, order=0, preserve_range=True,
                                anti_aliasing=False) > 0
    return mask


def image_files(folder: Path) -> list[Path]:
    """The image files under ``folder`` (recursively), sorted by relative path."""
    return sorted((p for p in folder.rglob("*")
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                  key=lambda p: p.relative_to(folder).as_posix())
