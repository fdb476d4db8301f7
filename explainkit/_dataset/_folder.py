"""A folder of image files as a data set: class sub-folders, parallel mask folders."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._files import FileError, image_files, load_image, load_mask


class ImageFolder:
    """A folder of image files, read lazily as a run reaches them.

    Made by :func:`explainkit.datasets.image_folder`; give it wherever a data set is taken
    (``compare``, ``explain_dataset``). Files are sorted by their path relative to the
    folder, which names them in results (``name``) and gives their position.

    Attributes
    ----------
    directory : Path
        The folder.
    files : list of str
        The images' paths relative to ``directory`` (POSIX separators), in order.
    labels : ndarray of int or None
        One label per file, or None.
    class_names : list of str or None
        The class sub-folders (label ``i`` is ``class_names[i]``), when labels are inferred.
    image_size : tuple or None
        ``(height, width)`` every image (and mask) is resized to, or None.
    mask_directory : Path or None
        The parallel folder of masks.
    transform : callable or None
        Applied to each image (float32 ``(H, W, C)``, after resizing) as it is read.
    """

    def __init__(self, directory, *, image_size=None, labels="inferred", masks=None,
                 channels=None, transform=None):
        directory = Path(directory)
        if not directory.is_dir():
            raise FileError(f"image_folder: {directory} is not a folder")
        self.directory = directory
        self.image_size = _check_size(image_size)
        if channels is not None and channels not in (1, 3, 4):
            raise ValueError(f"channels must be None, 1, 3 or 4; got {channels!r}.")
        self.channels = channels
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be None or a function of one image; got "
                            f"{transform!r}.")
        self.transform = transform
        paths = image_files(directory)
        if not paths:
            raise FileError(f"image_folder: no image files in {directory} (looked for "
                            "PNG, JPEG, BMP, GIF, TIFF and WebP files)")
        relative = [p.relative_to(directory) for p in paths]
        self.class_names = None
        if isinstance(labels, str) and labels == "inferred":
            if any(len(r.parts) > 1 for r in relative):
                loose = [r for r in relative if len(r.parts) == 1]
                if loose:
                    raise FileError(
                        f"image_folder: labels='inferred' takes each file's class from its "
                        f"sub-folder, but {directory / loose[0]} is not in one; move it, or "
                        "pass labels=None")
                self.class_names = sorted({r.parts[0] for r in relative})
                index = {name: i for i, name in enumerate(self.class_names)}
                self.labels = np.array([index[r.parts[0]] for r in relative], np.int64)
            else:  # no class sub-folders: unlabelled
                self.labels = None
        elif labels is None:
            self.labels = None
        elif isinstance(labels, str):
            raise ValueError(f"labels must be 'inferred', None or one int per file; got "
                             f"{labels!r}.")
        else:
            values = np.asarray(labels)
            if values.shape != (len(paths),) or not np.issubdtype(values.dtype, np.integer):
                raise ValueError(
                    f"labels must be one int per file ({len(paths)} files in {directory}); "
                    f"got an array of shape {values.shape} and dtype {values.dtype}.")
            self.labels = values.astype(np.int64)
        self.files = [r.as_posix() for r in relative]
        self.mask_directory = None if masks is None else Path(masks)
        self._masks = None
        if masks is not None:
            if not self.mask_directory.is_dir():
                raise FileError(f"image_folder: masks={masks} is not a folder")
            found = {p.relative_to(self.mask_directory).with_suffix("").as_posix(): p
                     for p in image_files(self.mask_directory)}
            self._masks = [found.get(Path(f).with_suffix("").as_posix()) for f in self.files]

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        labels = (f"{len(self.class_names)} classes" if self.class_names else
                  "labelled" if self.labels is not None else "unlabelled")
        masks = f", masks in {self.mask_directory}" if self.mask_directory else ""
        return f"ImageFolder({str(self.directory)!r}: {len(self)} images, {labels}{masks})"

    def read(self, position: int, channels: int | None = None):
        """``(image (H, W, C), mask (H, W) or None)`` of the file at ``position``.

        ``channels`` (when the folder has none of its own) converts the image.
        """
        path = self.directory / self.files[position]
        image = load_image(path, channels=self.channels or channels, size=self.image_size)
        if self.transform is not None:
            image = np.asarray(self.transform(image.astype(np.float32)), np.float32)
            if image.ndim != 3:
                raise ValueError(f"transform must return one image (H, W, C); it returned "
                                 f"shape {image.shape} for {path}.")
        mask = None
        if self._masks is not None:
            mask_path = self._masks[position]
            if mask_path is None:
                raise FileError(f"image_folder: no mask for {path} in {self.mask_directory} "
                                f"(looked for {self.mask_directory / self.files[position]} "
                                "with any image file ending)")
            mask = load_mask(mask_path, size=image.shape[:2])
            if not mask.any():
                raise FileError(f"mask file {mask_path} has no object pixel (none nonzero)")
        return image, mask

    def _items(self, skip=frozenset(), channels=None, on_error="raise", skipped=None,
               only=None, shape=None) -> Iterator[tuple]:
        """One image at a time: ``(images, labels, masks, names, positions)``.

        With ``on_error="skip"`` a file that cannot be read, or has another size than the
        first (or ``shape``), is recorded in ``skipped`` and left out. ``only``: these
        positions alone (a Ray worker's batch).
        """
        for position in range(len(self)) if only is None else only:
            position = int(position)
            if position in skip:
                continue
            try:
                image, mask = self.read(position, channels)
                if shape is not None and image.shape != shape:
                    raise FileError(
                        f"image file {self.directory / self.files[position]} is "
                        f"{image.shape[0]}x{image.shape[1]}x{image.shape[2]}, the first "
                        f"image {shape[0]}x{shape[1]}x{shape[2]}; give image_folder("
                        "image_size=(H, W)) to resize them to one size")
            except (FileError, OSError) as exc:
                if on_error != "skip":
                    raise
                skipped.append({"position": position, "name": self.files[position],
                                     "reason": str(exc)})
                continue
            shape = image.shape if shape is None else shape
            label = None if self.labels is None else self.labels[position:position + 1]
            yield (image[None], label, None if mask is None else mask[None],
                   [self.files[position]], [position])


def _check_size(size):
    if size is None:
        return None
    if isinstance(size, numbers.Integral):
        size = (size, size)
    if (not isinstance(size, tuple | list) or len(size) != 2 or not all(
            isinstance(s, numbers.Integral) and s > 0 for s in size)):
        raise ValueError(f"image_size must be None, an int or (height, width); got {size!r}.")
    return (int(size[0]), int(size[1]))

