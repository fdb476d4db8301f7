"""The Explainer base class: scikit-learn conventions for every method."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.utils.validation import check_is_fitted

from ._explanation import Explanation
from .targets import target_names

#: Every method by its ``method_name``: ``explain``, the command line and the tests find
#: them here (each registers itself when its class is defined).
METHODS: dict[str, type] = {}


class Explainer(BaseEstimator):
    """Base class of all explainers.

    Subclasses follow scikit-learn's estimator conventions: ``__init__`` stores its
    arguments verbatim and does nothing else; ``fit(X=None, y=None)`` validates them,
    resolves what depends on the model and returns ``self``; attributes learned in ``fit``
    end with ``_``; ``explain(X, target)`` returns an :class:`Explanation` and never changes
    the parameters. ``get_params``, ``set_params`` and :func:`sklearn.base.clone` work, and
    ``clone`` shares the network instead of copying it.

    The first constructor argument of every explainer is the model, ``net``.
    """

    #: Short name used in ``explainkit.explain(method=...)`` and in explanations.
    method_name: str = ""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("method_name")
        if name:  # a concrete method registers itself once
            if name in METHODS and METHODS[name].__qualname__ != cls.__qualname__:
                raise ValueError(f"method_name {name!r} is taken by {METHODS[name].__name__}.")
            METHODS[name] = cls

    def fit(self, X=None, y=None):
        """Resolve what depends on the model; return ``self``."""
        raise NotImplementedError

    def explain(self, X, target=None) -> Explanation:
        """Explain the model's output for ``target`` on the images ``X``."""
        raise NotImplementedError

    def __sklearn_clone__(self):
        params = self.get_params(deep=False)
        params = {
            name: value if name == "net" else clone(value, safe=False)
            for name, value in params.items()
        }
        return type(self)(**params)

    def _run_params(self) -> dict:
        """The parameters to record in an Explanation (all but the network)."""
        return {k: v for k, v in self.get_params(deep=False).items() if k != "net"}

    def _explanation(self, maps, *, targets, params=None, **fields) -> Explanation:
        """The Explanation of a run, with what every method fills in alike.

        float32 maps, this method's name, the run's parameters (unless given) and the
        target names from ``class_names``; ``fields`` are the rest.
        """
        names = None if targets is None else target_names(
            getattr(self, "class_names", None), targets)
        return Explanation(
            maps=np.asarray(maps).astype(np.float32, copy=False), method=self.method_name,
            targets=targets, target_names=names,
            params=self._run_params() if params is None else params, **fields,
        )  # fmt: skip

    def _check_fitted(self) -> None:
        check_is_fitted(
            self,
            msg=(
                f"This {type(self).__name__} is not fitted yet: call fit() before explain() "
                "(fit(X) with an example image when the model's input size is not fixed)."
            ),
        )
