"""Complexity: how concentrated the maps are, from the maps alone (no model, no ground truth).

Both metrics read the absolute map values of each image and target, flattened over the
``n = H * W`` pixels.
"""

from __future__ import annotations

import numpy as np

from ._maps import as_maps, per_target
from ._result import MetricResult


def _absolute_values(maps) -> tuple[np.ndarray, bool]:
    """``(|maps| as float64, shape (N, K, n), single_target)``."""
    array, single, _ = as_maps(maps)
    n_images, height, width, n_targets = array.shape
    flat = np.abs(array.astype(np.float64)).reshape(n_images, height * width, n_targets)
    return flat.transpose(0, 2, 1), single


def sparseness(maps) -> MetricResult:
    """The Gini index of the absolute map values: 0 for a constant map, near 1 for one pixel.

    With ``a`` the ``n`` absolute values sorted ascending,
    ``G = sum_i (2 i - n - 1) a_i / (n sum(a))`` (i from 1); a one-pixel map gives
    ``(n - 1) / n``. An all-zero map gives 0.0 (nothing is singled out).

    Parameters
    ----------
    maps : Explanation or ndarray, shape (N, H, W) or (N, H, W, K)
        The explanations.

    Returns
    -------
    MetricResult
        Values in [0, 1), ``(N,)`` or ``(N, K)``; higher (sparser) is better.

    References
    ----------
    P. Chalasani et al., "Concise Explanations of Neural Networks using Adversarial
    Training", ICML 2020.

    Examples
    --------
    >>> import numpy as np
    >>> maps = np.zeros((1, 2, 2)); maps[0, 0, 0] = 5.0
    >>> sparseness(maps).values
    array([0.75])
    """
    values, single = _absolute_values(maps)
    n = values.shape[-1]
    ordered = np.sort(values, axis=-1)
    weights = 2 * np.arange(1, n + 1) - n - 1
    total = ordered.sum(axis=-1)
    gini = np.divide((weights * ordered).sum(axis=-1), n * total,
                     out=np.zeros_like(total), where=total > 0)
    return MetricResult("sparseness", per_target(gini, single), higher_is_better=True,
                        params={})


def complexity(maps) -> MetricResult:
    """The Shannon entropy (natural log) of the map's absolute values as a distribution.

    ``-sum_j p_j log p_j`` with ``p = |a| / sum(|a|)`` over the ``n`` pixels (``0 log 0 =
    0``): 0 for a one-pixel map, ``log(n)`` for a constant one. An all-zero map gives
    ``log(n)``, the uniform distribution's value (no pixel is singled out).

    Parameters
    ----------
    maps : Explanation or ndarray, shape (N, H, W) or (N, H, W, K)
        The explanations.

    Returns
    -------
    MetricResult
        Values in [0, log(n)], ``(N,)`` or ``(N, K)``; lower is better.

    References
    ----------
    U. Bhatt, A. Weller and J. M. F. Moura, "Evaluating and Aggregating Feature-based
    Model Explanations", IJCAI 2020.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(complexity(np.ones((1, 2, 2))).values[0]), 4)  # log(4)
    1.3863
    """
    values, single = _absolute_values(maps)
    n = values.shape[-1]
    total = values.sum(axis=-1, keepdims=True)
    p = np.divide(values, total, out=np.full_like(values, 1.0 / n), where=total > 0)
    terms = np.zeros_like(p)
    np.multiply(p, np.log(p, out=np.zeros_like(p), where=p > 0), out=terms, where=p > 0)
    entropy = 0.0 - terms.sum(axis=-1)  # 0.0, not -0.0, for one pixel
    return MetricResult("complexity", per_target(entropy, single), higher_is_better=False,
                        params={})
