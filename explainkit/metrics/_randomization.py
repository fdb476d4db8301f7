"""Cascading model-parameter randomisation: do the maps depend on what the model learned?"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.base import clone

from .._batching import PROGRESS_MIN_CALLS
from .._models._blackbox import is_keras_model
from ..base import Explainer
from ._result import MetricResult

#: The largest window ``structural_similarity`` uses (its default, 7 pixels).
SSIM_WINDOW = 7


@dataclass(frozen=True, eq=False, repr=False)
class RandomizationResult(MetricResult):
    """The result of :func:`randomization_check`.

    Besides :class:`MetricResult`'s attributes (``name="randomization"``,
    ``higher_is_better=False``; ``curves`` holds the Spearman correlation after each step
    of the cascade, step 0 being the original model, and ``values`` its mean over steps
    1..L):

    Attributes
    ----------
    layers : tuple of str
        The layers in the order they were randomised (output layer first); step ``i`` of
        ``curves`` has ``layers[:i]`` randomised. A nested model's layer is named
        ``"model/layer"``.
    ssim : ndarray, shape (N, L + 1) or (N, K, L + 1)
        The structural similarity of the min-max normalised maps at each step.
    """

    layers: tuple[str, ...] = ()
    ssim: np.ndarray | None = None

    def __repr__(self) -> str:
        low, high = self.interval
        return (f"RandomizationResult(mean Spearman {self.mean:.4g}, 95% interval "
                f"[{low:.4g}, {high:.4g}], lower is better, {len(self.layers)} layers, "
                f"values {self.values.shape})")

    def plot(self, ax=None, *, label: str | None = None):
        """The mean Spearman correlation and SSIM after each layer randomised; the Axes.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        label : str, optional
            Prefix of the legend labels (several results can share one Axes).
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(max(4.5, 0.4 * len(self.layers) + 2), 3.4))
        prefix = f"{label}: " if label else ""
        steps = np.arange(len(self.layers) + 1)
        for name, curves, style in (("Spearman", self.curves, "o-"), ("SSIM", self.ssim, "s--")):
            flat = np.asarray(curves, dtype=np.float64).reshape(-1, len(steps))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps
                ax.plot(steps, np.nanmean(flat, axis=0), style, label=prefix + name)
        ax.set_xticks(steps)
        ax.set_xticklabels(["original", *self.layers], rotation=45, ha="right")
        ax.set_xlabel("randomised down to layer")
        ax.set_ylabel("similarity to the original map")
        ax.set_title(self.name)
        ax.legend(fontsize="small")
        return ax


def randomization_check(explainer: Explainer, X, target=None, *, layers="all",
                        absolute: bool = True, random_state=None,
                        progress: bool | None = None) -> RandomizationResult:
    """Cascading model-parameter randomisation test (a sanity check of a method).

    The maps of ``explainer`` on ``X`` are compared with its maps on a copy of the model
    whose layers are re-initialised one after another from the output layer down
    (cumulatively). A method whose maps explain the model must lose their similarity; one
    whose maps stay alike (an edge detector, say) does not depend on what was learned.
    The user's model is never changed.

    Each step re-initialises all the float weights of one layer: with the layer's own
    initializer when it is a random one (drawn afresh, seeded from ``random_state``);
    biases and other 1-D weights with a constant initializer get its values (zero biases,
    batch normalisation's starting statistics); any other weight (no initializer, or a
    constant or identity one for a kernel, which would make the maps trivially constant)
    gets a normal draw with the spread (standard deviation) of its original values.

    Parameters
    ----------
    explainer : Explainer
        An explainkit explainer (fitted or not) whose ``net`` is a Keras model; it is
        cloned, never changed.
    X : array-like
        The images, as for ``explainer.explain``.
    target : int, str, list, ndarray or None
        What to explain, as for ``explainer.explain``. The randomised models explain the
        targets the original one resolved (e.g. its predicted class), not their own.
    layers : "all" or list of str, default="all"
        The layers to randomise: every layer with weights, or those named (a nested
        model's layers as ``"model/layer"``, or by their name alone when unique). The
        cascade always runs from the output down.
    absolute : bool, default=True
        Compare absolute values of the maps (the paper's "absolute-value" variant, which
        ignores the sign of signed maps); False compares the signed maps.
    random_state : int, numpy Generator, RandomState or None
        Seeds the new weights; an int makes the check reproducible.
    progress : bool or None
        Show a progress bar over the cascade; None shows one only on an interactive
        terminal with at least 8 steps.

    Returns
    -------
    RandomizationResult
        ``curves`` (N, L + 1) or (N, K, L + 1): the Spearman rank correlation of each map
        with the original after each step (step 0: 1); ``ssim`` alike; ``values`` the mean
        correlation over steps 1..L. A constant map (e.g. one a ReLU zeroed) has no
        ranking: its correlation is NaN, left out of ``values`` and ``mean``, while its
        SSIM is still defined. Lower is better.

    References
    ----------
    J. Adebayo, J. Gilmer, M. Muelly, I. Goodfellow, M. Hardt and B. Kim, "Sanity Checks
    for Saliency Maps", NeurIPS 2018.

    Examples
    --------
    >>> import keras, numpy as np
    >>> from explainkit import GradCAM
    >>> from explainkit.metrics import randomization_check
    >>> net = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="conv"),
    ...                         keras.layers.GlobalAveragePooling2D(),
    ...                         keras.layers.Dense(2, activation="softmax", name="fc")])
    >>> X = np.random.default_rng(0).uniform(size=(2, 16, 16, 3))
    >>> result = randomization_check(GradCAM(net, relu=False), X, random_state=0)
    >>> result.layers, result.curves.shape
    (('fc', 'conv'), (2, 3))
    """
    if not isinstance(explainer, Explainer):
        got = (f"the class {explainer.__name__}" if isinstance(explainer, type)
               else type(explainer).__name__)
        raise TypeError(
            f"explainer must be an explainkit Explainer instance, e.g. GradCAM(net); got {got}.")
    net = explainer.get_params(deep=False).get("net")
    if not is_keras_model(net):
        raise TypeError(
            "randomization_check randomises the model's weights, so the explainer's net "
            f"must be a Keras model; got {type(net).__name__}.")
    if not isinstance(absolute, bool | np.bool_):
        raise TypeError(f"absolute must be True or False; got {absolute!r}.")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be None, True or False; got {progress!r}.")
    rng = _generator(random_state)

    copy = _copy_model(net)
    cascade = _cascade(copy, layers)
    original = clone(explainer).fit(X).explain(X, target)
    maps = np.asarray(original.maps, dtype=np.float64)
    targets = target if original.targets is None else np.asarray(original.targets)

    from tqdm.auto import tqdm

    show = progress
    if show is None:
        show = len(cascade) >= PROGRESS_MIN_CALLS and sys.stderr.isatty()
    reference = _prepare(maps, absolute)
    spearman = [_spearman(reference[0], reference[0])]  # 1 (NaN for a constant map)
    ssim = [np.ones(maps.shape[0:1] + maps.shape[3:])]
    for _, layer in tqdm(cascade, desc="randomization", unit="layer", disable=not show,
                         leave=False):
        _randomise(layer, rng)
        step = clone(explainer).set_params(net=copy).fit(X).explain(X, targets)
        step_maps = np.asarray(step.maps, dtype=np.float64)
        if step_maps.shape != maps.shape:
            raise ValueError(
                f"The randomised model's maps have shape {step_maps.shape}, the original's "
                f"{maps.shape}; the explainer must return maps of the same shape.")
        prepared = _prepare(step_maps, absolute)
        spearman.append(_spearman(reference[0], prepared[0]))
        ssim.append(_ssim(reference[1], prepared[1]))

    single = bool(original.single_target)
    curves = np.stack(spearman, axis=-1)  # (N, K, L + 1)
    ssim_curves = np.stack(ssim, axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all steps NaN: NaN
        values = np.nanmean(curves[..., 1:], axis=-1)
    if single:
        curves, ssim_curves, values = curves[:, 0], ssim_curves[:, 0], values[:, 0]
    params = {
        "method": explainer.method_name or type(explainer).__name__,
        "layers": layers if isinstance(layers, str) else list(layers),
        "absolute": bool(absolute),
        "random_state": random_state,
    }
    return RandomizationResult(
        name="randomization", values=values, higher_is_better=False, curves=curves,
        fractions=None, params=params, layers=tuple(name for name, _ in cascade),
        ssim=ssim_curves,
    )  # fmt: skip


def _generator(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31 - 1))
    if isinstance(random_state, bool) or not (
            random_state is None or isinstance(random_state, np.random.Generator)
            or (isinstance(random_state, int | np.integer) and random_state >= 0)):
        raise TypeError(
            "random_state must be None, a non-negative int, a numpy Generator or RandomState; "
            f"got {random_state!r}.")
    return np.random.default_rng(random_state)


def _copy_model(net):
    """A copy of ``net`` with its weights and no variable shared with it."""
    import keras

    try:
        copy = keras.models.clone_model(net)
        copy.set_weights(net.get_weights())
    except Exception as error:
        raise TypeError(
            f"randomization_check cannot copy the model {net.name!r} "
            f"({type(net).__name__}) with keras.models.clone_model and set_weights, and it "
            "never randomises the user's own model; use a Functional or Sequential model "
            f"(or give the subclass a get_config). The error: {error}") from error
    if {id(v) for v in copy.weights} & {id(v) for v in net.weights}:
        raise TypeError(
            f"keras.models.clone_model shares weights between the model {net.name!r} and its "
            "copy, so randomising the copy would change the model; use a Functional or "
            "Sequential model.")
    return copy


def _is_float(variable) -> bool:
    return "float" in str(variable.dtype)


def _leaves(model, prefix: str = ""):
    """``(name, layer)`` of the leaf layers of ``model`` in call order, nested models opened."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaves(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def _cascade(model, layers) -> list[tuple[str, object]]:
    """The layers to randomise, output layer first."""
    import keras

    found, seen = [], set()
    for name, layer in _leaves(model):
        if id(layer) in seen or isinstance(layer, keras.layers.Normalization):
            continue  # a shared layer once; Normalization holds data statistics
        seen.add(id(layer))
        if any(_is_float(v) for v in layer.weights):
            found.append((name, layer))
    found.reverse()
    if not found:
        raise ValueError(f"The model {model.name!r} has no layer with weights to randomise.")
    if isinstance(layers, str):
        if layers == "all":
            return found
        raise ValueError(f'layers must be "all" or a list of layer names (e.g. [{layers!r}]); '
                         f"got {layers!r}.")
    if not isinstance(layers, list | tuple) or not layers:
        raise ValueError(f'layers must be "all" or a non-empty list of layer names; got '
                         f"{layers!r}.")
    full = {name for name, _ in found}
    short: dict[str, list[str]] = {}
    for name, _ in found:
        short.setdefault(name.rsplit("/", 1)[-1], []).append(name)
    chosen = set()
    for item in layers:
        if isinstance(item, str) and item in full:
            chosen.add(item)
        elif isinstance(item, str) and len(short.get(item, ())) == 1:
            chosen.add(short[item][0])
        else:
            valid = ", ".join(repr(name) for name, _ in found)
            raise ValueError(
                f"layers names {item!r}, which is not a layer with weights of the model "
                f"(or names several); the layers with weights, output first: {valid}.")
    return [(name, layer) for name, layer in found if name in chosen]


def _initializer(layer, variable):
    """The initializer of ``variable`` on ``layer`` (or its sub-layer owning it), or None."""
    name = variable.name.rsplit("/", 1)[-1]
    # kernel_initializer, gamma_initializer ...; recurrent_kernel -> recurrent_initializer
    attributes = [f"{name}_initializer", f"{name.removesuffix('_kernel')}_initializer"]
    owners = [layer]
    if hasattr(layer, "_flatten_layers"):  # e.g. an RNN's cell
        owners += list(layer._flatten_layers(include_self=False))
    for owner in owners:
        for attribute in attributes:
            initializer = getattr(owner, attribute, None)
            if initializer is not None and callable(initializer):
                return initializer
    return None


def _randomise(layer, rng: np.random.Generator) -> None:
    """Re-initialise the float weights of ``layer`` (see :func:`randomization_check`)."""
    for variable in layer.weights:
        if not _is_float(variable):
            continue
        shape, dtype = tuple(variable.shape), variable.dtype
        seed = int(rng.integers(2**31 - 1))
        initializer = _initializer(layer, variable)
        config = None
        if initializer is not None and hasattr(initializer, "get_config"):
            try:
                config = initializer.get_config()
            except Exception:  # a custom initializer without a config
                config = None
        value = None
        if config is not None and "seed" in config:
            try:
                seeded = type(initializer).from_config({**config, "seed": seed})
                value = seeded(shape, dtype=dtype)
            except Exception:  # an initializer that cannot be rebuilt: the normal draw
                value = None
        elif initializer is not None and len(shape) <= 1:
            value = initializer(shape, dtype=dtype)  # a constant bias, gamma, statistic
        if value is None:
            current = np.asarray(variable.numpy(), dtype=np.float64)
            scale = float(np.std(current)) or float(np.abs(current).mean()) or 1.0
            value = np.random.default_rng(seed).normal(0.0, scale, size=shape)
        variable.assign(np.asarray(value).astype(np.dtype(variable.numpy().dtype)))


def _prepare(maps: np.ndarray, absolute: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(flat (N, K, H*W), normalised (N, K, H, W))`` of maps (N, H, W, K)."""
    maps = np.moveaxis(np.abs(maps) if absolute else maps, -1, 1)
    low = maps.min(axis=(2, 3), keepdims=True)
    span = maps.max(axis=(2, 3), keepdims=True) - low
    with np.errstate(invalid="ignore", divide="ignore"):
        normalised = np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0.0)
    return maps.reshape(*maps.shape[:2], -1), normalised


def _spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of the last axis of ``a`` and ``b`` ((N, K, P)): (N, K).

    The Pearson correlation of the ranks (ties averaged), as ``scipy.stats.spearmanr``;
    NaN when either is constant (or holds NaN).
    """
    from scipy.stats import rankdata

    ranks_a = rankdata(a, axis=-1)
    ranks_b = rankdata(b, axis=-1)
    ranks_a -= ranks_a.mean(axis=-1, keepdims=True)
    ranks_b -= ranks_b.mean(axis=-1, keepdims=True)
    norm = np.sqrt((ranks_a**2).sum(-1) * (ranks_b**2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ranks_a * ranks_b).sum(-1) / norm
    rho = np.where(norm > 0, rho, np.nan)
    return np.clip(rho, -1.0, 1.0)


def _ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """SSIM of each pair of [0, 1] maps ``a``, ``b`` ((N, K, H, W)): (N, K)."""
    from skimage.metrics import structural_similarity

    height, width = a.shape[2:]
    window = min(SSIM_WINDOW, height, width)
    window -= 1 - window % 2  # odd
    out = np.full(a.shape[:2], np.nan)
    if window < 3:
        return out
    for i, k in np.ndindex(*a.shape[:2]):
        if np.isfinite(a[i, k]).all() and np.isfinite(b[i, k]).all():
            out[i, k] = structural_similarity(a[i, k], b[i, k], data_range=1.0,
                                              win_size=window)
    return out
