"""Layer-wise relevance propagation: the score redistributed layer by layer onto the pixels."""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._explanation import BlankMapWarning
from .._models._lrp_spec import RULES, SUPPORTED, Bounds, Rule, Rules
from .._validation import check_option, warn
from ._pixel import PIXEL_PARAMETERS, PixelAttribution
from ._scoring import check_scoring, fit_scoring

#: Zennit's composites: (rule of Dense layers, of convolutions, of the first layer or None).
COMPOSITES = {
    "epsilon_plus": ("epsilon", "zplus", None),
    "epsilon_plus_flat": ("epsilon", "zplus", "flat"),
    "epsilon_alpha2_beta1": ("epsilon", "alpha2_beta1", None),
    "epsilon_alpha2_beta1_flat": ("epsilon", "alpha2_beta1", "flat"),
    "epsilon_gamma_box": ("epsilon", "gamma", "zbox"),
}
#: The rules that ``rule=`` may apply everywhere (z^B needs the input's bounds: first only).
EVERYWHERE = tuple(r for r in RULES if r != "zbox")


def _number(name: str, value, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            math.isfinite(value) and value >= minimum):
        raise ValueError(f"The '{name}' parameter must be a finite number >= {minimum:g}. "
                         f"Got {value!r} instead.")
    return float(value)


class LRP(PixelAttribution):
    __doc__ = f"""Layer-wise relevance propagation (LRP): the score's relevance, layer by layer.

    The relevance starts at the scored output ``y`` (the logits before a final softmax /
    sigmoid) as ``y * d score / d y`` — a class's logit in its unit, the logits of the
    ``roi`` pixels for segmentation — and is passed down layer by layer to the pixels; the
    map is the input relevance summed over the channels (signed). With a conserving rule
    on a network without biases the map sums to the score (``maps.sum(axis=(1, 2))`` equals
    ``scores``); biases, the epsilon stabiliser and beta absorb a share.

    It is done in the replay of the model's layers, as guided backpropagation is: each
    layer's backward pass is replaced by its rule (``tf.custom_gradient``), so one backward
    pass gives the relevance and the model is never changed. At a linear layer (Dense,
    Conv1D/2D/3D, DepthwiseConv, SeparableConv as a depthwise then a pointwise layer),
    with ``z_k = sum_j a_j w_jk + b_k``:

    - ``"epsilon"``: ``R_j = a_j sum_k w_jk R_k / (z_k + eps sign(z_k))`` (sign(0) = +1);
      ``"zero"`` (LRP-0): the same with ``eps = 0`` (a zero ``z_k`` passes nothing on).
    - ``"zplus"``: ``R_j = sum_k (a_j w_jk)+ / sum_j (a_j w_jk)+ R_k``, biases ignored
      (on non-negative inputs Montavon's z+: ``a_j w+_jk``); ``"alpha_beta"``:
      ``sum_k (alpha (a w)+ / sum (a w)+ - beta (a w)- / sum (a w)-) R_k``, biases ignored;
      ``zplus`` is ``alpha_beta`` with ``(1, 0)``.
    - ``"gamma"``: the LRP-0 rule on the weights (and bias) ``w + gamma w+``.
    - ``"flat"``: ``R_j = sum_k R_k / n_k`` over the ``n_k`` inputs of unit ``k``;
      ``"wsquare"``: ``R_j = sum_k w_jk^2 / sum_j w_jk^2 R_k``.
    - ``"zbox"`` (first layer only): ``a w - l w+ - h w-`` with the bounds ``l <= a <= h``,
      biases ignored.

    Every rule's denominator is stabilised by ``epsilon`` as the epsilon rule's (Zennit's
    stabiliser), except LRP-0's. Other layers: a BatchNormalization right after a linear
    layer without activation is folded into it (its rule then acts on the folded weights,
    as Zennit's canonizer does); any other BatchNormalization, average pooling, Add,
    Average and Subtract split the relevance in proportion to each input's contribution
    (the epsilon rule on their own weights: ``R_i = x_i / (sum x + eps) R``); ReLUs (fused
    or layers), Rescaling, Normalization and dropout pass it on unchanged; max pooling is
    winner-takes-all; reshaping, padding and Concatenate route it as their gradient does.
    Any other layer on the path to the score — also a raw operation in a subclassed
    model's ``call`` — is refused in ``fit``, naming them all.

    Parameters
    ----------
    rule : str, default="epsilon"
        One rule for every linear layer: "epsilon", "zero", "zplus", "alpha_beta",
        "gamma", "flat" or "wsquare"; or one of Zennit's composites, rule of convolutions /
        of Dense layers / of the first layer: "epsilon_plus" (zplus / epsilon / as its
        type), "epsilon_plus_flat" (zplus / epsilon / flat), "epsilon_alpha2_beta1"
        (alpha_beta (2, 1) / epsilon / as its type), "epsilon_alpha2_beta1_flat"
        (... / flat), "epsilon_gamma_box" (gamma / epsilon / zbox).
    epsilon : float, default=1e-6
        The epsilon rule's ``eps`` (Zennit's default; iNNvestigate's is 1e-7) and the
        stabiliser of every other rule and of the proportional splits ("zero": none).
    gamma : float, default=0.25
        The gamma rule's ``gamma``.
    alpha, beta : float, default=2.0, 1.0
        The alpha-beta rule's weights, ``alpha - beta = 1`` (Zennit's default).
    input_rule : str, optional
        The rule of the first linear layers, those that see the model input (through
        Rescaling, Normalization, padding, cropping, reshaping and dropout only): any rule
        above or "zbox". None: the composite's choice, or ``rule``.
    input_bounds : (low, high), optional
        zbox's bounds of the pixels, in the space of the images given to ``explain``:
        scalars, per-channel values or images ``(H, W, C)``; required by zbox (there is
        no default). They are carried through the layers before the first linear layer
        (Rescaling, Normalization, padding), so zbox sees them in its input space.{PIXEL_PARAMETERS}

    Attributes
    ----------
    rules_ : Rules
        The rules resolved in ``fit`` (per layer kind, first layer, stabilisers, bounds).

    Raises
    ------
    ValueError
        In ``fit``: a layer LRP cannot propagate through on the path to the score (all of
        them are named), zbox without ``input_bounds``, or an invalid parameter.

    References
    ----------
    Bach, Binder, Montavon, Klauschen, Müller & Samek, "On Pixel-Wise Explanations for
    Non-Linear Classifier Decisions by Layer-Wise Relevance Propagation", PLoS ONE 10(7),
    e0130140, 2015.

    Montavon, Binder, Lapuschkin, Samek & Müller, "Layer-Wise Relevance Propagation: An
    Overview", in Explainable AI: Interpreting, Explaining and Visualizing Deep Learning,
    LNCS 11700, Springer, 2019.

    Examples
    --------
    >>> import keras, numpy as np
    >>> from explainkit import LRP
    >>> net = keras.Sequential([keras.Input((1, 2, 1)), keras.layers.Flatten(),
    ...                         keras.layers.Dense(1, use_bias=False)])
    >>> net.layers[-1].set_weights([np.array([[2.0], [-1.0]])])
    >>> image = np.array([[[3.0], [1.0]]])  # score 2 * 3 - 1 * 1 = 5
    >>> LRP(net).fit().explain(image).score_map.round(4)
    array([[ 6., -1.]], dtype=float32)
    """

    method_name = "lrp"
    explains_detectors = False  # not yet: refused clearly in fit

    def __init__(self, net, *, rule="epsilon", epsilon=1e-6, gamma=0.25, alpha=2.0,
                 beta=1.0, input_rule=None, input_bounds=None, reduction_layer="auto",
                 reduction_fn=None, output=None, class_names=None, batch_size=32,
                 task="auto"):
        self.net = net
        self.rule = rule
        self.epsilon = epsilon
        self.gamma = gamma
        self.alpha = alpha
        self.beta = beta
        self.input_rule = input_rule
        self.input_bounds = input_bounds
        self.reduction_layer = reduction_layer
        self.reduction_fn = reduction_fn
        self.output = output
        self.class_names = class_names
        self.batch_size = batch_size
        self.task = task

    @property
    def guided(self) -> Rules:
        """The rules the adapter's backward pass follows (in place of guided ReLUs)."""
        return self.rules_

    def _rules(self) -> Rules:
        """The parameters, checked, as the adapter's :class:`Rules`."""
        if self.rule == "zbox":
            raise ValueError("The zbox rule needs the bounds of its input, known only for the "
                             "first layer: pass input_rule='zbox' (and input_bounds), or "
                             "rule='epsilon_gamma_box'.")
        check_option("rule", self.rule, (*EVERYWHERE, *COMPOSITES))
        if self.input_rule is not None:
            check_option("input_rule", self.input_rule, RULES)
        epsilon = _number("epsilon", self.epsilon)
        gamma = _number("gamma", self.gamma)
        alpha = _number("alpha", self.alpha)
        beta = _number("beta", self.beta)
        if not math.isclose(alpha - beta, 1.0, abs_tol=1e-9):
            raise ValueError(f"The alpha-beta rule needs alpha - beta = 1 (conservation); got "
                             f"alpha={self.alpha!r}, beta={self.beta!r}.")

        def make(name: str) -> Rule:
            if name == "alpha2_beta1":
                return Rule("alpha_beta", epsilon, alpha=2.0, beta=1.0)
            return Rule(name, 0.0 if name == "zero" else epsilon,
                        gamma=gamma if name == "gamma" else 0.0,
                        alpha=alpha if name == "alpha_beta" else 1.0,
                        beta=beta if name == "alpha_beta" else 0.0)

        dense, conv, first = COMPOSITES.get(self.rule, (self.rule, self.rule, None))
        first = self.input_rule if self.input_rule is not None else first
        bounds = None
        if first == "zbox":
            bounds = self._bounds()
        return Rules(dense=make(dense), conv=make(conv),
                     first=None if first is None else make(first),
                     epsilon=0.0 if self.rule == "zero" else epsilon, bounds=bounds)

    def _bounds(self) -> Bounds:
        given = self.input_bounds
        if given is None:
            raise ValueError("The zbox rule needs input_bounds=(low, high): the lowest and "
                             "highest pixel values of the images explained (e.g. (0, 1), or "
                             "per-channel values after normalisation).")
        try:
            low, high = given
            low = np.asarray(low, dtype=np.float64)
            high = np.asarray(high, dtype=np.float64)
            np.broadcast_shapes(low.shape, high.shape)
        except (TypeError, ValueError):
            raise ValueError("input_bounds must be a pair (low, high) of numbers, per-channel "
                             f"values or images (H, W, C); got {given!r}.") from None
        if not (np.isfinite(low).all() and np.isfinite(high).all()) or (low > high).any():
            raise ValueError(f"input_bounds must be finite with low <= high; got {given!r}.")
        return Bounds.of(low, high)

    def fit(self, X=None, y=None):
        """Resolve the rules, the reduction layer and the task; return ``self``.

        Parameters
        ----------
        X : array-like, optional
            An example image; needed only when the model's input size is not fixed.
        y : ignored
        """
        check_scoring(self)
        rules = self._rules()
        adapter, graph, reduction = fit_scoring(self, X)
        from .._models._lrp_rules import unsupported_layers

        unsupported = unsupported_layers(graph, reduction)
        if unsupported:
            raise ValueError(
                f"LRP cannot propagate relevance through {len(unsupported)} layer(s) on the "
                f"path to the score: {'; '.join(unsupported)}. LRP supports {SUPPORTED}.")
        if rules.bounds is not None:
            _check_bounds_shape(rules.bounds, graph.image_shape)
        self._adapter, self._reduction, self.rules_ = adapter, reduction, rules
        return self

    def _attributions(self, images, index, roi_array, roi_mode):
        bounds = self.rules_.bounds
        if bounds is not None:
            _check_bounds_shape(bounds, images.shape[1:])
            low, high = bounds.arrays()
            if (images < low).any() or (images > high).any():
                warn("Some pixels lie outside input_bounds; zbox assumes low <= x <= high "
                     "(its relevances may change sign where they do not).")
        relevance, scores, resolved = self._gradients(images, index, roi_array, roi_mode)
        # Maps that keep under 0.1% of their score: the stabilisers (or biases) took it.
        kept = np.abs(relevance).sum(axis=(1, 2, 3), dtype=np.float64)
        blank = kept < 1e-3 * np.abs(scores)
        if blank.any():
            warn(f"{int(blank.sum())} LRP map(s) keep under 0.1% of their score: the "
                 "stabilisers or biases absorbed the relevance (scores up to "
                 f"{float(np.abs(scores[blank]).max()):.1e}, epsilon={self.epsilon}); lower "
                 "epsilon or use rule='zero'.", BlankMapWarning)
        return relevance, scores, resolved, {}


def _check_bounds_shape(bounds: Bounds, image_shape: tuple) -> None:
    try:
        shape = np.broadcast_shapes(bounds.shape, tuple(image_shape))
    except ValueError:
        shape = None
    if shape != tuple(image_shape):
        raise ValueError(f"input_bounds of shape {bounds.shape} do not fit the images "
                         f"{tuple(image_shape)} (H, W, C).")
