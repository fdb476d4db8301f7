"""L-CAM on the shapes classifier: the paper's table, explain speed, training cost.

The demo's embedded classifier (``explainkit/_data/classifier.keras``: 32x32x3 squares vs
discs, Conv 16 -> Conv 32 -> MaxPool -> Conv 32 ``last_conv`` (16x16) -> GAP -> Dense 2
softmax), trained on ``explainkit.datasets.make_shapes``. L-CAM is trained on 1024 fresh
shapes (seed 11) and evaluated on 64 held-out ones (seed 12), with the settings of
``examples/lcam_shapes.py`` (L-CAM-Fm: area_weight 1.0, learning rate 3e-2; L-CAM-Img:
area_weight 0.5, learning rate 1e-2; 12 epochs; the paper's other weights).

1. **The paper's table** (its Table 1 style: methods x AD, IC and forward passes per
   image), through ``explainkit.compare`` on the true classes, with the pointing game
   (2-pixel tolerance) against the known masks: L-CAM-Img, L-CAM-Fm, Grad-CAM,
   Grad-CAM++, Score-CAM (32 channels), RISE (2000 masks). Forward passes per image are
   what each method needs by definition (Grad-CAM: 1 and a backward pass; Score-CAM: 1 +
   channels; RISE: the masks; L-CAM: 1).
2. **Explain time** on the 64 images at batch 32, timed in turns (median of 15 after 2
   warm-ups): L-CAM-Fm ``explain`` against the floor, a bare compiled ``tf.function``
   running the classifier to (``last_conv``, logits) at the same batch — the one forward
   pass L-CAM cannot avoid — and against Grad-CAM and Score-CAM on the same images.
   Target: L-CAM / floor <= 1.10.
3. **Training**: seconds per ``fit`` (12 epochs on 1024 images, batch 32) for both
   variants, and the loss per epoch (``results/lcam_loss.png``).
"""

from __future__ import annotations

import time

import numpy as np
from _harness import RESULTS, markdown_table, measure_interleaved, save_results

NAME = "lcam"
TRAIN, TEST, EPOCHS = 1024, 64, 12
OPTIONS = {"fm": {"area_weight": 1.0, "learning_rate": 3e-2},
           "img": {"area_weight": 0.5, "learning_rate": 1e-2}}
REPEATS = 15


def main() -> None:
    import keras
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorflow as tf

    import explainkit
    from explainkit import LCAM
    from explainkit._demo import load_model
    from explainkit.datasets import SHAPE_NAMES, make_shapes

    tf.get_logger().setLevel("ERROR")
    net = load_model("classifier")
    X, y, _ = make_shapes(TRAIN, 32, random_state=11)
    Xt, yt, masks = make_shapes(TEST, 32, random_state=12)

    # 3. Training cost and the loss curves.
    trained, training = {}, {}
    figure, ax = plt.subplots(figsize=(4.5, 3.2))
    for variant in ("img", "fm"):
        start = time.perf_counter()
        lcam = LCAM(net, variant=variant, epochs=EPOCHS, random_state=0,
                    class_names=SHAPE_NAMES, **OPTIONS[variant]).fit(X, y)
        training[variant] = {"fit_s": time.perf_counter() - start,
                             "loss": lcam.history_["loss"], "ce": lcam.history_["ce"],
                             "area": lcam.history_["area"], "tv": lcam.history_["tv"]}
        trained[variant] = lcam
        ax.plot(np.arange(1, EPOCHS + 1), lcam.history_["loss"],
                label=f"L-CAM-{variant.capitalize()}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title(f"L-CAM on the shapes classifier ({TRAIN} images)")
    ax.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(RESULTS / "lcam_loss.png", dpi=90)
    plt.close(figure)

    # 1. The paper's table, through compare.
    methods = {"L-CAM-Img": trained["img"], "L-CAM-Fm": trained["fm"], "Grad-CAM": "gradcam",
               "Grad-CAM++": "gradcam++", "Score-CAM": "scorecam", "RISE": "rise"}
    comparison = explainkit.compare(
        net, Xt, yt, methods=methods,
        metrics=("average_drop", "increase_in_confidence", "pointing_game"), masks=masks,
        metric_options={"pointing_game": {"tolerance": 2}}, random_state=0,
        class_names=SHAPE_NAMES)
    channels = int(net.get_layer("last_conv").output.shape[-1])
    passes = {"L-CAM-Img": "1", "L-CAM-Fm": "1", "Grad-CAM": "1 + backward",
              "Grad-CAM++": "1 + backward", "Score-CAM": f"{1 + channels}", "RISE": "2000"}
    table = []
    for method in methods:
        results = comparison.results[method]
        table.append([method, results["average_drop"].mean,
                      results["increase_in_confidence"].mean, results["pointing_game"].mean,
                      passes[method]])

    # 2. Explain time against the bare forward pass.
    lcam = trained["fm"]
    sub = keras.Model(net.inputs, [net.get_layer("last_conv").output,
                                   net.get_layer("predictions").output])
    images = tf.convert_to_tensor(Xt)

    @tf.function
    def floor_step(x):
        return sub(x, training=False)

    def floor():
        for start in range(0, TEST, 32):
            [np.asarray(t) for t in floor_step(images[start:start + 32])]

    gradcam = explainkit.GradCAM(net).fit()
    scorecam = explainkit.ScoreCAM(net).fit()
    timings = measure_interleaved({
        "floor (forward to last_conv and logits, batch 32)": floor,
        "explainkit LCAM (Fm) explain": lambda: lcam.explain(Xt, yt),
        "explainkit GradCAM": lambda: gradcam.explain(Xt, yt),
        "explainkit ScoreCAM": lambda: scorecam.explain(Xt, yt),
    }, REPEATS)
    medians = {k: t.median for k, t in timings.items()}
    floor_s = medians["floor (forward to last_conv and logits, batch 32)"]
    ratio = medians["explainkit LCAM (Fm) explain"] / floor_s
    speed_rows = [[k, v, v / floor_s] for k, v in medians.items()]
    checks = {"L-CAM explain / floor <= 1.10": ratio <= 1.10,
              "L-CAM explain faster than Grad-CAM":
                  medians["explainkit LCAM (Fm) explain"] < medians["explainkit GradCAM"],
              "L-CAM explain faster than Score-CAM":
                  medians["explainkit LCAM (Fm) explain"] < medians["explainkit ScoreCAM"]}

    markdown = "\n\n".join([
        f"Shapes classifier (32x32, `last_conv` 16x16x{channels}); {TEST} held-out images, "
        "their true classes.",
        "## The paper's table (through `explainkit.compare`)\n\n" + markdown_table(
            ["method", "AD % (lower better)", "IC % (higher better)",
             "pointing game (2 px)", "forward passes per image"], table),
        f"## Explain time ({TEST} images, batch 32, median of {REPEATS})\n\n"
        + markdown_table(["method", "median s", "/ floor"], speed_rows),
        "## Training (12 epochs, 1024 images, batch 32)\n\n" + markdown_table(
            ["variant", "fit s", "loss first epoch", "loss last epoch"],
            [[f"L-CAM-{v.capitalize()}", r["fit_s"], r["loss"][0], r["loss"][-1]]
             for v, r in training.items()]) + "\n\n![loss](lcam_loss.png)",
        "## Checks\n\n" + markdown_table(["check", "holds"], list(checks.items())),
    ])
    save_results(NAME, {"table": table, "timings_s": medians, "ratio_to_floor": ratio,
                        "training": training, "checks": checks,
                        "comparison_calls": comparison.calls}, markdown)
    print(markdown)


if __name__ == "__main__":
    main()
