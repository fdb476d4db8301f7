"""Occlusion sensitivity: how much the score drops when a patch of the image is hidden."""

from __future__ import annotations

import numbers

import numpy as np

from .._baselines import mask_values
from .._batching import images_per_call
from .._explanation import Explanation
from .._image import apply_separable, interpolation_matrix
from .._models import BlackBox, keras_adapter
from .._perturbation import Perturbations, execute
from .._validation import check_images, example_shape
from ._blackbox import BlackBoxExplainer, check_finite


def _pair(name: str, value, auto: float, size: tuple[int, int]) -> tuple[int, int]:
    """'auto' (a fraction of each spatial size), an int or an (h, w) pair of ints >= 1."""
    if isinstance(value, str) and value == "auto":
        return tuple(max(1, int(np.floor(auto * s + 0.5))) for s in size)
    values = (value, value) if np.ndim(value) == 0 else tuple(np.ravel(value))
    if len(values) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values
    ):
        raise TypeError(
            f"The '{name}' parameter must be 'auto', an int or a pair of ints (h, w). "
            f"Got {value!r} instead."
        )
    if min(values) < 1:
        raise ValueError(
            f"The '{name}' parameter must be at least 1 in each dimension. Got {value!r} instead."
        )
    return int(values[0]), int(values[1])


def mask_windows(size: int, mask: int, stride: int, clipping: bool):
    """Start, stop and centre of every mask position along one axis.

    With clipping, centres are at 0, stride, 2 stride, ... < size and a mask covers
    ``[c - mask // 2, c - mask // 2 + mask)`` cut at the border; without, the top-left
    corners are at 0, stride, ... with the whole mask inside (centre ``start + mask // 2``).
    """
    if clipping:
        centres = np.arange(0, size, stride)
        starts = centres - mask // 2
        return np.clip(starts, 0, size), np.clip(starts + mask, 0, size), centres
    starts = np.arange(0, size - mask + 1, stride)
    return starts, starts + mask, starts + mask // 2


def _window_pixels(windows, size: int) -> np.ndarray:
    """``(positions, mask)`` pixel indices of each window, clipped to ``[0, size)``."""
    starts, stops = windows[0], windows[1]
    width = int(max(stops - starts)) if len(starts) else 0
    return np.minimum(starts[:, None] + np.arange(width), np.maximum(stops - 1, 0)[:, None])


def _occlude(images, replacement, image_ids, rows, cols, out):
    """Copies of ``images[image_ids]`` with one window each taken from ``replacement``.

    ``rows`` ``(B, m_h)`` and ``cols`` ``(B, m_w)`` list each window's pixel indices, clipped
    to the image (a cut window repeats its border index, which writes the same pixel twice).
    One gather into ``out`` (``(B, H, W, C)``, a view of the reused buffer) and one
    vectorised scatter of the windows; no per-mask copy.
    """
    # mode="clip": the ids are in range; the default "raise" gathers through a temporary.
    batch = np.take(images, image_ids, axis=0, out=out, mode="clip")
    ids, r, c = np.arange(len(image_ids))[:, None, None], rows[:, :, None], cols[:, None, :]
    batch[ids, r, c] = replacement[image_ids[:, None, None], r, c]
    return batch


class OcclusionSensitivity(BlackBoxExplainer):
    """Occlusion sensitivity (MATLAB's ``occlusionSensitivity``), for any predictor.

    The map value at a mask position is ``score(image) - score(image with the patch
    hidden)``: positive where the patch supports the target. Occluded images are built in
    vectorised batches across mask positions and images; memory stays bounded by
    ``batch_size``.

    Parameters
    ----------
    net : keras.Model, scikit-learn estimator or callable
        A Keras model (its output is scored: probabilities if it outputs them), an
        estimator or Pipeline taking the image batch (``predict_proba``, else
        ``decision_function``, else ``predict``), or any ``f(images) -> scores``.
    mask_size : "auto", int or (int, int), default="auto"
        Patch size; "auto" = round(20%) of each spatial size.
    stride : "auto", int or (int, int), default="auto"
        Step between patches; "auto" = round(10%) of each spatial size.
    mask_value : "auto", "mean", "blur", float or array, default="auto"
        What hides a patch: "auto" (MATLAB's default) or "mean" = the image's per-channel
        mean; "blur" = the image blurred (Gaussian, sigma 5% of its size); a number; one
        value per channel; or a replacement image ``(H, W, C)`` (or ``(N, H, W, C)``, one
        per image).
    mask_clipping : bool, default=True
        True: patches centred at 0, stride, ... and cut at the border (a patch larger than
        the image is allowed); False: only whole patches inside the image.
    output_upsampling : {"bicubic", "nearest", "none"}, default="bicubic"
        "none" returns one value per patch position; the others interpolate those values,
        each placed at its patch's centre, to every pixel.
    batch_size : "auto" or int, default="auto"
        Occluded images per model call: "auto" = as many as ``max_batch_bytes`` allows
        (see :func:`explainkit.set_config`), at most 1024; an int is capped by that budget
        too (MATLAB's ``MiniBatchSize`` is 128).
    layer : str, optional
        With ``channel``: score the activation of this channel of this layer, summed over
        space, instead of an output (Keras models; a subclassed model's layers are named
        as for Grad-CAM).
    channel : int, optional
        The channel of ``layer``.
    class_names : sequence of str, optional
        Names of the outputs, so that targets can be given by name.
    progress : bool, optional
        Show a progress bar; None = only on long runs in an interactive terminal.
    output : int or str, optional
        For a model with several outputs (a list, tuple or dict): the output to explain,
        by index or by name (the producing layer's name, or the dict key).
    task : {"auto", "classification", "regression", "segmentation", "detection"}, default="auto"
        "auto": detection for a keras-hub object detector; segmentation for spatial
        outputs; classification for Keras models ending in softmax/sigmoid, for
        ``predict_proba``/``decision_function`` and for callables with several outputs;
        regression otherwise. "detection" with a callable: it returns detections (as for
        :class:`~explainkit.DRISE`, boxes in pixel ``xyxy``), and the score of an
        occluded image is D-RISE's similarity of its detections to the target detection
        (``target``: a rank, ranks, None = every detection scoring at least 0.5, or
        :class:`~explainkit.Detections`), so the map is the drop of that similarity.

    Examples
    --------
    >>> import numpy as np
    >>> from explainkit import OcclusionSensitivity
    >>> weights = np.zeros((8, 8)); weights[2:4, 2:4] = 1
    >>> f = lambda X: (X[..., 0] * weights).sum(axis=(1, 2))[:, None]
    >>> image = np.ones((8, 8, 1))
    >>> occlusion = OcclusionSensitivity(f, mask_size=2, stride=2, mask_value=0,
    ...                                  mask_clipping=False, output_upsampling="none")
    >>> occlusion.fit().explain(image).score_map
    array([[0., 0., 0., 0.],
           [0., 4., 0., 0.],
           [0., 0., 0., 0.],
           [0., 0., 0., 0.]], dtype=float32)
    """

    method_name = "occlusion"
    explains_detectors = True

    def __init__(self, net, *, mask_size="auto", stride="auto", mask_value="auto",
                 mask_clipping=True, output_upsampling="bicubic", batch_size="auto", layer=None,
                 channel=None, class_names=None, progress=None, output=None, task="auto"):
        self.net = net
        self.mask_size = mask_size
        self.stride = stride
        self.mask_value = mask_value
        self.mask_clipping = mask_clipping
        self.output_upsampling = output_upsampling
        self.batch_size = batch_size
        self.layer = layer
        self.channel = channel
        self.class_names = class_names
        self.progress = progress
        self.output = output
        self.task = task

    def fit(self, X=None, y=None):
        """Validate the parameters and wrap the predictor; return ``self``.

        Parameters
        ----------
        X : array-like, optional
            An example image; needed only for the layer/channel form on a model whose
            input size is not fixed.
        y : ignored
        """
        if not isinstance(self.mask_clipping, bool | np.bool_):
            raise TypeError(f"mask_clipping must be True or False; got {self.mask_clipping!r}.")
        for name in ("mask_size", "stride"):
            value = getattr(self, name)
            _pair(name, value, 0.5, (2, 2))  # the type and range checks, before any image
        self._check_common()
        self.layer_ = self._layer_call = None
        if (self.layer is None) != (self.channel is None):
            raise ValueError(
                "layer and channel go together: pass both (to score a channel's activation) "
                f"or neither; got layer={self.layer!r}, channel={self.channel!r}."
            )
        if self.layer is not None:
            if isinstance(self._predictor, BlackBox):
                raise TypeError(
                    "layer/channel need a Keras model to reach the layer; net is "
                    f"{type(self.net).__name__}."
                )
            adapter = keras_adapter(self.net)
            shape = None if X is None else example_shape(X, input_shape=adapter.input_shape)
            graph = adapter.graph(shape)
            call = graph.find(self.layer, "layer")
            channels = call.shape[-1] if call.shape else None
            if not isinstance(self.channel, numbers.Integral) or isinstance(self.channel, bool):
                raise TypeError(f"channel must be an int; got {self.channel!r}.")
            if channels is not None and not 0 <= self.channel < channels:
                raise ValueError(
                    f"channel {self.channel} is out of range: layer {graph.name(call)!r} has "
                    f"{channels} channels (valid 0..{channels - 1})."
                )
            self.layer_ = graph.name(call)
            self._layer_call = call
        return self

    def _outputs(self, x: np.ndarray) -> np.ndarray:
        if self.layer_ is not None:
            return self._predictor.channel_scores(x, self._layer_call, int(self.channel))
        return self._predictor.outputs(x, self.output)

    def _task(self, outputs: np.ndarray, final_activation: str | None) -> str:
        if self.layer_ is not None:
            return "regression"
        return super()._task(outputs, final_activation)

    def explain(self, X, target=None, *, roi=None) -> Explanation:
        """Occlusion maps of ``X`` for ``target``.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)`` (or ``(H, W)``) or a batch ``(N, H, W, C)``.
        target : int, str, list, ndarray or None
            Class, output or segmentation class; a list gives one map per target; a numpy
            array ``(N,)`` / ``(N, K)`` the target(s) of each image; None = the prediction
            on the unoccluded image (regression: output 0). Must be None
            with ``layer``/``channel``.
        roi : bool array or "predicted", optional
            Segmentation only: the output pixels whose class scores are summed; "predicted"
            = the pixels predicted as the class on the unoccluded image.

        Returns
        -------
        Explanation
        """
        self._check_fitted()
        images, single_image = check_images(X, input_shape=self._predictor.input_shape)
        n, height, width, _ = images.shape
        mask = _pair("mask_size", self.mask_size, 0.2, (height, width))
        stride = _pair("stride", self.stride, 0.1, (height, width))
        if not self.mask_clipping and (mask[0] > height or mask[1] > width):
            raise ValueError(
                f"mask_size {mask} is larger than the images ({height}, {width}); with "
                "mask_clipping=False every mask must fit inside the image."
            )
        replacement = mask_values(self.mask_value, images)
        if self.layer_ is not None and (target is not None or roi is not None):
            raise ValueError("With layer/channel the score is the channel: target and roi "
                             "must be None.")

        batch_size = images_per_call(self.batch_size, images[0].nbytes)
        detection = self._detection
        if detection is not None:
            if roi is not None or self.layer_ is not None:
                raise ValueError("A detector's occlusion maps are of its detections: roi, "
                                 "layer and channel do not apply.")
            targets, base_scores = detection.targets(images, target, batch_size=batch_size)
            task, resolved = "detection", np.where(targets.valid, targets.labels, 0)
            single_target = isinstance(target, numbers.Integral) and not isinstance(target, bool)
        else:
            task, single_target, score, base_scores, resolved, roi_array = self._resolve_on(
                images, target, roi, batch_size)
        rows = mask_windows(height, mask[0], stride[0], self.mask_clipping)
        cols = mask_windows(width, mask[1], stride[1], self.mask_clipping)
        n_rows, n_cols = len(rows[0]), len(cols[0])
        positions = n_rows * n_cols
        full_replacement = np.broadcast_to(replacement, images.shape)  # a view
        row_pixels = _window_pixels(rows, height)
        col_pixels = _window_pixels(cols, width)
        def build(items: slice, out: np.ndarray) -> None:
            image_ids, position = np.divmod(np.arange(items.start, items.stop), positions)
            r, c = np.divmod(position, n_cols)
            _occlude(images, full_replacement, image_ids, row_pixels[r], col_pixels[c], out)

        if detection is not None:  # the drop of D-RISE's similarity to each detection
            def scorer(batch, image_ids, _):
                return detection.scores(batch, image_ids, targets)
        elif self.layer_ is not None:
            def scorer(batch, image_ids, _):
                return check_finite(self._outputs(batch))
        else:
            def scorer(batch, image_ids, _):
                return self._scores(batch, resolved[image_ids], roi_array[image_ids], score)

        image_ids = np.repeat(np.arange(n), positions)
        (scores,) = execute([Perturbations(image_ids, build)], scorer, batch_size=batch_size,
                            image_shape=images.shape[1:], progress=self.progress,
                            desc="occlusion")
        drops = base_scores[image_ids] - scores
        pixel_rows, pixel_cols = np.arange(height), np.arange(width)
        maps = drops.reshape(n, n_rows, n_cols, -1)
        if self.output_upsampling != "none":
            maps = apply_separable(
                maps,
                interpolation_matrix((pixel_rows - rows[2][0]) / stride[0], n_rows,
                                     self.output_upsampling),
                interpolation_matrix((pixel_cols - cols[2][0]) / stride[1], n_cols,
                                     self.output_upsampling),
            )  # fmt: skip
        extra = {}
        if detection is not None:
            maps = np.where(targets.valid[:, None, None, :], maps, np.nan)
            extra = {"detections": detection.detections(targets, height, width)}
        return self._explanation(
            maps, targets=None if self.layer_ is not None else resolved, scores=base_scores,
            task=task, images=images, single_image=single_image, single_target=single_target,
            feature_layer=self.layer_,
            output=(None if self.layer_ is not None or detection is not None
                    else self._output_label(images.shape[1:])),
            params={**self._run_params(), "mask_size": mask, "stride": stride}, **extra,
        )  # fmt: skip


def occlusion_sensitivity(net, X, target=None, *, mask_size="auto", stride="auto",
                          mask_value="auto", mask_clipping: bool = True,
                          output_upsampling: str = "bicubic", batch_size="auto",
                          layer=None, channel=None, roi=None, class_names=None, progress=None,
                          output=None, task: str = "auto"):
    """Occlusion sensitivity maps, shaped like MATLAB's ``occlusionSensitivity`` output.

    Parameters are those of :class:`OcclusionSensitivity` and its ``explain``.

    Returns
    -------
    score_map : ndarray
        ``(H, W)``, ``(H, W, K)``, ``(N, H, W)`` or ``(N, H, W, K)``; with
        ``output_upsampling="none"`` one value per mask position instead of per pixel.
    """
    explainer = OcclusionSensitivity(
        net, mask_size=mask_size, stride=stride, mask_value=mask_value,
        mask_clipping=mask_clipping, output_upsampling=output_upsampling,
        batch_size=batch_size, layer=layer, channel=channel, class_names=class_names,
        progress=progress, output=output, task=task,
    ).fit(X)  # fmt: skip
    return explainer.explain(X, target, roi=roi).score_map
