"""Batch buffers that a Keras model reads without a copy."""

from __future__ import annotations

import numpy as np

#: TensorFlow shares an array's memory only when its data starts on such a boundary.
ALIGNMENT = 64


def aligned_empty(shape: tuple, dtype=np.float32) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on a 64-byte boundary.

    Batches built into such a buffer reach a Keras model without a copy (see
    ``_keras.as_tensor``).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGNMENT, dtype=np.uint8)
    offset = -raw.ctypes.data % ALIGNMENT
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)
