"""The figure of a :class:`~explainkit.Comparison`: maps, curves and metric bars."""

from __future__ import annotations

import numpy as np

from ._checks import display_image, explanation_map, explanation_title
from ._overlay import OverlayDisplay

#: Metrics drawn as curves (score against the fraction of pixels changed).
CURVES = ("deletion", "insertion")


def plot_compare(comparison, *, indices=None, target: int = 0, panel_size: float = 2.3):
    """Draw ``comparison``: a row of maps per image, then the curves and one bar chart per
    metric (mean with its bootstrap 95% interval, the best in a darker colour).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    methods = comparison.methods
    first = comparison.explanations[methods[0]]
    n = first.images.shape[0]
    rows = list(range(min(n, 4))) if indices is None else [int(i) for i in indices]
    metrics = comparison.metrics
    curves = [m for m in metrics if m in CURVES]
    bars = [m for m in metrics if m not in CURVES]
    panels = len(curves) + len(bars)
    columns = max(len(methods) + 1, min(panels, 4))
    metric_rows = -(-panels // columns) if panels else 0
    fig = plt.figure(figsize=(panel_size * columns + 0.6,
                              panel_size * (len(rows) + 1.15 * metric_rows)))
    grid = fig.add_gridspec(len(rows) + metric_rows, columns,
                            height_ratios=[1] * len(rows) + [1.15] * metric_rows)
    for r, index in enumerate(rows):
        ax = fig.add_subplot(grid[r, 0])
        ax.imshow(display_image(first.images[index]))
        ax.set_axis_off()
        ax.set_title(f"image {index}", fontsize="small")
        for c, method in enumerate(methods, start=1):
            explanation = comparison.explanations[method]
            ax = fig.add_subplot(grid[r, c])
            title = f"{method}\n{explanation_title(explanation, index, target)}"
            OverlayDisplay(explanation.images[index], explanation_map(explanation, index, target),
                           title=title).plot(ax, colorbar=False)
            ax.title.set_fontsize("small")
    best = comparison.best()
    for p, metric in enumerate(curves + bars):
        ax = fig.add_subplot(grid[len(rows) + p // columns, p % columns])
        if metric in curves:
            for method in methods:
                comparison.results[method][metric].plot(ax, label=method, band=False)
            ax.set_title(f"{metric}\n({'higher' if metric == 'insertion' else 'lower'} is "
                         "better)", fontsize="small")
            ax.legend(fontsize=5.5, framealpha=0.6, handlelength=1.2, labelspacing=0.2)
            continue
        results = [comparison.results[m][metric] for m in methods]
        means = np.array([r.mean for r in results])
        intervals = np.array([r.interval for r in results])
        errors = np.abs(np.stack([means - intervals[:, 0], intervals[:, 1] - means]))
        colors = ["tab:blue" if m in best[metric] else "tab:gray" for m in methods]
        ax.bar(np.arange(len(methods)), means, yerr=np.nan_to_num(errors), color=colors,
               capsize=3)
        ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right",
                      fontsize="x-small")
        better = "higher" if results[0].higher_is_better else "lower"
        ax.set_title(f"{metric.replace('_', ' ')}\n({better} is better)", fontsize="small")
    fig.tight_layout()
    return fig
