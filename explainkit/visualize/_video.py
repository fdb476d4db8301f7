"""Each frame of a video beside its strongest channels: the offline "live view"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import check_int
from ._common import (
    check_channels,
    check_real,
    check_top,
    display_range,
    image_stream,
    model_and_layer,
    progress_bar,
)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm")
#: Target size in pixels of the longer side of each channel's tile.
TILE = 64
GAP = 2


@dataclass
class ActivationVideo:
    """What :func:`activation_video` wrote.

    ``path`` the file; ``layer`` the reported layer name; ``channels`` the channels shown,
    in tile order (row by row); ``frames`` the number of frames; ``fps``; ``frame_shape``
    ``(height, width, 3)`` of each frame.
    """

    path: Path
    layer: str
    channels: np.ndarray
    frames: int
    fps: float
    frame_shape: tuple


def read_frames(path, size: tuple | None, channels: int | None, preprocess=None):
    """The frames of a video or GIF file, one at a time: ``(shown uint8, model input)``.

    Frames are read with imageio (its v3 API), made RGB (alpha dropped, gray repeated) or
    gray for a one-channel model, resized to ``size`` and given to ``preprocess`` as
    float32 0-255 pixels (as read when ``preprocess`` is None).
    """
    import imageio.v3 as iio
    from skimage import transform

    try:
        frames = iio.imiter(path)
        for frame in frames:
            frame = np.asarray(frame)
            if frame.ndim == 2:
                frame = frame[..., None]
            if frame.shape[-1] in (2, 4):
                frame = frame[..., :-1]
            if frame.shape[-1] == 1 and channels not in (None, 1):
                frame = np.repeat(frame, channels, axis=-1)
            shown = frame.astype(np.uint8) if frame.dtype == np.uint8 else np.clip(
                frame, 0, 255).astype(np.uint8)
            pixels = frame.astype(np.float32)
            if channels == 1 and pixels.shape[-1] == 3:
                pixels = pixels @ np.array([0.2125, 0.7154, 0.0721], np.float32)
                pixels = pixels[..., None]
            if size is not None and tuple(pixels.shape[:2]) != tuple(size):
                pixels = transform.resize(pixels, size, preserve_range=True,
                                          anti_aliasing=True).astype(np.float32)
            if preprocess is not None:
                pixels = np.asarray(preprocess(pixels[None]), dtype=np.float32)[0]
            yield shown, pixels
    except OSError as exc:
        raise ValueError(f"frames: cannot read video file {path}: "
                         f"{' '.join(str(exc).split())}") from exc


def _frame_source(frames, size, channels, preprocess):
    """A function giving a fresh iterator of ``(shown, model input)`` frames."""
    if isinstance(frames, (str, Path)):
        path = Path(frames)
        if not path.is_file():
            raise ValueError(f"frames: video file {path} not found.")
        return lambda: read_frames(path, size, channels, preprocess), True
    arr = np.asarray(frames)
    if arr.ndim not in (3, 4) or arr.dtype == object or not np.issubdtype(arr.dtype,
                                                                           np.number):
        raise ValueError(f"frames must be a video or GIF file, or an array of frames (T, H, W, C) "
                         f"or (T, H, W); got {type(frames).__name__} of shape {np.shape(frames)}.")
    if arr.ndim == 3:
        arr = arr[..., None]
    if preprocess is not None:
        raise ValueError("preprocess applies to frames read from a file; pass arrays as the "
                         "model takes them.")
    return (lambda: ((f, f) for f in arr)), False


def _batched(pairs, batch_size: int):
    """``(shown frames, model inputs)`` in batches."""
    shown, inputs = [], []
    for a, b in pairs:
        shown.append(a)
        inputs.append(b)
        if len(inputs) == batch_size:
            yield np.stack(shown), np.stack(inputs)
            shown, inputs = [], []
    if inputs:
        yield np.stack(shown), np.stack(inputs)


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def writer_kind(path: Path) -> str:
    """How ``path`` is written: ``"gif"`` (Pillow), ``"pyav"`` or ``"ffmpeg"``; a
    ValueError for another suffix or a video format without an ffmpeg plugin."""
    suffix = path.suffix.lower()
    if suffix == ".gif":
        return "gif"
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(f"output {path}: expected a .gif or a video file "
                         f"({', '.join(VIDEO_SUFFIXES)}); got {suffix or 'no suffix'}.")
    if _installed("av"):
        return "pyav"
    if _installed("imageio_ffmpeg"):
        return "ffmpeg"
    raise ValueError(f"output {path}: writing {suffix} needs an ffmpeg plugin for imageio "
                     "(pip install av, or pip install imageio[ffmpeg]); or write a .gif.")


class _Writer:
    """Frames appended one at a time to a GIF (Pillow) or a video (an ffmpeg plugin)."""

    def __init__(self, path: Path, fps: float):
        import imageio.v3 as iio

        self.path, self.fps = path, fps
        self._kind = writer_kind(path)
        if self._kind == "gif":
            self._file = iio.imopen(path, "w", plugin="pillow")
        elif self._kind == "pyav":
            self._file = iio.imopen(path, "w", plugin="pyav")
            codec = "libvpx-vp9" if path.suffix.lower() == ".webm" else "libx264"
            self._file.init_video_stream(codec, fps=fps)
        else:
            import imageio.v2 as iio2

            self._file = iio2.get_writer(path, fps=fps, macro_block_size=1)

    def append(self, frame: np.ndarray) -> None:
        if self._kind == "gif":
            self._file.write(frame, is_batch=False, duration=1000.0 / self.fps, loop=0)
            return
        # H.264 in yuv420p needs even sizes: repeat the last row / column when odd.
        pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
        frame = np.pad(frame, pad, mode="edge")
        if self._kind == "pyav":
            self._file.write_frame(frame)
        else:
            self._file.append_data(frame)

    def close(self) -> None:
        self._file.close()


def _layout(h: int, w: int, count: int):
    """``(scale, rows, cols)``: tiles of the channels' ``h x w`` maps grown ``scale`` times."""
    scale = max(1, round(TILE / max(h, w)))
    cols = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / cols))
    return scale, rows, cols


def compose(frame: np.ndarray, maps: np.ndarray, low: np.ndarray, high: np.ndarray,
            lut: np.ndarray, progress: float) -> np.ndarray:
    """One uint8 RGB frame: the input frame, then the tiles of ``maps`` ``(h, w, K)``, each
    channel scaled by its range ``[low, high]`` over the whole video, and a timeline bar."""
    from skimage import transform

    h, w, count = maps.shape
    scale, rows, cols = _layout(h, w, count)
    th, tw = h * scale, w * scale
    grid_h, grid_w = rows * (th + GAP) - GAP, cols * (tw + GAP) - GAP
    span = np.where(high > low, high - low, 1.0)
    levels = np.clip((maps - low) / span, 0.0, 1.0)
    tiles = lut[np.round(levels * 255).astype(int)]  # (h, w, K, 3)
    tiles = np.repeat(np.repeat(tiles, scale, axis=0), scale, axis=1)
    grid = np.full((grid_h, grid_w, 3), 255, np.uint8)
    for k in range(count):
        r, c = divmod(k, cols)
        grid[r * (th + GAP):r * (th + GAP) + th, c * (tw + GAP):c * (tw + GAP) + tw] = tiles[
            :, :, k]
    if frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    width = max(1, int(round(frame.shape[1] * grid_h / frame.shape[0])))
    shown = transform.resize(frame.astype(np.float64), (grid_h, width), order=1,
                             preserve_range=True, anti_aliasing=True)
    shown = np.clip(np.round(shown), 0, 255).astype(np.uint8)
    panel = np.concatenate([shown, np.full((grid_h, 2 * GAP, 3), 255, np.uint8), grid], axis=1)
    bar = np.full((4, panel.shape[1], 3), 255, np.uint8)
    bar[1:3, :int(round(progress * panel.shape[1]))] = (64, 64, 64)
    return np.concatenate([panel, bar], axis=0)


def activation_video(net, frames, layer, output="activations.gif", *, fps: float = 10.0,
                     top: int | None = 16, channels=None, preprocess=None,
                     batch_size: int = 32, progress: bool | None = None) -> ActivationVideo:
    """Write a GIF (or MP4) of each frame beside the tiles of its layer's strongest channels.

    The offline form of Yosinski et al.'s live view. The frames are read twice, in
    batches of ``batch_size`` (one compiled model call each): first to rank the channels
    by their mean activation over the whole video and find each channel's range, then to
    draw — so the same channels stay in the same tiles, each scaled by its own range over
    the video (viridis), and memory holds one batch. A thin bar under each frame marks its
    place in the video.

    Parameters
    ----------
    net : keras.Model
        The model (never changed).
    frames : array or path
        Frames ``(T, H, W, C)`` (or ``(T, H, W)``) as the model takes them, or a video or
        GIF file (read with imageio: GIF always, MP4 and others with an ffmpeg plugin),
        resized to the model's input size and passed to ``preprocess`` as 0-255 pixels.
    layer : str or keras.layers.Layer
        A layer with maps ``(N, h, w, C)`` (or a token grid).
    output : path, default="activations.gif"
        ``.gif`` (Pillow), or ``.mp4`` / ``.mov`` / ``.avi`` / ``.mkv`` / ``.webm`` when
        imageio has an ffmpeg plugin (``av`` or ``imageio-ffmpeg``).
    fps : float, default=10
        Frames per second (a GIF stores delays in hundredths of a second).
    top : int or None, default=16
        How many channels to show, strongest first (None: all of ``channels``).
    channels : int, sequence of int or None
        The channels to choose from (None: all).
    preprocess : callable, optional
        For frames read from a file: ``preprocess(batch of 0-255 float32 frames)`` -> what
        the model takes (None: the pixels as read).
    batch_size : int, default=32
        Frames per model call.
    progress : bool or None
        A progress bar over the batches.

    Returns
    -------
    ActivationVideo
        The file written, the channels shown and the frame count. Pillow merges identical
        consecutive GIF frames (adding their durations), which the timeline bar prevents
        for videos of up to a frame's width in frames.

    References
    ----------
    Yosinski, Clune, Nguyen, Fuchs and Lipson, "Understanding Neural Networks Through
    Deep Visualization", ICML Deep Learning Workshop 2015.
    """
    from matplotlib import colormaps

    from .._models import keras_adapter
    from .._models._visualize import statistics_function

    fps = check_real("fps", fps, open_minimum=True)
    top = check_top(top)
    batch_size = check_int("batch_size", batch_size)
    output = Path(output)
    writer_kind(output)  # before any model call
    adapter = keras_adapter(net)
    static = adapter.input_shape
    size = tuple(static[1:3]) if static is not None and None not in static[1:3] else None
    source, from_file = _frame_source(frames, size, None if static is None else static[-1],
                                      preprocess)

    # Pass 1: each channel's mean, minimum and maximum over every frame.
    total, sums, low, high = 0, None, None, None
    target = statistics = None
    for _, batch in progress_bar(image_stream((b for _, b in _batched(source(), batch_size)),
                                              batch_size, static, name="frames"),
                                 total=None, progress=progress, desc="activations (1/2)"):
        if target is None:
            adapter, _, target = model_and_layer(net, batch.shape[1:], layer)
            if target.kind == "vector":
                raise ValueError(f"layer {target.name!r} outputs vectors {target.call.shape}; "
                                 "an activation video needs maps (N, h, w, C).")
            pool = check_channels(channels, target.channels, target.name)
            statistics = statistics_function(adapter, target)
        mean, minimum, maximum, _ = statistics(batch)
        total += len(batch)
        sums = mean.sum(axis=0) if sums is None else sums + mean.sum(axis=0)
        low = minimum.min(axis=0) if low is None else np.minimum(low, minimum.min(axis=0))
        high = maximum.max(axis=0) if high is None else np.maximum(high, maximum.max(axis=0))
    if not total:
        raise ValueError("frames holds no frame.")
    order = pool[np.argsort(-sums[pool], kind="stable")]
    shown_channels = order if top is None else order[:top]

    # Pass 2: draw and write.
    from .._models._visualize import maps_function

    maps_of = maps_function(adapter, target)
    lut = np.round(colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
    display = None
    if not from_file:
        arr = np.asarray(frames)
        display = None if arr.dtype == np.uint8 else display_range(arr)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        writer = _Writer(output, fps)
    except OSError as exc:
        raise ValueError(f"output {output}: cannot write: {exc.strerror or exc}") from exc
    written, frame_shape = 0, None
    try:
        for shown, batch in progress_bar(_batched(source(), batch_size), total=None,
                                         progress=progress, desc="activations (2/2)"):
            x = next(image_stream(batch, len(batch), static, name="frames"))[1]
            maps = maps_of(x)[..., shown_channels]
            if display is not None:
                lo, hi = display
                shown = np.round(np.clip((shown - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
            for frame, m in zip(shown, maps, strict=True):
                image = compose(frame, m, low[shown_channels], high[shown_channels], lut,
                                (written + 1) / total)
                writer.append(image)
                frame_shape = image.shape
                written += 1
    finally:
        writer.close()
    return ActivationVideo(output, target.name, shown_channels, written, fps, frame_shape)
