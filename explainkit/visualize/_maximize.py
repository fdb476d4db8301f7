"""Activation maximisation: images made by regularised gradient ascent on the input."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_images, check_int, check_option
from ._common import (
    check_channels,
    check_random_state,
    check_real,
    model_and_layer,
    progress_bar,
)

OBJECTIVES = ("channel", "neuron", "class")


@dataclass
class MaximizationResult:
    """Images synthesised to excite units, one per channel asked for.

    Attributes
    ----------
    images : ndarray, (len(channels), H, W, C)
        In the model's input range (``input_range``).
    history : ndarray, (len(channels), steps)
        The objective at each step (of the image that step started from, jittered).
    layer : str
        The reported layer name (for ``"class"``: the layer whose scores were taken).
    channels : ndarray of int
        The channel, unit or class of each image.
    objective : str
        ``"channel"``, ``"neuron"``, ``"class"`` (or ``"dream"``, from ``deep_dream``).
    input_range : (float, float) or None
        The range the images were kept in (None: unbounded).
    params : dict
        The options used.
    """

    images: np.ndarray
    history: np.ndarray
    layer: str
    channels: np.ndarray
    objective: str
    input_range: tuple[float, float] | None
    params: dict = field(default_factory=dict)

    def to_uint8(self) -> np.ndarray:
        """The images as uint8 for display: ``input_range`` mapped linearly to 0-255
        (unbounded images: each by its own minimum and maximum)."""
        images = np.asarray(self.images, dtype=np.float64)
        if self.input_range is not None:
            low, high = self.input_range
            scaled = (images - low) / (high - low)
        else:
            axes = tuple(range(1, images.ndim))
            low = images.min(axis=axes, keepdims=True)
            span = images.max(axis=axes, keepdims=True) - low
            scaled = (images - low) / np.where(span > 0, span, 1.0)
        return np.round(np.clip(scaled, 0.0, 1.0) * 255.0).astype(np.uint8)

    def plot(self, **kwargs):
        """Draw the images (see ``plotting.plot_maximization``)."""
        from ..plotting import plot_maximization

        return plot_maximization(self, **kwargs)


def check_input_range(input_range) -> tuple[float, float] | None:
    """``input_range``: None or a pair ``(low, high)`` of finite numbers with low < high."""
    if input_range is None:
        return None
    values = tuple(np.ravel(input_range)) if np.ndim(input_range) == 1 else ()
    if (len(values) != 2 or not all(isinstance(v, numbers.Real) for v in values)
            or not np.all(np.isfinite(values)) or not values[0] < values[1]):
        raise ValueError("The 'input_range' parameter must be None or a pair (low, high) of "
                         f"finite numbers with low < high. Got {input_range!r} instead.")
    return float(values[0]), float(values[1])


def frame_of(input_range):
    """``(centre, span, low, high)`` of the working space ``z = x - centre``."""
    if input_range is None:
        return 0.0, 1.0, -np.inf, np.inf
    low, high = input_range
    centre = (low + high) / 2.0
    return centre, high - low, low - centre, high - centre


def initial_images(init, count: int, image_shape, input_shape, input_range, rng,
                   name: str = "init") -> np.ndarray:
    """The starting images ``(count, H, W, C)`` in the working space (centred)."""
    centre, span, low, high = frame_of(input_range)
    if isinstance(init, str):
        check_option(name, init, ("noise", "zeros"))
        if image_shape is None:
            raise ValueError(
                "The model's input size is not fixed (or the model is subclassed), so the "
                "image size is unknown; pass image_shape=(H, W, C).")
        shape = (count, *image_shape)
        if init == "zeros":
            return np.zeros(shape, np.float32)
        return np.clip(rng.normal(0.0, 0.05 * span, size=shape), low, high).astype(np.float32)
    images, _ = check_images(init, input_shape=input_shape, name=name)
    if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
        raise ValueError(f"{name} has shape {images.shape[1:]} but image_shape is "
                         f"{tuple(image_shape)}.")
    if len(images) not in (1, count):
        raise ValueError(f"{name} must be one image or one per channel ({count}); got "
                         f"{len(images)} images.")
    images = np.broadcast_to(images, (count, *images.shape[1:])) - np.float32(centre)
    return np.clip(images, low, high).astype(np.float32)


def resolve_image_shape(adapter, image_shape, init) -> tuple | None:
    """``(H, W, C)``: ``image_shape``, the initial image's, or the model's static input."""
    if image_shape is not None:
        shape = tuple(int(s) for s in np.ravel(image_shape))
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError("The 'image_shape' parameter must be (H, W, C) with positive "
                             f"sizes. Got {image_shape!r} instead.")
        return shape
    if not isinstance(init, str):
        arr = np.asarray(init)
        if arr.ndim == 2:
            return (*arr.shape, 1)
        return tuple(arr.shape[-3:])
    static = adapter.input_shape
    if static is None or None in static[1:]:
        return None
    return tuple(static[1:])


def objective_weights(channels: np.ndarray, count: int) -> np.ndarray:
    """``(B, K)``: one-hot rows (a channel) or uniform rows for ``-1`` (all channels)."""
    weights = np.zeros((len(channels), count), np.float32)
    for row, channel in enumerate(channels):
        if channel < 0:
            weights[row] = 1.0 / count
        else:
            weights[row, channel] = 1.0
    return weights


def ascend(step, z: np.ndarray, weights: np.ndarray, *, steps: int, rate: float,
           decay: float, blur_every: int, norm_count: int, contribution_count: int,
           shifts: np.ndarray, centre: float, low: float, high: float,
           bar=None) -> tuple[np.ndarray, np.ndarray]:
    """Run ``steps`` compiled ascent steps on one batch; ``(z, history (B, steps))``."""
    history = np.empty((len(z), steps), np.float32)
    for t in range(steps):
        blur = blur_every > 0 and (t + 1) % blur_every == 0
        z, history[:, t] = step(z, centre, low, high, weights, shifts[t], rate, decay,
                                norm_count, contribution_count, blur)
        if bar is not None:
            bar.update(1)
    return z, history


def maximize(net, layer, channels, *, objective: str = "channel", position=None,
             steps: int = 200, learning_rate: float = 0.02, image_shape=None, init="noise",
             input_range=(0.0, 1.0), l2_decay: float = 0.0, blur_every: int = 0,
             blur_sigma: float = 1.0, clip_norm_percentile: float = 0.0,
             clip_contribution_percentile: float = 0.0, jitter: int = 0,
             random_state=None, batch_size: int = 32,
             progress: bool | None = None) -> MaximizationResult:
    """Images that maximise units of a layer, by regularised gradient ascent on the input.

    Each image starts from ``init`` and follows ``steps`` steps of Yosinski et al.'s update
    ``x <- r(x + eta * g)``, where ``g`` is the objective's gradient scaled to mean absolute
    value 1 per image (so ``learning_rate`` is a step in units of the input range, whatever
    the activations' scale) and ``r`` applies the regularisers in the paper's order:
    L2 decay, a Gaussian blur every ``blur_every`` steps, zeroing the pixels of small norm
    and of small contribution, then clipping to ``input_range``. Regularisers act in the
    centred space ``x - centre`` (``centre`` = the middle of ``input_range``, the paper's
    mean image): decay pulls pixels towards it and "zeroing" sets pixels to it. Every
    channel of a batch is optimised in one compiled call per step.

    Parameters
    ----------
    net : keras.Model
        The model (never changed; its weights, flags and layers stay as they are).
    layer : str or keras.layers.Layer
        The layer whose units are maximised; for ``objective="class"`` the layer whose
        output holds the class scores, or ``"auto"``: the logits (before a final
        softmax/sigmoid), as Grad-CAM's ``reduction_layer``.
    channels : int or sequence of int
        One image per entry: the channel (``"channel"``, ``"neuron"``) or class index.
    objective : {"channel", "neuron", "class"}
        ``"channel"``: the channel's mean over its map; ``"neuron"``: the channel at one
        spatial ``position`` (default: the centre ``(h // 2, w // 2)``); ``"class"``: the
        class's score (pre-softmax logit with ``layer="auto"``).
    position : (int, int), optional
        The unit of ``"neuron"``.
    steps : int, default=200
    learning_rate : float, default=0.02
        Mean absolute pixel change per step, as a share of the input range's width.
    image_shape : (H, W, C), optional
        Needed when neither the model nor ``init`` fixes it.
    init : {"noise", "zeros"} or array
        ``"noise"``: the centre plus Gaussian noise of 5 % of the range's width;
        ``"zeros"``: the centre (mid grey in [0, 1]); or one image (H, W, C), or one per
        channel.
    input_range : (low, high) or None, default=(0, 1)
        The model's input range: images are kept inside it. None: unbounded, centre 0.
    l2_decay : float in [0, 1], default=0
        ``z <- (1 - l2_decay) z`` every step.
    blur_every : int, default=0
        Blur every ``blur_every`` steps (0: never), with a Gaussian of ``blur_sigma``
        pixels (scipy.ndimage's ``gaussian_filter``, mirrored borders, computed in
        TensorFlow inside the step).
    blur_sigma : float, default=1.0
    clip_norm_percentile : float in [0, 100], default=0
        Every step, the pixels whose norm (over channels, centred) is among the lowest
        ``clip_norm_percentile`` percent are set to the centre.
    clip_contribution_percentile : float in [0, 100], default=0
        Likewise for the pixels of smallest contribution ``sum_c |z_c * g_c|`` (the
        first-order change of the objective if the pixel were set to the centre).
    jitter : int, default=0
        Each step the image is rolled by a random shift of at most ``jitter`` pixels per
        axis before the gradient is taken (and the gradient rolled back).
    random_state : int, Generator or None
        Seeds the noise and the jitter: the same seed gives the same images, whatever
        ``batch_size``.
    batch_size : int, default=32
        Images optimised together in one compiled call.
    progress : bool or None
        A progress bar over the steps (None: on long runs in a terminal).

    Returns
    -------
    MaximizationResult
        ``images`` ``(len(channels), H, W, C)``, ``history`` ``(len(channels), steps)``;
        ``to_uint8()`` for display.

    References
    ----------
    Yosinski, Clune, Nguyen, Fuchs and Lipson, "Understanding Neural Networks Through
    Deep Visualization", ICML Deep Learning Workshop 2015.
    Erhan, Bengio, Courville and Vincent, "Visualizing Higher-Layer Features of a Deep
    Network", Université de Montréal, 2009.
    """
    from .._models import keras_adapter
    from .._models._visualize import AscentTarget, ascent_function, blur_radius

    check_option("objective", objective, OBJECTIVES)
    steps = check_int("steps", steps)
    learning_rate = check_real("learning_rate", learning_rate)
    l2_decay = check_real("l2_decay", l2_decay, maximum=1.0)
    blur_every = check_int("blur_every", blur_every, minimum=0)
    blur_sigma = check_real("blur_sigma", blur_sigma, open_minimum=True)
    norm_pct = check_real("clip_norm_percentile", clip_norm_percentile, maximum=100.0)
    contribution_pct = check_real("clip_contribution_percentile",
                                  clip_contribution_percentile, maximum=100.0)
    jitter = check_int("jitter", jitter, minimum=0)
    batch_size = check_int("batch_size", batch_size)
    input_range = check_input_range(input_range)
    rng = check_random_state(random_state)

    adapter = keras_adapter(net)
    shape = resolve_image_shape(adapter, image_shape, init)
    if shape is None:
        raise ValueError(
            "The model's input size is not fixed (or the model is subclassed), so the image "
            "size is unknown; pass image_shape=(H, W, C) or an init image.")
    graph = adapter.graph(shape)
    if objective == "class":
        reduction = graph.reduction(layer)
        count = int(graph.reduction_shape(reduction)[-1])
        name = reduction.label
        target = AscentTarget("class", reduction=reduction)
    else:
        _, _, layer_map = model_and_layer(net, shape, layer)
        count, name = layer_map.channels, layer_map.name
        if objective == "neuron":
            h, w = layer_map.spatial
            position = (h // 2, w // 2) if position is None else position
            if (np.ndim(position) != 1 or len(position) != 2
                    or not all(isinstance(p, numbers.Integral) for p in position)
                    or not (0 <= position[0] < h and 0 <= position[1] < w)):
                raise ValueError(f"The 'position' parameter must be (row, col) inside layer "
                                 f"{name!r}'s {h}x{w} maps. Got {position!r} instead.")
            position = (int(position[0]), int(position[1]))
        elif position is not None:
            raise ValueError("The 'position' parameter applies to objective='neuron' only.")
        target = AscentTarget(objective, layer=layer_map, position=position)
    what = "classes" if objective == "class" else "channels"
    if channels is None:
        raise TypeError(f"maximize needs the {what} to maximise (an int or a list).")
    chosen = check_channels(channels, count, name)
    if blur_every and blur_radius(blur_sigma) > min(shape[:2]):
        raise ValueError(f"The 'blur_sigma' parameter is too large for {shape[0]}x{shape[1]} "
                         f"images (radius 4 sigma must not exceed the size). Got {blur_sigma}.")

    z = initial_images(init, len(chosen), shape, adapter.input_shape, input_range, rng)
    centre, span, low, high = frame_of(input_range)
    limit = max(jitter, 0)
    shifts = rng.integers(-limit, limit + 1, size=(steps, 2)) if jitter else \
        np.zeros((steps, 2), int)
    pixels = shape[0] * shape[1]
    options = {
        "rate": learning_rate * span, "decay": l2_decay, "blur_every": blur_every,
        "norm_count": int(round(norm_pct / 100.0 * pixels)),
        "contribution_count": int(round(contribution_pct / 100.0 * pixels)),
        "shifts": shifts, "centre": centre, "low": low, "high": high,
    }
    step = ascent_function(adapter, target, blur_sigma=blur_sigma if blur_every else None,
                           normalize="mean_abs")
    weights = objective_weights(chosen, count)
    images, history = np.empty_like(z), np.empty((len(chosen), steps), np.float32)
    starts = range(0, len(chosen), batch_size)
    with progress_bar(None, total=steps * len(starts), progress=progress, desc="maximize",
                      unit="step") as bar:
        for start in starts:
            part = slice(start, start + batch_size)
            images[part], history[part] = ascend(step, z[part], weights[part], steps=steps,
                                                 bar=bar, **options)
    params = {"objective": objective, "position": position, "steps": steps,
              "learning_rate": learning_rate, "init": init if isinstance(init, str) else
              "image", "input_range": input_range, "l2_decay": l2_decay,
              "blur_every": blur_every, "blur_sigma": blur_sigma,
              "clip_norm_percentile": norm_pct,
              "clip_contribution_percentile": contribution_pct, "jitter": jitter}
    return MaximizationResult(images + np.float32(centre), history, name, chosen, objective,
                              input_range, params)
