"""L-CAM: a learned class activation map, trained once, that explains in one forward pass.

Written from the paper (Gkartzonika, Mezaris et al., ECCV Workshops 2022); nothing is taken
from its authors' code (whose licence is non-commercial).
"""

from __future__ import annotations

import functools
import json
import numbers
from pathlib import Path

import numpy as np

from .._baselines import BASELINES, fill_tensor, mask_values
from .._batching import batches
from .._explanation import Explanation
from .._image import UPSAMPLING, upsample
from .._models import keras_adapter
from .._models._outputs import check_output
from .._validation import check_images, check_int, check_option, example_shape
from ..base import Explainer
from ..targets import infer_task, num_outputs, resolve_targets
from ._cam import check_progress
from ._pixel import check_random_state

VARIANTS = ("img", "fm")
#: L-CAM maps are learned through bilinear upsampling (L-CAM-Img); explain uses it too.
LCAM_UPSAMPLING = ("bilinear", *UPSAMPLING)
#: The constant inside the area term, ``mean((a + AREA_OFFSET) ** area_exponent)``.
AREA_OFFSET = 0.0005
FORMAT = "explainkit-lcam-1"


def _is_zero(value) -> bool:
    """True for the baseline 0 (a number, or an array of zeros)."""
    return not isinstance(value, str) and not np.any(np.asarray(value))


def _check_weight(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0; got {value!r}.")
    return float(value)


def _array_batches(images: np.ndarray, labels: np.ndarray, batch_size: int,
                   rng: np.random.Generator):
    """Shuffled ``(images, labels)`` mini-batches of an array pair."""
    order = rng.permutation(len(images))
    for start in range(0, len(images), batch_size):
        chosen = order[start:start + batch_size]
        yield images[chosen], labels[chosen]


def _stream_batches(data):
    """The ``(images, labels)`` batches of a ``tf.data.Dataset`` or ``keras.utils.PyDataset``."""
    if hasattr(data, "element_spec"):  # tf.data.Dataset
        for images, labels in data:
            yield np.asarray(images), np.asarray(labels)
        return
    for i in range(len(data)):  # keras.utils.PyDataset (or any sequence of batches)
        images, labels = data[i][:2]
        yield np.asarray(images), np.asarray(labels)


def _labels(labels: np.ndarray, classes: int, name: str = "y") -> np.ndarray:
    """Integer labels ``(B,)`` from integer labels or one-hot rows."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == classes:
        labels = labels.argmax(axis=1)
    elif labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer)
                                or np.issubdtype(labels.dtype, np.floating)):
        raise ValueError(
            f"{name} must hold integer class labels (B,) or one-hot rows (B, {classes}); got "
            f"shape {labels.shape} of dtype {labels.dtype}.")
    if np.issubdtype(labels.dtype, np.floating):
        if not np.all(labels == np.round(labels)):
            raise ValueError(f"{name} must hold integer class labels; got fractions.")
    labels = labels.astype(np.int32)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"{name} holds labels outside 0..{classes - 1} (the model has {classes} classes): "
            f"{labels.min()}..{labels.max()}.")
    return labels


def _forward_pass(adapter, capture, logits_of, reduction, feature_path, grid, x,
                  replace=None):
    """(feature activations, logits) of one forward pass of the classifier (in a trace).

    ``grid``: a token-sequence feature layer's grid (its activations read as a map).
    """
    from keras import ops

    captured, outputs = adapter.forward(x, capture, logits_of, replace=replace)
    features = captured[feature_path]
    if grid is not None:
        features = grid.to_map(ops, features)
    return features, adapter.reduction_output(captured, outputs, reduction)


class LCAM(Explainer):
    """L-CAM: an attention module trained on the frozen classifier; one pass to explain.

    The module is a 1x1 convolution from the feature layer's ``C`` channels to one map per
    class, with a bias, and a sigmoid. Training (``fit``) minimises, on the true class's
    low-resolution map ``a``,
    ``ce_weight * CE(f(masked), y) + area_weight * mean((a + 0.0005) ** area_exponent)
    + tv_weight * TV(a)``, TV the mean squared difference of neighbouring cells (rows and
    columns), where ``masked`` is, for ``variant="img"`` (L-CAM-Img), the image times ``a``
    upsampled bilinearly, and for ``variant="fm"`` (L-CAM-Fm), the feature activations times
    ``a``, the rest of the classifier running from there. The classifier is frozen: it runs
    in inference mode and only the module's weights are updated (the model's weights and
    ``trainable`` flags are never touched). ``explain`` is one forward pass per mini-batch:
    the classifier's logits (for ``target=None``) and every class's map at once.

    Parameters
    ----------
    net : keras.Model
        A classifier (softmax/sigmoid output, or logits with the classes as outputs).
    feature_layer : str or keras.layers.Layer, default="auto"
        The layer whose activations the module reads ("auto": as Grad-CAM).
    variant : {"img", "fm"}, default="img"
        L-CAM-Img (the map masks the input image) or L-CAM-Fm (it masks the features).
    baseline : number, per-channel values, image, "mean" or "blur", default=0
        L-CAM-Img: what the masked image fades to where the map is 0,
        ``baseline + mask * (x - baseline)``: 0 is the paper's product ``x * mask`` (its
        inputs were mean-centred, so it faded to the data's mean); "mean" = each image's
        per-channel mean, "blur" its Gaussian blur (sigma 5% of its size), or an image
        ``(H, W, C)``; the same fill values as the other perturbation methods.
    class_names : sequence of str, optional
        Names of the classes, so that targets can be given by name.
    epochs : int, default=8
        Passes over the training data.
    batch_size : int, default=32
        Images per training step and per explain call.
    learning_rate : float, default=1e-3
        Adam's learning rate.
    ce_weight, area_weight, area_exponent, tv_weight : float, default=1.5, 2.0, 0.3, 0.01
        The loss weights reported for the paper's models (VGG-16 and ResNet-50 on
        ImageNet); other models may want others.
    output_upsampling : {"bilinear", "bicubic", "nearest", "none"}, default="bilinear"
        How maps are resized to the input ("bilinear": as in training).
    output : int or str, optional
        For a model with several outputs: the classifier output to explain.
    random_state : None, int or numpy Generator
        Seeds the module's initial weights and the order of the training images.
    progress : bool or None
        A progress bar over the training epochs (None: when interactive).

    Attributes
    ----------
    feature_layer_ : str
        The feature layer used.
    feature_grid_ : tuple of int or None
        ``(h, w)`` when the feature layer is a token sequence read as a grid (prefix
        tokens dropped), else None.
    n_classes_ : int
        The classes (one map each).
    history_ : dict of list of float
        Per epoch: "loss", "ce", "area", "tv" (training means), and "val_loss" with
        ``validation_data``.

    References
    ----------
    I. Gkartzonika, N. Gkalelis, V. Mezaris, "Learning Visual Explanations for DCNN-Based
    Image Classifiers Using an Attention Mechanism", ECCV Workshops 2022 (arXiv 2209.11189).
    """

    method_name = "lcam"
    #: Its maps depend on training data: ``fit`` needs images (and their batch_size).
    learned = True

    def __init__(self, net, *, feature_layer="auto", variant="img", baseline=0,
                 class_names=None, epochs=8, batch_size=32, learning_rate=1e-3, ce_weight=1.5,
                 area_weight=2.0, area_exponent=0.3, tv_weight=0.01,
                 output_upsampling="bilinear", output=None, random_state=None, progress=None):
        self.net = net
        self.output = output
        self.feature_layer = feature_layer
        self.variant = variant
        self.baseline = baseline
        self.class_names = class_names
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.ce_weight = ce_weight
        self.area_weight = area_weight
        self.area_exponent = area_exponent
        self.tv_weight = tv_weight
        self.output_upsampling = output_upsampling
        self.random_state = random_state
        self.progress = progress

    # --- structure -------------------------------------------------------------------------

    def _validate(self) -> None:
        from .._detection import is_hub_detector

        if is_hub_detector(self.net):
            raise ValueError("LCAM does not explain object detectors (it learns a classifier's "
                             "classes); use Grad-CAM, DRISE or occlusion.")
        check_option("variant", self.variant, VARIANTS)
        if self.variant == "fm" and not _is_zero(self.baseline):
            raise ValueError(
                "baseline fills the masked image of variant='img'; variant='fm' masks the "
                f"features and takes no baseline. Got baseline={self.baseline!r}.")
        if isinstance(self.baseline, str):
            check_option("baseline", self.baseline, BASELINES)
        elif np.ndim(self.baseline) == 4:
            raise ValueError(
                "baseline must be a number, per-channel values, an image (H, W, C), 'mean' "
                "or 'blur' (L-CAM trains on batches of any images, so not one per image); "
                f"got an array of shape {np.shape(self.baseline)}.")
        check_option("output_upsampling", self.output_upsampling, LCAM_UPSAMPLING)
        check_int("epochs", self.epochs, minimum=0)
        check_int("batch_size", self.batch_size)
        for name in ("ce_weight", "area_weight", "area_exponent", "tv_weight"):
            _check_weight(name, getattr(self, name))
        if (isinstance(self.learning_rate, bool) or not isinstance(self.learning_rate,
                                                                   numbers.Real)
                or not self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a number > 0; got {self.learning_rate!r}.")
        check_random_state(0 if self.random_state is None else self.random_state)
        check_progress(self.progress)
        check_output(self.output)

    def _resolve(self, image_shape):
        """The adapter, the graph, the feature call, the logits reduction, the class count."""
        adapter = keras_adapter(self.net)
        graph = adapter.graph(image_shape)
        reduction = graph.reduction("auto", self.output)
        output_shape = graph.reduction_shape(reduction)
        task = infer_task(output_shape, reduction.final_activation)
        if len(output_shape) != 2 or (task != "classification" and output_shape[-1] < 2):
            raise ValueError(
                "L-CAM explains classifiers (one score per class); this model's output has "
                f"shape {output_shape} ({task}). Use Grad-CAM or another method for "
                "regression and segmentation models.")
        feature, grid = graph.feature(self.feature_layer, reduction, None)
        if len(feature.shape) != 4 and grid is None:
            raise ValueError(
                f"L-CAM needs a spatial feature layer (N, h, w, C) or a token sequence that "
                f"forms a grid; {graph.name(feature)!r} has shape {feature.shape}.")
        return (adapter, graph, feature, grid, reduction,
                num_outputs(output_shape, "classification"))

    def _bind(self, adapter, feature, grid, reduction, image_shape: tuple) -> None:
        """Keep what the forward passes need: the layers to capture, the logits."""
        self._adapter, self._feature, self._reduction = adapter, feature, reduction
        self._grid = grid
        self._image_shape = image_shape
        calls = [feature] + ([] if reduction.call is None or reduction.call is feature
                             else [reduction.call])
        self._capture = tuple(calls)
        self._logits_of = reduction.call.path if reduction.pre_activation else None

    def _build_module(self, channels: int, classes: int, seed: int):
        import keras

        module = keras.layers.Conv2D(
            classes, 1, activation="sigmoid", name="lcam_attention",
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            bias_initializer="zeros")
        module.build((None, None, None, channels))
        return module

    def _forward(self, x, replace=None):
        """(feature activations, logits) of one forward pass (inside a trace)."""
        return _forward_pass(self._adapter, self._capture, self._logits_of, self._reduction,
                             self._feature.path, self._grid, x, replace)

    def _key(self) -> tuple:
        """What identifies this explainer's forward pass in the adapter's cache."""
        return (self._feature.path, self._grid, self._logits_of, self._reduction.key)

    def _masked_logits(self, x, attention_of):
        """The classifier's logits on the masked input (img) or features (fm)."""
        import tensorflow as tf

        if self.variant == "img":
            features, _ = self._forward(x)
            a = attention_of(features)  # (B, h, w, 1)
            mask = tf.cast(tf.image.resize(a, tf.shape(x)[1:3], method="bilinear"), x.dtype)
            if _is_zero(self.baseline):  # the paper's product image x mask
                _, logits = self._forward(x * mask)
            else:  # x fades to the baseline where the mask is 0
                fill = fill_tensor(self.baseline, x)
                _, logits = self._forward(fill + mask * (x - fill))
            return a, logits
        box = {}
        grid = self._grid

        def masked(features):
            from keras import ops

            if grid is None:
                box["a"] = attention_of(features)
                return features * tf.cast(box["a"], features.dtype)
            feature_map = grid.to_map(ops, features)  # tokens: mask the grid, keep prefix
            box["a"] = attention_of(feature_map)
            return grid.to_tokens(ops, feature_map * tf.cast(box["a"], features.dtype),
                                  features)

        _, logits = self._forward(x, replace={self._feature.path: masked})
        return box["a"], logits

    def _loss_function(self):
        import tensorflow as tf

        module = self._module
        ce_w, area_w = float(self.ce_weight), float(self.area_weight)
        exponent, tv_w = float(self.area_exponent), float(self.tv_weight)

        def losses(x, labels):
            def attention_of(features):
                maps = module(tf.cast(features, tf.float32))
                return tf.gather(maps, labels, axis=-1, batch_dims=1)[..., None]

            a, logits = self._masked_logits(x, attention_of)
            ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels, tf.cast(logits, tf.float32)))
            area = tf.reduce_mean(tf.pow(a + AREA_OFFSET, exponent))
            tv = (tf.reduce_mean(tf.square(a[:, 1:] - a[:, :-1]))
                  + tf.reduce_mean(tf.square(a[:, :, 1:] - a[:, :, :-1])))
            return ce_w * ce + area_w * area + tv_w * tv, ce, area, tv

        return losses

    # --- fit -------------------------------------------------------------------------------

    def fit(self, X=None, y=None, validation_data=None):
        """Train the attention module on the frozen classifier; return ``self``.

        Parameters
        ----------
        X : array-like, tf.data.Dataset or keras.utils.PyDataset
            Training images ``(N, H, W, C)`` with ``y``, or batches of ``(images, labels)``.
        y : array-like, optional
            Integer labels ``(N,)`` or one-hot rows ``(N, classes)``, with an array ``X``;
            None learns the classifier's own predictions on ``X`` (what ``explain`` with
            ``target=None`` shows).
        validation_data : (images, labels), optional
            Scored after every epoch (``history_["val_loss"]``).
        """
        import keras
        import tensorflow as tf
        from tqdm.auto import tqdm

        self._validate()
        input_shape = keras_adapter(self.net).input_shape
        array = not (hasattr(X, "element_spec") or isinstance(X, keras.utils.PyDataset))
        if array:
            if X is None:
                raise ValueError(
                    "L-CAM learns its maps: fit(X, y) needs training images (and their labels, "
                    "or None to learn the classifier's own predictions).")
            images, _ = check_images(X, input_shape=input_shape)
            first = images[:1]
        else:
            first = next(iter(_stream_batches(X)))[0]
        image_shape = example_shape(first, input_shape=input_shape)
        mask_values(self.baseline, np.zeros((1, *image_shape), np.float32),
                    name="baseline")  # its shape and values against the images, now
        adapter, graph, feature, grid, reduction, classes = self._resolve(image_shape)
        seed = check_random_state(self.random_state)
        rng = np.random.default_rng(seed)
        self._bind(adapter, feature, grid, reduction, tuple(image_shape))
        if array and y is None:  # the classifier's own decisions
            labels = self._predictions(images)
        elif array:
            labels = _labels(np.asarray(y), classes)
            if len(labels) != len(images):
                raise ValueError(f"y has {len(labels)} labels for {len(images)} images.")
        self._module = self._build_module(int(feature.shape[-1]), classes,
                                          int(rng.integers(2**31 - 1)))
        losses = self._loss_function()
        optimizer = keras.optimizers.Adam(learning_rate=float(self.learning_rate))
        variables = self._module.trainable_variables
        optimizer.build(variables)

        @tf.function(reduce_retracing=True)
        def train_step(x, labels):
            with tf.GradientTape() as tape:
                results = losses(x, labels)
            optimizer.apply_gradients(zip(tape.gradient(results[0], variables), variables,
                                          strict=True))
            return results

        @tf.function(reduce_retracing=True)
        def eval_step(x, labels):
            return losses(x, labels)[0]

        history = {"loss": [], "ce": [], "area": [], "tv": []}
        if validation_data is not None:
            history["val_loss"] = []
        show = self.progress if self.progress is not None else None
        epochs = tqdm(range(int(self.epochs)), desc="L-CAM", unit="epoch",
                      disable=not show if show is not None else None, leave=False)
        for _ in epochs:
            sums, count = np.zeros(4), 0
            stream = (_array_batches(images, labels, int(self.batch_size), rng) if array
                      else _stream_batches(X))
            for batch, batch_labels in stream:
                batch, _ = check_images(batch, input_shape=adapter.input_shape, name="X")
                batch_labels = _labels(batch_labels, classes)
                results = train_step(tf.convert_to_tensor(batch),
                                     tf.convert_to_tensor(batch_labels))
                sums += np.array([float(r) for r in results]) * len(batch)
                count += len(batch)
            for name, value in zip(("loss", "ce", "area", "tv"), sums / max(count, 1),
                                   strict=True):
                history[name].append(float(value))
            if validation_data is not None:
                val_images, val_labels = validation_data
                val_images, _ = check_images(val_images, input_shape=adapter.input_shape,
                                             name="validation_data")
                val_labels = _labels(np.asarray(val_labels), classes, "validation_data")
                total = sum(float(eval_step(tf.convert_to_tensor(val_images[c]),
                                            tf.convert_to_tensor(val_labels[c])))
                            * (c.stop - c.start)
                            for c in batches(len(val_images), int(self.batch_size)))
                history["val_loss"].append(total / len(val_images))
        self.feature_layer_ = graph.name(feature)
        self.feature_grid_ = None if grid is None else (grid.height, grid.width)
        self.output_ = graph.reduction_output_label(reduction, self.output)
        self.n_classes_ = classes
        self.history_ = history
        return self

    def _predictions(self, images: np.ndarray) -> np.ndarray:
        """The classifier's predicted classes (training labels when ``y`` is None)."""
        import tensorflow as tf

        forward = functools.partial(_forward_pass, self._adapter, self._capture,
                                    self._logits_of, self._reduction, self._feature.path,
                                    self._grid)

        def step(x):
            return tf.argmax(forward(x)[1], axis=-1, output_type=tf.int32)

        predict = self._adapter.compile(("lcam-predict", *self._key()), step)
        return np.concatenate([np.asarray(predict(tf.convert_to_tensor(images[c])))
                               for c in batches(len(images), int(self.batch_size))])

    # --- explain -------------------------------------------------------------------------

    def _explain_function(self):
        """``f(x, kernel, bias) -> (every class's map, logits)``: one forward pass.

        The module's weights are arguments, so that every L-CAM of a model and feature
        layer shares one compiled function.
        """
        import tensorflow as tf

        forward = functools.partial(_forward_pass, self._adapter, self._capture,
                                    self._logits_of, self._reduction, self._feature.path,
                                    self._grid)

        def step(x, kernel, bias):
            features, logits = forward(x)
            maps = tf.sigmoid(tf.nn.conv2d(tf.cast(features, tf.float32), kernel, 1, "VALID")
                              + bias)
            return maps, tf.cast(logits, tf.float32)

        return self._adapter.compile(("lcam", *self._key()), step)

    def explain(self, X, target=None) -> Explanation:
        """The learned maps of ``target`` on ``X``: one forward pass per mini-batch.

        Parameters
        ----------
        X : array-like
            One image ``(H, W, C)`` or a batch ``(N, H, W, C)``.
        target : int, str, list, ndarray or None
            Classes; a list gives one map per class for every image, a numpy array
            ``(N,)`` / ``(N, K)`` the class(es) of each image; None = the prediction
            (from the same pass).

        Returns
        -------
        Explanation
        """
        import tensorflow as tf

        self._check_fitted()
        images, single_image = check_images(X, input_shape=self._adapter.input_shape)
        index, single_target = resolve_targets(target, task="classification",
                                               count=self.n_classes_,
                                               class_names=self.class_names,
                                               num_images=len(images))
        function = self._explain_function()
        kernel, bias = self._module.kernel, self._module.bias
        maps, logits = [], []
        for chunk in batches(len(images), int(self.batch_size)):
            m, s = function(tf.convert_to_tensor(images[chunk]), kernel, bias)
            maps.append(np.asarray(m))
            logits.append(np.asarray(s))
        maps, logits = np.concatenate(maps), np.concatenate(logits)
        resolved = np.where(index < 0, logits.argmax(axis=1)[:, None], index).astype(np.int32)
        chosen = np.take_along_axis(maps, resolved[:, None, None, :], axis=-1)
        chosen = upsample(chosen, images.shape[1:3], self.output_upsampling)
        scores = np.take_along_axis(logits, resolved, axis=1)
        return self._explanation(
            chosen, targets=resolved, scores=scores, task="classification", images=images,
            single_image=single_image, single_target=single_target,
            feature_layer=self.feature_layer_, reduction_layer=self._reduction.label,
            output=self.output_,
        )  # fmt: skip

    # --- persistence ---------------------------------------------------------------------

    def save(self, path) -> Path:
        """Save the trained module with its feature layer, variant and class count (npz)."""
        self._check_fitted()
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
        kernel, bias = (np.asarray(v) for v in self._module.get_weights())
        meta = {"format": FORMAT, "feature_layer": self.feature_layer_,
                "feature_path": self._feature.path, "variant": self.variant,
                "n_classes": self.n_classes_, "channels": int(kernel.shape[2]),
                "image_shape": list(self._image_shape),
                "params": {k: v for k, v in self._run_params().items()
                           if isinstance(v, str | int | float | bool | type(None))},
                "history": self.history_}
        np.savez(path, kernel=kernel, bias=bias, meta=np.array(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path, net) -> LCAM:
        """An LCAM for ``net`` with the module saved at ``path`` (fitted, ready to explain).

        A model whose feature layer (name, channels) or class count differ is refused.
        """
        with np.load(Path(path), allow_pickle=False) as saved:
            kernel, bias = saved["kernel"], saved["bias"]
            meta = json.loads(str(saved["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path} is not a saved L-CAM module (format {meta.get('format')!r}).")
        params = {k: v for k, v in meta["params"].items() if k != "feature_layer"}
        explainer = cls(net, feature_layer=meta["feature_path"], **params)
        explainer._validate()
        try:
            adapter, graph, feature, grid, reduction, classes = explainer._resolve(
                tuple(meta["image_shape"]))
        except ValueError as error:
            raise ValueError(
                f"The saved L-CAM module was trained on feature layer "
                f"{meta['feature_layer']!r}, which this model cannot provide: {error}") from error
        if int(feature.shape[-1]) != meta["channels"] or classes != meta["n_classes"]:
            raise ValueError(
                f"The saved L-CAM module reads {meta['channels']} channels of "
                f"{meta['feature_layer']!r} and makes {meta['n_classes']} class maps; this "
                f"model's {graph.name(feature)!r} has {int(feature.shape[-1])} channels and "
                f"it has {classes} classes.")
        explainer._bind(adapter, feature, grid, reduction, tuple(meta["image_shape"]))
        explainer._module = explainer._build_module(meta["channels"], classes, 0)
        explainer._module.set_weights([kernel, bias])
        explainer.feature_layer_ = graph.name(feature)
        explainer.feature_grid_ = None if grid is None else (grid.height, grid.width)
        explainer.output_ = graph.reduction_output_label(reduction, explainer.output)
        explainer.n_classes_ = classes
        explainer.history_ = meta["history"]
        return explainer
