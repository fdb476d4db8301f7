"""Deep dream: multi-scale gradient ascent from an image or noise (MATLAB's deepDreamImage)."""

from __future__ import annotations

import numpy as np

from .._image import upsample
from .._validation import check_int
from ._common import check_channels, check_random_state, check_real, model_and_layer, progress_bar
from ._maximize import (
    MaximizationResult,
    ascend,
    check_input_range,
    frame_of,
    initial_images,
    objective_weights,
    resolve_image_shape,
)


def pyramid_sizes(size: tuple[int, int], levels: int, scale: float) -> list[tuple[int, int]]:
    """The image size at each level: ``round(size * scale ** level)``, the first = ``size``."""
    return [(int(round(size[0] * scale**level)), int(round(size[1] * scale**level)))
            for level in range(levels)]


def deep_dream(net, X, layer, channels=None, *, pyramid_levels: int = 3,
               pyramid_scale: float = 1.4, steps_per_level: int = 10,
               learning_rate: float = 0.01, input_range=(0.0, 1.0), image_shape=None,
               random_state=None, batch_size: int = 32,
               progress: bool | None = None) -> MaximizationResult:
    """Images that strongly activate a layer's channels, grown over an image pyramid.

    MATLAB's ``deepDreamImage(net, layer, channels)``: the first level is the starting
    image at its own size (the model's input size for noise); each further level resizes
    the image by ``pyramid_scale`` (bicubic) and continues the ascent there, so the result
    is ``pyramid_scale ** (pyramid_levels - 1)`` times larger (``pyramid_levels=1`` keeps
    the size). Each step adds the gradient of the channel's mean activation after
    Laplacian pyramid normalisation (each frequency band of the gradient scaled to unit
    RMS, as MATLAB does), then clips to ``input_range``. Larger levels need a model that
    runs at other sizes (convolutions up to the layer).

    Parameters
    ----------
    net : keras.Model
        The model (never changed).
    X : array-like or None
        The starting image (H, W, C), one per channel ``(len(channels), H, W, C)``, or a
        batch ``(N, H, W, C)`` with ``channels=None``; None: noise at the model's input size
        (or ``image_shape``), the centre of ``input_range`` plus 5 % Gaussian noise.
    layer : str or keras.layers.Layer
        The layer to dream on (a ``(N, C)`` layer too: channels are its units).
    channels : int, sequence of int or None
        One image per channel, maximising that channel's mean; None: the mean of all the
        layer's channels ("amplify whatever the layer sees"), one image per image of X.
    pyramid_levels : int, default=3
    pyramid_scale : float > 1, default=1.4
    steps_per_level : int, default=10
    learning_rate : float, default=0.01
        Step size, as a share of the input range's width, of the normalised gradient.
    input_range : (low, high) or None, default=(0, 1)
        The model's input range: images are kept inside it (None: unbounded).
    image_shape : (H, W, C), optional
        The noise image's size, when the model's is not fixed.
    random_state : int, Generator or None
        Seeds the noise.
    batch_size : int, default=32
        Images optimised together in one compiled call.
    progress : bool or None
        A progress bar over the steps.

    Returns
    -------
    MaximizationResult
        ``images`` ``(K, H', W', C)`` at the last level's size, ``history``
        ``(K, pyramid_levels * steps_per_level)``, ``objective="dream"``; ``params`` holds
        the sizes of the levels.

    References
    ----------
    Mordvintsev, Olah and Tyka, "Inceptionism: Going Deeper into Neural Networks",
    Google Research blog, 2015. MATLAB's ``deepDreamImage``.
    """
    from .._models import keras_adapter
    from .._models._visualize import AscentTarget, ascent_function

    levels = check_int("pyramid_levels", pyramid_levels)
    scale = check_real("pyramid_scale", pyramid_scale, minimum=1.0, open_minimum=True)
    steps = check_int("steps_per_level", steps_per_level)
    learning_rate = check_real("learning_rate", learning_rate)
    batch_size = check_int("batch_size", batch_size)
    input_range = check_input_range(input_range)
    rng = check_random_state(random_state)
    adapter = keras_adapter(net)
    init = "noise" if X is None else X
    shape = resolve_image_shape(adapter, image_shape, init)
    if shape is None:
        raise ValueError("The model's input size is not fixed (or the model is subclassed), "
                         "so the noise image's size is unknown; pass image_shape=(H, W, C) or "
                         "a starting image X.")
    _, _, target = model_and_layer(net, shape, layer)
    if channels is None:
        count = 1 if X is None or np.ndim(X) < 4 else len(X)
        chosen = np.full(count, -1)
    else:
        chosen = check_channels(channels, target.channels, target.name)
        count = len(chosen)
    z = initial_images(init, count, shape, adapter.input_shape, input_range, rng, name="X")
    centre, span, low, high = frame_of(input_range)
    weights = objective_weights(chosen, target.channels)
    sizes = pyramid_sizes(shape[:2], levels, scale)
    history = np.empty((count, levels * steps), np.float32)
    options = {"rate": learning_rate * span, "decay": 0.0, "blur_every": 0, "norm_count": 0,
               "contribution_count": 0, "shifts": np.zeros((steps, 2), int),
               "centre": centre, "low": low, "high": high}
    starts = range(0, count, batch_size)
    with progress_bar(None, total=levels * steps * len(starts), progress=progress,
                      desc="deep dream", unit="step") as bar:
        for level, size in enumerate(sizes):
            if level:
                z = np.clip(upsample(z, size, "bicubic"), low, high).astype(np.float32)
            try:
                _, _, target = model_and_layer(net, (*size, shape[2]), layer)
                step = ascent_function(adapter, AscentTarget("channel", layer=target),
                                       blur_sigma=None, normalize="laplacian")
                for start in starts:
                    part = slice(start, start + batch_size)
                    z[part], history[part, level * steps:(level + 1) * steps] = ascend(
                        step, z[part], weights[part], steps=steps, bar=bar, **options)
            except Exception as exc:
                if not level:
                    raise
                raise ValueError(
                    f"Layer {target.name!r} cannot be computed on {size[0]}x{size[1]} images "
                    f"(pyramid level {level + 1}; the model may take only its own input "
                    f"size): {' '.join(str(exc).split())[:200]}. Pass pyramid_levels=1 to "
                    "dream at the input size.") from exc
    params = {"pyramid_levels": levels, "pyramid_scale": scale,
              "steps_per_level": steps, "learning_rate": learning_rate,
              "input_range": input_range, "sizes": sizes,
              "init": "noise" if X is None else "image"}
    return MaximizationResult(z + np.float32(centre), history, target.name, chosen, "dream",
                              input_range, params)
