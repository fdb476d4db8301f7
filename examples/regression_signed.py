"""Explain a regression CNN with signed maps: what raises and what lowers the output.

A small CNN learns to predict how much of the image the object covers (its area, in
percent of the image, from the masks of ``explainkit.datasets.make_shapes``). For a
regression output, negative evidence matters as much as positive, so the maps keep their
sign: Grad-CAM with ``relu=False`` and image LIME with ``model="linear"`` (signed ridge
coefficients). Signed maps are drawn with a diverging colormap centred on zero (red
raises the predicted area, blue lowers it). An area counter finds little that lowers its
output, and the maps say so: the printed "negative share" is the part of each map's
absolute mass that is negative (a ``relu=True`` map could not show it at all). With global
average pooling and a linear head, the signed Grad-CAM map at feature resolution is an
exact additive split of the output (it sums to prediction - bias); the example checks that.

    python examples/regression_signed.py [--quick] [--output DIR]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import explainkit  # noqa: E402
from explainkit.datasets import make_shapes  # noqa: E402
from explainkit.plotting import OverlayDisplay  # noqa: E402

OUTPUT_NAMES = ("area %",)


def build_model(image_size: int) -> keras.Model:
    """Conv layers, global average pooling and one linear output (no softmax: regression)."""
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last_conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1, name="area"),
        ]
    )


def map_summary(score_map: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Share of the positive mass on the object, and the negative share of the total mass."""
    positive, negative = np.maximum(score_map, 0), np.maximum(-score_map, 0)
    on_object = positive[mask].sum() / max(positive.sum(), 1e-12)
    return float(on_object), float(negative.sum() / max(np.abs(score_map).sum(), 1e-12))


def main() -> None:
    """Train the regressor, explain a few test images, save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    parser.add_argument("--output", default="example_output/regression_signed",
                        help="folder for the PNG figures")
    args = parser.parse_args()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    n_train, n_test, epochs, n_shown, n_samples = (
        (300, 100, 5, 3, 200) if args.quick else (1200, 200, 10, 4, 1024))

    keras.utils.set_random_seed(0)
    X, _, masks = make_shapes(n_train + n_test, 32, random_state=0)
    area = 100 * masks.mean(axis=(1, 2))  # percent of the image the object covers
    X_train, X_test = X[:n_train], X[n_train:]
    area_train, area_test, masks_test = area[:n_train], area[n_train:], masks[n_train:]
    model = build_model(32)
    model.compile(keras.optimizers.Adam(3e-3), "mse")
    model.fit(X_train, area_train, epochs=epochs, batch_size=32, verbose=0)
    predicted = model.predict(X_test, verbose=0)[:, 0]
    mae = np.abs(predicted - area_test).mean()
    r = np.corrcoef(predicted, area_test)[0, 1]
    print(f"object area on the test set: {area_test.mean():.1f}% +- {area_test.std():.1f}; "
          f"mean absolute error {mae:.2f} points, correlation {r:.2f}")

    # Show a spread of sizes: the smallest, the largest and some in between.
    order = np.argsort(area_test)
    shown = order[np.linspace(0, len(order) - 1, n_shown).round().astype(int)]
    images = X_test[shown]
    gradcam = explainkit.explain(model, images, method="gradcam", relu=False,
                                 class_names=OUTPUT_NAMES)
    lime = explainkit.explain(model, images, method="lime", model="linear", num_features=25,
                              num_samples=n_samples, random_state=0, class_names=OUTPUT_NAMES)
    print(f"task: {gradcam.task}; Grad-CAM feature layer: {gradcam.feature_layer}, "
          f"reduction layer: {gradcam.reduction_layer} (relu=False: signed map)")
    for row, i in enumerate(shown):
        g_object, g_negative = map_summary(gradcam.maps[row, ..., 0], masks_test[i])
        l_object, l_negative = map_summary(lime.maps[row, ..., 0], masks_test[i])
        print(f"image {row}: true {area_test[i]:.1f}%, predicted {gradcam.scores[row, 0]:.1f}%; "
              f"positive mass on the object: Grad-CAM {g_object:.2f}, LIME {l_object:.2f}; "
              f"negative share: Grad-CAM {g_negative:.2f}, LIME {l_negative:.2f}")
    print(f"(the objects cover {masks_test[shown].mean():.2f} of these images)")
    # With global average pooling and a linear head, the signed Grad-CAM map at the feature
    # resolution is an exact additive split of the output: it sums to prediction - bias.
    raw = explainkit.gradcam(model, images[0], relu=False, output_upsampling="none")
    bias = float(np.asarray(model.get_layer("area").bias)[0])
    print(f"signed Grad-CAM at {raw.shape[0]}x{raw.shape[1]} sums to {raw.sum():.3f}; "
          f"prediction - bias = {gradcam.scores[0, 0] - bias:.3f}")

    written = []
    fig, axes = plt.subplots(n_shown, 3, figsize=(9.4, 2.9 * n_shown), squeeze=False)
    for row, i in enumerate(shown):
        axes[row, 0].imshow(images[row])
        axes[row, 0].set_title(f"true area {area_test[i]:.1f}%")
        axes[row, 0].set_axis_off()
        for col, (name, explanation) in enumerate(
                [("Grad-CAM, relu=False", gradcam), ("LIME, linear", lime)], start=1):
            OverlayDisplay(images[row], explanation.maps[row, ..., 0], signed=True,
                           title=f"{name}\npredicted {explanation.scores[row, 0]:.1f}%",
                           ).plot(axes[row, col])
    fig.suptitle("signed maps: red raises the predicted area, blue lowers it")
    fig.tight_layout()
    path = output / "regression_gradcam_vs_lime.png"
    fig.savefig(path, dpi=100)
    written.append(path)

    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.scatter(area_test, predicted, s=10)
    limits = [min(area_test.min(), predicted.min()), max(area_test.max(), predicted.max())]
    ax.plot(limits, limits, color="grey", linewidth=1)
    ax.set_xlabel("true area (% of image)")
    ax.set_ylabel("predicted area (%)")
    ax.set_title(f"test set: r = {r:.2f}")
    fig.tight_layout()
    path = output / "regression_fit.png"
    fig.savefig(path, dpi=100)
    written.append(path)

    plt.close("all")
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
