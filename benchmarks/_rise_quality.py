"""RISE's localisation: both normalisations, several fills, against Xplique's ``Rise``.

Part of ``bench_rise`` (its results go to ``results/rise.md``). The embedded demo
classifier (``explainkit._demo.load_model("classifier")``, trained on
``explainkit.datasets.make_shapes``: one bright square or disc on a background uniform in
[0, 0.35]) explains its true class on ``IMAGES`` fresh shapes (another seed than its
training's). Per setting, the maps are judged by

- the pointing game (``explainkit.metrics.pointing_game``, tolerance 2 pixels: the demo's
  share of a 32-pixel image), hit = the map's maximum on the object;
- deletion (``explainkit.metrics.deletion``, 10 steps, the removed pixels set to the
  background's mean 0.175, so that removing paints nothing; lower is better).

Settings: ``normalization`` "coverage" (sum score M / sum M per pixel, Xplique's estimator)
and "paper" (/ N p); ``mask_value`` 0 (the paper's), the background's mean 0.175 (a fill
that paints no object), "mean" (each image's mean) and "blur"; 500, 1000 and 4000 masks.
Xplique's ``Rise`` (its own masks and crop shifts, estimator = "coverage") runs with the
fills 0 and 0.175 at the same mask counts where it is installed.
"""

from __future__ import annotations

import numpy as np

IMAGES = 64
DATA_SEED = 7
MASK_COUNTS = (500, 1000, 4000)
BACKGROUND = 0.175  # the mean of make_shapes' background, uniform in [0, 0.35]
FILLS = {"0": 0.0, "0.175 (background mean)": BACKGROUND, '"mean"': "mean", '"blur"': "blur"}
TOLERANCE = 2


def _judge(net, X, y, masks, maps) -> dict:
    from explainkit.metrics import deletion, pointing_game

    hits = pointing_game(maps, masks, tolerance=TOLERANCE).values
    curve = deletion(net, X, maps, y, baseline=BACKGROUND, random_state=0).values
    return {"pointing_game": float(np.mean(hits)), "deletion_auc": float(np.mean(curve))}


def run() -> dict:
    """Every setting's pointing game and deletion, as rows of dicts."""
    import explainkit
    from explainkit._demo import load_model
    from explainkit.datasets import make_shapes

    net = load_model("classifier")
    X, y, masks = make_shapes(IMAGES, 32, random_state=DATA_SEED)
    probabilities = net.predict(X, verbose=0)
    predicted = probabilities.argmax(axis=1)
    rows = []

    def add(method, normalization, fill, count, maps):
        row = {"method": method, "normalization": normalization, "mask_value": fill,
               "num_masks": count, **_judge(net, X, y, masks, maps)}
        rows.append(row)
        print(f"rise quality: {row}", flush=True)

    for count in MASK_COUNTS:
        fills = FILLS if count == 1000 else {k: v for k, v in FILLS.items()
                                             if k in ("0", "0.175 (background mean)")}
        for label, fill in fills.items():
            for normalization in ("coverage", "paper"):
                maps = explainkit.RISE(net, num_masks=count, mask_value=fill,
                                       normalization=normalization,
                                       random_state=0).fit().explain(X, y).maps[..., 0]
                add("explainkit", normalization, label, count, maps)
    try:
        from xplique.attributions import Rise
    except ImportError:
        Rise = None
    if Rise is not None:
        onehot = np.eye(probabilities.shape[-1], dtype=np.float32)[y]
        for count in MASK_COUNTS:
            for label in ("0", "0.175 (background mean)"):
                maps = np.asarray(Rise(net, batch_size=256, nb_samples=count, grid_size=7,
                                       preservation_probability=0.5,
                                       mask_value=FILLS[label]).explain(X, onehot))
                add("xplique", "coverage", label, count, maps.reshape(X.shape[:3]))
    return {"images": IMAGES, "data_seed": DATA_SEED, "accuracy": float(np.mean(predicted == y)),
            "tolerance": TOLERANCE, "deletion_baseline": BACKGROUND, "rows": rows}


def markdown(result: dict) -> str:
    from _harness import markdown_table

    rows = [[r["method"], r["normalization"], r["mask_value"], r["num_masks"],
             f"{r['pointing_game']:.3f}", f"{r['deletion_auc']:.4f}"] for r in result["rows"]]
    return "\n\n".join([
        "## Localisation: normalisation and fill",
        f"The embedded demo classifier on {result['images']} fresh `make_shapes` images "
        f"(seed {result['data_seed']}; its accuracy on them {result['accuracy']:.3f}), "
        "explaining the true class. Pointing game: share of maps whose maximum lies on the "
        f"object (tolerance {result['tolerance']} pixels; higher is better). Deletion: area "
        "under the probability as the map's most important pixels are set to the "
        f"background's mean {result['deletion_baseline']} (10 steps; lower is better). "
        "explainkit at random_state=0; Xplique's `Rise` with its own masks (its estimator "
        "is explainkit's \"coverage\").",
        markdown_table(["method", "normalization", "mask_value", "masks", "pointing game",
                        "deletion AUC"], rows),
    ])
