"""Predictors known only by their answers, and the dispatch of ``net`` to its adapter.

Nothing here imports Keras: a Keras model can only exist once Keras has been imported,
so ``is_keras_model`` looks for it in ``sys.modules`` instead of importing it.
"""

from __future__ import annotations

import sys

import numpy as np

from . import _calls, _outputs


def is_keras_model(net) -> bool:
    """True for a Keras 3 model, without importing Keras when it is not loaded."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(net, keras.Model)


def keras_adapter(net):
    """The (cached) adapter of a Keras model; a clear TypeError for anything else."""
    if not is_keras_model(net):
        raise TypeError(
            f"net must be a Keras 3 model (keras.Model); got {type(net).__name__}. Gradient "
            "methods need a Keras model; black-box methods also take any predictor."
        )
    from ._keras import adapter

    return adapter(net)


class BlackBox:
    """A predictor known only by its answers: a callable or a scikit-learn estimator.

    It may return one array, or a list, tuple or dict of arrays (e.g. a multi-output
    scikit-learn classifier's ``predict_proba``): ``output`` then chooses one.
    """

    input_shape = None
    backend = "numpy"

    def __init__(self, predict, name: str, task: str | None):
        self.predict = predict
        self.name = name
        self.task = task

    def _check(self, outputs, n: int) -> np.ndarray:
        outputs = np.asarray(outputs)
        if outputs.ndim == 0 or outputs.shape[0] != n:
            raise ValueError(
                f"{self.name} must return one row per image, shape ({n}, ...); it "
                f"returned shape {outputs.shape}."
            )
        if not np.issubdtype(outputs.dtype, np.number):
            raise ValueError(
                f"{self.name} must return numbers (scores, probabilities); it returned an "
                f"array of dtype {outputs.dtype}."
            )
        outputs = outputs.astype(np.float32, copy=False)
        return outputs[:, None] if outputs.ndim == 1 else outputs

    def outputs(self, x: np.ndarray, output=None) -> np.ndarray:
        """The predictor's (chosen) output for a batch, checked: ``(N, ...)``, finite numbers.

        The predictor gets its own copy of ``x``: methods reuse their batch buffers, and a
        callable may keep what it is given.
        """
        _calls.record()
        raw = self.predict(np.array(x))
        if _outputs.is_structure(raw):
            chosen = _outputs.choose(raw, output)
            raw = _outputs.take(raw, chosen.key)
        elif output not in (None, 0):
            _outputs.choose(np.asarray(raw), output)  # the error for a one-output predictor
        return self._check(raw, len(x))

    def output_label(self, image_shape: tuple, output=None):
        """What to record as the chosen output (None for a one-output predictor)."""
        return output

    def final_activation(self, image_shape: tuple, output=None) -> None:
        """Unknown for a black box."""
        return None

    def scores(self, x: np.ndarray, index: np.ndarray, roi: np.ndarray, score_fn,
               output=None) -> np.ndarray:
        """``(N, K)`` scores of a batch: the predictor's output through ``score_fn``."""
        scores, _ = score_fn(self.outputs(x, output), index, roi)
        return np.asarray(scores, dtype=np.float32)


def predictor(net):
    """The scoring interface of anything that predicts, for black-box methods.

    A Keras model (any kind, subclassed included) is called directly; a scikit-learn
    estimator or Pipeline through ``predict_proba``, else ``decision_function``, else
    ``predict``; any other callable as ``net(images)``.
    """
    if is_keras_model(net):
        return keras_adapter(net)
    for method, task in (
        ("predict_proba", "classification"),
        ("decision_function", "classification"),
        ("predict", None),
    ):
        fn = getattr(net, method, None)
        if callable(fn):
            return BlackBox(fn, f"{type(net).__name__}.{method}", task)
    if callable(net):
        return BlackBox(net, f"net {getattr(net, '__name__', type(net).__name__)!r}", None)
    raise TypeError(
        "net must be a Keras model, a scikit-learn estimator (predict_proba, "
        f"decision_function or predict) or a callable; got {type(net).__name__}."
    )

