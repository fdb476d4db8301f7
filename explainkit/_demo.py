"""``explainkit demo``: all three methods on three embedded models, figures and a gallery.

The models ship inside the package (``explainkit/_data``, trained by
``examples/train_demo_models.py`` on ``explainkit.datasets.make_shapes``), so the demo
needs no download; the images are new synthetic shapes whose object masks are known, and
the demo reports how much of each map falls on the object and compares the classifier's
methods with :func:`explainkit.compare` (faithfulness, and localisation against the masks).
It also shows what the classifier's last convolution learned (``explainkit.visualize``):
images synthesised for its channels and the shapes that excite them most.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "_data"
MODELS = ("classifier", "regressor", "segmenter")
#: The CAM variants the gallery compares (the classifier ends conv -> pooling -> Dense).
CAM_FAMILY = ("gradcam", "gradcam++", "xgradcam", "layercam", "hirescam", "eigencam",
              "scorecam", "ablationcam", "cam")
SEGMENT_NAMES = ("background", "square", "disc")
#: What the comparison scores (quick: fewer methods); its tables go next to the figures.
COMPARE_METHODS = ("gradcam", "gradcam++", "scorecam", "integrated_gradients", "occlusion",
                   "lime", "rise")
QUICK_COMPARE_METHODS = ("gradcam", "occlusion", "lime")
COMPARE_METRICS = ("deletion", "insertion", "average_drop", "mu_fidelity", "pointing_game",
                   "energy_pointing_game", "relevance_rank_accuracy")
#: The units the gallery visualises: the classifier's last convolution, a few channels.
UNIT_LAYER = "last_conv"
UNIT_CHANNELS = tuple(range(8))
#: Shapes streamed through the classifier to find the inputs that excite each unit most.
UNIT_IMAGES = 64
#: Gradient-ascent steps of the unit images (quick: fewer).
UNIT_STEPS = 64

#: Images the comparison scores (more than the figures show: the intervals narrow).
COMPARE_IMAGES = 16
#: The pointing game's default 15-pixel tolerance is meant for ~224-pixel images; on these
#: 32-pixel ones every map would hit. 2 pixels is the same share of the image.
POINTING_TOLERANCE = 2


def load_model(name: str):
    """One of the embedded Keras models, loaded in safe mode."""
    import keras

    path = DATA / f"{name}.keras"
    if not path.exists():
        raise FileNotFoundError(
            f"The embedded model {path} is missing; run examples/train_demo_models.py."
        )
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def _on_object(maps: np.ndarray, masks: np.ndarray) -> float:
    """Mean share of each map's positive mass that lies on the object."""
    positive = np.clip(maps, 0, None)
    totals = positive.sum(axis=(1, 2))
    inside = (positive * masks).sum(axis=(1, 2))
    return float(np.mean(inside[totals > 0] / totals[totals > 0])) if (totals > 0).any() \
        else float("nan")


def run(output: str | Path = "explainkit-demo", *, quick: bool = False,
        log=print) -> list[Path]:
    """Explain the embedded models' predictions and write figures and ``index.html``.

    Parameters
    ----------
    output : path
        Folder for the figures and the gallery (created).
    quick : bool
        Two images and fewer LIME samples (a smoke run).
    log : callable
        Where progress lines go.

    Returns
    -------
    list of Path
        The files written (figures, then the comparison's tables), ``index.html`` last.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import explainkit
    from explainkit import plotting
    from explainkit.datasets import SHAPE_NAMES, make_shapes

    start = time.perf_counter()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    count = 2 if quick else 4
    lime = {"num_samples": 256 if quick else 1024, "random_state": 0}
    X, y, masks = make_shapes(count, 32, random_state=2026)
    written: list[tuple[Path, str, str]] = []  # figure, caption, HTML shown below it
    tables: list[Path] = []

    def save(figure, name: str, caption: str, below: str = "") -> None:
        path = output / name
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append((path, caption, below))

    # Classification: square or disc, the predicted class explained.
    net = load_model("classifier")
    runs = [
        explainkit.explain(net, X, method="gradcam", class_names=SHAPE_NAMES),
        explainkit.explain(net, X, method="occlusion", class_names=SHAPE_NAMES),
        explainkit.explain(net, X, method="lime", class_names=SHAPE_NAMES, **lime),
    ]
    shares = {e.method: _on_object(e.maps[..., 0], masks) for e in runs}
    log("classification: predicted " + ", ".join(runs[0].target_names[:, 0])
        + f" (true {', '.join(SHAPE_NAMES[t] for t in y)}); share of each map on the object: "
        + ", ".join(f"{m} {s:.2f}" for m, s in shares.items()))
    save(plotting.plot_comparison(runs).figure_, "classification.png",
         "Classifier (square vs disc): Grad-CAM, occlusion sensitivity and LIME for the "
         "predicted class.")
    save(plotting.plot_lime(runs[2], num_top=3).figure_, "classification_lime.png",
         "LIME: only the three most important superpixels of the first image.")
    cams = [explainkit.explain(net, X, method=m, class_names=SHAPE_NAMES)
            for m in CAM_FAMILY]
    shares = {e.method: _on_object(e.maps[..., 0], masks) for e in cams}
    log("CAM family, share of each map on the object: "
        + ", ".join(f"{m} {s:.2f}" for m, s in shares.items()))
    save(plotting.plot_comparison(cams).figure_, "classification_cams.png",
         "Classifier: the CAM family side by side for the predicted class (Grad-CAM, "
         "Grad-CAM++, XGrad-CAM, Layer-CAM, HiResCAM, Eigen-CAM, Score-CAM, Ablation-CAM, "
         "CAM).")

    # What units learned: images synthesised for them, and the shapes that excite them most.
    _units(net, save, log, quick)

    # The methods scored on the true classes: faithfulness, and localisation (the masks).
    Xc, yc, masks_c = (X, y, masks) if quick else make_shapes(COMPARE_IMAGES, 32,
                                                              random_state=2027)
    comparison = explainkit.compare(
        net, Xc, yc, methods=QUICK_COMPARE_METHODS if quick else COMPARE_METHODS,
        metrics=COMPARE_METRICS, masks=masks_c,
        method_options={"lime": lime, "rise": {"num_masks": 1000}},
        metric_options={"pointing_game": {"tolerance": POINTING_TOLERANCE}}, random_state=0,
        class_names=SHAPE_NAMES)
    log(f"comparison on the true classes ({len(Xc)} images):\n{comparison.table()}")
    for name, text in (("comparison.md", comparison.table("markdown") + "\n"),
                       ("comparison.csv", comparison.to_csv())):
        (output / name).write_text(text, encoding="utf-8")
        tables.append(output / name)
    save(comparison.plot(), "comparison.png",
         "Classifier: the methods compared on each image's true class with "
         "explainkit.compare. Deletion and insertion curves, average drop and mu-fidelity "
         "(faithfulness: does the model's score follow the map?); pointing game "
         f"(within {POINTING_TOLERANCE} pixels), energy pointing game and relevance rank "
         "accuracy (does the map lie on the object mask?). The table: mean over the "
         f"{len(Xc)} images \u00b1 half the bootstrap 95% interval, the best in bold (also "
         "comparison.md, comparison.csv).",
         comparison.table("html"))

    # Regression: the object's share of the image, in percent; signed maps.
    net = load_model("regressor")
    runs = [
        explainkit.explain(net, X, method="gradcam", relu=False),
        explainkit.explain(net, X, method="occlusion"),
        explainkit.explain(net, X, method="lime", model="linear", **lime),
    ]
    predicted = ", ".join(f"{s:.1f}" for s in runs[0].scores[:, 0])
    actual = ", ".join(f"{100 * m.mean():.1f}" for m in masks)
    log(f"regression: predicted area {predicted} % (true {actual} %)")
    save(plotting.plot_comparison(runs).figure_, "regression.png",
         "Regressor (object area in %): what raises the output (red) and what lowers it "
         "(blue); Grad-CAM without ReLU, occlusion, LIME with the linear surrogate.")

    # Segmentation: labels and Grad-CAM per class, then the object's class by each method.
    net = load_model("segmenter")
    display = plotting.plot_segmentation(net, X[0], class_names=SEGMENT_NAMES)
    save(display.figure_, "segmentation.png",
         "Segmenter: predicted labels, and Grad-CAM of each class present in the image.")
    runs = [  # each image for its own object's class: 1 = square, 2 = disc (y + 1)
        explainkit.explain(net, X, y + 1, method=m, class_names=SEGMENT_NAMES,
                           **(lime if m == "lime" else {}))
        for m in ("gradcam", "occlusion", "lime")
    ]
    shares = {e.method: _on_object(e.maps[..., 0], masks) for e in runs}
    log("segmentation: the object's class summed over all pixels; share on the object: "
        + ", ".join(f"{m} {s:.2f}" for m, s in shares.items()))
    save(plotting.plot_comparison(runs).figure_, "segmentation_methods.png",
         "Segmenter: the object's class (summed over all pixels) explained by each method.")

    index = output / "index.html"
    index.write_text(_gallery(written, time.perf_counter() - start), encoding="utf-8")
    log(f"wrote {len(written)} figures, {len(tables)} tables and {index}")
    return [path for path, _, _ in written] + tables + [index]


def _units(net, save, log, quick: bool) -> None:
    """The classifier's units: maximisation images and the top-activating shapes."""
    from explainkit import plotting, visualize
    from explainkit.datasets import make_shapes

    steps = UNIT_STEPS // 4 if quick else UNIT_STEPS
    result = visualize.maximize(net, UNIT_LAYER, list(UNIT_CHANNELS), steps=steps,
                                l2_decay=0.01, blur_every=4, blur_sigma=0.5, jitter=1,
                                random_state=0)
    rise = result.history[:, -1].mean() / max(result.history[:, 0].mean(), 1e-12)
    save(plotting.plot_maximization(result, columns=len(UNIT_CHANNELS)).figure_,
         "units_maximize.png",
         f"Classifier: images synthesised by regularised gradient ascent ({steps} steps, "
         "L2 decay, blur, jitter; Yosinski et al., 2015) to excite channels "
         f"{UNIT_CHANNELS[0]}-{UNIT_CHANNELS[-1]} of its last convolution ({UNIT_LAYER}): "
         "the edge orientation each one looks for (compare the shapes that excite them "
         "most, below).")
    X, _, masks = make_shapes(UNIT_IMAGES // 2 if quick else UNIT_IMAGES, 32,
                              random_state=2028)
    top = visualize.top_activating(net, X, UNIT_LAYER, channels=list(UNIT_CHANNELS[:6]), k=6)
    boxes = top.boxes.reshape(-1, 4)
    touching = np.mean([masks[n, r0:r1, c0:c1].any()
                        for n, (r0, c0, r1, c1) in zip(top.indices.ravel(), boxes, strict=True)])
    rh, rw = top.crops.shape[2:4]
    chance = np.mean([masks[:, r:r + rh, c:c + rw].any(axis=(1, 2))
                      for r in range(32 - rh + 1) for c in range(32 - rw + 1)])
    log(f"units of {UNIT_LAYER}: mean activation raised {rise:.0f}x by maximisation; "
        f"share of top-activating crops on an object {touching:.2f} (any {rh}x{rw} window: "
        f"{chance:.2f})")
    size = "x".join(map(str, top.receptive_field.size)) if top.receptive_field else "whole"
    save(plotting.plot_top_activating(top).figure_, "units_top_activating.png",
         f"Classifier: for channels 0-5 of {UNIT_LAYER}, the {top.crops.shape[1]} of "
         f"{top.count} fresh shapes that excite each one most (the {size}-pixel receptive "
         "field around the strongest unit; stream position and activation above each).")


def _gallery(written: list[tuple[Path, str, str]], seconds: float) -> str:
    """A self-contained HTML page linking the figures that exist (with their HTML below)."""
    items = "\n".join(
        f'<figure><a href="{html.escape(p.name)}"><img src="{html.escape(p.name)}" '
        f'alt="{html.escape(c)}"></a><figcaption>{html.escape(c)}</figcaption>{below}'
        "</figure>"
        for p, c, below in written if p.exists()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>explainkit demo</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
img{{max-width:100%;border:1px solid #ddd}}figure{{margin:0 0 2em}}
table{{border-collapse:collapse;margin-top:.5em}}td,th{{border:1px solid #ddd;
padding:.2em .5em;text-align:right}}td:first-child,th:first-child{{text-align:left}}</style>
</head>
<body><h1>explainkit demo</h1>
<p>Three small Keras models shipped with explainkit (trained on synthetic squares and
discs whose masks are known) explained with Grad-CAM, occlusion sensitivity and image LIME,
and the methods compared with faithfulness and localisation metrics. Made in {seconds:.0f} s.</p>
{items}
</body></html>
"""
