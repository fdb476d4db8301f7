"""keras-hub tasks: raw images through the task's own image converter, maps back onto them.

A keras-hub task (``ImageClassifier``, ``ImageSegmenter``) takes images its preprocessor
has resized and rescaled; its ``predict`` does that itself, its ``call`` does not. With the
``preprocess="task"`` setting (the default) an explainer given a task converts the raw
images with the task's ``image_converter`` first, explains the converted images, and maps
every map back onto the raw image's pixels through the converter's geometry: the central
crop (``crop_to_aspect_ratio``, pixels outside it get 0: the model never sees them) or the
padding (``pad_to_aspect_ratio``), and the resize. keras-hub itself is never imported: a
task is recognised by its class's module.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .._image import apply_separable, interpolation_matrix


def is_task(net) -> bool:
    """True for a keras-hub task model (its class is defined in keras_hub)."""
    return any(c.__module__.startswith("keras_hub.") and c.__name__ == "Task"
               for c in type(net).__mro__)


def image_converter(net):
    """The image converter of a keras-hub task's preprocessor, or None."""
    if not is_task(net):
        return None
    return getattr(getattr(net, "preprocessor", None), "image_converter", None)


@dataclasses.dataclass(frozen=True)
class Front:
    """A task's image converter: ``convert`` raw images, ``to_raw`` maps back onto them."""

    converter: object

    @property
    def image_size(self) -> tuple[int, int] | None:
        size = getattr(self.converter, "image_size", None)
        return None if size is None or None in tuple(size) else tuple(int(s) for s in size)

    def convert(self, images: np.ndarray) -> np.ndarray:
        """``(N, H, W, C)`` raw images as the model takes them (float32)."""
        return np.asarray(self.converter(images.astype(np.float32)), dtype=np.float32)

    def boxes(self, raw_hw: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """Per axis ``(offset, length)``: the raw span the model image covers.

        Cropping: the model image shows raw pixels ``offset .. offset + length``; padding:
        the raw image sits at ``-offset`` in a padded canvas of ``length`` pixels. The
        integer arithmetic is Keras' ``image.resize``'s.
        """
        size = self.image_size
        height, width = raw_hw
        if size is None:
            return (0, height), (0, width)
        target_h, target_w = size
        if getattr(self.converter, "crop_to_aspect_ratio", False):
            crop_h = max(min(height, int(np.float32(width * target_h) / np.float32(target_w))), 1)
            crop_w = max(min(width, int(np.float32(height * target_w) / np.float32(target_h))), 1)
            return ((int(np.float32(height - crop_h) / 2), crop_h),
                    (int(np.float32(width - crop_w) / 2), crop_w))
        if getattr(self.converter, "pad_to_aspect_ratio", False):
            pad_h = max(height, int(np.float32(width * target_h) / np.float32(target_w)))
            pad_w = max(width, int(np.float32(height * target_w) / np.float32(target_h)))
            start_h = int(np.float32(pad_h - height) / 2)
            start_w = int(np.float32(pad_w - width) / 2)
            return (-start_h, height + 2 * start_h), (-start_w, width + 2 * start_w)
        return (0, height), (0, width)

    def boxes_to_raw(self, xyxy: np.ndarray, raw_hw: tuple[int, int],
                     model_hw: tuple[int, int]) -> np.ndarray:
        """Pixel ``xyxy`` boxes on the model image as boxes on the raw image (the geometry
        of :meth:`boxes`: raw = offset + model * length / size)."""
        (row_offset, row_length), (col_offset, col_length) = self.boxes(raw_hw)
        scale = np.array([col_length / model_hw[1], row_length / model_hw[0]] * 2, np.float32)
        offset = np.array([col_offset, row_offset] * 2, np.float32)
        return (np.asarray(xyxy, np.float32) * scale + offset).astype(np.float32)

    def boxes_to_model(self, xyxy: np.ndarray, raw_hw: tuple[int, int],
                       model_hw: tuple[int, int]) -> np.ndarray:
        """The inverse of :meth:`boxes_to_raw`."""
        (row_offset, row_length), (col_offset, col_length) = self.boxes(raw_hw)
        scale = np.array([col_length / model_hw[1], row_length / model_hw[0]] * 2, np.float32)
        offset = np.array([col_offset, row_offset] * 2, np.float32)
        return ((np.asarray(xyxy, np.float32) - offset) / scale).astype(np.float32)

    @staticmethod
    def _matrix(raw: int, box: tuple[int, int], size_in: int, method: str) -> np.ndarray:
        """``(raw, size_in)``: each raw pixel sampled from the model axis (0 outside)."""
        offset, length = box
        pixels = np.arange(raw)
        coords = (pixels - offset + 0.5) * size_in / length - 0.5
        matrix = interpolation_matrix(coords, size_in, method)
        inside = (pixels >= offset) & (pixels < offset + length)
        matrix[~inside] = 0
        return matrix

    def to_raw(self, maps: np.ndarray, raw_hw: tuple[int, int], method: str = "bilinear",
               fill: float = 0.0) -> np.ndarray:
        """``(N, h, w, ...)`` maps over the model image as ``(N, H, W, ...)`` raw-image maps.

        Raw pixels the model never sees (outside a crop) get ``fill``.
        """
        maps = np.asarray(maps)
        flat = maps.reshape(*maps.shape[:3], -1).astype(np.float32)
        rows_box, cols_box = self.boxes(raw_hw)
        rows = self._matrix(raw_hw[0], rows_box, maps.shape[1], method)
        cols = self._matrix(raw_hw[1], cols_box, maps.shape[2], method)
        out = apply_separable(flat, rows, cols)
        if fill:
            seen = (rows.sum(axis=1) > 0)[:, None] & (cols.sum(axis=1) > 0)[None, :]
            out[:, ~seen] = fill
        return out.reshape(len(maps), *raw_hw, *maps.shape[3:])
