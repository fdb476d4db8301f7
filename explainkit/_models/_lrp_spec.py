"""What layer-wise relevance propagation does at each layer: the rules, as hashable values.

Kept apart from :mod:`._lrp_rules` (the TensorFlow side) so that checking an LRP's
parameters imports neither TensorFlow nor Keras.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The rules of linear layers.
RULES = ("epsilon", "zero", "zplus", "alpha_beta", "gamma", "flat", "wsquare", "zbox")

#: For error messages: the layers LRP propagates relevance through.
SUPPORTED = (
    "Dense, Conv1D/2D/3D, DepthwiseConv1D/2D, SeparableConv1D/2D (activation relu, relu6 or "
    "linear; channels_last), BatchNormalization, ReLU, Activation('relu'/'relu6'/'linear'), "
    "average and max pooling (also global), Add, Average, Subtract, Concatenate, Flatten, "
    "Reshape, Permute, RepeatVector, ZeroPadding, Cropping, UpSampling (nearest), Dropout "
    "and noise layers, Rescaling, Normalization, Identity and nested Sequential/Functional "
    "models"
)


@dataclass(frozen=True)
class Rule:
    """One rule of linear layers: its name and parameters.

    ``epsilon``: the epsilon rule's ``ε``, and the stabiliser of every other rule's
    denominators (0: only a zero denominator is guarded, its share dropped).
    """

    name: str
    epsilon: float = 0.0
    gamma: float = 0.0
    alpha: float = 1.0
    beta: float = 0.0


@dataclass(frozen=True)
class Bounds:
    """z^B's bounds ``low <= x <= high`` in the model's input space, hashable (bytes)."""

    shape: tuple
    low: bytes
    high: bytes

    @classmethod
    def of(cls, low, high) -> Bounds:
        low, high = np.broadcast_arrays(np.asarray(low, np.float32),
                                        np.asarray(high, np.float32))
        return cls(low.shape, np.ascontiguousarray(low).tobytes(),
                   np.ascontiguousarray(high).tobytes())

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.frombuffer(self.low, np.float32).reshape(self.shape),
                np.frombuffer(self.high, np.float32).reshape(self.shape))


@dataclass(frozen=True)
class Rules:
    """What LRP does at each layer; the adapter's ``guided`` argument for LRP.

    ``dense``: the rule of Dense layers; ``conv``: of the convolutions; ``first``: of the
    first linear layers (those that see the model input, through rescaling, padding and
    reshaping only), None: their type's rule. ``epsilon``: the stabiliser of the
    proportional splits (average pooling, Add, unfolded BatchNormalization). ``bounds``:
    z^B's bounds, in the model's input space.
    """

    dense: Rule
    conv: Rule
    first: Rule | None = None
    epsilon: float = 1e-6
    bounds: Bounds | None = None

    def propagation(self, x):
        """The state of one forward pass on the model input ``x`` (a ``Propagation``)."""
        from ._lrp_rules import Propagation  # TensorFlow: only when a model is explained

        return Propagation(self, x)
