"""When L-CAM-Img and L-CAM-Fm localise: the pointing game per class on the demo shapes.

The embedded demo classifier (two classes: square, disc) gets an L-CAM of each variant
trained 12 epochs on 1024 shapes (the settings of ``examples/lcam_shapes.py``) and explains
64 held-out shapes' true classes. Per setting: the pointing game (tolerance 2 pixels) over
all images and per class, the energy share on the object, and the mean map inside and
outside the object per class. Settings: L-CAM-Fm; L-CAM-Img with the fills 0, 0.5,
"mean", "blur", and with 0 at area weights 0.1 and 2.0. The classifier's prediction for a
blank image of each fill is printed too. Results: ``results/lcam_variants.md``.

    python benchmarks/lcam_variants.py
"""

from __future__ import annotations

import numpy as np
from _harness import markdown_table, save_results

OPTIONS = {"fm": {"area_weight": 1.0, "learning_rate": 3e-2},
           "img": {"area_weight": 0.5, "learning_rate": 1e-2}}
CASES = (("fm", {}), ("img", {"baseline": 0}), ("img", {"baseline": 0.5}),
         ("img", {"baseline": "mean"}), ("img", {"baseline": "blur"}),
         ("img", {"baseline": 0, "area_weight": 0.1}),
         ("img", {"baseline": 0, "area_weight": 2.0}))


def main() -> None:
    from explainkit import LCAM, metrics
    from explainkit._demo import load_model
    from explainkit.datasets import make_shapes

    net = load_model("classifier")
    X, y, _ = make_shapes(1024, 32, random_state=11)
    Xt, yt, masks = make_shapes(64, 32, random_state=12)
    rows = []
    for variant, extra in CASES:
        lcam = LCAM(net, variant=variant, epochs=12, random_state=0,
                    **{**OPTIONS[variant], **extra}).fit(X, y)
        explanation = lcam.explain(Xt, yt)
        hits = metrics.pointing_game(explanation, masks, tolerance=2).values
        energy = metrics.energy_pointing_game(explanation, masks).values
        maps = explanation.maps[..., 0]
        inside = np.array([m[k].mean() for m, k in zip(maps, masks, strict=True)])
        outside = np.array([m[~k].mean() for m, k in zip(maps, masks, strict=True)])
        rows.append([f"L-CAM-{variant.capitalize()} {extra or ''}".strip(), hits.mean(),
                     hits[yt == 0].mean(), hits[yt == 1].mean(), energy.mean(),
                     f"{inside[yt == 0].mean():.2f} / {outside[yt == 0].mean():.2f}",
                     f"{inside[yt == 1].mean():.2f} / {outside[yt == 1].mean():.2f}",
                     lcam.history_["loss"][-1]])
        print(rows[-1], flush=True)
    blank = {str(fill): net.predict(np.full((1, 32, 32, 3), fill, np.float32),
                                    verbose=0)[0].tolist() for fill in (0.0, 0.5)}
    markdown = "\n".join([
        __doc__.split("\n\n", 1)[1].split("\n\n    python")[0].strip(), "",
        markdown_table(["setting", "pointing game", "squares", "discs", "energy share",
                        "squares: map in / out", "discs: map in / out", "final loss"], rows),
        "", "The classifier on blank images (square, disc probabilities): "
        + "; ".join(f"fill {k}: {v[0]:.2f}, {v[1]:.2f}" for k, v in blank.items()) + "."])
    save_results("lcam_variants", {"rows": rows, "blank": blank}, markdown)
    print(markdown)


if __name__ == "__main__":
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, os.path.dirname(__file__))
    main()
