"""The model adapter: how explainkit runs a model (the only package that knows Keras internals).

Nothing here imports TensorFlow or Keras until a Keras model is explained: black-box
predictors (scikit-learn estimators, callables) run on numpy alone.

- ``_blackbox``: any predictor known by its answers; dispatch of ``net`` to an adapter.
- ``_graph``: the layers of Functional and Sequential models, replayed leaf by leaf.
- ``_capture``: the layers of subclassed models, captured during the model's own ``call``.
- ``_keras``: the compiled forward and gradient functions of one Keras model.
- ``_outputs``: models with several outputs; ``_tokens``: token sequences as feature maps.
- ``_calls``: counting batched model calls (what a method or metric cost).
"""

from ._blackbox import BlackBox, is_keras_model, keras_adapter, predictor
from ._buffers import aligned_empty
from ._calls import count_calls

__all__ = ["BlackBox", "aligned_empty", "count_calls", "is_keras_model", "keras_adapter",
           "predictor"]
