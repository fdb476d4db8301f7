"""Train L-CAM on the demo's shapes classifier, save and load it, and compare it.

L-CAM learns, once, an attention module on the frozen classifier; afterwards every image is
explained by one forward pass. This example trains L-CAM-Fm and L-CAM-Img on synthetic
squares and discs (their masks are known), saves the modules and loads them back, and
compares them with Grad-CAM, Grad-CAM++, Score-CAM and RISE through ``explainkit.compare``:
average drop, increase in confidence and deletion (faithfulness), the pointing game
(localisation), and what each method cost in seconds and model calls.

    python examples/lcam_shapes.py [--quick] [--output DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import explainkit  # noqa: E402
from explainkit import LCAM  # noqa: E402
from explainkit._demo import load_model  # noqa: E402
from explainkit.datasets import SHAPE_NAMES, make_shapes  # noqa: E402

#: For these 32-pixel, two-class shapes (see tests/test_lcam.py): the paper's area weight,
#: set for ImageNet's 1000 classes, outweighs a two-class cross-entropy.
OPTIONS = {"fm": {"area_weight": 1.0, "learning_rate": 3e-2},
           "img": {"area_weight": 0.5, "learning_rate": 1e-2}}


def main() -> None:
    """Train, save, load, compare; write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", default="example_output/lcam_shapes",
                        help="folder for the PNG figures")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    train, test, epochs = (256, 8, 6) if args.quick else (1024, 32, 12)

    net = load_model("classifier")
    X, y, _ = make_shapes(train, 32, random_state=11)
    Xt, yt, masks = make_shapes(test, 32, random_state=12)

    trained = {}
    figure, ax = plt.subplots(figsize=(4.5, 3.2))
    with tempfile.TemporaryDirectory() as folder:
        for variant in ("fm", "img"):
            start = time.perf_counter()
            lcam = LCAM(net, variant=variant, epochs=epochs, random_state=0,
                        class_names=SHAPE_NAMES, **OPTIONS[variant]).fit(X, y)
            seconds = time.perf_counter() - start
            print(f"L-CAM-{variant.capitalize()}: trained on {train} images, {epochs} epochs, "
                  f"in {seconds:.1f} s; loss {lcam.history_['loss'][0]:.3f} -> "
                  f"{lcam.history_['loss'][-1]:.3f}")
            ax.plot(np.arange(1, epochs + 1), lcam.history_["loss"],
                    label=f"L-CAM-{variant.capitalize()}")
            path = lcam.save(Path(folder) / f"lcam_{variant}")
            loaded = LCAM.load(path, net)
            same = np.array_equal(loaded.explain(Xt, yt).maps, lcam.explain(Xt, yt).maps)
            print(f"saved and loaded L-CAM-{variant.capitalize()}: the same maps {same}")
            trained[f"lcam-{variant}"] = loaded
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(output / "lcam_loss.png", dpi=90)
    plt.close(figure)
    print(f"wrote {output / 'lcam_loss.png'}")

    methods = {"L-CAM-Fm": trained["lcam-fm"], "L-CAM-Img": trained["lcam-img"],
               "Grad-CAM": "gradcam", "Grad-CAM++": "gradcam++", "Score-CAM": "scorecam",
               "RISE": "rise"}
    comparison = explainkit.compare(
        net, Xt, yt, methods=methods,
        metrics=("average_drop", "increase_in_confidence", "deletion", "pointing_game"),
        masks=masks, metric_options={"pointing_game": {"tolerance": 2}},
        method_options={"rise": {"num_masks": 500 if args.quick else 2000}},
        random_state=0, class_names=SHAPE_NAMES)
    print(comparison.table())
    per_image = {name: calls / len(Xt) for name, calls in comparison.calls.items()}
    print("model calls per image: " + ", ".join(f"{m} {c:.2f}" for m, c in per_image.items()))
    figure = comparison.plot()
    figure.savefig(output / "lcam_comparison.png", dpi=80)
    plt.close(figure)
    print(f"wrote {output / 'lcam_comparison.png'}")


if __name__ == "__main__":
    main()
