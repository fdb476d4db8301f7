"""Batch buffers that a Keras model reads without a copy."""

from __future__ import annotations

import contextlib
import threading

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


#: Batch buffers up to this size are kept (one per thread) for the next call to reuse.
KEEP_BYTES = 64 * 2**20

_LOCAL = threading.local()


@contextlib.contextmanager
def batch_buffer(shape: tuple, dtype=np.float32):
    """An aligned, uninitialised buffer for one method call's batches.

    A buffer of up to ``KEEP_BYTES`` is kept per thread and handed to the next call that
    fits in it: fresh memory costs page faults on every touch (for a 48 MB buffer, about
    as much as building the batches), and repeated calls are the common case. A call made
    while the kept buffer is in use (a predictor that itself explains) gets its own.
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    kept = getattr(_LOCAL, "buffer", None)
    if kept is not None and kept.nbytes >= nbytes:
        _LOCAL.buffer = None  # in use
        raw = kept
    else:
        raw = aligned_empty((max(nbytes, 1),), np.uint8)
    try:
        yield raw[:nbytes].view(dtype).reshape(shape)
    finally:
        current = getattr(_LOCAL, "buffer", None)
        if raw.nbytes <= KEEP_BYTES and (current is None or current.nbytes < raw.nbytes):
            _LOCAL.buffer = raw
