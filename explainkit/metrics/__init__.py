"""Which explanation to trust: faithfulness, localisation, sanity and complexity metrics.

- faithfulness (the model is called on perturbed images, in shared batches):
  :func:`deletion`, :func:`insertion`, :func:`average_drop`,
  :func:`increase_in_confidence`, :func:`average_gain`, :func:`mu_fidelity`;
- localisation against ground-truth masks or boxes (no model): :func:`pointing_game`,
  :func:`energy_pointing_game`, :func:`relevance_rank_accuracy`;
- sanity: :func:`randomization_check` (cascading model-parameter randomisation);
- complexity (the maps alone): :func:`sparseness`, :func:`complexity`.

Each returns a :class:`MetricResult`; :func:`explainkit.compare` runs several methods and
metrics at once.
"""

from ._compare import Comparison, compare
from ._complexity import complexity, sparseness
from ._faithfulness import (
    average_drop,
    average_gain,
    deletion,
    increase_in_confidence,
    insertion,
    mu_fidelity,
)
from ._localisation import energy_pointing_game, pointing_game, relevance_rank_accuracy
from ._randomization import RandomizationResult, randomization_check
from ._result import MetricResult

__all__ = [
    "Comparison",
    "MetricResult",
    "RandomizationResult",
    "average_drop",
    "average_gain",
    "compare",
    "complexity",
    "deletion",
    "energy_pointing_game",
    "increase_in_confidence",
    "insertion",
    "mu_fidelity",
    "pointing_game",
    "randomization_check",
    "relevance_rank_accuracy",
    "sparseness",
]
