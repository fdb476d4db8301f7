"""Image and mask files read for the model: its size, channels and preprocessing."""

from __future__ import annotations

from pathlib import Path

from ._common import PREPROCESS, _check_file, _reason, _UserError


def load_images(paths, size: tuple | None, preprocess: str, channels: int | None = 3):
    """Read image files as 0-255 pixels with ``channels`` channels, resize, preprocess.

    Files are converted to the channels the model expects: grey (1), RGB (3) or RGBA
    (4). Grey files are repeated to RGB, RGB files turned grey by luminance (scikit-image's
    ``rgb2gray``), transparency composited on white unless the model takes RGBA, and an
    opaque alpha added for RGBA models. Float files in [0, 1] are scaled to 0-255 first. A
    file that is no image, one whose channels cannot become the model's, or images of
    different sizes when ``size`` is None, raise a ValueError naming the files.
    """
    return _load_images(paths, size, preprocess, channels)[0]


def _load_images(paths, size: tuple | None, preprocess: str, channels: int | None = 3):
    """:func:`load_images`, and the files' own sizes ``[(height, width), ...]``."""
    import numpy as np
    from skimage import io, transform

    from .._files import to_channels

    channels = 3 if channels is None else int(channels)
    if preprocess not in ("none", "raw") and channels != 3:
        raise _UserError(f"--preprocess {preprocess} is for RGB images, but the model takes "
                         f"{channels} channel{'s' * (channels != 1)}; use --preprocess none "
                         "or raw")
    images, sizes = [], []
    for path in paths:
        try:
            raw = io.imread(path)
        except Exception as exc:  # imageio and its plugins raise many types for a non-image
            raise _UserError(f"cannot read image file {path}: {_reason(exc)}") from exc
        sizes.append(tuple(raw.shape[:2]))
        image = raw.astype(np.float32)
        if np.issubdtype(raw.dtype, np.floating) and image.max() <= 1.0:
            image = image * 255.0
        image = to_channels(image, channels, path)
        if size is not None and image.shape[:2] != size:
            image = transform.resize(image, size, preserve_range=True, anti_aliasing=True)
        images.append(np.asarray(image, dtype=np.float32))
    if len({image.shape for image in images}) > 1:
        sizes = ", ".join(f"{Path(p).name} {i.shape[0]}x{i.shape[1]}"
                          for p, i in zip(paths, images, strict=True))
        raise _UserError(f"the images have different sizes ({sizes}); the model's input "
                         "size is not fixed, so resize them to one size")
    batch = np.stack(images)
    if preprocess == "none":
        return batch / 255.0, sizes
    if preprocess == "raw":
        return batch, sizes
    import importlib

    module = importlib.import_module(f"keras.applications.{PREPROCESS[preprocess]}")
    return np.asarray(module.preprocess_input(batch), dtype=np.float32), sizes


def _mask_files(masks: list[str], images: list[str]) -> list[Path]:
    """``--masks``: a folder (one mask per image, by file stem) or one file per image."""
    if len(masks) == 1 and Path(masks[0]).is_dir():
        folder = Path(masks[0])
        try:
            entries = sorted(p for p in folder.iterdir() if p.is_file())
        except OSError as exc:
            raise _UserError(f"cannot read --masks folder {folder}: "
                             f"{exc.strerror or _reason(exc)}") from exc
        paths = []
        for image in map(Path, images):
            found = [p for p in entries if p.stem == image.stem
                     and p.resolve() != image.resolve()]
            if not found:
                raise _UserError(f"--masks {folder}: no mask file for image {image} (looked "
                                 f"for {folder / image.stem}.*)")
            if len(found) > 1:
                raise _UserError(f"--masks {folder}: several mask files for image {image}: "
                                 f"{', '.join(p.name for p in found)}")
            paths.append(_check_file(found[0], "mask file"))
        return paths
    if len(masks) == 1 and not Path(masks[0]).exists():
        raise _UserError(f"--masks {masks[0]} not found (a folder of masks or a mask file)")
    if len(masks) != len(images):
        raise _UserError(f"--masks: {len(masks)} mask file{'s' * (len(masks) != 1)} for "
                         f"{len(images)} images; give one mask file per image, in the "
                         "images' order, or a folder of masks named like the images")
    return [_check_file(path, "mask file") for path in masks]


def load_masks(paths, images, image_sizes, size: tuple[int, int]):
    """Boolean masks ``(N, *size)`` from mask files: nonzero = object.

    A mask has its image's size ``image_sizes[i]`` (then it is resized to ``size`` with
    nearest neighbour, as its image was resized) or ``size`` already; anything else, an
    unreadable file or a mask with no object pixel raise a _UserError naming the file.
    """
    import numpy as np
    from skimage import io, transform

    from .._files import decode_mask

    masks = []
    for path, image, own in zip(paths, images, image_sizes, strict=True):
        try:
            raw = np.asarray(io.imread(path))
        except Exception as exc:  # as for the images: many types for a non-image
            raise _UserError(f"cannot read mask file {path}: {_reason(exc)}") from exc
        mask = decode_mask(raw, path)
        shape = tuple(mask.shape)
        resized = shape != tuple(size)
        if resized:
            if shape != tuple(own):
                model = f", the model's input {size[0]}x{size[1]}" if tuple(own) != size else ""
                raise _UserError(
                    f"mask file {path} is {shape[0]}x{shape[1]} but its image {image} is "
                    f"{own[0]}x{own[1]}{model}; a mask must have its image's size")
            mask = transform.resize(mask.astype(np.uint8), size, order=0, preserve_range=True,
                                    anti_aliasing=False) > 0
        if not mask.any():
            after = f" after resizing to {size[0]}x{size[1]}" if resized else ""
            raise _UserError(f"mask file {path} has no object pixel (none nonzero){after}")
        masks.append(mask)
    return np.stack(masks)
