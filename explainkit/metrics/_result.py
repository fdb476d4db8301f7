"""What every metric returns: per-image values, their mean and its bootstrap interval."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Bootstrap resamples of the images for ``MetricResult.interval`` (seeded: reproducible).
BOOTSTRAP_RESAMPLES = 1000


def bootstrap_interval(values: np.ndarray, level: float = 0.95,
                       resamples: int = BOOTSTRAP_RESAMPLES) -> tuple[float, float]:
    """The percentile bootstrap interval of the mean of ``values`` over its images (axis 0).

    Images are resampled with replacement (all of an image's targets together); NaN values
    are left out of each mean. One image gives the degenerate interval (mean, mean).
    """
    values = np.asarray(values, dtype=np.float64)
    per_image = values.reshape(len(values), -1)
    if len(per_image) == 0 or np.isnan(per_image).all():
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(0)
    picks = rng.integers(0, len(per_image), size=(resamples, len(per_image)))
    sums = np.nansum(per_image, axis=1)[picks].sum(axis=1)
    counts = np.sum(~np.isnan(per_image), axis=1)[picks].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(means, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True, eq=False)
class MetricResult:
    """A metric's result on a set of explanations.

    Attributes
    ----------
    name : str
        The metric, e.g. ``"deletion"``.
    values : ndarray, shape (N,) or (N, K)
        One value per image (and target, for maps with several targets).
    higher_is_better : bool
        Whether a larger value means a better explanation.
    curves : ndarray, shape (N, steps + 1) or (N, K, steps + 1), or None
        The score after each step, for the curve metrics (deletion, insertion).
    fractions : ndarray, shape (steps + 1,), or None
        The fraction of the pixels removed or inserted at each step of ``curves``.
    params : dict
        The options the metric ran with.
    """

    name: str
    values: np.ndarray
    higher_is_better: bool
    curves: np.ndarray | None = None
    fractions: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """The mean of ``values`` over images and targets (NaN values left out)."""
        values = np.asarray(self.values, dtype=np.float64)
        if values.size == 0 or np.isnan(values).all():
            return float("nan")
        return float(np.nanmean(values))

    @property
    def interval(self) -> tuple[float, float]:
        """The bootstrap 95% interval of ``mean`` (images resampled, seeded)."""
        return bootstrap_interval(self.values)

    def __repr__(self) -> str:
        low, high = self.interval
        better = "higher" if self.higher_is_better else "lower"
        return (f"MetricResult({self.name}: mean {self.mean:.4g}, 95% interval "
                f"[{low:.4g}, {high:.4g}], {better} is better, values {self.values.shape})")

    def plot(self, ax=None, *, label: str | None = None, band: bool = True):
        """The mean curve (curve metrics) or the values per image; return the Axes.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure when None.
        label : str, optional
            The legend label (several results can share one Axes).
        band : bool, default=True
            Shade the range of the per-image curves around the mean curve.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(4.5, 3.2))
        label = label or self.name
        if self.curves is not None:
            curves = np.asarray(self.curves).reshape(-1, self.curves.shape[-1])
            x = self.fractions if self.fractions is not None else np.linspace(
                0, 1, curves.shape[-1])
            mean = curves.mean(axis=0)
            line, = ax.plot(x, mean, label=f"{label} (area {self.mean:.3g})")
            if band and len(curves) > 1:
                ax.fill_between(x, curves.min(axis=0), curves.max(axis=0),
                                color=line.get_color(), alpha=0.15, linewidth=0)
            ax.set_xlabel("fraction of pixels " + (
                "inserted" if self.name == "insertion" else "removed"))
            ax.set_ylabel("score")
        else:
            values = np.asarray(self.values).reshape(len(self.values), -1)
            ax.plot(np.arange(len(values)), values.mean(axis=1), "o", label=label)
            ax.set_xlabel("image")
            ax.set_ylabel(self.name)
        ax.set_title(self.name.replace("_", " "))
        ax.legend(fontsize="small")
        return ax
